"""The page under abuse, against `bedside run` itself (issue 19): memory and sound while it lasts.

`bedside run` plays rain on the clocked PulseAudio device with the page on loopback. Then:

1. **header waves**: 3 waves of 32 connections, each sending 99 headers of 65 KB (6.4 MB a
   connection); the process's RSS before, at its highest during the waves, and 2 s after.
2. **slowloris**: 48 connections each dripping a header line a second for 15 s, while a phone asks
   for ``/state`` four times a second: how long each answer took.

The baseline is the same process's RSS before the abuse; the exit line gives the underruns.

Usage: python benchmarks/abuse.py
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from broker import free_port
from clocked import PulseNullSink
from probe import playing_on_pulse
from scratch import scratch


def rss_mib(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024


def flood(port: int) -> None:
    line = b"X-Flood: " + b"f" * 65_000 + b"\r\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET /state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
            for _ in range(99):
                s.sendall(line)
            s.sendall(b"\r\n")
            s.recv(100)
    except OSError:
        pass


def slowloris(port: int, count: int, seconds: float) -> None:
    sockets: list[socket.socket] = []

    def opened() -> socket.socket:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(f"GET /state HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode())
        return s

    for _ in range(count):
        sockets.append(opened())
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        time.sleep(1.0)
        n += 1
        for i, s in enumerate(sockets):
            try:
                s.sendall(f"X-Drip-{n}: 1\r\n".encode())
            except OSError:
                s.close()
                with contextlib.suppress(OSError):
                    sockets[i] = opened()
    for s in sockets:
        s.close()


def main() -> None:
    tmp = scratch()
    (tmp / "pulse").mkdir()
    pulse = PulseNullSink(tmp / "pulse").start()
    port = free_port()
    process, lines = playing_on_pulse(tmp, pulse.env, f'[web]\nlisten = "127.0.0.1:{port}"\n')
    try:
        time.sleep(3)
        before = rss_mib(process.pid)
        peak = before
        for _ in range(3):
            threads = [threading.Thread(target=flood, args=(port,)) for _ in range(32)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                peak = max(peak, rss_mib(process.pid))
                time.sleep(0.01)
        time.sleep(2)
        after = rss_mib(process.pid)
        attack = threading.Thread(target=slowloris, args=(port, 48, 15.0))
        attack.start()
        time.sleep(2)
        answers: list[float] = []
        failed = 0
        while attack.is_alive():
            asked = time.monotonic()
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=5).read()
                answers.append(time.monotonic() - asked)
            except OSError:
                failed += 1
            time.sleep(0.25)
    finally:
        process.terminate()
        process.wait(10)
        pulse.stop()
    ms = np.array(answers) * 1000
    print("\n| header waves: RSS before | highest | 2 s after | growth |")
    print("|---|---|---|---|")
    print(f"| {before:.1f} MiB | {peak:.1f} MiB | {after:.1f} MiB | {after - before:+.1f} MiB |")
    print("\n| slowloris (48): phone answers | failed | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    figures = f"{np.median(ms):.1f} | {np.percentile(ms, 99):.1f} | {ms.max():.1f}" if len(ms) else "— | — | —"
    print(f"| {len(answers)} | {failed} | {figures} |")
    print("".join(line for line in lines if "underrun" in line or "stopped after" in line))


if __name__ == "__main__":
    main()
