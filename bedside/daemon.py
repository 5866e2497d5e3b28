"""``bedside run``: the appliance. The only module that knows the concrete parts and wires them.

One thread plays (the :class:`~bedside.player.Player`): it applies the controller's queued
commands, renders a period from frames made ahead, hands it to the output, and pets the watchdog.
One thread synthesises ahead. The main thread handles signals and does the slow part of a reload
(reading the config, decoding recordings) before handing the result over as one command. Every
other thread (gpiozero's, the keyboard's, the LED's, MQTT's, the state writer's) only submits
commands or reacts to events.
"""

from __future__ import annotations

import contextlib
import faulthandler
import gc
import logging
import select
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bedside.clock import Clock, SystemClock, system_zone
from bedside.commands import Play, Reload, State
from bedside.config import Config, ConfigError, load
from bedside.controller import Controller
from bedside.engine import Engine
from bedside.notify import Notifier
from bedside.output import ResilientOutput
from bedside.player import Player
from bedside.schedule import WakeOverride
from bedside.scheduler import Scheduler
from bedside.sounds import catalog_for
from bedside.state import SavedState, StateStore, state_directory

log = logging.getLogger("bedside")

#: SIGTERM and SIGINT fade out this fast, then the process exits 0.
SHUTDOWN_FADE_S = 0.4
#: If the audio loop has not ended this long after a stop was asked for, something is stuck: every
#: thread's stack goes to stderr (the journal) and the process exits 1 rather than hang. Before the
#: unit's TimeoutStopSec (5 s), whose SIGKILL would leave no trace; far beyond a 0.4 s fade.
STOP_DEADLINE_S = 3.0
#: A thread that wants the GIL gets it after the holder has run at most this long (Python's default
#: is 5 ms). The synthesis thread's Python glue then delays the audio thread by a fraction of a
#: millisecond of CPU time; on a CPU held to a share, a millisecond of CPU can be several of wall.
SWITCH_INTERVAL_S = 0.0002


class Waker:
    """Wakes a thread waiting in :meth:`wait` from any thread or a signal handler: one byte on a
    socket pair. No lock is taken (see Daemon.__init__), and a signal that arrives during the wait
    ends it at once (the handler's byte makes the retried select return)."""

    def __init__(self) -> None:
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def set(self) -> None:
        with contextlib.suppress(OSError):  # full: wake-ups are pending already
            self._writer.send(b"\0")

    def wait(self, timeout: float) -> None:
        """Until :meth:`set` (since the last wait) or ``timeout`` seconds."""
        select.select([self._reader], [], [], timeout)
        with contextlib.suppress(OSError):
            while self._reader.recv(4096):
                pass


class StateWriter:
    """Saves the state file on its own thread, a second after a change (a knob turn makes dozens
    of changes; an SD card should see one write) — but a start or a stop at once: with
    ``resume_on_boot``, a power cut just after pressing stop must not bring the sound back."""

    DELAY_S = 1.0

    def __init__(self, store: StateStore, playing: bool = False) -> None:
        self._store = store
        self._pending: SavedState | None = None
        self._playing = playing  # as on disk, or as last handed to the thread
        self._urgent = False
        self._changed = threading.Condition()
        self._closing = False
        #: Set at shutdown: the shutdown fade is not the user stopping the sound, and a reboot
        #: while playing should resume (with resume_on_boot) as it was.
        self.frozen = False
        self._thread = threading.Thread(target=self._run, name="state", daemon=True)
        self._thread.start()

    def on_state(self, state: State, reason: str) -> None:
        if self.frozen:
            return
        snapshot = SavedState(state.sound, state.volume, state.timer_min, state.playing, state.wake_enabled,
                              state.wake_at, state.schedule_handled)
        with self._changed:
            self._pending = snapshot
            if snapshot.playing != self._playing:
                self._urgent = True
            self._playing = snapshot.playing
            self._changed.notify()

    def _run(self) -> None:
        while True:
            with self._changed:
                while self._pending is None and not self._closing:
                    self._changed.wait()
                if self._pending is None:
                    return
                self._changed.wait_for(lambda: self._closing or self._urgent, timeout=self.DELAY_S)
                snapshot, self._pending, self._urgent = self._pending, None, False
            self._store.save(snapshot)

    def close(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout=5)


class Daemon:
    def __init__(self, config: Config, *, simulate_pins: bool = False, keyboard: bool | None = None,
                 notifier: Notifier | None = None, seed: int | None = None, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock(system_zone(config.clock.timezone))
        self.notifier = notifier or Notifier()
        self._simulate_pins = simulate_pins
        self._keyboard_wanted = keyboard
        self._seed = np.random.SeedSequence(seed)
        # Plain flags and a socket, not Events: the signal handlers set them, and a handler runs in
        # the main thread between two bytecodes — maybe while that thread holds an Event's lock,
        # which Event.set would then wait for forever (seen: a SIGTERM that never ended the process).
        self._exit_requested = False
        self._reload_requested = False
        self._wake = Waker()
        self.ready = threading.Event()
        self.controller: Controller | None = None
        self.player: Player | None = None
        self.controls = None
        self.gpio_problem: str | None = None  # real GPIO was expected and failed: why
        self.output: ResilientOutput | None = None
        self.mqtt = None
        self.scheduler: Scheduler | None = None
        self.web = None
        self._started = time.monotonic()

    # -- wiring -----------------------------------------------------------------------------

    def _open_sink(self):
        from bedside.sinks.alsa import AlsaSink

        return AlsaSink.from_config(self.config.audio, int(self._seed.spawn(1)[0].generate_state(1)[0]))

    def request_exit(self) -> None:
        """Fade out and end ``run`` (any thread, or a signal handler: takes no lock)."""
        self._exit_requested = True
        self._wake.set()

    def request_reload(self) -> None:
        """Re-read the config (any thread, or a signal handler: takes no lock)."""
        self._reload_requested = True
        self._wake.set()

    def _reload_config(self) -> None:
        """Read the config and build its sounds here (slow: files, decoding), then hand both to the
        controller as one command; the audio thread never waits for any of it."""
        self._reload_requested = False
        path = self.config.path
        try:
            config = load(path)
            catalog = catalog_for(config, self.config.audio.rate)
        except ConfigError as error:
            log.warning("config reload failed, keeping the old one: %s", error)
            return
        except Exception as error:  # RecursionError, MemoryError, a decoder's own: keep playing
            log.warning("config reload failed, keeping the old one: %s: %s", type(error).__name__, error)
            return
        assert self.controller is not None
        if config.audio != self.config.audio or config.controls.pins() != self.config.controls.pins():
            log.info("audio and pin changes take effect at the next restart")
        self.controller.submit(Reload(config, catalog))
        if self.controls is not None and self.controls.led is not None:
            self.controls.led.brightness = config.controls.led_brightness
        if self.mqtt is not None:
            self.mqtt.update_sounds(list(catalog), config.timer.presets_min)
        if self.scheduler is not None:
            if config.clock.timezone != self.config.clock.timezone:
                log.info("a time zone change takes effect at the next restart")
            self.scheduler.set_entries(config.schedule, config.clock.require_synced, config.clock.catch_up_min)
        self.config = config
        log.info("config reloaded from %s", path)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        self._started = started = time.monotonic()
        config = self.config
        rate = config.audio.rate
        catalog = catalog_for(config, rate)
        store = StateStore(state_directory(config.state.directory))
        saved = store.load()
        engine = Engine(rate, config.volume.scale())
        controller = Controller(engine, catalog, config, sound=saved.sound, volume=saved.volume,
                                timer_min=saved.timer_min, seed=self._seed.spawn(1)[0],
                                wake=WakeOverride(saved.wake_enabled, saved.wake_at),
                                schedule_handled=saved.schedule_handled)
        self.controller = controller
        writer = StateWriter(store, saved.playing)
        controller.subscribe(writer.on_state)
        controller.subscribe(self._announce)
        scheduler = Scheduler(config.schedule, self.clock, controller.submit, lambda: controller.state,
                              require_synced=config.clock.require_synced, catch_up_min=config.clock.catch_up_min)
        self.scheduler = scheduler
        controller.subscribe(scheduler.on_state)

        if config.mqtt.enabled:
            self.mqtt = self._start_mqtt(config, controller, catalog)
        if config.web.enabled:
            self.web = self._start_web(config, controller, store.path.parent)

        from bedside.controls import Controls, pin_factory

        pins = pin_factory("simulated" if self._simulate_pins else config.controls.gpio)
        simulated = pins.simulated
        if pins.problem:  # loud, in the journal and in `systemctl status`: the buttons are dead
            self.gpio_problem = f"GPIO FAILED: {pins.problem}"
            log.error("%s; the buttons and the knob do not work, playing on (MQTT and the timer work)",
                      self.gpio_problem)
        elif pins.fallbacks:
            log.warning("GPIO: %s; using %s", pins.fallbacks, pins.describe())
        try:
            self.controls = Controls(config.controls, controller.submit)
        except Exception as error:  # a pin in use, a driver error: keep the sound and MQTT going
            self.gpio_problem = f"GPIO FAILED: {error}"
            log.error("GPIO controls unavailable (%s): running without them", error)
        if self.controls is not None and self.controls.led is not None:
            controller.subscribe(self.controls.led.on_state)
        keyboard = None
        if simulated and not pins.problem:
            why = "asked for" if self._simulate_pins or config.controls.gpio == "simulated" else "not a Raspberry Pi"
            log.info("using simulated pins (%s)", why)
            if self._keyboard_wanted if self._keyboard_wanted is not None else sys.stdin.isatty():
                from bedside.keyboard import HELP, Keyboard

                keyboard = Keyboard(controller.submit, self.request_exit)
                log.info(HELP)

        output = ResilientOutput(self._open_sink, rate, repr(config.audio.device))
        self.output = output
        if not output.try_open():
            log.info("no sound device: running on the null sink until %r appears", config.audio.device)
        # One period per wake-up: the device's poll wakes the loop when a period's worth of room is
        # free, and the rest of the buffer is the margin against a late wake-up.
        period = output.sink.period_frames if output.sink is not None else config.audio.period_frames
        player = Player(controller, output, period, realtime=True, after_write=self._after_write)
        self.player = player
        if saved.playing and config.state.resume_on_boot:
            controller.submit(Play())

        previous_interval = sys.getswitchinterval()
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, which would otherwise walk it all while holding the GIL (a gap on a Pi).
        gc.collect()
        gc.freeze()
        failure: list[BaseException] = []
        # A daemon thread: a loop that is stuck (see STOP_DEADLINE_S) must not hold the exit.
        audio = threading.Thread(target=self._play, args=(player, failure), name="audio", daemon=True)
        audio.start()
        scheduler.start()
        stopping_since: float | None = None
        stuck = False
        try:
            while audio.is_alive():
                if self._exit_requested and stopping_since is None:
                    stopping_since = time.monotonic()
                    writer.frozen = True
                    self.notifier.stopping()
                    player.stop(min(SHUTDOWN_FADE_S, config.sound.stop_fade_s))
                if self._reload_requested and stopping_since is None:
                    self._reload_config()
                if stopping_since is not None and time.monotonic() - stopping_since > STOP_DEADLINE_S:
                    stuck = True
                    log.error("the audio loop did not stop within %.0f s: its stacks follow; exiting", STOP_DEADLINE_S)
                    faulthandler.dump_traceback(all_threads=True)
                    break
                self._wake.wait(0.5)
        finally:
            scheduler.close()
            player.stop(0.05)  # if the main thread itself failed: end the audio loop too
            audio.join(timeout=1 if stuck else 10)
            sys.setswitchinterval(previous_interval)
            if keyboard:
                keyboard.close()
            if self.controls is not None:
                self.controls.close()
            writer.close()
            if self.mqtt is not None:
                self.mqtt.close()
            if self.web is not None:
                self.web.close()
            if not stuck:  # a stuck loop may still be inside the device: closing it under it could crash
                output.close()
            log.info("stopped after %.0f s: %d underruns", time.monotonic() - started, output.underruns)
        if failure:
            raise failure[0]
        return 1 if stuck else 0

    def _play(self, player: Player, failure: list[BaseException]) -> None:
        try:
            player.run()
        except BaseException as error:  # ends the process with the error, after the cleanup
            failure.append(error)
        finally:
            self._exit_requested = True
            self._wake.set()

    def _after_write(self) -> None:
        """Once per block, on the audio thread: the watchdog, and READY=1 after the first."""
        self.notifier.progress()
        if not self.ready.is_set():
            assert self.controller is not None
            self.ready.set()
            self.notifier.ready(self._status(self.controller.state))
            log.info("ready in %.2f s", time.monotonic() - self._started)

    def _start_mqtt(self, config: Config, controller: Controller, catalog: dict):
        from bedside.mqtt import MqttBridge

        try:
            page = None
            if config.web.enabled and not config.web.loopback_only():  # a page Home Assistant can link to
                from bedside.web import page_urls

                page = page_urls(*config.web.address())[0]
            bridge = MqttBridge(config.mqtt, controller.submit, list(catalog), config.timer.presets_min,
                                controller.engine.rate, config.path.parent if config.path else None,
                                configuration_url=page)
        except (OSError, ValueError) as error:  # an unreadable CA or password file: play on without MQTT
            log.error("MQTT disabled: %s", error)
            return None
        engine = controller.engine
        controller.subscribe(lambda state, reason: bridge.on_state(state, reason, engine.now))
        bridge.on_state(controller.state, "start", engine.now)
        bridge.start()
        return bridge

    def _start_web(self, config: Config, controller: Controller, state_dir: Path):
        from bedside.web import WebServer

        try:
            web = WebServer(config.web, controller.submit, self.web_document, lambda: list(controller.catalog),
                            state_dir, config.path.parent if config.path else None)
        except (OSError, ValueError) as error:  # an unreadable password file: play on without the page
            log.error("web page disabled: %s", error)
            return None
        controller.subscribe(web.on_state)
        web.start()
        return web

    def web_document(self) -> dict:
        """Everything the page shows, from the controller's state and the schedule (on a web thread)."""
        from bedside.ha import state_document
        from bedside.plan import Now, planned_levels
        from bedside.schedule import upcoming

        controller, scheduler = self.controller, self.scheduler
        assert controller is not None and scheduler is not None
        state, engine, config = controller.state, controller.engine, self.config
        rate, frame = engine.rate, engine.now
        document = state_document(state, state.timer_remaining_s(frame, rate), list(controller.catalog))
        now = self.clock.now()
        zone = self.clock.zone
        events = upcoming(now, zone, scheduler.entries(), days=7)
        rise_end, fade = engine.rise_end, engine.sleep_fade
        playing = state.playing and engine.playing
        present = Now(engine.level_db() if playing else float("-inf"), state.volume,
                      None if rise_end is None else (rise_end - frame) / rate,
                      None if fade is None else ((fade[0] - frame) / rate, (fade[1] - frame) / rate))
        points = planned_levels(present, [((e.when - now).total_seconds(), e) for e in events],
                                engine.volume_scale, config.sound.fade_in_s, config.timer.fade_min)
        document.update({
            "sounds": [{"name": s.name, "description": s.description} for s in controller.catalog.values()],
            "presets": list(config.timer.presets_min),
            "fade_out_s": config.mqtt.fade_out_s,
            "scale": {"floor_db": engine.volume_scale.floor_db, "ceiling_db": engine.volume_scale.ceiling_db},
            "events": [{"at": e.when.isoformat(), "local": e.local(zone).strftime("%a %H:%M"),
                        "what": e.entry.describe()} for e in events[:6]],
            "plan": {"points": points, "now": now.isoformat(), "zone": zone.key,
                     "offset_s": now.astimezone(zone).utcoffset().total_seconds()},
            "auth": self.web is not None and self.web.password is not None,
        })
        return document

    def _status(self, state: State) -> str:
        underruns = f"; {state.underruns} underruns" if state.underruns else ""
        problem = f"; {self.gpio_problem[:200]}" if self.gpio_problem else ""
        if not state.playing:
            snoozed = "; wake-up snoozed" if state.snoozed else ""
            return f"stopped{snoozed}{underruns}{problem}"
        timer = f", timer {state.timer_min:g} min" if state.timer_end is not None else ""
        waking = ", waking up" if state.waking else ""
        return f"playing {state.sound} at volume {state.volume}{waking}{timer}{underruns}{problem}"

    def _announce(self, state: State, reason: str) -> None:
        if reason in ("started", "stopped", "sound", "timer", "timer_expired", "fade_out", "underruns", "waking",
                      "snoozed"):
            self.notifier.status(self._status(state))


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT fade out and exit 0; SIGHUP reloads the config; SIGUSR1 shows the stacks.
    Handlers only set flags."""
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_exit())
    signal.signal(signal.SIGINT, lambda *_: daemon.request_exit())
    signal.signal(signal.SIGHUP, lambda *_: daemon.request_reload())
    # `kill -USR1` writes every thread's stack to stderr (the journal): what a stuck box is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)


def default_config_path(explicit: Path | None, environ: dict[str, str]) -> Path | None:
    """``--config``, else ``$BEDSIDE_CONFIG``, else /etc/bedside/bedside.toml if it exists."""
    if explicit is not None:
        return explicit
    if environ.get("BEDSIDE_CONFIG"):
        return Path(environ["BEDSIDE_CONFIG"])
    system = Path("/etc/bedside/bedside.toml")
    return system if system.exists() else None

