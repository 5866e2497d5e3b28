"""Synthesis cost per sound, against sox in the same run.

For each sound: CPU seconds per audio hour of `bedside render SOUND --null` (the whole sample path:
synthesis, gains, limiter, 16-bit dither and encoding) in its own process, its peak RSS, and the
ratio against sox generating the same hour (`sox -n -r 48000 -c 2 -b 16 -t raw /dev/null synth 3600
brownnoise`, and pinknoise). Then the real-time view: the time to render and encode one 256-frame
block (p50, p99, p99.9, max) as a fraction of the block's 5.33 ms.

First, the whole process against sox whole (issue 23): an hour of `bedside render brown -o FILE`
(interpreter start, imports, everything) and of `sox … FILE synth 3600 brownnoise`, both writing a
16-bit WAV to the same directory, alternating, the least of three. User and system time apart: the
kernel's share of writing 691 MB into the page cache swings 0.2–2 s here for any writer.

With --paced SECONDS, only the synthesis thread's view (issue 23): CPU per audio hour of rendering a
sound in chunks of 4096, 8192 and 16384 frames, back to back and paced as the appliance's synthesis
thread is (a chunk, then a sleep until it is due), in one process pinned to one CPU. The gap between
the two is what a thread pays for waking with cold caches, and it shrinks with fewer, larger chunks.

Usage: python benchmarks/synthesis.py [--seconds 600] [--sounds brown,pink] [--paced 15]
Ratios, not absolute times, are what to compare between machines: both sides share the noise.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from bedside.audio.engine import Engine
from bedside.audio.heap import keep_freed_memory
from bedside.audio.pcm import Encoder
from bedside.sounds import builtin_sounds

RATE = 48000


def waited(argv: list[str]) -> tuple[resource.struct_rusage, str]:
    """A command's resource use, from wait4 (the whole process), and its output."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    output = process.stdout.read() if process.stdout else ""
    if status != 0:
        raise RuntimeError(f"{argv} failed with status {status}")
    return usage, output


def run_child(argv: list[str]) -> tuple[float, int, str]:
    """CPU seconds (user + sys), peak RSS (KiB) and the one-line output of a command (sox is
    measured whole: its start-up is a few milliseconds)."""
    usage, output = waited(argv)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, output


REPEATS = 3  # the least of three runs: the machine is shared, and noise only ever adds time


def child_render(sound: str, seconds: float) -> None:
    """In a child process: `bedside render SOUND --null`, timing the render and not the imports."""
    from bedside.cli import main as bedside

    start = time.process_time()
    status = bedside(["render", sound, "--null", "--seconds", str(seconds), "--seed", "1", "--block", "16384"])
    print(time.process_time() - start)
    sys.exit(status)


def bedside_cost(sound: str, seconds: float) -> tuple[float, int]:
    """CPU seconds of the render itself (imports excluded) and the child's peak RSS (KiB)."""
    best, rss = float("inf"), 0
    for _ in range(REPEATS):
        _, peak, output = run_child([sys.executable, __file__, "--child", sound, str(seconds)])
        best, rss = min(best, float(output.split()[-1])), max(rss, peak)
    return best, rss


def sox_cost(colour: str, seconds: float) -> float:
    return min(run_child(["sox", "-n", "-r", str(RATE), "-c", "2", "-b", "16", "-t", "raw", "/dev/null",
                          "synth", str(seconds), colour])[0] for _ in range(REPEATS))


def whole_hour(directory: str) -> None:
    """An hour of brown noise into a WAV file, bedside and sox, whole processes (user, sys CPU s)."""
    target = os.path.join(directory, "hour.wav")
    commands = {"bedside render brown": [sys.executable, "-m", "bedside", "render", "brown", "--seconds", "3600",
                                         "--seed", "1", "-o", target],
                "sox synth brownnoise": ["sox", "-q", "-n", "-r", str(RATE), "-c", "2", "-b", "16", target,
                                         "synth", "3600", "brownnoise"]}
    best = {name: (float("inf"), float("inf")) for name in commands}
    for _ in range(REPEATS):
        for name, argv in commands.items():
            with contextlib.suppress(FileNotFoundError):
                os.unlink(target)  # a truncated old file would add its freeing to the writer's time
            usage, _ = waited(argv)
            if usage.ru_utime + usage.ru_stime < sum(best[name]):
                best[name] = (usage.ru_utime, usage.ru_stime)
    os.unlink(target)
    sox_user, sox_sys = best["sox synth brownnoise"]
    print("| an hour of brown noise to a WAV file, whole process | user s | sys s | total s | × sox |")
    print("|---|---:|---:|---:|---:|")
    for name, (user, system) in best.items():
        print(f"| {name} | {user:.2f} | {system:.2f} | {user + system:.2f} | "
              f"{(user + system) / (sox_user + sox_sys):.2f} (user {user / sox_user:.2f}) |")
    print()


def block_times(sound_name: str, seconds: float, block: int = 256) -> np.ndarray:
    sound = builtin_sounds()[sound_name]
    engine = Engine(RATE, volume=50)
    engine.play(sound_name, sound.make(RATE, np.random.SeedSequence(1)), sound.calibration_db)
    encoder = Encoder("S32_LE", 1)
    times = []
    for _ in range(int(seconds * RATE / block)):
        start = time.perf_counter()
        encoder.encode(engine.render(block))
        times.append(time.perf_counter() - start)
    return np.array(times) / (block / RATE)


def synthesis_hour(sound_name: str, chunk: int, seconds: float, paced: bool) -> float:
    """CPU seconds per audio hour of rendering ``sound_name`` in chunks of ``chunk`` frames for
    ``seconds`` of wall clock (paced: one chunk, then a sleep until the next is due, as the
    synthesis thread does), or for as many chunks back to back (warm caches: the least it costs)."""
    sound = builtin_sounds()[sound_name]
    source = sound.make(RATE, np.random.SeedSequence(1))
    for _ in range(4):
        source.render(chunk)
    chunks = max(8, int(seconds * RATE / chunk))
    started, due = time.thread_time(), time.monotonic()
    for _ in range(chunks):
        source.render(chunk)
        if paced:
            due += chunk / RATE
            time.sleep(max(0.0, due - time.monotonic()))
    return (time.thread_time() - started) * 3600 / (chunks * chunk / RATE)


def paced_table(names: list[str], seconds: float) -> None:
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})
    sizes = (4096, 8192, 16384)
    print("\n### Synthesis alone, CPU s per audio hour: back to back / paced like the synthesis thread\n")
    print("| sound | " + " | ".join(f"{size} frames" for size in sizes) + " |")
    print("|---|" + "---:|" * len(sizes))
    for name in names:
        cells = [f"{synthesis_hour(name, size, seconds / 8, False):.1f} / "
                 f"{synthesis_hour(name, size, seconds, True):.1f}" for size in sizes]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="audio rendered per sound (scaled to an hour)")
    parser.add_argument("--sounds", default=",".join(builtin_sounds()))
    parser.add_argument("--realtime-seconds", type=float, default=60.0)
    parser.add_argument("--skip-whole", action="store_true", help="skip the whole-process hour against sox")
    parser.add_argument("--paced", type=float, default=0.0,
                        help="only the chunk-size table: seconds of paced synthesis per cell (e.g. 15)")
    parser.add_argument("--child", nargs=2, metavar=("SOUND", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    keep_freed_memory()  # the in-process tables as the appliance renders (`bedside` sets it for its children)
    if args.child:
        child_render(args.child[0], float(args.child[1]))
    names = args.sounds.split(",")
    if args.paced:
        paced_table(names, args.paced)
        return
    scale = 3600.0 / args.seconds

    have_sox = shutil.which("sox") is not None
    if have_sox and not args.skip_whole:
        with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as directory:
            whole_hour(directory)
    sox = {c: sox_cost(c, args.seconds) * scale for c in ("brownnoise", "pinknoise")} if have_sox else {}
    for colour, cpu in sox.items():
        print(f"sox synth {colour}: {cpu:.2f} CPU s per audio hour")
    print()
    print("| sound | CPU s / audio hour | vs sox brown | vs sox pink | peak RSS MiB | "
          "block p50 | block p99 | block p99.9 | block max |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in names:
        cpu, rss = bedside_cost(name, args.seconds)
        per_hour = cpu * scale
        ratios = [f"{per_hour / sox[c]:.2f}" if c in sox else "n/a" for c in ("brownnoise", "pinknoise")]
        blocks = block_times(name, args.realtime_seconds)
        q = np.quantile(blocks, [0.5, 0.99, 0.999])
        print(f"| {name} | {per_hour:.2f} | {ratios[0]} | {ratios[1]} | {rss / 1024:.0f} | "
              f"{q[0]:.3f} | {q[1]:.3f} | {q[2]:.3f} | {blocks.max():.3f} |", flush=True)
    print("\nblock columns: time to render and encode one 256-frame block / the block's duration (5.33 ms)")


if __name__ == "__main__":
    main()
