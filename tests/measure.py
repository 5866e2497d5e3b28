"""Measurements on real output, shared by the tests (and usable from a REPL on any WAV)."""

from __future__ import annotations

import itertools

import numpy as np
from scipy import signal

from bedside.audio.engine import Engine
from bedside.audio.loudness import LoudnessMeter
from bedside.audio.pcm import Encoder
from bedside.sounds import Sound

RATE = 48000


def colour_metrics(x: np.ndarray, rate: int, ideal_slope: float, low: float = 40.0, high: float = 16000.0):
    """Welch PSD of a mono signal → (fitted dB/octave, octave-band deviations in dB, sub-20 Hz fraction).

    The slope is a least-squares line through the PSD in dB against log2(f), each bin weighted by
    1/f so every octave counts equally. Band deviations compare the mean PSD in each octave from
    ``low`` with the mean of the ideal line over the same bins, after removing the common offset.
    """
    f, psd = signal.welch(x, fs=rate, nperseg=16384)
    sel = (f >= low) & (f <= high)
    weights = np.sqrt(1 / f[sel])
    design = np.vstack([np.log2(f[sel]), np.ones(sel.sum())]).T
    slope = np.linalg.lstsq(design * weights[:, None], 10 * np.log10(psd[sel]) * weights, rcond=None)[0][0]
    ideal = np.zeros_like(f)
    ideal[1:] = 10 ** (ideal_slope * np.log2(f[1:]) / 10)
    edges = [low * 2**k for k in range(12) if low * 2**k < high] + [high]
    devs = []
    for lo, hi in itertools.pairwise(edges):
        band = (f >= lo) & (f < hi)
        devs.append(10 * np.log10(psd[band].mean() / ideal[band].mean()))
    devs = np.array(devs) - np.mean(devs)
    sub20 = psd[f < 20].sum() / psd.sum()
    return float(slope), devs, float(sub20)


def log_envelope(x: np.ndarray, rate: int, window_s: float = 0.1) -> np.ndarray:
    """Level in dB per window (mono mix)."""
    mono = x.mean(axis=1) if x.ndim == 2 else x
    n = int(window_s * rate)
    frames = mono[: len(mono) // n * n].reshape(-1, n)
    return 10 * np.log10(np.mean(frames**2, axis=1) + 1e-20)


def envelope_autocorrelation(env: np.ndarray, window_s: float, lags_s: tuple[float, float]) -> np.ndarray:
    """Normalised autocorrelation of the log envelope at every lag in ``lags_s`` (seconds)."""
    e = env - env.mean()
    n = len(e)
    spectrum = np.fft.rfft(e, 2 * n)
    acf = np.fft.irfft(spectrum * np.conj(spectrum))[:n]
    acf /= np.arange(n, 0, -1)  # unbiased
    acf /= acf[0]
    lo, hi = (int(s / window_s) for s in lags_s)
    return acf[lo:hi + 1]


def second_difference_spikes(x: np.ndarray, positions, radius: int = 4800, guard: int = 8) -> list[float]:
    """For each position: the largest |second difference| within ``guard`` samples of it, divided by
    the 99.9th percentile of |second difference| in the ``radius`` samples around it. A seam (a jump
    in value or slope) stands far above its neighbourhood; smooth material scores around 1."""
    d2 = np.abs(np.diff(x, n=2, axis=0)).max(axis=1)
    scores = []
    for p in positions:
        near = d2[max(p - guard, 0):p + guard]
        hood = np.r_[d2[max(p - radius, 0):max(p - guard, 0)], d2[p + guard:p + radius]]
        scores.append(float(near.max() / np.quantile(hood, 0.999)))
    return scores


ENVELOPE_WINDOW = 4096  # frames: 85 ms


def render_hour_stats(sound: Sound, seconds: float = 3600.0, seed: int = 1, block: int = 16384) -> dict:
    """Render ``sound`` at volume 100 through the engine and the 16-bit encoder, streaming, and
    return what the tests check: full-scale samples, limiter use, loudness and the log envelope."""
    assert block % ENVELOPE_WINDOW == 0
    engine = Engine(RATE, volume=100)
    engine.play(sound.name, sound.make(RATE, np.random.SeedSequence(seed)), sound.calibration_db, fade_in=0.0)
    encoder = Encoder("S16_LE", seed)
    meter = LoudnessMeter(RATE, window=ENVELOPE_WINDOW)
    envelope = []
    full_scale = 0
    total = int(seconds * RATE) // block * block
    for done in range(0, total, block):
        out = engine.render(block)
        pcm = np.frombuffer(encoder.encode(out), "<i2")
        full_scale += int(np.count_nonzero((pcm == 32767) | (pcm == -32768)))
        if done >= 10 * RATE:  # loudness from 10 s on
            meter.add(out)
        mono = out.mean(axis=1, dtype=np.float64).reshape(-1, ENVELOPE_WINDOW)
        envelope.append(10 * np.log10(np.mean(mono**2, axis=1) + 1e-20))
    return {"full_scale": full_scale, "limited": engine.limited_samples, "samples": 2 * total,
            "lufs": meter.lufs, "envelope": np.concatenate(envelope),
            "short_term_lufs": meter.sliding_lufs(3.0, RATE), "ten_minute_lufs": meter.sliding_lufs(600.0, RATE)[::64],
            "envelope_window_s": ENVELOPE_WINDOW / RATE}
