"""Shared by the benchmarks: the daemon in a thread, and a tap on the ALSA writes."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from bedside.config import load
from bedside.daemon import Daemon


def start_daemon(config: Path) -> tuple[Daemon, threading.Thread]:
    """`bedside run` in-process on simulated pins, ready to take commands."""
    daemon = Daemon(load(config), simulate_pins=True, keyboard=False, seed=1)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    if not daemon.ready.wait(10):
        raise RuntimeError("the daemon did not start")
    return daemon, thread


def tap_first_sound(daemon: Daemon) -> tuple[threading.Event, float]:
    """An event set whenever a block with sound is handed to ALSA, and the period in seconds."""
    sink = daemon.output.sink
    heard = threading.Event()
    original = sink.write

    def write(block: np.ndarray) -> None:
        original(block)
        if block.any():
            heard.set()

    sink.write = write
    return heard, sink.period_frames / sink.rate
