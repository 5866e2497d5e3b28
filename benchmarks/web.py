"""What the page costs the appliance: `bedside run` as a process (imports included), default config
but for the device (ALSA null) and the port, with the page disabled, enabled and unvisited, and
enabled with phones connected and idle; then a command from the page to its echo on the stream.

Usage: python benchmarks/web.py [--seconds 60] [--pages 3] [--commands 100]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

STARTS = 5  # start → READY is the median of this many starts (the machine is shared and noisy)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds of each thread of ``pid`` by name (schedstat; threads of one name summed)."""
    out: dict[str, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            out[name] = out.get(name, 0.0) + int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended meanwhile
    return out


def cpu_s(pid: int) -> float:
    """CPU time of every thread, in seconds (schedstat): clock ticks are too coarse for an idle box."""
    return sum(thread_cpu_s(pid).values())


def peak_rss_mib(pid: int) -> float:
    """The process's own peak RSS (VmHWM). Not wait4's ru_maxrss: that also counts the forking
    parent's pages the child held between fork and exec (the benchmark's, not bedside's)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Daemon:
    def __init__(self, tmp: Path, web: bool, port: int) -> None:
        config = tmp / f"bedside-{port}.toml"
        config.write_text(f'[audio]\ndevice = "null"\n[state]\ndirectory = "{tmp / str(port)}"\n'
                          f'[web]\nenabled = {"true" if web else "false"}\nlisten = "127.0.0.1:{port}"\n')
        started = time.monotonic()
        self.process = subprocess.Popen([sys.executable, "-m", "bedside", "--config", str(config), "run",
                                         "--simulate-pins"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, text=True)
        for line in self.process.stdout:
            if "ready in" in line:
                self.ready_s = time.monotonic() - started
                break
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)


def stream(port: int, seen: list, stop: threading.Event) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/events")
    response = connection.getresponse()
    for line in response:
        if stop.is_set():
            break
        if line.startswith(b"data: "):
            seen.append((time.monotonic(), json.loads(line[6:])))
    connection.close()


def command(port: int, data: dict) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("POST", "/command", json.dumps(data), {
        "Origin": f"http://127.0.0.1:{port}", "Content-Type": "application/json", "Host": f"127.0.0.1:{port}"})
    connection.getresponse().read()
    connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--pages", type=int, default=3)
    parser.add_argument("--commands", type=int, default=100)
    args = parser.parse_args()
    from probe import as_installed

    as_installed()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, web, pages in (("page disabled", False, 0), ("page enabled, nobody on it", True, 0),
                                  (f"page enabled, {args.pages} phones open and idle", True, args.pages)):
            readies = []
            for _ in range(STARTS - 1):
                probe = Daemon(Path(tmp), web, free_port())
                readies.append(probe.ready_s)
                probe.close()
            port = free_port()
            daemon = Daemon(Path(tmp), web, port)
            readies.append(daemon.ready_s)
            stop = threading.Event()
            for _ in range(pages):
                threading.Thread(target=stream, args=(port, [], stop), daemon=True).start()
            time.sleep(2.0)
            before = cpu_s(daemon.process.pid)
            time.sleep(args.seconds)
            per_hour = (cpu_s(daemon.process.pid) - before) * 3600 / args.seconds
            rows.append((label, sorted(readies)[len(readies) // 2], peak_rss_mib(daemon.process.pid), per_hour))
            stop.set()
            daemon.close()

        port = free_port()
        daemon = Daemon(Path(tmp), True, port)
        seen: list = []
        stop = threading.Event()
        threading.Thread(target=stream, args=(port, seen, stop), daemon=True).start()
        time.sleep(1.0)
        delays = []
        for i in range(args.commands):
            volume = 20 + i % 2
            sent = time.monotonic()
            command(port, {"volume": volume})
            while time.monotonic() - sent < 2:
                echo = next((t for t, s in list(seen) if t >= sent and s["volume"] == volume), None)
                if echo is not None:
                    delays.append((echo - sent) * 1000)
                    break
                time.sleep(0.0005)
            time.sleep(0.05)
        stop.set()
        daemon.close()

    print("`bedside run` as a process, default config (ALSA null, stopped), imports included\n")
    print(f"| | start → READY (median of {STARTS}) | peak RSS | CPU while stopped |")
    print("|---|---:|---:|---:|")
    for label, ready, rss, cpu in rows:
        print(f"| {label} | {ready:.2f} s | {rss:.1f} MiB | {cpu:.1f} s per hour |")
    delays.sort()
    if delays:
        p50, p99 = delays[len(delays) // 2], delays[min(len(delays) - 1, int(len(delays) * 0.99))]
        print(f"\npage command (POST /command) → state echoed on the event stream, {len(delays)} commands: "
              f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {delays[-1]:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
