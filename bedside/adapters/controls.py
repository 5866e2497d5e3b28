"""The physical controls through gpiozero: the only module that imports it.

Buttons, the rotary encoder, the potentiometer and the LED. gpiozero calls back on its own threads,
so every callback here only submits a command to the controller; none touches the audio.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gpiozero import MCP3008, PWMLED, Device, DigitalInputDevice, RotaryEncoder
from gpiozero.pins import Factory
from gpiozero.pins.mock import MockFactory, MockPWMPin

from bedside.adapters.panel import KnobSmoother, LedAnimation
from bedside.commands import (
    Breathe,
    Command,
    NextProfile,
    NextSound,
    PlayHeld,
    SetVolume,
    StepTimer,
    StepVolume,
    TogglePlay,
)
from bedside.config import ControlsConfig
from bedside.events import Snapshot
from bedside.logs import RateLimitedLog

log = logging.getLogger(__name__)


#: Where the kernel says what board this is.
DEVICE_TREE_MODEL = Path("/proc/device-tree/model")


def on_raspberry_pi(model: Path = DEVICE_TREE_MODEL) -> bool:
    try:
        return b"Raspberry Pi" in model.read_bytes()
    except OSError:
        return False


@dataclass(frozen=True)
class PinChoice:
    """The pins bedside will use, and, when real GPIO was expected and failed, why (never silent)."""

    factory: Factory
    simulated: bool
    problem: str | None = None
    fallbacks: str | None = None  # factories gpiozero tried before the one it gave (worth a line)

    def describe(self) -> str:
        name = type(self.factory).__name__
        return f"{name} (simulated pins)" if self.simulated else name


def _writable_lgpio_directory() -> None:
    """lgpio makes its notification FIFO in the working directory (or ``$LG_WD``): under systemd
    with ProtectSystem=strict that is read-only ``/``, lgpio fails and the buttons are dead.
    The unit sets a runtime directory; this covers any other way of starting it."""
    if os.environ.get("LG_WD") or os.access(".", os.W_OK):
        return
    for candidate in (os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0], tempfile.gettempdir()):
        if candidate and os.access(candidate, os.W_OK):
            os.environ["LG_WD"] = candidate
            return


def choose_pins(mode: str = "auto", *, on_pi: bool | None = None) -> PinChoice:
    """The pins for ``[controls] gpio`` (``mode``): real GPIO where it is expected, else gpiozero's
    MockFactory. Where real GPIO is expected and fails, the choice says why (the caller logs an
    error and keeps playing: MQTT and the sleep timer still work)."""
    expected = mode == "required" or (mode == "auto" and (on_raspberry_pi() if on_pi is None else on_pi))
    problem = None
    if expected:
        _writable_lgpio_directory()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")  # gpiozero warns once per factory it could not use
            try:
                factory = Device._default_pin_factory()
            except Exception as error:
                reasons = "; ".join(str(w.message) for w in caught) or str(error)
                why = "this is a Raspberry Pi" if mode == "auto" else '[controls] gpio = "required"'
                problem = f"real GPIO expected ({why}) but none works: {reasons}"
            else:
                reasons = "; ".join(str(w.message) for w in caught)
                return PinChoice(factory, False, fallbacks=reasons or None)
    return PinChoice(simulated_pins(), True, problem)


def simulated_pins() -> Factory:
    """gpiozero's MockFactory, with pins that keep only their recent history. Passed to the devices
    (``pin_factory=``), never made gpiozero's global default."""
    return MockFactory(pin_class=_BoundedMockPin)


def given_pins(factory: Factory) -> PinChoice:
    """The pins a caller passed in (``Daemon(pin_factory=...)``): simulated if they are gpiozero's mock."""
    return PinChoice(factory, isinstance(factory, MockFactory))


class _BoundedMockPin(MockPWMPin):
    """A simulated pin that keeps only its recent history: MockPin remembers every change (for
    tests' assertions), and the breathing LED made that 16 MiB an hour."""

    KEEP = 1000

    def _change_state(self, value):
        changed = super()._change_state(value)
        if len(self.states) > 2 * self.KEEP:
            del self.states[:-self.KEEP]
        return changed


_callback_log = RateLimitedLog(log)


def _guarded(callback: Callable[[], None]) -> Callable[[], None]:
    """``callback`` for a gpiozero thread: an exception is logged (rate-limited), never raised
    into the pin driver's thread, which would stop delivering every later edge."""
    def run() -> None:
        try:
            callback()
        except Exception as error:
            _callback_log.warning("controls: %s failed: %s: %s", getattr(callback, "__name__", "a callback"),
                                  type(error).__name__, error)
    return run


class _PressButton:
    """A button with a short press (acts on release) and a long press (acts once held long enough).

    Debounced here, not only by the pin driver: gpiozero leaves debouncing to each driver, and
    they differ. After an accepted edge, further edges are ignored for ``bounce_ms``, so a
    chattering contact makes one press. The long press is a timer started by the press, not
    gpiozero's ``Button`` hold thread, which wakes ten times a second forever for every button.
    """

    def __init__(self, pin: int, config: ControlsConfig, short: Callable[[], None],
                 long: Callable[[], None] | None, pin_factory: Factory | None = None) -> None:
        self.button = DigitalInputDevice(pin, pull_up=True, bounce_time=config.bounce_ms / 1000 or None,
                                         pin_factory=pin_factory)
        self._bounce_s = config.bounce_ms / 1000
        self._hold_s = config.long_press_s
        self._last_edge = -1e9
        self._down = self._held = False
        self._hold_timer: threading.Timer | None = None
        self._lock = threading.Lock()  # the hold timer and a release may race: one of them wins
        self._short, self._long = short, long
        self.button.when_activated = _guarded(self._pressed)
        self.button.when_deactivated = _guarded(self._released)

    def _accept(self) -> bool:
        now = time.monotonic()
        if now - self._last_edge < self._bounce_s:
            return False
        self._last_edge = now
        return True

    def _pressed(self) -> None:
        if self._accept():
            self._down, self._held = True, False
            if self._long is not None:
                self._hold_timer = threading.Timer(self._hold_s, _guarded(self._on_hold))
                self._hold_timer.daemon = True
                self._hold_timer.start()

    def _on_hold(self) -> None:
        with self._lock:
            if not (self._down and not self._held and self.button.is_active):
                return
            self._held = True
        if self._long:
            self._long()

    def _released(self) -> None:
        if not self._accept():
            return
        with self._lock:
            if not self._down:
                return
            if self._hold_timer is not None:
                self._hold_timer.cancel()
            short = not self._held
            self._down = self._held = False
        if short:
            self._short()

    def close(self) -> None:
        if self._hold_timer is not None:
            self._hold_timer.cancel()
        self.button.close()


class PotVolume:
    """A potentiometer on an MCP3008 as the volume knob, polled on its own thread."""

    POLL_S = 0.02

    def __init__(self, channel: int, submit: Callable[[Command], None], pin_factory: Factory | None = None) -> None:
        self.adc = MCP3008(channel=channel, pin_factory=pin_factory)
        self._submit = submit
        self.smoother = KnobSmoother()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pot", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.POLL_S):
            try:
                volume = self.smoother.feed(float(self.adc.value))
            except Exception as error:
                log.debug("pot read failed: %s", error)
                continue
            if volume is not None:
                self._submit(SetVolume(volume))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.adc.close()


class Led:
    """The LED on its own thread, showing :class:`~bedside.adapters.panel.LedAnimation`: frames only
    while it moves (a breath, a blink), none while it glows or is dark."""

    FRAME_S = 0.05  # 20 frames a second: smooth enough for a slow breath, few wake-ups

    def __init__(self, pin: int, brightness: float, pin_factory: Factory | None = None) -> None:
        self.led = PWMLED(pin, pin_factory=pin_factory)
        self.animation = LedAnimation(brightness)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="led", daemon=True)
        self._thread.start()

    @property
    def brightness(self) -> float:
        return self.animation.brightness

    @brightness.setter
    def brightness(self, value: float) -> None:
        self.animation.brightness = value
        self._wake.set()

    def on_state(self, snapshot: Snapshot) -> None:
        self.animation.show(snapshot)
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            try:
                self.led.value = self.animation.value_at(now)
            except Exception as error:  # a driver error: the LED is not worth the thread
                _callback_log.warning("LED: %s: %s", type(error).__name__, error)
            self._wake.wait(self.FRAME_S if self.animation.animated(now) else None)
            self._wake.clear()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=1)
        self.led.close()


class Controls:
    """Every configured control, wired to the controller's command queue, on ``pin_factory``'s pins
    (gpiozero's own default when None: real GPIO on a Pi)."""

    def __init__(self, config: ControlsConfig, submit: Callable[[Command], None],
                 pin_factory: Factory | None = None) -> None:
        self._parts: list = []
        pins = pin_factory
        timer_on_long_press = config.timer_pin is False
        long_play = lambda: submit(PlayHeld(steps_timer=timer_on_long_press))  # noqa: E731 (snoozes a wake-up)
        if config.play_pin is not False:
            self._parts.append(_PressButton(config.play_pin, config, lambda: submit(TogglePlay()), long_play, pins))
        if config.encoder_button_pin is not False:  # held: the next profile (a wake-up: snooze)
            self._parts.append(_PressButton(config.encoder_button_pin, config, lambda: submit(TogglePlay()),
                                            lambda: submit(NextProfile()), pins))
        if config.sound_pin is not False:
            self._parts.append(_PressButton(config.sound_pin, config, lambda: submit(NextSound(1)),
                                            lambda: submit(NextSound(-1)), pins))
        if config.timer_pin is not False:
            # Its long press: the breathing guide on what plays (again: it ends).
            self._parts.append(_PressButton(config.timer_pin, config, lambda: submit(StepTimer()),
                                            lambda: submit(Breathe(toggle=True)), pins))
        if config.encoder_a_pin is not False and config.encoder_b_pin is not False:
            encoder = RotaryEncoder(config.encoder_a_pin, config.encoder_b_pin, max_steps=0, pin_factory=pins)
            encoder.when_rotated_clockwise = _guarded(lambda: submit(StepVolume(1)))
            encoder.when_rotated_counter_clockwise = _guarded(lambda: submit(StepVolume(-1)))
            self._parts.append(encoder)
        if config.pot_channel is not False:
            self._parts.append(PotVolume(config.pot_channel, submit, pins))
        self.led = Led(config.led_pin, config.led_brightness, pins) if config.led_pin is not False else None

    def close(self) -> None:
        for part in self._parts:
            part.close()
        if self.led:
            self.led.close()
