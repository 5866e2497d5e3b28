"""Schedule resolution as pure functions: (now, zone, entries) → events, on ordinary and DST days,
with every ``days`` form; what a late start catches up; the scheduler on a clock of the test's own."""

from __future__ import annotations

import logging
import tomllib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bedside.commands import Batch, FadeOut, Play, ScheduleStatus, SetTimer, SetVolume, State, Wake
from bedside.config import ConfigError, parse
from bedside.events import Reason, Snapshot
from bedside.schedule import (
    Entry,
    WakeOverride,
    due,
    effective,
    events_between,
    next_event,
    occurrence,
    parse_days,
    upcoming,
    wake_time,
)
from bedside.scheduler import Scheduler, command_for

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def entry(at: str, days="daily", action="wake", index=0, **fields) -> Entry:
    hh, mm = map(int, at.split(":"))
    return Entry(index=index, action=action, days=parse_days(days), at=time(hh, mm), **fields)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- days and times ----------------------------------------------------------------------------

@pytest.mark.parametrize(("days", "weekdays"), [
    ("daily", {0, 1, 2, 3, 4, 5, 6}), ("weekdays", {0, 1, 2, 3, 4}), ("weekends", {5, 6}),
    (["mon", "wed", "fri"], {0, 2, 4}), (["SUN"], {6}),
])
def test_every_days_form_fires_on_exactly_its_days(days, weekdays):
    start = datetime(2026, 11, 23, 0, 0, tzinfo=LONDON)  # a Monday
    events = upcoming(start.astimezone(UTC), LONDON, [entry("06:30", days)], days=14)
    assert {e.local(LONDON).weekday() for e in events} == weekdays
    assert len(events) == 2 * len(weekdays)  # two weeks: once per day, no more
    assert all(e.local(LONDON).time() == time(6, 30) for e in events)


@pytest.mark.parametrize("bad", ["everyday", [], ["mon", "mon2"], [1], "mon", ["mon"] * 8, None])
def test_bad_days_are_refused(bad):
    with pytest.raises(ValueError):
        parse_days(bad)


# -- DST ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("zone", "day", "written", "fires_utc"), [
    # London springs forward at 01:00 GMT on 29 March 2026: 01:00–01:59 do not exist.
    (LONDON, date(2026, 3, 29), "01:30", utc(2026, 3, 29, 1, 0)),  # = 02:00 BST, the first valid minute
    # New York springs forward at 02:00 EST on 8 March 2026: 02:00–02:59 do not exist.
    (NEW_YORK, date(2026, 3, 8), "02:30", utc(2026, 3, 8, 7, 0)),  # = 03:00 EDT
])
def test_a_time_that_does_not_exist_fires_once_at_the_first_valid_minute_after_it(zone, day, written, fires_utc):
    e = entry(written)
    events = events_between(datetime.combine(day, time(0, 0), zone), datetime.combine(day, time(23, 59), zone),
                            zone, [e])
    assert len(events) == 1
    assert events[0].when == fires_utc and events[0].shifted
    assert occurrence(day + timedelta(days=1), e.at, zone)[1] is False  # the next day: as written


@pytest.mark.parametrize(("zone", "day", "written", "first_utc"), [
    # London falls back at 02:00 BST on 25 October 2026: 01:00–01:59 happen twice.
    (LONDON, date(2026, 10, 25), "01:30", utc(2026, 10, 25, 0, 30)),
    # New York falls back at 02:00 EDT on 1 November 2026.
    (NEW_YORK, date(2026, 11, 1), "01:30", utc(2026, 11, 1, 5, 30)),
])
def test_a_time_that_happens_twice_fires_once_at_its_first_occurrence(zone, day, written, first_utc):
    events = events_between(datetime.combine(day, time(0, 0), zone) - timedelta(hours=1),
                            datetime.combine(day, time(23, 0), zone), zone, [entry(written)])
    assert [e.when for e in events] == [first_utc]
    # The scheduler, looking every minute through the repeated hour, runs it once.
    handled, runs = None, 0
    now = first_utc - timedelta(minutes=5)
    while now < first_utc + timedelta(hours=2):
        found = due(handled, now, zone, [entry(written)], timedelta(minutes=15))
        runs += len(found.run)
        if found.run:
            handled = found.run[-1][0].when
        now += timedelta(minutes=1)
    assert runs == 1


@pytest.mark.parametrize("zone", [LONDON, NEW_YORK])
def test_a_daily_wake_up_stays_at_its_local_time_across_both_dst_changes(zone):
    events = upcoming(datetime(2026, 3, 1, tzinfo=UTC), zone, [entry("06:30")], days=300)
    assert len(events) == 300
    assert {e.local(zone).time() for e in events} == {time(6, 30)}
    offsets = {e.local(zone).utcoffset() for e in events}
    assert len(offsets) == 2  # the UTC instant moved with summer time, the local time did not


# -- what is due --------------------------------------------------------------------------------

CATCH_UP = timedelta(minutes=15)


def test_a_wake_up_missed_by_less_than_catch_up_runs_shortened():
    e = entry("06:30", rise_min=20.0, stop_after_min=60.0)
    at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    found = due(at - timedelta(days=1), at + timedelta(minutes=5), LONDON, [e], CATCH_UP)
    assert len(found.run) == 1 and not found.skipped
    event, late = found.run[0]
    command = command_for(event, late)
    assert isinstance(command, Wake)
    assert command.rise_s == pytest.approx(15 * 60)  # it reaches its volume when it would have
    assert command.stop_after_s == pytest.approx(55 * 60)


def test_an_event_missed_by_more_than_catch_up_is_skipped():
    at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    found = due(at - timedelta(days=1), at + timedelta(minutes=16), LONDON, [entry("06:30")], CATCH_UP)
    assert not found.run and [e.when for e in found.skipped] == [at]


def test_a_clock_set_back_never_runs_an_event_twice():
    at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    first = due(at - timedelta(minutes=1), at, LONDON, [entry("06:30")], CATCH_UP)
    assert len(first.run) == 1
    handled = at
    for back in (timedelta(minutes=30), timedelta(hours=5)):  # an NTP step back, a wrong RTC
        now = at - back
        while now <= at + timedelta(minutes=10):
            assert not due(handled, now, LONDON, [entry("06:30")], CATCH_UP).run
            now += timedelta(minutes=1)


def test_a_clock_jumping_years_forward_looks_back_only_a_week():
    now = utc(2026, 11, 26, 12, 0)
    found = due(utc(1970, 1, 1), now, LONDON, [entry("06:30")], CATCH_UP)
    assert len(found.skipped) <= 8 and not found.run


def test_start_and_stop_entries_become_their_commands():
    start = entry("22:30", action="start", sound="rain", volume=25, timer_min=60.0)
    stop = entry("23:45", action="stop", index=1, fade_min=20.0)
    events = upcoming(utc(2026, 11, 26, 12, 0), LONDON, [start, stop], days=1)
    assert command_for(events[0], timedelta(0)) == Batch((SetVolume(25, 3.0), Play("rain"), SetTimer(60.0)))
    assert command_for(events[1], timedelta(0)) == FadeOut(1200.0)


def test_a_start_entry_can_begin_a_breathing_guide():
    """`breathe_min` on a start: the sound, then the guide on it (pace slowing over that many minutes)."""
    from bedside.commands import Breathe

    start = entry("22:30", action="start", sound="rain", breathe_min=8.0)
    event = upcoming(utc(2026, 11, 26, 12, 0), LONDON, [start], days=1)[0]
    assert command_for(event, timedelta(0)) == Batch((Play("rain"), Breathe(minutes=8.0)))
    assert "breathing guide 8 min" in start.describe()
    parsed = parse(tomllib.loads('[[schedule]]\naction = "start"\ndays = "daily"\nat = "22:30"\nbreathe_min = 8\n'))
    assert parsed.schedule[0].breathe_min == 8.0
    with pytest.raises(ConfigError, match="breathe_min"):
        parse(tomllib.loads('[[schedule]]\naction = "wake"\ndays = "daily"\nat = "06:30"\nbreathe_min = 8\n'))


# -- Home Assistant's wake-up settings ----------------------------------------------------------

def test_the_override_moves_the_first_wake_up_or_adds_one_and_switching_off_removes_them():
    config = [entry("22:30", action="start"), entry("06:30", index=1), entry("09:00", "weekends", index=2)]
    moved = effective(config, WakeOverride(at="05:45"))
    assert [e.at for e in moved] == [time(22, 30), time(5, 45), time(9, 0)]
    assert [e.action for e in effective(config, WakeOverride(enabled=False))] == ["start"]
    assert wake_time(config, WakeOverride(enabled=False)) == "06:30"  # still shown, switched off
    added = effective([], WakeOverride(at="07:15"))
    assert len(added) == 1 and added[0].action == "wake" and added[0].at == time(7, 15)
    assert effective([], WakeOverride(enabled=True))[0].at == time(7, 0)
    assert wake_time([], WakeOverride()) == ""
    assert next_event(utc(2026, 11, 26, 12, 0), LONDON, effective(config, WakeOverride()), "wake").entry.index == 1


# -- the config ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "key"), [
    ('[[schedule]]\naction = "wake"\ndays = "daily"\nat = "6:30"', "schedule[0].at"),
    ('[[schedule]]\naction = "wake"\ndays = "daily"\nat = "24:00"', "schedule[0].at"),
    ('[[schedule]]\naction = "wake"\ndays = "daily"', "schedule[0].at"),
    ('[[schedule]]\naction = "wake"\ndays = "sometimes"\nat = "06:30"', "schedule[0].days"),
    ('[[schedule]]\naction = "nap"\ndays = "daily"\nat = "06:30"', "schedule[0].action"),
    ('[[schedule]]\naction = "stop"\ndays = "daily"\nat = "06:30"\nrise_min = 5', "schedule[0].rise_min"),
    ('[[schedule]]\naction = "wake"\ndays = "daily"\nat = "06:30"\nrise_min = 1e300', "schedule[0].rise_min"),
    ('[[schedule]]\naction = "wake"\ndays = "daily"\nat = "06:30"\nrise_min = 30\nstop_after_min = 20',
     "schedule[0].stop_after_min"),
    ('[[schedule]]\naction = "start"\ndays = "daily"\nat = "06:30"\nvolume = 0', "schedule[0].volume"),
    ('[[schedule]]\naction = "start"\ndays = "daily"\nat = "06:30"\nsound = "a\\u0000b"', "schedule[0].sound"),
    ('[clock]\ntimezone = "../../etc/passwd"', "clock.timezone"),
    ('[clock]\ncatch_up_min = -1', "clock.catch_up_min"),
    ("schedule = 3", "schedule"),
])
def test_bad_entries_name_the_entry_and_the_key(text, key):
    with pytest.raises(ConfigError) as error:
        parse(tomllib.loads(text))
    assert error.value.key == key


def test_too_many_entries_are_refused():
    text = '[[schedule]]\naction = "stop"\ndays = "daily"\nat = "06:30"\n' * 65
    with pytest.raises(ConfigError, match="at most 64"):
        parse(tomllib.loads(text))


# -- the scheduler on a clock of the test's own ---------------------------------------------------

class FakeClock:
    def __init__(self, now: datetime, zone: ZoneInfo = LONDON, synced: bool = True) -> None:
        self.time, self.zone, self.is_synced = now, zone, synced

    def now(self) -> datetime:
        return self.time

    def synced(self) -> bool:
        return self.is_synced


class Recorder:
    """Stands in for the controller's queue, and keeps its state the way the controller would."""

    def __init__(self) -> None:
        self.commands: list = []
        self.state = State()

    def submit(self, command) -> None:
        self.commands.append(command)
        if isinstance(command, ScheduleStatus):
            self.state = State(next_at=command.next_at, next_what=command.next_what,
                               next_wake_at=command.next_wake_at, schedule_handled=command.handled_until,
                               clock_ok=command.clock_ok)

    def fired(self) -> list:
        return [c for c in self.commands if not isinstance(c, ScheduleStatus)]


def scheduler_for(entries, clock, recorder, **options) -> Scheduler:
    return Scheduler(entries, clock, recorder.submit, lambda: recorder.state, **options)


def test_nothing_fires_on_an_unsynchronised_clock_and_a_late_sync_catches_up(caplog):
    wake_at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    clock = FakeClock(wake_at - timedelta(minutes=1), synced=False)
    recorder = Recorder()
    scheduler = scheduler_for([entry("06:30", rise_min=20.0)], clock, recorder)
    with caplog.at_level(logging.INFO, "bedside.scheduler"):
        scheduler.step()
        clock.time = wake_at + timedelta(minutes=2)
        scheduler.step()
        assert recorder.fired() == [] and recorder.state.clock_ok is False
        assert sum("not synchronised" in r.message for r in caplog.records) == 1  # logged once
        clock.time, clock.is_synced = wake_at + timedelta(minutes=8), True  # NTP answers, 8 min late
        scheduler.step()
    [wake] = recorder.fired()
    assert isinstance(wake, Wake) and wake.rise_s == pytest.approx(12 * 60)
    assert recorder.state.schedule_handled == wake_at.timestamp() and recorder.state.clock_ok
    scheduler.step()
    assert len(recorder.fired()) == 1


def test_a_restart_neither_repeats_nor_forgets_an_event(caplog):
    wake_at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    recorder = Recorder()
    clock = FakeClock(wake_at + timedelta(seconds=1))
    scheduler_for([entry("06:30")], clock, recorder).step()
    assert len(recorder.fired()) == 1
    clock.time = wake_at + timedelta(minutes=3)  # restarted: the handled instant comes from the state file
    scheduler_for([entry("06:30")], clock, recorder).step()
    assert len(recorder.fired()) == 1
    clock.time = wake_at + timedelta(days=1, minutes=40)  # down all night: tomorrow's is too old to run
    with caplog.at_level(logging.WARNING, "bedside.scheduler"):
        scheduler_for([entry("06:30")], clock, recorder).step()
    assert len(recorder.fired()) == 1
    assert any("missed by more than 15 min: skipped" in r.message for r in caplog.records)


def test_the_next_event_and_the_next_wake_up_are_reported():
    clock = FakeClock(datetime(2026, 11, 26, 21, 0, tzinfo=LONDON).astimezone(UTC))
    recorder = Recorder()
    entries = [entry("22:30", action="start"), entry("06:30", "weekdays", index=1)]
    wait = scheduler_for(entries, clock, recorder).step()
    assert recorder.state.next_at == datetime(2026, 11, 26, 22, 30, tzinfo=LONDON).timestamp()
    assert recorder.state.next_wake_at == datetime(2026, 11, 27, 6, 30, tzinfo=LONDON).timestamp()
    assert recorder.state.next_what.startswith("start")
    assert 0 < wait <= 30.0


def test_a_snooze_brings_the_wake_up_back_after_snooze_min():
    wake_at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    clock = FakeClock(wake_at)
    recorder = Recorder()
    scheduler = scheduler_for([entry("06:30", rise_min=20.0, snooze_min=9.0)], clock, recorder)
    scheduler.step()
    clock.time = wake_at + timedelta(minutes=21)
    scheduler.on_state(Snapshot(State(snoozed=True, snooze_min=9.0), Reason.SNOOZED))
    scheduler.step()
    assert recorder.state.next_what == "wake-up after the snooze"
    clock.time += timedelta(minutes=8, seconds=59)
    scheduler.step()
    assert len(recorder.fired()) == 1
    clock.time += timedelta(seconds=2)
    scheduler.step()
    first, again = recorder.fired()
    assert isinstance(again, Wake) and again.rise_s == 120.0 and again.sound == first.sound


def test_a_reload_changes_what_comes_next():
    clock = FakeClock(datetime(2026, 11, 26, 21, 0, tzinfo=LONDON).astimezone(UTC))
    recorder = Recorder()
    scheduler = scheduler_for([entry("06:30")], clock, recorder)
    scheduler.step()
    assert recorder.state.next_at == datetime(2026, 11, 27, 6, 30, tzinfo=LONDON).timestamp()
    scheduler.set_entries([entry("05:15")], require_synced=True, catch_up_min=15.0)
    scheduler.step()
    assert recorder.state.next_at == datetime(2026, 11, 27, 5, 15, tzinfo=LONDON).timestamp()
    scheduler.set_entries([], require_synced=True, catch_up_min=15.0)
    scheduler.step()
    assert recorder.state.next_at is None and recorder.state.next_wake_at is None


def test_the_documented_examples_are_valid():
    """The commented [[schedule]] examples in config/bedside.toml parse as they are written."""
    from pathlib import Path

    text = (Path(__file__).parent.parent / "config" / "bedside.toml").read_text()
    block = text[text.index("# [[schedule]]"):text.index("# Your own sounds.")]
    uncommented = "\n".join(line[2:] for line in block.splitlines() if line.startswith("# "))
    entries = parse(tomllib.loads(uncommented)).schedule
    assert [e.action for e in entries] == ["start", "wake", "wake"]


@pytest.mark.parametrize("saved", [
    '{"wake_at": "25:00"}', '{"wake_at": "06:30\\u0000"}', '{"wake_enabled": "yes"}', '{"wake_at": 630}',
    '{"schedule_handled": 1e300}', '{"schedule_handled": -5}', '{"schedule_handled": true}',
])
def test_a_hostile_state_file_means_defaults_not_a_crash(tmp_path, saved, caplog):
    from bedside.state import SavedState, StateStore

    (tmp_path / "state.json").write_text(saved)
    with caplog.at_level(logging.WARNING):
        assert StateStore(tmp_path).load() == SavedState()
    assert any("invalid" in r.message for r in caplog.records)
