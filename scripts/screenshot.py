"""The page at phone size, for the README: `make screenshot` writes docs/bedside-phone.png.

It runs the appliance (simulated pins, the ALSA null device, a schedule with a bedtime start and a
wake-up, a clock that says 22:10 in London) and photographs the page in Debian's chromium.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from playwright.sync_api import expect, sync_playwright

from bedside.commands import Play, SetTimer
from bedside.config import load
from bedside.daemon import Daemon

OUT = Path(__file__).resolve().parent.parent / "docs" / "bedside-phone.png"
LONDON = ZoneInfo("Europe/London")


class EveningClock:
    zone = LONDON

    def now(self) -> datetime:
        return datetime(2026, 11, 26, 22, 10, tzinfo=LONDON).astimezone(UTC)

    def synced(self) -> bool:
        return True


def main() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bedside.toml"
        config.write_text(f"""
[audio]
device = "null"
[web]
listen = "127.0.0.1:{port}"
[state]
directory = "{tmp}"
[clock]
timezone = "Europe/London"
[[schedule]]
days = "daily"
at = "22:30"
action = "start"
sound = "rain"
volume = 25
timer_min = 60
[[schedule]]
days = "weekdays"
at = "06:45"
action = "wake"
volume = 40
rise_min = 20
""")
        daemon = Daemon(load(config), simulate_pins=True, keyboard=False, seed=1, clock=EveningClock())
        thread = threading.Thread(target=daemon.run, daemon=True)
        thread.start()
        daemon.ready.wait(10)
        assert daemon.controller is not None
        daemon.controller.submit(Play("rain"))
        daemon.controller.submit(SetTimer(30))
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"),
                                                 args=["--no-sandbox"] if os.geteuid() == 0 else [])
            page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                    color_scheme="dark")
            page.goto(f"http://127.0.0.1:{port}/")
            expect(page.get_by_role("status")).to_have_text("live")
            expect(page.get_by_role("button", name="Stop")).to_be_visible()
            page.wait_for_timeout(500)
            OUT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(OUT), full_page=True)
            browser.close()
        daemon.request_exit()
        thread.join(10)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
