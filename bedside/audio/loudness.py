"""K-weighted loudness (ITU-R BS.1770), used to make every sound equally loud at the same volume.

Raw RMS would make brown noise sound far louder than white at the same setting; K-weighting
discounts the lows and lifts the presence region roughly as the ear does. The filters are the RBJ
biquads that reproduce the BS.1770 coefficients at 48 kHz, so any sample rate works.
"""

from __future__ import annotations

import math

import numpy as np


def _high_shelf(rate: int, gain_db: float = 4.0, q: float = 1 / math.sqrt(2), fc: float = 1500.0):
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [a * ((a + 1) + (a - 1) * cos + 2 * math.sqrt(a) * alpha), -2 * a * ((a - 1) + (a + 1) * cos),
         a * ((a + 1) + (a - 1) * cos - 2 * math.sqrt(a) * alpha)]
    den = [(a + 1) - (a - 1) * cos + 2 * math.sqrt(a) * alpha, 2 * ((a - 1) - (a + 1) * cos),
           (a + 1) - (a - 1) * cos - 2 * math.sqrt(a) * alpha]
    return np.array(b) / den[0], np.array(den) / den[0]


def _high_pass(rate: int, q: float = 0.5, fc: float = 38.0):
    w0 = 2 * math.pi * fc / rate
    alpha = math.sin(w0) / (2 * q)
    cos = math.cos(w0)
    b = [(1 + cos) / 2, -(1 + cos), (1 + cos) / 2]
    den = [1 + alpha, -2 * cos, 1 - alpha]
    return np.array(b) / den[0], np.array(den) / den[0]


def k_weighting_power(rate: int, n: int) -> np.ndarray:
    """|K(f)|² at the bins of an ``n``-point real FFT."""
    z = np.exp(-2j * np.pi * np.fft.rfftfreq(n))
    power = np.ones(len(z))
    for b, a in (_high_shelf(rate), _high_pass(rate)):
        response = (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
        power *= np.abs(response) ** 2
    return power


def k_weighted_square_weights(rate: int, n: int) -> np.ndarray:
    """Weights that turn an ``n``-point block's |rfft|² into the mean square of its K-weighted
    signal (per channel): |K(f)|², doubled for the bins that stand for a negative frequency too,
    over n² (Parseval)."""
    weights = k_weighting_power(rate, n)
    weights[1:(n + 1) // 2] *= 2
    return weights / (n * n)


class LoudnessMeter:
    """Streaming ungated integrated loudness: feed blocks, read LUFS at any time (for measurements;
    it filters in the time domain with scipy, which the appliance itself never imports)."""

    def __init__(self, rate: int, channels: int = 2, window: int = 0) -> None:
        self._filters = [(b, a, np.zeros((2, channels))) for b, a in (_high_shelf(rate), _high_pass(rate))]
        self._energy = np.zeros(channels)
        self._frames = 0
        #: With ``window`` frames (blocks fed in multiples of it): the K-weighted mean square of
        #: every window, summed over channels, for short-term and sliding loudness.
        self.window = window
        self.windows: list[np.ndarray] = []

    def add(self, frames: np.ndarray) -> None:
        from scipy import signal

        out = np.asarray(frames, dtype=np.float64)
        for i, (b, a, state) in enumerate(self._filters):
            out, state = signal.lfilter(b, a, out, axis=0, zi=state)
            self._filters[i] = (b, a, state)
        squares = out * out
        self._energy += squares.sum(axis=0)
        self._frames += len(out)
        if self.window:
            self.windows.append(squares.sum(axis=1).reshape(-1, self.window).mean(axis=1))

    def sliding_lufs(self, seconds: float, rate: int) -> np.ndarray:
        """Ungated loudness of every run of windows lasting ``seconds`` (3 s: EBU short-term)."""
        power = np.concatenate(self.windows)
        span = max(1, round(seconds * rate / self.window))
        totals = np.convolve(power, np.ones(span) / span, mode="valid")
        return -0.691 + 10 * np.log10(np.maximum(totals, 1e-30))

    @property
    def lufs(self) -> float:
        """−0.691 + 10·log10(Σ over channels of the mean square of the K-weighted signal)."""
        power = float(np.sum(self._energy)) / max(self._frames, 1)
        return -0.691 + 10 * math.log10(power) if power > 0 else -math.inf


#: Frames per FFT when measuring a whole signal: long against the filters' memory (tens of ms),
#: so treating each block as periodic changes the result by far less than 0.01 dB.
_BLOCK = 1 << 18


def loudness_lufs(frames: np.ndarray, rate: int) -> float:
    """Ungated integrated loudness of a whole signal (frames × channels), in LUFS.

    K-weighted energy by Parseval's theorem, block by block: numpy FFTs, no filter state.
    """
    frames = np.asarray(frames)
    n = len(frames)
    if n == 0:
        return -math.inf
    energy = 0.0
    for start in range(0, n, _BLOCK):
        block = np.asarray(frames[start:start + _BLOCK], dtype=np.float64)
        size = len(block)
        spectrum = np.abs(np.fft.rfft(block, axis=0)) ** 2
        energy += float(np.sum(spectrum * k_weighted_square_weights(rate, size)[:, None])) * size
    power = energy / n
    return -0.691 + 10 * math.log10(power) if power > 0 else -math.inf
