"""What the appliance costs and how it holds, measured on the `bedside run` process itself.

1. CPU per audio hour of the whole `bedside run` process (imports, threads, everything) with the
   default [audio] on ALSA's `null` device (paced in real time), playing each built-in sound and
   stopped, as a ratio to `sox -n -r 48000 -c 2 -b 16 -t raw /dev/null synth N brownnoise` measured
   in the same run. Start-up CPU is counted once, steady state from /proc over a window. Beside it,
   the floor of this machine: a process that only wakes as often as the appliance does.
2. Start to READY=1 and peak RSS of that process.
3. On a clocked device (PulseAudio's null sink through ALSA `pulse`) with the process held to 15% and
   10% of one core (a Pi Zero 2 W / Pi 3 core is about 15% of one here): gaps (runs of exact zeros
   >= 1 ms in the recorded monitor) and underruns for every sound; first, under the same limit and
   on the same buffer, the least a player can be (aplay, and the least Python loop): what this
   machine itself lets through.
4. Knob detent -> first changed sample at the DAC on the clocked device: the time until the block
   holding the change is handed to ALSA, plus what ALSA still had queued before it.
5. Only when asked (``--only sweep``): what a knob sweep costs the process, unlimited and at a share.
6. Only when asked (``--only threads``): the process thread by thread, each beside its floor in the
   same window (the audio thread beside the least loop, the synthesis thread beside the sound's
   synthesis alone): what the daemon adds to the work the sound itself needs.

Usage: python benchmarks/realtime.py [--seconds 30] [--pi-seconds 90] [--detents 200] [--skip-pi]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import pty
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

# Before numpy: the latency table runs the daemon in this process, and numpy's OpenBLAS would
# otherwise start a thread per core that spins beside it (bedside sets this too, but is imported
# after numpy here; measured: 177 ms of CPU a second on a thread of its own, playing brown).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from clocked import CpuLimit, PulseNullSink, StallWatch, ThreadTrace, read_recording, sounding, zero_runs
from probe import as_installed
from scratch import scratch
from web import cpu_s, peak_rss_mib, thread_cpu_s  # schedstat, ns: /proc's 10 ms ticks are too coarse for a 5 s slice

from bedside.config import AudioConfig
from bedside.sounds import builtin_sounds

T = TypeVar("T")

BEDSIDE = [sys.executable, "-m", "bedside"]
TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def sox_seconds_per_hour(seconds: int) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "2", "-b", "16", "-t", "raw", "/dev/null", "synth",
                    str(seconds), "brownnoise"], check=True, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 3600 / seconds


def appliance_dir(sound: str | None, device: str = "null", extra: str = "") -> Path:
    tmp = scratch("bedside-bench-")
    state = {"sound": sound or "brown", "volume": 50, "playing": sound is not None}
    (tmp / "state.json").write_text(json.dumps(state))
    (tmp / "bedside.toml").write_text(f'[audio]\ndevice = "{device}"\n{extra}[state]\ndirectory = "{tmp}"\n'
                                      f"resume_on_boot = true\n")
    return tmp


def start_ready(tmp: Path, env: dict, stdin, limit: CpuLimit | None) -> tuple[subprocess.Popen, socket.socket]:
    """`bedside run` with the config in ``tmp`` (held by ``limit`` from its first instruction, if
    any), once it has sent READY=1; its output is piped. Returns it and its notify socket."""
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(tmp / "notify.sock"))
    server.settimeout(60)
    process = subprocess.Popen([*BEDSIDE, "--config", str(tmp / "bedside.toml"), "run", "--simulate-pins"],
                               stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, **env, "NOTIFY_SOCKET": str(tmp / "notify.sock")})
    if limit is not None:
        limit.add(process.pid)
    while "READY=1" not in server.recv(4096).decode():
        pass
    return process, server


#: The measured window is read in this many slices (each a ratio of its own to the least loop).
SLICES = 6


def run_appliance(sound: str | None, seconds: float, env: dict | None = None, device: str = "null",
                  limit: CpuLimit | None = None, beside: bool = False) -> dict:
    """`bedside run` playing ``sound`` (None: stopped) for ``seconds`` after READY=1.

    ``beside``: the least Python loop runs at the same time, measured over the same window, both
    free to run on any CPU, as on a Pi's four cores. (Pinned to different CPUs and swapping halfway,
    the daemon's audio and synthesis threads shared one CPU and cost more: brown 1.49-1.55x the
    least loop pinned, 1.06-1.40x free, 2026-12-04.)"""
    tmp = appliance_dir(sound, device)
    started = time.perf_counter()
    process, server = start_ready(tmp, env or {}, subprocess.DEVNULL, limit)
    ready = time.perf_counter() - started
    audio = AudioConfig()
    least = (subprocess.Popen([sys.executable, "-c", LEAST_LOOP, str(audio.period_frames), str(audio.rate), "1e9"],
                              stdout=subprocess.DEVNULL) if beside else None)
    try:  # the least loop runs until it is stopped: never leave it behind
        time.sleep(6)  # past the first seconds (the clock check of an unclocked device; the loop's imports)
        cpu_at_start, t0 = process_cpu(process.pid), time.monotonic()
        # Both read at the end of each slice too: the ratio slice by slice shows whether a row's
        # ratio is the daemon's own or one burst of the VM's host in the window.
        marks = [(cpu_s(process.pid), cpu_s(least.pid) if least is not None else 0.0)]
        for _ in range(SLICES):
            time.sleep(seconds / SLICES)
            marks.append((cpu_s(process.pid), cpu_s(least.pid) if least is not None else 0.0))
        # schedstat's nanoseconds, not /proc's 10 ms ticks: a stopped box spends a tick or two in a
        # 30 s window, and a tick is 1.2 s per hour there (0.3x sox on its own).
        window = time.monotonic() - t0
        cpu, least_cpu = marks[-1][0] - marks[0][0], marks[-1][1] - marks[0][1]
        slice_ratios = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in itertools.pairwise(marks) if b[1] > a[1]]
        peak = peak_rss_mib(process.pid)
    finally:
        if least is not None:
            least.terminate()
            least.wait(10)
    process.send_signal(signal.SIGTERM)
    out, _ = process.communicate(timeout=30)
    server.close()
    underruns = [line for line in out.splitlines() if line.startswith("stopped after")]
    return {"ready_s": ready, "startup_cpu": cpu_at_start, "cpu_per_s": cpu / window,
            "least_per_s": least_cpu / window, "slice_ratios": slice_ratios, "maxrss_mib": peak,
            "exit": underruns[-1] if underruns else out[-300:]}


def wake_floor(period_s: float, seconds: float) -> float:
    """CPU seconds per hour of a process that only sleeps and wakes at the appliance's cadence."""
    code = (f"import time\nend = time.monotonic() + {seconds}\n"
            f"while time.monotonic() < end: time.sleep({period_s})\n")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-S", "-c", code], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 3600 / seconds


LEAST_LOOP = """
import resource, sys, time
import alsaaudio, numpy as np
period, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
pcm = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, device="null", channels=2, rate=rate,
                    format=alsaaudio.PCM_FORMAT_S32_LE, periodsize=period, periods=4)
ahead = ((np.random.default_rng(1).random((rate, 2), np.float32) - 0.5) * 0.5)
words, gain = np.empty((period, 2), "<i4"), np.float32(0.3)
used = resource.getrusage(resource.RUSAGE_SELF)
start, n, at = time.monotonic(), 0, 0
while (now := time.monotonic()) - start < seconds:
    due = start + n * period / rate
    if due > now:
        time.sleep(due - now)
    block = ahead[at:at + period].copy()
    at = (at + period) % (len(ahead) - period)
    block *= gain
    np.multiply(block, 2.0 ** 31, out=words, casting="unsafe")
    pcm.write(memoryview(words).cast("B"))
    n += 1
done = resource.getrusage(resource.RUSAGE_SELF)
print((done.ru_utime + done.ru_stime - used.ru_utime - used.ru_stime) * 3600 / seconds)
"""


C_WAKER = """#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv) {
    long period = atol(argv[1]), count = atol(argv[2]);
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    for (long i = 0; i < count; i++) {
        t.tv_nsec += period;
        if (t.tv_nsec >= 1000000000L) { t.tv_nsec -= 1000000000L; t.tv_sec++; }
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &t, NULL);
    }
    return 0;
}
"""


def c_wake_floor(period_s: float, seconds: float) -> float | None:
    """The same floor for a C program (``clock_nanosleep`` on an absolute clock): what any
    implementation, in any language, pays here to wake that often. None without a C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        return None
    folder = scratch("bedside-waker-")
    (folder / "waker.c").write_text(C_WAKER)
    subprocess.run([cc, "-O2", "-o", str(folder / "waker"), str(folder / "waker.c")], check=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(folder / "waker"), str(round(period_s * 1e9)), str(round(seconds / period_s))], check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    shutil.rmtree(folder)
    return (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 3600 / seconds


def cost_table(seconds: float, sounds: list[str] | None = None) -> None:
    """The appliance's CPU per audio hour, each sound as a ratio to the least Python loop running
    beside it over the same window: this VM's cost of a wake-up drifts by half within minutes (the
    least loop measured 29 and 48 s per audio hour 15 s apart, 2026-12-04), so a least loop
    measured before or after a row compares it with a different machine."""
    sox = sox_seconds_per_hour(600)
    audio = AudioConfig()
    period_s = audio.period_frames / audio.rate
    floor = wake_floor(period_s, min(seconds, 20))
    c_floor = c_wake_floor(period_s, min(seconds, 20))
    print(f"\n### CPU per audio hour, whole `bedside run` process, default [audio] ({audio.period_frames} frames "
          f"× {audio.periods}), ALSA `null` paced\n")
    print(f"sox brownnoise: {sox:.2f} s per audio hour. Wake-up floor of this machine (a process that only "
          f"sleeps {period_s * 1000:.1f} ms at a time): Python {floor:.1f} s per hour = {floor / sox:.1f}× sox"
          + (f"; C {c_floor:.1f} s per hour = {c_floor / sox:.1f}× sox" if c_floor is not None else "")
          + f". The least Python period loop (wake, take frames made ahead, one gain, encode, write to "
          f"ALSA `null`; no synthesis) runs beside each row over the same {seconds:.0f} s window (both free "
          "to run on either CPU); the daemon's hour includes its start-up CPU.\n")
    print("| sound | start-up CPU, s | CPU per audio hour, s | × sox | least loop beside it, s | × least loop | "
          f"× least loop, {SLICES} slices: median (min–max) | start → READY, s | peak RSS, MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    leasts = []
    for sound in [None, *(sounds or builtin_sounds())]:
        r = run_appliance(sound, seconds, beside=True)
        least = r["least_per_s"] * 3600
        leasts.append(least)
        hour = r["startup_cpu"] + r["cpu_per_s"] * 3600
        ratios = r["slice_ratios"]
        sliced = (f"{float(np.median(ratios)):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if ratios else "–")
        print(f"| {sound or 'stopped'} | {r['startup_cpu']:.2f} | {hour:.1f} | {hour / sox:.1f} | {least:.1f} | "
              f"{hour / least:.2f} | {sliced} | {r['ready_s']:.2f} | {r['maxrss_mib']:.0f} |", flush=True)
    print(f"\nThe least loop ranged {min(leasts):.1f}–{max(leasts):.1f} s per audio hour over the run.")



#: A sound's synthesis alone, paced as the synthesis thread paces it with the CPU plentiful
#: (STEADY_PIECES chunks of STEADY_CHUNK back to back, then a sleep to the next top-up): the least
#: the daemon's synthesis thread can cost for that sound, measured beside it.
PACED_RENDER = """
import sys, time
import numpy as np
from bedside.audio.heap import keep_freed_memory
from bedside.audio.synthesis import STEADY_CHUNK, STEADY_PIECES
from bedside.sounds import builtin_sounds
keep_freed_memory()  # as `bedside run` does
source = builtin_sounds()[sys.argv[1]].make(48000, np.random.SeedSequence(1))
step, next_at = STEADY_PIECES * STEADY_CHUNK / 48000, time.monotonic()
while True:
    for _ in range(STEADY_PIECES):
        source.render(STEADY_CHUNK)
    next_at += step
    time.sleep(max(0.0, next_at - time.monotonic()))
"""


def thread_table(seconds: float, sounds: list[str]) -> None:
    """Where the daemon's CPU goes, thread by thread, each beside its own floor in the same window:
    the audio thread beside the least Python loop, the synthesis thread beside the same sound's
    synthesis alone (:data:`PACED_RENDER`). The whole against the least loop is the cost table's
    ratio; against the least loop plus the synthesis alone it is what the daemon adds to the work
    the sound itself needs, whatever this VM's wake-ups cost that hour."""
    audio = AudioConfig()
    print(f"\n### Thread by thread, each beside its floor ({seconds:.0f} s of steady play from 10 s after "
          "READY=1, ALSA `null`; ms of CPU a second)\n")
    print("| sound | audio thread | least loop | × | synthesis thread | the synthesis alone | × | other threads "
          "| whole | whole ÷ least loop | whole ÷ (least loop + synthesis alone) | peak RSS, MiB |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sound in sounds:
        tmp = appliance_dir(sound, "null")
        process, server = start_ready(tmp, {}, subprocess.DEVNULL, None)
        beside = [subprocess.Popen([sys.executable, "-c", LEAST_LOOP, str(audio.period_frames), str(audio.rate),
                                    "1e9"], stdout=subprocess.DEVNULL),
                  subprocess.Popen([sys.executable, "-c", PACED_RENDER, sound], stdout=subprocess.DEVNULL)]
        try:
            time.sleep(10)
            before, floors, t0 = thread_cpu_s(process.pid), [cpu_s(p.pid) for p in beside], time.monotonic()
            time.sleep(seconds)
            after, window = thread_cpu_s(process.pid), time.monotonic() - t0
            peak = peak_rss_mib(process.pid)
            least, alone = ((cpu_s(p.pid) - floor) / window * 1e3 for p, floor in zip(beside, floors, strict=True))
        finally:
            for other in beside:
                other.terminate()
                other.wait(10)
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)
            server.close()
        spent = {name: (cpu - before.get(name, 0.0)) / window * 1e3 for name, cpu in after.items()}
        player, synthesis = spent.pop("audio", 0.0), spent.pop("synthesis", 0.0)
        rest = sum(spent.values())
        whole = player + synthesis + rest
        print(f"| {sound} | {player:.2f} | {least:.2f} | {player / least:.2f} | {synthesis:.2f} | {alone:.2f} "
              f"| {synthesis / alone:.2f} | {rest:.2f} | {whole:.2f} | {whole / least:.2f} "
              f"| {whole / (least + alone):.2f} | {peak:.1f} |", flush=True)


#: When the Pi-share runs sweep the knob (s after READY=1): 6 s after the switch (a start's first
#: minute) and once that brace is over. A turning knob brings the device to its steady fill at once
#: (player.HURRY_S) unless the CPU is short: at a Pi's share the quota's throttling says it is.
SWEEPS_S = (14.0, 75.0)
#: The daemon's lines worth reading beside an underrun: when it switched, found the CPU short, ran
#: dry or starved (the exit line counts late periods).
TOLD = ("switched to", "kept full", "underrun", "fell behind", "stopped after")


def exit_counts(lines: list[str]) -> tuple[int, str]:
    """From the daemon's exit line ("stopped after 90 s: 0 underruns, 0 late periods"), also when
    each line is timed ("12.34 s: stopped after ..."): its underruns (-1: no such line) and late periods."""
    line = next((line for line in lines if "stopped after" in line), "")
    counts = line.split("stopped after", 1)[1] if line else ""
    underruns = re.search(r": (\d+) underruns", counts)
    late = re.search(r"(\d+) late periods", counts)
    return (int(underruns.group(1)) if underruns else -1), (late.group(1) if late else "?")


def run_switched(sound: str, seconds: float, env: dict, limit: CpuLimit, extra: str = "",
                 backwards: bool = False, moments: list[float] | None = None,
                 traces: list[ThreadTrace] | None = None) -> list[str]:
    """`bedside run` on the clocked device, held by ``limit`` from its first instruction: it starts on
    the sound before ``sound`` in the catalogue (``backwards``: the one after), switches to it 8 s
    after READY=1 (the next-sound key, or the previous-sound key: a crossfade and a new source built
    while playing), takes a knob sweep at each of SWEEPS_S (12 detents up, 12 down, one per 80 ms)
    and plays on to ``seconds``. Returns its log, each line after the seconds since READY=1 it was
    read at ("12.34 s: ..."), so that an underrun can be placed against the switch and the sweeps
    (``moments`` gets the monotonic times of READY=1, the zero of those times, and of the SIGTERM;
    ``traces`` a ThreadTrace of the process, from a CPU it is kept off)."""
    catalogue = list(builtin_sounds())
    before = catalogue[(catalogue.index(sound) + (1 if backwards else -1)) % len(catalogue)]
    tmp = appliance_dir(before, "pulse", extra)
    keys, terminal = pty.openpty()
    try:
        process, server = start_ready(tmp, env, terminal, limit)
    finally:
        os.close(terminal)
    started = time.monotonic()
    if moments is not None:
        moments.append(started)
    lines: list[str] = []
    trace: contextlib.AbstractContextManager = contextlib.nullcontext()
    if traces is not None:
        free = sorted(os.sched_getaffinity(0) - {CpuLimit.CPU}) or [CpuLimit.CPU]
        trace = ThreadTrace(process.pid, free[0], limit)
        traces.append(trace)

    def read_log() -> None:  # as it comes, so each line gets its time
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(f"{time.monotonic() - started:6.2f} s: {line.rstrip()}")

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        with trace:
            time.sleep(8)
            os.write(keys, b"p" if backwards else b"n")
            for at in SWEEPS_S:
                if at >= seconds:
                    continue
                time.sleep(max(0.0, at - (time.monotonic() - started)))
                for key in [b"+"] * 12 + [b"-"] * 12:
                    os.write(keys, key)
                    time.sleep(0.08)
            time.sleep(max(0.0, seconds - (time.monotonic() - started)))
    finally:
        if moments is not None:
            moments.append(time.monotonic())
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        reader.join(timeout=30)
        os.close(keys)
        server.close()
    if not any(f"switched to {sound}" in line for line in lines):
        raise RuntimeError(f"{sound}: no switch in the log: {lines[-5:]}")
    return lines


#: The least Python player on the clocked device: brown noise made ahead, one gain, 32-bit words,
#: blocking writes into a buffer of ``periods`` periods kept full (bedside's steady fill). Prints
#: how often the device ran dry (pyalsaaudio returns -EPIPE and prepares it again).
LEAST_PLAYER = """
import sys, time
import alsaaudio, numpy as np
period, periods, rate, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
pcm = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, device="pulse", channels=2, rate=rate,
                    format=alsaaudio.PCM_FORMAT_S32_LE, periodsize=period, periods=periods)
white = np.random.default_rng(1).standard_normal((rate * 4, 2))
ahead = (np.cumsum(white, axis=0) * 0.002).astype(np.float32)
ahead -= np.linspace(ahead[0], ahead[-1], len(ahead), dtype=np.float32)  # no step at the wrap
ahead *= np.float32(0.3 / np.abs(ahead).max())
words, gain = np.empty((period, 2), "<i4"), np.float32(1.0)
start, at, dry = time.monotonic(), 0, 0
while time.monotonic() - start < seconds:
    block = ahead[at:at + period].copy()
    at = (at + period) % (len(ahead) - period)
    block *= gain
    np.multiply(block, 2.0 ** 31, out=words, casting="unsafe")
    dry += pcm.write(memoryview(words).cast("B")) < 0
print(dry)
"""


def floor_players(seconds: float, period: int, periods: int) -> list[tuple[str, list[str], str]]:
    """The least a player can be, on the same device and buffer as bedside's steady fill: ``aplay``
    (C, a file of sox's brown noise) and the least Python loop. (label, command, how it reports a
    dry device: "aplay" prints a line per underrun, "count" prints the total)."""
    noise = scratch("bedside-floor-") / "brown.raw"
    subprocess.run(["sox", "-n", "-r", "48000", "-c", "2", "-b", "16", "-e", "signed", "-t", "raw", str(noise),
                    "synth", str(seconds), "brownnoise", "vol", "0.3"], check=True)
    return [
        (f"aplay (C; {period} × {periods} kept full)",
         ["aplay", "-D", "pulse", "-f", "S16_LE", "-r", "48000", "-c", "2", "-t", "raw",
          f"--period-size={period}", f"--buffer-size={period * periods}", str(noise)], "aplay"),
        (f"least Python loop ({period} × {periods} kept full)",
         [sys.executable, "-c", LEAST_PLAYER, str(period), str(periods), "48000", str(seconds)], "count"),
    ]


def run_floor(command: list[str], env: dict, limit: CpuLimit, reports: str, seconds: float,
              moments: list[float] | None = None) -> int:
    """One floor player under ``limit`` to its end; how many times the device ran dry. (``moments``
    gets the monotonic times of its start and of a second before its ``seconds`` are up.)"""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **env})
    if moments is not None:
        moments.extend((time.monotonic(), time.monotonic() + seconds - 1.0))
    limit.add(process.pid)
    out, err = process.communicate(timeout=600)
    if reports == "aplay":
        return err.count("underrun")
    return int(out.strip().splitlines()[-1])


def held_run(share: float, pulse: PulseNullSink,
             play: Callable[[CpuLimit], T]) -> tuple[T, list[tuple[int, int]], StallWatch, list[float]]:
    """``play`` held to ``share`` of one core while the monitor is recorded: what it returned, the
    gaps in what was heard, the host's stalls meanwhile and when (monotonic) the server itself found
    the stream's queue empty while it still sounded (only with ``--pulse-log``)."""
    limit = CpuLimit(f"bedside-bench-{os.getpid()}", share)
    recording = scratch() / "monitor.raw"
    try:
        with StallWatch() as cpus, pulse.recording(recording):
            result = play(limit)
        ended = time.monotonic()
    finally:
        limit.close()
    recorded = sounding(read_recording(recording))
    recording.unlink()
    server = pulse.underruns(pulse.recording_started, ended)
    return result, zero_runs(recorded), cpus, server


def beside_stall(stalls: StallWatch, at: float, length: float, before_s: float = 0.2) -> str:
    """The host stall that began from ``before_s`` before a stretch to its end, if any: time the host
    took while a thread of the process was on the CPU may be billed to it, and the quota then makes
    the process pay it back in throttled periods."""
    near = [late for _cpu, began, late in stalls.stalls if at - before_s <= began <= at + length]
    return f"beside a host stall of {max(near) * 1000:.0f} ms" if near else "no host stall"


def stall_cell(stalls: StallWatch, moments: list[float]) -> str:
    """The host's stalls, each with when it began (s from ``moments[0]``, the player's start or READY=1,
    as the server's underruns): a stall at an underrun's moment explains it, one elsewhere does not."""
    return ", ".join(stalls.describe(moments[0] if moments else None)) or "none"


def server_cell(pulse: PulseNullSink, underruns: list[float], moments: list[float]) -> str:
    """The table's column of the server's own underruns: how many, when (s from ``moments[0]``, the
    player's start or READY=1), those from ``moments[1]`` on left out: a stream that ends (the
    player told to stop, or at the end of its file) runs its queue dry too."""
    if pulse.log is None:
        return "–"
    zero, stopping = moments
    underruns = [at for at in underruns if at < stopping]
    return f"{len(underruns)}" + (f" ({', '.join(f'{at - zero:.1f}' for at in underruns[:6])})" if underruns else "")


def gap_cells(gaps: list[tuple[int, int]]) -> str:
    """The table's gap columns: how many, ms in all, where the first six were (s: ms)."""
    where = ", ".join(f"{start / 48000:.1f}: {length / 48:.0f}" for start, length in gaps[:6])
    return f"{len(gaps)} | {sum(n for _, n in gaps) / 48:.0f} | {where or '–'}"


def short_cell(lines: list[str]) -> str:
    """What the synthesis thread said of the CPU (a spell at a time: synthesis.SHORT_FILLS): the
    knob then leaves the device braced."""
    said = [line for line in lines if "the sound device is kept full" in line and "audio loop came" not in line]
    throttled = sum("quota" in line for line in said)
    return f"{throttled} throttled, {len(said) - throttled} held back" if said else "no"


#: With --trace: a stretch this long with no CPU for the audio thread is reported (it runs every period,
#: 10.7 ms, while the device is kept full).
HELD_S = 0.03


def pi_table(seconds: float, shares: tuple[float, ...], sounds: list[str] | None = None, extra: str = "",
             floor: bool = True, backwards: bool = False, pulse_log: bool = False, trace: bool = False) -> None:
    audio = AudioConfig()
    buffer = extra.strip() or f"{audio.period_frames} × {audio.periods}, {audio.fill_periods} kept queued"
    sweeps = " and ".join(f"{at:.0f}" for at in SWEEPS_S if at < seconds)
    came_from = "the next" if backwards else "the previous"
    print(f"\n### On a clocked device at a Pi's share of one core ({seconds:.0f} s each, [audio] {buffer}; "
          f"a switch to the sound from {came_from} in the catalogue at 8 s, knob sweeps at {sweeps} s)\n")
    print("| sound | share | underruns (the daemon's count) | late periods | CPU found short | gaps ≥ 1 ms "
          "| ms of gaps | where (s from the first sound: ms) | CPU stalls > 25 ms (the VM's host; s from READY=1) "
          "| the server's own underruns (s from READY=1) |")
    print("|---|---:|---:|---:|---|---:|---:|---|---|---|")
    directory = scratch("bedside-pulse-")
    pulse = PulseNullSink(directory, log=directory / "pulse.log" if pulse_log else None).start()
    totals: dict[float, list[int]] = {share: [] for share in shares}
    told: list[str] = []  # the daemon's own lines from each run that underran
    try:
        for label, command, reports in floor_players(seconds, audio.period_frames, audio.fill_periods) if floor else []:
            for share in shares:
                moments: list[float] = []
                dry, gaps, stalls, server = held_run(share, pulse, partial(
                    run_floor, command, pulse.env, reports=reports, seconds=seconds, moments=moments))
                print(f"| {label} | {share:.0%} | {dry} | – | – | {gap_cells(gaps)} | {stall_cell(stalls, moments)} "
                      f"| {server_cell(pulse, server, moments)} |", flush=True)
        for sound in sounds or builtin_sounds():
            for share in shares:
                moments = []
                traces: list[ThreadTrace] | None = [] if trace else None
                switched = partial(run_switched, sound, seconds, pulse.env, extra=extra, backwards=backwards,
                                   moments=moments, traces=traces)
                lines, gaps, stalls, server = held_run(share, pulse, switched)
                underruns, late = exit_counts(lines)
                totals[share].append(underruns)
                if underruns:
                    told.append(f"{sound} at {share:.0%}:")
                    told.extend(f"    {line}" for line in lines if any(word in line for word in TOLD))
                for held in traces or []:
                    holds = held.holds("audio", HELD_S)
                    if holds:
                        told.append(f"{sound} at {share:.0%}: the audio thread ran not at all for "
                                    f"≥ {HELD_S * 1000:.0f} ms {len(holds)} times")
                        told.extend(f"    {at - moments[0]:6.2f} s, {length * 1000:.0f} ms "
                                    f"({beside_stall(stalls, at, length)}): {what}" for at, length, what in holds)
                print(f"| {sound} | {share:.0%} | {underruns} | {late} | {short_cell(lines)} "
                      f"| {gap_cells(gaps)} | {stall_cell(stalls, moments)} | {server_cell(pulse, server, moments)} |",
                      flush=True)
    finally:
        pulse.stop()
    for share, counts in totals.items():
        clean = sum(1 for n in counts if n == 0)
        print(f"\n{share:.0%}: {clean} of {len(counts)} sounds with no underrun, {sum(counts)} underruns in all")
    if told:
        print("\nWhat the daemon said in the runs that underran, and with --trace when its audio thread was held "
              "up (seconds after READY=1; the switch at 8 s, "
              f"sweeps at {sweeps} s, 1.9 s each):\n\n```")
        print("\n".join(told))
        print("```")


def sweep_table(sounds: list[str], shares: tuple[float | None, ...], rounds: int = 3) -> None:
    """What a knob sweep costs the whole `bedside run` process on the clocked device: its CPU a second
    untouched and while a detent comes every 80 ms (six up, six down), in alternating 8 s windows
    from 20 s after READY=1, with the CPU unlimited (None) and held to each share."""
    print("\n### What a knob sweep costs (clocked device; 8 s untouched, then 8 s of a detent every 80 ms, "
          f"{rounds} rounds from 20 s after READY=1; medians)\n")
    print("| sound | CPU limit | untouched, ms CPU a second | sweeping, ms CPU a second | per detent, ms "
          "| underruns (the daemon's count) |")
    print("|---|---|---:|---:|---:|---:|")
    pulse = PulseNullSink(scratch("bedside-pulse-")).start()
    try:
        for sound in sounds:
            for share in shares:
                limit = CpuLimit(f"bedside-bench-{os.getpid()}", share) if share else None
                keys, terminal = pty.openpty()
                try:
                    process, server = start_ready(appliance_dir(sound, "pulse"), pulse.env, terminal, limit)
                except BaseException:
                    os.close(keys)
                    if limit is not None:
                        limit.close()
                    raise
                finally:
                    os.close(terminal)
                still, sweeping, per_detent = [], [], []
                try:
                    time.sleep(20)
                    for _ in range(rounds):
                        before, t0 = cpu_s(process.pid), time.monotonic()
                        time.sleep(8)
                        untouched = (cpu_s(process.pid) - before) / (time.monotonic() - t0)
                        before, t0, detents = cpu_s(process.pid), time.monotonic(), 0
                        while time.monotonic() - t0 < 8:
                            os.write(keys, b"+" if detents // 6 % 2 == 0 else b"-")
                            detents += 1
                            time.sleep(0.08)
                        spent, took = cpu_s(process.pid) - before, time.monotonic() - t0
                        still.append(untouched)
                        sweeping.append(spent / took)
                        per_detent.append((spent - untouched * took) / detents)
                finally:
                    process.send_signal(signal.SIGTERM)
                    out, _ = process.communicate(timeout=30)
                    os.close(keys)
                    server.close()
                    if limit is not None:
                        limit.close()
                underruns, _ = exit_counts(out.splitlines())
                held = f"{share:.0%} of a core" if share else "none"
                print(f"| {sound} | {held} | {np.median(still) * 1e3:.1f} | {np.median(sweeping) * 1e3:.1f} "
                      f"| {np.median(per_detent) * 1e3:.2f} | {underruns} |", flush=True)
    finally:
        pulse.stop()


def wait_until(done: Callable[[], bool], limit_s: float = 900.0) -> None:
    """Poll ``done`` every half second until it holds, or for ``limit_s`` at most."""
    deadline = time.monotonic() + limit_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.5)


def latency_table(detents: int, extra: str = "", sound: str = "brown") -> None:
    """In-process daemon on MockFactory pins, playing into the clocked device: a sweep of ``detents``
    in the first minute after the start (the device braced full: see alsa.BRACED_S), one once the
    brace is over (the fill stepping down a period every alsa.FILL_STEP_S) and another once the fill
    has come down to [audio] fill_periods (alsa.FILL_STEP_S a period; unless the loop came late
    meanwhile: the late count says). In each a turning knob brings the device to its steady fill at
    once (player.HURRY_S), unless the CPU was short (the late count, or the synthesis thread's)."""
    from bedside.config import load
    from bedside.daemon import Daemon

    pulse = PulseNullSink(scratch("bedside-pulse-")).start()
    os.environ.update(pulse.env)
    tmp = appliance_dir(sound, "pulse", extra)
    daemon = Daemon(load(tmp / "bedside.toml"), simulate_pins=True, keyboard=False, seed=1)
    applied: deque[tuple[int, int]] = deque()
    thread = threading.Thread(target=daemon.run, daemon=True)
    thread.start()
    phases = []
    try:
        assert daemon.ready.wait(30)
        daemon.player.writes = deque(maxlen=100000)
        daemon.controller.subscribe(lambda snapshot: snapshot.reason == "volume" and applied.append(
            (snapshot.state.volume, snapshot.frame)))
        started = time.monotonic()
        time.sleep(2)
        a, b = daemon.pins.factory.pin(5), daemon.pins.factory.pin(6)
        sink = daemon.output.sink
        for name in ("in the first minute after a start", "the brace over", "at the least fill"):
            if name == "at the least fill":  # a late wake-up meanwhile braces it again: wait it out
                wait_until(lambda: sink.fill_frames(time.monotonic()) <= sink.steady_frames)
                name = f"{name}, {time.monotonic() - started:.0f} s in"
            elif name == "the brace over":  # a period under full, stepping down
                wait_until(lambda: sink.fill_frames(time.monotonic()) < sink.buffer_frames)
                time.sleep(2.0)
                name = f"{name}, {time.monotonic() - started:.0f} s in"
            else:
                time.sleep(max(0.0, 2.0 - (time.monotonic() - started)))
            late = sink.late_wakes + sink.underruns
            fill = sink.fill_frames(time.monotonic()) / sink.period_frames
            turned = []
            for i in range(detents):
                first, second = (a, b) if (i // 10) % 2 == 0 else (b, a)  # sweeps up and down, ten at a time
                first.drive_low()
                second.drive_low()
                first.drive_high()
                time.sleep(0.002)
                turned.append(time.monotonic())
                second.drive_high()  # the last edge of the quadrature cycle: the detent
                time.sleep(0.06 + 0.04 * np.random.default_rng(i).random())
            time.sleep(0.5)
            phases.append((name, fill, turned, f"{late} / {sink.late_wakes + sink.underruns - late}"))
        writes = list(daemon.player.writes)
        granted = f"{sink.period_frames} frames × {sink.periods} (buffer {sink.buffer_seconds * 1000:.1f} ms)"
        steady = sink.steady_frames / sink.rate * 1000
    finally:
        daemon.request_exit()
        thread.join(10)
        pulse.stop()
    firsts = np.array([w[0] for w in writes])
    print(f"\n### Knob detent → first changed sample at the DAC, clocked device, granted {granted}, "
          f"kept at {steady:.1f} ms once steady\n")
    print("| when | fill, periods | detents | p50, ms | p99, ms | max, ms "
          "| late periods + underruns before / meanwhile |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    changes = iter(applied)
    for name, fill, turned, late in phases:
        latencies = []
        for when, (_, frame) in zip(turned, changes, strict=False):
            k = np.searchsorted(firsts, frame, side="right") - 1
            first, handed, queued = writes[k]
            latencies.append(handed - when + (queued + frame - first) / 48000)
        lat = np.array(latencies) * 1000
        print(f"| {name} | {fill:.0f} | {len(lat)} | {np.percentile(lat, 50):.1f} | {np.percentile(lat, 99):.1f} | "
              f"{lat.max():.1f} | {late} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="steady-state window per sound")
    parser.add_argument("--pi-seconds", type=float, default=90.0)
    parser.add_argument("--detents", type=int, default=200)
    parser.add_argument("--skip-pi", action="store_true")
    parser.add_argument("--no-floor", action="store_true",
                        help="Pi-share table: leave out the least players (aplay, the least Python loop)")
    parser.add_argument("--only", choices=("cost", "pi", "latency", "sweep", "threads"),
                        help="one table; 'sweep' (what a knob sweep costs, unlimited and at --shares) and "
                             "'threads' (the daemon thread by thread beside its floors) only when asked")
    parser.add_argument("--sounds", nargs="+",
                        help="for the cost and Pi-share tables: these sounds only; the latency table plays the first")
    parser.add_argument("--backwards", action="store_true",
                        help="Pi-share table: switch to each sound from the one after it (rain from light-rain, "
                             "not from brown)")
    parser.add_argument("--shares", default="0.15,0.10", help="for the Pi-share table: shares of one core")
    parser.add_argument("--pulse-log", action="store_true",
                        help="Pi-share table: the server logs at debug level and its own underruns get a column")
    parser.add_argument("--trace", action="store_true",
                        help="Pi-share table: sample the daemon's threads every 2 ms from the other CPU and "
                             "say what held the audio thread whenever it ran not at all for 30 ms")
    parser.add_argument("--audio", default="",
                        help="for the Pi-share and latency tables: [audio] lines, e.g. 'periods = 3'")
    args = parser.parse_args()
    audio = args.audio and args.audio.replace("\\n", "\n") + "\n"
    as_installed()
    if args.only in (None, "latency"):
        latency_table(args.detents, audio, (args.sounds or ["brown"])[0])
    if args.only in (None, "cost"):
        cost_table(args.seconds, args.sounds)
    if args.only == "threads":
        thread_table(args.seconds, args.sounds or ["brown", "heavy-rain", "summer-night", "distant-thunder", "birds"])
    if args.only == "sweep":
        sweep_table(args.sounds or ["brown", "crickets"], (None, *(float(x) for x in args.shares.split(","))))
    if args.only in (None, "pi") and not args.skip_pi:
        pi_table(args.pi_seconds, tuple(float(x) for x in args.shares.split(",")), args.sounds, audio,
                 not args.no_floor, args.backwards, args.pulse_log, args.trace)


if __name__ == "__main__":
    main()
