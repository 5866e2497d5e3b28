"""The scheduler: an input like the buttons. It watches the wall clock and sends the controller
commands when a ``[[schedule]]`` entry is due; it never touches the engine.

It fires nothing while the clock is unsynchronised (``[clock] require_synced``); an event missed by
at most ``catch_up_min`` (a late NTP sync, a restart) still runs — a wake-up shortened so that it
ends when it would have — and an older one is skipped with a log line. The instant of the last event
handled is kept in the controller's state (and so on disk): a restart neither repeats nor forgets
one, and a clock set back never fires an event twice. Once an event has started, its fades run on
the sample clock, so a wall-clock jump cannot make them jump.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from bedside.clock import Clock
from bedside.commands import (
    Batch,
    Breathe,
    Command,
    FadeOut,
    Play,
    ScheduleStatus,
    SetProfile,
    SetTimer,
    SetVolume,
    State,
    Wake,
)
from bedside.events import Reason, Snapshot
from bedside.logs import RateLimitedLog
from bedside.schedule import Entry, Event, WakeOverride, due, effective, next_event

log = logging.getLogger(__name__)

#: The clock is read at least this often (a step of the wall clock is noticed within it).
IDLE_S = 30.0
#: While the clock is not synchronised, it is asked again this often.
UNSYNCED_POLL_S = 10.0
#: The last event handled can be ahead of the clock (a clock set back: it must not run again), but
#: not by this much on a clock that is right: such a record (a wrong RTC then, a hostile state file)
#: would silence every schedule until that date, so it is dropped.
HANDLED_AHEAD_MAX = timedelta(days=1)
#: A wake-up that starts late still rises over at least this long (or its whole rise, if shorter).
MIN_LATE_RISE_S = 60.0
#: After a snooze, the sound rises again over at most this long: the snooze was the rest.
SNOOZE_RISE_S = 120.0
#: A scheduled start that changes the volume of a sound already playing glides this long.
START_VOLUME_RAMP_S = 3.0


def command_for(event: Event, late: timedelta) -> Command:
    """What an event asks of the controller, ``late`` after its time (a catch-up)."""
    entry, late_s = event.entry, late.total_seconds()
    if entry.action == "wake":
        rise = entry.rise_min * 60
        stop_after = max(0.0, entry.stop_after_min * 60 - late_s) if entry.stop_after_min else 0.0
        return Wake(entry.sound, entry.volume, rise_s=max(rise - late_s, min(rise, MIN_LATE_RISE_S)),
                    stop_after_s=stop_after, brighten=entry.brighten, snooze_min=entry.snooze_min)
    if entry.action == "start":
        commands: list[Command] = []
        if entry.volume is not None:
            commands.append(SetVolume(entry.volume, START_VOLUME_RAMP_S))
        commands.append(Play(entry.sound))
        if entry.timer_min:
            commands.append(SetTimer(max(entry.timer_min - late_s / 60, 1.0)))
        if entry.breathe_min:
            commands.append(Breathe(minutes=max(entry.breathe_min, 0.1)))
        return Batch(tuple(commands))
    if entry.action == "profile":
        return SetProfile(entry.profile)
    return FadeOut(max(entry.fade_min * 60 - late_s, 30.0))


def _epoch(when: datetime | None) -> float | None:
    return None if when is None else when.timestamp()


class Scheduler:
    def __init__(self, entries: Sequence[Entry], clock: Clock, submit: Callable[[Command], None],
                 state: Callable[[], State], *, require_synced: bool = True, catch_up_min: float = 15.0) -> None:
        self._entries = tuple(entries)
        self.clock = clock
        self._submit = submit
        self._state = state
        self.require_synced = require_synced
        self.catch_up = timedelta(minutes=catch_up_min)
        handled = state().schedule_handled
        self._handled = None if handled is None else datetime.fromtimestamp(handled, UTC)
        self._last_wake: Wake | None = None
        self._snooze_until: datetime | None = None
        self._waiting_for_sync = False
        first = state()  # what the controller shows already: nothing to send until it changes
        self._status = ScheduleStatus(first.next_at, first.next_what, first.next_wake_at, first.schedule_handled,
                                      first.clock_ok)
        self._warn = RateLimitedLog(log)
        self._poke = threading.Event()
        self._closing = threading.Event()
        self._lock = threading.Lock()  # step() runs on the thread, and from tests
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="schedule", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        self._poke.set()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def poke(self) -> None:
        """Look at the clock now (a test moved it; the config or the wake-up changed)."""
        self._poke.set()

    def set_entries(self, entries: Sequence[Entry], require_synced: bool, catch_up_min: float) -> None:
        """After a config reload."""
        with self._lock:
            self._entries = tuple(entries)
            self.require_synced, self.catch_up = require_synced, timedelta(minutes=catch_up_min)
        self.poke()

    def entries(self, override: WakeOverride | None = None) -> tuple[Entry, ...]:
        """The entries in effect: the config's, with Home Assistant's wake-up settings."""
        state = self._state()
        return effective(self._entries, override or WakeOverride(state.wake_enabled, state.wake_at))

    # -- from the controller (the audio thread): note and return ------------------------------

    def on_state(self, snapshot: Snapshot) -> None:
        state, reason = snapshot.state, snapshot.reason
        if reason == Reason.SNOOZED:
            wake = self._last_wake or Wake(state.sound, state.volume, SNOOZE_RISE_S, snooze_min=state.snooze_min)
            self._last_wake = replace(wake, rise_s=min(wake.rise_s, SNOOZE_RISE_S))
            self._snooze_until = self.clock.now() + timedelta(minutes=state.snooze_min)
            self.poke()
        elif reason in (Reason.WAKE_ENDED, Reason.SNOOZE_CANCELLED):
            self._snooze_until = None
            self.poke()
        elif reason in (Reason.WAKE, Reason.RELOADED):
            self.poke()

    # -- the thread --------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._closing.is_set():
            try:
                wait = self.step()
            except Exception as error:  # nothing a clock or a config does may end the thread
                self._warn.warning("schedule: %s: %s", type(error).__name__, error)
                wait = IDLE_S
            self._poke.wait(wait)
            self._poke.clear()

    def step(self) -> float:
        """One look at the clock: fire what is due, tell the controller what comes next; returns how
        long (real seconds) until it should look again."""
        with self._lock:
            return self._step()

    def _step(self) -> float:
        now = self.clock.now()
        entries = self.entries()
        zone = self.clock.zone
        if self.require_synced and (entries or self._snooze_until) and not self.clock.synced():
            if not self._waiting_for_sync:
                self._waiting_for_sync = True
                log.warning("schedule: the clock is not synchronised (no NTP yet): nothing fires until it is")
            self._send_status(now, entries, clock_ok=False)
            return UNSYNCED_POLL_S
        if self._waiting_for_sync:
            self._waiting_for_sync = False
            log.info("schedule: the clock is synchronised: %s", now.astimezone(zone).strftime("%a %d %b %H:%M %Z"))

        if self._snooze_until is not None and now >= self._snooze_until:
            self._snooze_until = None
            if self._last_wake is not None:
                log.info("schedule: snooze over: the wake-up rises again")
                self._submit(self._last_wake)

        if self._handled is not None and self._handled - now > HANDLED_AHEAD_MAX:
            log.warning("schedule: the last event handled is recorded at %s, in the future: ignored",
                        self._handled.strftime("%Y-%m-%d %H:%M UTC"))
            self._handled = None
        found = due(self._handled, now, zone, entries, self.catch_up)
        for event in found.skipped:
            log.warning("schedule: %s (%s) at %s was missed by more than %g min: skipped", event.entry.name,
                        event.entry.action, event.local(zone).strftime("%a %H:%M"),
                        self.catch_up.total_seconds() / 60)
        for event, late in found.run:
            command = command_for(event, late)
            if isinstance(command, Wake):
                self._last_wake = command
                self._snooze_until = None
            shifted = " (moved: that time did not exist today)" if event.shifted else ""
            behind = f", {late.total_seconds() / 60:.0f} min late" if late >= timedelta(minutes=1) else ""
            log.info("schedule: %s: %s%s%s", event.entry.name, event.entry.describe(), shifted, behind)
            self._submit(command)
        if found.run or found.skipped:
            last = max([e.when for e, _ in found.run] + [e.when for e in found.skipped])
            self._handled = max(last, self._handled) if self._handled is not None else last
        upcoming = self._send_status(now, entries, clock_ok=True)
        wait = IDLE_S
        for when in (upcoming, self._snooze_until):
            if when is not None:
                wait = min(wait, max(0.0, (when - now).total_seconds()) + 0.01)
        return wait

    def _send_status(self, now: datetime, entries: Sequence[Entry], clock_ok: bool) -> datetime | None:
        """Tell the controller (and so Home Assistant, the LED, the state file) what comes next;
        only when it changed. Returns the next event's instant."""
        zone = self.clock.zone
        upcoming = next_event(now, zone, entries)
        wake = next_event(now, zone, entries, "wake")
        wake_at = wake.when if wake is not None else None
        if self._snooze_until is not None and (wake_at is None or self._snooze_until < wake_at):
            wake_at = self._snooze_until
        what = upcoming.entry.describe() if upcoming is not None else ""
        next_at = upcoming.when if upcoming is not None else None
        if self._snooze_until is not None and (next_at is None or self._snooze_until < next_at):
            next_at, what = self._snooze_until, "wake-up after the snooze"
        status = ScheduleStatus(_epoch(next_at), what, _epoch(wake_at), _epoch(self._handled), clock_ok)
        if status != self._status:
            self._status = status
            self._submit(status)
        return next_at
