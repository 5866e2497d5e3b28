"""A thunderstorm for sleeping: rain, and thunder that stays far away.

Thunder heard from a distance has lost its crack: the air absorbs the highs, and what arrives is a
low roll — several swells from different parts of the lightning's channel, arriving one after
another over ten or twenty seconds, each rising over the better part of a second. So does this
one: a roll is a handful of slow swells of low-passed brown noise, never rising faster than
:data:`MIN_RISE_S`. Their size is bounded (a storm that never comes closer than a few kilometres).

Two storms share the code, by :class:`StormStyle`: the *thunderstorm*, rolls minutes apart over
steady rain, so the rain's loudness, not the thunder's, is what a sleeper hears; and *distant
thunder*, a storm passing far off, a roll every dozen seconds over soft rain, its rumble grumbling
(real thunder's envelope is rough, not a smooth swell).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bedside.audio.synth import scale_frames, spawn_generators
from bedside.audio.synth.nature import EnvelopeBus, Rain, RainStyle, Swell
from bedside.audio.synth.noise import BrownNoise, butterworth
from bedside.audio.synth.processes import EventTrain, SlowRandom, join_points, one_pole

#: A swell of a roll never rises faster than this: no crack, no startle.
MIN_RISE_S = 0.6
#: How long the thunder's level is averaged over where a style sets a ceiling (seconds), and how
#: often (samples) it is looked at: the envelopes move over tenths of a second, so a look every
#: 1.3 ms, with the ceiling's gain joined by straight lines, is the per-sample average to well under
#: a hundredth of a dB, at a fraction of the cost (per sample it was 15% of distant thunder's synthesis).
CEILING_TAU_S = 1.0
CEILING_HOP = 64


@dataclass(frozen=True)
class StormStyle:
    """How far the storm is and how often it rolls: the rain under it, the thunder's size and colour."""

    rain: RainStyle
    seconds_between_rolls: float  # on average, gamma-distributed with shape ``roll_regularity``
    roll_regularity: float
    first_roll_s: tuple[float, float]  # the first roll comes this soon: the storm is heard to be one
    thunder_gain: float  # the rumble noise's gain at a roll's loudest, against the rain
    roll_band_hz: tuple[float, float]  # the roll above the rumble (what makes it thunder)
    brightness: tuple[float, float]  # the roll's level against the rumble (farther is darker)
    decay_s: tuple[float, float]  # each swell's decay
    grumble_db: float = 0.0  # a fast random wander of rumble and roll (0: smooth swells)
    grumble_tau_s: float = 0.15
    roll_size_db: tuple[float, float] = (-9.0, 0.0)  # a roll's loudest swell against thunder_gain
    ceiling: float | None = None  # the thunder's level over about a second never above this × thunder_gain


#: A summer storm: steady rain with a dark floor, and thunder rolling far away every few minutes.
SUMMER_STORM = StormStyle(
    rain=RainStyle(hiss=((300.0, 7000.0, 0.0),), drops_per_second=30.0, drop_db=-4.0,
                   intensity_sigma_db=1.0, intensity_tau_s=15.0, rumble_db=-8.0, rumble_hz=400.0),
    seconds_between_rolls=150.0, roll_regularity=2.0, first_roll_s=(25.0, 90.0), thunder_gain=6.0,
    roll_band_hz=(80.0, 450.0), brightness=(0.35, 0.8), decay_s=(1.0, 3.5))

#: A storm passing far off: a roll every 12 s or so, the next often begun before the last has
#: died, grumbling (its envelope rough, as real thunder's is) and brighter (up to 3 kHz), over a
#: soft rain 42 dB under it with a few heard drops. Found by search against real thunder
#: (benchmarks/README, 2026-12-05); still far: no swell rising faster than MIN_RISE_S, and its
#: level over a second capped (``ceiling``), so no 3 s stand more than 6 LU above the whole.
DISTANT_STORM = StormStyle(
    rain=RainStyle(hiss=((340.0, 6300.0, -42.0),), drops_per_second=13.0, drop_db=-40.4,
                   intensity_sigma_db=1.0, intensity_tau_s=15.0, rumble_db=-49.7, rumble_hz=380.0),
    seconds_between_rolls=12.0, roll_regularity=2.5, first_roll_s=(1.0, 6.0), thunder_gain=1.0,
    roll_band_hz=(80.0, 3000.0), brightness=(0.6, 1.0), decay_s=(1.65, 5.8), grumble_db=7.0, grumble_tau_s=0.12,
    roll_size_db=(-4.0, 0.0), ceiling=1.0)


class Thunderstorm:
    """Rain with distant thunder: long, low rolls at random."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: StormStyle = SUMMER_STORM) -> None:
        rain_seed, rumble_seed, roll_seed, rest = seed.spawn(4)
        roll_rng, event_rng = spawn_generators(rest, 2)
        self._rate, self._now, self._style = rate, 0, style
        self._rain = Rain(rate, rain_seed, style.rain)
        # Deep rumble (what carries furthest) and the roll above it (what makes it thunder).
        self._rumble = BrownNoise(rate, rumble_seed, butterworth(rate, "lowpass", 120.0, 2))
        self._roll = BrownNoise(rate, roll_seed, butterworth(rate, "bandpass", style.roll_band_hz, 2))
        self._rumble_env, self._roll_env = EnvelopeBus(), EnvelopeBus()
        self._grumbles: tuple[SlowRandom, SlowRandom] | None = None
        if style.grumble_db:
            # Spawned after the others, so that a smooth storm's draws are those it always had.
            rumble_rng, roll_grumble_rng = spawn_generators(seed.spawn(1)[0], 2)
            self._grumbles = tuple(SlowRandom(rng, rate, mean=0.0, sigma=style.grumble_db, tau=style.grumble_tau_s,
                                              smooth=True) for rng in (rumble_rng, roll_grumble_rng))
        self._roll_rng = roll_rng
        self._level = 0.0  # the thunder's power, averaged over CEILING_TAU_S (for the ceiling)
        self._level_pole = float(np.exp(-CEILING_HOP / (CEILING_TAU_S * rate)))  # from one look to the next
        self._ceiling_gains = np.ones(2)  # the ceiling's gain at the last two looks (none yet: 1)
        self._looked = -1  # the last look's index (look k is at sample k·CEILING_HOP)
        self._rolls = EventTrain(event_rng, rate, lambda t: 1 / style.seconds_between_rolls, self._add_roll, None,
                                 regularity=style.roll_regularity,
                                 first_at=roll_rng.uniform(*style.first_roll_s) * rate)

    def _add_roll(self, start: int) -> None:
        """Lay one roll's swells on both envelope buses (the train itself needs nothing back)."""
        rng, rate, style = self._roll_rng, self._rate, self._style
        size = 10 ** (rng.uniform(*style.roll_size_db) / 20) * style.thunder_gain
        # Farther storms are darker: less of the roll above the rumble.
        brightness = rng.uniform(*style.brightness)
        pan = rng.uniform(-0.7, 0.7)
        swells = int(rng.integers(3, 8))
        at = 0.0
        for i in range(swells):
            # The first swells are the loudest; later ones are echoes off clouds and hills.
            level = size * (1.0 if i == 0 else rng.uniform(0.35, 0.9) * 0.85 ** i)
            rise = rng.uniform(MIN_RISE_S, 2.0)
            decay = rng.uniform(*style.decay_s)
            swell_pan = float(np.clip(pan + rng.uniform(-0.3, 0.3), -1.0, 1.0))
            begin = start + int(at * rate)
            self._rumble_env.add(Swell(begin, rate, rise, decay * 1.5, level, swell_pan))
            self._roll_env.add(Swell(begin, rate, rise, decay, level * brightness, swell_pan))
            at += rng.uniform(0.8, 3.5)

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        out = self._rain.render(frames)
        self._rolls.advance(t0, frames)
        rumble = self._rumble_env.render(t0, frames)
        roll = self._roll_env.render(t0, frames)
        if self._grumbles is not None:
            scale_frames(rumble, self._grumbles[0].gain_block(t0, frames))
            scale_frames(roll, self._grumbles[1].gain_block(t0, frames))
        if self._style.ceiling is not None:
            gain = self._ceiling(t0, frames, rumble, roll)
            scale_frames(rumble, gain)
            scale_frames(roll, gain)
        out += self._rumble.render(frames) * rumble
        out += self._roll.render(frames) * roll
        return out

    def _ceiling(self, t0: int, frames: int, rumble: np.ndarray, roll: np.ndarray) -> np.ndarray:
        """The gain that turns the whole thunder down wherever its level over the last second passes
        the ceiling: the grumble stays rough, but rolls piling up never make a loud moment.

        The level is looked at every CEILING_HOP samples, on the source's own sample count, each
        look once; a sample's gain lies on the straight line from the look before the last to the
        last (a hop late: causal, so the samples do not depend on how blocks are cut)."""
        hop = CEILING_HOP
        looks = np.arange(self._looked + 1, (t0 + frames - 1) // hop + 1)
        if len(looks):
            at = looks * hop - t0
            low, high = rumble[at], roll[at]  # the looks' frames, gathered once
            power = (low[:, 0] * low[:, 0] + low[:, 1] * low[:, 1]) \
                + (high[:, 0] * high[:, 0] + high[:, 1] * high[:, 1])
            pole = self._level_pole
            level = one_pole(power * (1 - pole), pole, self._level)
            self._level = float(level[-1])
            top = self._style.ceiling * self._style.thunder_gain
            gains = np.minimum(1.0, top / np.sqrt(np.maximum(level, 1e-30)))
            self._ceiling_gains = np.concatenate((self._ceiling_gains, gains))[-(len(looks) + 2):]
            self._looked = int(looks[-1])
        # The gains of looks first - 1 … self._looked, look k's gain reached a hop after it.
        first = t0 // hop
        points = self._ceiling_gains[len(self._ceiling_gains) - (self._looked - first + 2):]
        return join_points(points, hop, t0 - first * hop, frames)
