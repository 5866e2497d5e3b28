"""Driving the engine into a sink: offline as fast as possible, or paced by the device."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable

from bedside.engine import Engine
from bedside.sinks import Sink


def render(engine: Engine, sink: Sink, frames: int, block: int,
           progress: Callable[[int, int], None] | None = None) -> None:
    """Render ``frames`` frames into ``sink`` in blocks of ``block`` frames."""
    done = 0
    while done < frames:
        n = min(block, frames - done)
        sink.write(engine.render(n))
        done += n
        if progress:
            progress(done, frames)


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not one."""

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self._label, self._stream = label, stream
        self._enabled = stream.isatty()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * done / total)
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] {100 * done // total:3d}%")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()


def play_until_stopped(engine: Engine, sink: Sink, period: int, stop_fade: float,
                       seconds: float | None = None) -> None:
    """Play in real time (the device's blocking writes set the pace) until Ctrl-C or ``seconds``.

    Ctrl-C or SIGTERM does not cut the sound: it starts the stop fade, and the loop ends once the
    fade has reached silence.
    """
    requested = False  # set by the signal handler; the loop, which owns the engine, acts on it
    stopping = False

    def request_stop(signum, frame) -> None:
        nonlocal requested
        requested = True

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    limit = None if seconds is None else engine.seconds(seconds)
    try:
        while not stopping or engine.audible:
            if not stopping and (requested or (limit is not None and engine.now >= limit)):
                stopping = True
                engine.stop(stop_fade)
            sink.write(engine.render(period))
        sink.write(engine.render(period))  # a period of exact zeros: the DAC rests at 0, not at -100 dB
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
