"""The ``bedside`` command line."""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from bedside import __version__
from bedside.audio.breath import Breathing
from bedside.audio.engine import Engine
from bedside.audio.heap import keep_freed_memory
from bedside.audio.player import Player, ProgressBar
from bedside.commands import Breathe, Play, SetTimer, Wake
from bedside.config import Config, ConfigError, load
from bedside.controller import Controller
from bedside.logs import BoundedLines, bounded, queued
from bedside.sounds import Sound, UnknownSound, catalog_for, lookup

EXIT_USAGE = 2
EXIT_CONFIG = 78  # EX_CONFIG
#: ``render --wake-up``: this much silence before the rise begins (the night before the morning).
WAKE_SILENCE_S = 5.0

log = logging.getLogger("bedside")


class CliError(Exception):
    """A user error: printed as one line, exit status 2."""


def _number(kind, low: float, high: float, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{what} must be a number, got {text!r}") from None
        if not (low <= value <= high) or (isinstance(value, float) and not math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{what} must be between {low:g} and {high:g}, got {text}")
        return value
    return parse


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2
        raise CliError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bedside", description="A bedside sleep-sound machine.")
    parser.add_argument("--version", action="version", version=f"bedside {__version__}")
    parser.add_argument("--config", type=Path, help="config file (default: $BEDSIDE_CONFIG, else built-in defaults)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("sounds", help="list the sounds")
    sub.add_parser("profiles", help="list the profiles (sleep, unwind, focus, nap and the config's own)")

    r = sub.add_parser("render", help="render a sound (or a whole night) to a WAV file")
    r.add_argument("sound")
    out = r.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", type=Path, help="WAV file to write")
    out.add_argument("--null", action="store_true", help="render and discard (for benchmarks)")
    r.add_argument("--seconds", type=_number(float, 0.01, 7 * 86400, "--seconds"), default=None,
                   help="length (default 60; with --wake-up: the silence, the rise and a minute more)")
    r.add_argument("--volume", type=_number(int, 0, 100, "--volume"), default=100,
                   help="volume step 0-100 (default 100: the calibrated level, -30 LUFS)")
    r.add_argument("--seed", type=_number(int, 0, 2**63 - 1, "--seed"), default=None)
    r.add_argument("--sleep-timer", type=_number(float, 0.01, 24 * 60, "--sleep-timer"), metavar="MIN",
                   help="minutes until silence")
    r.add_argument("--fade", type=_number(float, 0.01, 24 * 60, "--fade"), metavar="MIN",
                   help="length of the sleep fade in minutes (default: the whole timer, at most 15)")
    r.add_argument("--darken", action="store_true",
                   help="during the sleep fade, also glide a low-pass down, as a sound moving away")
    r.add_argument("--fade-in", type=_number(float, 0, 60, "--fade-in"), metavar="S",
                   help="seconds of fade-in at the start (default from config: 3)")
    r.add_argument("--wake-up", type=_number(float, 0.05, 180, "--wake-up"), metavar="MIN",
                   help="render a wake-up: 5 s of silence, then the sound rising from silence to "
                        "--volume over MIN minutes (linear in dB), then steady")
    r.add_argument("--brighten", action="store_true", help="with --wake-up: open a low-pass as it rises")
    r.add_argument("--breathe", type=_number(float, 0.1, 120, "--breathe"), metavar="MIN",
                   help="a breathing guide from the start: the sound swells with each inhale, the pace "
                        "slowing from 11 to 6 breaths a minute over MIN minutes (default length: the guide)")
    r.add_argument("--bits", type=int, choices=(16, 24, 32), default=16)
    r.add_argument("--rate", type=int, choices=(44100, 48000, 88200, 96000))
    r.add_argument("--block", type=_number(int, 16, 1 << 20, "--block"), default=16384,
                   help="frames per engine block (output is identical for any value, up to float rounding)")

    run = sub.add_parser("run", help="run the appliance: buttons, knob, LED, sleep timer (the daemon)")
    run.add_argument("--simulate-pins", action="store_true", help="use simulated pins even on a Pi")
    run.add_argument("--seed", type=_number(int, 0, 2**63 - 1, "--seed"), default=None)

    check = sub.add_parser("check-config", help="validate a config file without touching hardware")
    check.add_argument("path", nargs="?", type=Path)

    sub.add_parser("doctor", help="what bedside sees: sound devices, pins, config, MQTT broker")
    sched = sub.add_parser("schedule", help="the scheduled events of the next 7 days, and why any will not fire")
    sched.add_argument("--days", type=_number(int, 1, 31, "--days"), default=7)
    sub.add_parser("mqtt-info", help="the MQTT topics, and commands to try with mosquitto_pub")

    p = sub.add_parser("play", help="play a sound on ALSA in the foreground; Ctrl-C fades out")
    p.add_argument("sound", nargs="?")
    p.add_argument("--device", help="ALSA PCM name (default from config: 'default')")
    p.add_argument("--volume", type=_number(int, 0, 100, "--volume"), default=None)
    p.add_argument("--seed", type=_number(int, 0, 2**63 - 1, "--seed"), default=None)
    p.add_argument("--seconds", type=_number(float, 0.01, 7 * 86400, "--seconds"),
                   help="fade out and stop after this long")
    # `bedside run --config F` as well as `bedside --config F run`: people put options after the
    # command. SUPPRESS: not given after it, the one before it (or the default) stands.
    for command in sub.choices.values():
        command.add_argument("--config", type=Path, default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    return parser


def _config_path(args: argparse.Namespace) -> Path | None:
    from bedside.daemon import default_config_path

    if getattr(args, "path", None) is not None:  # check-config PATH
        return args.path
    return default_config_path(args.config, dict(os.environ))


def build_player(config: Config, rate: int, volume: int | None, seed: np.random.SeedSequence, output, block: int,
            realtime: bool) -> Player:
    """The one loop, as the appliance runs it, minus the buttons."""
    engine = Engine(rate, config.volume.scale())
    controller = Controller(engine, catalog_for(config, rate), config, volume=volume, seed=seed)
    return Player(controller, output, block, realtime=realtime)


def seeds(seed: int | None) -> tuple[np.random.SeedSequence, int]:
    """A seed for the sound and one for the dither; a fresh random one without ``--seed``."""
    root = np.random.SeedSequence(seed)
    sound_seed, dither_seed = root.spawn(2)
    return sound_seed, int(dither_seed.generate_state(1)[0])


def cmd_sounds(catalog: dict[str, Sound]) -> None:
    width = max(map(len, catalog))
    for sound in catalog.values():
        print(f"{sound.name:<{width}}  {sound.description}")


def cmd_profiles(config: Config) -> None:
    from bedside.profiles import describe, profiles_with

    profiles = profiles_with(config.profiles)
    width = max(map(len, profiles))
    for profile in profiles.values():
        print(f"{profile.name:<{width}}  {profile.description or describe(profile)}")
        if profile.description:
            print(f"{'':<{width}}  {describe(profile)}")


def cmd_render(args: argparse.Namespace, config: Config, catalog: dict[str, Sound], rate: int) -> None:
    sound = lookup(catalog, args.sound)
    if (args.fade is not None or args.darken) and args.sleep_timer is None:
        raise CliError("--fade and --darken need --sleep-timer")
    if args.wake_up is not None and args.fade_in is not None:
        raise CliError("--wake-up rises from silence by itself: leave out --fade-in")
    if args.brighten and args.wake_up is None:
        raise CliError("--brighten needs --wake-up")
    if args.wake_up is not None and args.volume == 0:
        raise CliError("--wake-up needs a --volume of at least 1")
    fmt = {16: "S16_LE", 24: "S24_3LE", 32: "S32_LE"}[args.bits]
    sound_seed, dither_seed = seeds(args.seed)
    if args.sleep_timer is not None:
        fade = min(args.sleep_timer, 15.0) if args.fade is None else args.fade
        if fade > args.sleep_timer:
            raise CliError("--fade cannot be longer than --sleep-timer")
        config = replace(config, timer=replace(config.timer, fade_min=fade, darken=args.darken))
    if args.null:
        from bedside.audio.sinks import NullSink
        sink = NullSink(rate, fmt, dither_seed)
    else:
        from bedside.audio.sinks.wav import WavSink
        try:
            sink = WavSink(args.output, rate, fmt, dither_seed)
        except OSError as error:
            raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    if args.breathe is not None and args.wake_up is not None:
        raise CliError("--breathe and --wake-up are for different moments: one at a time")
    guide = Breathe(minutes=args.breathe) if args.breathe is not None else None
    default_s = 60.0 if args.wake_up is None else WAKE_SILENCE_S + args.wake_up * 60 + 60
    if guide is not None:
        default_s = Breathing(guide.from_bpm, guide.to_bpm, guide.minutes).seconds + 10.0
    seconds = args.seconds if args.seconds is not None else default_s
    player = build_player(config, rate, args.volume, sound_seed, sink, args.block, realtime=False)
    frames = player.engine.seconds(seconds)
    progress = ProgressBar(f"{sound.name} {seconds:g} s") if seconds >= 60 else None
    # The controller tells the journal what the appliance plays; a render is not playing anything.
    controller_log = logging.getLogger("bedside.controller")
    level = controller_log.level
    controller_log.setLevel(logging.WARNING)
    try:
        if args.wake_up is not None:  # silence, then the wake-up as the scheduler starts it
            player.run(frames=min(frames, player.engine.seconds(WAKE_SILENCE_S)))
            player.controller.submit(Wake(sound.name, args.volume, rise_s=args.wake_up * 60, brighten=args.brighten))
        else:
            fade_in = config.sound.fade_in_s if args.fade_in is None else args.fade_in
            player.controller.submit(Play(sound.name, fade_s=fade_in))
            if guide is not None:
                player.controller.submit(guide)
        if args.sleep_timer is not None:
            player.controller.submit(SetTimer(args.sleep_timer))
        player.run(frames=frames, progress=progress)
    finally:
        controller_log.setLevel(level)
        sink.close()
    print(f"rendered {sound.name}: {seconds:g} s" + ("" if args.null else f" to {args.output}"))
    if player.engine.limited_samples:
        log.info("limiter touched %d samples", player.engine.limited_samples)


def cmd_schedule(config: Config, days: int) -> None:
    """The next ``days`` days of events, in local time, with why any will not fire."""
    from datetime import UTC, datetime

    from bedside.clock import clock_synced, system_zone
    from bedside.schedule import WakeOverride, effective, upcoming
    from bedside.state import StateStore, state_directory

    zone = system_zone(config.clock.timezone)
    saved = StateStore(state_directory(config.state.directory)).read()
    override = WakeOverride(saved.wake_enabled, saved.wake_at)
    synced = clock_synced()
    now = datetime.now(UTC)
    print(f"time zone {zone.key}; now {now.astimezone(zone):%a %d %b %H:%M %Z}; clock "
          + ("synchronised" if synced else "NOT synchronised"
             + (": nothing fires until NTP has set it ([clock] require_synced)" if config.clock.require_synced
                else " (require_synced = false: firing anyway)")))
    if saved.wake_enabled is not None or saved.wake_at is not None:
        state = "off" if saved.wake_enabled is False else "on"
        at = f" at {saved.wake_at}" if saved.wake_at else ""
        print(f"wake-up set from Home Assistant: {state}{at} (overrides the config until changed there)")
    # Every entry, including wake-ups switched off, so that the list can say why they will not fire.
    shown = effective(config.schedule, WakeOverride(None if override.enabled is False else override.enabled,
                                                     override.at))
    events = upcoming(now, zone, shown, days)
    if not events:
        print(f"nothing scheduled in the next {days} days" + ("" if config.schedule else " (no [[schedule]] entries)"))
    for event in events:
        why = []
        if event.entry.action == "wake" and override.enabled is False:
            why.append("wake-up switched off from Home Assistant")
        if config.clock.require_synced and not synced:
            why.append("clock not synchronised")
        moved = " (moved: that time does not exist that day)" if event.shifted else ""
        note = f"  — will not fire: {', '.join(why)}" if why else ""
        print(f"{event.local(zone):%a %d %b %H:%M %Z}  {event.entry.name}: {event.entry.describe()}{moved}{note}")


def cmd_play(args: argparse.Namespace, config: Config, catalog: dict[str, Sound]) -> None:
    from bedside.audio.output import ResilientOutput
    from bedside.audio.sinks import AudioDeviceError
    from bedside.audio.sinks.alsa import AlsaSink
    from bedside.daemon import SWITCH_INTERVAL_S, one_heap

    one_heap()  # as the daemon: its synthesis and audio threads share one C heap
    sound = lookup(catalog, args.sound or config.sound.default)
    sound_seed, dither_seed = seeds(args.seed)
    try:
        sink = AlsaSink.from_config(config.audio, dither_seed, device=args.device)
    except AudioDeviceError as error:
        raise CliError(str(error)) from None
    # The daemon's output, so that play sounds as run does: a device without a clock (ALSA's file
    # plugin) is paced in real time, and a device lost while playing is retried.
    first = [sink]
    output = ResilientOutput(lambda: first.pop() if first else AlsaSink.from_config(config.audio, dither_seed,
                                                                                      device=args.device),
                             sink.rate, repr(sink.device))
    output.try_open()
    player = build_player(config, sink.rate, args.volume, sound_seed, output, sink.period_frames, realtime=True)
    player.controller.submit(Play(sound.name))
    print(f"playing {sound.name} on {sink.device} ({sink.format}, {sink.rate} Hz, "
          f"{sink.period_frames} frames × {sink.periods}); Ctrl-C fades out", file=sys.stderr)
    previous = {s: signal.signal(s, lambda *_: player.stop(config.sound.stop_fade_s))
                for s in (signal.SIGINT, signal.SIGTERM)}
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        with queued():
            player.run(stop_after=None if args.seconds is None else player.engine.seconds(args.seconds))
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        output.close()
    if output.underruns:
        print(f"{output.underruns} underruns", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(BoundedLines())
    try:
        args = build_parser().parse_args(argv)
    except CliError as error:
        print(bounded(f"bedside: {error}"), file=sys.stderr)
        return EXIT_USAGE
    try:
        config = load(_config_path(args))
        rate = getattr(args, "rate", None) or config.audio.rate
        catalog = catalog_for(config, rate)
    except ConfigError as error:
        if args.command == "doctor":  # the doctor reports a bad config rather than refusing to run
            from bedside.doctor import doctor
            return doctor(None, str(error))
        print(bounded(f"bedside: config: {error}"), file=sys.stderr)
        return EXIT_CONFIG
    if args.command in ("run", "render", "play"):
        keep_freed_memory()  # each block's temporaries reused, not page faults again (audio/heap.py)
    try:
        if args.command == "sounds":
            cmd_sounds(catalog)
        elif args.command == "profiles":
            cmd_profiles(config)
        elif args.command == "check-config":
            print(f"config OK: {config.path or 'built-in defaults'} ({len(catalog)} sounds)")
        elif args.command == "doctor":
            from bedside.doctor import doctor
            return doctor(config)
        elif args.command == "schedule":
            cmd_schedule(config, args.days)
        elif args.command == "mqtt-info":
            from bedside.doctor import mqtt_info
            mqtt_info(config)
        elif args.command == "run":
            from bedside.daemon import Daemon, install_signal_handlers
            daemon = Daemon(config, simulate_pins=args.simulate_pins, seed=args.seed)
            install_signal_handlers(daemon)
            return daemon.run()
        elif args.command == "render":
            cmd_render(args, config, catalog, rate)
        elif args.command == "play":
            cmd_play(args, config, catalog)
    except (CliError, UnknownSound) as error:
        print(bounded(f"bedside: {error}"), file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `bedside sounds | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0
