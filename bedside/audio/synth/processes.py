"""Random processes that drive the natural sounds: slow wanderers and events.

Nothing here is periodic: parameters wander as Ornstein–Uhlenbeck processes and events (drops,
bubbles, waves) arrive as Poisson or gamma processes, so no two minutes are alike and there is no
loop to recognise. Everything is computed from absolute sample positions and drawn in a fixed order,
so a source renders the same samples however its blocks are cut.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from bedside.audio.synth import CHANNELS


def one_pole(x: np.ndarray, pole: float, state: np.ndarray | float = 0.0) -> np.ndarray:
    """``y[n] = x[n] + pole·y[n-1]`` along axis 0, with ``y[-1] = state``, in float64.

    numpy has no recursive filter, but a first-order recursion is a scaled running sum:
    ``y[n] = pole^n · (state·pole + Σ_{k≤n} pole^-k · x[k])``. The error stays at rounding level
    relative to ``y`` itself; pieces are kept short enough that ``pole^-k`` stays finite.
    """
    x = np.asarray(x, dtype=np.float64)
    out = np.empty_like(x)
    n = len(x)
    magnitude = abs(pole)
    piece = n if magnitude >= 1.0 or magnitude == 0.0 else max(1, int(300 / -math.log(magnitude)))
    state = np.asarray(state, dtype=np.float64)
    for start in range(0, n, piece):
        m = min(piece, n - start)
        if magnitude == 0.0:
            out[start:start + m] = x[start:start + m]
        else:
            powers = pole ** np.arange(m, dtype=np.float64)
            if x.ndim > 1:
                powers = powers.reshape((m,) + (1,) * (x.ndim - 1))
            running = np.cumsum(x[start:start + m] / powers, axis=0)
            out[start:start + m] = (running + state * pole) * powers
        state = out[start + m - 1]
    return out


#: ln(10)/20: a level in dB times this is the natural logarithm of its gain.
NEPERS_PER_DB = np.float32(math.log(10) / 20)


def db_to_gain(db: np.ndarray) -> np.ndarray:
    """10^(dB/20), as exp(dB · ln10/20): numpy's exp is 2–4 times faster than its power."""
    return np.exp(db * NEPERS_PER_DB)


_RAMPS: dict[int, np.ndarray] = {}


def join_points(points: np.ndarray, hop: int, skip: int, n: int) -> np.ndarray:
    """Straight lines between control points ``hop`` samples apart, at every sample, as float32.

    ``points[0]`` lies ``skip`` samples before the first sample wanted; the result has ``n`` rows
    (and the points' other axes). Each sample is ``a + (b − a)·k/hop`` from its own place in its
    hop, so blocks may be cut anywhere; it is what ``np.interp`` gives, made a hop at a time
    (broadcast, no search): a fifth of the cost on the 16,384-frame chunks synthesis makes.
    """
    ramp = _RAMPS.get(hop)
    if ramp is None:
        ramp = _RAMPS[hop] = np.arange(hop, dtype=np.float32) * np.float32(1 / hop)
    rows = (skip + n + hop - 1) // hop
    start = points[:rows].astype(np.float32)
    slope = (points[1:rows + 1] - points[:rows]).astype(np.float32)
    if points.ndim == 1:
        return (start[:, None] + slope[:, None] * ramp).ravel()[skip:skip + n]
    # A column at a time: broadcasting over a last axis of two runs numpy's slowest loops.
    out = np.empty((n, points.shape[1]), np.float32)
    for column in range(points.shape[1]):
        out[:, column] = (start[:, column, None] + slope[:, column, None] * ramp).ravel()[skip:skip + n]
    return out


class SlowRandom:
    """An Ornstein–Uhlenbeck process: wanders around ``mean`` with spread ``sigma``.

    ``tau`` seconds is how long it takes to forget where it was. It is drawn on a control grid of
    ``hop`` samples and interpolated linearly in between, which is smooth enough for any gain or
    rate and costs almost nothing. ``smooth=True`` passes it through the same decay twice: the
    same spread and slow wandering, but far less fast jitter (real gusts swell, they do not flicker).
    """

    #: Grid points drawn ahead at least, per extension.
    AHEAD = 32

    def __init__(self, rng: np.random.Generator, rate: int, mean: float, sigma: float, tau: float,
                 hop: int = 256, smooth: bool = False) -> None:
        self._rng = rng
        self._hop = hop
        self._mean = mean
        self._decay = a = math.exp(-hop / (tau * rate))
        # Stationary variance of one AR(1) stage is k²/(1−a²); of two in cascade, k²(1+a²)/(1−a²)³.
        self._kick = sigma * (math.sqrt((1 - a * a) ** 3 / (1 + a * a)) if smooth else math.sqrt(1 - a * a))
        self._smooth = smooth
        self._inner = 0.0  # the first stage's last value, when smoothing
        self._values = np.array([mean + sigma * rng.standard_normal()])
        self._integrals = np.zeros(1)  # integral of the process from sample 0 to each grid point
        self._first = 0  # grid index of self._values[0]

    def _extend_to(self, index: int) -> None:
        missing = index - (self._first + len(self._values) - 1)
        if missing <= 0:
            return
        # Draw at least a stretch ahead: an event train asks for one value at a time, and each
        # extension costs a few array copies (a fire's crackles asked 80 times a second).
        missing = max(missing, self.AHEAD)
        kicks = self._rng.standard_normal(missing) * self._kick
        if self._smooth:
            kicks = one_pole(kicks, self._decay, self._inner)
            self._inner = float(kicks[-1])
        last = self._values[-1] - self._mean
        new = one_pole(kicks, self._decay, last) + self._mean
        # Trapezoids between grid points, accumulated one by one (the same sums in any partition).
        steps = np.r_[self._values[-1], new]
        areas = (steps[:-1] + steps[1:]) * (0.5 * self._hop)
        integrals = np.cumsum(areas) + self._integrals[-1]
        self._values = np.concatenate([self._values, new])
        self._integrals = np.concatenate([self._integrals, integrals])

    def _forget_before(self, index: int) -> None:
        drop = index - self._first
        if drop > 1024:
            self._values, self._integrals = self._values[drop:], self._integrals[drop:]
            self._first = index

    def value_at(self, t: float) -> float:
        """The process at sample ``t`` (never before a sample already rendered)."""
        k = int(t // self._hop)
        self._extend_to(k + 1)
        frac = t / self._hop - k
        a, b = self._values[k - self._first], self._values[k + 1 - self._first]
        return float(a + (b - a) * frac)

    def _segments(self, t0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """For each sample: its grid index (relative to the stored values) and offset in the hop."""
        t = np.arange(t0, t0 + n)
        k = t // self._hop
        self._extend_to(int(k[-1]) + 1)
        return k - self._first, (t - k * self._hop).astype(np.float64)

    def block(self, t0: int, n: int) -> np.ndarray:
        """The process at samples ``t0 .. t0 + n - 1`` as float32.

        Straight lines between the grid points that the block spans (:func:`join_points`): each
        sample's value depends only on its own position, so blocks may be cut anywhere."""
        first, last = t0 // self._hop, (t0 + n - 1) // self._hop + 1
        self._extend_to(last)
        values = self._values[first - self._first:last + 1 - self._first]
        out = join_points(values, self._hop, t0 - first * self._hop, n)
        self._forget_before(first)
        return out

    def gain_block(self, t0: int, n: int, offset_db: float = 0.0) -> np.ndarray:
        """``10^((process + offset_db)/20)`` at samples ``t0 .. t0 + n - 1`` as float32, for a
        process in dB: the power taken at the grid points and joined by straight lines (a few
        powers a block instead of one a sample; within a hop the two differ by far less than
        anything heard)."""
        first, last = t0 // self._hop, (t0 + n - 1) // self._hop + 1
        self._extend_to(last)
        gains = 10 ** ((self._values[first - self._first:last + 1 - self._first] + offset_db) / 20)
        out = join_points(gains, self._hop, t0 - first * self._hop, n)
        self._forget_before(first)
        return out

    def integral_block(self, t0: int, n: int) -> np.ndarray:
        """The integral of the process from sample 0 to each of ``t0 .. t0 + n - 1`` (float64).

        Integrating the speed of a motor gives its phase, continuous across blocks.
        """
        i, offset = self._segments(t0, n)
        a, b = self._values[i], self._values[i + 1]
        out = self._integrals[i] + a * offset + (b - a) * offset * offset / (2 * self._hop)
        self._forget_before(t0 // self._hop)
        return out


class Grain(Protocol):
    """A short sound event placed at an absolute sample position."""

    start: int
    length: int

    def render(self, offset: int, n: int) -> np.ndarray:
        """Frames ``offset .. offset + n - 1`` of the grain, shape ``(n, 2)``."""
        ...


class EnvelopeSink(Protocol):
    def add(self, item) -> None: ...


class GrainBus:
    """Overlap-adds grains that may straddle block boundaries.

    The resonances that arrive in one block are computed together, in one pass of numpy calls
    (:meth:`Resonance.compute_together`): a grain at a time cost ~50 µs each, almost all of it in
    the calls themselves, and a downpour brings 60 a second.
    """

    def __init__(self) -> None:
        self._grains: list[Grain] = []
        self._fresh: list[Resonance] = []

    def add(self, grain: Grain) -> None:
        self._grains.append(grain)
        if isinstance(grain, Resonance):
            self._fresh.append(grain)

    def render_into(self, out: np.ndarray, t0: int) -> None:
        if self._fresh:
            Resonance.compute_together(self._fresh)
            self._fresh = []
        n = len(out)
        alive = []
        for grain in self._grains:
            begin = max(grain.start, t0)
            end = min(grain.start + grain.length, t0 + n)
            if begin < end:
                out[begin - t0:end - t0] += grain.render(begin - grain.start, end - begin)
            if grain.start + grain.length > t0 + n:
                alive.append(grain)
        self._grains = alive


class EventTrain:
    """Events at random times: a Poisson process whose rate may itself wander.

    ``make_grain(start)`` builds the event; ``rate(t)`` is the events per second at sample ``t``.
    ``regularity`` above 1 makes the gaps gamma-distributed with that shape: the same mean rate,
    but fewer very short and very long gaps (waves come in a rhythm, drops do not). With no
    ``bus``, ``make_grain`` places the event itself (a thunder roll lays several swells).
    ``first_at`` (samples) places the first event, where the first gap would be too long to wait.
    """

    def __init__(self, rng: np.random.Generator, rate_hz: int, events_per_second: Callable[[float], float],
                 make_grain: Callable[[int], Grain | None], bus: GrainBus | EnvelopeSink | None,
                 regularity: float = 1.0, first_at: float | None = None) -> None:
        self._rng = rng
        self._regularity = regularity
        self._fs = rate_hz
        self._rate = events_per_second
        self._make = make_grain
        self._bus = bus
        self._next = self._gap(0.0) if first_at is None else first_at

    def _gap(self, t: float) -> float:
        k = self._regularity
        draw = self._rng.exponential() if k == 1.0 else self._rng.gamma(k, 1 / k)
        return draw * self._fs / max(self._rate(t), 1e-6)

    def advance(self, t0: int, n: int) -> None:
        """Create every event that starts before ``t0 + n``."""
        while self._next < t0 + n:
            start = int(self._next)
            event = self._make(start)
            if self._bus is not None:
                self._bus.add(event)
            self._next += self._gap(self._next)


class SnapTrain:
    """Short fixed shapes (snaps) at random times, made and mixed a block at a time.

    The events are a Poisson process whose rate is given for every sample: an event comes where
    the integrated rate (the expected count) passes the next of a running sum of exponential draws
    (time rescaling). Each snap plays one of ``shapes`` at a level drawn around ``amplitude``
    (``spread_db``, normal in dB) and a place in the stereo field (``pan_width``). Nothing is done
    per event in Python: an :class:`EventTrain` with a grain per crackle cost 40–60 µs an event
    here, and a fire whose crackle rate swings 16 dB up crackles 1,600 times a second. The draws
    come in batches, used in order, so the samples do not depend on how blocks are cut.

    Above ``ceiling`` events a second the rate stops and each snap is louder instead, by the root
    of the rate wanted over the ceiling: the same power, as dense as the ear can tell apart
    anyway (snaps of a few milliseconds, hundreds a second, overlap into a sizzle), and a cost
    that has a bound (a fire's swing reached 13,000 crackles a second: 15% of a core here).
    """

    BATCH = 256

    def __init__(self, times: np.random.Generator, params: np.random.Generator, rate: int,
                 shapes: list[np.ndarray], amplitude: float, spread_db: float, pan_width: float,
                 ceiling: float = math.inf) -> None:
        self._times, self._params, self._rate, self._ceiling = times, params, rate, ceiling
        self._lengths = np.array([len(shape) for shape in shapes])
        self._shapes = np.zeros((len(shapes), int(self._lengths.max())), np.float32)
        for row, shape in zip(self._shapes, shapes, strict=True):
            row[:len(shape)] = shape
        self._amplitude, self._spread_db, self._pan_width = amplitude, spread_db, pan_width
        self._expected = 0.0  # the integrated rate up to the end of what was rendered
        self._thresholds = np.cumsum(times.exponential(size=self.BATCH))  # where the next events come
        self._shape_draws = np.empty(0, np.int64)
        self._gain_draws = np.empty((0, CHANNELS), np.float32)
        # Snaps still sounding past the last block: absolute start, shape, gains per channel.
        self._starts = np.empty(0, np.int64)
        self._which = np.empty(0, np.int64)
        self._gains = np.empty((0, CHANNELS), np.float32)

    def _new_events(self, t0: int, per_second: np.ndarray) -> np.ndarray:
        """Absolute start samples of the events in the block ``t0 .. t0 + len(per_second) - 1``."""
        expected = self._expected + np.cumsum(per_second, dtype=np.float64) / self._rate
        self._expected = float(expected[-1])
        found = []
        while True:
            count = int(np.searchsorted(self._thresholds, expected[-1], side="right"))
            found.append(self._thresholds[:count])
            if count < len(self._thresholds):
                self._thresholds = self._thresholds[count:]
                break
            self._thresholds = self._thresholds[-1] + np.cumsum(self._times.exponential(size=self.BATCH))
        crossed = np.concatenate(found) if len(found) > 1 else found[0]
        return t0 + np.searchsorted(expected, crossed, side="left")

    def _draw(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """Shapes and per-channel gains for the next ``count`` events."""
        while len(self._shape_draws) < count:
            which = self._params.integers(len(self._shapes), size=self.BATCH)
            level = self._amplitude * 10 ** (self._params.normal(0.0, self._spread_db, self.BATCH) / 20)
            angle = (self._params.uniform(-self._pan_width, self._pan_width, self.BATCH) + 1) * (math.pi / 4)
            gains = (np.stack([np.cos(angle), np.sin(angle)], axis=1) * (math.sqrt(2) * level)[:, None])
            self._shape_draws = np.concatenate([self._shape_draws, which])
            self._gain_draws = np.concatenate([self._gain_draws, gains.astype(np.float32)])
        which, gains = self._shape_draws[:count], self._gain_draws[:count]
        self._shape_draws, self._gain_draws = self._shape_draws[count:], self._gain_draws[count:]
        return which, gains

    def render_into(self, out: np.ndarray, t0: int, per_second: np.ndarray) -> None:
        """Add the snaps sounding in ``out`` (the block at ``t0``); ``per_second``: the rate there."""
        n = len(out)
        held = np.minimum(per_second, self._ceiling)
        starts = self._new_events(t0, held)
        if len(starts):
            which, gains = self._draw(len(starts))
            at = starts - t0
            gains *= np.sqrt(per_second[at] / held[at]).astype(np.float32)[:, None]
            self._starts = np.concatenate([self._starts, starts])
            self._which = np.concatenate([self._which, which])
            self._gains = np.concatenate([self._gains, gains])
        if not len(self._starts):
            return
        # Every snap's samples at their places in the block, summed by np.bincount in event order
        # (the same sums however blocks are cut).
        place = (self._starts - t0)[:, None] + np.arange(self._shapes.shape[1])
        inside = (place >= 0) & (place < n)
        at = place[inside]
        wave = self._shapes[self._which]
        for channel in range(CHANNELS):
            weights = (wave * self._gains[:, channel, None])[inside]
            out[:, channel] += np.bincount(at, weights=weights, minlength=n).astype(np.float32)
        alive = self._starts + self._lengths[self._which] > t0 + n
        self._starts, self._which, self._gains = self._starts[alive], self._which[alive], self._gains[alive]


def constant_power_pan(position: float) -> np.ndarray:
    """Left/right gains for a position in [-1, 1] that keep the power constant."""
    angle = (position + 1) * math.pi / 4
    return np.array([math.cos(angle), math.sin(angle)], dtype=np.float32) * math.sqrt(2)


#: A resonance's rise from silence (seconds): a tick, not a click.
ATTACK_S = 1 / 2000


class Resonance:
    """A decaying, gliding sinusoid: a rain drop's ping or a water bubble's Minnaert tone."""

    __slots__ = ("_decay", "_freq", "_glide", "_pan", "_rate", "_wave", "length", "start")

    def __init__(self, start: int, rate: int, freq: float, glide: float, decay_s: float,
                 amplitude: float, pan: float) -> None:
        self.start = start
        self._rate = rate
        self.length = int(decay_s * rate * 6)  # e^-6 is subtracted, so the decay ends at exactly zero
        self._freq, self._glide, self._decay = freq, glide, decay_s  # glide: Hz per second
        self._pan = constant_power_pan(pan) * amplitude
        self._wave: np.ndarray | None = None

    def render(self, offset: int, n: int) -> np.ndarray:
        """Frames ``offset .. offset + n - 1``: the whole grain is computed at its first use (one
        pass of numpy calls, not one per block it spans) and sliced after that."""
        if self._wave is None:
            Resonance.compute_together([self])
        return self._wave[offset:offset + n]  # type: ignore[index]

    @staticmethod
    def compute_together(grains: list[Resonance]) -> None:
        """Compute the whole wave of each grain, all of them laid end to end in one array.

        Sample by sample the same arithmetic as one grain alone (the same float32 operations on
        the same values), so the samples do not depend on which grains came together. Each pass
        over the joined samples counts (a downpour's grains are ~6 samples for every one played):
        the sample rate is one number for all, the attack touches only its own first samples, and
        the decay's rescaling rides on the grain's gains.
        """
        # float32 throughout: a grain lasts milliseconds, and float32 sin/exp are several times faster.
        f32 = np.float32
        lengths = np.array([grain.length for grain in grains])
        begins = np.cumsum(lengths) - lengths
        spans = list(zip(begins.tolist(), (begins + lengths).tolist(), strict=True))
        total = int(lengths.sum())

        def each(values: list[float]) -> np.ndarray:
            return _runs(np.array(values, dtype=f32), lengths, spans, total)

        # Each grain's own sample count, in float32 from the start where whole numbers are exact
        # (below 2^24: any chunk's grains); int64 first costs nine times as much.
        if total < 1 << 24:
            t = np.arange(total, dtype=f32)
            t -= _runs(begins.astype(f32), lengths, spans, total)
        else:
            t = (np.arange(total) - _runs(begins, lengths, spans, total)).astype(f32)
        rates = {grain._rate for grain in grains}
        t *= f32(1 / rates.pop()) if len(rates) == 1 else each([1 / grain._rate for grain in grains])
        # The frequency glides by `glide` Hz per second: the phase is its integral, t·(2πf + πg·t).
        phase = each([np.pi * grain._glide for grain in grains])
        phase *= t
        phase += each([2 * np.pi * grain._freq for grain in grains])
        phase *= t
        decay = each([-1 / grain._decay for grain in grains])
        decay *= t
        np.exp(decay, out=decay)
        decay -= f32(math.exp(-6.0))  # ends at exactly zero; 1 / (1 - e^-6) is in the gains below
        wave = np.sin(phase, out=phase)
        wave *= decay
        # 0.5 ms attack (a tick, not a click): only the first ATTACK_S of each grain is below 1.
        rising = np.arange(int(ATTACK_S * max(grain._rate for grain in grains)) + 1)
        firsts = (begins[:, None] + rising)[rising < lengths[:, None]]
        wave[firsts] *= np.minimum(t[firsts] * f32(1 / ATTACK_S), f32(1.0))
        gains = np.array([grain._pan for grain in grains]) * f32(1 / (1 - math.exp(-6.0)))
        # A channel's gains at a time (`spread`'s products): numpy 1.x fills a run of stereo pairs
        # two values at a time, five times slower than a run of one channel's values.
        waves = np.empty((total, CHANNELS), np.result_type(wave, gains))
        for channel in range(CHANNELS):
            np.multiply(wave, _runs(gains[:, channel], lengths, spans, total), out=waves[:, channel],
                        dtype=waves.dtype)
        for grain, begin, length in zip(grains, begins.tolist(), lengths.tolist(), strict=True):
            grain._wave = waves[begin:begin + length]


#: numpy 1.x (a Pi's, from Debian bookworm) repeats element by element: for a downpour's ~21 grains a
#: slice filled per run is 16 times faster there, and on numpy 2 a third slower than its own repeat.
REPEAT_BY_SLICES = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def _runs(values: np.ndarray, lengths: np.ndarray, spans: list[tuple[int, int]], total: int) -> np.ndarray:
    """``np.repeat(values, lengths, axis=0)``, the same values, the fastest way on this numpy."""
    if not REPEAT_BY_SLICES:
        return np.repeat(values, lengths, axis=0)
    out = np.empty((total, *values.shape[1:]), values.dtype)
    for (begin, end), value in zip(spans, values, strict=True):
        out[begin:end] = value
    return out


@dataclass(frozen=True)
class ResonanceKind:
    """The ranges one kind of resonance is drawn from (rain drops, brook bubbles)."""

    freq_hz: tuple[float, float]  # log-uniform
    glide: tuple[float, float]  # frequency rise per second, as a multiple of the frequency
    decay_s: tuple[float, float]
    amplitude: float
    spread_db: float  # standard deviation of the level
    pan_width: float  # positions drawn from [-width, width]

    def draw(self, rng: np.random.Generator, start: int, rate: int, gain: float = 1.0) -> Resonance:
        low, high = self.freq_hz
        freq = math.exp(rng.uniform(math.log(low), math.log(high)))
        return Resonance(start, rate, freq=freq, glide=rng.uniform(*self.glide) * freq,
                         decay_s=rng.uniform(*self.decay_s),
                         amplitude=gain * self.amplitude * 10 ** (rng.normal(0, self.spread_db) / 20),
                         pan=rng.uniform(-self.pan_width, self.pan_width))


def uniform_int16(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Uniform white noise as raw int16 (frames × 2): random bytes, the cheapest draw numpy has.

    Independent, identically distributed values have a perfectly flat spectrum whatever their
    resolution, and 65 536 levels are far below anything audible."""
    return np.frombuffer(rng.bytes(2 * CHANNELS * frames), np.int16).reshape(frames, CHANNELS)


def stereo_noise(rng: np.random.Generator, frames: int) -> np.ndarray:
    """Zero-mean uniform white noise, unit variance, independent per channel, float32."""
    out = uniform_int16(rng, frames).astype(np.float32)
    out += np.float32(0.5)
    out *= np.float32(2 * math.sqrt(3) / 65536)
    return out
