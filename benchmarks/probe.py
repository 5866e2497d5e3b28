"""Shared by the benchmarks: the daemon in a thread, and a tap on the ALSA writes."""

from __future__ import annotations

import compileall
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

import bedside
from bedside.config import load
from bedside.daemon import Daemon


def as_installed() -> None:
    """Bytecode for every module of bedside, as the installed appliance has it (pip compiles the
    package at ``make install``): a start then reads .pyc files instead of compiling ~50 modules.
    Without this, on a machine with PYTHONDONTWRITEBYTECODE set (this VM) or a clone never run, each
    measured start compiled them all: 0.30 → 0.42 s to READY here, ten times that at 10 % of a core."""
    compileall.compile_dir(str(Path(bedside.__file__).parent), quiet=1)


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


def playing_on_pulse(tmp: Path, env: dict[str, str], config_extra: str) -> tuple[subprocess.Popen, list[str]]:
    """`bedside run` (the installed entry point) as a process, resuming rain on the clocked device
    ``env`` reaches, once ready; its output lines keep coming into the list."""
    (tmp / "state").mkdir()
    (tmp / "state" / "state.json").write_text('{"sound": "rain", "volume": 30, "playing": true}')
    config = tmp / "bedside.toml"
    config.write_text(f'[audio]\ndevice = "pulse"\n[state]\ndirectory = "{tmp / "state"}"\nresume_on_boot = true\n'
                      + config_extra)
    bedside = Path(sys.executable).parent / "bedside"
    process = subprocess.Popen([str(bedside), "--config", str(config), "run", "--simulate-pins"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **env})
    lines: list[str] = []
    for line in process.stdout:
        lines.append(line)
        if "ready in" in line:
            break
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return process, lines
