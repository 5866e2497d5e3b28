"""A breathing guide carried by the sound: it swells with each inhale and settles with each exhale.

Pure functions of time (seconds since the guide began), so the engine (per sample), the LED (per
frame of light) and the tests (per breath) all read the same plan. The defaults are Dodow's, the
best-known bedside pacer: 11 breaths a minute slowing to 6 over 8 minutes, the exhale 1.5 times
the inhale (at 6 a minute: 4 s in, 6 s out). A relaxation aid, not a treatment.

The pace moves linearly in breaths per minute, one whole breath at a time: each breath lasts 60 / the
pace at its middle, its inhale exactly 1 / (1 + ratio) of it, so the pace changes smoothly, no breath
is cut short, and every exhale is ``ratio`` times its inhale. The swell only ever takes level away (0 dB at the top
of an inhale, ``-depth_db`` at the bottom of an exhale): a guide is never louder than the volume
set. Its depth comes in over the first breath and goes out over ``end_breaths`` at the end, so
neither the start nor the end is a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Breathing:
    from_bpm: float = 11.0
    to_bpm: float = 6.0
    minutes: float = 8.0
    ratio: float = 1.5  # exhale : inhale
    depth_db: float = 3.0
    end_breaths: float = 3.0  # the swell fades out over this many breaths at to_bpm

    def __post_init__(self) -> None:
        if not (1.0 <= self.to_bpm <= 30.0 and 1.0 <= self.from_bpm <= 30.0):
            raise ValueError("breaths per minute must be 1-30")
        if not 0.1 <= self.minutes <= 120.0:
            raise ValueError("minutes must be 0.1-120")
        if not 0.5 <= self.ratio <= 3.0:
            raise ValueError("the exhale:inhale ratio must be 0.5-3")
        if not 0.5 <= self.depth_db <= 12.0:
            raise ValueError("depth_db must be 0.5-12")

    @property
    def pace_s(self) -> float:
        """How long the pace moves from from_bpm to to_bpm."""
        return self.minutes * 60.0

    @property
    def seconds(self) -> float:
        """The whole guide, the fade-out breaths included."""
        end = float(self.breaths(self.pace_s)) + self.end_breaths
        return float(np.interp(end, np.arange(len(self._starts)), self._starts))

    @cached_property
    def _starts(self) -> np.ndarray:
        """When each breath begins, in seconds (a few past the end: the table the phase is read from)."""
        # Plain floats, the same arithmetic as bpm(): a 120-minute guide is ~1,000 breaths, and this
        # runs on the audio thread when the guide begins (numpy per breath took 24 ms here).
        low, span, pace_s = self.from_bpm, self.to_bpm - self.from_bpm, self.pace_s

        def bpm(at: float) -> float:
            return low + span * min(max(at / pace_s, 0.0), 1.0)

        starts, t = [0.0], 0.0
        limit = pace_s + (self.end_breaths + 2) * 60.0 / self.to_bpm
        while t < limit:
            length = 60.0 / bpm(t)
            t += 60.0 / bpm(t + length / 2)  # the pace at the breath's middle
            starts.append(t)
        return np.array(starts)

    @property
    def inhale_share(self) -> float:
        return 1.0 / (1.0 + self.ratio)

    def bpm(self, t: np.ndarray | float) -> np.ndarray:
        """The pace at ``t`` seconds: linear from from_bpm to to_bpm, then held."""
        u = np.clip(np.asarray(t, np.float64) / self.pace_s, 0.0, 1.0)
        return self.from_bpm + (self.to_bpm - self.from_bpm) * u

    def breaths(self, t: np.ndarray | float) -> np.ndarray:
        """Breaths since the start, linear in time within each breath: whole numbers are inhales
        beginning, and ``n + inhale_share`` the exhale of breath ``n``."""
        t = np.maximum(np.asarray(t, np.float64), 0.0)
        starts = self._starts
        n = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(starts) - 2)
        return n + (t - starts[n]) / (starts[n + 1] - starts[n])

    def level(self, t: np.ndarray | float) -> np.ndarray:
        """0 at the bottom of an exhale, 1 at the top of an inhale: a raised cosine each way."""
        cycle = np.mod(self.breaths(t), 1.0)
        share = self.inhale_share
        rising = (1.0 - np.cos(np.pi * cycle / share)) / 2.0
        falling = (1.0 + np.cos(np.pi * (cycle - share) / (1.0 - share))) / 2.0
        return np.where(cycle < share, rising, falling)

    def depth(self, t: np.ndarray | float) -> np.ndarray:
        """How much of the swell is there: in over the first breath, out over the last ones."""
        phase = self.breaths(t)
        into = (1.0 - np.cos(np.pi * np.clip(phase, 0.0, 1.0))) / 2.0
        end = float(self.breaths(self.pace_s))
        out = (1.0 + np.cos(np.pi * np.clip((phase - end) / self.end_breaths, 0.0, 1.0))) / 2.0
        return into * out

    def offset_db(self, t: np.ndarray | float) -> np.ndarray:
        """What the guide does to the level at ``t``, in dB (never above 0)."""
        return self.depth_db * self.depth(t) * (self.level(t) - 1.0)

    def starts_around(self, t: float, count: int = 8) -> list[float]:
        """When the breath under way at ``t`` began, and the next ``count`` starts (the page draws
        the pace from these, as the engine does, and asks again before it runs out)."""
        n = int(np.clip(np.searchsorted(self._starts, max(t, 0.0), side="right") - 1, 0, len(self._starts) - 2))
        return [round(float(x), 4) for x in self._starts[n:n + count + 1]]

    def plan(self) -> list[tuple[float, float]]:
        """(inhale starts, exhale starts) of every whole breath of the guide, in seconds."""
        starts = self._starts
        count = math.floor(float(self.breaths(self.seconds)) + 1e-9)
        return [(float(starts[n]), float(starts[n] + (starts[n + 1] - starts[n]) * self.inhale_share))
                for n in range(count)]
