"""User recordings: played forever with no seam at the wrap, in a new order every time."""

import numpy as np
import pytest
from measure import RATE, second_difference_spikes
from scipy import signal

from bedside.audio.gain import xfade_in_shape
from bedside.audio.synth.recording import Recording


def recording_with_a_bad_wrap(seconds: float, seed: int = 0) -> np.ndarray:
    """Low-passed noise plus a tone over a slow drift, none of which matches from end to start,
    so that playing it back to back makes an audible jump."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    noise = signal.lfilter([0.05], [1, -0.95], rng.standard_normal((n, 2)), axis=0) * 0.1
    tone = 0.2 * np.sin(2 * np.pi * 331.7 * t)[:, None] * np.linspace(1.0, 0.4, n)[:, None]
    drift = np.linspace(-0.2, 0.2, n)[:, None]
    return (noise + tone + drift).astype(np.float32)


def test_the_seam_check_catches_a_naive_loop():
    data = recording_with_a_bad_wrap(5.0)
    naive = np.concatenate([data] * 4)
    scores = second_difference_spikes(naive, [len(data) * k for k in (1, 2, 3)])
    assert min(scores) > 3


def test_a_short_recording_loops_without_a_seam():
    data = recording_with_a_bad_wrap(5.0)
    source = Recording(data, RATE, np.random.SeedSequence(1))
    out = np.concatenate([source.render(1000) for _ in range(40 * RATE // 1000)])
    crossfade = len(data) // 4
    period = len(data) - crossfade
    joins = [period * k + j for k in range(1, 7) for j in (0, crossfade // 2, crossfade - 1)]
    assert max(second_difference_spikes(out, joins)) < 2
    # Nothing dips or swells through the join: equal power on uncorrelated material.
    level = [np.sqrt(np.mean(out[p:p + RATE // 10] ** 2)) for p in range(0, len(out) - RATE // 10, RATE // 10)]
    assert np.all(np.array(level) > 0.05)


def test_a_long_recording_plays_random_segments_with_smooth_joins():
    data = recording_with_a_bad_wrap(150.0, seed=3)
    source = Recording(data, RATE, np.random.SeedSequence(2))
    out = np.concatenate([source.render(8192) for _ in range(400 * RATE // 8192)])
    assert np.abs(out).max() < 1.0
    d2 = np.abs(np.diff(out, n=2, axis=0)).max(axis=1)
    hop = RATE // 2
    local = [d2[i:i + hop].max() / np.quantile(d2[max(i - 4 * hop, 0):i + 5 * hop], 0.999)
             for i in range(0, len(d2) - hop, hop)]
    assert max(local) < 2  # no seam anywhere in 400 s
    # Another start plays the segments in another order.
    other = Recording(data, RATE, np.random.SeedSequence(3))
    other_out = np.concatenate([other.render(8192) for _ in range(100 * RATE // 8192)])
    assert not np.allclose(out[: len(other_out)], other_out)


def test_crossfade_legs_are_equal_power():
    u = np.linspace(0, 1, 1001)
    rising = 10 ** (-100 * (1 - xfade_in_shape(u)) / 20)
    assert np.allclose(rising**2 + rising[::-1] ** 2, 1.0, atol=1e-6)


def test_too_short_a_recording_is_refused():
    with pytest.raises(ValueError, match="half a second"):
        Recording(np.zeros((100, 2), np.float32), RATE, np.random.SeedSequence(0))


def _peak_rss_mib(*args: str) -> float:
    """Peak RSS of `bedside ARGS` in its own process: its VmHWM at exit (wait4's ru_maxrss would
    count the pages it shared with this test process between fork and exec)."""
    import subprocess
    import sys

    code = ("import sys\nfrom bedside.cli import main\nrc = main(sys.argv[1:])\n"
            "print(next(l for l in open('/proc/self/status') if l.startswith('VmHWM:')).split()[1])\n"
            "sys.exit(rc)")
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return int(result.stdout.split()[-1]) / 1024


def _write_long_file(path, rate: int, channels: int, minutes: float) -> None:
    import soundfile

    block = (0.1 * np.random.default_rng(5).standard_normal((rate, channels))).astype(np.float32)
    with soundfile.SoundFile(path, "w", rate, channels, "PCM_16") as f:
        for _ in range(int(minutes * 60)):
            f.write(block)


# The 96 kHz, 8-channel file is 13 s: `make test-long` (make test stays under 5 minutes).
@pytest.mark.parametrize("rate, channels, minutes",
                         [(44100, 2, 20), pytest.param(96000, 8, 10, marks=pytest.mark.long)])
def test_a_long_recording_plays_in_bounded_memory(tmp_path, rate, channels, minutes):
    """Decoded whole, a 20-minute 44.1 kHz stereo file took 2.7 GiB and a 10-minute 96 kHz
    8-channel one far more (a Pi Zero 2 W has 512 MB): streamed, either costs a few MiB."""
    path = tmp_path / "long.wav"
    _write_long_file(path, rate, channels, minutes)
    config = tmp_path / "bedside.toml"
    config.write_text(f'[[sounds]]\nname = "long"\nfile = "{path}"\n')
    common = ["--config", str(config), "render", "--null", "--seconds", "90", "--seed", "1"]
    builtin = _peak_rss_mib(*common[:2], *common[2:3], "pink", *common[3:])
    recording = _peak_rss_mib(*common[:2], *common[2:3], "long", *common[3:])
    print(f"peak RSS: {recording:.0f} MiB playing the recording, {builtin:.0f} MiB playing pink")
    assert recording < builtin + 16, f"{recording:.0f} MiB playing the recording, {builtin:.0f} MiB playing pink"


def test_a_streamed_file_gives_what_decoding_it_whole_gives(tmp_path):
    """Pieces are resampled with real margins, so they join into exactly the whole-file result."""
    import soundfile

    from bedside.audio.synth.recording import FileTape
    from bedside.audio.synth.resample import resample

    rng = np.random.default_rng(9)
    data = (0.2 * rng.standard_normal((int(3.7 * 44100), 3))).astype(np.float32)
    path = tmp_path / "x.wav"
    soundfile.write(path, data, 44100, "FLOAT")
    tape = FileTape(path, RATE)
    whole = resample(np.stack([data[:, 0::2].mean(axis=1), data[:, 1::2].mean(axis=1)], axis=1), 44100, RATE)
    assert tape.length == len(whole)
    streamed = np.concatenate([tape.read(begin, 1000) for begin in range(0, tape.length, 1000)])[:tape.length]
    assert np.allclose(streamed, whole, atol=1e-6)
    # A random read in the middle (a segment starting anywhere) matches too.
    assert np.allclose(tape.read(77_777, 5000), whole[77_777:82_777], atol=1e-6)


def test_a_recording_too_short_or_silent_is_refused_by_check_config(tmp_path):
    import subprocess
    import sys

    import soundfile

    short, silent = tmp_path / "short.wav", tmp_path / "silent.wav"
    soundfile.write(short, np.full((int(0.3 * RATE), 2), 0.1, np.float32), RATE)
    soundfile.write(silent, np.zeros((2 * RATE, 2), np.float32), RATE)
    for path, words in ((short, "lasts 0.30 s"), (silent, "is silent")):
        config = tmp_path / "bedside.toml"
        config.write_text(f'[[sounds]]\nname = "x"\nfile = "{path}"\n')
        result = subprocess.run([sys.executable, "-m", "bedside", "check-config", str(config)],
                                capture_output=True, text=True)
        assert result.returncode == 78 and words in result.stderr and "sounds[0].file" in result.stderr


def test_a_recording_gone_after_start_stops_with_an_error_instead_of_hanging(tmp_path, caplog):
    """The file is checked at start; if it vanishes later (a USB stick pulled), building the sound
    fails on the synthesis thread: the box must not sit "playing" in silence forever."""
    import threading
    import time

    import soundfile

    from bedside.commands import Play
    from bedside.config import load
    from bedside.daemon import Daemon

    clip = tmp_path / "clip.wav"
    soundfile.write(clip, (0.1 * np.random.default_rng(1).standard_normal((2 * RATE, 2))).astype(np.float32), RATE)
    path = tmp_path / "bedside.toml"
    path.write_text(f'[audio]\ndevice = "null"\n[state]\ndirectory = "{tmp_path}"\n'
                    f'[[sounds]]\nname = "clip"\nfile = "{clip}"\n')
    daemon = Daemon(load(path), simulate_pins=True, keyboard=False, seed=1)
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    try:
        assert daemon.ready.wait(10)
        clip.unlink()
        daemon.controller.submit(Play("clip"))
        deadline = time.monotonic() + 5
        while "cannot play clip" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert "cannot play clip" in caplog.text
        assert not daemon.controller.state.playing and not daemon.controller.preparing
        daemon.controller.submit(Play("pink"))  # and the box still plays the rest
        deadline = time.monotonic() + 5
        while not daemon.controller.engine.playing and time.monotonic() < deadline:
            time.sleep(0.02)
        assert daemon.controller.engine.playing
    finally:
        daemon.request_exit()
        thread.join(10)
