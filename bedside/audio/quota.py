"""Whether the kernel is holding this process back for a CPU quota (a cgroup's CPU bandwidth),
and whether that quota is tight.

A box may run the service under a quota (systemd's ``CPUQuota=``, a container's CPU limit). Once
the quota of a scheduling period is used up every thread of the process waits for the next period
(up to 9 ms of 10 at a tenth of a core) while the sound device goes on playing: a device that holds
two periods (21 ms) runs dry after a few such waits in a row, one that holds six does not. The
kernel counts those waits in the cgroup's ``cpu.stat`` (``nr_throttled``, cgroup v1 and v2), so the
player can keep the deeper margin while it happens instead of learning it from an underrun.

Plain file reads, made on the synthesis thread (never the audio thread's business).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: A quota under this share of a core is tight: the device is kept full, the knob included, for as
#: long as it holds. Its throttling alone did not tell soon enough: a cheap sound (white) at 10% of
#: a core went a minute without being throttled, a knob sweep then took the device down to its
#: steady 2 periods, and the sweep's own work got the process throttled and the device ran dry
#: 0.1 s into it (2026-12-06). A box under such a quota gives up the knob's 21 ms for 64.
TIGHT_SHARE = 0.5
#: ...as is one that can hold the process back longer than this at a time (period less quota:
#: systemd's CPUQuota= uses a 100 ms period, so 80% can wait 20 ms, more than the steady fill's
#: low mark of a period and a half).
TIGHT_WAIT_S = 0.010


def cpu_stat_path(membership: str, root: Path = CGROUP_ROOT) -> Path | None:
    """The ``cpu.stat`` of the cgroup named in ``membership`` (``/proc/self/cgroup``'s text) that
    counts throttling, or None (no cpu controller, or no quota accounting there)."""
    candidates: list[Path] = []
    for line in membership.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        relative = path.strip().lstrip("/")
        if controllers == "":  # cgroup v2: one hierarchy
            candidates.append(root / relative / "cpu.stat")
        elif "cpu" in controllers.split(","):  # v1: mounted as cpu, or cpu,cpuacct
            candidates += [root / controllers / relative / "cpu.stat", root / "cpu" / relative / "cpu.stat"]
    for candidate in candidates:
        with contextlib.suppress(OSError):
            if "nr_throttled" in candidate.read_text():
                return candidate
    return None


class Throttling:
    """How many times the kernel has held this process's cgroup back so far (its quota used up)."""

    def __init__(self, membership_file: Path = Path("/proc/self/cgroup"), root: Path = CGROUP_ROOT) -> None:
        self._membership_file = membership_file
        self._root = root
        self._path: Path | None = None
        self._looked = False

    def tight(self) -> float | None:
        """The quota as a share of one core if it is tight (see TIGHT_SHARE, TIGHT_WAIT_S), else
        None (no quota, a generous one, or none readable). Read each time: a supervisor may
        change it while the process runs."""
        path = self._stat()
        if path is None:
            return None
        directory = path.parent
        try:
            if (directory / "cpu.max").exists():  # v2: "max 100000" or "10000 100000" (µs)
                quota_text, _, period_text = (directory / "cpu.max").read_text().strip().partition(" ")
            else:  # v1: -1 is no quota
                quota_text = (directory / "cpu.cfs_quota_us").read_text().strip()
                period_text = (directory / "cpu.cfs_period_us").read_text().strip()
            quota, period = int(quota_text), int(period_text)
        except (OSError, ValueError):
            return None
        if quota <= 0 or period <= 0:
            return None
        share = quota / period
        return share if share < TIGHT_SHARE or (period - quota) / 1e6 > TIGHT_WAIT_S else None

    def _stat(self) -> Path | None:
        """The cgroup's ``cpu.stat``, looked up at the first call (a supervisor may move the process
        in after it starts); None without quota accounting, or once the cgroup has gone."""
        if not self._looked:
            self._looked = True
            with contextlib.suppress(OSError):
                self._path = cpu_stat_path(self._membership_file.read_text(), self._root)
        return self._path

    def count(self) -> int | None:
        """Throttled scheduling periods so far; None if this process has no quota accounting."""
        path = self._stat()
        if path is None:
            return None
        try:
            text = path.read_text()
        except OSError:
            self._path = None  # the cgroup went away: nothing to watch any more
            return None
        for line in text.splitlines():
            name, _, value = line.partition(" ")
            if name == "nr_throttled" and value.strip().isdigit():
                return int(value)
        return None
