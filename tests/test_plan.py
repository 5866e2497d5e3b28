"""The page's picture of the night is what will be heard: the plan's levels against the engine's
own output for the same sleep fade and the same wake-up (a constant source, so each output sample
is the gain)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, time

import numpy as np
import pytest

from bedside.audio.engine import Engine
from bedside.audio.gain import SILENCE_DB, VolumeScale
from bedside.plan import Now, planned_levels
from bedside.schedule import Entry, Event

RATE = 1000  # the engine's clock is its sample count: a low rate renders an hour in a moment


class Ones:
    def render(self, frames: int) -> np.ndarray:
        return np.ones((frames, 2), np.float32)


def heard_db(engine: Engine, seconds: float) -> np.ndarray:
    out = np.concatenate([engine.render(RATE) for _ in range(int(seconds))])[:, 0]
    with np.errstate(divide="ignore"):
        return 20 * np.log10(out.astype(np.float64))


def level_on(points: list[tuple[float, float]], t: float) -> float:
    xs, ys = zip(*points, strict=True)
    return float(np.interp(t, xs, ys))


def test_the_sleep_fade_in_the_picture_is_the_engines():
    scale = VolumeScale()
    engine = Engine(RATE, scale)
    engine.set_volume(70, ramp=0.0)
    engine.play("ones", Ones(), fade_in=0.01)
    engine.render(30 * RATE)  # the fade-in is over (25 s at this rate: 0.004 dB a sample)
    engine.set_sleep_timer(engine.now + 30 * 60 * RATE, 10 * 60 * RATE)
    start, end = engine.sleep_fade
    now = engine.now
    plan = planned_levels(Now(engine.level_db(), 70, fade=((start - now) / RATE, (end - now) / RATE)), [],
                          scale, 3.0, 10.0)
    heard = heard_db(engine, 31 * 60)
    for t in (0, 600, 1199, 1300, 1500, 1700, 1790):
        assert level_on(plan, t) == pytest.approx(heard[t * RATE], abs=0.05), t
    assert heard[1801 * RATE] == -math.inf and level_on(plan, 1801) == SILENCE_DB  # silence, on time


def test_a_wake_up_in_the_picture_rises_as_the_engine_rises():
    scale = VolumeScale()
    entry = Entry(index=0, action="wake", days=frozenset(range(7)), at=time(6, 30), volume=60, rise_min=20.0)
    event = Event(datetime(2026, 11, 27, 6, 30, tzinfo=UTC), entry, datetime(2026, 11, 27).date())
    plan = planned_levels(Now(-math.inf, 30), [(3600.0, event)], scale, 3.0, 10.0)
    assert level_on(plan, 3599) == SILENCE_DB  # nothing before it
    engine = Engine(RATE, scale)
    engine.play("ones", Ones(), fade_in=0.01)
    engine.rise(60, 20 * 60)
    heard = heard_db(engine, 25 * 60)
    for t in (30, 60, 300, 600, 900, 1199, 1260):  # (at this low rate the sound takes 25 s to come in)
        assert level_on(plan, 3600 + t) == pytest.approx(heard[t * RATE], abs=0.05), t

