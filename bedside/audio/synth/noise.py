"""Coloured noise: white, pink (−3.01 dB/octave) and brown (−6.02 dB/octave), and every filtered
noise the natural sounds are made of.

Coloured noise is synthesised in the frequency domain: each block is a spectrum of random values
shaped by the exact magnitude response wanted, turned into samples by one inverse FFT, and blocks
are joined by equal-power crossfades. The colours are therefore the ideal lines themselves, at every
sample rate (no fitted IIR approximating them, no filter design at run time), and the whole path is
numpy: no ``scipy.signal`` to import on a Raspberry Pi (it was 80 MB and most of a second there).

The blocks are independent and the crossfade keeps the power constant, so the result is stationary
noise with that spectrum; there is no loop and no seam. A 2nd-order high-pass keeps the inaudible
sub-20 Hz energy that only eats headroom and small speakers out of brown noise.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from bedside.audio.synth import CHANNELS, scale_frames, spawn_generators
from bedside.audio.synth.processes import stereo_noise

#: A magnitude response: frequencies in Hz → gain (numpy arrays).
Shape = Callable[[np.ndarray], np.ndarray]

#: Samples per synthesis block and per crossfade between blocks. A block is 0.68 s at 48 kHz (its
#: inverse FFT takes about 0.4 ms here, short enough not to hold a Pi's CPU for long, and the
#: crossfade is an eighth of it: with blocks of 16,384 a third of every block was made twice); the
#: 85 ms crossfade is longer than a period of the lowest frequency that is kept (25 Hz).
BLOCK = 32768
OVERLAP = 4096

#: The variance of uniform noise on [-0.5, 0.5): pink and brown keep the level they always had.
UNIFORM_VARIANCE = 1 / 12


def _warped(freqs: np.ndarray, rate: int) -> np.ndarray:
    """Analogue frequencies that the bilinear transform maps onto ``freqs`` (Hz → rad/s)."""
    return 2 * rate * np.tan(np.pi * np.minimum(freqs, 0.4999 * rate) / rate)


def butterworth(rate: int, kind: str, cutoff: float | tuple[float, float], order: int = 1) -> Shape:
    """The magnitude response of a digital Butterworth filter (bilinear, as ``scipy.signal.butter``).

    Closed forms of the analogue prototype at the pre-warped frequencies: no design step at all.
    """
    def shape(freqs: np.ndarray) -> np.ndarray:
        w = _warped(np.asarray(freqs, dtype=np.float64), rate)
        if kind == "bandpass":
            low, high = (float(_warped(np.array(c), rate)) for c in cutoff)  # type: ignore[union-attr]
            with np.errstate(divide="ignore", invalid="ignore"):
                q = np.abs(w * w - low * high) / (w * (high - low))
            q = np.where(w > 0, q, np.inf)
            return 1 / np.sqrt(1 + q ** (2 * order))
        ratio = w / float(_warped(np.array(cutoff), rate))
        if kind == "lowpass":
            return 1 / np.sqrt(1 + ratio ** (2 * order))
        if kind == "highpass":
            return ratio**order / np.sqrt(1 + ratio ** (2 * order))
        raise ValueError(f"unknown filter kind {kind!r}")
    return shape


def power_law(slope_db_per_octave: float, reference_hz: float = 1000.0) -> Shape:
    """A straight line on a log-frequency plot through 0 dB at ``reference_hz``."""
    exponent = slope_db_per_octave / (20 * math.log10(2))

    def shape(freqs: np.ndarray) -> np.ndarray:
        f = np.maximum(np.asarray(freqs, dtype=np.float64), 1e-3)
        return (f / reference_hz) ** exponent
    return shape


def product(*shapes: Shape) -> Shape:
    def shape(freqs: np.ndarray) -> np.ndarray:
        out = np.ones(len(freqs))
        for each in shapes:
            out = out * each(freqs)
        return out
    return shape


def layered(*layers: tuple[float, Shape]) -> Shape:
    """Several independent noises of these shapes at these levels (dB), as one shape.

    Independent noises add in power, so one noise whose power spectrum is the sum sounds the same
    as the layers played together, at the cost of one noise instead of several."""
    def shape(freqs: np.ndarray) -> np.ndarray:
        power = np.zeros(len(freqs))
        for level_db, each in layers:
            power += 10 ** (level_db / 10) * each(freqs) ** 2
        return np.sqrt(power)
    return shape


PINK_SLOPE = -10 * math.log10(2)
BROWN_SLOPE = -20 * math.log10(2)


def pink_shape(rate: int) -> Shape:
    return product(power_law(PINK_SLOPE), butterworth(rate, "highpass", 12.0, 2))


def brown_shape(rate: int) -> Shape:
    return product(power_law(BROWN_SLOPE), butterworth(rate, "highpass", 25.0, 2))


def _float32_frames(frames: np.ndarray) -> np.ndarray:
    """Interleaved float32 frames (C order) from an inverse FFT along the frames, on every numpy.

    numpy 2 hands them back so already. numpy 1.x (Debian bookworm's, which a Pi's venv takes)
    transforms in float64 along the last axis of a transposed copy, and gives column-major float64:
    float64 frames would make the samples hang on how they are asked for, and column-major ones made
    every later pass over them strided, through every layer of every sound (numpy 1.24: the 16-bit
    encoder 3.5 times as long; synthesis 10–22% cheaper since, brown 3.7 → 3.1 CPU s an audio
    hour). A column at a time, each a contiguous read: 10 µs a block, where one transposing
    ``astype`` took 75.
    """
    if frames.dtype == np.float32 and frames.flags.c_contiguous:
        return frames
    out = np.empty(frames.shape, np.float32)
    for channel in range(frames.shape[1]):
        out[:, channel] = frames[:, channel]
    return out


def _crossfade(length: int) -> tuple[np.ndarray, np.ndarray]:
    """Rising and falling equal-power legs (sin² + cos² = 1 at every sample)."""
    u = (np.arange(length) + 0.5) / length * (np.pi / 2)
    return np.sin(u).astype(np.float32), np.cos(u).astype(np.float32)


class SpectralNoise:
    """Stereo noise with the power spectrum ``variance · |shape(f)|²``, independent per channel.

    ``variance`` is that of the white noise the shape would filter: the same level as filtering
    white noise of that variance with a filter of that magnitude response. Output does not depend on
    how frames are asked for: blocks are made on the source's own grid.
    """

    def __init__(self, rate: int, seed: np.random.SeedSequence, shape: Shape, variance: float = 1.0,
                 block: int = BLOCK, overlap: int = OVERLAP) -> None:
        (self._rng,) = spawn_generators(seed, 1)
        self._block, self._overlap = block, overlap
        freqs = np.fft.rfftfreq(block, 1 / rate)
        magnitude = shape(freqs)
        magnitude[0] = 0.0  # no DC
        # irfft divides by N; the real and imaginary parts are uniform on the 256 values ±0.5 … ±127.5
        # (one random byte each, plus a half: no bias), of variance (256² − 1)/12, so a bin's power is
        # 2·(256² − 1)/12·m². For the variance of white noise filtered by m, scale by the root of
        # N·v over that. Repeated for both parts of both channels: one multiply of equal shapes.
        scale = math.sqrt(block * variance / (2 * (256.0**2 - 1) / 12))
        self._magnitude = np.repeat((magnitude * scale).astype(np.float32)[:, None], 2 * CHANNELS, axis=1)
        self._fade_in, self._fade_out = _crossfade(overlap)
        window = np.ones(block)
        window[:overlap], window[-overlap:] = self._fade_in, self._fade_out
        # The block's windowed sum, read off its spectrum: Σ w·x = Re Σ_k c_k·X_k·conj(W_k) / N
        # (c_k = 2 but for DC and Nyquist, W the window's spectrum). Setting the DC bin to minus
        # that sum, scaled, shifts the block so the sum is zero with no pass over the samples.
        weights = np.fft.rfft(window) * np.where(np.arange(len(freqs)) % (block // 2) == 0, 1.0, 2.0)
        self._dc_weights = (weights / block).conj().astype(np.complex64)  # conjugated once, not per block
        self._dc_scale = np.float32(-block / window.sum())
        self._tail: np.ndarray | None = None  # the faded end of the last block, waiting for the next
        # Start at a random point of the first block, so that the layers of one sound (surf has
        # three) do not all need their next block, and its FFT, in the same chunk.
        self._ready = self._next_block()[int(self._rng.integers(0, block - 2 * overlap)):]

    def _next_block(self) -> np.ndarray:
        """Frames ready for output: one block's body, its head crossfaded with the previous tail."""
        bins = len(self._magnitude)
        # The spectrum is laid out (bins, channels), so the inverse FFT along the bins gives
        # interleaved frames at once: no transposing copy of the block.
        # One byte per part: a bin's value needs no finer grain, the samples are sums of thousands.
        raw = np.frombuffer(self._rng.bytes(2 * CHANNELS * bins), np.int8).astype(np.float32)
        raw += np.float32(0.5)
        raw = raw.reshape(bins, 2 * CHANNELS)
        raw *= self._magnitude
        spectrum = raw.view(np.complex64)
        # Make the right channel exactly uncorrelated with the left in each block (Gram-Schmidt on
        # the spectra). Two independent draws of a deep noise still correlate by chance (±0.02 over
        # 30 s of brown), and that is heard as the stereo image wandering; now it holds still.
        gram = spectrum[:, 0].conj() @ spectrum
        spectrum[:, 1] -= np.float32(gram[1].real / max(float(gram[0].real), 1e-30)) * spectrum[:, 0]
        # No DC: the spectrum has none, but the crossfade window would let a little through. The
        # DC bin shifts the block so its windowed sum is exactly zero, and the long-run mean stays
        # at zero (as a filter with a zero at DC keeps it).
        spectrum[0] = (self._dc_weights @ spectrum).real * self._dc_scale
        frames = _float32_frames(np.fft.irfft(spectrum, n=self._block, axis=0))
        v = self._overlap
        scale_frames(frames[:v], self._fade_in)
        scale_frames(frames[-v:], self._fade_out)
        if self._tail is not None:
            frames[:v] += self._tail
        self._tail = frames[-v:]
        return frames[:-v]

    def render(self, frames: int) -> np.ndarray:
        parts, have = [], 0
        ready = self._ready
        while have + len(ready) < frames:
            parts.append(ready)
            have += len(ready)
            ready = self._next_block()
        take = frames - have
        parts.append(ready[:take])
        self._ready = ready[take:]
        return parts[0].copy() if len(parts) == 1 else np.concatenate(parts)


class WhiteNoise:
    """Flat spectrum: equal power per hertz. Bright and hissy."""

    def __init__(self, rate: int, seed: np.random.SeedSequence) -> None:
        (self._rng,) = spawn_generators(seed, 1)

    def render(self, frames: int) -> np.ndarray:
        return stereo_noise(self._rng, frames)


class PinkNoise(SpectralNoise):
    """Equal power per octave (−3.01 dB/octave), unit gain at 1 kHz."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, *also: Shape) -> None:
        super().__init__(rate, seed, product(pink_shape(rate), *also), UNIFORM_VARIANCE)


class BrownNoise(SpectralNoise):
    """−6.02 dB/octave, unit gain at 1 kHz, with the sub-20 Hz rumble removed."""

    def __init__(self, rate: int, seed: np.random.SeedSequence, *also: Shape) -> None:
        super().__init__(rate, seed, product(brown_shape(rate), *also), UNIFORM_VARIANCE)
