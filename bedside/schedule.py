"""Schedules as pure functions: entries and a time zone in, the instants they fire at out.

No clock is read here (the scheduler passes ``now``), so every rule — the ``days`` forms, a time
that does not exist on a spring-forward night, one that happens twice on a fall-back night, what a
late start may still catch up — is a function of its arguments and tested as such.

Each occurrence is one (entry, local date) pair with exactly one instant in UTC, so an entry can
fire at most once per local day whatever the wall clock does (DST, an NTP step, a clock set back).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bedside.declare import Between, setting

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_FORMS = {
    "daily": frozenset(range(7)),
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
ACTIONS = ("start", "wake", "stop", "profile")
#: What each action does (the example config's words; its keys are declared on :class:`Entry`).
ACTION_DOCS = {
    "start": "starts a sound; if something already plays, it crossfades and the volume glides. Its keys:",
    "wake": "the sound rises from exact silence, linear in dB, from the volume floor to its volume; any button "
            "pressed during a wake-up stops it with the usual fade. Its keys:",
    "stop": "fades to silence and stops, if anything plays. Its key:",
    "profile": "starts a profile (see [[profile]] below: sleep, unwind, focus, nap or your own). Its key:",
}
HHMM = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
#: The pattern Home Assistant's text entity checks before it sends a wake time.
HHMM_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
#: How far back a clock that jumped forward is looked at for events it skipped (to log them): a
#: clock that jumps years must not make the scheduler walk every day in between.
LOOK_BACK = timedelta(days=7)
#: A spring-forward gap is never longer than this (real ones are 30 min to 2 h).
MAX_GAP = timedelta(hours=3)


@dataclass(frozen=True)
class Entry:
    """One ``[[schedule]]`` entry, validated (see :mod:`bedside.config`)."""

    index: int  # its place in the config: how logs and errors name it (schedule[0])
    action: str  # start | wake | stop
    days: frozenset[int]  # 0 = Monday
    at: time
    sound: str | None = setting(None, 'The sound (default: the last one; a wake-up\'s: "birds").', kind=str,
                                actions=("start", "wake"))
    volume: int | None = setting(None, "1–100 (default: the last volume).", Between(1, 100), kind=int,
                                 actions=("start", "wake"))
    timer_min: float = setting(0.0, "A sleep timer in minutes, 0–1440 (0 = none).", Between(0.0, 1440.0),
                               actions=("start",))
    breathe_min: float = setting(0.0, "A breathing guide on the sound: its pace slows from 11 to 6 breaths a minute "
                                      "over this many minutes, 0.1–120 (0 = none).", Between(0.0, 120.0),
                                 actions=("start",))
    rise_min: float = setting(20.0, "Minutes from the volume floor to the volume, 0.1–180.", Between(0.1, 180.0),
                              actions=("wake",))
    stop_after_min: float = setting(0.0, "Fade it out this many minutes after the wake time, 0–1440 and longer "
                                         "than rise_min (0 = play on).", Between(0.0, 1440.0), actions=("wake",))
    brighten: bool = setting(False, "true: also open a low-pass from 400 Hz to 18 kHz as it rises (dawn after the "
                                    "night's darkening).", actions=("wake",))
    snooze_min: float = setting(9.0, "A long press of play snoozes it this many minutes, 0.1–60; then it rises "
                                     "again (over at most 2 minutes).", Between(0.1, 60.0), actions=("wake",))
    fade_min: float = setting(10.0, "Fade to silence over this many minutes, 0.05–240.", Between(0.05, 240.0),
                              actions=("stop",))
    profile: str = setting("sleep", "The profile's name.", actions=("profile",))

    @property
    def name(self) -> str:
        return f"schedule[{self.index}]"

    def describe(self) -> str:
        """What it does, in the words ``bedside schedule`` prints."""
        sound = self.sound or ("the last sound" if self.action == "start" else "birds")
        volume = f" at volume {self.volume}" if self.volume is not None else ""
        if self.action == "start":
            timer = f", sleep timer {self.timer_min:g} min" if self.timer_min else ""
            guide = f", breathing guide {self.breathe_min:g} min" if self.breathe_min else ""
            return f"start {sound}{volume}{timer}{guide}"
        if self.action == "wake":
            after = f", stop after {self.stop_after_min:g} min" if self.stop_after_min else ""
            bright = ", brightening" if self.brighten else ""
            return f"wake-up: {sound} rising from silence{volume} over {self.rise_min:g} min{bright}{after}"
        if self.action == "profile":
            return f"profile {self.profile}"
        return f"fade out over {self.fade_min:g} min and stop"


def parse_days(value: object) -> frozenset[int]:
    """``"daily"``, ``"weekdays"``, ``"weekends"``, or a list of ``"mon"``…``"sun"``; ValueError else."""
    if isinstance(value, str):
        if value in DAY_FORMS:
            return DAY_FORMS[value]
        raise ValueError(f"must be {', '.join(map(repr, DAY_FORMS))} or a list of day names")
    if not isinstance(value, list) or not value or len(value) > 7:
        raise ValueError(f"must be {', '.join(map(repr, DAY_FORMS))} or a list of 1-7 of {', '.join(DAY_NAMES)}")
    days = set()
    for day in value:
        if not isinstance(day, str) or day.lower() not in DAY_NAMES:
            raise ValueError(f"{str(day)[:20]!r} is not a day; use {', '.join(DAY_NAMES)}")
        days.add(DAY_NAMES.index(day.lower()))
    return frozenset(days)


def parse_hhmm(value: object) -> time:
    """``"HH:MM"`` (24-hour) to a time; ValueError else."""
    match = HHMM.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("must be a 24-hour time \"HH:MM\", e.g. \"06:45\"")
    return time(int(match[1]), int(match[2]))


@dataclass(frozen=True)
class Event:
    """One firing of an entry."""

    when: datetime  # UTC
    entry: Entry
    day: date  # the local date it belongs to
    shifted: bool = False  # the written time did not exist that day (spring forward): moved later

    def local(self, zone: ZoneInfo) -> datetime:
        return self.when.astimezone(zone)


def _exists(wall: datetime, zone: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=zone)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == wall


def occurrence(day: date, at: time, zone: ZoneInfo) -> tuple[datetime, bool]:
    """The UTC instant of ``at`` on local ``day``, and whether it was moved.

    A time that happens twice (fall back) is its first occurrence; a time that does not exist
    (spring forward) is the first valid minute after it.
    """
    wall = datetime.combine(day, at)
    shifted = False
    if not _exists(wall, zone):
        shifted = True
        step = wall
        while step - wall <= MAX_GAP:
            step += timedelta(minutes=1)
            if _exists(step, zone):
                wall = step
                break
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC), shifted


def events_between(start: datetime, end: datetime, zone: ZoneInfo, entries: Iterable[Entry]) -> list[Event]:
    """Every event with ``start < when <= end`` (aware datetimes), in time order."""
    if end <= start:
        return []
    first = start.astimezone(zone).date() - timedelta(days=1)
    last = end.astimezone(zone).date() + timedelta(days=1)
    entries = list(entries)
    found = []
    day = first
    while day <= last:
        for entry in entries:
            if day.weekday() in entry.days:
                when, shifted = occurrence(day, entry.at, zone)
                if start < when <= end:
                    found.append(Event(when, entry, day, shifted))
        day += timedelta(days=1)
    return sorted(found, key=lambda e: (e.when, e.entry.index))


def upcoming(now: datetime, zone: ZoneInfo, entries: Iterable[Entry], days: int = 7) -> list[Event]:
    """The events of the next ``days`` days after ``now``."""
    return events_between(now, now + timedelta(days=days), zone, entries)


def next_event(now: datetime, zone: ZoneInfo, entries: Sequence[Entry], action: str | None = None) -> Event | None:
    """The first event after ``now`` (of one ``action``, if given) within eight days."""
    chosen = [e for e in entries if action is None or e.action == action]
    found = events_between(now, now + timedelta(days=8), zone, chosen)
    return found[0] if found else None


@dataclass(frozen=True)
class Due:
    """What the scheduler must do now: events to run (with how late they are) and events missed."""

    run: tuple[tuple[Event, timedelta], ...]
    skipped: tuple[Event, ...]


def due(handled_until: datetime | None, now: datetime, zone: ZoneInfo, entries: Sequence[Entry],
        catch_up: timedelta) -> Due:
    """Events since the last one handled: those at most ``catch_up`` late run, older ones are skipped.

    ``handled_until`` is the instant of the last event handled (persisted), so a restart neither
    repeats an event nor forgets one; a clock set back never re-runs what already ran (it stays
    below ``handled_until``). Without a record, only the catch-up window is looked at.
    """
    start = max(handled_until if handled_until is not None else now - catch_up, now - LOOK_BACK)
    run, skipped = [], []
    for event in events_between(start, now, zone, entries):
        late = now - event.when
        if late <= catch_up:
            run.append((event, late))
        else:
            skipped.append(event)
    return Due(tuple(run), tuple(skipped))


@dataclass(frozen=True)
class WakeOverride:
    """The wake-up as Home Assistant last set it; ``None`` fields mean "as in the config"."""

    enabled: bool | None = None
    at: str | None = None


#: A wake-up set from Home Assistant when the config has none: daily, birds, over 20 minutes.
DEFAULT_WAKE = Entry(index=-1, action="wake", days=DAY_FORMS["daily"], at=time(7, 0), sound="birds")


def effective(entries: Sequence[Entry], override: WakeOverride) -> tuple[Entry, ...]:
    """The config's entries with Home Assistant's wake-up settings applied.

    ``at`` moves the first wake entry (or adds a daily one, when the config has none); ``enabled =
    False`` leaves every wake entry out, ``True`` with no wake-up anywhere adds the default one.
    """
    out = list(entries)
    first = next((i for i, e in enumerate(out) if e.action == "wake"), None)
    if override.at is not None:
        at = parse_hhmm(override.at)
        if first is None:
            out.append(replace(DEFAULT_WAKE, index=len(out), at=at))
        else:
            out[first] = replace(out[first], at=at)
    elif override.enabled and first is None:  # switched on with no time anywhere: the default one
        out.append(replace(DEFAULT_WAKE, index=len(out)))
    if override.enabled is False:
        out = [e for e in out if e.action != "wake"]
    return tuple(out)


def wake_time(entries: Sequence[Entry], override: WakeOverride) -> str:
    """The wake time as Home Assistant shows it (switched off or not): the override, else the first
    wake entry's, else ""."""
    shown = effective(entries, WakeOverride(None if override.enabled is False else override.enabled, override.at))
    first = next((e for e in shown if e.action == "wake"), None)
    return first.at.strftime("%H:%M") if first is not None else ""
