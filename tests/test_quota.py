"""Reading the kernel's count of a CPU quota's throttling: fake cgroup trees, then a real cgroup."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clocked import CpuLimit

from bedside.audio.quota import Throttling, cpu_stat_path

V1 = "9:name=systemd:/\n4:memory:/m\n2:cpuacct:/\n1:cpu:/box\n0::/\n"
V1_JOINED = "5:cpu,cpuacct:/system.slice/bedside.service\n0::/\n"
V2 = "0::/system.slice/bedside.service\n"


def tree(root: Path, relative: str, text: str) -> Path:
    path = root / relative / "cpu.stat"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_the_cgroup_that_counts_throttling_is_found_in_v1_and_v2(tmp_path):
    assert cpu_stat_path(V1, tmp_path / "a") is None  # nothing mounted there
    assert cpu_stat_path(V1, tree(tmp_path / "a", "cpu/box", "nr_periods 0\nnr_throttled 0\n").parents[2]) \
        == tmp_path / "a" / "cpu" / "box" / "cpu.stat"
    assert cpu_stat_path(V1_JOINED, tree(tmp_path / "b", "cpu,cpuacct/system.slice/bedside.service",
                                         "nr_throttled 2\n").parents[3]) \
        == tmp_path / "b" / "cpu,cpuacct" / "system.slice" / "bedside.service" / "cpu.stat"
    # cgroup v2 without the cpu controller: cpu.stat has no throttling count, so no quota to watch
    tree(tmp_path / "c", "system.slice/bedside.service", "usage_usec 10\nuser_usec 5\n")
    assert cpu_stat_path(V2, tmp_path / "c") is None
    tree(tmp_path / "d", "system.slice/bedside.service", "usage_usec 10\nnr_periods 7\nnr_throttled 5\n")
    assert cpu_stat_path(V2, tmp_path / "d") == tmp_path / "d" / "system.slice" / "bedside.service" / "cpu.stat"
    assert cpu_stat_path("garbage\n\x00::\n", tmp_path / "d") is None


def test_the_count_is_read_and_a_vanished_or_unreadable_cgroup_is_no_quota(tmp_path):
    (tmp_path / "membership").write_text(V2)
    stat = tree(tmp_path, "system.slice/bedside.service", "nr_periods 7\nnr_throttled 5\nthrottled_usec 1\n")
    throttling = Throttling(tmp_path / "membership", tmp_path)
    assert throttling.count() == 5
    stat.write_text("nr_periods 9\nnr_throttled 6\n")
    assert throttling.count() == 6
    stat.write_text("nr_throttled many\n")
    assert throttling.count() is None
    stat.unlink()
    assert throttling.count() is None
    assert Throttling(tmp_path / "missing", tmp_path).count() is None


def test_a_tight_quota_is_told_from_a_generous_one_or_none_in_v1_and_v2(tmp_path):
    """Tight: under TIGHT_SHARE of a core, or able to hold the process back longer than
    TIGHT_WAIT_S at a time (systemd's CPUQuota= with its 100 ms period). Garbage is no quota."""
    (tmp_path / "v1").write_text(V1_JOINED)
    stat = tree(tmp_path, "cpu,cpuacct/system.slice/bedside.service", "nr_throttled 0\n")
    v1 = Throttling(tmp_path / "v1", tmp_path)
    for quota, period, tight in ((1000, 10000, 0.10), (1500, 10000, 0.15), (-1, 10000, None),
                                 (9500, 10000, None), (80000, 100000, 0.80), (99000, 100000, None),
                                 ("max", 10000, None), (0, 10000, None)):
        (stat.parent / "cpu.cfs_quota_us").write_text(f"{quota}\n")
        (stat.parent / "cpu.cfs_period_us").write_text(f"{period}\n")
        assert v1.tight() == tight, (quota, period)
    (tmp_path / "v2").write_text(V2)
    stat = tree(tmp_path, "system.slice/bedside.service", "nr_periods 7\nnr_throttled 5\n")
    v2 = Throttling(tmp_path / "v2", tmp_path)
    for text, tight in (("10000 100000\n", 0.10), ("max 100000\n", None), ("60000 100000\n", 0.6),
                        ("4000 10000\n", 0.4), ("\x00\n", None), ("", None)):
        (stat.parent / "cpu.max").write_text(text)
        assert v2.tight() == tight, text
    (stat.parent / "cpu.max").unlink()
    assert v2.tight() is None  # no cpu.max, no v1 files: no quota to read


def test_a_real_quota_that_holds_a_busy_process_back_is_counted():
    """A process spinning at 10% of a core in a real cgroup: the count rises within a second."""
    try:
        limit = CpuLimit(f"bedside-quota-{os.getpid()}", 0.10)
    except (OSError, RuntimeError) as error:
        pytest.fail(f"cannot limit the CPU with a cgroup (run the tests as root): {error}")
    spinner = subprocess.Popen([sys.executable, "-c", "import time\nwhile True: pass"])
    try:
        limit.add(spinner.pid)
        throttling = Throttling(Path(f"/proc/{spinner.pid}/cgroup"))
        first = throttling.count()
        assert first is not None
        time.sleep(1.0)
        assert throttling.count() >= first + 10  # ~90 of 100 periods in a second
        assert throttling.tight() == pytest.approx(0.10)
    finally:
        spinner.kill()
        spinner.wait()
        limit.close()
