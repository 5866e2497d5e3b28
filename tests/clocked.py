"""Real edges for the tests and benchmarks: a clocked sound device, and a Pi-class CPU.

- :class:`PulseNullSink`: a private PulseAudio daemon with a null sink (s32le, 48 kHz) on its own
  runtime directory. ALSA's ``pulse`` device plays into it in real time (unlike ALSA's ``null`` or
  ``file``, it has a clock: a late writer underruns), and ``parec`` records its monitor.
- :class:`CpuLimit`: a cgroup holding a process to a share of one core (cgroup v1 ``cpu``
  controller, or v2 ``cpu.max``): 15% of a core here is about one Cortex-A53 core (Pi Zero 2 W, Pi 3).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np

RATE = 48000


class PulseNullSink:
    def __init__(self, directory: Path, log: Path | None = None) -> None:
        self.directory = directory
        self.log = log  # the server's own debug log (its underruns, with times) goes here if given
        #: Where the server writes: that debug log, or only its warnings and errors. Kept either way: a
        #: server that died in CI (every later test found the socket refused) must say why next time.
        self.server_log = log or directory / "server.log"
        self.started = 0.0  # monotonic time the server was started
        self.recording_started = 0.0  # monotonic time the last recording started
        self.runtime = directory / "runtime"
        self.process: subprocess.Popen | None = None

    @property
    def env(self) -> dict[str, str]:
        """What a client needs to find this server (and nothing else)."""
        return {"XDG_RUNTIME_DIR": str(self.runtime), "PULSE_SERVER": f"unix:{self.runtime / 'pulse' / 'native'}"}

    def start(self) -> PulseNullSink:
        if shutil.which("pulseaudio") is None:
            raise RuntimeError("pulseaudio is not installed (make test installs it)")
        self.runtime.mkdir(parents=True, exist_ok=True)
        self.runtime.chmod(0o700)
        script = self.directory / "bedside.pa"
        script.write_text("load-module module-native-protocol-unix auth-anonymous=1\n"
                          "load-module module-null-sink sink_name=bedside format=s32le rate=48000 channels=2\n"
                          "set-default-sink bedside\n")
        verbose = ["-vvvv", "--log-time=1"] if self.log is not None else []
        self.started = time.monotonic()  # the log's times count from about here
        # --no-cpu-limit: the server's own watchdog ends it after 70% of a CPU for 10 s, which a
        # VM's stalls billed to it could look like (a suspect, not proven).
        with open(self.server_log, "ab") as log:
            self.process = subprocess.Popen(
                ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
                 "--no-cpu-limit=true", "--log-target=stderr", *verbose],
                env={**os.environ, **self.env, "HOME": str(self.directory)}, stdout=subprocess.DEVNULL, stderr=log)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if subprocess.run(["pactl", "info"], env={**os.environ, **self.env}, capture_output=True).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError("pulseaudio did not start")

    def ensure_running(self) -> str | None:
        """Start the server again if it has ended; then what it last said and how it ended (else None).

        One server serves a module's tests: a server that died must fail only the test it died in,
        not every test after it."""
        if self.process is None or self.process.poll() is None:
            return None
        code = self.process.returncode
        said = self.server_log.read_text(errors="replace").splitlines()[-5:] if self.server_log.exists() else []
        self.start()
        return f"PulseAudio had ended (exit status {code}); its last lines: {said}"

    def underruns(self, since: float, until: float) -> list[float]:
        """When (monotonic) the server found a stream's queue empty ("Implicit underrun" in its debug
        log: the data did not reach it in time), between ``since`` and ``until``; [] without a log.
        The server's own account beside the client's count (ALSA's pulse plugin forgets an underrun
        the client writes past before it hears of it) and the recording's gaps (a run of exact zeros
        with no server underrun was in the samples themselves, e.g. a fade-in's first millisecond)."""
        if self.log is None or not self.log.exists():
            return []
        times = []
        for line in self.log.read_text(errors="replace").splitlines():
            if "Implicit underrun" in line and line.startswith("("):
                at = self.started + float(line[1:line.index("|")])
                if since <= at <= until:
                    times.append(at)
        return times

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
            self.process.kill()

    @contextlib.contextmanager
    def recording(self, path: Path):
        """Record the sink's monitor (raw s32le stereo) while the block runs.

        The recorder's latency sets how the null sink plays: in blocks of about that length. At 10 ms
        the sink took two of the player's 512-frame periods at a time, so the player woke to find one
        period queued, not two (every write, measured), and about 6% of its periods came a period late:
        half the margin a DAC that takes a period per interrupt leaves. At 2 ms the player finds
        ~1,020 frames queued, as on such a DAC."""
        with open(path, "wb") as out:
            process = subprocess.Popen(["parec", "-d", "bedside.monitor", "--format=s32le", "--rate=48000",
                                        "--channels=2", "--latency-msec=2", "--raw"],
                                       env={**os.environ, **self.env}, stdout=out, stderr=subprocess.DEVNULL)
            # When it started; not the time of its frame 0: an idle null sink's monitor is not real
            # time (the first ~1.9 s went missing), so a gap is placed from the first sound instead.
            self.recording_started = time.monotonic()
            try:
                time.sleep(0.3)
                yield path
            finally:
                time.sleep(0.3)
                process.terminate()
                process.wait(5)


def read_recording(path: Path) -> np.ndarray:
    """A monitor recording as float64 frames."""
    return np.fromfile(path, "<i4").reshape(-1, 2).astype(np.float64) / 2**31


def sounding(x: np.ndarray) -> np.ndarray:
    """From the first to the last non-zero frame: the stretch that must have no gap."""
    loud = np.flatnonzero(np.any(x != 0, axis=1))
    return x[loud[0]:loud[-1] + 1] if len(loud) else x[:0]


def zero_runs(x: np.ndarray, shortest: int = RATE // 1000) -> list[tuple[int, int]]:
    """(start, length) of every run of exact zeros (both channels) at least ``shortest`` frames long."""
    silent = np.r_[False, np.all(x == 0, axis=1), False].astype(np.int8)
    edges = np.diff(silent)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True) if e - s >= shortest]


class CpuLimit:
    """A cgroup that holds its processes to ``share`` of one core (CFS bandwidth control), each
    process on one CPU: one slow core, as on a Pi, not slices of two.

    Spread over two CPUs, a process's threads each take the quota in 5 ms slices
    (``sched_cfs_bandwidth_slice_us``) that one CPU holds while the other is throttled: measured with
    stream at 15%, about twice the throttling (62–72 against 39–40 holds in 30 s) at the same use.
    """

    PERIOD_US = 10000
    #: CFS bandwidth control refuses a smaller quota: 10% of a core is the least this rig holds to.
    LEAST_QUOTA_US = 1000
    #: The CPU the limited processes run on.
    CPU = max(os.sched_getaffinity(0))

    def __init__(self, name: str, share: float) -> None:
        quota = int(self.PERIOD_US * share)
        if quota < self.LEAST_QUOTA_US:  # the kernel says only EINVAL, and the group was left behind
            least = self.LEAST_QUOTA_US
            raise ValueError(f"a share of {share:.0%} is a quota of {quota} µs a {self.PERIOD_US} µs period: "
                             f"the kernel's least is {least} µs ({least / self.PERIOD_US:.0%})")
        v1 = Path("/sys/fs/cgroup/cpu")
        if (v1 / "cpu.cfs_quota_us").exists():
            self.path = v1 / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.cfs_period_us").write_text(str(self.PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
            self._root = v1
        elif Path("/sys/fs/cgroup/cgroup.controllers").exists():
            root = Path("/sys/fs/cgroup")
            if "cpu" not in (root / "cgroup.subtree_control").read_text().split():
                (root / "cgroup.subtree_control").write_text("+cpu")
            self.path = root / name
            self.path.mkdir(exist_ok=True)
            (self.path / "cpu.max").write_text(f"{quota} {self.PERIOD_US}")
            self._root = root
        else:
            raise RuntimeError("no cgroup cpu controller to limit a process with")

    def add(self, pid: int) -> None:
        """Limit ``pid`` (before it starts its threads: they inherit its CPU)."""
        (self.path / "cgroup.procs").write_text(str(pid))
        os.sched_setaffinity(pid, {self.CPU})

    def _cpu_stat(self) -> dict[str, str]:
        return dict(line.split() for line in (self.path / "cpu.stat").read_text().splitlines())

    def throttled_us(self) -> int:
        """How long the group has been held back so far (µs)."""
        stat = self._cpu_stat()
        return int(stat.get("throttled_time", 0)) // 1000 if "throttled_time" in stat else int(
            stat.get("throttled_usec", 0))

    def throttled_periods(self) -> int:
        """How many of its periods the group has been held back in so far (cgroup v1 and v2 alike)."""
        return int(self._cpu_stat().get("nr_throttled", 0))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(OSError):
                    (self._root / "cgroup.procs").write_text(pid)
            self.path.rmdir()


class StallWatch:
    """When a CPU itself stood still: a thread on each CPU, outside any limit, that sleeps 2 ms at a
    time and notes each wake-up later than ``threshold_s``.

    On a VM the host sometimes takes a virtual CPU away for tens of milliseconds (measured here: 63,
    85 and 89 ms). Nothing on that CPU can play through that — neither the limited process nor
    PulseAudio and its recorder, which stand in for a DAC that never stops — on any buffer a 30 ms
    latency allows; a real Pi has no host. Each such stall may explain one gap."""

    def __init__(self, cpus: set[int] | None = None, threshold_s: float = 0.025) -> None:
        self.threshold = threshold_s
        self.stalls: list[tuple[int, float, float]] = []  # (CPU, monotonic time, how late)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(cpu,), name=f"stall-watch-{cpu}", daemon=True)
                         for cpu in sorted(cpus or os.sched_getaffinity(0))]

    def __enter__(self) -> StallWatch:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)

    def describe(self, zero: float | None = None) -> list[str]:
        """Each stall's CPU and length; with ``zero`` (monotonic) also when it began, in s from then."""
        return [f"CPU {cpu}: {late * 1000:.0f} ms" + ("" if zero is None else f" at {at - zero:.1f}")
                for cpu, at, late in self.stalls]

    def _run(self, cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})  # this thread only (Linux)
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(0.002)
            late = time.monotonic() - before - 0.002
            if late > self.threshold:
                self.stalls.append((cpu, before, late))


#: x86-64 system call numbers a held thread is likely to sit in (/proc/TID/syscall's first field).
SYSCALL_NAMES = {"0": "read", "1": "write", "7": "poll", "23": "select", "202": "futex", "230": "nanosleep",
                 "232": "epoll_wait", "270": "pselect", "271": "ppoll", "281": "epoll_pwait", "running": "running"}


class ThreadTrace:
    """What each thread of a process was doing, every ``interval_s``, seen from outside it (a thread
    on a CPU the process is kept off): its state, CPU and time spent runnable but not running
    (``schedstat``, ns), the system call it sat in, and the group's throttled periods so far.

    The audio thread of a braced player runs at least once a period; a stretch in which its CPU
    time does not move is the loop held up, and what it sat in meanwhile says by what: a futex (the
    GIL or a lock), the poll on the device (the sound server's side) or runnable (no CPU: the quota).
    """

    def __init__(self, pid: int, cpu: int, limit: CpuLimit | None = None, interval_s: float = 0.002) -> None:
        self.pid, self.interval = pid, interval_s
        self.names: dict[int, str] = {}
        #: (monotonic, throttled periods, {tid: (state, cpu ns, runnable ns, syscall)})
        self.samples: list[tuple[float, int, dict[int, tuple[str, int, int, str]]]] = []
        self._limit = limit
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(cpu,), name="thread-trace", daemon=True)

    def __enter__(self) -> ThreadTrace:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self, cpu: int) -> None:
        os.sched_setaffinity(0, {cpu})
        files: dict[int, tuple[int, int, int]] = {}
        looked = -1.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now - looked > 0.2:  # threads come and go
                looked = now
                with contextlib.suppress(OSError):
                    for tid in map(int, os.listdir(f"/proc/{self.pid}/task")):
                        if tid not in files:
                            with contextlib.suppress(OSError):
                                task = f"/proc/{self.pid}/task/{tid}"
                                files[tid] = tuple(os.open(f"{task}/{name}", os.O_RDONLY)
                                                   for name in ("stat", "schedstat", "syscall"))
                    for tid in files:  # named once running (the daemon names its threads)
                        with contextlib.suppress(OSError):
                            self.names[tid] = Path(f"/proc/{self.pid}/task/{tid}/comm").read_text().strip()
            threads: dict[int, tuple[str, int, int, str]] = {}
            for tid, (stat, sched, call) in list(files.items()):
                try:
                    state = os.pread(stat, 512, 0).decode().rsplit(")", 1)[1].split()[0]
                    ran, waited = os.pread(sched, 128, 0).split()[:2]
                    call_fields = os.pread(call, 128, 0).decode().split()
                    # a futex with its address: the GIL's is the one every thread waits on
                    syscall = " ".join(call_fields[:2]) if call_fields[0] == "202" else call_fields[0]
                except (OSError, IndexError, ValueError):
                    for fd in files.pop(tid):
                        os.close(fd)
                    continue
                threads[tid] = (state, int(ran), int(waited), syscall)
            throttled = 0
            if self._limit is not None:
                with contextlib.suppress(OSError, ValueError):
                    throttled = self._limit.throttled_periods()
            self.samples.append((now, throttled, threads))
            time.sleep(self.interval)
        for fds in files.values():
            for fd in fds:
                os.close(fd)

    def holds(self, name: str, least_s: float = 0.03) -> list[tuple[float, float, str]]:
        """Each stretch of at least ``least_s`` in which thread ``name`` used no CPU: (start, length,
        what it sat in and what the others did meanwhile)."""
        tids = [tid for tid, named in self.names.items() if named == name]
        if not tids:
            return []
        tid = tids[0]
        found = []
        start = None  # index of the first sample at the held value
        for i, (_at, _throttled, threads) in enumerate(self.samples):
            if tid not in threads:
                continue
            if start is None or threads[tid][1] != self.samples[start][2][tid][1]:
                if start is not None and self.samples[i][0] - self.samples[start][0] >= least_s:
                    found.append((start, i))
                start = i
        return [(self.samples[a][0], self.samples[b][0] - self.samples[a][0], self._describe(tid, a, b))
                for a, b in found]

    def _describe(self, tid: int, a: int, b: int) -> str:
        first, last = self.samples[a], self.samples[b]
        sat: dict[str, int] = {}
        for _at, _throttled, threads in self.samples[a:b]:
            state, _ran, _waited, syscall = threads.get(tid, ("?", 0, 0, "?"))
            number, _, address = syscall.partition(" ")
            what = state if syscall == "running" else f"{SYSCALL_NAMES.get(number, number)} {address}".strip()
            sat[what] = sat.get(what, 0) + 1
        runnable = (last[2][tid][2] - first[2][tid][2]) / 1e6
        # And the 50 ms before it: a thread that ran long there leaves the group a debt to the quota.
        before = a
        while before > 0 and first[0] - self.samples[before - 1][0] <= 0.05:
            before -= 1
        earlier = self.samples[before]
        sat_in = ", ".join(f"{what} ×{n}" for what, n in sorted(sat.items(), key=lambda what_n: -what_n[1]))
        # A host that stood still stops this sampler too: few samples for the stretch's length.
        return (f"{b - a} samples; sat in {sat_in}; "
                f"runnable {runnable:.0f} ms; throttled {last[1] - first[1]} periods; "
                f"CPU ms meanwhile: {self._used(first, last)}; in the {(first[0] - earlier[0]) * 1000:.0f} ms "
                f"before: {self._used(earlier, first)}, throttled {first[1] - earlier[1]} periods")

    def _used(self, first: tuple, last: tuple, least_ms: float = 0.1) -> str:
        """Each thread's CPU between two samples (ms), those that used at least ``least_ms``."""
        used = [(self.names.get(tid, str(tid)), (ran - first[2][tid][1]) / 1e6)
                for tid, (_state, ran, _waited, _syscall) in last[2].items() if tid in first[2]]
        used.sort(key=lambda name_ms: -name_ms[1])
        return ", ".join(f"{name} {ms:.1f}" for name, ms in used if ms >= least_ms) or "none"
