"""The appliance's responsiveness: button press to sound, start-up to first audio, memory.

- press → first changed sample handed to ALSA: the daemon runs in-process on gpiozero's
  MockFactory and ALSA's null device (paced at the depth of a real device's buffer); each play
  press is a pin driven low then high, and the clock stops when a block containing the change
  reaches the ALSA write. Reported in ms and in ALSA periods.
- start → first audio: `bedside run` as a process, until it sends READY=1 on a notify socket
  (it does so after its first block has been handed to ALSA).
- peak RSS of that process after 10 s playing rain.

Usage: python benchmarks/appliance.py [--presses 40]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np
from scratch import scratch


def press_latency(presses: int) -> tuple[np.ndarray, float]:
    from probe import start_daemon, tap_first_sound

    tmp = scratch()
    config = tmp / "bedside.toml"
    config.write_text(f'[audio]\ndevice = "null"\n[sound]\nfade_in_s = 0.1\nstop_fade_s = 0.1\n'
                      f'[state]\ndirectory = "{tmp}"\n')
    daemon, thread = start_daemon(config)
    heard, period_s = tap_first_sound(daemon)
    pin = daemon.pins.factory.pin(17)
    latencies = []
    for _ in range(presses):
        time.sleep(0.05)
        heard.clear()
        pin.drive_low()
        time.sleep(0.03)
        pressed = time.perf_counter()
        pin.drive_high()  # a short press acts on release
        if not heard.wait(2):
            raise RuntimeError("no sound after a press")
        latencies.append(time.perf_counter() - pressed)
        time.sleep(0.05)  # presses closer than the bounce filter (20 ms) would count as bounce
        pin.drive_low()
        time.sleep(0.03)
        pin.drive_high()  # stop again, and wait for the fade to finish
        while daemon.controller.engine.audible or daemon.controller.state.playing:
            time.sleep(0.01)
    daemon.request_exit()
    thread.join(10)
    return np.array(latencies), period_s


def start_to_ready(runs: int) -> tuple[list[float], int]:
    times, rss = [], 0
    for i in range(runs):
        tmp = scratch()
        (tmp / "state.json").write_text(json.dumps({"sound": "rain", "volume": 50, "playing": True}))
        config = tmp / "bedside.toml"
        config.write_text(f'[audio]\ndevice = "null"\n[state]\ndirectory = "{tmp}"\nresume_on_boot = true\n')
        sock_path = tmp / "notify.sock"
        server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        server.bind(str(sock_path))
        server.settimeout(30)
        start = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "bedside", "--config", str(config), "run",
                                    "--simulate-pins"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env={**os.environ, "NOTIFY_SOCKET": str(sock_path)})
        while "READY=1" not in server.recv(4096).decode():
            pass
        times.append(time.perf_counter() - start)
        if i == runs - 1:
            time.sleep(10)  # playing rain
        with open(f"/proc/{process.pid}/status") as f:  # VmHWM: not wait4's, which counts our own pages too
            rss = max(rss, next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")))
        process.terminate()
        process.wait()
        server.close()
    return times, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presses", type=int, default=40)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args()
    latencies, period_s = press_latency(args.presses)
    p50, p99 = np.quantile(latencies, [0.5, 0.99])
    from probe import as_installed

    as_installed()
    starts, rss = start_to_ready(args.starts)
    print("| measure | p50 | p99 | max |")
    print("|---|---:|---:|---:|")
    print(f"| press → first changed sample to ALSA, ms | {p50 * 1000:.1f} | {p99 * 1000:.1f} | "
          f"{latencies.max() * 1000:.1f} |")
    print(f"| same, in ALSA periods ({period_s * 1000:.2f} ms) | {p50 / period_s:.2f} | {p99 / period_s:.2f} | "
          f"{latencies.max() / period_s:.2f} |")
    print(f"| process start → first audio (READY=1), s | {np.median(starts):.2f} | – | {max(starts):.2f} |")
    print(f"\npeak RSS of `bedside run` playing rain: {rss / 1024:.0f} MiB ({args.presses} presses, "
          f"{args.starts} starts)")


if __name__ == "__main__":
    main()
