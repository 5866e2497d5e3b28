"""SIGHUP reload as one command: prepared off the audio thread, applied at once, heard smoothly."""

from __future__ import annotations

import time
from collections import deque

import numpy as np
import pytest
import soundfile
from test_appliance import Appliance, cycle_levels_db
from test_appliance import tone_file as tone_file  # the fixture

from bedside.commands import SetSound, TogglePlay


def scale_db(step: int, floor: float) -> float:
    return floor + (0.0 - floor) * (step - 1) / 99


def test_a_new_volume_floor_glides_to_its_level_and_the_knob_steps_on_the_new_scale(tmp_path, tone_file):
    """Raising floor_db from -60 to -10 moves the level to what the new scale gives for the same step,
    on a one-second glide, and a detent down is then one step of the new scale (not a jump)."""
    with Appliance(tmp_path, tone_file, stepped=True) as box:
        box.press(17)
        box.wait_for("started")
        box.advance(1.0)
        text = box.config_path.read_text()
        box.config_path.write_text(text.replace("default = 80", "default = 80\nfloor_db = -10.0"))
        _, _, reloaded = box.reload()
        box.advance(1.6)
        box.detent(clockwise=False)
        _, state, stepped = box.wait_for("volume")
        assert state.volume == 79
        box.advance(0.4)
    levels = cycle_levels_db(box.output())
    at, step_at = reloaded // 48, stepped // 48
    before, after = levels[at - 200:at - 1].mean(), levels[at + 1200:at + 1500].mean()
    assert after - before == pytest.approx(scale_db(80, -10.0) - scale_db(80, -60.0), abs=0.05)
    glide = levels[at - 2:at + 1200]
    assert np.abs(np.diff(glide)).max() < 0.5  # no jump: at most half a dB per millisecond
    assert np.nonzero(np.abs(glide - after) > 0.05)[0][-1] >= 900  # it takes about a second
    down = levels[step_at + 100:step_at + 300].mean()
    assert down - after == pytest.approx(-10.0 / 99, abs=0.02)  # one step of the new scale


def test_removing_the_playing_mix_falls_back_to_the_default_sound(tmp_path, tone_file, caplog):
    mix = ('[[sounds]]\nname = "tone-mix"\n'
           'layers = [{sound = "tone", level_db = 0}, {sound = "brown", level_db = -20}]\n')
    with Appliance(tmp_path, tone_file, extra=mix, stepped=True) as box:
        box.controller.submit(SetSound("tone-mix"))
        box.controller.submit(TogglePlay())
        box.wait_for("started")
        assert box.controller.state.sound == "tone-mix"
        box.advance(0.5)
        box.config_path.write_text(box.config_path.read_text().replace(mix, ""))
        _, state, _ = box.reload()
        assert state.sound == "tone" and state.playing
        assert "tone-mix" not in box.controller.catalog
        box.controller.submit(TogglePlay())  # stop, then play again: nothing refused
        box.controller.submit(TogglePlay())
        box.advance(0.5)
        assert box.controller.state.playing and box.controller.state.sound == "tone"
        assert box.engine.current == "tone"
    assert "no longer in the config" in caplog.text
    assert "refused" not in caplog.text


def test_declaring_a_twenty_minute_recording_never_makes_a_period_late(tmp_path, tone_file):
    """Decoding and measuring 20 minutes of audio takes seconds; the audio thread keeps its pace."""
    long = tmp_path / "long.wav"
    rng = np.random.default_rng(3)
    with soundfile.SoundFile(long, "w", 48000, 1, "PCM_16") as f:
        for _ in range(20):
            f.write((0.05 * rng.standard_normal(60 * 48000)).astype(np.float32))
    with Appliance(tmp_path, tone_file) as box:
        box.press(17)
        box.wait_for("started")
        time.sleep(1.0)
        player = box.daemon.player
        player.writes = deque(maxlen=100000)
        box.config_path.write_text(box.config_path.read_text()
                                   + f'[[sounds]]\nname = "long"\nfile = "{long}"\n')
        asked = time.monotonic()
        box.reload(timeout=120)
        took = time.monotonic() - asked
        time.sleep(0.2)
        writes = list(player.writes)
        assert "long" in box.controller.catalog
    times = np.array([t for _, t, _ in writes])
    sink = box.daemon.output
    buffer_s = box.daemon.config.audio.period_frames * box.daemon.config.audio.periods / 48000
    assert took < 10.0  # measured a piece at a time, not decoded whole (that took seconds)
    assert np.diff(times).max() < buffer_s, f"a {np.diff(times).max() * 1000:.0f} ms wait between two writes"
    assert sink.underruns == 0
