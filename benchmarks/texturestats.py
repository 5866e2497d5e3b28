"""Sound-texture statistics after McDermott & Simoncelli (2011), in plain numpy.

"Sound texture perception via statistics of the auditory periphery" showed that listeners recognise
rain, surf, wind or a stream from a small set of statistics of the cochlear envelopes, and that
sounds synthesised to match them are heard as the real thing. So they are the yardstick for
bedside's natural sounds: the signal is split into ERB-spaced bands, each band's envelope is
compressed (^0.3, like the cochlea) and the statistics below are taken of it.

Groups (each a vector; a distance is the RMS difference of two vectors):

- ``spectrum``: each band's power in dB relative to the total (the timbre).
- ``cv``, ``skew``, ``kurtosis``: the envelope's marginal moments per band (how steady, how
  sparse: a drop or a bubble is a rare loud moment, so high skew and kurtosis).
- ``correlation``: the mean envelope correlation of bands 1, 2, 4, 8 and 16 bands apart (does a
  wave lift every band together, or does each band move by itself?).
- ``modulation``: envelope power in octave modulation bands 0.125–64 Hz relative to the envelope's
  mean squared, in dB, averaged over the cochlear bands (how fast and how deep it moves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

BANDS = 30
LOW_HZ, HIGH_HZ = 80.0, 8000.0
ENVELOPE_HZ = 400.0
MODULATION_HZ = tuple(0.125 * 2**k for k in range(10))  # 0.125 … 64 Hz octave bands
CORRELATION_LAGS = (1, 2, 4, 8, 16)
GROUPS = ("spectrum", "cv", "skew", "kurtosis", "correlation", "modulation")


def _erb_number(hz: np.ndarray | float) -> np.ndarray:
    return 21.4 * np.log10(1 + 0.00437 * np.asarray(hz, dtype=np.float64))


def _erb_to_hz(erb: np.ndarray) -> np.ndarray:
    return (10 ** (erb / 21.4) - 1) / 0.00437


def band_centres() -> np.ndarray:
    """ERB-spaced centre frequencies from LOW_HZ to HIGH_HZ."""
    return _erb_to_hz(np.linspace(_erb_number(LOW_HZ), _erb_number(HIGH_HZ), BANDS))


@dataclass(frozen=True)
class Texture:
    """The statistics of one excerpt, one vector per group."""

    spectrum: np.ndarray
    cv: np.ndarray
    skew: np.ndarray
    kurtosis: np.ndarray
    correlation: np.ndarray
    modulation: np.ndarray

    def group(self, name: str) -> np.ndarray:
        return getattr(self, name)

    def to_json(self) -> dict[str, list[float]]:
        return {name: [round(float(v), 4) for v in self.group(name)] for name in GROUPS}

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> Texture:
        return cls(**{name: np.asarray(data[name], dtype=np.float64) for name in GROUPS})


def _band_envelopes(mono: np.ndarray, rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Compressed band envelopes at ENVELOPE_HZ (bands × samples) and each band's power.

    Each band is a half-cosine window on the ERB scale spanning its neighbours' centres (the
    windows' squares sum to one, as in McDermott & Simoncelli's filter bank), applied to the
    whole-signal spectrum. Only the positive frequencies are kept, so the inverse transform is the
    analytic signal; it is taken on a short frequency window shifted to base band (any rate above
    the band's width samples the envelope exactly), then brought to ENVELOPE_HZ.
    """
    n = len(mono)
    spectrum = np.fft.rfft(mono - mono.mean())
    freqs = np.fft.rfftfreq(n, 1 / rate)
    erb = _erb_number(freqs)
    centres = _erb_number(band_centres())
    step = centres[1] - centres[0]
    duration = n / rate
    env_len = int(duration * ENVELOPE_HZ)
    envelopes = np.empty((BANDS, env_len))
    powers = np.empty(BANDS)
    for b, centre in enumerate(centres):
        inside = np.abs(erb - centre) < step
        idx = np.flatnonzero(inside)
        weights = np.cos((erb[idx] - centre) / step * (math.pi / 2))
        band = spectrum[idx] * weights
        powers[b] = float(np.sum(np.abs(band) ** 2))
        width = max(len(idx), 16)
        size = 1 << math.ceil(math.log2(width * 2))  # base-band rate ≥ twice the band's width
        baseband = np.zeros(size, dtype=np.complex128)
        baseband[: len(idx)] = band
        analytic = np.fft.ifft(baseband) * (size / n) * 2
        envelope = np.abs(analytic) ** 0.3
        # Resample the envelope (at size/duration Hz) to ENVELOPE_HZ, low-passing at half of it.
        env_spec = np.fft.rfft(envelope)
        keep = min(len(env_spec), env_len // 2 + 1)
        envelopes[b] = np.fft.irfft(env_spec[:keep], env_len) * (env_len / size)
    return envelopes, powers


def _modulation_power(envelopes: np.ndarray) -> np.ndarray:
    """Power of each band's envelope in octave bands around MODULATION_HZ, re its mean², in dB."""
    n = envelopes.shape[1]
    spectra = np.abs(np.fft.rfft(envelopes - envelopes.mean(axis=1, keepdims=True), axis=1)) ** 2
    freqs = np.fft.rfftfreq(n, 1 / ENVELOPE_HZ)
    mean_sq = envelopes.mean(axis=1) ** 2
    out = np.empty((envelopes.shape[0], len(MODULATION_HZ)))
    for k, centre in enumerate(MODULATION_HZ):
        band = (freqs >= centre / math.sqrt(2)) & (freqs < centre * math.sqrt(2))
        power = spectra[:, band].sum(axis=1) * 2 / n**2  # Parseval: variance in that band
        out[:, k] = 10 * np.log10(power / mean_sq + 1e-12)
    return out


def texture(samples: np.ndarray, rate: int) -> Texture:
    """The statistics of an excerpt (mono or stereo float; stereo is averaged)."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    envelopes, powers = _band_envelopes(np.asarray(mono, dtype=np.float64), rate)
    edge = int(ENVELOPE_HZ)  # one second at each end: the FFT's wrap-around
    body = envelopes[:, edge:-edge] if envelopes.shape[1] > 4 * edge else envelopes
    mean = body.mean(axis=1)
    centred = body - mean[:, None]
    std = centred.std(axis=1)
    skew = (centred**3).mean(axis=1) / std**3
    kurtosis = (centred**4).mean(axis=1) / std**4
    corr = np.corrcoef(body)
    by_lag = [float(np.mean(np.diagonal(corr, lag))) for lag in CORRELATION_LAGS]
    return Texture(
        spectrum=10 * np.log10(powers / powers.sum() + 1e-12),
        cv=std / mean,
        skew=skew,
        kurtosis=np.log2(kurtosis),  # log: a kurtosis of 30 and one of 15 differ as 6 and 3 do
        correlation=np.asarray(by_lag),
        modulation=_modulation_power(body).mean(axis=0),
    )


def group_distance(a: Texture, b: Texture, name: str) -> float:
    """The RMS difference of one group's vectors, in the group's own unit (dB, CV, …)."""
    return float(np.sqrt(np.mean((a.group(name) - b.group(name)) ** 2)))


@dataclass(frozen=True)
class Reference:
    """A real recording's excerpt: its class, the recording it was cut from, its statistics."""

    name: str
    kind: str
    recording: str
    texture: Texture


def normalisers(references: list[Reference]) -> dict[str, float]:
    """Per group, the median distance between real recordings of *different* classes.

    Dividing by it makes 1 mean "as different as two unrelated real textures", whatever the
    group's unit.
    """
    out = {}
    for name in GROUPS:
        pairs = [group_distance(a.texture, b.texture, name)
                 for i, a in enumerate(references) for b in references[i + 1:] if a.kind != b.kind]
        out[name] = float(np.median(pairs))
    return out


def distance(a: Texture, b: Texture, scale: dict[str, float]) -> dict[str, float]:
    """Normalised distance per group, and their mean under the key ``"all"``."""
    out = {name: group_distance(a, b, name) / scale[name] for name in GROUPS}
    out["all"] = float(np.mean([out[name] for name in GROUPS]))
    return out


def class_spread(references: list[Reference], kind: str, scale: dict[str, float]) -> dict[str, float]:
    """Per group, the largest distance between two different real recordings of one class."""
    members = [r for r in references if r.kind == kind]
    pairs = [distance(a.texture, b.texture, scale)
             for i, a in enumerate(members) for b in members[i + 1:] if a.recording != b.recording]
    return {name: max((d[name] for d in pairs), default=0.0) for name in (*GROUPS, "all")}


def class_fit(sound: Texture, references: list[Reference], kind: str,
              scale: dict[str, float]) -> dict[str, tuple[float, float]]:
    """Per group: (distance to the nearest real recording of the class, the class's spread).

    A sound belongs to the class in a group when the first is at most the second: it is no further
    from some real recording than two real recordings of the class are from each other.
    """
    spread = class_spread(references, kind, scale)
    to_members = [distance(sound, r.texture, scale) for r in references if r.kind == kind]
    return {name: (min(d[name] for d in to_members), spread[name]) for name in (*GROUPS, "all")}


def nearest_sound(reference: Reference, sounds: dict[str, Texture], scale: dict[str, float]) -> tuple[str, float]:
    """The bedside sound closest to a real recording over all groups, and its distance."""
    scored = {name: distance(reference.texture, tex, scale)["all"] for name, tex in sounds.items()}
    best = min(scored, key=scored.__getitem__)
    return best, scored[best]
