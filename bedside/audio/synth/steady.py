"""Holding a natural sound to its own loudness over minutes, so switching sounds never jumps.

A natural sound swells and settles by design (gusts, a bird close by, a fire burning up), and over
a few minutes those swells do not always average out: ten minutes of one seed's wind measured
1.5 LU above another's. Calibration matches the sounds over an hour; this matches them over any
ten minutes. It watches the sound's own K-weighted power (the measure of BS.1770 loudness) in
one cell of :data:`CELL` frames in every :data:`EVERY`, keeps a running mean over about a minute,
and turns the sound gently the other way when that mean strays from the sound's long-run
loudness: a gain that moves by a straight line over the cell after each measured one and holds
between, never by more than :data:`LIMIT_DB`. Swells of a few seconds pass untouched; only what
would add up over minutes is evened out.

One cell in four, not every cell: a running mean over a minute is the same mean from 175 cells as
from 700 (the swells it evens out last far longer than the 0.34 s between measured cells), and it
was 12-18% of a natural sound's synthesis, four fifths of that the measuring (155 -> 39 µs a
16,384-frame chunk).

The cells lie on the source's own sample count, so the output does not depend on how blocks are
cut, like every source's.
"""

from __future__ import annotations

import math

import numpy as np

from bedside.audio.loudness import k_weighted_square_weights
from bedside.audio.synth import CHANNELS, Source, scale_frames

#: Frames per cell (85 ms at 48 kHz), and one cell in how many is measured (the first of each).
CELL, EVERY = 4096, 4
#: The running mean's time constant (seconds) and the largest correction (dB either way).
TAU_S, LIMIT_DB = 60.0, 4.0


class Steady:
    """A source whose loudness over minutes is held to ``mean_lufs`` (its long-run loudness)."""

    def __init__(self, source: Source, rate: int, mean_lufs: float) -> None:
        self._source = source
        self._weights = k_weighted_square_weights(rate, CELL)
        self._target = 10 ** ((mean_lufs + 0.691) / 10)
        self._mean = self._target  # no correction until something has been heard
        self._keep = math.exp(-EVERY * CELL / (TAU_S * rate))
        self._cell = np.zeros((CELL, CHANNELS), np.float32)  # the current cell's raw frames
        self._places = np.arange(CELL, dtype=np.float64)  # each frame's place in its cell
        self._filled = 0
        self._counted = 0  # cells finished, on the source's own sample count
        self._from, self._to = 1.0, 1.0  # linear gains at the current cell's start and end

    def _finish_cell(self, cell: np.ndarray) -> float:
        """Take a whole cell of raw frames into the running mean; returns the gain the next cell ramps to."""
        # |X|² as re² + im² from the spectrum's float32 parts, weighted by one matrix-vector product
        # (np.abs took a square root only to square it: 2/3 of this method's time).
        # Contiguous first: numpy 1.x (Debian bookworm's, as `make install` uses) returns complex128
        # laid out by columns, which no view can reinterpret (`bedside render` failed there).
        spectrum = np.fft.rfft(cell, axis=0)
        parts = np.ascontiguousarray(spectrum).view(spectrum.real.dtype)
        parts *= parts
        power = float(np.sum(self._weights @ parts.astype(np.float64)))
        self._mean = self._keep * self._mean + (1 - self._keep) * power
        correction_db = -10 * math.log10(max(self._mean, 1e-30) / self._target)
        correction_db = min(max(correction_db, -LIMIT_DB), LIMIT_DB)
        return 10 ** (correction_db / 20)

    def render(self, frames: int) -> np.ndarray:
        out = self._source.render(frames)
        done = 0
        while done < frames:
            filled = self._filled
            take = min(CELL - filled, frames - done)
            part = out[done:done + take]
            ends = filled + take == CELL
            measured = self._counted % EVERY == 0
            if measured and take < CELL:  # a whole cell within the block is measured where it lies, not copied
                self._cell[filled:filled + take] = part
            next_to = (self._finish_cell(part if take == CELL else self._cell)
                       if ends and measured else self._to)
            if self._from == self._to:  # held: one multiply of contiguous frames
                part *= np.float32(self._to)
            else:
                # Each frame's gain from its own place in the cell (float64, then float32): the
                # same value to the bit however the blocks are cut.
                gains = self._from + (self._to - self._from) / CELL * self._places[filled:filled + take]
                scale_frames(part, gains.astype(np.float32))
            done += take
            self._filled = 0 if ends else filled + take
            if ends:
                self._counted += 1
                self._from, self._to = self._to, next_to
        return out
