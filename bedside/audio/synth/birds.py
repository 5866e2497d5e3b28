"""Birds at dawn: a few birds around the house, each singing its own phrase again and again.

A real dawn chorus is made of individuals: each bird sits somewhere (its place in the stereo field
and its distance do not change while it stays), sings one kind of phrase with small variations,
pauses, sings again, and after a few minutes flies off and another arrives. So does this one: a
handful of *slots*, each holding one bird at a time with its own random stream (the samples are the
same however the blocks are cut), singing one of five call types. At first light only a couple of
birds sing, and sparsely; the chorus fills in over the first minutes. Under it, the air: a soft,
dark bed, so the pauses are quiet rather than empty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bedside.audio.synth import scale_frames, spawn_generators, spread
from bedside.audio.synth.noise import PinkNoise, butterworth
from bedside.audio.synth.processes import GrainBus, SlowRandom, constant_power_pan

#: The places birds sing from: when each first fills (seconds), and how far its birds are (dB, the
#: range drawn from). Sparse at first light — the first singers are the near ones (a robin, a
#: blackbird on the roof) — and the chorus fills in from further off, so it grows denser much more
#: than it grows louder.
SLOTS = ((0.0, 0.0, 3.0), (10.0, 0.0, 3.0), (30.0, 2.0, 6.0), (60.0, 6.0, 14.0), (120.0, 6.0, 16.0),
         (180.0, 8.0, 18.0), (300.0, 8.0, 20.0), (420.0, 10.0, 22.0), (540.0, 10.0, 24.0), (600.0, 12.0, 24.0))
#: The song rate grows from this share to all of it over DAWN_S.
DAWN_START_RATE, DAWN_S = 0.7, 600.0
#: A bird stays this long on average before another takes its place.
STAY_S = 150.0
#: The air under the birds, in dB relative to a bird at full presence.
AIR_DB = -12.0
#: The air's bands: each sways on its own (leaves near and far, a breath of wind high in the trees),
#: so the bed does not lift every band at once (real choruses' far bands barely correlate).
AIR_BANDS = ((120.0, 900.0), (900.0, 5000.0))
#: How far the air's level wanders (dB, standard deviation), slowly: leaves in a light wind.
AIR_SWAY_DB = 7.0
#: The level of a bird's song before its distance: sparse tones are loud for their loudness, so the
#: closest bird stays well under the limiter at the calibrated level.
SONG_LEVEL = 0.16


@dataclass(frozen=True)
class Note:
    at_s: float  # from the start of the phrase
    length_s: float
    start_hz: float
    end_hz: float
    vibrato_hz: float = 0.0
    vibrato_depth: float = 0.0  # a share of the frequency
    level: float = 1.0
    attack: float = 0.15  # share of the note spent rising (the rest decays)
    harmonic: float = 0.08  # the second harmonic's amplitude: a syrinx is not a pure oscillator


def _whistle(rng: np.random.Generator) -> list[Note]:
    """A thrush's or a robin's phrase: a few clear, gliding whistles."""
    notes, t = [], 0.0
    for _ in range(rng.integers(2, 6)):
        f = math.exp(rng.uniform(math.log(2500), math.log(6000)))
        length = rng.uniform(0.08, 0.3)
        notes.append(Note(t, length, f, f * rng.uniform(0.75, 1.3), level=rng.uniform(0.6, 1.0)))
        t += length + rng.uniform(0.04, 0.14)
    return notes


def _trill(rng: np.random.Generator) -> list[Note]:
    """A wren's or a chaffinch's trill: a rapid run of short falling notes."""
    count, pace = int(rng.integers(8, 24)), rng.uniform(12, 24)  # notes, notes per second
    top = rng.uniform(5000, 8000)
    drift = rng.uniform(-0.25, 0.1)  # the run falls (or rises a little) as it goes
    notes = []
    for i in range(count):
        f = top * (1 + drift * i / count)
        notes.append(Note(i / pace, rng.uniform(0.5, 0.75) / pace, f, f * rng.uniform(0.6, 0.8), attack=0.1,
                          level=0.6 + 0.4 * math.sin(math.pi * (i + 0.5) / count)))
    return notes


def _chirp(rng: np.random.Generator) -> list[Note]:
    """A sparrow's chirps: short notes that rise and fall."""
    notes, t = [], 0.0
    base = rng.uniform(3500, 6000)
    for _ in range(rng.integers(2, 7)):
        length = rng.uniform(0.04, 0.09)
        notes.append(Note(t, length, base * rng.uniform(0.95, 1.05), base * rng.uniform(0.75, 1.2),
                          vibrato_hz=0.5 / length, vibrato_depth=rng.uniform(0.08, 0.2), attack=0.3))
        t += length + rng.uniform(0.07, 0.2)
    return notes


def _warble(rng: np.random.Generator) -> list[Note]:
    """A blackcap's or a warbler's warble: one long note, quickly and deeply modulated."""
    f = rng.uniform(3000, 5500)
    return [Note(0.0, rng.uniform(0.5, 1.4), f, f * rng.uniform(0.85, 1.15), vibrato_hz=rng.uniform(14, 34),
                 vibrato_depth=rng.uniform(0.08, 0.22), attack=0.1, harmonic=0.15)]


def _coo(rng: np.random.Generator) -> list[Note]:
    """A dove's coo from a roof nearby: low, soft, round notes."""
    notes, t = [], 0.0
    f = rng.uniform(450, 700)
    for i in range(rng.integers(2, 5)):
        length = rng.uniform(0.2, 0.45)
        notes.append(Note(t, length, f * (1.08 if i == 1 else 1.0), f * 0.93, attack=0.35, harmonic=0.25,
                          level=0.8))
        t += length + rng.uniform(0.12, 0.3)
    return notes


#: Call types, how often a bird of each kind turns up, and its loudness (a share of SONG_POWER):
#: a dove is heard from further off, under the songbirds.
CALLS = ((_whistle, 0.30, 1.0), (_trill, 0.20, 1.0), (_chirp, 0.25, 1.0), (_warble, 0.17, 1.0), (_coo, 0.08, 0.3))
#: Every bird sings this much energy per second (a note's level² × seconds) on average: a bird with
#: a long phrase pauses longer. Real birds differ, but a sleep sound must not get louder because a
#: warbler replaced a sparrow.
SONG_POWER = 0.07
#: The shortest pause between two phrases of one bird (seconds).
MIN_PAUSE_S = 1.0


def _energy(notes: list[Note]) -> float:
    """A phrase's energy: level² × seconds, with its harmonic (a raised-cosine note keeps ~60% of it)."""
    return sum(0.3 * n.level ** 2 * n.length_s * (1 + n.harmonic ** 2) for n in notes)


class _Phrase:
    """One phrase at its place on the timeline (a grain of the bus), computed a block at a time.

    Each note's phase is the closed-form integral of its frequency (a linear glide times a vibrato),
    so any stretch of it can be computed on its own: the cost is spread over the blocks the phrase
    spans — a whole phrase at once held a Pi-share CPU for tens of milliseconds — and the samples do
    not depend on how the blocks are cut.
    """

    __slots__ = ("_gains", "_notes", "_rate", "length", "start")

    def __init__(self, start: int, notes: list[Note], rate: int, variation: float, gains: np.ndarray) -> None:
        self.start, self._rate, self._gains = start, rate, gains
        self.length = int(rate * (max(n.at_s + n.length_s for n in notes) + 0.01))
        # (first frame, frames, start Hz, Hz per second, vibrato rad/s, depth, level, attack, harmonic)
        self._notes = []
        for note in notes:
            count = max(int(note.length_s * rate), 8)
            glide = (note.end_hz - note.start_hz) * variation * rate / count
            self._notes.append((int(note.at_s * rate), count, note.start_hz * variation, glide,
                                2 * math.pi * note.vibrato_hz, note.vibrato_depth, note.level, note.attack,
                                note.harmonic))

    @property
    def seconds(self) -> float:
        return self.length / self._rate

    def render(self, offset: int, n: int) -> np.ndarray:
        f32 = np.float32
        mono = np.zeros(n, f32)
        for begin, count, a, b, w, depth, level, attack, harmonic in self._notes:
            lo, hi = max(begin, offset), min(begin + count, offset + n)
            if lo >= hi:
                continue
            k = np.arange(lo - begin, hi - begin, dtype=np.float64)
            t = k / self._rate
            # ∫ (a + b·t)(1 + depth·sin(w·t)) dt, from the note's start.
            cycles = a * t + 0.5 * b * t * t
            if depth:
                cycles += depth * ((a - (a + b * t) * np.cos(w * t)) / w + b * np.sin(w * t) / (w * w))
            phase = (cycles * (2 * math.pi)).astype(f32)
            # Raised-cosine rise and fall: a bird's note swells and fades, and neither end clicks.
            u = (k * (1 / count)).astype(f32)
            rise = np.minimum(u * f32(1 / attack), f32(1.0))
            fall = np.minimum((1 - u) * f32(1 / (1 - attack)), f32(1.0))
            envelope = np.sin(f32(math.pi / 2) * rise) ** 2 * np.sin(f32(math.pi / 2) * fall) ** 2
            wave = np.sin(phase) + f32(harmonic) * np.sin(2 * phase)
            mono[lo - offset:hi - offset] += wave * envelope * f32(level)
        return spread(mono, self._gains)


class _Bird:
    """One bird in one slot: where it sits, what it sings, how often, and until when it stays."""

    def __init__(self, rng: np.random.Generator, rate: int, arrives: int, distance_db: tuple[float, float]) -> None:
        weights = np.array([w for _, w, _ in CALLS])
        make, _, loudness = CALLS[int(rng.choice(len(CALLS), p=weights / weights.sum()))]
        self.motif = make(rng)
        phrase_s = max(n.at_s + n.length_s for n in self.motif)
        self.pause_s = max(_energy(self.motif) / SONG_POWER - phrase_s, MIN_PAUSE_S)
        distance_db = (distance_db[0] - 10 * math.log10(loudness), distance_db[1] - 10 * math.log10(loudness))
        distance = -rng.uniform(*distance_db)
        self.gains = constant_power_pan(rng.uniform(-0.9, 0.9)) * np.float32(SONG_LEVEL * 10 ** (distance / 20))
        self.leaves = arrives + int(rate * rng.exponential(STAY_S))
        self.next = arrives + int(rate * rng.uniform(0.0, self.pause_s))


class _Slot:
    """A place a bird may sing from, with its own random stream."""

    def __init__(self, rng: np.random.Generator, rate: int, opens: int, distance_db: tuple[float, float]) -> None:
        self._rng, self._rate, self._distance = rng, rate, distance_db
        self.bird = _Bird(rng, rate, opens, distance_db)

    def advance(self, t0: int, n: int, bus: GrainBus, density) -> None:
        rng, rate = self._rng, self._rate
        while self.bird.next < t0 + n:
            bird = self.bird
            if bird.next >= bird.leaves:  # it flew off: another arrives a little later
                self.bird = _Bird(rng, rate, bird.leaves + int(rate * rng.exponential(10.0)), self._distance)
                continue
            phrase = _Phrase(bird.next, bird.motif, rate, rng.uniform(0.97, 1.03),
                             bird.gains * np.float32(10 ** (rng.normal(0.0, 1.5) / 20)))
            bus.add(phrase)
            phrase_s = phrase.seconds
            gap = bird.pause_s * rng.gamma(3.0, 1 / 3.0) / density(bird.next / rate)
            bird.next += int(rate * (phrase_s + gap))


class Birds:
    """Dawn birdsong: a handful of birds, each with its own phrase and place, over soft air."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        air_seed, rest = seed.spawn(2)
        *slot_rngs, sway_rng = spawn_generators(rest, len(SLOTS) + 1)
        self._rate, self._now = rate, 0
        self._slots = [_Slot(rng, rate, int(opens * rate), (near, far))
                       for rng, (opens, near, far) in zip(slot_rngs, SLOTS, strict=True)]
        air_seeds = air_seed.spawn(len(AIR_BANDS))
        # Each band rolls off gently (first order), but nothing reaches the top octave: the click
        # check listens above 18 kHz, where birdsong has nothing.
        self._air = [PinkNoise(rate, band_seed, butterworth(rate, "bandpass", band, 1),
                               butterworth(rate, "lowpass", 8000.0, 2))
                     for band_seed, band in zip(air_seeds, AIR_BANDS, strict=True)]
        self._air_db = np.float32(20 * math.log10(SONG_LEVEL) + AIR_DB)
        # The air moves: leaves stir in a breath of wind, every band together.
        self._sway = [SlowRandom(rng, rate, mean=0.0, sigma=AIR_SWAY_DB, tau=1.5, smooth=True)
                      for rng in [sway_rng, *spawn_generators(rest.spawn(1)[0], len(AIR_BANDS) - 1)]]
        self._bus = GrainBus()

    @staticmethod
    def _density(t: float) -> float:
        """The share of full song at ``t`` seconds: the chorus fills in as the light comes."""
        return DAWN_START_RATE + (1 - DAWN_START_RATE) * min(1.0, t / DAWN_S)

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        out = np.zeros((frames, 2), np.float32)
        for air, sway in zip(self._air, self._sway, strict=True):
            layer = air.render(frames)
            scale_frames(layer, sway.gain_block(t0, frames, float(self._air_db)))
            out += layer
        for slot in self._slots:
            slot.advance(t0, frames, self._bus, self._density)
        self._bus.render_into(out, t0)
        return out
