"""The command vocabulary: everything any input can ask of the appliance, and the state it reports.

Inputs (buttons, the knob, the keyboard, MQTT, signals) import only this module: they build commands
and read states, and never touch the controller, the engine or the sound device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: The volume step a new box starts at (the config's volume.default; the state file remembers the last).
DEFAULT_VOLUME = 30

#: The longest sleep timer (and "fade out now"), in minutes.
MAX_TIMER_MIN = 24 * 60


@dataclass(frozen=True)
class TogglePlay:
    """The play button: start the last sound, or stop with the gentle fade."""


@dataclass(frozen=True)
class Play:
    sound: str | None = None
    fade_s: float | None = None  # None: the configured fade-in


@dataclass(frozen=True)
class Stop:
    fade_s: float | None = None


@dataclass(frozen=True)
class NextSound:
    step: int = 1  # -1: previous


@dataclass(frozen=True)
class SetVolume:
    volume: int
    ramp_s: float | None = None


@dataclass(frozen=True)
class StepVolume:
    detents: int  # multiplied by the knob step


@dataclass(frozen=True)
class AdjustVolume:
    """Volume up or down by ``delta`` steps (from MQTT's volume_step), optionally gliding."""

    delta: int
    ramp_s: float | None = None


@dataclass(frozen=True)
class SetSound:
    """Choose a sound: crossfade to it if playing, else remember it for the next play."""

    sound: str


@dataclass(frozen=True)
class StepTimer:
    """The timer button: the next preset (cycle mode) or more time (add mode)."""


@dataclass(frozen=True)
class SetTimer:
    minutes: float  # 0 = off


@dataclass(frozen=True)
class FadeOut:
    """Fade to silence over ``seconds``, then stop: the sleep fade, now."""

    seconds: float


@dataclass(frozen=True)
class Wake:
    """A wake-up: the sound rises from exact silence, linear in dB, to ``volume`` over ``rise_s``
    (from the level playing, if a sound already plays). Sent by the scheduler."""

    sound: str | None = None  # None: birds
    volume: int | None = None  # None: the last volume
    rise_s: float = 1200.0
    stop_after_s: float = 0.0  # fade out and stop this long from now (0: play on)
    brighten: bool = False  # the cutoff glides up from 400 Hz to 18 kHz over the rise
    snooze_min: float = 9.0


@dataclass(frozen=True)
class Breathe:
    """A breathing guide on the sound that plays: it swells with each inhale and settles with each
    exhale, the pace going from ``from_bpm`` to ``to_bpm`` over ``minutes`` (see audio/breath.py).
    Any press ends it, like a wake-up; the sound plays on."""

    minutes: float = 8.0
    from_bpm: float = 11.0
    to_bpm: float = 6.0
    ratio: float = 1.5  # exhale : inhale
    depth_db: float = 3.0
    toggle: bool = False  # the button's long press: a guide already running ends instead


@dataclass(frozen=True)
class StopBreathing:
    """End the breathing guide (its swell goes out over a breath or so); the sound plays on."""


@dataclass(frozen=True)
class PlayHeld:
    """The play button held: snoozes a wake-up; otherwise steps the sleep timer on a box without a
    timer button (``steps_timer``)."""

    steps_timer: bool = True


@dataclass(frozen=True)
class SetWake:
    """Home Assistant's wake-up switch and time; ``None`` leaves that one as it is."""

    enabled: bool | None = None
    at: str | None = None  # "HH:MM", validated by the sender


@dataclass(frozen=True)
class ScheduleStatus:
    """From the scheduler: what comes next (for Home Assistant and the LED), and the instant of the
    last event it handled (saved, so a restart neither repeats nor forgets one). UTC epoch seconds."""

    next_at: float | None = None
    next_what: str = ""
    next_wake_at: float | None = None
    handled_until: float | None = None
    clock_ok: bool = True  # False: the clock is not synchronised and nothing will fire yet


@dataclass(frozen=True)
class Reload:
    """A new config and its sound catalogue, prepared off the audio thread, applied at once."""

    config: Any
    catalog: Any


@dataclass(frozen=True)
class SetProfile:
    """Start a profile (:mod:`bedside.profiles`): its sound, volume, timer, guide, session or nap."""

    name: str


@dataclass(frozen=True)
class NextProfile:
    """The encoder's push switch held: the next profile (in the config's order), confirmed by a
    dip; during a wake-up it snoozes, as a held play button does (a knob may be the only button)."""


@dataclass(frozen=True)
class Batch:
    """Several commands applied together, between the same two blocks (one MQTT message)."""

    commands: tuple


Command = (TogglePlay | Play | Stop | NextSound | SetSound | SetVolume | StepVolume | AdjustVolume | StepTimer
           | SetTimer | FadeOut | Wake | Breathe | StopBreathing | PlayHeld | SetWake | ScheduleStatus | Reload
           | SetProfile | NextProfile | Batch)


@dataclass(frozen=True)
class State:
    playing: bool = False
    sound: str = "brown"
    volume: int = DEFAULT_VOLUME
    timer_min: float = 0.0  # the preset in use, 0 = off
    timer_end: int | None = None  # engine frame at which the sleep fade reaches silence
    fading: bool = False  # a stop fade or the sleep fade is audible right now
    underruns: int = 0  # times the sound device ran dry since start (a fact to show, not hide)
    waking: bool = False  # a wake-up plays (rising, or risen): any press stops it, a long press snoozes
    snoozed: bool = False  # a wake-up was snoozed and will rise again
    snooze_min: float = 0.0  # how long the snooze lasts (from the wake-up that was snoozed)
    breathing: bool = False  # a breathing guide swells the sound: any press ends it
    profile: str = ""  # the profile started last, while what it arranged goes on ("" after a stop)
    session_end: int | None = None  # engine frame at which a focus session's chime sounds
    nap_end: int | None = None  # engine frame at which a nap's rise begins
    wake_enabled: bool | None = None  # set from Home Assistant; None: as the config says (on)
    wake_at: str | None = None  # "HH:MM" set from Home Assistant; None: the config's
    wake_time: str = ""  # the wake time in effect ("" when there is no wake-up)
    next_at: float | None = None  # the next scheduled event, UTC epoch seconds
    next_what: str = ""
    next_wake_at: float | None = None
    schedule_handled: float | None = None  # the last scheduled event handled, UTC epoch seconds
    clock_ok: bool = True

    def timer_remaining_s(self, now: int, rate: int) -> float:
        return 0.0 if self.timer_end is None else max(0.0, (self.timer_end - now) / rate)

