"""A summer night outside an open window: crickets, a far-off chorus of tree crickets, the odd frog.

A cricket sings by closing its wings: each closing is one pulse of an almost pure tone (its wing's
resonance, 3–5 kHz), a few pulses make a chirp, and it chirps again and again at a tempo set by the
warmth of the night, never quite evenly, in bouts with pauses between. Every cricket here is such an
individual (its own pitch, tempo, place and distance), a handful at once; each sings for a few
minutes, falls silent, and another takes over, so the chorus changes without ever repeating.
Further off, tree crickets trill without pause in a soft, continuous shimmer; now and then a frog
calls from a pond. Under them, the still night air.

Two nights are made of these parts (a :class:`NightStyle` each): the summer night outside the window,
and a field of crickets heard from further off, where so many sing at once that their chirps merge
into a steady shimmer and only a few nearer ones are heard one by one. Real night recordings are of
both kinds (benchmarks/README, texture.py): the steady ones were nearest brown noise or heavy rain
until the field was there to be nearer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from bedside.audio.synth import scale_frames, spawn_generators, spread
from bedside.audio.synth.noise import BrownNoise, SpectralNoise, butterworth
from bedside.audio.synth.processes import GrainBus, SlowRandom, constant_power_pan


@dataclass(frozen=True)
class Call:
    """One kind of singer: a pulsed tone, and how its pulses and calls are spaced."""

    carrier_hz: tuple[float, float]  # the singer's own pitch, drawn once (log-uniform)
    pulses: tuple[int, int]  # pulses per call, inclusive range
    pulse_hz: tuple[float, float]  # pulses per second within a call
    duty: float  # share of a pulse period that sounds
    glide: float  # the pitch falls by this share over each pulse (a wing slowing as it closes)
    harmonic: float  # the second harmonic's amplitude
    call_s: tuple[float, float]  # seconds from one call's start to the next (the tempo)
    bout_s: float  # a bout of calling lasts this long on average
    rest_s: float  # the pause after a bout, on average
    distance_db: tuple[float, float]  # how far off (dB below a close singer)
    level: float  # a close singer's amplitude


#: A field cricket: chirps of three to five pulses, about two a second.
FIELD_CRICKET = Call(carrier_hz=(2800.0, 6500.0), pulses=(3, 5), pulse_hz=(24.0, 34.0), duty=0.55, glide=0.04,
                     harmonic=0.06, call_s=(0.35, 0.8), bout_s=120.0, rest_s=25.0, distance_db=(4.0, 20.0),
                     level=0.05)
#: A frog at a pond: a low, rough croak of a few quick pulses, now and then.
FROG = Call(carrier_hz=(350.0, 800.0), pulses=(6, 14), pulse_hz=(35.0, 60.0), duty=0.6, glide=0.1,
            harmonic=0.5, call_s=(2.5, 8.0), bout_s=40.0, rest_s=120.0, distance_db=(14.0, 24.0), level=0.01)


@dataclass(frozen=True)
class Chorus:
    """Many far-off insects of one kind trilling in near-unison: a narrow band of noise (their
    pitches differ a little, their phases a lot), pulsed at their shared rate."""

    centre_hz: tuple[float, float]
    pulse_hz: tuple[float, float]
    depth: float  # how deep the shared pulsing is (they are only roughly in step)
    level_db: float  # against a close cricket
    sway_db: float  # how much it swells and fades, over half a minute or so


#: A chorus's band, as shares of its centre: many insects, a spread of pitches.
CHORUS_BAND = (0.94, 1.06)


@dataclass(frozen=True)
class NightStyle:
    """One night: who sings near, which choruses trill far off, and the air under them."""

    crickets: int  # field crickets singing at once
    cricket: Call
    frogs: int
    frog: Call
    choruses: tuple[Chorus, ...]
    air_db: float  # the air against a close cricket
    air_sway_db: float  # its slow sway
    air_lowpass_hz: float | None  # still air is dark; None: brown noise as it is


#: The summer night outside the window: six crickets close by, a frog or two, tree crickets trilling
#: softly around 3 kHz and katydids higher up, fainter, over still, dark air.
SUMMER = NightStyle(crickets=6, cricket=FIELD_CRICKET, frogs=2, frog=FROG,
                    choruses=(Chorus((2500.0, 3300.0), (38.0, 50.0), 0.7, -8.0, 1.5),
                              Chorus((5000.0, 6800.0), (12.0, 20.0), 0.5, -12.0, 2.0)),
                    air_db=-6.0, air_sway_db=2.0, air_lowpass_hz=1000.0)
#: A field of crickets heard from further off: so many singers that their chirps merge into a steady
#: shimmer around 4.4 kHz, tree crickets fainter below, a few nearer crickets still heard one by one,
#: and a soft rush of open air under them — no frogs, no close chorus.
FIELD = NightStyle(crickets=5, cricket=replace(FIELD_CRICKET, carrier_hz=(4050.0, 4950.0), distance_db=(3.0, 17.0)),
                   frogs=0, frog=FROG,
                   choruses=(Chorus((4120.0, 4560.0), (33.0, 43.0), 0.37, 0.0, 1.5),
                             Chorus((2500.0, 2750.0), (42.0, 54.0), 0.53, -8.0, 1.5)),
                   air_db=6.0, air_sway_db=0.6, air_lowpass_hz=5700.0)


class _Pulses:
    """One call (a chirp, a croak) at its place on the timeline: computed whole at its first use."""

    __slots__ = ("_gains", "_spec", "_wave", "length", "start")

    def __init__(self, start: int, rate: int, carrier: float, pulses: int, pulse_hz: float, call: Call,
                 gains: np.ndarray) -> None:
        self.start = start
        self._spec = (rate, carrier, pulse_hz, call)
        self.length = int(rate * pulses / pulse_hz)
        self._gains = gains
        self._wave: np.ndarray | None = None

    def render(self, offset: int, n: int) -> np.ndarray:
        if self._wave is None:
            self._wave = self._compute()
        return self._wave[offset:offset + n]

    def _compute(self) -> np.ndarray:
        # float32 throughout (a call lasts a fraction of a second: 10⁻⁴ rad of phase at most), at a
        # third of float64's cost; the silent part of each pulse is zeroed, not skipped.
        f32 = np.float32
        rate, carrier, pulse_hz, call = self._spec
        t = np.arange(self.length, dtype=f32)
        t *= f32(1 / rate)
        cycle = t * f32(pulse_hz)  # pulses since the call began
        within = cycle - np.floor(cycle)
        within *= f32(1 / call.duty)  # 0..1 through the sounding part of a pulse
        through = np.minimum(within, f32(1.0))
        # The pitch falls a little through each pulse: the phase is the integral of that glide.
        phase = through * through
        phase *= f32(-call.glide * call.duty / (2 * pulse_hz))
        phase += t
        phase *= f32(2 * np.pi * carrier)
        envelope = np.sin(through * f32(np.pi))
        envelope *= envelope
        envelope[within >= 1] = 0
        wave = np.sin(phase)
        wave += f32(call.harmonic) * np.sin(phase + phase)
        wave *= envelope
        return spread(wave, self._gains)


class _Singer:
    """A place one singer of a kind calls from, with its own random stream: bouts, rests, turnover."""

    def __init__(self, rng: np.random.Generator, rate: int, call: Call, opens: int) -> None:
        self._rng, self._rate, self._call = rng, rate, call
        self._arrive(opens)

    def _arrive(self, at: int) -> None:
        rng, call, rate = self._rng, self._call, self._rate
        low, high = call.carrier_hz
        self._carrier = math.exp(rng.uniform(math.log(low), math.log(high)))
        self._pulse_hz = rng.uniform(*call.pulse_hz)
        self._period_s = rng.uniform(*call.call_s)
        distance = rng.uniform(*call.distance_db)
        self._gains = constant_power_pan(rng.uniform(-0.9, 0.9)) * np.float32(call.level * 10 ** (-distance / 20))
        self.next = at
        self._bout_ends = at + int(rate * rng.exponential(call.bout_s))
        self._bouts_left = int(rng.integers(1, 6))  # then it goes quiet for good, and another takes its place

    def advance(self, t0: int, n: int, bus: GrainBus) -> None:
        rng, rate, call = self._rng, self._rate, self._call
        while self.next < t0 + n:
            if self.next >= self._bout_ends:
                self._bouts_left -= 1
                rest = int(rate * rng.exponential(call.rest_s))
                if self._bouts_left <= 0:
                    self._arrive(self.next + rest)
                else:
                    self.next += rest
                    self._bout_ends = self.next + int(rate * rng.exponential(call.bout_s))
                continue
            pulses = int(rng.integers(call.pulses[0], call.pulses[1] + 1))
            level = np.float32(10 ** (rng.normal(0.0, 1.0) / 20))
            bus.add(_Pulses(self.next, rate, self._carrier * rng.uniform(0.995, 1.005), pulses,
                            self._pulse_hz * rng.uniform(0.97, 1.03), call, self._gains * level))
            # The tempo wanders a little from call to call: never a metronome, never a loop.
            self._period_s = float(np.clip(self._period_s * math.exp(rng.normal(0.0, 0.03)), *call.call_s))
            gap = max(self._period_s * rng.gamma(25.0, 1 / 25.0), 1.3 * pulses / self._pulse_hz)
            self.next += int(rate * gap)


class _ChorusVoice:
    """One chorus, playing: its noise band, its pulse, its slow swell."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, rng: np.random.Generator, chorus: Chorus) -> None:
        centre = rng.uniform(*chorus.centre_hz)
        self._rate = rate
        low, high = (centre * edge for edge in CHORUS_BAND)
        self._noise = SpectralNoise(rate, seed, butterworth(rate, "bandpass", (low, high), 2))
        self._pulse_hz = rng.uniform(*chorus.pulse_hz)
        self._depth = np.float32(chorus.depth)
        # The band's power is that of a close cricket's tone (level²/2) plus level_db: white noise of
        # unit variance keeps about 1.11 × its share of the band (an order-2 Butterworth band-pass).
        band_power = 1.11 * (high - low) / (rate / 2)
        self._db = np.float32(20 * math.log10(FIELD_CRICKET.level) - 10 * math.log10(2 * band_power)
                              + chorus.level_db)
        self._sway = SlowRandom(rng, rate, mean=0.0, sigma=chorus.sway_db, tau=30.0)

    def render(self, t0: int, frames: int) -> np.ndarray:
        f32 = np.float32
        # Float64 for the count, float32 for the sine; t − ⌊t⌋ is t % 1 to the bit for t ≥ 0, at a
        # quarter of the cost (numpy's float64 mod was 3/4 of this method's time), and in place.
        t = np.arange(t0, t0 + frames, dtype=np.float64)
        t *= self._pulse_hz / self._rate
        within = np.floor(t)
        np.subtract(t, within, out=within)
        within *= np.pi
        gain = within.astype(f32)
        np.sin(gain, out=gain)
        gain *= gain
        gain *= self._depth
        gain += 1 - self._depth
        gain *= self._sway.gain_block(t0, frames, float(self._db))
        out = self._noise.render(frames)
        scale_frames(out, gain)
        return out


class Night:
    """A night outside, by its style: crickets near and far, choruses trilling far off, the air under them."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, style: NightStyle = SUMMER) -> None:
        choruses = style.choruses
        air_seed, rest, *chorus_seeds = seed.spawn(2 + len(choruses))
        *singer_rngs, air_rng = spawn_generators(rest, style.crickets + style.frogs + 1)
        chorus_rngs = spawn_generators(rest.spawn(1)[0], len(choruses))
        self._rate, self._now = rate, 0
        self._singers = [_Singer(rng, rate, style.cricket, int(rate * rng.uniform(0.0, 8.0)))
                         for rng in singer_rngs[:style.crickets]]
        self._singers += [_Singer(rng, rate, style.frog, int(rate * rng.uniform(20.0, 120.0)))
                          for rng in singer_rngs[style.crickets:]]
        self._bus = GrainBus()
        self._choruses = [_ChorusVoice(rate, chorus_seed, rng, chorus)
                           for chorus, chorus_seed, rng in zip(choruses, chorus_seeds, chorus_rngs, strict=True)]
        still = () if style.air_lowpass_hz is None else (butterworth(rate, "lowpass", style.air_lowpass_hz, 1),)
        self._air = BrownNoise(rate, air_seed, *still)
        self._air_db = np.float32(20 * math.log10(style.cricket.level) + style.air_db)
        self._air_sway = SlowRandom(air_rng, rate, mean=0.0, sigma=style.air_sway_db, tau=4.0, smooth=True)

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        out = self._air.render(frames)
        scale_frames(out, self._air_sway.gain_block(t0, frames, float(self._air_db)))
        for chorus in self._choruses:
            out += chorus.render(t0, frames)
        for singer in self._singers:
            singer.advance(t0, frames, self._bus)
        self._bus.render_into(out, t0)
        return out
