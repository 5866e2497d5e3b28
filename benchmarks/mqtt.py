"""Home Assistant's view of the box's speed, against a real Mosquitto on loopback.

- command published → state echoed: a `{"volume": N}` on `<base>/<name>/set` until the retained
  state document shows N, seen by a second client.
- command published → first changed sample handed to ALSA: a `{"state": "ON"}` until the first
  non-silent block reaches the ALSA write (ALSA's null device, paced like a real buffer).

Usage: python benchmarks/mqtt.py [--count 50]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))

from broker import Broker, Listener
from probe import start_daemon, tap_first_sound
from scratch import scratch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=50)
    args = parser.parse_args()
    tmp = scratch()
    broker = Broker(tmp).start()
    config = tmp / "bedside.toml"
    config.write_text(f'[audio]\ndevice = "null"\n[sound]\nfade_in_s = 0.1\nstop_fade_s = 0.1\n'
                      f'[state]\ndirectory = "{tmp}"\n[mqtt]\nenabled = true\nhost = "127.0.0.1"\n'
                      f'port = {broker.port}\nname = "bench"\n')
    daemon, thread = start_daemon(config)
    client = Listener(broker, topics=("bedside/bench",))
    daemon.mqtt.connected.wait(10)
    heard, period_s = tap_first_sound(daemon)
    echo, sound = [], []
    for i in range(args.count):
        volume = 20 + i % 50
        start = time.perf_counter()
        client.publish("bedside/bench/set", json.dumps({"volume": volume}))
        client.wait_state("bedside/bench", lambda d, v=volume: d["volume"] == v)
        echo.append(time.perf_counter() - start)
    for _ in range(args.count):
        heard.clear()
        start = time.perf_counter()
        client.publish("bedside/bench/set", '{"state": "ON"}')
        heard.wait(5)
        sound.append(time.perf_counter() - start)
        client.publish("bedside/bench/set", '{"state": "OFF"}')
        client.wait_state("bedside/bench", lambda d: d["state"] == "OFF" and not d["fading"])
        while daemon.controller.engine.audible:
            time.sleep(0.005)
    daemon.request_exit()
    thread.join(10)
    client.close()
    broker.stop()
    print("| measure | p50 ms | p99 ms | p99 periods |")
    print("|---|---:|---:|---:|")
    for name, values in (("command published → state echoed", echo),
                         ("command published → first changed sample to ALSA", sound)):
        p50, p99 = np.quantile(values, [0.5, 0.99])
        print(f"| {name} | {p50 * 1000:.1f} | {p99 * 1000:.1f} | {p99 / period_s:.2f} |")
    print(f"\n{args.count} commands each; ALSA period {period_s * 1000:.2f} ms")


if __name__ == "__main__":
    main()
