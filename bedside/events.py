"""What the controller tells the world: immutable snapshots, handed out on a thread of their own.

The controller runs on the audio thread, so it never calls a listener itself: each change becomes a
:class:`Snapshot` (the state, why it changed, and what the engine was doing at that frame) that is
put on a queue without waiting, and the :class:`Dispatcher`'s thread calls the listeners (the LED,
the state file, MQTT, the page, systemd's status line, the scheduler) one after another. A slow or
failing listener delays only the others, never a period. Readers on other threads (the page, the
MQTT publisher) use the latest snapshot and never touch the engine.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from bedside.commands import State

log = logging.getLogger(__name__)


class Reason(StrEnum):
    """Why a snapshot was taken. A ``StrEnum``: it compares equal to its value ("started")."""

    START = "start"  # the first snapshot, before anything happened
    STARTED = "started"
    STOPPED = "stopped"
    FADED = "faded"  # a stop's fade (or the sleep fade) has reached silence
    SOUND = "sound"
    VOLUME = "volume"
    TIMER = "timer"
    TIMER_EXPIRED = "timer_expired"
    FADE_OUT = "fade_out"
    CONFIRM = "confirm"  # a press was heard: blink, dip (the state itself is unchanged)
    WAKING = "waking"
    SNOOZED = "snoozed"
    SNOOZE_CANCELLED = "snooze_cancelled"
    WAKE_ENDED = "wake_ended"
    WAKE = "wake"  # the wake-up switch or time changed
    BREATHING = "breathing"  # a breathing guide began or ended
    PROFILE = "profile"  # a profile began, or its session or nap came to its end
    SCHEDULE = "schedule"
    RELOADED = "reloaded"
    UNDERRUNS = "underruns"


#: The reasons a person would see on systemd's status line.
STATUS_REASONS = frozenset({Reason.STARTED, Reason.STOPPED, Reason.SOUND, Reason.TIMER, Reason.TIMER_EXPIRED,
                            Reason.FADE_OUT, Reason.UNDERRUNS, Reason.WAKING, Reason.SNOOZED,
                            Reason.PROFILE})


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state at one frame of the engine, and what is heard then; times are seconds from
    ``taken_at`` (``time.monotonic``), so a reader can age it without asking the engine."""

    state: State
    reason: Reason = Reason.START
    frame: int = 0  # the engine's clock when it was taken
    level_db: float = -math.inf  # the volume's level heard (mid-ramp where it is); -inf: silent
    timer_remaining_s: float = 0.0  # until the sleep fade reaches silence (0: no timer)
    rise_remaining_s: float | None = None  # a wake-up's rise reaches the volume then
    rise_target_db: float = -math.inf  # ...at this level
    sleep_fade_s: tuple[float, float] | None = None  # the sleep fade: starts, reaches silence
    #: A breathing guide: its plan (:class:`bedside.audio.breath.Breathing`) and how many seconds
    #: into it this frame is (the LED breathes with the sound from it).
    breath: tuple[Any, float] | None = None
    session_remaining_s: float | None = None  # a focus session's chime sounds then
    nap_remaining_s: float | None = None  # a nap's rise begins then
    taken_at: float = field(default_factory=time.monotonic)

    def aged(self, now: float | None = None) -> Snapshot:
        """The same snapshot as it stands ``now``: times shortened, a rise's level moved on."""
        elapsed = max(0.0, (time.monotonic() if now is None else now) - self.taken_at)
        if elapsed == 0.0:
            return self
        level, rise = self.level_db, self.rise_remaining_s
        if rise is not None:
            if elapsed >= rise:
                level, rise = self.rise_target_db, None
            elif math.isfinite(level):
                level += (self.rise_target_db - level) * elapsed / rise
                rise -= elapsed
        fade = None if self.sleep_fade_s is None else (self.sleep_fade_s[0] - elapsed, self.sleep_fade_s[1] - elapsed)
        remaining = max(0.0, self.timer_remaining_s - elapsed) if self.state.timer_end is not None else 0.0
        breath = None if self.breath is None else (self.breath[0], self.breath[1] + elapsed)
        session = None if self.session_remaining_s is None else max(0.0, self.session_remaining_s - elapsed)
        nap = None if self.nap_remaining_s is None else max(0.0, self.nap_remaining_s - elapsed)
        return replace(self, level_db=level, rise_remaining_s=rise, sleep_fade_s=fade, timer_remaining_s=remaining,
                       breath=breath, session_remaining_s=session, nap_remaining_s=nap,
                       taken_at=self.taken_at + elapsed)


Listener = Callable[[Snapshot], None]


class Dispatcher:
    """Hands each snapshot to every listener, in order, on its own thread.

    :meth:`publish` never waits (the audio thread calls it). Until :meth:`start`, snapshots wait in
    the queue, and :meth:`deliver` hands them over on the caller's thread (a render, a test).
    """

    def __init__(self, first: Snapshot | None = None) -> None:
        self._queue: queue.SimpleQueue[Snapshot | None] = queue.SimpleQueue()
        self._listeners: list[Listener] = []
        self.latest = first or Snapshot(State())
        self._thread: threading.Thread | None = None
        self._delivered = threading.Condition()
        self._published = 0
        self._done = 0

    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def publish(self, snapshot: Snapshot) -> None:
        """Any thread, never blocks: the latest snapshot for readers, and one for the listeners."""
        self.latest = snapshot
        if self._listeners:
            self._published += 1
            self._queue.put(snapshot)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Deliver what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def deliver(self) -> int:
        """Hand every queued snapshot to the listeners on this thread (no thread started)."""
        count = 0
        while True:
            try:
                snapshot = self._queue.get_nowait()
            except queue.Empty:
                return count
            if snapshot is not None:
                self._call(snapshot)
                count += 1

    def wait_delivered(self, timeout: float = 5.0) -> bool:
        """Until every snapshot published so far has reached the listeners (tests, shutdown)."""
        target = self._published
        with self._delivered:
            return self._delivered.wait_for(lambda: self._done >= target, timeout)

    def _run(self) -> None:
        while (snapshot := self._queue.get()) is not None:
            self._call(snapshot)

    def _call(self, snapshot: Snapshot) -> None:
        for listener in self._listeners:
            try:
                listener(snapshot)
            except Exception:  # one broken listener must not silence the others
                log.exception("a state listener failed on %s", snapshot.reason)
        with self._delivered:
            self._done += 1
            self._delivered.notify_all()
