"""Gain ramps and the volume scale.

Every gain change in bedside is a ramp evaluated per sample from the absolute sample index, so a
block can be rendered in any partition and give the same samples. Levels are kept in dB because
perceived loudness is logarithmic: a ramp that is linear in dB sounds even, one linear in amplitude
holds loud and then plunges.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

#: A ramp that ends at or below this level ends in exact digital silence (zeros). −100 dBFS is
#: below the 16-bit noise floor, so the last step to zero is inaudible.
SILENCE_DB = -100.0

#: Upper bound on any single ramp's change per sample. Ramps that may coincide (a voice fade, the
#: volume, the sleep fade) each stay under this, so their sum stays under the 0.01 dB zipper limit.
MAX_DB_PER_SAMPLE = 0.004

Shape = Callable[[np.ndarray], np.ndarray]

#: Frames of a moving ramp's levels computed at once (eight 512-frame periods).
RAMP_WINDOW = 4096


def linear_shape(u: np.ndarray) -> np.ndarray:
    """Linear in dB: the natural fade for a single sound (exponential in amplitude)."""
    return u


# Equal-power crossfade legs. The balance D between the two legs (in dB) follows a sinh schedule
# from -R to +R, and each leg is g² = 1 / (1 + 10^(∓D/10)), so g_in² + g_out² = 1 exactly at every
# sample, the legs reach -R dB before they are cut, and each leg's dB slope is bounded by dD/dt.
_XFADE_RANGE_DB = -SILENCE_DB
_XFADE_SINH_B = 2.0
# exp(x·ln 10 / k) rather than 10 ** (x / k): the same values to 1e-15, in a third of the time
# (numpy's exp is vectorised, its pow is not), and a crossfade computes them for every sample.
_LN10_OVER_10 = math.log(10) / 10
_LN10_OVER_20 = math.log(10) / 20
#: Largest slope of the crossfade shape, in shape-units per unit of u (used to size ramps).
XFADE_MAX_SLOPE = 2 * _XFADE_SINH_B / math.tanh(_XFADE_SINH_B)


def _xfade_in_db(u: np.ndarray) -> np.ndarray:
    balance = _XFADE_RANGE_DB * np.sinh(_XFADE_SINH_B * (2 * u - 1)) / math.sinh(_XFADE_SINH_B)
    return -10 * np.log10(1 + np.exp(balance * -_LN10_OVER_10))


_XFADE_IN_START = float(_xfade_in_db(np.array(0.0)))
_XFADE_IN_END = float(_xfade_in_db(np.array(1.0)))


def xfade_in_shape(u: np.ndarray) -> np.ndarray:
    """Rising leg of the equal-power crossfade, normalised to run 0 → 1."""
    return (_xfade_in_db(u) - _XFADE_IN_START) / (_XFADE_IN_END - _XFADE_IN_START)


def xfade_out_shape(u: np.ndarray) -> np.ndarray:
    """Falling leg: the mirror image of the rising one, so the pair sums to constant power."""
    return 1 - xfade_in_shape(1 - u)


_SHAPE_MAX_SLOPE = {linear_shape: 1.0, xfade_in_shape: XFADE_MAX_SLOPE, xfade_out_shape: XFADE_MAX_SLOPE}


@dataclass
class Ramp:
    """A gain in dB that moves from one level to another over a span of samples.

    Before ``start`` it holds ``begin_db``; after ``start + length`` it holds ``end_db`` (or exact
    silence if ``end_db`` is at or below :data:`SILENCE_DB`). ``-inf`` means silence.
    """

    begin_db: float = 0.0
    end_db: float = 0.0
    start: int = 0
    length: int = 0
    shape: Shape = linear_shape
    silent_after: bool = False  # exact zeros once the ramp has ended
    # The levels of one RAMP_WINDOW of a moving ramp, computed once for the periods inside it,
    # keyed by the ramp's own fields (whoever changes one gets fresh levels).
    _window: tuple | None = field(default=None, repr=False, compare=False)
    _window_levels: np.ndarray | None = field(default=None, repr=False, compare=False)
    _gain_window: tuple | None = field(default=None, repr=False, compare=False)
    _window_gains: np.ndarray | None = field(default=None, repr=False, compare=False)

    @classmethod
    def hold(cls, db: float) -> Ramp:
        """A constant level; ``-inf`` is silence."""
        if db == -math.inf:
            return cls(SILENCE_DB, SILENCE_DB, silent_after=True)
        return cls(db, db)

    def level_at(self, t: int) -> float:
        """The gain in dB at sample ``t`` (``-inf`` for silence)."""
        return self.held_at(t) if self.is_steady(t, 1) else float(self._levels(t, 1)[0])

    def held_at(self, t: int) -> float:
        """The level at ``t`` where the ramp is not moving (before or after it)."""
        if t < self.start:
            return self.begin_db
        return -math.inf if self.silent_after else self.end_db

    def _levels(self, t0: int, n: int) -> np.ndarray:
        t = np.arange(t0, t0 + n)
        u = (t - self.start) / self.length
        levels = self.begin_db + (self.end_db - self.begin_db) * self.shape(np.clip(u, 0.0, 1.0))
        # Outside the ramp, the exact held values: the same samples whatever the block partition.
        levels[u <= 0] = self.begin_db
        levels[u >= 1] = -math.inf if self.silent_after else self.end_db
        return levels

    def is_steady(self, t0: int, n: int) -> bool:
        """True if the gain is constant over ``[t0, t0 + n)``."""
        return self.length == 0 or t0 >= self.start + self.length or t0 + n <= self.start

    def db_block(self, t0: int, n: int) -> np.ndarray | float:
        """Per-sample dB over ``[t0, t0 + n)`` (read-only), or a float when it is constant there.

        A moving ramp's levels are computed a window (several periods) at a time on a grid of the
        sample clock: the same values as sample by sample, with a dozen numpy calls per window
        instead of per period (on a CPU that has just woken, each call costs tens of µs).
        """
        if self.is_steady(t0, n):
            return self.held_at(t0)
        w0 = t0 - t0 % RAMP_WINDOW
        if t0 + n > w0 + RAMP_WINDOW:
            return self._levels(t0, n)
        key = (w0, self.begin_db, self.end_db, self.start, self.length, self.shape, self.silent_after)
        if key != self._window:
            levels = self._levels(w0, RAMP_WINDOW)
            levels.flags.writeable = False
            self._window, self._window_levels = key, levels
        return self._window_levels[t0 - w0:t0 - w0 + n]  # type: ignore[index]

    def gain_block(self, t0: int, n: int, offset_db: float = 0.0) -> np.ndarray | float:
        """The amplitude for ``db_block + offset_db`` over ``[t0, t0 + n)``: a float when constant,
        else float32 (read-only), computed a window at a time like :meth:`db_block`."""
        levels = self.db_block(t0, n)
        if isinstance(levels, float):
            return db_to_gain(levels + offset_db)
        if self._window_levels is None or levels.base is not self._window_levels:
            return db_to_gain(levels + offset_db).astype(np.float32)  # a block across two windows
        key = (self._window, offset_db)
        if key != self._gain_window:
            gains = db_to_gain(self._window_levels + offset_db).astype(np.float32)
            gains.flags.writeable = False
            self._gain_window, self._window_gains = key, gains
        offset = t0 - self._window[0]  # type: ignore[index]
        return self._window_gains[offset:offset + n]  # type: ignore[index]

    def finished(self, t: int) -> bool:
        return t >= self.start + self.length

    def silent_from(self, t: int) -> bool:
        """True if the gain is silence at ``t`` and stays so."""
        return self.finished(t) and self.silent_after

    def move(self, start: int, target_db: float, min_samples: int, shape: Shape = linear_shape,
             then_silence: bool = False, max_db_per_sample: float = MAX_DB_PER_SAMPLE) -> None:
        """Ramp from the level at sample ``start`` to ``target_db``.

        The ramp lasts at least ``min_samples`` and is lengthened as needed so that it never moves
        faster than ``max_db_per_sample``: a large jump takes a little longer rather than zipping.
        A target at or below :data:`SILENCE_DB`, or ``then_silence``, ends in exact zeros.
        """
        begin = self.level_at(start)
        begin = SILENCE_DB if begin == -math.inf else begin
        target = max(target_db, SILENCE_DB)
        span = abs(target - begin)
        needed = math.ceil(span * _SHAPE_MAX_SLOPE.get(shape, 1.0) / max_db_per_sample)
        self.begin_db, self.end_db = begin, target
        self.start, self.length, self.shape = start, max(min_samples, needed, 1), shape
        self.silent_after = then_silence or target <= SILENCE_DB
        if span == 0 and not self.silent_after:
            self.length = 0


def db_to_gain(db: np.ndarray | float) -> np.ndarray | float:
    """Amplitude from dB; ``-inf`` gives exactly 0."""
    if isinstance(db, np.ndarray):
        return np.exp(db * _LN10_OVER_20)
    return 0.0 if db == -math.inf else 10.0 ** (db / 20.0)


@dataclass(frozen=True)
class VolumeScale:
    """Volume steps 0–100 on a dB scale: 0 is silence, 1 the floor, 100 the ceiling.

    Steps are equal in dB, so the quiet end has as fine a control as the loud end and step 1 can be
    truly quiet (the usual amplitude-linear knob makes the first few steps the loudest jumps).
    """

    floor_db: float = -60.0
    ceiling_db: float = 0.0
    steps: int = 100

    def __post_init__(self) -> None:
        if not self.floor_db < self.ceiling_db <= 0.0:
            raise ValueError("volume floor must be below the ceiling, and the ceiling at most 0 dB")
        if self.floor_db <= SILENCE_DB:
            raise ValueError(f"volume floor must be above {SILENCE_DB} dB")

    def to_db(self, step: int) -> float:
        """The gain in dB for a volume step; ``-inf`` for step 0."""
        if not 0 <= step <= self.steps:
            raise ValueError(f"volume must be between 0 and {self.steps}, got {step}")
        if step == 0:
            return -math.inf
        return self.floor_db + (self.ceiling_db - self.floor_db) * (step - 1) / (self.steps - 1)

    def nearest_step(self, db: float) -> int:
        """The step whose level is nearest ``db`` (0 for silence): where a knob turned mid-rise counts from."""
        if db == -math.inf or db <= SILENCE_DB:
            return 0
        step = 1 + round((db - self.floor_db) * (self.steps - 1) / (self.ceiling_db - self.floor_db))
        return min(self.steps, max(1, step))
