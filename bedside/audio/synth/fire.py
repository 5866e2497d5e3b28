"""A fire in the hearth: lapping flames, a hiss, and the crackle of burning wood.

The classic procedural-audio fire (Farnell, *Designing Sound*, ch. 34) in three parts, each a small
model of what makes it: the flames' low roar, which laps and flickers (its level moves a few times a
second) and burns up and down over minutes; a hiss of escaping gas above 2 kHz that rides on the
roar (a tongue of flame lifts both); and the crackles, short snaps of noise from splitting wood
that come all the time but in bursts (a log catches, crackles harder for a while, settles), with a
rarer, deeper pop. The fire never flares: its slow intensity is
mean-reverting, so any ten minutes are as loud as any other ten.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bedside.audio.synth import scale_frames, spawn_generators
from bedside.audio.synth.noise import BrownNoise, PinkNoise, butterworth
from bedside.audio.synth.processes import NEPERS_PER_DB, SlowRandom, SnapTrain


@dataclass(frozen=True)
class SnapKind:
    """The ranges one kind of snap is drawn from: a burst of noise that dies away in milliseconds."""

    decay_s: tuple[float, float]
    darkness: tuple[float, float]  # a one-pole low-pass's pole: 0 = the full hiss of a snap, 0.9 = a thud
    amplitude: float
    spread_db: float  # standard deviation of the level
    pan_width: float


#: A crackle: wood splitting as it dries in the heat, a broadband snap of a millisecond or two.
CRACKLE = SnapKind(decay_s=(0.0003, 0.0015), darkness=(0.7, 0.92), amplitude=0.5, spread_db=3.0, pan_width=0.5)
#: A pop: a pocket of sap or steam bursting, rarer, darker and a little longer.
POP = SnapKind(decay_s=(0.002, 0.006), darkness=(0.7, 0.9), amplitude=0.3, spread_db=4.0, pan_width=0.4)


#: Snap shapes made at the start, per kind: each snap plays one of them at its own level and place.
#: A few hundred samples of noise each, 128 of them: no ear tells two 1 ms snaps apart, and drawing
#: each anew (a low-pass per snap, 80 a second) was most of the fire's CPU.
SHAPES = 128


def snap_shapes(kind: SnapKind, rng: np.random.Generator, rate: int, count: int = SHAPES) -> list[np.ndarray]:
    """Noise under a fast exponential decay, darkened by a one-pole low-pass, ending on exactly
    zero. It starts at full strength, as a real crackle does: a click by nature, kept soft by its level.

    Drawn shape by shape (a seed gives the shapes it gave, to rounding), filtered all at once: one
    by one, the 160 shapes were 8 of the 15 ms of CPU the fire's build took (now 6 of 11), and on a
    Pi-class share of a core (a tenth: ten times that on the clock) the build competes with the
    audio thread at every switch to fire.
    """
    decays, poles, bursts = np.empty(count), np.empty(count), []
    for i in range(count):
        decays[i] = rng.uniform(*kind.decay_s) * rate
        bursts.append(rng.standard_normal(max(int(6 * decays[i]), 8)))
        poles[i] = rng.uniform(*kind.darkness)
    width = max(len(burst) for burst in bursts)
    x = np.zeros((count, width))
    for row, burst in zip(x, bursts, strict=True):
        row[:len(burst)] = burst
    # one_pole's scaled running sum, every shape at once: y[n] = p^n · Σ_k≤n p^-k · x[k], with the
    # decay and p^-k in one exp (numpy's exp is vectorised, its pow is not), in pieces short enough
    # that the darkest pole's p^-k stays finite (a short shape's padding never reaches its samples).
    t = np.arange(width, dtype=np.float64)
    log_poles = np.log(poles)[:, None]
    out = np.empty_like(x)
    piece = max(1, int(300 / -log_poles.min()))
    state = np.zeros(count)
    for begin in range(0, width, piece):
        span = slice(begin, min(begin + piece, width))
        local = t[:span.stop - begin]
        scaled = x[:, span] * np.exp(-t[span] / decays[:, None] - local * log_poles)
        part = (np.cumsum(scaled, axis=1) + (state * poles)[:, None]) * np.exp(local * log_poles)
        out[:, span] = part
        state = part[:, -1]
    out *= (1 - poles)[:, None]
    fade = np.linspace(1.0, 0.0, 8)
    shapes = []
    for row, burst in zip(out, bursts, strict=True):
        shape = row[:len(burst)].astype(np.float32)
        shape[-8:] *= fade
        shapes.append(shape)
    return shapes


#: Crackles per second in the middle of the swing (a log fire crackles all the time, softly); their
#: rate wanders CRACKLE_SWING_DB (in dB of rate, standard deviation) over a few seconds, so they come
#: in bursts and lulls rather than as an even patter. The mean rate is 1.5 times this (61 a second),
#: and one second in fifty crackles 260 times; the crackles are made a block at a time, and above
#: CRACKLE_CEILING a second they crackle louder instead of more often (the same power). A swing of
#: 8 dB (a mean of 218 a second) put real fires nearer other sounds: the four real fires long
#: enough to show it move 7–13 dB less at 0.125 Hz than the fire did.
CRACKLES_PER_SECOND = 40.0
CRACKLE_SWING_DB = 4.0
SWING_TAU_S = 3.0  # seconds: the swing's time constant
CRACKLE_CEILING = 1000.0
POPS_PER_SECOND = 0.35
#: How far the flames' lapping moves the roar and the hiss together (dB, standard deviation): real
#: fires' band envelopes rise and fall together (neighbours correlate 0.4–0.7, bands far apart
#: 0.1–0.4), because a tongue of flame lifts the roar and the hiss at once. Quick and shallow (the
#: lapping's power below 0.5 Hz grows with its depth² × time constant): with the swing above, 3.5 dB
#: over 0.3 s put the fire's envelope at 0.125 Hz at −26 dB, real fires' at −33 to −39 (now −32).
LAP_DB = 2.0
LAP_TAU_S = 0.15
FLICKER_DB = 2.0
#: ln(10)/10: exp(dB times this) is 10^(dB/10), a level in dB as a rate's factor (float64: the
#: crackles' times are integrated from it).
DB_TO_POWER = math.log(10) / 10
#: The hiss against the roar (dB): real fires keep most of their power below 300 Hz.
HISS_DB = -14.0


class Fire:
    """A wood fire in the hearth: flames that lap and roar softly, hiss, crackle and pop."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        roar_seed, hiss_seed, rest = seed.spawn(3)
        (lap_rng, flicker_rng, burn_rng, swing_rng, crackle_rng, crackle_event_rng, pop_rng,
         pop_event_rng) = spawn_generators(rest, 8)
        self._rate, self._now = rate, 0
        # The flames: a dark roar, low and soft, band-limited like air moving through the fire.
        self._roar = BrownNoise(rate, roar_seed, butterworth(rate, "bandpass", (60.0, 900.0), 1))
        self._hiss = PinkNoise(rate, hiss_seed, butterworth(rate, "highpass", 2000.0, 2),
                               butterworth(rate, "lowpass", 9000.0, 1))
        self._lap = SlowRandom(lap_rng, rate, mean=0.0, sigma=LAP_DB, tau=LAP_TAU_S, hop=128, smooth=True)  # dB
        # The flames flicker fast as well (tenths of a second), the roar and the hiss together.
        self._flicker = SlowRandom(flicker_rng, rate, mean=0.0, sigma=FLICKER_DB, tau=0.06, hop=64)  # dB
        self._burn = SlowRandom(burn_rng, rate, mean=0.0, sigma=1.0, tau=40.0)  # dB, the whole fire
        self._swing = SlowRandom(swing_rng, rate, mean=0.0, sigma=CRACKLE_SWING_DB, tau=SWING_TAU_S, smooth=True)
        self._crackles = self._train(CRACKLE, crackle_event_rng, crackle_rng, SHAPES, CRACKLE_CEILING)
        self._pops = self._train(POP, pop_event_rng, pop_rng, 32)

    def _train(self, kind: SnapKind, times: np.random.Generator, params: np.random.Generator,
               count: int, ceiling: float = math.inf) -> SnapTrain:
        return SnapTrain(times, params, self._rate, snap_shapes(kind, params, self._rate, count), kind.amplitude,
                         kind.spread_db, kind.pan_width, ceiling)

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        burn = self._burn.block(t0, frames)
        roar_db = self._lap.block(t0, frames) + burn
        roar_db += self._flicker.block(t0, frames)
        gain = np.exp(roar_db * NEPERS_PER_DB)  # exp, not power: 2–4 times faster
        out = scale_frames(self._roar.render(frames), gain)
        out += scale_frames(self._hiss.render(frames), gain * np.float32(10 ** (HISS_DB / 20)))  # rides on the roar
        # A hotter fire (louder than its mean) crackles and pops more.
        heat = np.exp(burn.astype(np.float64) * DB_TO_POWER)
        swing = np.exp(self._swing.block(t0, frames).astype(np.float64) * DB_TO_POWER)
        swing *= heat
        swing *= CRACKLES_PER_SECOND
        self._crackles.render_into(out, t0, swing)
        self._pops.render_into(out, t0, POPS_PER_SECOND * heat)
        return out
