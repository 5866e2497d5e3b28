"""On a clocked device, with a Pi-class CPU: no gaps, and an underrun comes back without a click.

`bedside run` plays into PulseAudio's null sink through ALSA's `pulse` device (which, unlike ALSA's
`null` or `file`, runs on a clock, so a late writer underruns), and the sink's monitor is recorded.
The daemon is held to 15% of one core by a cgroup: about one Cortex-A53 core of a Pi Zero 2 W.
"""

from __future__ import annotations

import json
import os
import pty
import re
import signal
import subprocess
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from broker import free_port
from clocked import CpuLimit, PulseNullSink, StallWatch, read_recording, sounding, zero_runs
from test_daemon_process import BEDSIDE, wait_for_line

from bedside.config import AudioConfig

RATE = 48000
DEFAULT_BUFFER_S = AudioConfig().period_frames * AudioConfig().periods / RATE


@pytest.fixture(scope="module")
def pulse_server(tmp_path_factory):
    server = PulseNullSink(tmp_path_factory.mktemp("pulse")).start()
    yield server
    server.stop()


@pytest.fixture
def pulse(pulse_server):
    """The module's server, started again (and said so) if it ended during an earlier test."""
    if (ended := pulse_server.ensure_running()) is not None:
        warnings.warn(ended, stacklevel=1)
    return pulse_server


@pytest.fixture
def pi_cpu():
    try:
        limit = CpuLimit(f"bedside-test-{os.getpid()}", 0.15)
    except (OSError, RuntimeError) as error:
        pytest.fail(f"cannot limit the CPU with a cgroup (run the tests as root): {error}")
    yield limit
    limit.close()


def config(tmp_path: Path, sound: str, extra: str = "", port: int | None = None) -> Path:
    (tmp_path / "state").mkdir(exist_ok=True)
    (tmp_path / "state" / "state.json").write_text(f'{{"sound": "{sound}", "volume": 70, "playing": true}}')
    path = tmp_path / "bedside.toml"
    path.write_text(f'[audio]\ndevice = "pulse"\n[sound]\nfade_in_s = 0.5\ncrossfade_s = 2.0\n'
                    f'[state]\ndirectory = "{tmp_path / "state"}"\nresume_on_boot = true\n{extra}'
                    f'[web]\nlisten = "127.0.0.1:{port or free_port()}"\n')  # the page is on, as by default
    return path


class Running:
    """`bedside run` as a process, its keys on a pty (the controls without GPIO)."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.keys, terminal = pty.openpty()
        self.process = subprocess.Popen([*BEDSIDE, "--config", str(config), "run", "--simulate-pins"],
                                        stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        env={**os.environ, **env})
        os.close(terminal)

    def press(self, key: bytes) -> None:
        os.write(self.keys, key)

    def stop(self) -> list[str]:
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=30)
        os.close(self.keys)
        assert self.process.returncode == 0, out
        return out.splitlines()


def exit_underruns(lines: list[str]) -> int:
    match = next(re.search(r"(\d+) underruns", line) for line in lines if line.startswith("stopped after"))
    return int(match.group(1))


#: Hiccups no CPU stall explains that a run on this shared VM may still show (the target is none): with
#: the rig as it is now, 3 of 45 runs had one, of 23–34 ms (2026-11-26; benchmarks/README). More is a
#: regression: the loop before issue 7 had 1,619 gaps in 79 s of stream here. A hiccup is the gaps
#: within EPISODE_S of each other: one late wake-up can leave two (CI, 2026-12-02: one underrun by the
#: daemon's count, zeros of 46.6 ms and then 4 ms 89 ms later, while PulseAudio's stream refilled). Its
#: zeros may be one buffer (43 ms) late, the 21 ms lead-in the sink writes after an underrun, and the
#: quantised start of the resume ramp: UNEXPLAINED_MS.
UNEXPLAINED, UNEXPLAINED_MS, EPISODE_S = 1, 70, 0.25


def hiccups(gaps: list[tuple[int, int]]) -> list[int]:
    """The frames of zeros in each run of gaps that follow each other within EPISODE_S."""
    episodes: list[list[tuple[int, int]]] = []
    for start, length in gaps:
        if episodes and start - sum(episodes[-1][-1]) <= EPISODE_S * RATE:
            episodes[-1].append((start, length))
        else:
            episodes.append([(start, length)])
    return [sum(length for _, length in episode) for episode in episodes]


def page_command(port: int, body: bytes) -> None:
    """A command sent on the page as a phone would (a breathing guide, a sound: not a press, which
    would end the guide)."""
    import urllib.request

    origin = f"http://127.0.0.1:{port}"
    request = urllib.request.Request(f"{origin}/command", data=body, method="POST",
                                     headers={"Content-Type": "application/json", "Origin": origin})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


@pytest.mark.long  # 35 s each: `make test-long`
@pytest.mark.parametrize(("sound", "guide"), [("brown", False), ("stream", False), ("stream", True)],
                         ids=["brown", "stream", "stream-guided"])
def test_a_pi_class_cpu_holds_the_sound_through_a_switch_and_a_knob_sweep(tmp_path, pulse, pi_cpu, sound, guide):
    """30 s at 15% of one core, with a crossfade to a new sound and a knob sweep (and a breathing
    guide all along, whose path is not the steady one): no run of zeros of 1 ms or more in what the
    sink played (the target), but one each where a CPU itself stood still (see StallWatch), and at
    most UNEXPLAINED of at most UNEXPLAINED_MS besides, which warns."""
    recording = tmp_path / "monitor.raw"
    port = free_port()
    with StallWatch() as cpus, pulse.recording(recording):
        box = Running(config(tmp_path, sound, port=port), pulse.env)
        pi_cpu.add(box.process.pid)  # from its first instruction: imports at Pi speed too
        try:
            wait_for_line(box.process, "ready in", timeout=60)
            if guide:
                page_command(port, b'{"breathe": 1}')
            started = time.monotonic()
            time.sleep(8)
            if guide:
                page_command(port, b'{"sound": "brook"}')
            else:
                box.press(b"n")  # the next sound: a crossfade, and a new source built while playing
            time.sleep(6)
            for key in [b"+"] * 12 + [b"-"] * 12:  # a knob sweep, one detent per 80 ms
                box.press(key)
                time.sleep(0.08)
            time.sleep(max(0.0, 30 - (time.monotonic() - started)))
        finally:
            lines = box.stop()
    x = sounding(read_recording(recording))
    assert len(x) >= 29 * RATE, f"only {len(x) / RATE:.1f} s of sound: {lines}"
    gaps = zero_runs(x)
    gap_ms = sum(n for _, n in gaps) / RATE * 1000
    stalls = cpus.describe()
    episodes = hiccups(gaps)
    unexplained = sorted(episodes)[:max(0, len(episodes) - len(stalls))]  # a stall explains the longest
    report = f"{len(gaps)} gaps, {gap_ms:.0f} ms: {gaps[:10]}; CPU stalls: {stalls}: {lines}"
    assert len(unexplained) <= UNEXPLAINED and sum(unexplained) / RATE * 1000 <= UNEXPLAINED_MS, report
    assert exit_underruns(lines) <= UNEXPLAINED + len(stalls), lines
    if gaps:
        warnings.warn(f"{sound} at a Pi's share: {report}", stacklevel=1)
    assert any("switched to" in line for line in lines)
    assert not guide or any("breathing guide" in line for line in lines), lines


@pytest.mark.long  # 13 s on the clocked device: `make test-long` (make test stays under 5 minutes)
def test_an_underrun_is_counted_logged_and_ramps_back_without_a_click(tmp_path, pulse):
    """SIGSTOP makes the device run dry, 100 and 200 ms past what it holds and for 2 s: each is counted and logged, and
    at each resumption the sound comes back on a ramp (no step larger than the signal's own). (Not
    50 ms: that, only the pulse plugin's own word tells, and it can come after the next write, which
    cancels it; beyond a buffer more than the device held, the sink's clock tells too.)"""
    recording = tmp_path / "monitor.raw"
    # Past what the device holds, braced full in a start's first minute (512 × 12: 128 ms).
    stops = (DEFAULT_BUFFER_S + 0.1, DEFAULT_BUFFER_S + 0.2, 2.0)
    with pulse.recording(recording):
        box = Running(config(tmp_path, "pink"), pulse.env)
        try:
            wait_for_line(box.process, "ready in", timeout=30)
            time.sleep(2)
            for pause in stops:
                box.process.send_signal(signal.SIGSTOP)
                time.sleep(pause)
                box.process.send_signal(signal.SIGCONT)
                time.sleep(2)
        finally:
            lines = box.stop()
    x = sounding(read_recording(recording))
    assert len(x) >= 6 * RATE, f"only {len(x) / RATE:.1f} s of sound: {lines}"
    gaps = zero_runs(x)
    assert len(gaps) == len(stops), (gaps, lines)
    for (_, length), pause in zip(gaps, stops, strict=True):
        # What the device held (at most its buffer) covered the start of each pause, no more.
        assert length / RATE > pause - DEFAULT_BUFFER_S - 0.005
    steps = np.abs(np.diff(x, axis=0))
    quiet = np.ones(len(steps), bool)
    for start, length in gaps:
        quiet[max(0, start - RATE // 50):start + length + RATE // 50] = False
    limit = np.quantile(steps[quiet], 0.9999, axis=0)
    for start, length in gaps:
        resume = start + length - 1  # the last zero frame: steps from it into the sound
        # The first 5 ms back (the shortest ramp issue 7 allows): a click is a step at the very edge.
        # Not 10 ms: late in the sink's 10 ms ramp the gain is ~1, and there the signal's own steps pass
        # its 99.99th percentile now and then (measured: the largest edge step was always 350–480
        # samples in; once 0.0068 against 0.0066; the first 5 ms at most 0.0023).
        edge = steps[resume:resume + RATE // 200]
        assert np.all(edge <= limit), (start, edge.max(axis=0), limit)
        assert np.all(np.abs(x[resume + 1]) < 0.01 * np.abs(x).max())  # it starts from near silence
    assert exit_underruns(lines) == len(stops), lines
    assert any("audio underrun" in line for line in lines), lines


@pytest.mark.long  # 8 s: `make test-long`
def test_a_storm_of_1000_sighups_is_two_reloads_and_no_underrun(tmp_path, pulse):
    """1,000 SIGHUPs 1 ms apart while playing on the clocked device: the reloads coalesce (at most
    one a second while they last, and one after), the sound has no gap and the device never ran dry.
    It used to reload once per wake-up of the main loop, and ran dry twice."""
    recording = tmp_path / "monitor.raw"
    with pulse.recording(recording):
        box = Running(config(tmp_path, "rain"), pulse.env)
        try:
            wait_for_line(box.process, "ready in", timeout=30)
            time.sleep(1.5)
            for _ in range(1000):
                box.process.send_signal(signal.SIGHUP)
                time.sleep(0.001)
            time.sleep(2.0)
        finally:
            lines = box.stop()
    reloads = [line for line in lines if "config reloaded" in line]
    assert 1 <= len(reloads) <= 3, lines
    assert exit_underruns(lines) == 0, lines
    x = sounding(read_recording(recording))
    assert len(x) >= 3 * RATE, f"only {len(x) / RATE:.1f} s of sound: {lines}"  # none would have no gap either
    assert not zero_runs(x), zero_runs(x)[:5]


def mqtt_section(port: int, name: str) -> str:
    return f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\nname = "{name}"\n'


def restarted_and_turned(box: Running, listener, topic: str) -> list[float]:
    """Once ``box`` is ready and playing: OFF, then ON (a start from rest: PulseAudio then takes
    nothing for up to 2 s), then three volume sets; how long each took to be echoed."""
    wait_for_line(box.process, "ready in", timeout=30)
    listener.wait_state(topic, lambda d: d["state"] == "ON")
    listener.publish(f"{topic}/set", '{"state": "OFF"}')
    listener.wait_state(topic, lambda d: d["state"] == "OFF" and not d["fading"])
    listener.publish(f"{topic}/set", '{"state": "ON"}')
    listener.wait_state(topic, lambda d: d["state"] == "ON")
    took = []
    for volume in (41, 42, 43):  # while PulseAudio takes nothing: applied (and echoed) at once
        asked = time.monotonic()
        listener.publish(f"{topic}/set", f'{{"volume": {volume}}}')
        listener.wait_state(topic, lambda d, v=volume: d["volume"] == v)
        took.append(time.monotonic() - asked)
    return took


@pytest.mark.long  # 15 s: `make test-long`
def test_off_then_a_power_cut_200_ms_after_the_broker_delivered_it_never_resumes(tmp_path, pulse):
    """With resume_on_boot, OFF from Home Assistant then kill -9: the next boot must stay silent.
    Each round starts the sound from rest just before the OFF: PulseAudio then takes nothing for up
    to 2 s, and the loop used to apply no command until it did (the stop was not yet on disk in 3 of
    6 such power cuts), nor echo a volume command. The broker has the OFF when its publish is
    acknowledged (QoS 1)."""
    from broker import Broker, Listener

    broker = Broker(tmp_path).start()
    listener = Listener(broker, topics=("bedside/#",))
    state = tmp_path / "state" / "state.json"
    took: list[float] = []
    try:
        for delay in (0.2, 0.3, 0.5):
            box = Running(config(tmp_path, "rain", mqtt_section(broker.port, "cut")), pulse.env)
            try:
                took += restarted_and_turned(box, listener, "bedside/cut")
                listener.publish("bedside/cut/set", '{"state": "OFF"}')  # returns when the broker has it
                time.sleep(delay)
                box.process.kill()
                box.process.wait(5)
            finally:
                if box.process.poll() is None:
                    box.stop()
                os.close(box.keys)
            assert json.loads(state.read_text())["playing"] is False, (delay, state.read_text())
    finally:
        listener.close()
        broker.stop()
    assert max(took) < 0.2, [round(t * 1000) for t in took]  # the bound: seconds before


@pytest.mark.long  # 15 s on the clocked device: `make test-long` (make test stays under 5 minutes)
def test_the_device_is_kept_at_its_steady_fill_and_full_when_braced_or_after_a_late_wake(pulse, monkeypatch):
    """The device holds ``fill_periods`` while the CPU keeps up (a knob detent waits behind that
    much), and its whole buffer for a while after a start, while the player braces for a switch and
    after a wake-up that came late (here: another thread holding the GIL for ~17 ms while the loop
    sleeps) or ran dry. Someone turning the knob brings a start's brace and the slow step down to
    the steady fill at once, but not the player's brace nor that of a CPU that came up short (late,
    dry, or said so by the player: the synthesis thread held back, a quota's throttling)."""
    import threading

    from bedside.audio.sinks import alsa

    for name, value in pulse.env.items():
        monkeypatch.setenv(name, value)
    # A busy machine's own stalls must not brace it while the steady fill is measured.
    monkeypatch.setattr(alsa, "LATE_SHARE", 1e9)
    sink = alsa.AlsaSink("pulse", RATE, 512, 6, fill_periods=3)
    period = sink.period_frames
    silence = np.zeros((sink.buffer_frames, 2), np.float32)
    queued: list[tuple[float, int, int]] = []  # (time, frames held before the write, late periods + underruns)
    written: list[int] = []  # frames a wake-up

    def play(seconds: float, brace: bool = False, hurry: bool = False) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            n = sink.wait_for_room(period, brace=brace, hurry=hurry)
            sink.write(silence[:n])
            queued.append((time.monotonic(), sink.queued_before, sink.late_wakes + sink.underruns))
            written.append(n)

    def settle() -> None:  # as a minute later: no brace of any kind left
        sink._braced_until = sink._short_until = -np.inf

    def calm(seconds: float, hurry: bool = False) -> None:
        """``play`` where a thin fill is measured: a stall of this machine that makes the loop late
        or runs the device dry braces it full (as it must), so such a try is played again (the CI
        run of 353ecb9 failed here once, a median of 5 periods where a hurry keeps 2)."""
        for _ in range(3):
            sink._short_until = -np.inf  # no short CPU is under test here: an earlier stall's brace goes
            before = sink.late_wakes + sink.underruns
            written.clear()
            play(seconds, hurry=hurry)
            if sink.late_wakes + sink.underruns == before:
                return
        raise AssertionError("late or dry in three tries: too busy a machine to measure a thin fill on")

    try:
        play(4.0)  # PulseAudio takes nothing for up to 2 s after a start
        # Full for a while after a start (the synthesis thread builds ahead then)...
        assert np.median([q for _, q, _ in queued[-90:]]) >= sink.buffer_frames - 2 * period
        calm(1.5, hurry=True)  # ...unless someone is turning the knob: then the steady fill at once...
        assert np.median([q for _, q, _ in queued[-90:]]) <= sink.steady_frames - period // 2
        play(1.0)  # ...and full again once they stop (the start's brace still runs)
        assert np.median([q for _, q, _ in queued[-40:]]) >= sink.buffer_frames - 2 * period
        play(1.0, brace=True, hurry=True)  # a sound being built: full, knob or not
        assert np.median([q for _, q, _ in queued[-40:]]) >= sink.buffer_frames - 2 * period
        sink.cpu_short()  # the CPU short elsewhere: full, knob or not, for BRACED_S
        play(1.0, hurry=True)
        assert np.median([q for _, q, _ in queued[-40:]]) >= sink.buffer_frames - 2 * period
        sink._short_until = -np.inf
        sink._braced_until = time.monotonic() - 1  # the brace just over: a period under full...
        play(1.0)
        assert np.median([q for _, q, _ in queued[-40:]]) >= sink.buffer_frames - 2 * period
        calm(1.5, hurry=True)  # ...or, someone turning the knob, the steady fill at once
        assert np.median([q for _, q, _ in queued[-90:]]) <= sink.steady_frames - period // 2
        settle()
        queued.clear()
        written.clear()
        calm(1.5)  # ...then at the steady fill, two periods a wake-up (from the same low mark)
        steady = [q for _, q, _ in queued[-45:]]
        assert np.median(steady) <= sink.steady_frames - period // 2, np.median(steady)
        assert np.median(written[-45:]) == alsa.STEADY_BATCH * period and len(written) < 1.5 * 47 * 1.5
        calm(1.0, hurry=True)  # a period a wake-up while the knob turns: a detent waits behind less
        assert np.median(written[-40:]) == period
        queued.clear()
        play(0.5, brace=True)
        assert np.median([q for _, q, _ in queued[-20:]]) >= sink.buffer_frames - 2 * period
        play(1.5)  # back to the steady fill
        queued.clear()
        monkeypatch.setattr(alsa, "LATE_SHARE", 0.5)

        # Longer than the longest steady wait (2.5 periods, 27 ms) by more than LATE_SHARE, so
        # wherever it falls the loop wakes late (or the device runs dry: counted as well).
        numbers = np.random.default_rng(1).random(300_000).tolist()

        def hog() -> None:  # sorting holds the GIL throughout (~48 ms here): the loop wakes, but cannot run
            time.sleep(0.05)
            sorted(numbers)

        settle()  # a busy machine's underrun above must not leave it full here
        late_before = sink.late_wakes + sink.underruns
        threading.Thread(target=hog).start()
        play(3.0)  # long enough to refill if a loaded machine ran it dry too (a 2 s restart on PulseAudio)
        assert sink.late_wakes + sink.underruns > late_before  # late (or, on a loaded machine, dry)
        after = [q for _, q, late in queued if late > late_before]
        assert np.median(after[-20:]) >= sink.buffer_frames - 2 * period, after
        queued.clear()
        play(1.0, hurry=True)  # a CPU that came up short keeps the margin, knob or not
        assert np.median([q for _, q, _ in queued[-40:]]) >= sink.buffer_frames - 2 * period

        settle()
        play(1.0)
        dry_before = sink.underruns
        time.sleep(0.3)  # the loop stopped outright: the device runs dry
        queued.clear()
        play(3.0)  # PulseAudio takes nothing for up to 2 s after the restart
        assert sink.underruns > dry_before
        assert np.median([q for _, q, _ in queued[-20:]]) >= sink.buffer_frames - 2 * period
    finally:
        sink.close()


def test_a_clocked_device_written_without_a_rest_first_is_still_watched_for_late_periods(pulse, monkeypatch):
    """A freshly opened PCM is empty but not running: the sink must not take that for a device
    without a clock, or its watch for a loop that came late (the device holding less than its
    steady fill at the next look) is off for good. Here the loop, otherwise on time, dawdles
    3 periods once between two periods: two or so still queued, not dry, but late, and counted."""
    from bedside.audio.sinks import alsa

    for name, value in pulse.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(alsa, "LATE_SHARE", 1e9)  # only the look at the fill may call it late
    sink = alsa.AlsaSink("pulse", RATE, 512, 6, fill_periods=5)  # no rest(): written from fresh
    period = sink.period_frames
    silence = np.zeros((sink.buffer_frames, 2), np.float32)

    def play(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            sink.write(silence[:sink.wait_for_room(period)])

    try:
        play(3.0)  # PulseAudio takes nothing for up to 2 s after a start
        sink._braced_until = sink._short_until = -np.inf  # as a minute later: at the steady fill
        play(1.0)
        before = sink.late_wakes + sink.underruns
        time.sleep(3 * period / RATE)
        play(0.2)
        assert sink.late_wakes + sink.underruns > before  # late (or, if this machine stalled too, dry)
    finally:
        sink.close()


@pytest.mark.long
def test_a_stop_right_after_an_off_from_a_fresh_start_ends_cleanly(tmp_path, pulse):
    """OFF, then the service stopped at once (a shutdown at bedtime): the daemon exits 0 in time.
    The stop used to leave the OFF's 2 s fade playing (up to 60 s with a long stop_fade_s), behind
    PulseAudio's 2 s of taking nothing after a start: past the 3 s the daemon allows its loop (7 of 8 runs)."""
    from broker import Broker, Listener

    broker = Broker(tmp_path).start()
    listener = Listener(broker, topics=("bedside/#",))
    state = tmp_path / "state" / "state.json"
    try:
        box = Running(config(tmp_path, "rain", mqtt_section(broker.port, "halt")), pulse.env)
        restarted_and_turned(box, listener, "bedside/halt")
        listener.publish("bedside/halt/set", '{"state": "OFF"}')
        deadline = time.monotonic() + 10
        while json.loads(state.read_text())["playing"] and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        box.stop()
        assert time.monotonic() - started < 3
    finally:
        listener.close()
        broker.stop()
