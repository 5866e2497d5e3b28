"""The one state machine: playing or not, which sound, the volume, the sleep timer, fades.

Every input — buttons, the knob, the keyboard, signals, MQTT, a config reload — only sends the
controller commands (:mod:`bedside.commands`) through :meth:`Controller.submit`, which is safe from
any thread. The audio loop applies them between blocks (:meth:`Controller.process_pending`), so the
engine is only ever touched by the one thread that renders. Anything slow that a command needs —
building a sound's source and rendering its first seconds — is handed to a ``prepare`` function,
which on the appliance runs on the synthesis thread and answers with a command of its own. State
changes go out as events to listeners (the LED, the state file, MQTT); listeners must not block:
they hand work to their own threads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import math
import os
import queue
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from bedside.audio.breath import Breathing
from bedside.audio.engine import MIN_VOLUME_RAMP_S, Engine
from bedside.audio.synth import Source
from bedside.audio.synth.cue import chime
from bedside.audio.synthesis import Prepare, prepare_now
from bedside.commands import (
    MAX_TIMER_MIN,
    AdjustVolume,
    Batch,
    Breathe,
    Command,
    FadeOut,
    NextProfile,
    NextSound,
    Play,
    PlayHeld,
    Reload,
    ScheduleStatus,
    SetProfile,
    SetSound,
    SetTimer,
    SetVolume,
    SetWake,
    State,
    StepTimer,
    StepVolume,
    Stop,
    StopBreathing,
    TogglePlay,
    Wake,
)
from bedside.config import Config
from bedside.events import Dispatcher, Listener, Reason, Snapshot
from bedside.profiles import SESSION_END_FADE_S, describe, profiles_with
from bedside.schedule import WakeOverride, parse_hhmm, wake_time
from bedside.sounds import Sound

log = logging.getLogger(__name__)

#: After a reload, the level glides this long to what the new volume scale gives for the same step.
RELOAD_RAMP_S = 1.0
#: A wake-up's sound comes in this fast under the rise (at the volume floor: far below hearing).
WAKE_FADE_IN_S = 0.05
#: The sound a wake-up plays when its entry names none.
WAKE_SOUND = "birds"
#: A profile's volume glides this long (a choice, not a knob: no jump in level).
PROFILE_VOLUME_RAMP_S = 3.0
#: The wake-up of a nap snoozes like a scheduled one, for this long.
NAP_SNOOZE_MIN = 9.0
#: Engine marks (see Engine.mark): the frames a profile's session or nap ends.
SESSION_END, NAP_END = "session_end", "nap_end"
#: Button commands: during a wake-up, a press of any button stops it (a long press of play snoozes).
_PRESSES = (TogglePlay, NextSound, StepTimer)


@dataclass(frozen=True)
class _Rise:
    volume: int
    seconds: float
    brighten: bool
    from_silence: bool


@dataclass(frozen=True)
class Prepared:
    """A sound's source, ready to play (from :data:`Prepare`; internal, not for inputs)."""

    token: int
    name: str
    source: Source | None  # None: it could not be built (its file vanished, say): logged, and it stops




class Controller:
    def __init__(self, engine: Engine, catalog: Mapping[str, Sound], config: Config,
                 sound: str | None = None, volume: int | None = None, timer_min: float = 0.0,
                 seed: np.random.SeedSequence | None = None, prepare: Prepare = prepare_now,
                 wake: WakeOverride | None = None, schedule_handled: float | None = None,
                 events: Dispatcher | None = None) -> None:
        self.engine = engine
        #: Where snapshots go; the daemon starts its thread, a render never listens.
        self.events = events or Dispatcher()
        self._prepare = prepare
        # The sound being prepared: token, fade-in, and the wake-up rise to start with it.
        self._starting: tuple[int, float | None, _Rise | None] | None = None
        self._quick_turns = 0  # see quick_turns
        self._wake_stop = False  # the timer running is a wake-up's stop_after, not the user's
        self._tokens = itertools.count(1)
        self.catalog = dict(catalog)
        self.config = config
        self.profiles = profiles_with(config.profiles)
        self._seed = seed or np.random.SeedSequence()
        self._queue: queue.SimpleQueue[Command] = queue.SimpleQueue()
        # A byte per command on a pipe: the audio loop's wait for room in the device also wakes for a
        # command (a device slow to take samples must not hold a stop). Closed with the controller.
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        weakref.finalize(self, _close_fds, self._wake_read, self._wake_write)
        start_sound = sound if sound in self.catalog else config.sound.default
        if start_sound not in self.catalog:
            start_sound = next(iter(self.catalog))
        start_volume = config.volume.default if volume is None else volume
        engine.set_volume(start_volume, ramp=0.0)
        wake = wake or WakeOverride()
        self.state = State(sound=start_sound, volume=start_volume, timer_min=timer_min, wake_enabled=wake.enabled,
                           wake_at=wake.at, wake_time=wake_time(config.schedule, wake),
                           schedule_handled=schedule_handled)
        self.events.latest = self.snapshot(Reason.START)

    @property
    def preparing(self) -> bool:
        """A sound has been asked for and its source is still being built."""
        return self._starting is not None

    @property
    def quick_turns(self) -> int:
        """Volume changes at the knob's pace so far (a detent, or a volume set without a glide):
        someone is listening for the change, so the player keeps the device's queue short."""
        return self._quick_turns

    def set_prepare(self, prepare: Prepare) -> None:
        """Where sounds are built: in place, or on the synthesis thread (the player decides)."""
        self._prepare = prepare

    # -- inputs (any thread) ---------------------------------------------------------------

    @property
    def wake_fd(self) -> int:
        """Readable when a command has come since the last ``process_pending(woken=True)``."""
        return self._wake_read

    def submit(self, command: Command) -> None:
        """Any thread, or a signal handler: the queue's put is reentrant, the write a plain syscall."""
        self._queue.put(command)
        with contextlib.suppress(OSError):  # full: the loop has plenty of wake-ups waiting already
            os.write(self._wake_write, b"\0")

    def subscribe(self, listener: Listener) -> None:
        """Called with every snapshot, on the dispatcher's thread (never the audio thread)."""
        self.events.subscribe(listener)

    # -- the audio thread ------------------------------------------------------------------

    def process_pending(self, wait: float = 0.0, woken: bool = False) -> int:
        """Apply every queued command; returns how many. With ``wait``, first wait that long for one
        (the player, resting while nothing plays). ``woken``: the wake pipe said so (empty it first)."""
        if woken:
            with contextlib.suppress(OSError):
                while os.read(self._wake_read, 4096):
                    pass
        if wait <= 0 and self._queue.empty():
            return 0  # the usual period: nothing to do, and no exception raised to find that out
        count = 0
        block = wait > 0
        while True:
            try:
                command = self._queue.get(timeout=wait) if block else self._queue.get_nowait()
            except queue.Empty:
                return count
            block = False
            count += not isinstance(command, Prepared)  # internal hand-overs are not commands
            try:
                self.apply(command)
            except (KeyError, ValueError) as error:  # a bad command is refused, the sound goes on
                log.warning("refused %s: %s", command, error)

    def after_block(self) -> None:
        """Take note of what happened on the sample clock: the timer ran out, a fade finished."""
        while self.engine.events:
            event, _frame = self.engine.events.popleft()
            if event == "breathing_done":
                if self.state.breathing:
                    self._update(Reason.BREATHING, breathing=False)
            elif event == SESSION_END:
                self._end_session()
            elif event == NAP_END:
                self._end_nap()
            elif event == "timer_expired":
                keep = self.config.timer.at_end == "stop-keep-timer" or self._wake_stop
                self._update(Reason.TIMER_EXPIRED, playing=False, fading=False, timer_end=None, waking=False,
                             timer_min=self.state.timer_min if keep else 0.0, **self._profile_over())
                log.info("%s: stopped", "wake-up over" if self._wake_stop else "sleep timer ended")
                self._wake_stop = False
        if self.state.fading and not self.engine.audible:
            self._update(Reason.FADED, fading=False)

    def apply(self, command: Command) -> None:
        if isinstance(command, _PRESSES) and (self.state.waking or self.state.snoozed):
            self._end_wake()  # any button ends a wake-up: the alarm is off, the person is up
            return
        if isinstance(command, _PRESSES) and self.state.breathing:
            self._stop_breathing()  # any button ends the guide, and only that: the sound plays on
            return
        match command:
            case Wake():
                self._wake(command)
            case PlayHeld(steps_timer):
                if self.state.waking:
                    self._snooze()
                elif self.state.snoozed:
                    self._end_wake()
                elif steps_timer:
                    self._set_timer(self._next_preset())
                    self._confirm()
                else:  # a box with a timer button: a long press is just a press
                    self.apply(TogglePlay())
            case SetWake(enabled, at):
                self._set_wake(enabled, at)
            case ScheduleStatus(next_at, next_what, next_wake_at, handled, clock_ok):
                self._update(Reason.SCHEDULE, next_at=next_at, next_what=next_what, next_wake_at=next_wake_at,
                             schedule_handled=handled, clock_ok=clock_ok)
            case TogglePlay():
                self._stop(None) if self.state.playing else self._play(self.state.sound)
            case Play(sound, fade):
                if self.state.snoozed:
                    self._update(Reason.SNOOZE_CANCELLED, snoozed=False)
                self._play(sound or self.state.sound, fade)
            case Batch(commands):
                for each in commands:
                    self.apply(each)
            case Prepared(token, name, source):
                self._start(token, name, source)
            case Reload(config, catalog):
                self._reload(config, catalog)
            case Stop(fade):
                if self.state.playing:
                    self._stop(fade)
                elif fade is not None:  # a shutdown during an OFF's fade: no later than its own
                    self.engine.stop(fade)
            case NextSound(step):
                names = list(self.catalog)
                index = names.index(self.state.sound) if self.state.sound in names else 0
                self._play(names[(index + step) % len(names)])
            case SetVolume(volume, ramp):
                self._set_volume(volume, ramp)
            case AdjustVolume(delta, ramp):
                self._set_volume(min(100, max(0, self.state.volume + delta)), ramp)
            case SetSound(name):
                if name not in self.catalog:
                    raise KeyError(f"unknown sound {name!r}")
                if self.state.playing:
                    self._play(name)
                elif name != self.state.sound:
                    self._update(Reason.SOUND, sound=name)
            case StepVolume(detents):
                # Mid-rise, a detent counts from what is heard, not from the rise's target.
                base = self.state.volume
                if self.engine.rising:
                    base = self.engine.volume_scale.nearest_step(self.engine.level_db())
                self._set_volume(min(100, max(0, base + detents * self.config.volume.knob_step)), None)
            case StepTimer():
                self._set_timer(self._next_preset())
                self._confirm()
            case SetTimer(minutes):
                if not 0 <= minutes <= MAX_TIMER_MIN:
                    raise ValueError(f"timer must be 0-{MAX_TIMER_MIN} minutes")
                self._set_timer(minutes)
            case Breathe(toggle=True) if self.state.breathing:
                self._stop_breathing()
            case Breathe(minutes, from_bpm, to_bpm, ratio, depth_db):
                plan = Breathing(from_bpm, to_bpm, minutes, ratio, depth_db)  # ValueError: refused
                self.engine.breathe(plan)
                self._update(Reason.BREATHING, breathing=True)
                log.info("breathing guide: %g → %g breaths a minute over %g min", from_bpm, to_bpm, minutes)
            case StopBreathing():
                if self.state.breathing:
                    self._stop_breathing()
            case SetProfile(name):
                self._start_profile(name)
            case NextProfile():
                if self.state.waking or self.state.snoozed:
                    self.apply(PlayHeld(steps_timer=False))
                else:
                    names = list(self.profiles)
                    at = names.index(self.state.profile) + 1 if self.state.profile in names else 0
                    self._start_profile(names[at % len(names)])
                    self._confirm()
            case FadeOut(seconds):
                if not 0 < seconds <= MAX_TIMER_MIN * 60:
                    raise ValueError("fade_out must be a positive number of seconds")
                if self.state.playing:
                    frames = self.engine.seconds(seconds)
                    self.engine.set_sleep_timer(self.engine.now + frames, frames, self.config.timer.darken)
                    self._update(Reason.FADE_OUT, timer_end=self.engine.sleep_timer_end, fading=True)

    def _stop_breathing(self) -> None:
        self.engine.stop_breathing()
        self._update(Reason.BREATHING, breathing=False)
        log.info("breathing guide ended")

    # -- profiles ---------------------------------------------------------------------------

    def _start_profile(self, name: str) -> None:
        """Everything the profile sets, at once: what an earlier profile arranged (a session, a
        nap, a guide) gives way to it; the sound crossfades, the volume glides."""
        profile = self.profiles.get(name)
        if profile is None:
            raise KeyError(f"unknown profile {name!r}; there are {', '.join(self.profiles)}")
        sound = profile.sound if profile.sound in self.catalog else self.state.sound
        if self.state.waking or self.state.snoozed:
            self._update(Reason.WAKE_ENDED, waking=False, snoozed=False)
        self._wake_stop = False
        self.engine.clear_marks()
        if self.state.breathing:
            self.engine.stop_breathing()
        if profile.volume is not None:
            self._set_volume(profile.volume, PROFILE_VOLUME_RAMP_S)
        self._play(sound)
        if profile.timer_min:
            self._arm_timer(profile.timer_min, profile.fade_min, profile.darken)
        elif self.state.timer_min or self.state.timer_end is not None:
            self._set_timer(0.0)
        now, session_end, nap_end = self.engine.now, None, None
        if profile.session_min:  # the chime sounds on its very frame; the fade follows within a block
            session_end = now + self.engine.seconds(profile.session_min * 60)
            self.engine.cue(chime(self.engine.rate), at=session_end)
            self.engine.mark(session_end, SESSION_END)
        if profile.wake_after_min:
            nap_end = now + self.engine.seconds(profile.wake_after_min * 60)
            self.engine.mark(nap_end, NAP_END)
        if profile.breathe_min:
            self.engine.breathe(Breathing(minutes=max(profile.breathe_min, 0.1)))  # as a schedule entry does
        self._update(Reason.PROFILE, profile=name, breathing=bool(profile.breathe_min), session_end=session_end,
                     nap_end=nap_end)
        log.info("profile %s: %s", name, describe(profile))

    def _profile_over(self) -> dict[str, object]:
        """The sound has ended, and with it what a profile arranged (its session, its nap): the
        engine forgets their marks; the state changes to merge into the update that says so."""
        self.engine.clear_marks()
        return {"profile": "", "session_end": None, "nap_end": None}

    def _end_session(self) -> None:
        """A focus session's end: a soft chime over the sound, which then fades out."""
        if not self.state.playing or self.state.session_end is None:
            return
        log.info("focus session over")
        self._stop(SESSION_END_FADE_S)

    def _end_nap(self) -> None:
        """A nap's end: a wake-up, rising from silence (the nap's sound gives way to it)."""
        profile = self.profiles.get(self.state.profile)
        if not self.state.playing or self.state.nap_end is None or profile is None:
            return
        self._update(Reason.PROFILE, nap_end=None)
        volume = profile.wake_volume or profile.volume or self.state.volume
        self._wake(Wake(None, volume, rise_s=profile.rise_min * 60, brighten=False, snooze_min=NAP_SNOOZE_MIN),
                    from_silence=True)

    # -- wake-ups ---------------------------------------------------------------------------

    def _wake(self, wake: Wake, from_silence: bool = False) -> None:
        """Rise from silence (or from what plays, unless ``from_silence``) to the wake-up's volume,
        on the sample clock."""
        name = wake.sound or (WAKE_SOUND if WAKE_SOUND in self.catalog else self.state.sound)
        if name not in self.catalog:
            log.warning("wake-up sound %r is not in the config: using %r", name, self.config.sound.default)
            name = self.config.sound.default
        volume = wake.volume if wake.volume is not None else (self.state.volume or self.config.volume.default)
        was_playing = self.state.playing
        rise = _Rise(max(1, volume), wake.rise_s, wake.brighten, from_silence=from_silence or not was_playing)
        self.engine.cancel_sleep_timer()
        self._wake_stop = False
        self._update(Reason.WAKING, waking=True, snoozed=False, snooze_min=wake.snooze_min, timer_end=None,
                     volume=rise.volume)
        if was_playing and name == self.state.sound:
            self._begin_rise(rise)
        else:
            self._play(name, WAKE_FADE_IN_S, rise)
        if wake.stop_after_s > 0:
            self._wake_stop = True
            frames = self.engine.seconds(wake.stop_after_s)
            fade = min(self.engine.seconds(self.config.timer.fade_min * 60),
                       max(self.engine.seconds(1.0), frames - self.engine.seconds(wake.rise_s)))
            self.engine.set_sleep_timer(self.engine.now + frames, fade)
            self._update(Reason.TIMER, timer_end=self.engine.sleep_timer_end)
        log.info("wake-up: %s rising to volume %d over %.0f s", name, rise.volume, rise.seconds)

    def _begin_rise(self, rise: _Rise) -> None:
        self.engine.rise(rise.volume, rise.seconds, brighten=rise.brighten, from_silence=rise.from_silence)

    def _snooze(self) -> None:
        """A long press during a wake-up: fade out; the scheduler brings it back in snooze_min."""
        self._starting = None
        self._wake_stop = False
        self.engine.dip()  # heard as it fades: a snooze, not a stop
        self.engine.stop(self.config.sound.stop_fade_s)
        self._update(Reason.SNOOZED, playing=False, fading=True, timer_end=None, waking=False, snoozed=True)
        self._emit(Reason.CONFIRM)
        log.info("wake-up snoozed for %g min", self.state.snooze_min)

    def _end_wake(self) -> None:
        """A press during a wake-up (or its snooze): stop with the usual fade, and no snooze after."""
        if self.state.playing:
            self._stop(None)
        self._update(Reason.WAKE_ENDED, waking=False, snoozed=False)
        self._emit(Reason.CONFIRM)
        log.info("wake-up ended by a press")

    def _set_wake(self, enabled: bool | None, at: str | None) -> None:
        if at is not None:
            parse_hhmm(at)  # ValueError: refused, like any bad command
        override = WakeOverride(self.state.wake_enabled if enabled is None else enabled,
                                self.state.wake_at if at is None else at)
        self._update(Reason.WAKE, wake_enabled=override.enabled, wake_at=override.at,
                     wake_time=wake_time(self.config.schedule, override))
        log.info("wake-up %s%s", "off" if override.enabled is False else "on",
                 f" at {self.state.wake_time}" if self.state.wake_time else "")

    @property
    def wake_override(self) -> WakeOverride:
        return WakeOverride(self.state.wake_enabled, self.state.wake_at)

    # -- the state machine ------------------------------------------------------------------

    def _play(self, name: str, fade: float | None = None, rise: _Rise | None = None) -> None:
        sound = self.catalog[name]
        was_playing = self.state.playing
        if was_playing and name == self.state.sound:
            return
        token = next(self._tokens)
        self._starting = (token, fade, rise)  # a newer choice replaces one still being prepared
        self._update(Reason.SOUND if was_playing else Reason.STARTED, playing=True, sound=name, fading=False)
        if not was_playing and self.state.timer_min:
            self._arm_timer(self.state.timer_min)
        log.info("%s %s", "switched to" if was_playing else "playing", name)
        seed, rate = self._seed.spawn(1)[0], self.engine.rate
        self._prepare(lambda: sound.make(rate, seed),
                      lambda source: self.submit_prepared(Prepared(token, name, source)))

    def submit_prepared(self, prepared: Prepared) -> None:
        self.submit(prepared)  # type: ignore[arg-type]  (internal: a source built on the synthesis thread)

    def _start(self, token: int, name: str, source: Source) -> None:
        """The prepared source is ready: fade it in, or crossfade to it."""
        if self._starting is None or self._starting[0] != token or not self.state.playing:
            return  # stopped, or another sound chosen, while this one was being prepared
        fade, rise, self._starting = self._starting[1], self._starting[2], None
        if source is None:  # the box must not sit "playing" in silence: say so, and stop
            log.error("cannot play %s: its source failed to build (see above)", name)
            self._stop(None)
            return
        sound = self.catalog.get(name)
        calibration = sound.calibration_db if sound is not None else 0.0
        self.engine.play(name, source, calibration, fade_in=self.config.sound.fade_in_s if fade is None else fade,
                         crossfade=self.config.sound.crossfade_s)
        if rise is not None:  # the rise starts with the sound, not when it was asked for
            self._begin_rise(rise)

    def _reload(self, config: Config, catalog: Mapping[str, Sound]) -> None:
        """A new config: new sounds and settings, and the level glides to the new volume scale."""
        self.config, self.catalog = config, dict(catalog)
        self.profiles = profiles_with(config.profiles)
        self.state = replace(self.state, wake_time=wake_time(config.schedule, self.wake_override))
        self.engine.volume_scale = config.volume.scale()
        self.engine.set_volume(self.state.volume, RELOAD_RAMP_S)
        if self.state.sound not in self.catalog:
            fallback = config.sound.default
            log.warning("sound %r is no longer in the config: %s %r", self.state.sound,
                        "switching to" if self.state.playing else "using", fallback)
            if self.state.playing:
                self._play(fallback)
            else:
                self._update(Reason.SOUND, sound=fallback)
        self._emit(Reason.RELOADED)

    def note_underruns(self, total: int) -> None:
        """The player saw the sound device run dry: part of the state, for everyone to see."""
        if total != self.state.underruns:
            self._update(Reason.UNDERRUNS, underruns=total)

    def _stop(self, fade: float | None) -> None:
        self._starting = None
        self._wake_stop = False
        self.engine.stop(self.config.sound.stop_fade_s if fade is None else fade)
        self._update(Reason.STOPPED, playing=False, fading=True, timer_end=None, waking=False, **self._profile_over())
        log.info("stopped")

    def _set_volume(self, volume: int, ramp: float | None) -> None:
        if not 0 <= volume <= 100:
            raise ValueError("volume must be 0-100")
        if volume == self.state.volume and ramp is None:
            return
        self.engine.set_volume(volume, MIN_VOLUME_RAMP_S if ramp is None else ramp)
        self._quick_turns += ramp is None
        self._update(Reason.VOLUME, volume=volume)

    def _next_preset(self) -> float:
        """Cycle: the next preset above the current one, then off. Add: the first preset's minutes
        more (on top of what remains), off once past the longest preset."""
        presets = self.config.timer.presets_min
        if self.config.timer.mode == "add":
            now, rate = self.engine.now, self.engine.rate
            remaining = self.state.timer_remaining_s(now, rate) / 60 if self.state.playing else self.state.timer_min
            total = remaining + presets[0]
            return 0.0 if total > max(presets) + 1e-9 else total
        later = [p for p in presets if p > self.state.timer_min + 1e-9]
        return later[0] if later else 0.0

    def _set_timer(self, minutes: float) -> None:
        if minutes and self.state.playing:
            self._arm_timer(minutes)
        elif not minutes:
            self.engine.cancel_sleep_timer()
            self._update(Reason.TIMER, timer_min=0.0, timer_end=None)
            log.info("sleep timer off")
            return
        self._update(Reason.TIMER, timer_min=minutes)
        log.info("sleep timer %g min", minutes)

    def _arm_timer(self, minutes: float, fade_min: float | None = None, darken: bool | None = None) -> None:
        frames = self.engine.seconds(minutes * 60)
        fade = min(frames, self.engine.seconds((self.config.timer.fade_min if fade_min is None else fade_min) * 60))
        darken = self.config.timer.darken if darken is None else darken
        self.engine.set_sleep_timer(self.engine.now + frames, fade, darken)
        self._update(Reason.TIMER, timer_min=minutes, timer_end=self.engine.sleep_timer_end)

    def _confirm(self) -> None:
        """A soft dip in the sound and a blink of the LED: the press was heard."""
        if self.state.playing:
            self.engine.dip()
        self._emit(Reason.CONFIRM)

    def _update(self, reason: Reason, **changes: object) -> None:
        self.state = replace(self.state, **changes)
        self._emit(reason)

    def _emit(self, reason: Reason) -> None:
        self.events.publish(self.snapshot(reason))

    def snapshot(self, reason: Reason) -> Snapshot:
        """The state and what the engine does at this frame (audio thread: only it reads the engine)."""
        engine, state = self.engine, self.state
        rate, frame = engine.rate, engine.now
        audible = state.playing and engine.playing
        rise_end, fade = engine.rise_end, engine.sleep_fade
        # The level heard: mid-rise, where the rise is (the snapshot ages it on); otherwise where
        # the volume is going (a knob's ramp lasts 30 ms; the old level would stand until the next change).
        level = engine.level_db() if engine.rising else engine.volume_scale.to_db(state.volume)
        return Snapshot(
            state, reason, frame,
            level_db=level if audible else -math.inf,
            timer_remaining_s=state.timer_remaining_s(frame, rate),
            rise_remaining_s=None if rise_end is None else (rise_end - frame) / rate,
            rise_target_db=engine.volume_scale.to_db(state.volume),
            sleep_fade_s=None if fade is None else ((fade[0] - frame) / rate, (fade[1] - frame) / rate),
            breath=None if engine.breathing is None else (engine.breathing[0], (frame - engine.breathing[1]) / rate),
            session_remaining_s=None if state.session_end is None else max(0.0, (state.session_end - frame) / rate),
            nap_remaining_s=None if state.nap_end is None else max(0.0, (state.nap_end - frame) / rate))


def _close_fds(*fds: int) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
