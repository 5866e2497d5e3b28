"""Natural sounds: rain, surf, fan, wind and running water, each in the styles real ones come in.

Each is a small model of the physical thing, driven by random processes instead of loops: drops
and bubbles are Poisson events, waves arrive with random spacing and size, a fan's blade tone drifts
with the motor, gusts come and go. Every start is seeded differently, so no night sounds like the
last, and no stretch of a night repeats. The styles' numbers were set against real recordings'
texture statistics (benchmarks/texture.py): where they differ from intuition, that is why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from bedside.audio.synth import CHANNELS, scale_frames, spawn_generators
from bedside.audio.synth.noise import (
    BrownNoise,
    PinkNoise,
    Shape,
    SpectralNoise,
    brown_shape,
    butterworth,
    layered,
    product,
)
from bedside.audio.synth.processes import (
    EventTrain,
    GrainBus,
    Resonance,
    ResonanceKind,
    SlowRandom,
    constant_power_pan,
    db_to_gain,
    join_points,
)


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
#: A big drop striking a roof or a window sill, heard from inside: a dull, low knock.
RAIN_THUD = ResonanceKind(freq_hz=(90.0, 400.0), glide=(-0.5, 0.0), decay_s=(0.008, 0.025),
                          amplitude=0.3, spread_db=5.0, pan_width=0.9)
#: A bubble in running water: a lower tone whose pitch rises as it shrinks (Minnaert resonance).
BROOK_BUBBLE = ResonanceKind(freq_hz=(400.0, 5000.0), glide=(0.5, 4.0), decay_s=(0.003, 0.010),
                             amplitude=0.3, spread_db=6.0, pan_width=0.8)


@dataclass(frozen=True)
class RainStyle:
    """What the rain falls on and how hard: the hiss of many drops, the few that are heard alone."""

    hiss: tuple[tuple[float, float, float], ...]  # (low Hz, high Hz, dB): band-pass layers of the hiss
    drops_per_second: float
    drop_db: float  # the heard drops' level relative to RAIN_DROP's
    intensity_sigma_db: float
    intensity_tau_s: float
    rumble_db: float | None = None  # a dark floor of heavy rain far off (brown noise), if any
    rumble_hz: float = 300.0  # where that floor is cut off (2nd-order low-pass)
    shower_db: float = 0.0  # a fast swell (showers in a downpour), if any
    thuds_per_second: float = 0.0  # big drops striking a roof or a sill: low, dull knocks
    thud_db: float = 0.0  # their level relative to the thud kind's
    thud: ResonanceKind = RAIN_THUD

    def shape(self, rate: int) -> Shape:
        layers = [(db, butterworth(rate, "bandpass", (low, high))) for low, high, db in self.hiss]
        if self.rumble_db is not None:
            layers.append((self.rumble_db, product(brown_shape(rate), butterworth(rate, "lowpass", self.rumble_hz, 2))))
        return layered(*layers)


#: Steady rain: an even hiss with drops all around.
STEADY = RainStyle(hiss=((400.0, 9000.0, 0.0),), drops_per_second=40.0, drop_db=0.0,
                   intensity_sigma_db=1.0, intensity_tau_s=10.0)
#: Light rain on leaves: a quiet hiss, and single drops that can be told apart (in real light
#: rain the 3–8 kHz envelopes are spiky: skew near 3, kurtosis near 16).
LIGHT = RainStyle(hiss=((500.0, 8000.0, -14.0),), drops_per_second=8.0, drop_db=4.0,
                  intensity_sigma_db=1.2, intensity_tau_s=8.0, rumble_db=-12.0)
#: A downpour heard from indoors: dense and dark, swelling in showers, with the knock of big drops.
HEAVY = RainStyle(hiss=((700.0, 4000.0, -15.0), (150.0, 1500.0, -11.0)), drops_per_second=30.0, drop_db=-26.0,
                  intensity_sigma_db=0.6, intensity_tau_s=0.8, rumble_db=-3.0, rumble_hz=500.0,
                  shower_db=1.0, thuds_per_second=30.0)

#: A big drop on roof tiles, heard through the ceiling: a knock with no boom beneath it.
ROOF_THUD = ResonanceKind(freq_hz=(150.0, 450.0), glide=(-0.5, 0.0), decay_s=(0.008, 0.025),
                          amplitude=0.3, spread_db=5.0, pan_width=0.9)
#: Rain on the roof, heard from bed: the roof passes its patter (200 Hz–1 kHz) and muffles the
#: hiss above it; heavy drops knock now and then (real roof rain's 200–400 Hz envelopes are
#: skewed, 0.8–1.5, where steady rain's are not).
ROOF = RainStyle(hiss=((220.0, 1200.0, 0.0), (1000.0, 8000.0, -12.0)), drops_per_second=30.0, drop_db=-10.0,
                 intensity_sigma_db=1.0, intensity_tau_s=10.0, thuds_per_second=10.0, thud_db=2.0, thud=ROOF_THUD)


class Rain:
    """Rain: a hiss that swells and eases, with drops landing all around."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: RainStyle = STEADY) -> None:
        hiss_seed, rest = seed.spawn(2)
        drop_rng, event_rng, level_rng, shower_rng, thud_rng, thud_event_rng = spawn_generators(rest, 6)
        self._rate, self._clock, self._style = rate, _Clock(), style
        self._hiss = SpectralNoise(rate, hiss_seed, style.shape(rate))
        self._level = SlowRandom(level_rng, rate, mean=0.0, sigma=style.intensity_sigma_db, tau=style.intensity_tau_s)
        self._shower = (SlowRandom(shower_rng, rate, mean=0.0, sigma=style.shower_db, tau=0.15)
                        if style.shower_db else None)
        self._drop_gain = 10 ** (style.drop_db / 20)
        self._drop_rng = drop_rng
        self._bus = GrainBus()
        self._drops = EventTrain(event_rng, rate, self._drop_rate, self._drop, self._bus)
        self._thud_rng = thud_rng
        self._thud_gain = 10 ** (style.thud_db / 20)
        self._thuds = (EventTrain(thud_event_rng, rate, lambda t: style.thuds_per_second, self._thud, self._bus)
                       if style.thuds_per_second else None)

    def _thud(self, start: int) -> Resonance:
        return self._style.thud.draw(self._thud_rng, start, self._rate, self._thud_gain)

    def _drop_rate(self, t: float) -> float:
        # Heavier rain (a louder hiss than its mean) brings many more drops.
        return self._style.drops_per_second * 10 ** (self._level.value_at(t) / 10)

    def _drop(self, start: int) -> Resonance:
        return RAIN_DROP.draw(self._drop_rng, start, self._rate, self._drop_gain)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        level_db = self._level.block(t0, frames)
        if self._shower is not None:
            level_db += self._shower.block(t0, frames)
        out = self._hiss.render(frames)
        scale_frames(out, db_to_gain(level_db))
        self._drops.advance(t0, frames)
        if self._thuds is not None:
            self._thuds.advance(t0, frames)
        self._bus.render_into(out, t0)
        return out




class Swell:
    """One swell's loudness over time (a wave, a thunder's roll): it rises, peaks, and dies away.

    The rise is a raised cosine; the decay is offset so that it reaches exactly zero at its end,
    leaving no step.
    """

    __slots__ = ("_gains", "_rise", "_tail", "_tau", "length", "start")

    def __init__(self, start: int, rate: int, rise_s: float, decay_s: float, peak: float, pan: float) -> None:
        self.start = start
        self._rise, self._tau = rise_s * rate, decay_s * rate
        self.length = int(self._rise + 6 * self._tau)
        self._tail = math.exp(-(self.length - self._rise) / self._tau)
        self._gains = constant_power_pan(pan).astype(np.float64) * peak

    @staticmethod
    def sum_at(swells: list[Swell], t: np.ndarray) -> np.ndarray:
        """The sum of the swells' left/right gains at absolute sample times ``t`` (each zero
        outside its wave): every swell in one pass of numpy calls (a storm has a dozen under way,
        and each alone cost ~30 µs of calls a chunk), added in the order they came."""
        def column(values: list[float]) -> np.ndarray:
            return np.array(values, dtype=np.float64)[:, None]

        rise = column([swell._rise for swell in swells])
        tau = column([swell._tau for swell in swells])
        tail = column([swell._tail for swell in swells])
        local = np.clip(t - column([swell.start for swell in swells]), 0.0, column([swell.length for swell in swells]))
        rising = 0.5 - 0.5 * np.cos(np.pi * np.minimum(local / rise, 1.0))
        after = np.maximum(local - rise, 0.0)
        decay = (np.exp(-after / tau) - tail) / (1 - tail)
        gains = np.array([swell._gains for swell in swells])
        envelopes = rising * decay
        points = np.empty((len(t), CHANNELS))
        for channel in range(CHANNELS):  # a channel at a time: see bedside.audio.synth.spread
            points[:, channel] = (envelopes * gains[:, channel, None]).sum(axis=0)
        return points


class EnvelopeBus:
    """Sums slow envelopes (waves) on a control grid and interpolates between grid points.

    A wave's shape takes seconds, so evaluating it every 64 samples (1.3 ms) and joining the points
    with straight lines is indistinguishable from evaluating every sample, at a sixtieth of the cost.
    The grid is on the absolute sample clock, so block boundaries change nothing.
    """

    HOP = 64

    def __init__(self) -> None:
        self._waves: list[Swell] = []

    def add(self, wave: Swell) -> None:
        self._waves.append(wave)

    def render(self, t0: int, n: int) -> np.ndarray:
        first, last = t0 // self.HOP, (t0 + n - 1) // self.HOP + 1
        grid = np.arange(first, last + 1, dtype=np.float64) * self.HOP
        live = [wave for wave in self._waves if wave.start < grid[-1] and wave.start + wave.length > grid[0]]
        points = Swell.sum_at(live, grid) if live else np.zeros((len(grid), CHANNELS))
        self._waves = [w for w in self._waves if w.start + w.length > t0 + n]
        return join_points(points, self.HOP, t0 - first * self.HOP, n)


@dataclass(frozen=True)
class SurfStyle:
    """How the sea behaves: how often waves come, how big they are, how much roar lies beneath."""

    seconds_between_waves: float
    regularity: float  # gamma shape of the gaps: 1 = Poisson, higher = more even rhythm
    size_sigma_db: float
    rise_s: tuple[float, float]
    decay_s: tuple[float, float]
    bed_db: float  # the distant roar between waves, relative to a wave of average size
    crash: tuple[float, float]  # the bright breaking burst's level relative to the wave's body
    churn: float  # the foam's restless motion within a wave: its level wanders by up to ± this share


#: Waves rolling in on an open beach: a steady rhythm, each wave lifting the whole spectrum, over
#: the roar of the waves further out (real surf's envelope varies more than a steady noise's, CV
#: 0.24 against 0.17, but its bands move together less than a lone wave's: 0.48 below 5 kHz). The
#: roar at −14 dB and crashes of any size (0.2–1.4 of the body) took CV 0.38 → 0.30 and the band
#: correlation 0.82 → 0.73, the mean distance to the four real surfs 0.45 → 0.41.
ROLLING = SurfStyle(seconds_between_waves=9.0, regularity=5.0, size_sigma_db=2.0, rise_s=(2.5, 4.0),
                    decay_s=(1.5, 3.0), bed_db=-14.0, crash=(0.2, 1.4), churn=0.35)
#: Small waves lapping on a sheltered shore under a constant far-off roar.
GENTLE = SurfStyle(seconds_between_waves=7.0, regularity=2.0, size_sigma_db=3.0, rise_s=(1.5, 3.5),
                   decay_s=(2.0, 5.0), bed_db=-6.0, crash=(0.1, 0.3), churn=0.25)


class Surf:
    """Ocean surf: waves of random size and spacing breaking on a beach, over a distant roar."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: SurfStyle = ROLLING) -> None:
        body_seed, bright_seed, bed_seed = seed.spawn(3)
        wave_rng, event_rng, mod_rng, churn_rng = spawn_generators(seed.spawn(1)[0], 4)
        self._rate, self._clock, self._style = rate, _Clock(), style
        self._churn = SlowRandom(churn_rng, rate, mean=0.0, sigma=1.0, tau=0.35, hop=128)
        self._body = PinkNoise(rate, body_seed, butterworth(rate, "highpass", 90.0, 2),
                               butterworth(rate, "lowpass", 3500.0, 1))
        self._bright = PinkNoise(rate, bright_seed, butterworth(rate, "highpass", 700.0))
        self._bed = PinkNoise(rate, bed_seed, butterworth(rate, "bandpass", (60.0, 1500.0), 1))
        self._bed_level = SlowRandom(mod_rng, rate, mean=style.bed_db, sigma=1.5, tau=12.0)
        self._wave_rng = wave_rng
        self._body_env, self._bright_env = EnvelopeBus(), EnvelopeBus()
        self._waves = EventTrain(event_rng, rate, lambda t: 1 / style.seconds_between_waves, self._wave,
                                 self._body_env, regularity=style.regularity)

    def _wave(self, start: int) -> Swell:
        rng, rate, style = self._wave_rng, self._rate, self._style
        size = 10 ** (rng.normal(0, style.size_sigma_db) / 20)
        rise = rng.uniform(*style.rise_s)
        pan = rng.uniform(-0.6, 0.6)
        # The crash: a bright burst where the wave breaks, fizzing out faster than the body.
        crash_at = start + int((rise - rng.uniform(0.1, 0.5)) * rate)
        self._bright_env.add(Swell(crash_at, rate, rng.uniform(0.3, 0.8), rng.uniform(0.8, 2.5),
                                   size * rng.uniform(*style.crash), pan + rng.uniform(-0.2, 0.2)))
        return Swell(start, rate, rise, rng.uniform(*style.decay_s), size, pan)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        self._waves.advance(t0, frames)
        out = self._body.render(frames) * self._body_env.render(t0, frames)
        out += self._bright.render(frames) * self._bright_env.render(t0, frames)
        # Symmetric in amplitude (not in dB): the foam churns without adding loud peaks.
        scale_frames(out, 1 + np.float32(self._style.churn) * np.tanh(self._churn.block(t0, frames)))
        out += scale_frames(self._bed.render(frames), db_to_gain(self._bed_level.block(t0, frames)))
        return out



class Fan:
    """A box fan: broadband air chopped by the passing blades, a faint motor hum, a slow drift.

    A real fan's air is not steady noise: each blade passing the grille pushes a puff (amplitude
    modulation at the blade rate), one blade is never quite like the others (a weaker beat once
    per revolution), and the motor hums at twice the mains frequency. Without these a fan's
    envelope statistics are exactly pink noise's.
    """

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        air_seed, rest = seed.spawn(2)
        setup_rng, speed_rng, level_rng = spawn_generators(rest, 3)
        self._rate, self._clock = rate, _Clock()
        self._air = PinkNoise(rate, air_seed, butterworth(rate, "lowpass", setup_rng.uniform(1500.0, 3000.0)))
        self._blades = int(setup_rng.integers(3, 6))
        self._blade_hz = setup_rng.uniform(45.0, 75.0)  # blades × revolutions per second
        self._harmonics = 10 ** (-np.array([0.0, 8.0, 15.0]) * setup_rng.uniform(0.8, 1.3) / 20)
        self._chop = setup_rng.uniform(0.25, 0.35)  # depth of each blade's puff
        self._wobble = setup_rng.uniform(0.10, 0.16)  # the odd blade, once per revolution
        self._hum_hz = 2 * float(setup_rng.choice([50.0, 60.0]))  # mains hum at twice the mains
        self._speed = SlowRandom(speed_rng, rate, mean=1.0, sigma=0.006, tau=8.0)
        self._tone_level = SlowRandom(level_rng, rate, mean=-20.0, sigma=1.5, tau=12.0)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        turns = self._speed.integral_block(t0, frames)  # samples × speed: the rotor's angle, in effect
        blades = (self._blade_hz / self._rate) * turns  # blades passed
        angle = _angle(blades)
        blade = np.sin(angle)
        tone = np.float32(self._harmonics[0]) * blade
        for h, amp in enumerate(self._harmonics[1:], start=2):
            tone += np.float32(amp) * np.sin(np.float32(h) * angle)
        tone *= db_to_gain(self._tone_level.block(t0, frames))
        hums = (self._hum_hz / self._rate) * np.arange(t0, t0 + frames, dtype=np.float64)
        tone += np.float32(0.02) * np.sin(_angle(hums))
        puffs = np.float32(self._chop) * blade
        puffs += np.float32(self._wobble) * np.sin(_angle(blades / self._blades))
        puffs += np.float32(1.0)
        out = self._air.render(frames)
        scale_frames(out, puffs)
        for channel in range(CHANNELS):
            out[:, channel] += tone
        return out


def _angle(cycles: np.ndarray) -> np.ndarray:
    """The angle (radians, float32) of a running count of cycles (float64).

    The whole cycles are dropped in float64, so float32's sine (a sixteenth of float64's cost
    here) is taken of an angle within one turn, exact to 10⁻⁶ rad however long the fan runs."""
    within = cycles - np.floor(cycles)
    return within.astype(np.float32) * np.float32(2 * np.pi)


#: Gusts stop rising this far above the wind's average level (a soft limit): the lulls may be as
#: deep as real wind's, but a surge never startles a sleeper.
GUST_CEILING_DB = 12.0


class Wind:
    """Gusty wind: a roar low in the spectrum that surges and dies away, every band together.

    Real wind recorded outdoors is dark (little above 2 kHz: its noise is made by eddies, not by
    anything small) and moves as one: a gust lifts the whole spectrum, and leaves the air almost
    still between gusts. The gust level wanders in dB, so surges are peaky and lulls are long.
    """

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        low_seed, high_seed, rest = seed.spawn(3)
        gust_rng, weather_rng = spawn_generators(rest, 2)
        self._clock = _Clock()
        self._low = PinkNoise(rate, low_seed, butterworth(rate, "highpass", 380.0, 2),
                              butterworth(rate, "lowpass", 750.0, 4))
        self._high = PinkNoise(rate, high_seed, butterworth(rate, "bandpass", (500.0, 1200.0), 2))
        self._gust = SlowRandom(gust_rng, rate, mean=0.0, sigma=8.0, tau=2.0, smooth=True)  # dB
        self._weather = SlowRandom(weather_rng, rate, mean=0.0, sigma=1.5, tau=20.0)  # dB

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        gust_db = self._gust.block(t0, frames) + self._weather.block(t0, frames)
        surge = np.maximum(gust_db, np.float32(0.0))  # soft-limit the surges, not the lulls
        gust_db += np.float32(GUST_CEILING_DB) * np.tanh(surge * np.float32(1 / GUST_CEILING_DB)) - surge
        out = scale_frames(self._low.render(frames), db_to_gain(gust_db))
        out += scale_frames(self._high.render(frames), db_to_gain(1.4 * gust_db - 20.0))
        return out


@dataclass(frozen=True)
class BreezeStyle:
    """How a breeze moves: a sway shared by the whole spectrum, and its parts drifting apart."""

    sway_db: float  # the shared sway's standard deviation: what moves every band together
    sway_tau_s: float
    low_db: float  # the low and high parts' own drift
    high_db: float
    high_hz: tuple[float, float] = (400.0, 2500.0)  # the high part's band
    high_sway: float = 1.0  # how much more than the low part the high part follows the sway


#: A steady breeze: the parts drift more than they sway together (real steady winds' band
#: envelopes barely correlate: 0.1–0.2 for neighbours).
STEADY_BREEZE = BreezeStyle(sway_db=1.2, sway_tau_s=5.0, low_db=1.5, high_db=2.0)
#: Wind around a house at night: swells that lift every band together, the hiss above 1 kHz
#: most (a real one's neighbouring bands correlate 0.3–0.4 where a steady breeze's do 0.1–0.2,
#: and its envelopes above 1 kHz are skewed, 0.3–0.5: the swells whistle).
SWELLING = BreezeStyle(sway_db=3.5, sway_tau_s=6.0, low_db=1.0, high_db=1.5, high_hz=(400.0, 5000.0), high_sway=1.5)


class Breeze:
    """A breeze: soft, dark moving air whose low and high parts drift on their own."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: BreezeStyle = STEADY_BREEZE) -> None:
        low_seed, high_seed, rest = seed.spawn(3)
        low_rng, high_rng, sway_rng = spawn_generators(rest, 3)
        self._clock = _Clock()
        self._sway = SlowRandom(sway_rng, rate, mean=0.0, sigma=style.sway_db, tau=style.sway_tau_s,
                                smooth=True)  # dB, both parts
        self._low = BrownNoise(rate, low_seed, butterworth(rate, "lowpass", 900.0, 1))
        self._high = PinkNoise(rate, high_seed, butterworth(rate, "bandpass", style.high_hz, 1))
        self._high_sway = np.float32(style.high_sway)
        self._low_level = SlowRandom(low_rng, rate, mean=0.0, sigma=style.low_db, tau=6.0)  # dB
        self._high_level = SlowRandom(high_rng, rate, mean=-10.0, sigma=style.high_db, tau=4.0)  # dB

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        sway = self._sway.block(t0, frames)
        out = scale_frames(self._low.render(frames), db_to_gain(sway + self._low_level.block(t0, frames)))
        high_db = self._high_level.block(t0, frames)
        high_db += self._high_sway * sway
        out += scale_frames(self._high.render(frames), db_to_gain(high_db))
        return out


@dataclass(frozen=True)
class StreamStyle:
    """Running water: where its rush lives in the spectrum, how it babbles, how many bubbles."""

    regions: tuple[tuple[float, float, float], ...]  # (low Hz, high Hz, dB): band-pass layers of the rush
    babble_db: float  # how far the rush's level wanders, fast (the water's many small falls)
    flow_db: float  # how far the flow wanders, slowly (more water, more bubbles)
    bubbles_per_second: float
    bubble_db: float  # relative to BROOK_BUBBLE's level
    bubble_hz: tuple[float, float] = BROOK_BUBBLE.freq_hz  # smaller bubbles in faster water ring higher

    def shape(self, rate: int) -> Shape:
        return layered(*((db, butterworth(rate, "bandpass", (low, high), 2)) for low, high, db in self.regions))


#: A babbling brook: bubbles that can be heard one by one over a rush that barely wavers (real
#: rivers' band envelopes correlate with their neighbours' only: their motion is local, made by
#: the bubbles, not by the whole rush rising and falling).
BROOK = StreamStyle(regions=((200.0, 700.0, 0.0), (700.0, 2200.0, 0.0), (2200.0, 7000.0, 0.0)),
                    babble_db=0.8, flow_db=1.0, bubbles_per_second=45.0, bubble_db=3.0)
#: A shallow brook close by, splashing over stones: bright, single splashes and bubbles over a
#: thin rush (a close recording's envelope is spiky: skew near 2 above 2 kHz).
SPLASHING = StreamStyle(regions=((60.0, 400.0, -4.0), (400.0, 2000.0, -14.0), (2000.0, 6000.0, -8.0)),
                        babble_db=1.5, flow_db=1.0, bubbles_per_second=30.0, bubble_db=6.0, bubble_hz=(1500.0, 5000.0))
#: A wide river: a steady, bright rush with bubbles lost in it.
RIVER = StreamStyle(regions=((120.0, 1500.0, -5.0), (1500.0, 3500.0, -4.0), (3000.0, 6000.0, 0.0)),
                    babble_db=0.4, flow_db=0.4, bubbles_per_second=60.0, bubble_db=-3.0, bubble_hz=(1500.0, 4500.0))


class Stream:
    """Running water: a rush of water and countless small bubbles."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: StreamStyle = BROOK) -> None:
        bed_seed, rest = seed.spawn(2)
        bubble_rng, event_rng, flow_rng, babble_rng = spawn_generators(rest, 4)
        self._rate, self._clock, self._style = rate, _Clock(), style
        self._bed = SpectralNoise(rate, bed_seed, style.shape(rate))
        self._flow = SlowRandom(flow_rng, rate, mean=0.0, sigma=style.flow_db, tau=20.0)  # dB
        self._babble = SlowRandom(babble_rng, rate, mean=0.0, sigma=style.babble_db, tau=0.12, hop=64)  # dB
        self._bubble_gain = 10 ** (style.bubble_db / 20)
        self._bubble_kind = replace(BROOK_BUBBLE, freq_hz=style.bubble_hz)
        self._bubble_rng = bubble_rng
        self._bus = GrainBus()
        self._bubbles = EventTrain(event_rng, rate, self._bubble_rate, self._bubble, self._bus)

    def _bubble_rate(self, t: float) -> float:
        return self._style.bubbles_per_second * 10 ** (self._flow.value_at(t) / 10)

    def _bubble(self, start: int) -> Resonance:
        return self._bubble_kind.draw(self._bubble_rng, start, self._rate, self._bubble_gain)

    def render(self, frames: int) -> np.ndarray:
        t0 = self._clock.tick(frames)
        level = self._flow.block(t0, frames)
        level += self._babble.block(t0, frames)
        out = self._bed.render(frames)
        scale_frames(out, db_to_gain(level))
        self._bubbles.advance(t0, frames)
        self._bus.render_into(out, t0)
        return out
