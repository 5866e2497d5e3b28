"""How long a command takes to be applied, whatever else the machine does (issue 19).

`bedside run` (the entry point, as installed) plays rain on the clocked PulseAudio device with MQTT
(a real Mosquitto) and the page on, and a 20-minute recording in its config. Two phases, in the
same run: **quiet** (nothing else) is the baseline; **loaded** adds one CPU hog per core (plain
processes at the same priority), a phone on the page (an event stream open, ``/state`` read five
times a second) and a client writing 1 MiB files with fsync in a loop (an SD card that is busy).

- *command → echo*: `{"volume": N}` published until the state document with N arrives at a second
  client (the controller applied it on the audio thread, the dispatcher published it).
- *OFF → on disk*: `{"state": "OFF"}` published until ``state.json`` (written with fsync, then
  renamed) says ``"playing": false``.

Usage: python benchmarks/commands.py [--count 300] [--offs 10]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import paho.mqtt.client as paho
import soundfile
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from broker import Broker, free_port
from clocked import PulseNullSink
from probe import playing_on_pulse
from scratch import scratch


class Echoes:
    """A second MQTT client: when each state document arrived."""

    def __init__(self, port: int, topic: str) -> None:
        self.topic = topic
        self.latest: dict = {}
        self.changed = threading.Condition()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-{free_port()}")
        self.client.on_message = self._message
        self.client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _message(self, client, userdata, message) -> None:
        if message.topic == self.topic:
            with self.changed:
                self.latest = json.loads(message.payload)
                self.changed.notify_all()

    def publish(self, payload: dict) -> None:
        self.client.publish(f"{self.topic}/set", json.dumps(payload), qos=1)

    def wait(self, check, timeout: float = 10.0) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: check(self.latest), timeout)


class Load:
    """CPU hogs, a phone on the page, and a disk kept busy."""

    def __init__(self, web_port: int, directory: Path) -> None:
        self._stop = threading.Event()
        self.hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 2)]
        jobs = ((self._phone, (web_port,)), (self._stream, (web_port,)), (self._disk, (directory,)))
        self.threads = [threading.Thread(target=job, args=args, daemon=True) for job, args in jobs]
        for thread in self.threads:
            thread.start()

    def _phone(self, port: int) -> None:
        while not self._stop.wait(0.2):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"http://127.0.0.1:{port}/state", timeout=5).read()

    def _stream(self, port: int) -> None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/events", timeout=30) as events:
                while not self._stop.is_set():
                    events.readline()
        except OSError:
            pass

    def _disk(self, directory: Path) -> None:
        block = os.urandom(1 << 20)
        while not self._stop.is_set():
            with open(directory / "busy.bin", "wb") as f:
                f.write(block)
                f.flush()
                os.fsync(f.fileno())

    def close(self) -> None:
        self._stop.set()
        for hog in self.hogs:
            hog.kill()
            hog.wait()


def stats(seconds: list[float]) -> str:
    ms = np.array(seconds) * 1000
    return f"{np.median(ms):7.1f} {np.percentile(ms, 99):7.1f} {ms.max():7.1f}"


def measure(echoes: Echoes, state_file: Path, count: int, offs: int) -> tuple[list[float], list[float]]:
    echo, disk = [], []
    for i in range(count):
        volume = 20 + i % 40
        start = time.perf_counter()
        echoes.publish({"volume": volume})
        if not echoes.wait(lambda d, v=volume: d.get("volume") == v):
            raise RuntimeError(f"no echo of volume {volume}")
        echo.append(time.perf_counter() - start)
        time.sleep(0.03)
    for _ in range(offs):
        start = time.perf_counter()
        echoes.publish({"state": "OFF"})
        while json.loads(state_file.read_text()).get("playing"):
            if time.perf_counter() - start > 10:
                raise RuntimeError("the stop never reached the disk")
            time.sleep(0.001)
        disk.append(time.perf_counter() - start)
        echoes.wait(lambda d: d.get("state") == "OFF")
        if os.environ.get("BENCH_DEBUG"):
            print(f"OFF echo at {1000 * (time.perf_counter() - start):.0f} ms, disk at {1000 * disk[-1]:.0f} ms")
        echoes.wait(lambda d: d.get("state") == "OFF" and not d.get("fading"))
        echoes.publish({"state": "ON"})
        echoes.wait(lambda d: d.get("state") == "ON")
        time.sleep(1.5)  # the "playing" save is on disk
    return echo, disk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--offs", type=int, default=10)
    args = parser.parse_args()
    tmp = scratch()
    broker = Broker(tmp).start()
    (tmp / "pulse").mkdir()
    pulse = PulseNullSink(tmp / "pulse").start()
    recording = tmp / "long.wav"
    rng = np.random.default_rng(1)
    with soundfile.SoundFile(recording, "w", 48000, 1, "PCM_16") as f:
        for _ in range(20):
            f.write((0.05 * rng.standard_normal(60 * 48000)).astype(np.float32))
    web_port = free_port()
    process, lines = playing_on_pulse(tmp, pulse.env, f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
                                      f'port = {broker.port}\nname = "bench"\n[web]\nlisten = "127.0.0.1:{web_port}"\n'
                                      f'[[sounds]]\nname = "long"\nfile = "{recording}"\n')
    state_file = tmp / "state" / "state.json"
    echoes = Echoes(broker.port, "bedside/bench")
    try:
        if not echoes.wait(lambda d: d.get("state") == "ON"):
            raise RuntimeError(f"not playing: {lines}")
        quiet = measure(echoes, state_file, args.count, args.offs)
        load = Load(web_port, tmp)
        try:
            time.sleep(2)
            loaded = measure(echoes, state_file, args.count, args.offs)
        finally:
            load.close()
    finally:
        process.terminate()
        process.wait(10)
        broker.stop()
        pulse.stop()
    print(f"\n{args.count} volume commands over MQTT, {args.offs} OFFs; ms\n")
    print("| phase  | echo p50 | p99 | max | OFF → disk p50 | p99 | max |")
    print("|---|---|---|---|---|---|---|")
    for name, (echo, disk) in (("quiet", quiet), ("loaded", loaded)):
        e, d = stats(echo).split(), stats(disk).split()
        print(f"| {name} | {' | '.join(e)} | {' | '.join(d)} |")
    print(f"\nloaded / quiet, echo p99: {np.percentile(loaded[0], 99) / np.percentile(quiet[0], 99):.1f}×")
    print("".join(line for line in lines if "underrun" in line or "stopped after" in line) or "(no underrun logged)")


if __name__ == "__main__":
    main()
