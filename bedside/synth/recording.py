"""The user's own recordings, played forever without a seam.

The decoded file is read as a chain of segments joined by equal-power crossfades. A short file is
looped whole, its tail crossfading into its head; a long file is read in segments of random length
from random places, so it never replays in the same order and there is no loop to learn.
"""

from __future__ import annotations

import numpy as np

from bedside.gain import SILENCE_DB, xfade_in_shape
from bedside.synth import spawn_generators
from bedside.synth.processes import GrainBus

#: Segments of a long recording last this long (seconds, uniform at random).
SEGMENT_SECONDS = (20.0, 60.0)
CROSSFADE_SECONDS = 3.0


class _Segment:
    """A stretch of the recording with crossfade ramps at its ends."""

    __slots__ = ("_data", "_fade", "_fade_head", "length", "start")

    def __init__(self, start: int, data: np.ndarray, fade: np.ndarray, fade_head: bool = True) -> None:
        self.start, self.length = start, len(data)
        self._data, self._fade, self._fade_head = data, fade, fade_head

    def render(self, offset: int, n: int) -> np.ndarray:
        out = self._data[offset:offset + n].copy()
        x = len(self._fade)
        if self._fade_head and offset < x:
            k = min(offset + n, x)
            out[: k - offset] *= self._fade[offset:k, None]
        tail_from = self.length - x
        if offset + n > tail_from:
            k = max(offset, tail_from)
            out[k - offset:] *= self._fade[::-1][k - tail_from:offset + n - tail_from, None]
        return out


def _fade(length: int) -> np.ndarray:
    """The rising equal-power leg; reversed it is the falling one (the shapes are mirror images)."""
    u = (np.arange(length) + 0.5) / length
    rising = 10 ** ((SILENCE_DB * (1 - xfade_in_shape(u))) / 20)
    return rising.astype(np.float32)


class Recording:
    """Plays a decoded recording (float32 frames × 2 at the engine's rate) without end."""

    def __init__(self, data: np.ndarray, rate: int, seed: np.random.SeedSequence) -> None:
        if len(data) < rate // 2:
            raise ValueError("a recording must be at least half a second long")
        (self._rng,) = spawn_generators(seed, 1)
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self._rate = rate
        self._crossfade = min(int(CROSSFADE_SECONDS * rate), len(data) // 4)
        self._fade = _fade(self._crossfade)
        shortest = int(SEGMENT_SECONDS[0] * rate)
        self._loop_whole = len(data) < 2 * shortest
        self._bus = GrainBus()
        self._now = 0
        self._next_start = 0

    def _next_segment(self) -> _Segment:
        n = len(self._data)
        if self._loop_whole:
            begin, length = 0, n
        else:
            low, high = (int(s * self._rate) for s in SEGMENT_SECONDS)
            length = int(self._rng.integers(low, min(high, n) + 1))
            begin = int(self._rng.integers(0, n - length + 1))
        # The first segment has nothing to crossfade from: the engine's fade-in covers its start.
        segment = _Segment(self._next_start, self._data[begin:begin + length], self._fade,
                           fade_head=self._next_start > 0)
        self._next_start += length - self._crossfade
        return segment

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        while self._next_start < t0 + frames:
            self._bus.add(self._next_segment())
        out = np.zeros((frames, 2), np.float32)
        self._bus.render_into(out, t0)
        return out
