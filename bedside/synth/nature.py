"""Natural sounds: rain, surf, fan, wind and stream.

Each is a small model of the physical thing, driven by random processes instead of loops: drops
and bubbles are Poisson events, waves arrive with random spacing and size, a fan's blade tone drifts
with the motor, gusts come and go. Every start is seeded differently, so no night sounds like the
last, and no stretch of a night repeats.
"""

from __future__ import annotations

import math

import numpy as np

from bedside.synth import CHANNELS, spawn_generators
from bedside.synth.noise import BrownNoise, PinkNoise, SpectralNoise, butterworth
from bedside.synth.processes import (
    EventTrain,
    GrainBus,
    Resonance,
    ResonanceKind,
    SlowRandom,
    constant_power_pan,
)


def _db_to_gain(db: np.ndarray) -> np.ndarray:
    return np.power(np.float32(10.0), db * np.float32(0.05))


def _band_noise(rate: int, seed: np.random.SeedSequence, low: float, high: float) -> SpectralNoise:
    """White noise of unit variance through a 1st-order Butterworth band-pass."""
    return SpectralNoise(rate, seed, butterworth(rate, "bandpass", (low, high)))


class _Clock:
    """The source's own sample count: its place on the timeline of random events."""

    def __init__(self) -> None:
        self.now = 0

    def tick(self, frames: int) -> int:
        start, self.now = self.now, self.now + frames
        return start


#: A drop landing on leaves or a puddle: a short, high ping.
RAIN_DROP = ResonanceKind(freq_hz=(1500.0, 6500.0), glide=(0.5, 3.0), decay_s=(0.002, 0.009),
                          amplitude=0.25, spread_db=6.0, pan_width=0.9)
#: A bubble in running water: a lower tone whose pitch rises as it shrinks (Minnaert resonance).
BROOK_BUBBLE = ResonanceKind(freq_hz=(350.0, 1800.0), glide=(0.5, 4.0), decay_s=(0.004, 0.012),
                             amplitude=0.14, spread_db=5.0, pan_width=0.8)


class Rain:
    """Steady rain: a soft hiss that swells and eases, with drops landing all around."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        hiss_seed, rest = seed.spawn(2)
        drop_rng, mod_rng, event_rng = spawn_generators(rest, 3)
        self._rate, self._clock = rate, _Clock()
        self._hiss = _band_noise(rate, hiss_seed, 400.0, 9000.0)
        self._intensity = SlowRandom(mod_rng, rate, mean=0.0, sigma=1.5, tau=10.0)  # dB
        self._drop_rng = drop_rng
        self._bus = GrainBus()
        self._drops = EventTrain(event_rng, rate, self._drop_rate, self._drop, self._bus)

    def _drop_rate(self, t: float) -> float:
        return 40.0 * 10 ** (self._intensity.value_at(t) / 10)  # heavier rain: many more drops

    def _drop(self, start: int) -> Resonance:
        return RAIN_DROP.draw(self._drop_rng, start, self._rate)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        out = self._hiss.render(frames)
        out *= _db_to_gain(self._intensity.block(t0, frames))[:, None]
        self._drops.advance(t0, frames)
        self._bus.render_into(out, t0)
        return out


class _Wave:
    """One wave's loudness over time: it rises as it approaches, breaks, and washes out.

    The decay is offset so that it reaches exactly zero at its end, leaving no step.
    """

    __slots__ = ("_gains", "_rise", "_tail", "_tau", "length", "start")

    def __init__(self, start: int, rate: int, rise_s: float, decay_s: float, peak: float, pan: float) -> None:
        self.start = start
        self._rise, self._tau = rise_s * rate, decay_s * rate
        self.length = int(self._rise + 6 * self._tau)
        self._tail = math.exp(-(self.length - self._rise) / self._tau)
        self._gains = constant_power_pan(pan).astype(np.float64) * peak

    def at(self, t: np.ndarray) -> np.ndarray:
        """Left/right gains at absolute sample times ``t`` (zero outside the wave)."""
        local = np.clip(t - self.start, 0.0, self.length)
        rising = 0.5 - 0.5 * np.cos(np.pi * np.minimum(local / self._rise, 1.0))
        after = np.maximum(local - self._rise, 0.0)
        decay = (np.exp(-after / self._tau) - self._tail) / (1 - self._tail)
        return (rising * decay)[:, None] * self._gains


class EnvelopeBus:
    """Sums slow envelopes (waves) on a control grid and interpolates between grid points.

    A wave's shape takes seconds, so evaluating it every 64 samples (1.3 ms) and joining the points
    with straight lines is indistinguishable from evaluating every sample, at a sixtieth of the cost.
    The grid is on the absolute sample clock, so block boundaries change nothing.
    """

    HOP = 64

    def __init__(self) -> None:
        self._waves: list[_Wave] = []

    def add(self, wave: _Wave) -> None:
        self._waves.append(wave)

    def render(self, t0: int, n: int) -> np.ndarray:
        first, last = t0 // self.HOP, (t0 + n - 1) // self.HOP + 1
        grid = np.arange(first, last + 1, dtype=np.float64) * self.HOP
        points = np.zeros((len(grid), CHANNELS))
        for wave in self._waves:
            if wave.start < grid[-1] and wave.start + wave.length > grid[0]:
                points += wave.at(grid)
        self._waves = [w for w in self._waves if w.start + w.length > t0 + n]
        t = np.arange(t0, t0 + n, dtype=np.float64)
        out = np.empty((n, CHANNELS), np.float32)
        for channel in range(CHANNELS):
            out[:, channel] = np.interp(t, grid, points[:, channel])
        return out


class Surf:
    """Ocean surf: waves of random size and spacing breaking on a beach, over a distant roar."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        body_seed, bright_seed, bed_seed = seed.spawn(3)
        wave_rng, event_rng, mod_rng = spawn_generators(seed.spawn(1)[0], 3)
        self._rate, self._clock = rate, _Clock()
        self._body = BrownNoise(rate, body_seed)
        self._bright = PinkNoise(rate, bright_seed, butterworth(rate, "highpass", 700.0))
        self._bed = BrownNoise(rate, bed_seed)
        self._bed_level = SlowRandom(mod_rng, rate, mean=-6.0, sigma=1.5, tau=12.0)
        self._wave_rng = wave_rng
        self._body_env, self._bright_env = EnvelopeBus(), EnvelopeBus()
        self._waves = EventTrain(event_rng, rate, lambda t: 1 / 9.0, self._wave, self._body_env)

    def _wave(self, start: int) -> _Wave:
        rng, rate = self._wave_rng, self._rate
        size = 10 ** (rng.normal(0, 2.5) / 20)
        rise = rng.uniform(1.5, 4.0)
        pan = rng.uniform(-0.6, 0.6)
        # The crash: a bright burst where the wave breaks, fizzing out faster than the body.
        crash_at = start + int((rise - rng.uniform(0.1, 0.5)) * rate)
        self._bright_env.add(_Wave(crash_at, rate, rng.uniform(0.3, 0.8), rng.uniform(0.8, 2.5),
                                   size * rng.uniform(0.3, 0.8), pan + rng.uniform(-0.2, 0.2)))
        return _Wave(start, rate, rise, rng.uniform(2.0, 5.0), size, pan)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        self._waves.advance(t0, frames)
        out = self._body.render(frames) * self._body_env.render(t0, frames)
        out += self._bright.render(frames) * self._bright_env.render(t0, frames)
        out += self._bed.render(frames) * _db_to_gain(self._bed_level.block(t0, frames))[:, None]
        return out


class Fan:
    """A box fan: broadband air with the blade tone, which wobbles as the motor's speed drifts."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        air_seed, rest = seed.spawn(2)
        setup_rng, speed_rng, level_rng = spawn_generators(rest, 3)
        self._rate, self._clock = rate, _Clock()
        self._air = PinkNoise(rate, air_seed, butterworth(rate, "lowpass", setup_rng.uniform(1500.0, 3000.0)))
        self._blade_hz = setup_rng.uniform(45.0, 75.0)  # blades × revolutions per second
        self._harmonics = 10 ** (-np.array([0.0, 8.0, 15.0]) * setup_rng.uniform(0.8, 1.3) / 20)
        self._speed = SlowRandom(speed_rng, rate, mean=1.0, sigma=0.006, tau=8.0)
        self._tone_level = SlowRandom(level_rng, rate, mean=-20.0, sigma=1.5, tau=12.0)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        phase = (2 * np.pi * self._blade_hz / self._rate) * self._speed.integral_block(t0, frames)
        blade = np.sin(phase)
        tone = self._harmonics[0] * blade
        for h, amp in enumerate(self._harmonics[1:], start=2):
            tone += amp * np.sin(h * phase)
        tone *= _db_to_gain(self._tone_level.block(t0, frames))
        out = self._air.render(frames)
        out *= (1 + 0.08 * blade).astype(np.float32)[:, None]  # the air pulses as each blade passes
        out += tone.astype(np.float32)[:, None]
        return out


class Wind:
    """Wind through trees: gusts that come and go, brighter and louder as they build."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        low_seed, high_seed, rest = seed.spawn(3)
        gust_rng, weather_rng = spawn_generators(rest, 2)
        self._clock = _Clock()
        self._low = BrownNoise(rate, low_seed)
        self._high = PinkNoise(rate, high_seed, butterworth(rate, "bandpass", (500.0, 4000.0)))
        self._gust = SlowRandom(gust_rng, rate, mean=0.0, sigma=3.0, tau=3.5)  # dB
        self._weather = SlowRandom(weather_rng, rate, mean=0.0, sigma=1.5, tau=60.0)  # dB

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        gust_db = self._gust.block(t0, frames) + self._weather.block(t0, frames)
        out = self._low.render(frames) * _db_to_gain(gust_db - 2.0)[:, None]
        out += self._high.render(frames) * _db_to_gain(1.3 * gust_db - 4.0)[:, None]
        return out


class Stream:
    """A babbling brook: a bed of running water and countless small bubbles."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        bed_seed, rest = seed.spawn(2)
        bubble_rng, event_rng, flow_rng, babble_rng = spawn_generators(rest, 4)
        self._rate, self._clock = rate, _Clock()
        self._bed = _band_noise(rate, bed_seed, 250.0, 3500.0)
        self._flow = SlowRandom(flow_rng, rate, mean=0.0, sigma=1.5, tau=20.0)  # dB
        self._babble = SlowRandom(babble_rng, rate, mean=0.0, sigma=2.0, tau=0.25, hop=64)  # dB
        self._bubble_rng = bubble_rng
        self._bus = GrainBus()
        self._bubbles = EventTrain(event_rng, rate, self._bubble_rate, self._bubble, self._bus)

    def _bubble_rate(self, t: float) -> float:
        return 90.0 * 10 ** (self._flow.value_at(t) / 10)

    def _bubble(self, start: int) -> Resonance:
        return BROOK_BUBBLE.draw(self._bubble_rng, start, self._rate)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        out = self._bed.render(frames)
        level = self._flow.block(t0, frames) + self._babble.block(t0, frames)
        out *= _db_to_gain(level)[:, None]
        self._bubbles.advance(t0, frames)
        self._bus.render_into(out, t0)
        return out
