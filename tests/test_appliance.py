"""The appliance end to end: gpiozero's MockFactory pins in, a real ALSA PCM (the file plugin) out.

The daemon runs in a thread (its loop, controller and engine are the real ones); the tests press
buttons with drive_low()/drive_high() and read what came out of libasound's file plugin.
"""

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from pageless import pageless
from stepped import SteppedSink

from bedside.audio.pcm import decode
from bedside.config import load
from bedside.daemon import Daemon

RATE = 48000
PLAY, SOUND, TIMER, ENC_A, ENC_B = 17, 27, 22, 5, 6
STEP_DB = 60 / 99


@pytest.fixture(scope="module")
def tone_file(tmp_path_factory) -> Path:
    """A 1 kHz tone: its level can be read exactly from each 1 ms cycle."""
    path = tmp_path_factory.mktemp("sounds") / "tone.wav"
    t = np.arange(30 * RATE) / RATE
    soundfile.write(path, 0.2 * np.sin(2 * np.pi * 1000 * t), RATE)
    return path


class Appliance:
    """The daemon in a thread. ``stepped``: on the test's sample clock (a :class:`SteppedSink`, sounds
    built in place): audio time passes only in :meth:`advance` and in :meth:`wait_for`, not by sleeping."""

    def __init__(self, tmp_path: Path, tone: Path, extra: str = "", state_extra: str = "", clock=None,
                 stepped: bool = False) -> None:
        self.raw = tmp_path / "out.raw"
        self.raw.unlink(missing_ok=True)
        self.config_path = tmp_path / "bedside.toml"
        self.config_path.write_text(f"""
[audio]
device = "file:'{self.raw}',raw"
[sound]
default = "tone"
fade_in_s = 0.5
stop_fade_s = 0.5
[volume]
default = 80
[state]
directory = "{tmp_path / 'state'}"
{state_extra}
[[sounds]]
name = "tone"
file = "{tone}"
{pageless(extra)}
""")
        self.sink = SteppedSink(RATE) if stepped else None
        steps = {"realtime": False, "sink_factory": lambda audio, seed: self.sink} if stepped else {}
        self.daemon = Daemon(load(self.config_path), simulate_pins=True, keyboard=False, seed=1, clock=clock, **steps)
        self.events: list[tuple[str, object, int]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.exit_code = None

    def _run(self) -> None:
        self.exit_code = self.daemon.run()

    def __enter__(self):
        self.thread.start()
        if self.sink is not None:
            self.sink.grant(self.sink.period_frames)  # READY=1 comes after the first block
        assert self.daemon.ready.wait(10)
        self.controller.subscribe(lambda snap: self.events.append((snap.reason, snap.state, snap.frame)))
        return self

    def __exit__(self, *exc):
        if self.sink is not None:
            self.sink.free()
        self.daemon.request_exit()
        self.thread.join(10)
        assert self.exit_code == 0

    @property
    def controller(self):
        return self.daemon.controller

    @property
    def engine(self):
        return self.daemon.controller.engine

    def pin(self, number: int):
        return self.daemon.pins.factory.pin(number)

    def press(self, number: int, hold: float = 0.05) -> None:
        self.pin(number).drive_low()
        time.sleep(hold)
        self.pin(number).drive_high()
        time.sleep(0.05)

    def detent(self, clockwise: bool = True) -> None:
        a, b = self.pin(ENC_A), self.pin(ENC_B)
        first, second = (a, b) if clockwise else (b, a)
        for pin, drive in ((first, "drive_low"), (second, "drive_low"), (first, "drive_high"),
                           (second, "drive_high")):  # one quadrature cycle: one detent
            getattr(pin, drive)()
            time.sleep(0.002)
        time.sleep(0.05)

    def advance(self, seconds: float) -> None:
        """Stepped: let ``seconds`` of sound through (at the speed the loop can render them)."""
        self.sink.grant(round(seconds * RATE))
        self.daemon.events.wait_delivered()

    def reload(self, timeout: float = 10.0):
        """SIGHUP, as the daemon takes it (after RELOAD_QUIET_S of wall time, the sample clock held
        meanwhile so the reload lands where the test left the sound): the "reloaded" event."""
        self.daemon.request_reload()
        deadline = time.monotonic() + timeout
        while self.daemon.reload_requested and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.wait_for("reloaded", timeout)

    def wait_for(self, reason: str, timeout: float = 10.0):
        """The first event for ``reason``: stepped, up to ``timeout`` seconds of sound in 10 ms steps."""
        deadline = time.monotonic() + timeout
        frames = 0
        while time.monotonic() < deadline or (self.sink is not None and frames < timeout * RATE):
            for event in self.events:
                if event[0] == reason:
                    return event
            if self.sink is not None:
                self.advance(0.02)
                frames += RATE // 50
            else:
                time.sleep(0.01)
        raise AssertionError(f"no {reason!r} event; saw {[e[0] for e in self.events]}")

    def output(self) -> np.ndarray:
        if self.sink is not None:
            return self.sink.output()
        return decode(self.raw.read_bytes(), "S32_LE")[:, 0]


def cycle_levels_db(x: np.ndarray) -> np.ndarray:
    """RMS level of each 1 ms (one cycle of the 1 kHz tone), in dB."""
    cycles = x[: len(x) // 48 * 48].reshape(-1, 48)
    return 10 * np.log10(np.mean(cycles**2, axis=1) + 1e-30)


def test_a_press_starts_the_sound_with_a_fade_in(tmp_path, tone_file):
    with Appliance(tmp_path, tone_file, stepped=True) as box:
        box.advance(0.3)
        box.press(PLAY)
        _, state, frame = box.wait_for("started")
        assert state.playing and state.sound == "tone"
        box.advance(1.0)
    out = box.output()
    assert np.all(out[:frame] == 0)  # silence until the press
    levels = cycle_levels_db(out[frame:frame + RATE])
    assert levels[5] < levels[250] - 20  # still fading in after 5 ms, well up after 250 ms
    assert np.all(np.diff(levels[: 500]) > -0.01)  # rising the whole way, no dip, no click


def test_one_detent_is_one_volume_step_without_a_click(tmp_path, tone_file):
    with Appliance(tmp_path, tone_file, stepped=True) as box:
        box.press(PLAY)
        box.wait_for("started")
        box.advance(0.8)
        box.detent(clockwise=True)
        _, state, frame = box.wait_for("volume")
        assert state.volume == 81
        box.advance(0.3)
    levels = cycle_levels_db(box.output())
    at = frame // 48
    before, after = levels[at - 100:at - 1].mean(), levels[at + 100:at + 200].mean()
    assert after - before == pytest.approx(STEP_DB, abs=0.02)
    ramp = np.nonzero(np.abs(levels[at - 5:at + 100] - after) > 0.01)[0]
    assert ramp[-1] >= 30  # the change is spread over at least 30 ms
    assert np.abs(np.diff(levels[at - 5:at + 100])).max() < 0.05  # in small steps: no click, no zip


def test_a_long_press_sets_the_timer_and_the_night_ends_on_its_sample(tmp_path, tone_file):
    extra = "[timer]\npresets_min = [0.1]\nfade_min = 0.05\n[controls]\ntimer_pin = false\nlong_press_s = 0.5\n"
    with Appliance(tmp_path, tone_file, extra, stepped=True) as box:
        box.press(PLAY)
        box.wait_for("started")
        box.advance(0.3)
        box.press(PLAY, hold=0.8)  # long press: the timer, and its release does not stop the sound
        _, state, _ = box.wait_for("timer")
        assert state.timer_min == 0.1 and state.playing
        box.wait_for("timer_expired", timeout=15)
        box.advance(0.3)
    end = state.timer_end
    out = box.output()
    assert out[end - 1] != 0 and np.all(out[end:] == 0)  # exact zeros from the expiry sample
    levels = cycle_levels_db(out[end - 3 * RATE:end])
    fade = levels[: 1500]  # the audible half of the 3 s dB-linear fade
    slope = np.polyfit(np.arange(len(fade)), fade, 1)[0] * 1000  # dB per second
    assert slope == pytest.approx(-(100 + (STEP_DB * 79 - 60)) / 3, rel=0.1)
    assert not box.controller.state.playing


def test_button_bounce_makes_one_action(tmp_path, tone_file):
    with Appliance(tmp_path, tone_file) as box:
        pin = box.pin(PLAY)
        edges = [pin.drive_low, pin.drive_high] * 4 + [pin.drive_low]  # a chattering contact
        for drive in edges:
            drive()
            time.sleep(0.001)
        time.sleep(0.1)
        pin.drive_high()  # the real release
        time.sleep(0.3)
        reasons = [e[0] for e in box.events]
    assert reasons == ["started"]


def test_sound_button_next_and_long_press_previous(tmp_path, tone_file):
    with Appliance(tmp_path, tone_file) as box:
        box.press(PLAY)
        box.wait_for("started")
        names = list(box.controller.catalog)
        box.press(SOUND)
        assert box.wait_for("sound")[1].sound == names[(names.index("tone") + 1) % len(names)]
        box.events.clear()
        box.press(SOUND, hold=1.2)
        assert box.wait_for("sound")[1].sound == "tone"


def test_state_survives_a_restart(tmp_path, tone_file):
    extra = "[timer]\npresets_min = [20, 45]\n"
    with Appliance(tmp_path, tone_file, extra) as box:
        box.press(PLAY)
        box.wait_for("started")
        for _ in range(3):
            box.detent(clockwise=False)
        box.press(TIMER)
        box.press(TIMER)
        time.sleep(1.5)  # the state file is written a second after the last change
    saved = json.loads((tmp_path / "state" / "state.json").read_text())
    # Still "playing": it was stopped by shutting down, not by the user (resume_on_boot uses it).
    assert saved == {"sound": "tone", "volume": 77, "timer_min": 45.0, "playing": True,
                     "wake_enabled": None, "wake_at": None, "schedule_handled": None}
    with Appliance(tmp_path, tone_file, extra) as box:
        state = box.controller.state
        assert (state.sound, state.volume, state.timer_min, state.playing) == ("tone", 77, 45.0, False)


def test_resume_on_boot(tmp_path, tone_file):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text('{"sound": "tone", "volume": 64, "playing": true}')
    with Appliance(tmp_path, tone_file) as box:
        time.sleep(0.2)
        assert not box.controller.state.playing  # resume_on_boot is off by default
    with Appliance(tmp_path, tone_file, state_extra="resume_on_boot = true") as box:
        time.sleep(0.2)
        assert box.controller.state.playing and box.controller.state.volume == 64


def test_a_corrupt_state_file_means_defaults_and_a_warning(tmp_path, tone_file, caplog):
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "state.json").write_text("{not json")
    with Appliance(tmp_path, tone_file) as box:
        assert box.controller.state.volume == 80 and not box.controller.state.playing
    assert "is invalid" in caplog.text and (tmp_path / "state" / "state.json.bad").exists()
    (tmp_path / "state" / "state.json").write_text('{"volume": 900}')
    with Appliance(tmp_path, tone_file) as box:
        assert box.controller.state.volume == 80
    assert "invalid" in caplog.text


def test_a_stop_is_on_disk_before_its_fade_ends(tmp_path, tone_file):
    """With resume_on_boot, a power cut just after pressing stop must not bring the sound back:
    the playing flag is written at once (volume changes still wait a second, for the SD card)."""
    state_file = tmp_path / "state" / "state.json"
    with Appliance(tmp_path, tone_file, state_extra="resume_on_boot = true") as box:
        box.press(PLAY)
        box.wait_for("started")
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline and not (state_file.exists()
                                                   and json.loads(state_file.read_text())["playing"]):
            time.sleep(0.01)
        assert json.loads(state_file.read_text())["playing"]  # a start: at once too
        box.press(PLAY)
        box.wait_for("stopped")
        time.sleep(0.3)  # well inside the stop fade (and the old 1 s delay)
        assert json.loads(state_file.read_text())["playing"] is False
        box.detent(clockwise=True)
        time.sleep(0.3)
        assert json.loads(state_file.read_text())["volume"] == 80  # a detent: a second later
        time.sleep(1.2)
        assert json.loads(state_file.read_text())["volume"] == 81


def test_leftovers_of_an_interrupted_save_are_removed_at_start(tmp_path, tone_file):
    (tmp_path / "state").mkdir()
    for name in (".state-abc123", ".state-x"):
        (tmp_path / "state" / name).write_text('{"volume": ')  # a kill mid-write
    (tmp_path / "state" / "state.json").write_text('{"volume": 33}')
    with Appliance(tmp_path, tone_file) as box:
        assert box.controller.state.volume == 33
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["state.json"]


def test_an_audio_loop_that_will_not_stop_ends_the_process_with_its_stacks(tmp_path, tone_file, monkeypatch,
                                                                              capfd, caplog):
    """A stop that never reaches silence (here: the engine keeps saying it is audible) must not hang
    the process: after the deadline every thread's stack goes to stderr and run() returns 1."""
    import bedside.daemon
    from bedside.audio.engine import Engine

    stuck = threading.Event()
    stuck.set()
    monkeypatch.setattr(bedside.daemon, "STOP_DEADLINE_S", 1.0)
    monkeypatch.setattr(Engine, "audible", property(lambda self: stuck.is_set() or bool(self.voices)))
    box = Appliance(tmp_path, tone_file)
    box.thread.start()
    assert box.daemon.ready.wait(10)
    asked = time.monotonic()
    box.daemon.request_exit()
    box.thread.join(10)
    assert not box.thread.is_alive() and box.exit_code == 1
    assert 1.0 <= time.monotonic() - asked < 5
    assert "did not stop within 1 s" in caplog.text
    stacks = capfd.readouterr().err
    assert "Thread 0x" in stacks and "bedside/audio/player.py" in stacks  # the audio loop, where it was
    stuck.clear()  # and the loop, let go, ends: nothing of this test runs on into the next
    audio = [t for t in threading.enumerate() if t.name == "audio"]
    for thread in audio:
        thread.join(5)
    assert not any(t.is_alive() for t in audio)
