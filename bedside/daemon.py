"""``bedside run``: the appliance. The only module that knows the concrete parts and wires them.

One thread plays (the :class:`~bedside.audio.player.Player`): it applies the controller's queued
commands, renders a period from frames made ahead, hands it to the output, and pets the watchdog.
One thread synthesises ahead. The main thread handles signals and does the slow part of a reload
(reading the config, decoding recordings) before handing the result over as one command. Every
other thread (gpiozero's, the keyboard's, the LED's, MQTT's, the page's, the state writer's) only
submits commands or reads snapshots, which one dispatcher thread hands to the listeners.
"""

from __future__ import annotations

import contextlib
import ctypes
import faulthandler
import gc
import logging
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bedside.adapters.notify import Notifier
from bedside.audio.engine import Engine
from bedside.audio.output import ResilientOutput
from bedside.audio.player import Player
from bedside.audio.sinks import Sink
from bedside.audio.synth.cue import chime
from bedside.clock import Clock, SystemClock, system_zone
from bedside.commands import Play, Reload
from bedside.config import AudioConfig, Config, ConfigError, load
from bedside.controller import Controller
from bedside.events import STATUS_REASONS, Dispatcher, Snapshot
from bedside.logs import queued
from bedside.profiles import profiles_with
from bedside.schedule import WakeOverride
from bedside.scheduler import Scheduler
from bedside.sounds import catalog_for
from bedside.state import StateStore, StateWriter, state_directory
from bedside.view import status_line

log = logging.getLogger("bedside")

#: SIGTERM and SIGINT fade out this fast, then the process exits 0.
SHUTDOWN_FADE_S = 0.4
#: If the audio loop has not ended this long after a stop was asked for, something is stuck: every
#: thread's stack goes to stderr (the journal) and the process exits 1 rather than hang. Before the
#: unit's TimeoutStopSec (5 s), whose SIGKILL would leave no trace; far beyond a 0.4 s fade.
STOP_DEADLINE_S = 3.0
#: How often the main thread looks at the audio thread while stopping (for STOP_DEADLINE_S), and
#: while idle: a safety net only, since everything it acts on wakes it. (It looked twice a second
#: before: a stopped box's largest share of wake-ups.)
STOPPING_LOOK_S, IDLE_LOOK_S = 0.5, 30.0
#: SIGHUPs closer together than RELOAD_QUIET_S are one reload (an editor saving twice, a storm of
#: signals: 1,000 in a second are two reloads, not one per wake-up of the main loop); a reload is
#: never put off more than RELOAD_MAX_DELAY_S after the first.
RELOAD_QUIET_S, RELOAD_MAX_DELAY_S = 0.25, 1.0
#: A thread that wants the GIL gets it after the holder has run at most this long (Python's default
#: is 5 ms). The synthesis thread's Python glue then delays the audio thread by a fraction of a
#: millisecond of CPU time; on a CPU held to a share, a millisecond of CPU can be several of wall.
SWITCH_INTERVAL_S = 0.0002
#: glibc's mallopt parameter for how many heaps (arenas) the process may have. By default each
#: thread that allocates gets one of its own: the synthesis thread's chunks are made in its heap
#: and freed by the audio thread, and every heap keeps free pages of its own. One heap for the
#: process (the GIL serialises the allocations anyway): peak RSS 1.0-1.6 MiB lower in steady play
#: (heavy-rain 62.4 -> 61.4, distant-thunder 62.0 -> 60.4, summer-night 61.6 -> 60.0 MiB,
#: 2026-12-07), against a budget of 64.
M_ARENA_MAX = -8


def one_heap() -> bool:
    """Every thread allocates from one C heap (see M_ARENA_MAX); False where the C library has no
    such setting (not glibc): nothing is lost but the memory."""
    try:
        return bool(ctypes.CDLL(None).mallopt(M_ARENA_MAX, 1))
    except (OSError, AttributeError):
        return False


def name_threads() -> None:
    """Give each running thread its Python name in the kernel too (Python 3.11 does not), so that
    ``top -H`` or ``ps -L`` on the Pi says which one spends the CPU: "audio", "synthesis", "web"."""
    for thread in threading.enumerate():
        if thread is threading.main_thread() or thread.native_id is None:
            continue
        with contextlib.suppress(OSError):  # not Linux, or the thread ended meanwhile
            Path(f"/proc/self/task/{thread.native_id}/comm").write_text(thread.name[:15])


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


#: Opens the sound device for ``[audio]`` with a dither seed; raises AudioDeviceError (then retried).
SinkFactory = Callable[[AudioConfig, int], Sink]


def alsa_sink(audio: AudioConfig, dither_seed: int) -> Sink:
    """The appliance's device: ALSA, as ``[audio]`` says (pyalsaaudio is imported only here)."""
    from bedside.audio.sinks.alsa import AlsaSink

    return AlsaSink.from_config(audio, dither_seed)


class Daemon:
    """The appliance, wired. Its parts come in as gpiozero's come in: ``pin_factory`` (None: real
    GPIO where expected, as ``[controls] gpio`` says; ``simulate_pins``: gpiozero's mock pins) and
    ``sink_factory`` (None: ALSA), so a test or a benchmark hands it pins it can drive and a sink it
    can read."""

    def __init__(self, config: Config, *, simulate_pins: bool = False, keyboard: bool | None = None,
                 notifier: Notifier | None = None, seed: int | None = None, clock: Clock | None = None,
                 pin_factory: object | None = None, sink_factory: SinkFactory = alsa_sink,
                 realtime: bool = True) -> None:
        self.config = config
        #: False: sounds are built on the audio thread and the loop goes as fast as its sink takes
        #: samples, never resting: the sink sets the pace (a test's sample clock).
        self._realtime = realtime
        self._pin_factory = pin_factory
        self._sink_factory = sink_factory
        #: The pins in use (``pins.factory.pin(17)`` drives a simulated one), once run has started.
        self.pins = None
        self.clock = clock or SystemClock(system_zone(config.clock.timezone))
        self.notifier = notifier or Notifier()
        self._simulate_pins = simulate_pins
        self._keyboard_wanted = keyboard
        self._seed = np.random.SeedSequence(seed)
        # Plain flags and a socket, not Events: the signal handlers set them, and a handler runs in
        # the main thread between two bytecodes — maybe while that thread holds an Event's lock,
        # which Event.set would then wait for forever (seen: a SIGTERM that never ended the process).
        self._exit_requested = False
        self._audio_done = False
        self._reload_requested = False
        self._reload_first = self._reload_last = 0.0  # when the first and the latest SIGHUP came
        self._writer: StateWriter | None = None
        self.waker = Waker()
        self.ready = threading.Event()
        #: Snapshots from the controller, handed to the listeners on a thread of their own.
        self.events = Dispatcher()
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

    def _open_sink(self) -> Sink:
        return self._sink_factory(self.config.audio, int(self._seed.spawn(1)[0].generate_state(1)[0]))

    @property
    def reload_requested(self) -> bool:
        """A reload was asked for (SIGHUP) and the main loop has not done it yet."""
        return self._reload_requested

    def request_exit(self) -> None:
        """Fade out and end ``run`` (any thread, or a signal handler: takes no lock). The fade starts
        here, not when the main thread next looks: it may be in the middle of a reload."""
        if not self._exit_requested and self.player is not None:
            if self._writer is not None:
                self._writer.frozen = True  # before the Stop's snapshot: a reboot resumes as it was
            self.player.stop(self._shutdown_fade())
        self._exit_requested = True
        self.waker.set()

    def request_reload(self) -> None:
        """Re-read the config soon (any thread, or a signal handler: takes no lock)."""
        now = time.monotonic()
        if not self._reload_requested:
            self._reload_first = now
        self._reload_last = now
        self._reload_requested = True
        self.waker.set()

    def _reload_due_in(self) -> float:
        """Seconds until the reload asked for is done: when the signals have been quiet a moment."""
        due = min(self._reload_last + RELOAD_QUIET_S, self._reload_first + RELOAD_MAX_DELAY_S)
        return max(0.0, due - time.monotonic())

    def _shutdown_fade(self) -> float:
        return min(SHUTDOWN_FADE_S, self.config.sound.stop_fade_s)

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
            self.mqtt.update_sounds(list(catalog), config.timer.presets_min, list(profiles_with(config.profiles)))
        if self.scheduler is not None:
            if config.clock.timezone != self.config.clock.timezone:
                log.info("a time zone change takes effect at the next restart")
            self.scheduler.set_entries(config.schedule, config.clock.require_synced, config.clock.catch_up_min)
        self.config = config
        log.info("config reloaded from %s", path)

    # -- the loop ---------------------------------------------------------------------------

    def run(self) -> int:
        """Play until asked to exit; returns the exit code. Logging goes through a queue meanwhile."""
        one_heap()  # before the logging, synthesis and audio threads allocate
        with queued():
            return self._run()

    def _run(self) -> int:
        self._started = started = time.monotonic()
        config = self.config
        rate = config.audio.rate
        catalog = catalog_for(config, rate)
        store = StateStore(state_directory(config.state.directory))
        saved = store.load()
        engine = Engine(rate, config.volume.scale())
        events = self.events
        controller = Controller(engine, catalog, config, sound=saved.sound, volume=saved.volume,
                                timer_min=saved.timer_min, seed=self._seed.spawn(1)[0],
                                wake=WakeOverride(saved.wake_enabled, saved.wake_at),
                                schedule_handled=saved.schedule_handled, events=events)
        self.controller = controller
        # A focus session's chime, made now on a thread of its own: never on the audio thread later.
        threading.Thread(target=chime, args=(rate,), name="chime", daemon=True).start()
        writer = StateWriter(store, saved.playing)
        self._writer = writer
        events.subscribe(writer.on_state)
        events.subscribe(self._announce)
        scheduler = Scheduler(config.schedule, self.clock, controller.submit, lambda: events.latest.state,
                              require_synced=config.clock.require_synced, catch_up_min=config.clock.catch_up_min)
        self.scheduler = scheduler
        events.subscribe(scheduler.on_state)

        if config.mqtt.enabled:
            self.mqtt = self._start_mqtt(config, controller, catalog)
        if config.web.enabled:
            self.web = self._start_web(config, controller, store.path.parent)

        from bedside.adapters.controls import Controls, choose_pins, given_pins

        if self._pin_factory is not None:
            pins = given_pins(self._pin_factory)
        else:
            pins = choose_pins("simulated" if self._simulate_pins else config.controls.gpio)
        self.pins = pins
        simulated = pins.simulated
        if pins.problem:  # loud, in the journal and in `systemctl status`: the buttons are dead
            self.gpio_problem = f"GPIO FAILED: {pins.problem}"
            log.error("%s; the buttons and the knob do not work, playing on (MQTT and the timer work)",
                      self.gpio_problem)
        elif pins.fallbacks:
            log.warning("GPIO: %s; using %s", pins.fallbacks, pins.describe())
        try:
            self.controls = Controls(config.controls, controller.submit, pins.factory)
        except Exception as error:  # a pin in use, a driver error: keep the sound and MQTT going
            self.gpio_problem = f"GPIO FAILED: {error}"
            log.error("GPIO controls unavailable (%s): running without them", error)
        if self.controls is not None and self.controls.led is not None:
            events.subscribe(self.controls.led.on_state)
        keyboard = None
        if simulated and not pins.problem:
            asked = self._simulate_pins or self._pin_factory is not None or config.controls.gpio == "simulated"
            why = "asked for" if asked else "not a Raspberry Pi"
            log.info("using simulated pins (%s)", why)
            if self._keyboard_wanted if self._keyboard_wanted is not None else sys.stdin.isatty():
                from bedside.adapters.keyboard import HELP, Keyboard

                keyboard = Keyboard(controller.submit, self.request_exit)
                log.info(HELP)

        output = ResilientOutput(self._open_sink, rate, repr(config.audio.device))
        self.output = output
        if not output.try_open():
            log.info("no sound device: running on the null sink until %r appears", config.audio.device)
        # One period per wake-up: the device's poll wakes the loop when a period's worth of room is
        # free, and the rest of the buffer is the margin against a late wake-up.
        period = output.sink.period_frames if output.sink is not None else config.audio.period_frames
        player = Player(controller, output, period, realtime=self._realtime, after_write=self._after_write)
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
        events.start()
        audio.start()
        scheduler.start()
        name_threads()
        stopping_since: float | None = None
        stuck = False
        try:
            # Not only is_alive: the audio thread wakes this loop just before it ends, and a loop
            # that looked too early would sleep a whole look before seeing it gone.
            while not self._audio_done and audio.is_alive():
                if self._exit_requested and stopping_since is None:
                    stopping_since = time.monotonic()
                    writer.frozen = True
                    self.notifier.stopping()
                    player.stop(self._shutdown_fade())  # already, if a signal handler asked
                # Everything this loop acts on wakes it (a signal, a reload, the audio thread's end):
                # idle, it looks only every IDLE_LOOK_S; stopping, every STOPPING_LOOK_S for the deadline.
                wait = STOPPING_LOOK_S if stopping_since is not None else IDLE_LOOK_S
                if self._reload_requested and stopping_since is None:
                    wait = self._reload_due_in()
                    if wait <= 0:
                        self._reload_config()
                        wait = IDLE_LOOK_S
                if stopping_since is not None and time.monotonic() - stopping_since > STOP_DEADLINE_S:
                    stuck = True
                    log.error("the audio loop did not stop within %.0f s: its stacks follow; exiting", STOP_DEADLINE_S)
                    faulthandler.dump_traceback(all_threads=True)
                    break
                self.waker.wait(wait)
        finally:
            scheduler.close()
            player.stop(0.05)  # if the main thread itself failed: end the audio loop too
            audio.join(timeout=1 if stuck else 10)
            sys.setswitchinterval(previous_interval)
            events.close()  # what the loop said last reaches the listeners before they close
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
            log.info("stopped after %.0f s: %d underruns, %d late periods", time.monotonic() - started,
                     output.underruns, output.late_wakes)
        if failure:
            raise failure[0]
        return 1 if stuck else 0

    def _play(self, player: Player, failure: list[BaseException]) -> None:
        try:
            player.run()
        except BaseException as error:  # ends the process with the error, after the cleanup
            failure.append(error)
        finally:
            self._exit_requested = self._audio_done = True
            self.waker.set()

    def _after_write(self) -> None:
        """Once per block, on the audio thread: the watchdog, and READY=1 after the first."""
        self.notifier.progress()
        if not self.ready.is_set():
            assert self.controller is not None
            self.ready.set()
            self.notifier.ready(status_line(self.events.latest.state, self.gpio_problem))
            log.info("ready in %.2f s", time.monotonic() - self._started)

    def _start_mqtt(self, config: Config, controller: Controller, catalog: dict):
        from bedside.adapters.mqtt import MqttBridge

        try:
            page = None
            if config.web.enabled and not config.web.loopback_only():  # a page Home Assistant can link to
                from bedside.adapters.web import page_urls

                page = page_urls(*config.web.address())[0]
            bridge = MqttBridge(config.mqtt, controller.submit, list(catalog), config.timer.presets_min,
                                configuration_url=page, profiles=list(controller.profiles))
        except (OSError, ValueError) as error:  # an unreadable CA or password file: play on without MQTT
            log.error("MQTT disabled: %s", error)
            return None
        self.events.subscribe(bridge.on_state)
        bridge.on_state(self.events.latest)
        bridge.start()
        return bridge

    def _start_web(self, config: Config, controller: Controller, state_dir: Path):
        from bedside.adapters.web import WebServer

        try:
            web = WebServer(config.web, controller.submit, self.web_document, lambda: list(controller.catalog),
                            state_dir, lambda: list(controller.profiles))
        except (OSError, ValueError) as error:  # an unreadable password file: play on without the page
            log.error("web page disabled: %s", error)
            return None
        self.events.subscribe(web.on_state)
        web.start()
        return web

    def web_document(self) -> dict:
        """Everything the page shows (on a web thread): from the latest snapshot, never the engine."""
        from bedside.schedule import upcoming
        from bedside.view import page_document

        controller, scheduler = self.controller, self.scheduler
        assert controller is not None and scheduler is not None
        now, zone = self.clock.now(), self.clock.zone
        return page_document(self.events.latest.aged(), controller.catalog, self.config,
                             upcoming(now, zone, scheduler.entries(), days=7), now, zone,
                             auth=self.web is not None and self.web.password is not None)

    def _announce(self, snapshot: Snapshot) -> None:
        if snapshot.reason in STATUS_REASONS:
            self.notifier.status(status_line(snapshot.state, self.gpio_problem))


def install_signal_handlers(daemon: Daemon) -> None:
    """SIGTERM/SIGINT fade out and exit 0; SIGHUP reloads the config; SIGUSR1 shows the stacks.
    Handlers only set flags."""
    signal.signal(signal.SIGTERM, lambda *_: daemon.request_exit())
    signal.signal(signal.SIGINT, lambda *_: daemon.request_exit())
    signal.signal(signal.SIGHUP, lambda *_: daemon.request_reload())
    # `kill -USR1` writes every thread's stack to stderr (the journal): what a stuck box is doing.
    faulthandler.register(signal.SIGUSR1, all_threads=True)


#: Where `make install` puts the config (0640 root:bedside, in a 0750 folder).
SYSTEM_CONFIG = Path("/etc/bedside/bedside.toml")


def default_config_path(explicit: Path | None, environ: dict[str, str]) -> Path | None:
    """``--config``, else ``$BEDSIDE_CONFIG``, else /etc/bedside/bedside.toml if it exists."""
    if explicit is not None:
        return explicit
    if environ.get("BEDSIDE_CONFIG"):
        return Path(environ["BEDSIDE_CONFIG"])
    system = SYSTEM_CONFIG
    try:
        return system if system.exists() else None
    except PermissionError:  # there, but not for this user: load() says so, and what to do
        return system

