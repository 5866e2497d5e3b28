"""The night ahead as levels over time: what the page draws, from what the engine will do.

A fade in bedside is a straight line in dB (the engine's ramps are linear in dB), so the plan is a
polyline of (seconds from now, dB): the level now, a wake-up's rise still going, the sleep fade the
engine has scheduled (its own frames), then each scheduled event from the same schedule functions
the scheduler fires (start: fade in to its volume, and its sleep timer's fade; wake: from the
floor to its volume over rise_min; stop: down to silence over fade_min). Silence is ``SILENCE_DB``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bedside.audio.gain import SILENCE_DB, VolumeScale
from bedside.profiles import SESSION_END_FADE_S, Profile
from bedside.schedule import Event

#: How far ahead the picture looks (and at least this far past the next wake-up's rise).
HORIZON_S = 12 * 3600.0


@dataclass(frozen=True)
class Now:
    """What is playing now, as the engine has it (seconds are from now)."""

    level_db: float  # -inf (or SILENCE_DB) when nothing plays
    volume: int  # the volume step in effect (the rise's target while rising)
    rise_end_s: float | None = None  # a wake-up's rise reaches ``volume`` then
    fade: tuple[float, float] | None = None  # the sleep fade: starts, reaches silence
    session_end_s: float | None = None  # a focus session's chime: then the sound fades out
    nap: tuple[float, float, int] | None = None  # a nap's rise: begins, lasts, the volume it reaches


class _Line:
    def __init__(self, level: float) -> None:
        self.points: list[tuple[float, float]] = [(0.0, level)]

    def level_at(self, t: float) -> float:
        previous = self.points[0]
        for point in self.points:
            if point[0] >= t:
                if point[0] == previous[0]:
                    return point[1]
                share = (t - previous[0]) / (point[0] - previous[0])
                return previous[1] + share * (point[1] - previous[1])
            previous = point
        return self.points[-1][1]

    def from_(self, t: float) -> float:
        """Forget what was planned after ``t`` (a later event overrides it); the level at ``t``."""
        level = self.level_at(t)
        self.points = [p for p in self.points if p[0] < t] + [(t, level)]
        return level

    def to(self, t: float, level: float) -> None:
        self.points.append((t, level))


def _fade_to_silence(line: _Line, start: float, end: float) -> None:
    line.from_(start)
    line.to(end, SILENCE_DB)


def _start(line: _Line, at: float, target: float, fade_in_s: float) -> None:
    """A sound started at ``at``: it fades in from silence, or the volume glides (3 s) if one plays."""
    begun = line.from_(at)
    line.to(at + (fade_in_s if begun <= SILENCE_DB else 3.0), target)


def _nap_rise(line: _Line, start: float, rise: float, target: float, floor: float) -> None:
    """A nap's end: the sound gives way to the wake-up sound, from the floor up to its volume."""
    line.from_(start)
    line.to(start, floor)
    line.to(start + rise, target)


def planned_levels(now: Now, events: Sequence[tuple[float, Event]], scale: VolumeScale, fade_in_s: float,
                   timer_fade_min: float, horizon_s: float = HORIZON_S,
                   profiles: Mapping[str, Profile] | None = None) -> list[tuple[float, float]]:
    """The level in dB from now to ``horizon_s`` (and past the first wake-up's rise), as points.

    ``events`` are (seconds from now, event), in time order: the schedule's upcoming events;
    ``profiles`` what a profile entry among them starts.
    """
    level = SILENCE_DB if now.level_db == -math.inf else max(now.level_db, SILENCE_DB)
    line = _Line(level)
    volume_db = scale.to_db(now.volume) if now.volume else SILENCE_DB
    if now.rise_end_s is not None:
        line.to(now.rise_end_s, volume_db)
    if now.fade is not None:
        _fade_to_silence(line, *now.fade)
    end = horizon_s
    if now.session_end_s is not None:
        _fade_to_silence(line, now.session_end_s, now.session_end_s + SESSION_END_FADE_S)
    if now.nap is not None:
        start, rise, step = now.nap
        _nap_rise(line, start, rise, scale.to_db(step), scale.floor_db)
        end = max(end, start + rise + 1800)
    for at, event in events:
        if at > end:
            break
        entry = event.entry
        if entry.action == "profile":
            profile = (profiles or {}).get(entry.profile)
            if profile is not None:
                end = _plan_profile(line, at, profile, now, scale, fade_in_s, timer_fade_min, end)
            continue
        if entry.action == "stop":
            if line.level_at(at) > SILENCE_DB:
                _fade_to_silence(line, at, at + entry.fade_min * 60)
            continue
        target = scale.to_db(entry.volume if entry.volume is not None else max(now.volume, 1))
        if entry.action == "start":
            _start(line, at, target, fade_in_s)
            if entry.timer_min:
                expiry = at + entry.timer_min * 60
                _fade_to_silence(line, expiry - min(entry.timer_min, timer_fade_min) * 60, expiry)
        else:  # wake: from exact silence to the floor, then linear in dB to its volume
            rise = entry.rise_min * 60
            if line.from_(at) <= SILENCE_DB:
                line.to(at, scale.floor_db)
            line.to(at + rise, target)
            end = max(end, at + rise + 1800)
            if entry.stop_after_min:
                expiry = at + entry.stop_after_min * 60
                _fade_to_silence(line, max(at + rise, expiry - timer_fade_min * 60), expiry)
    last = line.level_at(end)
    line.from_(end)
    line.points[-1] = (end, last)
    return [(round(t, 1), round(db, 2)) for t, db in line.points]


def _plan_profile(line: _Line, at: float, profile: Profile, now: Now, scale: VolumeScale, fade_in_s: float,
                  timer_fade_min: float, end: float) -> float:
    """A profile started at ``at``: its sound fades in, then its timer, session or nap ends it."""
    volume = profile.volume if profile.volume is not None else max(now.volume, 1)
    _start(line, at, scale.to_db(volume), fade_in_s)
    if profile.timer_min:
        expiry = at + profile.timer_min * 60
        fade_min = profile.fade_min if profile.fade_min is not None else timer_fade_min
        _fade_to_silence(line, expiry - min(profile.timer_min, fade_min) * 60, expiry)
    if profile.session_min:
        chime = at + profile.session_min * 60
        _fade_to_silence(line, chime, chime + SESSION_END_FADE_S)
    if profile.wake_after_min:
        start, rise = at + profile.wake_after_min * 60, profile.rise_min * 60
        _nap_rise(line, start, rise, scale.to_db(profile.wake_volume or volume), scale.floor_db)
        end = max(end, start + rise + 1800)
    return end
