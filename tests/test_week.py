"""A week of nights in a few minutes, on the sample clock: the real controller, engine, player and
scheduler, a wall clock that is the engine's clock while something plays and jumps ahead while
nothing does (as the daemon's player rests), and an unpaced sink that watches every sample.

Schedules (with the night the clocks go back in Europe/London), sleep timers, wake-ups and random
commands from every adapter (buttons, knob, potentiometer, keyboard, MQTT and page payloads through
their parser, reloads): every scheduled event fires exactly once, no gain ever steps by more than
0.01 dB from one sample to the next (nor stops or starts but from -100 dB), and memory stays flat.
"""

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from bedside.adapters.ha import parse_command
from bedside.audio.engine import Engine
from bedside.audio.player import Player
from bedside.audio.sinks import Unclocked
from bedside.commands import (
    NextSound,
    PlayHeld,
    Reload,
    ScheduleStatus,
    SetVolume,
    StepTimer,
    StepVolume,
    TogglePlay,
)
from bedside.config import load
from bedside.controller import Controller
from bedside.schedule import events_between
from bedside.scheduler import Scheduler
from bedside.sounds import Sound

pytestmark = pytest.mark.long

RATE = 48000
BLOCK = 16384
ZONE = ZoneInfo("Europe/London")
#: Wednesday before the clocks go back (Sunday 25 October 2026, 02:00 BST → 01:00 GMT), at noon.
START = datetime(2026, 10, 21, 12, 0, tzinfo=ZONE).astimezone(UTC)
DAYS = 7
#: The largest change of gain between two samples that is not a zipper.
MAX_STEP_DB = 0.01
#: Below -90 dBFS nothing is audible (a DAC's own noise is louder): a sound may only stop at exact
#: zero (or start from it) from below this, and steps are measured above it. Down there, the sleep
#: fade's low-pass rings out its last samples at 400 Hz after the gain reached zero (0.45 dB a sample
#: at -100 dB and below): a filter's tail, not a gain. The probes are loud so that the whole range
#: of the volume (step 1 is -60 dB) is measured.
SILENT_EDGE = 10 ** (-90 / 20)

SCHEDULE = """
[timer]
presets_min = [15, 30, 45]
fade_min = 10.0
darken = true
[[schedule]]
days = "daily"
at = "22:30"
action = "start"
sound = "low"
volume = 30
timer_min = 45
[[schedule]]
days = "daily"
at = "01:30"
action = "stop"
fade_min = 1
[[schedule]]
days = "weekdays"
at = "06:45"
action = "wake"
sound = "high"
volume = 45
rise_min = 15
brighten = true
stop_after_min = 30
[[schedule]]
days = "weekends"
at = "08:30"
action = "wake"
rise_min = 20
stop_after_min = 40
[[schedule]]
days = "daily"
at = "12:15"
action = "stop"
fade_min = 2
[[schedule]]
days = "daily"
at = "16:00"
action = "stop"
fade_min = 0.5
[[schedule]]
days = "daily"
at = "19:45"
action = "stop"
fade_min = 3
"""


class Constant:
    """A level that never moves: whatever changes in the output is gain."""

    def __init__(self, level: float) -> None:
        self.level = np.float32(level)

    def render(self, frames: int) -> np.ndarray:
        return np.full((frames, 2), self.level, np.float32)


SOUNDS = {
    "low": Sound("low", "a constant at -10 dBFS", lambda rate, seed: Constant(0.3)),
    "high": Sound("high", "a constant at -7 dBFS", lambda rate, seed: Constant(0.45)),
    "birds": Sound("birds", "the wake-up's own sound, a constant too", lambda rate, seed: Constant(0.4)),
}


class GainWatch(Unclocked):
    """An unpaced sink that checks every sample against the one before it."""

    rate, format = RATE, "F32"

    def __init__(self) -> None:
        self.last = 0.0
        self.frames = 0
        self.worst_step_db = 0.0
        self.worst_at: tuple[int, float, float] | None = None  # the frame, the two levels
        self.bad_edges: list[tuple[int, float, float]] = []

    def write(self, block: np.ndarray) -> None:
        x = np.concatenate([[self.last], np.abs(block[:, 0].astype(np.float64))])
        before, after = x[:-1], x[1:]
        both = (before > SILENT_EDGE) & (after > SILENT_EDGE)
        if both.any():
            steps = np.zeros(len(before))
            steps[both] = np.abs(20 * np.log10(after[both] / before[both]))
            worst = int(steps.argmax())
            if steps[worst] > self.worst_step_db:
                self.worst_step_db = float(steps[worst])
                self.worst_at = (self.frames + worst, float(before[worst]), float(after[worst]))
        edge = (before > 0) != (after > 0)
        for i in np.flatnonzero(edge & (np.maximum(before, after) > SILENT_EDGE)):  # a stop or start: from silence
            self.bad_edges.append((self.frames + int(i), float(before[i]), float(after[i])))
        self.last = float(x[-1])
        self.frames += len(block)

    def rest(self) -> None:
        """Nothing plays: the device stops after what it holds; what comes next starts from silence."""
        if self.last > SILENT_EDGE:
            self.bad_edges.append((self.frames, self.last, 0.0))
        self.last = 0.0

    def close(self) -> None:
        pass


@dataclass
class SampleClock:
    """The wall clock as the daemon sees it: the engine's frames while it plays, plus the time that
    passed while nothing did (the player rests and the engine's clock stops)."""

    engine: Engine
    idle_s: float = 0.0
    zone: ZoneInfo = ZONE

    def now(self) -> datetime:
        return START + timedelta(seconds=self.engine.now / RATE + self.idle_s)

    def synced(self) -> bool:
        return True


def random_commands(rng: np.random.Generator, per_day: int) -> list[tuple[datetime, str, object]]:
    """What people and Home Assistant do at random moments: every adapter's commands."""
    adapters = {
        "play button": lambda: TogglePlay(),
        "play button held": lambda: PlayHeld(steps_timer=False),
        "sound button": lambda: NextSound(int(rng.choice([-1, 1]))),
        "timer button": lambda: StepTimer(),
        "knob": lambda: StepVolume(int(rng.integers(-3, 4))),
        "potentiometer": lambda: SetVolume(int(rng.integers(0, 101))),
        "keyboard": lambda: [TogglePlay(), StepVolume(1), StepTimer()][int(rng.integers(0, 3))],
        "mqtt": lambda: parse_command(rng.choice([
            b'{"state": "ON"}', b'{"state": "OFF"}', b'{"volume": 20}', b'{"volume": 100}', b'{"volume": 1}',
            b'{"sound": "high"}', b'{"sound": "low", "state": "ON"}', b'{"timer": 15}', b'{"timer": 0}',
            b'{"fade_out": 30}', b'{"volume_step": 5}', b'{"volume_step": -20}']), list(SOUNDS)),
        "page": lambda: parse_command(rng.choice([b'{"state": "ON", "volume": 35}', b'{"timer": 30}',
                                                  b'{"state": "OFF"}']), list(SOUNDS)),
        "reload": lambda: "reload",
    }
    names = list(adapters)
    moments = np.sort(rng.uniform(0, DAYS * 86400, DAYS * per_day))
    return [(START + timedelta(seconds=float(t)), name, adapters[name]())
            for t, name in zip(moments, rng.choice(names, len(moments)), strict=True)]


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_week_of_nights_on_the_sample_clock(tmp_path):
    config_path = tmp_path / "bedside.toml"
    config_path.write_text(SCHEDULE)
    config = load(config_path)
    engine = Engine(RATE, config.volume.scale())
    controller = Controller(engine, SOUNDS, config, sound="low", volume=30, seed=np.random.SeedSequence(18))
    watch = GainWatch()
    player = Player(controller, watch, BLOCK, realtime=False)
    clock = SampleClock(engine)
    fired: list[object] = []

    def from_schedule(command) -> None:
        if not isinstance(command, ScheduleStatus):
            fired.append(command)
        controller.submit(command)

    scheduler = Scheduler(config.schedule, clock, from_schedule, lambda: controller.events.latest.state,
                          require_synced=True, catch_up_min=config.clock.catch_up_min)
    pending = random_commands(np.random.default_rng(18), per_day=40)
    end = START + timedelta(days=DAYS)
    look_at = START
    rss_after_first_day = None
    began = time.monotonic()
    while (now := clock.now()) < end:
        if now >= look_at:
            look_at = now + timedelta(seconds=scheduler.step())
        while pending and pending[0][0] <= now:
            _, _, command = pending.pop(0)
            controller.submit(Reload(config, SOUNDS) if command == "reload" else command)
        controller.process_pending()
        horizon = min([look_at, end] + ([pending[0][0]] if pending else []))
        if engine.audible or controller.preparing:
            frames = min(BLOCK, max(1, math.ceil((horizon - now).total_seconds() * RATE)))
            player.run(frames=engine.now + frames)
        else:
            watch.rest()  # as the player rests the device
            clock.idle_s += max((horizon - now).total_seconds(), 1 / RATE)
        if rss_after_first_day is None and now >= START + timedelta(days=1):
            rss_after_first_day = rss_bytes()
    wall = time.monotonic() - began

    expected = events_between(START, end, ZONE, config.schedule)
    unique = {id(command): command for command in fired}  # a snooze re-sends the same wake-up
    audio_h = watch.frames / RATE / 3600
    print(f"\na week: {len(expected)} events, {len(unique)} fired, {audio_h:.1f} h of sound, "
          f"{DAYS * 86400 / wall:.0f}× real time ({wall:.0f} s), worst gain step {watch.worst_step_db:.4f} dB, "
          f"RSS {rss_after_first_day / 2**20:.1f} → {rss_bytes() / 2**20:.1f} MiB")
    assert len(unique) == len(expected), (len(unique), [e.entry.describe() for e in expected])
    back = [e for e in expected if e.when.astimezone(ZONE).date() == datetime(2026, 10, 25).date()
            and e.entry.action == "stop" and e.when.astimezone(ZONE).hour == 1]
    assert len(back) == 1  # 01:30 happened twice that night; the stop fired once
    assert watch.worst_step_db <= MAX_STEP_DB
    assert watch.bad_edges == []
    assert rss_bytes() - rss_after_first_day <= 2 * 2**20
    assert DAYS * 86400 / wall >= 50
