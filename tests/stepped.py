"""A sink on the test's clock: the daemon's audio thread may write only the frames the test grants.

With ``Daemon(realtime=False, sink_factory=...)`` the loop builds sounds in place and never rests,
so the engine's sample clock moves exactly as far as :meth:`SteppedSink.grant` lets it: seconds of
sound after a press take milliseconds, and a frame number means the same on every run. Only what
really runs on the wall clock (gpiozero's debounce and long-press timers) still takes wall time.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from bedside.audio.sinks import Unclocked


class SteppedSink(Unclocked):
    #: It keeps its own time: the daemon's output never paces it by the wall clock.
    buffer_seconds = math.inf

    def __init__(self, rate: int, period_frames: int = 512) -> None:
        self.rate, self.format = rate, "F32"
        self.period_frames = period_frames
        self.blocks: list[np.ndarray] = []
        self._granted = 0
        self._written = 0
        self._free = False
        self._changed = threading.Condition()

    @property
    def written(self) -> int:
        return self._written

    def grant(self, frames: int, timeout: float = 30.0) -> None:
        """Let ``frames`` more through (whole periods) and wait until the audio thread wrote them."""
        with self._changed:
            self._granted += -(-frames // self.period_frames) * self.period_frames
            self._changed.notify_all()
            if not self._changed.wait_for(lambda: self._written >= self._granted or self._free, timeout):
                raise AssertionError(f"the audio loop wrote {self._written} of {self._granted} frames")

    def free(self) -> None:
        """Stop stepping: everything goes through (the daemon is shutting down)."""
        with self._changed:
            self._free = True
            self._changed.notify_all()

    def write(self, block: np.ndarray) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._free or self._granted - self._written >= len(block))
            self.blocks.append(block[:, 0].astype(np.float64))
            self._written += len(block)
            self._changed.notify_all()

    def output(self) -> np.ndarray:
        with self._changed:
            return np.concatenate(self.blocks) if self.blocks else np.zeros(0)

    def close(self) -> None:
        self.free()
