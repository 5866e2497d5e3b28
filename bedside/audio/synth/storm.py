"""A thunderstorm for sleeping: steady rain, and thunder that stays far away.

Thunder heard from a distance has lost its crack: the air absorbs the highs, and what arrives is a
low roll — several swells from different parts of the lightning's channel, arriving one after
another over ten or twenty seconds, each rising over the better part of a second. So does this
one: a roll is a handful of slow swells of low-passed brown noise, never rising faster than
:data:`MIN_RISE_S`, and rolls come at random, minutes apart. Their size is bounded (a storm that
never comes closer than a few kilometres), so the rain's loudness, not the thunder's, is what a
sleeper hears; a roll lifts the short-term loudness by a few LU at most.
"""

from __future__ import annotations

import numpy as np

from bedside.audio.synth import spawn_generators
from bedside.audio.synth.nature import EnvelopeBus, Rain, RainStyle, Swell
from bedside.audio.synth.noise import BrownNoise, butterworth
from bedside.audio.synth.processes import EventTrain

#: The rain of a summer storm: a full, even hiss with a dark floor, drops all around.
STORM_RAIN = RainStyle(hiss=((300.0, 7000.0, 0.0),), drops_per_second=30.0, drop_db=-4.0,
                       intensity_sigma_db=1.0, intensity_tau_s=15.0, rumble_db=-8.0, rumble_hz=400.0)

#: Seconds between rolls on average (gamma-distributed, shape ROLL_REGULARITY: rarely close together).
SECONDS_BETWEEN_ROLLS = 150.0
ROLL_REGULARITY = 2.0
#: The first roll comes within this many seconds of the start: the storm is heard to be a storm.
FIRST_ROLL_S = (25.0, 90.0)
#: A swell of a roll never rises faster than this: no crack, no startle.
MIN_RISE_S = 0.6
#: A roll's loudest swell relative to the thunder level (dB): drawn from this range, never above 0.
ROLL_SIZE_DB = (-9.0, 0.0)
#: The thunder's level against the rain, at a roll's loudest (linear gain of the rumble noise).
THUNDER_GAIN = 6.0


class Thunderstorm:
    """Rain with distant thunder: long, low rolls at random, minutes apart."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        rain_seed, rumble_seed, roll_seed, rest = seed.spawn(4)
        roll_rng, event_rng = spawn_generators(rest, 2)
        self._rate, self._now = rate, 0
        self._rain = Rain(rate, rain_seed, STORM_RAIN)
        # Deep rumble (what carries furthest) and the roll above it (what makes it thunder).
        self._rumble = BrownNoise(rate, rumble_seed, butterworth(rate, "lowpass", 120.0, 2))
        self._roll = BrownNoise(rate, roll_seed, butterworth(rate, "bandpass", (80.0, 450.0), 2))
        self._rumble_env, self._roll_env = EnvelopeBus(), EnvelopeBus()
        self._roll_rng = roll_rng
        self._rolls = EventTrain(event_rng, rate, lambda t: 1 / SECONDS_BETWEEN_ROLLS, self._add_roll, None,
                                 regularity=ROLL_REGULARITY, first_at=roll_rng.uniform(*FIRST_ROLL_S) * rate)

    def _add_roll(self, start: int) -> None:
        """Lay one roll's swells on both envelope buses (the train itself needs nothing back)."""
        rng, rate = self._roll_rng, self._rate
        size = 10 ** (rng.uniform(*ROLL_SIZE_DB) / 20) * THUNDER_GAIN
        # Farther storms are darker: less of the roll above the rumble.
        brightness = rng.uniform(0.35, 0.8)
        pan = rng.uniform(-0.7, 0.7)
        swells = int(rng.integers(3, 8))
        at = 0.0
        for i in range(swells):
            # The first swells are the loudest; later ones are echoes off clouds and hills.
            level = size * (1.0 if i == 0 else rng.uniform(0.35, 0.9) * 0.85 ** i)
            rise = rng.uniform(MIN_RISE_S, 2.0)
            decay = rng.uniform(1.0, 3.5)
            swell_pan = float(np.clip(pan + rng.uniform(-0.3, 0.3), -1.0, 1.0))
            begin = start + int(at * rate)
            self._rumble_env.add(Swell(begin, rate, rise, decay * 1.5, level, swell_pan))
            self._roll_env.add(Swell(begin, rate, rise, decay, level * brightness, swell_pan))
            at += rng.uniform(0.8, 3.5)

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        out = self._rain.render(frames)
        self._rolls.advance(t0, frames)
        out += self._rumble.render(frames) * self._rumble_env.render(t0, frames)
        out += self._roll.render(frames) * self._roll_env.render(t0, frames)
        return out

