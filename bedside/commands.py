"""The command vocabulary: everything any input can ask of the appliance, and the state it reports.

Inputs (buttons, the knob, the keyboard, MQTT, signals) import only this module: they build commands
and read states, and never touch the controller, the engine or the sound device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

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
class Reload:
    """A new config and its sound catalogue, prepared off the audio thread, applied at once."""

    config: Any
    catalog: Any


@dataclass(frozen=True)
class Batch:
    """Several commands applied together, between the same two blocks (one MQTT message)."""

    commands: tuple


Command = (TogglePlay | Play | Stop | NextSound | SetSound | SetVolume | StepVolume | AdjustVolume | StepTimer
           | SetTimer | FadeOut | Reload | Batch)


@dataclass(frozen=True)
class State:
    playing: bool = False
    sound: str = "brown"
    volume: int = 30
    timer_min: float = 0.0  # the preset in use, 0 = off
    timer_end: int | None = None  # engine frame at which the sleep fade reaches silence
    fading: bool = False  # a stop fade or the sleep fade is audible right now
    underruns: int = 0  # times the sound device ran dry since start (a fact to show, not hide)

    def timer_remaining_s(self, now: int, rate: int) -> float:
        return 0.0 if self.timer_end is None else max(0.0, (self.timer_end - now) / rate)


Listener = Callable[[State, str], None]
