"""What the box's panel does, as plain logic with no pins: how a potentiometer's readings become
volume steps, and what the LED shows for a snapshot at an instant. The gpiozero adapter
(:mod:`bedside.adapters.controls`) drives real or simulated pins with it; tests call it directly."""

from __future__ import annotations

import math
import time
from typing import Any

from bedside.events import Reason, Snapshot


class KnobSmoother:
    """Turns raw potentiometer readings into volume steps: smoothed, and with hysteresis, so a knob
    at rest never makes the volume jitter between two steps (an MCP3008 reading wanders by a few
    counts; a step is ten of them)."""

    SMOOTHING = 0.2  # share of each new reading: a 0.1 s time constant at 50 readings a second
    HYSTERESIS = 0.7  # steps beyond the half-step boundary before the volume moves

    def __init__(self) -> None:
        self._smoothed: float | None = None
        self.sent: int | None = None

    def feed(self, reading: float) -> int | None:
        """One reading in [0, 1]; returns a new volume when the knob has really moved."""
        if self._smoothed is None:
            self._smoothed = reading
        self._smoothed += self.SMOOTHING * (reading - self._smoothed)
        position = self._smoothed * 100
        if self.sent is None or abs(position - self.sent) > 0.5 + self.HYSTERESIS:
            self.sent = round(position)
            return self.sent
        return None


class LedAnimation:
    """The LED tells the state without a screen: a dim glow while playing, a slow breath while a
    sleep timer runs, two quick blinks to confirm a press, dark when stopped — except for a brief,
    dim double blink as the sound stops for the night when a wake-up is armed (so one knows the
    morning is set without a light left on)."""

    BREATH_S = 5.0
    #: The "wake-up armed" double blink, as a share of the LED's brightness.
    ARMED_DIM = 0.25
    BLINK_S = 0.4

    def __init__(self, brightness: float) -> None:
        self.brightness = brightness
        self.mode = "off"
        self._blink_until = 0.0
        self._blink_level = brightness
        self._guide: tuple[Any, float] | None = None  # a breathing guide's plan, and when it began

    def show(self, snapshot: Snapshot, now: float | None = None) -> None:
        """Take a new snapshot into account (at monotonic time ``now``)."""
        now = time.monotonic() if now is None else now
        state, reason = snapshot.state, snapshot.reason
        self.mode = "off" if not state.playing else "breathe" if state.timer_end is not None else "glow"
        if state.playing and state.breathing and snapshot.breath is not None:
            plan, into = snapshot.breath
            self.mode, self._guide = "guide", (plan, snapshot.taken_at - into)
        if reason == Reason.CONFIRM:
            self._blink_until, self._blink_level = now + self.BLINK_S, self.brightness
        elif reason in (Reason.STOPPED, Reason.TIMER_EXPIRED) and state.next_wake_at is not None and not state.waking:
            self._blink_until, self._blink_level = now + self.BLINK_S, self.brightness * self.ARMED_DIM

    def animated(self, now: float) -> bool:
        """The value changes by itself from ``now`` on (a breath or a blink): it needs frames."""
        return self.mode in ("breathe", "guide") or now < self._blink_until

    def value_at(self, now: float) -> float:
        if now < self._blink_until:
            phase = (self._blink_until - now) / (self.BLINK_S / 2)
            return self._blink_level if int(phase) % 2 == 0 else 0.0
        if self.mode == "glow":
            return self.brightness * 0.5
        if self.mode == "breathe":
            return self.brightness * (0.55 - 0.45 * math.cos(2 * math.pi * now / self.BREATH_S))
        if self.mode == "guide" and self._guide is not None:
            # With the sound's swell: brightest at the top of each inhale, dark at the bottom of each
            # exhale, the glow's half where the guide's depth comes in and goes out.
            plan, began = self._guide
            t = now - began
            return self.brightness * float(0.5 + 0.5 * plan.depth(t) * (2 * plan.level(t) - 1))
        return 0.0
