"""The page in a real browser: Debian's Chromium, driven by Playwright, against the running daemon
(in a thread: real controller, engine and ALSA file plugin, MockFactory pins). Every request the
page makes is watched: anything not to the box is blocked and counted, and must never happen."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import pytest
from playwright.sync_api import expect, sync_playwright
from test_appliance import PLAY, Appliance, cycle_levels_db, tone_file  # noqa: F401 (a fixture)
from test_daemon_process import start, wait_for_line, write_config
from test_web import free_port

from bedside.audio.pcm import decode

CHROMIUM = shutil.which("chromium")
STEP_DB = 60 / 99


@pytest.fixture(scope="module")
def browser():
    assert CHROMIUM, "Debian's chromium is installed by `make test`"
    with sync_playwright() as playwright:
        # Every request not to this machine goes to a proxy that is not there: nothing can leave.
        nowhere = {"server": "http://127.0.0.1:9", "bypass": "127.0.0.1"}
        launched = playwright.chromium.launch(executable_path=CHROMIUM, proxy=nowhere,
                                              args=["--no-sandbox"] if os.geteuid() == 0 else [])
        yield launched
        launched.close()


class Phone:
    """A phone-sized page on the box; every request to anywhere else is recorded (and fails: the
    browser's only way out is a proxy that does not exist)."""

    def __init__(self, browser, port: int) -> None:
        self.port = port
        self.elsewhere: list[str] = []
        self.context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark",
                                           has_touch=True)
        self.context.on("request", self._seen)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def _seen(self, request) -> None:
        if urlparse(request.url).netloc != f"127.0.0.1:{self.port}":
            self.elsewhere.append(request.url)

    def open(self, live: bool = True):
        self.page.goto(f"http://127.0.0.1:{self.port}/")
        if live:
            expect(self.page.get_by_role("status")).to_have_text("live")
        return self.page

    def close(self) -> None:
        self.context.close()
        assert self.elsewhere == [], f"the page asked for {self.elsewhere}"


def box_on(tmp_path: Path, tone: Path, port: int, web: str = "") -> Appliance:
    return Appliance(tmp_path, tone, f'[web]\nlisten = "127.0.0.1:{port}"\n{web}')


def test_every_control_has_a_name_and_works_from_the_keyboard(browser, tmp_path, tone_file):  # noqa: F811
    port = free_port()
    with box_on(tmp_path, tone_file, port) as box:
        phone = Phone(browser, port)
        page = phone.open()
        expect(page.get_by_role("button", name="Play")).to_be_visible()
        expect(page.get_by_role("slider", name="Volume")).to_have_value("80")
        expect(page.get_by_role("combobox", name="Sound")).to_have_value("tone")
        for preset in ("15 min", "30 min", "60 min", "90 min", "Timer off"):
            expect(page.get_by_role("button", name=preset)).to_be_visible()
        expect(page.get_by_role("button", name="Fade out now")).to_be_visible()
        expect(page.get_by_role("switch", name="Wake-up")).to_be_visible()
        expect(page.get_by_label("Wake-up time")).to_be_visible()
        expect(page.get_by_role("img", name="The planned level over the coming hours")).to_be_visible()
        for profile in ("sleep", "unwind", "focus", "nap"):
            expect(page.get_by_role("button", name=profile)).to_be_visible()
        expect(page.get_by_role("button", name="Breathe with the sound")).to_be_visible()
        expect(page.get_by_role("img", name="The guide's pace: grows as you breathe in")).to_be_visible()
        order = []
        for _ in range(10):
            page.keyboard.press("Tab")
            order.append(page.evaluate("document.activeElement.id || document.activeElement.textContent"))
        assert order[:9] == ["play", "sound", "volume", "sleep", "unwind", "focus", "nap", "breathe", "15 min"]
        page.get_by_role("button", name="Play").focus()
        page.keyboard.press("Enter")
        box.wait_for("started")
        expect(page.get_by_role("button", name="Stop")).to_be_visible()
        page.get_by_role("button", name="30 min").focus()
        page.keyboard.press("Space")
        _, state, _ = box.wait_for("timer")
        assert state.timer_min == 30
        expect(page.locator("#remaining")).to_contain_text("left")
        # Tall targets for a thumb in the dark.
        for name in ("Stop", "30 min", "Fade out now", "focus", "Breathe with the sound"):
            assert page.get_by_role("button", name=name).bounding_box()["height"] >= 48
        assert phone.errors == []
        phone.close()


def test_play_and_the_volume_slider_reach_the_samples(browser, tmp_path, tone_file):  # noqa: F811
    port = free_port()
    with box_on(tmp_path, tone_file, port) as box:
        phone = Phone(browser, port)
        page = phone.open()
        assert not np.any(box.output()) if box.raw.exists() else True
        page.get_by_role("button", name="Play").click()
        box.wait_for("started")
        time.sleep(1.0)
        assert np.abs(box.output()).max() > 0.003  # the file plugin's samples: sound (volume 80: -12 dB)
        slider = page.get_by_role("slider", name="Volume")
        slider.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        _, _, first = box.wait_for("volume")
        deadline = time.monotonic() + 3
        while box.controller.state.volume != 85 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert box.controller.state.volume == 85
        expect(page.locator("#volume-value")).to_contain_text("85")
        last = max(frame for reason, _, frame in box.events if reason == "volume")
        time.sleep(0.5)
        phone.close()
    levels = cycle_levels_db(box.output())
    before, after = levels[first // 48 - 200:first // 48 - 20].mean(), levels[last // 48 + 100:last // 48 + 200].mean()
    assert after - before == pytest.approx(5 * STEP_DB, abs=0.05)  # the samples follow the slider


def test_a_press_on_the_box_shows_on_the_page_within_200_ms(browser, tmp_path, tone_file):  # noqa: F811
    port = free_port()
    with box_on(tmp_path, tone_file, port) as box:
        phone = Phone(browser, port)
        page = phone.open()
        delays = []
        for expected in ("Stop", "Play", "Stop"):
            pin = box.pin(PLAY)
            pin.drive_low()
            time.sleep(0.05)
            released = time.monotonic()
            pin.drive_high()  # a press acts on its release
            page.wait_for_function("(text) => document.getElementById('play').textContent === text", arg=expected,
                                   polling="raf", timeout=2000)
            delays.append(time.monotonic() - released)
            time.sleep(0.3)
        assert max(delays) < 0.2, delays
        phone.close()


def test_the_page_reconnects_by_itself_when_the_daemon_is_killed_and_restarted(browser, tmp_path):
    port = free_port()
    raw = tmp_path / "out.raw"
    config = write_config(tmp_path, f"file:'{raw}',raw", f'[web]\nlisten = "127.0.0.1:{port}"\n')
    (tmp_path / "state" / "state.json").write_text('{"playing": false}')
    process = start(config)
    try:
        wait_for_line(process, "ready in")
        phone = Phone(browser, port)
        page = phone.open()
        process.kill()  # SIGKILL: no goodbye on the stream, the socket just dies
        process.wait(10)
        expect(page.get_by_role("status")).to_have_text("reconnecting…", timeout=5000)
        process = start(config)
        wait_for_line(process, "ready in")
        expect(page.get_by_role("status")).to_have_text("live", timeout=10000)
        page.get_by_role("button", name="Play").click()
        expect(page.get_by_role("button", name="Stop")).to_be_visible()
        deadline = time.monotonic() + 5
        while (not raw.exists() or not np.any(decode(raw.read_bytes(), "S32_LE"))) and time.monotonic() < deadline:
            page.wait_for_timeout(50)
        assert np.any(decode(raw.read_bytes(), "S32_LE"))  # the restarted daemon plays what the page asked
        phone.close()
    finally:
        process.kill()
        process.wait(10)


def test_nothing_moves_on_the_page_as_the_state_changes(browser, tmp_path, tone_file):  # noqa: F811
    port = free_port()
    with box_on(tmp_path, tone_file, port) as box:
        phone = Phone(browser, port)
        page = phone.open()

        def layout() -> list:  # in the page's coordinates: a click may scroll a long page
            return page.evaluate("() => [...document.querySelectorAll('section, button, select, input, svg')]"
                                 ".filter(e => e.offsetParent).map(e => { const r = e.getBoundingClientRect();"
                                 " return [r.x, r.y + scrollY, r.width, r.height].map(Math.round); })")

        first = layout()
        page.get_by_role("button", name="Play").click()
        box.wait_for("started")
        page.get_by_role("combobox", name="Sound").select_option("birds")  # the longest description
        page.get_by_role("button", name="60 min").click()
        box.wait_for("timer")
        expect(page.locator("#remaining")).to_contain_text("left")
        assert layout() == first
        phone.close()


def test_the_password_flow(browser, tmp_path, tone_file):  # noqa: F811
    (tmp_path / "pw").write_text("correct horse\n")
    port = free_port()
    with box_on(tmp_path, tone_file, port, f'password_file = "{tmp_path / "pw"}"') as box:
        phone = Phone(browser, port)
        page = phone.open(live=False)
        password = page.get_by_label("Password")
        expect(password).to_be_visible()
        expect(page.get_by_role("button", name="Play")).to_be_hidden()
        password.fill("wrong")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_have_text("wrong password")
        password.fill("correct horse")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("status")).to_have_text("live")
        cookie = next(c for c in phone.context.cookies() if c["name"] == "bedside_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert page.evaluate("document.cookie") == ""  # out of the page's scripts' reach
        page.get_by_role("button", name="Play").click()
        box.wait_for("started")
        phone.close()


def test_a_page_on_another_site_cannot_change_anything(browser, tmp_path, tone_file):  # noqa: F811
    port = free_port()
    target = f"http://127.0.0.1:{port}/command"
    attack = f"""<!doctype html><script>
      fetch("{target}", {{method: "POST", mode: "no-cors", body: '{{"state": "ON"}}'}});
      fetch("{target}", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}},
                          body: '{{"state": "ON"}}'}});
      fetch("{target}", {{method: "POST", headers: {{"Content-Type": "application/json"}},
                          body: '{{"state": "ON"}}'}}).catch(() => {{}});
      document.title = "sent";
    </script>
    <form method="post" action="{target}" enctype="text/plain">
      <input name='{{"state":"ON","x":"' value='"}}'>
    </form>"""

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(attack.encode())

        def log_message(self, *args):
            pass

    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        with box_on(tmp_path, tone_file, port) as box:
            context = browser.new_context()
            page = context.new_page()
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/")
            expect(page).to_have_title("sent")
            page.evaluate("document.forms[0].submit()")
            page.wait_for_load_state()
            time.sleep(0.5)
            assert not box.controller.state.playing
            context.close()
    finally:
        evil.shutdown()


def test_profiles_and_the_breathing_guide_on_the_page(browser, tmp_path, tone_file):  # noqa: F811
    """A profile chosen on the page is what the box plays; the guide's disc follows the same plan
    the sound does (the page's formula against the engine's, at the page's own instant), and a
    second press ends it."""
    import json
    import urllib.request

    from bedside.audio.breath import Breathing

    port = free_port()
    with box_on(tmp_path, tone_file, port) as box:
        phone = Phone(browser, port)
        page = phone.open()
        focus = page.get_by_role("button", name="focus")
        expect(page.get_by_role("button", name="nap")).to_be_visible()
        focus.click()
        expect(focus).to_have_attribute("aria-pressed", "true")
        expect(page.locator("#profile-description")).to_contain_text("chime")
        state = box.controller.state
        assert state.profile == "focus" and state.sound == "pink" and state.playing

        guide = page.get_by_role("button", name="Breathe with the sound")
        guide.click()
        expect(page.get_by_role("button", name="End the guide")).to_have_attribute("aria-pressed", "true")
        # The button is pressed as the guide's snapshot arrives; the disc is drawn on the next frame.
        expect(page.locator("#breath-phase")).to_have_text(re.compile(r"^(in|out)$"))
        plan = Breathing()
        radii, phases = [], set()
        for _ in range(40):  # 6 s: most of a breath at 11 a minute, both ways
            t, r, phase = page.evaluate("() => [doc.breath.at + (performance.now() - receivedAt) / 1000,"
                                        " Number(document.getElementById('breath-circle').getAttribute('r')),"
                                        " document.getElementById('breath-phase').textContent]")
            expected = 24 + 30 * float(plan.level(t))
            assert abs(r - expected) < 1.5, (t, r, expected)  # drawn up to a frame (16 ms) before
            radii.append(r)
            phases.add(phase)
            time.sleep(0.15)
        assert min(radii) < 30 and max(radii) > 48 and phases == {"in", "out"}
        # Tonight's picture marks the guide and the session (the chime's fade is in its line).
        expect(page.locator("#plan .band")).to_have_count(2)
        assert sorted(page.locator("#plan g text").all_text_contents()) == ["focus", "guide"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/state") as answer:
            server_at = json.load(answer)["breath"]["at"]
        page_at = page.evaluate("() => doc.breath.at + (performance.now() - receivedAt) / 1000")
        assert abs(page_at - server_at) < 0.3  # the page keeps the box's time of the guide
        page.get_by_role("button", name="End the guide").click()
        expect(page.get_by_role("button", name="Breathe with the sound")).to_have_attribute("aria-pressed", "false")
        assert not box.controller.state.breathing and box.controller.state.playing
        phone.close()
