"""Coloured noise: white, pink (−3.01 dB/octave) and brown (−6.02 dB/octave).

Each colour is one IIR filter applied to uniform white noise. The filters are fitted, not taken
from folklore: real poles and zeros placed by least squares so that the response follows the ideal
line within ±0.05 dB (pink) and ±0.17 dB (brown) over 40 Hz–16 kHz at 48 kHz, including the
region near Nyquist where the usual integrator and Kellet filters drift. A 2nd-order high-pass keeps
the inaudible sub-20 Hz energy that only eats headroom and small speakers out of brown noise.

Uniform noise is used instead of Gaussian: it is five times cheaper to draw, and after the colouring
filter the central limit theorem makes it Gaussian anyway.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import optimize, signal

from bedside.synth import CHANNELS, spawn_generators
from bedside.synth.processes import stereo_noise, uniform_int16

_DESIGN_RATE = 48000
_FIT_LOW_HZ, _FIT_HIGH_HZ = 40.0, 16000.0


@dataclass(frozen=True)
class ColourDesign:
    """A noise colour as analog real pole/zero frequencies (Hz), matched to z = exp(-2πf/fs)."""

    slope_db_per_octave: float
    highpass_hz: float
    poles_hz: tuple[float, ...]
    zeros_hz: tuple[float, ...]
    integrator: bool  # one DC pole, cancelled against one of the high-pass zeros


# Fitted at 48 kHz by _fit(); other rates refine these by the same fit.
PINK = ColourDesign(-10 * np.log10(2), 12.0,
                    (29.72, 153.01, 587.80, 2235.92, 9614.44),
                    (74.15, 301.66, 1143.50, 4460.66, 182543.22), integrator=False)
BROWN = ColourDesign(-20 * np.log10(2), 25.0,
                     (0.59, 11506.21, 11514.19),
                     (13.27, 8612.40, 170001.33), integrator=True)


def _zpk(design: ColourDesign, poles_hz, zeros_hz, rate: int):
    hz, hp, hk = signal.butter(2, design.highpass_hz, "highpass", fs=rate, output="zpk")
    zeros = np.r_[hz[1:] if design.integrator else hz, np.exp(-2 * np.pi * np.asarray(zeros_hz) / rate)]
    poles = np.r_[hp, np.exp(-2 * np.pi * np.asarray(poles_hz) / rate)]
    return zeros, poles, hk


def _response_db(design: ColourDesign, poles_hz, zeros_hz, rate: int, freqs: np.ndarray) -> np.ndarray:
    zeros, poles, k = _zpk(design, poles_hz, zeros_hz, rate)
    _, h = signal.freqz_zpk(zeros, poles, k, worN=freqs, fs=rate)
    return 20 * np.log10(np.abs(h))


def _fit(design: ColourDesign, rate: int) -> ColourDesign:
    """Refit the correction poles and zeros for ``rate`` (least squares on a log-frequency grid)."""
    freqs = np.geomspace(_FIT_LOW_HZ, min(_FIT_HIGH_HZ, 0.45 * rate), 300)
    ideal = design.slope_db_per_octave * np.log2(freqs)
    n = len(design.poles_hz)

    def error(x: np.ndarray) -> np.ndarray:
        dev = _response_db(design, np.exp(x[:n]), np.exp(x[n:]), rate, freqs) - ideal
        return dev - dev.mean()

    x0 = np.log(np.r_[design.poles_hz, design.zeros_hz])
    x = optimize.least_squares(error, x0).x
    return ColourDesign(design.slope_db_per_octave, design.highpass_hz, tuple(np.exp(x[:n])),
                        tuple(np.exp(x[n:])), design.integrator)


@lru_cache(maxsize=8)
def colour_filter(design: ColourDesign, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """``(b, a)`` for one direct-form filter, normalised to unit gain at 1 kHz.

    One direct-form filter costs a third of the equivalent cascade of biquads in scipy, and with
    float64 coefficients its poles (all real, the closest 0.002 from the unit circle) stay put.
    """
    fitted = design if rate == _DESIGN_RATE else _fit(design, rate)
    zeros, poles, k = _zpk(fitted, fitted.poles_hz, fitted.zeros_hz, rate)
    b, a = signal.zpk2tf(zeros, poles, k)
    _, h = signal.freqz(b, a, worN=[1000.0], fs=rate)
    return np.real(b) / abs(h[0]), np.real(a)


class Filter:
    """A fixed IIR filter on stereo blocks that carries its state from block to block."""

    def __init__(self, b: np.ndarray, a: np.ndarray, input_mean: float = 0.0) -> None:
        self._b, self._a = np.asarray(b, dtype=np.float64), np.asarray(a, dtype=np.float64)
        # Start in the steady state for the input's mean, so a DC input makes no thump.
        self._state = np.repeat(signal.lfilter_zi(self._b, self._a)[:, None] * input_mean, CHANNELS, axis=1)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        out, self._state = signal.lfilter(self._b, self._a, block, axis=0, zi=self._state)
        return out.astype(np.float32)


class _FilteredNoise:
    """Uniform white noise through a fixed filter, independent per channel."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, b: np.ndarray, a: np.ndarray) -> None:
        (self._rng,) = spawn_generators(seed, 1)
        # Raw 16-bit integers are the cheapest uniform noise there is; scaling the filter by 1/65536
        # makes them the same as uniform noise on [-0.5, 0.5). Their mean (-0.5) is removed by the
        # filter's zero at DC, and the filter starts in the steady state for it.
        self._filter = Filter(b / 65536, a, input_mean=-0.5)

    def render(self, frames: int) -> np.ndarray:
        return self._filter(uniform_int16(self._rng, frames))


class WhiteNoise:
    """Flat spectrum: equal power per hertz. Bright and hissy."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        (self._rng,) = spawn_generators(seed, 1)

    def render(self, frames: int) -> np.ndarray:
        return stereo_noise(self._rng, frames)


class PinkNoise(_FilteredNoise):
    """Equal power per octave (−3.01 dB/octave)."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        super().__init__(rate, seed, *colour_filter(PINK, rate))


class BrownNoise(_FilteredNoise):
    """−6.02 dB/octave, with the sub-20 Hz rumble removed."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        super().__init__(rate, seed, *colour_filter(BROWN, rate))
