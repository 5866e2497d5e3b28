"""Real ALSA PCMs through libasound (the file and null plugins), and the command line end to end."""

import gc
import logging
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from bedside.audio.pcm import decode
from bedside.audio.sinks import AudioDeviceError, Unclocked
from bedside.audio.sinks.alsa import AlsaSink
from bedside.audio.sinks.wav import read_wav
from bedside.cli import main

BEDSIDE = [sys.executable, "-m", "bedside"]


def cli(*args, **kw):
    return subprocess.run([*BEDSIDE, *args], capture_output=True, text=True, timeout=300, **kw)


@pytest.mark.parametrize("bits", [16, 32])
def test_alsa_file_plugin_output_equals_the_wav_render(tmp_path, bits):
    wav, raw = tmp_path / "x.wav", tmp_path / "x.raw"
    # One engine block size for both (the engine's output is the same for any, up to float rounding).
    common = ["rain", "--seconds", "4", "--seed", "11", "--bits", str(bits), "--volume", "60", "--block", "4096"]
    assert cli("render", *common, "-o", str(wav)).returncode == 0
    # The same engine, encoder and seed, written through libasound's file plugin instead.
    from bedside import cli as cli_module
    from bedside.commands import Play

    fmt = {16: "S16_LE", 32: "S32_LE"}[bits]
    sink = AlsaSink(f"file:'{raw}',raw", 48000, 256, 4, formats=(fmt,),
                    dither_seed=cli_module.seeds(11)[1])
    assert sink.info["format_name"] == fmt and sink.info["rate"] == 48000
    player = cli_module.build_player(cli_module.Config(), 48000, 60, cli_module.seeds(11)[0], sink, 4096,
                                realtime=False)
    player.controller.submit(Play("rain", fade_s=3.0))
    player.run(frames=player.engine.seconds(4))
    sink.close()
    with wave.open(str(wav)) as f:
        expected = f.readframes(f.getnframes())
    assert raw.read_bytes() == expected
    assert np.abs(decode(expected, fmt)).max() > 0.001  # there is sound in it


def test_alsa_null_device_plays_and_reports_what_was_granted():
    sink = AlsaSink("null", 48000, 256, 4)
    assert sink.format == "S32_LE"  # 32-bit preferred
    assert sink.period_frames == sink.info["period_size"]
    sink.write(np.zeros((1000, 2), np.float32))
    sink.close()


def test_missing_alsa_device_names_it_and_lists_the_pcms():
    with pytest.raises(AudioDeviceError) as error:
        AlsaSink("no-such-dac")
    message = str(error.value)
    assert "'no-such-dac'" in message and "Available PCMs:" in message and "null" in message


def test_play_on_the_file_plugin_fades_out_and_exits(tmp_path):
    raw = tmp_path / "play.raw"
    result = cli("play", "brown", "--device", f"file:'{raw}',raw", "--seconds", "4", "--seed", "1",
                 "--volume", "100")
    assert result.returncode == 0, result.stderr
    x = decode(raw.read_bytes(), "S32_LE")
    assert abs(len(x) - 6 * 48000) <= 3 * 512  # 4 s, the 2 s stop fade, a period of zeros, in whole periods
    assert np.abs(x[3 * 48000:4 * 48000]).max() > 0.01  # playing
    assert np.all(x[-256:] == 0) and np.abs(x[-512:]).max() < 10 ** (-90 / 20)  # faded out to zeros


def test_sounds_lists_every_sound_with_a_description(capsys):
    assert main(["sounds"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert {"white", "pink", "brown", "rain", "surf", "fan", "wind", "stream"} <= set(names)
    assert all(len(line.split(None, 1)[1]) > 10 for line in lines)


def test_render_with_a_sleep_timer_matches_the_documented_night(tmp_path):
    out = tmp_path / "night.wav"
    result = cli("render", "brown", "-o", str(out), "--seconds", "400", "--sleep-timer", "5", "--fade", "3",
                 "--bits", "32", "--seed", "4")
    assert result.returncode == 0, result.stderr
    x, rate = read_wav(out)
    assert len(x) == 400 * rate
    level = [20 * np.log10(x[s * rate:(s + 10) * rate].std()) for s in (20, 100, 200, 280)]
    assert abs(level[0] - level[1]) < 0.5  # full level until 120 s
    assert level[1] - level[2] > 20 and level[2] - level[3] > 20  # fading from 120 s
    assert np.any(x[300 * rate - 1] != 0)
    assert np.all(x[300 * rate:] == 0)  # exact silence from the expiry sample


@pytest.mark.parametrize(("args", "message"), [
    (["render", "bown", "-o", "x.wav"], "did you mean 'brown'?"),
    (["render", "brown", "-o", "/no/such/dir/x.wav"], "cannot write /no/such/dir/x.wav"),
    (["render", "brown", "-o", "x.wav", "--volume", "loud"], "--volume must be a number"),
    (["render", "brown", "-o", "x.wav", "--seconds", "-5"], "--seconds must be between"),
    (["render", "brown", "-o", "x.wav", "--fade", "3"], "--fade and --darken need --sleep-timer"),
    (["play", "brown", "--device", "no-such-dac"], "cannot open ALSA device 'no-such-dac'"),
])
def test_errors_are_one_clear_line_and_exit_2(tmp_path, args, message):
    result = cli(*args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bedside: ") and message in lines[0], result.stderr


def test_bad_config_names_the_key_and_exits_78(tmp_path):
    config = tmp_path / "bedside.toml"
    config.write_text("[volume]\nfloor_db = -200\n")
    result = cli("--config", str(config), "sounds")
    assert result.returncode == 78
    assert "volume.floor_db" in result.stderr and "between" in result.stderr
    config.write_text("[audio]\nrate = 48000\nperiod_frame = 256\n")
    result = cli("--config", str(config), "sounds")
    assert result.returncode == 78 and "audio.period_frame: unknown key" in result.stderr


def test_config_declares_recordings_and_mixes(tmp_path):
    rate = 22050
    t = np.arange(rate * 3) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    import soundfile

    soundfile.write(tmp_path / "hum.flac", tone, rate)  # mono, another rate, FLAC
    config = tmp_path / "bedside.toml"
    config.write_text('[[sounds]]\nname = "hum"\nfile = "hum.flac"\n\n'
                      '[[sounds]]\nname = "rainy"\ndescription = "Rain over brown noise"\n'
                      'layers = [{sound = "rain"}, {sound = "brown", level_db = -12}]\n')
    listing = cli("--config", str(config), "sounds")
    assert listing.returncode == 0 and "hum" in listing.stdout and "Rain over brown noise" in listing.stdout
    out = tmp_path / "rainy.wav"
    assert cli("--config", str(config), "render", "rainy", "-o", str(out), "--seconds", "5").returncode == 0
    assert read_wav(out)[0].std() > 0.001
    missing = tmp_path / "missing.toml"
    missing.write_text('[[sounds]]\nname = "x"\nfile = "nope.wav"\n')
    result = cli("--config", str(missing), "sounds")
    assert result.returncode == 78 and "sounds[0].file" in result.stderr


def test_module_entry_point_runs():
    assert Path(sys.executable).exists()
    assert cli("--version").stdout.startswith("bedside ")


def test_ctrl_c_fades_out_then_exits_0(tmp_path):
    """SIGINT does not cut the sound: the stop fade runs to exact zeros, then the process exits 0.
    (The file plugin has no clock, so the fade is checked in the samples, not in wall time.)"""
    import signal
    import time

    raw = tmp_path / "ctrl-c.raw"
    process = subprocess.Popen([*BEDSIDE, "play", "pink", "--device", f"file:'{raw}',raw", "--volume", "100",
                                "--seed", "3"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (not raw.exists() or raw.stat().st_size < 8 * 48000 * 5) and time.monotonic() < deadline:
        time.sleep(0.05)  # until 5 s of audio have been written
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0, process.stderr.read()
    x = decode(raw.read_bytes(), "S32_LE")
    nonzero = np.nonzero(np.any(x != 0, axis=1))[0]
    tail = x[nonzero[-1] - 2 * 48000:nonzero[-1] + 1, 0]
    level = [20 * np.log10(np.abs(tail[i:i + 4800]).max()) for i in range(0, len(tail) - 4800, 4800)]
    assert level[0] > -30 and level[-1] < -110  # a 2 s fade from full level to nothing
    assert np.all(np.diff(level) < 1.0)  # falling all the way, no jumps back up
    assert np.all(x[nonzero[-1] + 1:] == 0) and len(x) - nonzero[-1] >= 256  # then a period of zeros


def test_the_example_config_and_an_empty_one_are_valid(tmp_path):
    from dataclasses import replace

    from bedside.config import Config, load

    example = Path(__file__).parent.parent / "config" / "bedside.toml"
    assert replace(load(example), path=None) == Config()  # it documents exactly the defaults
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    assert load(empty).sound == Config().sound


def test_play_and_render_give_the_same_samples_for_a_seed(tmp_path):
    """One code path to the samples: `play` on the ALSA file plugin and `render` to WAV, both at
    the device's period size, agree byte for byte up to the moment `play` starts its stop fade."""
    raw, wav = tmp_path / "play.raw", tmp_path / "render.wav"
    common = ["--volume", "45", "--seed", "21"]
    assert cli("play", "stream", "--device", f"file:'{raw}',raw", "--seconds", "3", *common).returncode == 0
    assert cli("render", "stream", "-o", str(wav), "--seconds", "3", "--bits", "32", "--block", "256",
               *common).returncode == 0
    with wave.open(str(wav)) as f:
        rendered = f.readframes(f.getnframes())
    played = raw.read_bytes()
    assert len(rendered) == 3 * 48000 * 8 and played[: len(rendered)] == rendered


def test_24_bit_render_matches_32_bit(tmp_path):
    paths = {bits: tmp_path / f"x{bits}.wav" for bits in (24, 32)}
    for bits, path in paths.items():
        assert cli("render", "pink", "-o", str(path), "--seconds", "2", "--seed", "8", "--bits", str(bits),
                   "--fade-in", "0").returncode == 0
    x24, x32 = (read_wav(p)[0] for p in paths.values())
    with wave.open(str(paths[24])) as f:
        assert f.getsampwidth() == 3
    assert np.abs(x24 - x32).max() <= 1.5 / 2**23 and np.abs(x32).max() > 0.01


def test_ogg_and_wav_recordings_are_converted(tmp_path):
    import soundfile

    from bedside.audio.synth.recording import FileTape

    def load_recording(path, rate):
        tape = FileTape(path, rate)
        return tape.read(0, tape.length)

    rng = np.random.default_rng(0)
    noise = (0.1 * rng.standard_normal((44100 * 2, 4))).astype(np.float32)
    soundfile.write(tmp_path / "four.ogg", noise, 44100)  # Ogg Vorbis, 4 channels, 44.1 kHz
    soundfile.write(tmp_path / "mono.wav", noise[:, 0], 96000)
    ogg = load_recording(tmp_path / "four.ogg", 48000)
    wav = load_recording(tmp_path / "mono.wav", 48000)
    assert ogg.shape[1] == 2 and abs(len(ogg) - 2 * 48000) < 50
    assert wav.shape == (44100, 2) and np.array_equal(wav[:, 0], wav[:, 1])  # 88200 frames at 96 kHz


class _Clock:
    """Virtual time for the sink and the device model below: the test decides when it passes."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class _SilentUnderrunPcm:
    """A clocked device that never says it ran dry: ALSA's ``pulse`` plugin when the server's word of
    an underrun comes after the next write (which then cancels it). Its avail stops one frame short
    of empty, as that plugin's does; what it played, silence included, is kept."""

    def __init__(self, clock: _Clock, buffer_frames: int, rate: int, fmt: str) -> None:
        self.clock, self.buffer_frames, self.rate, self.fmt = clock, buffer_frames, rate, fmt
        self.runs_out_at = clock.now  # when what it holds has played
        self.played: list[np.ndarray] = []

    def _held(self) -> int:
        return max(0, round((self.runs_out_at - self.clock.now) * self.rate))

    def avail(self) -> int:
        return min(self.buffer_frames - 1, self.buffer_frames - self._held())

    def write(self, data) -> int:
        frames = decode(bytes(data), self.fmt)[:self.avail()]
        if self.runs_out_at < self.clock.now:  # it ran dry: silence until now
            gap = round((self.clock.now - self.runs_out_at) * self.rate)
            self.played.append(np.zeros((gap, 2)))
            self.runs_out_at = self.clock.now
        self.played.append(frames)
        self.runs_out_at += len(frames) / self.rate
        return len(frames)

    def drop(self) -> None:
        self.runs_out_at = min(self.runs_out_at, self.clock.now)  # nothing held is played (all was)

    def polldescriptors_revents(self, ready) -> None:
        pass


class _ClockPoll:
    """poll() that lets the virtual time pass and reports the device ready."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock

    def poll(self, timeout_ms: float) -> list[tuple[int, int]]:
        self.clock.sleep(timeout_ms / 1000)
        return [(-1, 0)]


def _modelled_sink(monkeypatch, periods: int, fill_periods: int | None = None):
    """An AlsaSink (512-frame periods) on the model of a clocked device that runs dry silently, in
    virtual time: (the clock, the sink, the device)."""
    from bedside.audio.sinks import alsa

    clock = _Clock()
    monkeypatch.setattr(alsa, "time", clock)
    sink = AlsaSink("null", 48000, 512, periods, fill_periods=fill_periods)
    device = _SilentUnderrunPcm(clock, sink.buffer_frames, sink.rate, sink.format)
    sink._pcm, sink._pcm_fds = device, {-1}
    sink._poll = sink._pcm_poll = _ClockPoll(clock)
    return clock, sink, device


@pytest.mark.parametrize("made_ahead", [False, True], ids=["floats", "words made ahead"])
def test_a_stall_longer_than_all_the_device_held_comes_back_on_the_ramp_though_alsa_never_said(monkeypatch,
                                                                                              made_ahead):
    """The sink times its writes against what the device held: a stall longer than that (and a
    buffer) is an underrun even when ALSA does not report one, and the sound comes back behind the
    lead-in on the resume ramp, not at full level after silence (a CI run under load, 2026-12-02).
    A shorter stall loses nothing and counts nothing. The same when the periods come as words
    already encoded (a steady period's, made ahead): the ramp is applied to them all the same."""
    from bedside.audio.pcm import Encoder
    from bedside.audio.sinks import alsa

    clock, sink, device = _modelled_sink(monkeypatch, 4)
    level = 0.25

    def play(seconds: float) -> np.ndarray:
        start, until = len(device.played), clock.now + seconds
        while clock.now < until:
            block = np.full((sink.wait_for_room(sink.period_frames), 2), level, np.float32)
            if made_ahead:
                sink.write_words(Encoder(sink.format).encode(block))
            else:
                sink.write(block)
            clock.sleep(0.001)  # rendering takes time too
        return np.concatenate(device.played[start:])[:, 0]

    assert np.all(np.abs(play(1.0) - level) < 1e-6)
    clock.sleep(sink.buffer_seconds - 0.005)  # a stall shorter than what it holds
    assert np.all(np.abs(play(1.0) - level) < 1e-6) and sink.underruns == 0
    # Dry here too, but by less than a buffer: the sink cannot tell that from a sound server's slack
    # beyond ALSA's count, so it does not count it (the margin that kept false restarts out).
    clock.sleep(1.5 * sink.buffer_seconds)
    play(1.0)
    assert sink.underruns == 0
    clock.sleep(0.2)  # the process stood still: the device ran dry, and ALSA does not say so
    start = len(device.played)
    # It restarts with all it can hold, not the one period asked for: a restart that held the lead-in
    # and a period ran dry again 22 ms on, when the next write came late (CI under load, 2026-12-06).
    room = sink.wait_for_room(sink.period_frames)
    assert room == sink.buffer_frames - sink.lead_in_frames
    block = np.full((room, 2), level, np.float32)
    sink.write_words(Encoder(sink.format).encode(block)) if made_ahead else sink.write(block)
    assert device._held() >= sink.buffer_frames - 1 and sink.underruns == 1
    play(1.0)
    after = np.concatenate(device.played[start:])[:, 0]
    assert sink.underruns == 1
    sounding = np.flatnonzero(np.abs(after) > 1e-6)
    first = sounding[0]
    assert first >= (0.2 - sink.buffer_seconds) * sink.rate + sink.lead_in_frames  # the gap, the lead-in
    assert abs(after[first]) < 0.01 * level  # from near silence, on the ramp
    ramp = round(alsa.RESUME_RAMP_S * sink.rate)
    assert np.all(np.diff(after[first:first + ramp]) > 0) and np.all(np.abs(after[first + ramp:] - level) < 1e-6)


def test_an_underrun_says_whether_the_loop_was_held_up_or_the_device_ran_dry_with_the_loop_on_time(monkeypatch):
    """At 10-15% of a core underruns came with no "came late" line before them, and that was read as
    the loop being on time; but a loop held up past all the device held finds it dry and counts an
    underrun, never a late wake-up. So each underrun keeps how long after the last write the device
    was found dry, and what that write left queued: a stall of 0.2 s is longer than what was queued;
    a device that says it ran dry at the next prompt write is found so sooner than that."""
    import errno

    clock, sink, device = _modelled_sink(monkeypatch, 4)

    def play(seconds: float) -> None:
        until = clock.now + seconds
        while clock.now < until:
            sink.write(np.full((sink.wait_for_room(sink.period_frames), 2), 0.25, np.float32))
            clock.sleep(0.001)

    play(1.0)
    assert sink.underruns == 0 and sink.last_dry is None
    clock.sleep(0.2)  # the process stood still
    play(0.1)
    since, queued = sink.last_dry
    assert sink.underruns == 1 and since >= 0.2 > sink.buffer_seconds >= queued > 0  # held up
    play(1.0)
    write = device.write
    # Dry, and said at the next write (pyalsaaudio prepares the PCM again: nothing held).
    device.write = lambda data: (setattr(device, "write", write), device.drop(), -errno.EPIPE)[2]
    play(0.1)
    since, queued = sink.last_dry
    # Found dry at the next write, a period on (the loop waits for one to free): the device's own.
    assert sink.underruns == 2 and since <= sink.period_frames / sink.rate + 0.002 < queued


def test_the_fill_comes_down_a_period_at_a_time_and_goes_back_up_when_the_loop_comes_late(monkeypatch):
    """What a knob detent waits behind: the whole buffer for a minute after a start, then a period
    less every FILL_STEP_S down to fill_periods while the loop keeps time; one wake-up late by more
    than LATE_SHARE of a period (a CPU short once is short again) and it is full again for a minute,
    then comes down the same way. Virtual time on a model of a clocked device: five minutes in about
    two seconds, the same every run."""
    from bedside.audio.sinks import alsa

    clock, sink, device = _modelled_sink(monkeypatch, 6, fill_periods=2)
    period, started = sink.period_frames, clock.now
    block = np.full((period, 2), 0.25, np.float32)
    held: list[tuple[float, int]] = []  # (seconds since the start, frames queued before the write)

    def play(seconds: float) -> None:
        until = clock.now + seconds
        while clock.now < until:
            sink.write(block[:sink.wait_for_room(period)])
            held.append((clock.now - started, sink.queued_before))
            clock.sleep(0.0003)  # rendering takes time too

    def periods_held(since: float, until: float) -> float:
        return float(np.median([q for t, q in held if since <= t < until])) / period

    play(alsa.BRACED_S + 4 * alsa.FILL_STEP_S)
    assert periods_held(1, alsa.BRACED_S) >= 4.5  # full (6), less the period it is about to write
    for step, fill in enumerate((5, 4, 3, 2)):
        since = alsa.BRACED_S + step * alsa.FILL_STEP_S
        # The loop sleeps to half a period past the mark (a sound server counts by periods): a period under.
        assert fill - 1.25 <= periods_held(since + 1, since + alsa.FILL_STEP_S) <= fill - 0.5, (step, fill)
    assert sink.late_wakes == 0 and sink.underruns == 0

    late_at = clock.now - started
    real_sleep = clock.sleep
    late_by = 0.6 * period / sink.rate  # more than LATE_SHARE (half a period) after it was due
    clock.sleep = lambda seconds: real_sleep(seconds + (late_by if seconds >= 0.001 else 0))  # the wait's sleep
    play(0.001)
    clock.sleep = real_sleep
    assert sink.late_wakes == 1 and sink.underruns == 0  # 6.4 ms late: nothing lost at the least fill
    play(alsa.BRACED_S + alsa.FILL_STEP_S + 1)
    assert periods_held(late_at + 1, late_at + alsa.BRACED_S) >= 4.5  # full again for a minute
    assert 3.75 <= periods_held(late_at + alsa.BRACED_S + 1, late_at + alsa.BRACED_S + alsa.FILL_STEP_S) <= 4.5
    played = np.concatenate(device.played)[:, 0]
    assert np.all(np.abs(played - 0.25) < 1e-6)  # never a gap


def test_a_braced_loop_held_up_is_counted_late_and_said_once(monkeypatch, caplog):
    """Braced (the whole buffer kept full: a start's first minute, a short CPU), the loop finds the
    device about a period under full; held up past LATE_BRACED_PERIODS periods it is late, even
    though nothing ran dry: at 10% of a core, braced throughout, the exit line said "0 late periods"
    beside underruns. A wait of a period and a half is the device's own granularity, not late."""

    clock, sink, device = _modelled_sink(monkeypatch, 6, fill_periods=2)
    period = sink.period_frames
    block = np.full((period, 2), 0.25, np.float32)

    def play(seconds: float) -> None:
        until = clock.now + seconds
        while clock.now < until:
            sink.write(block[:sink.wait_for_room(period)])
            clock.sleep(0.0003)

    play(5.0)
    assert sink.late_wakes == 0
    clock.sleep(1.5 * period / sink.rate)  # held up a period and a half: within what a device counts
    play(1.0)
    assert sink.late_wakes == 0
    with caplog.at_level(logging.INFO, logger="bedside.audio.sinks.alsa"):
        for _ in range(3):  # held up 3.5 periods (37 ms of 64): late, thrice, said once
            clock.sleep(3.5 * period / sink.rate)
            play(1.0)
    assert sink.late_wakes == 3 and sink.underruns == 0
    said = [r.getMessage() for r in caplog.records if "came" in r.getMessage()]
    assert len(said) == 1 and "(1 late periods so far)" in said[0], said
    assert np.all(np.abs(np.concatenate(device.played)[:, 0] - 0.25) < 1e-6)  # nothing ran dry


def test_topping_the_device_up_to_a_raised_fill_is_not_late(monkeypatch):
    """A fill raised (a knob sweep over in a start's first minute; a brace for a switch during
    steady play) is topped up a period a wake-up: none of those looks is late, though the device
    holds more than LATE_BRACED_PERIODS under the new fill. Counted late, each was a minute more
    braced and a knob waiting 64 ms behind it (the latency table's first minute, 2026-12-07).
    Once the device has come up to it, a loop held up is late again."""
    from bedside.audio.sinks import alsa

    clock, sink, device = _modelled_sink(monkeypatch, 6, fill_periods=2)
    period = sink.period_frames
    block = np.full((period, 2), 0.25, np.float32)

    def play(seconds: float, **kwargs: bool) -> None:
        until = clock.now + seconds
        while clock.now < until:
            sink.write(block[:sink.wait_for_room(period, **kwargs)])
            clock.sleep(0.0003)

    play(2.0)
    play(5.0, hurry=True)  # a sweep in the first minute: kept at 2 periods
    assert sink.queued_before <= 2 * period
    play(1.0)  # the sweep over: back up to the whole buffer
    assert sink.late_wakes == 0 and sink.queued_before >= 4 * period
    play(alsa.BRACED_S + 4 * alsa.FILL_STEP_S)  # down to the steady 2 periods
    assert sink.late_wakes == 0 and sink.queued_before <= 2 * period
    play(1.0, brace=True)  # a switch: the whole buffer again
    assert sink.late_wakes == 0 and sink.queued_before >= 4 * period
    clock.sleep(3.5 * period / sink.rate)  # and now held up 3.5 periods: late
    play(0.5, brace=True)
    assert sink.late_wakes == 1 and sink.underruns == 0
    assert np.all(np.abs(np.concatenate(device.played)[:, 0] - 0.25) < 1e-6)  # never a gap


class _PipePoll:
    """poll() over the device and the command pipe, with a command waiting: the pipe is ready."""

    def __init__(self, clock: _Clock, wake_fd: int) -> None:
        self.clock, self.wake_fd, self.polls = clock, wake_fd, 0

    def register(self, fd: int, events: int) -> None:
        pass

    def poll(self, timeout_ms: float) -> list[tuple[int, int]]:
        self.polls += 1
        return [(self.wake_fd, 1)]


class _TakesNothingPcm(_SilentUnderrunPcm):
    """A device with no room at all (PulseAudio for ~2 s after a start)."""

    def avail(self) -> int:
        return 0


def test_a_command_cuts_short_a_long_wait_for_room_but_not_a_periods_wait(monkeypatch):
    """A knob detent comes in the middle of the loop's wait for the next period: the wait is not
    cut short (the command is applied when it ends, before the block it is heard in), so a sweep
    does not wake the loop once per detent on top of once per period. A device that takes nothing
    for longer than WAKE_AFTER_PERIODS is waited on with the pipe: a stop must not wait seconds."""
    import os

    from bedside.audio.sinks import alsa

    clock = _Clock()
    monkeypatch.setattr(alsa, "time", clock)
    sink = AlsaSink("null", 48000, 512, 6, fill_periods=2)
    device = _SilentUnderrunPcm(clock, sink.buffer_frames, sink.rate, sink.format)
    read_end, wake_fd = os.pipe()
    try:
        os.write(wake_fd, b"x")  # a command is waiting throughout: the pipe stays readable
        sink._pcm, sink._pcm_fds = device, {-1}
        sink._pcm_poll = _ClockPoll(clock)
        sink._poll = pipe_poll = _PipePoll(clock, read_end)
        period = sink.period_frames
        block = np.full((period, 2), 0.25, np.float32)
        until = clock.now + alsa.BRACED_S + 4 * alsa.FILL_STEP_S + 1
        while clock.now < until:  # down to the least fill
            sink.write(block[:sink.wait_for_room(period)])
            clock.sleep(0.0003)
        assert sink.fill_frames(clock.now) == sink.steady_frames == 2 * period
        sink._wake_poll = pipe_poll  # a wait on the clock would see the command too
        pair = np.concatenate((block, block))
        for _ in range(100):  # steady periods, two a wake-up, each waited for with a command pending
            assert sink.wait_for_room(period, read_end) == alsa.STEADY_BATCH * period == len(pair)
            sink.write(pair)
        assert pipe_poll.polls == 0 and sink.underruns == 0
        sink._pcm = _TakesNothingPcm(clock, sink.buffer_frames, sink.rate, sink.format)
        began = clock.now
        assert sink.wait_for_room(period, read_end) == 0  # cut short by the command
        waited = clock.now - began
        periods = waited * sink.rate / period
        assert alsa.WAKE_AFTER_PERIODS <= periods <= alsa.WAKE_AFTER_PERIODS + 2 and pipe_poll.polls == 1
    finally:
        os.close(read_end)
        os.close(wake_fd)


def test_a_device_without_a_clock_never_counts_a_slow_writer_as_an_underrun(tmp_path):
    """ALSA's file plugin takes samples as fast as they come: a writer that pauses has lost nothing,
    and the file holds exactly what was written (no lead-in, no ramp)."""
    import time

    raw = tmp_path / "x.raw"
    sink = AlsaSink(f"file:'{raw}',raw", 48000, 512, 4, formats=("S32_LE",), dither_seed=1)
    pauses = (0.0, 0.0, 0.1, 0.0, 0.25, 0.0)
    for pause in pauses:
        time.sleep(pause)
        sink.write(np.full((sink.wait_for_room(sink.period_frames), 2), 0.25, np.float32))
    sink.close()
    out = decode(raw.read_bytes(), "S32_LE")[:, 0]
    assert sink.underruns == 0 and len(out) >= len(pauses) * sink.period_frames
    assert np.all(np.abs(out - 0.25) < 1e-6)


class WatchedDevice(Unclocked):
    """A device that takes every period at once and records what the player asked of it: the
    ``hurry`` of each wait, and at which wait it was told the CPU was short."""

    rate, format, period_frames = 48000, "S16_LE", 512

    def __init__(self) -> None:
        self.hurried: list[bool] = []
        self.told: list[int] = []

    def wait_for_room(self, frames: int, wake_fd: int | None = None, brace: bool = False,
                      hurry: bool = False) -> int:
        self.hurried.append(hurry)
        return frames

    def cpu_short(self) -> None:
        self.told.append(len(self.hurried))

    def write(self, block: np.ndarray) -> None:
        pass

    def close(self) -> None:
        pass


def default_controller():
    """The default config's controller (and its engine) at 48 kHz, volume 40, seed 1: what the player
    tests below drive into a :class:`WatchedDevice`."""
    from bedside import cli as cli_module
    from bedside.audio.engine import Engine
    from bedside.controller import Controller
    from bedside.sounds import catalog_for

    config = cli_module.Config()
    engine = Engine(48000, config.volume.scale())
    return Controller(engine, catalog_for(config, 48000), config, volume=40, seed=cli_module.seeds(1)[0])


def test_the_player_hurries_the_device_while_someone_turns_the_volume(monkeypatch):
    """A detent (or a volume set without a glide, from the page or Home Assistant) asks the device
    for its steady fill, not a brace, for HURRY_S after it: what the device holds is what the next
    detent waits behind. A glide (a profile, a wake-up) is not someone listening for a change."""
    from bedside.audio import player as player_module
    from bedside.audio.player import Player
    from bedside.commands import Play, SetVolume, StepVolume

    monkeypatch.setattr(player_module, "HURRY_S", 0.3)
    watch = WatchedDevice()
    asked = watch.hurried

    controller = default_controller()
    turns = {10: StepVolume(1), 40: SetVolume(30, ramp_s=2.0), 50: SetVolume(60)}

    def after_write() -> None:
        if (command := turns.get(len(asked))) is not None:
            controller.submit(command)
        if len(asked) == 30:
            time.sleep(0.35)  # the turn is over

    player = Player(controller, watch, 512, realtime=False, after_write=after_write)
    controller.submit(Play("brown", fade_s=0.1))
    player.run(frames=512 * 60)
    assert asked[:11] == [False] * 11  # asked before the detent is applied
    assert all(asked[11:30]) and not any(asked[30:51]) and all(asked[51:])  # over, a glide, a set


def test_the_players_underrun_warning_says_how_long_after_the_last_write_and_what_was_queued(caplog):
    """The daemon's one line for an underrun carries what the sink measured (see the test above):
    the line a Pi-share run prints for each underrun it counts."""
    from bedside.audio.player import Player
    from bedside.commands import Play

    watch = WatchedDevice()

    def after_write() -> None:
        if len(watch.hurried) == 20:
            watch.underruns, watch.last_dry = 1, (0.2104, 0.0427)

    player = Player(default_controller(), watch, 512, realtime=False, after_write=after_write)
    player.controller.submit(Play("brown", fade_s=0.1))
    with caplog.at_level(logging.WARNING, logger="bedside.audio.player"):
        player.run(frames=512 * 40)
    assert [r.getMessage() for r in caplog.records if "underrun" in r.getMessage()] == [
        "audio underrun: the sound device ran dry (1 so far), found 210 ms after the last write, "
        "which left 43 ms queued"]


def test_the_player_does_not_hurry_the_device_while_a_sound_just_switched_to_settles(monkeypatch):
    """A knob turned during a crossfade, or within SETTLING_S after it, leaves the device its margin:
    what the new sound costs is not known yet (rain after brown at 10% of a core ran dry under the
    first sweep). Before the switch, and once it has settled, the turn hurries the device as usual."""
    from bedside.audio import player as player_module
    from bedside.audio.player import Player
    from bedside.commands import Play, SetSound, StepVolume

    monkeypatch.setattr(player_module, "HURRY_S", 30.0)
    monkeypatch.setattr(player_module, "SETTLING_S", 1.0)
    watch = WatchedDevice()
    asked = watch.hurried

    controller = default_controller()
    commands = {2: StepVolume(1), 6: SetSound("rain"), 200: StepVolume(1)}
    voices: list[int] = []

    def after_write() -> None:
        voices.append(len(controller.engine.voices))
        if (command := commands.get(len(asked))) is not None:
            controller.submit(command)
        if len(asked) == 220:
            time.sleep(1.05)  # the new sound has settled

    player = Player(controller, watch, 512, realtime=False, after_write=after_write)
    controller.submit(Play("brown", fade_s=0.1))
    player.run(frames=512 * 240)
    faded = max(i for i, n in enumerate(voices) if n > 1)
    assert voices[7] == 2 and faded < 200  # the crossfade (2 s) began at once and was over before the turn
    assert all(asked[3:7]) and not any(asked[7:220]) and all(asked[220:])


def test_the_player_tells_the_device_when_the_synthesis_thread_finds_the_cpu_short():
    """The synthesis thread's word that the CPU is short (its chunks held back, a quota throttling
    the process) reaches the device before the next period, once per word: the device then keeps
    its margin even while the knob turns (the sink's part is in tests/test_realtime.py)."""
    from bedside.audio.player import Player
    from bedside.commands import Play

    watch = WatchedDevice()
    waits, told = watch.hurried, watch.told  # one entry a wait for room

    controller = default_controller()
    player: Player | None = None

    def after_write() -> None:
        assert player is not None and player.synthesis is not None
        if len(waits) in (5, 12):
            player.synthesis.short_at = time.monotonic()

    player = Player(controller, watch, 512, realtime=True, after_write=after_write)
    assert player.synthesis is not None
    player.synthesis._short = lambda now, why: None  # only this test's words: not a loaded machine's own
    controller.submit(Play("brown", fade_s=0.1))
    player.run(frames=512 * 20)
    assert told == [5, 12]  # before the 6th and the 13th period's wait, once each


@pytest.mark.parametrize("fmt", ["S32_LE", "S16_LE"])
def test_steady_periods_taken_as_words_made_ahead_are_the_samples_the_audio_thread_would_make(tmp_path, fmt):
    """A steady period goes to the device as words the synthesis thread made ahead (the feed's
    frames at that period's gain, encoded). Through a knob turn they must be what mixing and encoding
    on the audio thread gives: the render of the same seed with the same turn at the same frame
    (32 bits: byte for byte; 16 bits: within the two dithers, drawn apart)."""
    from bedside import cli as cli_module
    from bedside.audio.engine import Engine
    from bedside.audio.output import ResilientOutput
    from bedside.audio.player import Player
    from bedside.commands import Play, SetVolume
    from bedside.controller import Controller
    from bedside.sounds import catalog_for

    rate, turn_at, seconds = 48000, 48000 * 6 // 5, 2.5
    config = cli_module.Config()

    def played(output, realtime: bool) -> tuple[Player, list[int]]:
        engine = Engine(rate, config.volume.scale())
        controller = Controller(engine, catalog_for(config, rate), config, volume=40, seed=cli_module.seeds(5)[0])
        taken_at_turn: list[int] = []

        def knob() -> None:  # after a write: the turn is applied at the next period, on both paths
            if engine.now >= turn_at and not taken_at_turn:
                taken_at_turn.append(engine.words_frames)
                controller.submit(SetVolume(55))

        player = Player(controller, output, 512, realtime=realtime, after_write=knob)
        controller.submit(Play("brook", fade_s=0.3))
        if realtime:
            player.run(stop_after=round(seconds * rate))
        else:
            player.run(frames=round(seconds * rate))
        return player, taken_at_turn

    raw, wav = tmp_path / "played.raw", tmp_path / "mixed.wav"
    dither = cli_module.seeds(5)[1]
    sink = AlsaSink(f"file:'{raw}',raw", rate, 512, 6, formats=(fmt,), dither_seed=dither)
    output = ResilientOutput(lambda: sink, rate, "file")
    assert output.try_open()
    live, taken_at_turn = played(output, realtime=True)
    output.close()
    from bedside.audio.sinks.wav import WavSink

    offline = WavSink(wav, rate, fmt, dither)
    played(offline, realtime=False)
    offline.close()

    words = live.engine.words_frames
    assert words >= 0.5 * rate and words > taken_at_turn[0] + 0.3 * rate  # before the turn and after it
    gc.collect()
    assert live.synthesis._live_feeds() == []  # the sound over, its feed is let go (nothing keeps it full)
    with wave.open(str(wav)) as f:
        mixed = f.readframes(f.getnframes())
    out = raw.read_bytes()[:len(mixed)]
    if fmt == "S32_LE":
        assert out == mixed
    else:
        a, b = (np.frombuffer(x, "<i2").astype(int) for x in (out, mixed))
        assert len(a) == len(b) and np.abs(a - b).max() <= 3 and np.abs(a - b).mean() < 1.5
        assert np.abs(b).max() > 100  # a sound, not silence
