"""malloc keeps what a block of sound freed: no page faults for every chunk (audio/heap.py)."""

from __future__ import annotations

import os
import subprocess
import sys

FAULTS_PER_CHUNK = """
import resource, sys
import numpy as np
from bedside.audio.heap import keep_freed_memory
if sys.argv[1] == "kept":
    assert keep_freed_memory()
from bedside.sounds import builtin_sounds
source = builtin_sounds()["fan"].make(48000, np.random.SeedSequence(1))
for _ in range(8):
    source.render(16384)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(40):
    source.render(16384)
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 40)
"""


def faults_per_chunk(mode: str) -> float:
    result = subprocess.run([sys.executable, "-c", FAULTS_PER_CHUNK, mode], capture_output=True, text=True,
                            check=True, env={**os.environ, "GLIBC_TUNABLES": ""})
    return float(result.stdout)


def test_with_the_thresholds_set_a_chunk_of_fan_costs_no_page_faults_and_without_them_dozens():
    """fan's 16,384-frame chunks: 57 page faults each with glibc's own thresholds here (368 on
    numpy 1.24), and the kernel zeroing every page; the thresholds leave none here. Compared, not
    zero: a CI machine once counted 1.2 a chunk with them set, faults the process did not ask for
    (the kernel migrating or collapsing its pages), while this machine counts 0 in every run."""
    default = faults_per_chunk("default")
    assert default > 5  # what the thresholds are for: else this test shows nothing
    assert faults_per_chunk("kept") < default / 10


def _minor_faults(argv: list[str]) -> int:
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "GLIBC_TUNABLES": ""})
    _, status, usage = os.wait4(process.pid, 0)
    assert status == 0
    return usage.ru_minflt


def test_bedside_render_sets_them_its_page_faults_do_not_grow_with_the_length():
    """The command whole: 90 s more of surf (264 chunks) add no page faults. With glibc's own
    thresholds they added 244,000 on numpy 1.24 (`make test-bookworm` runs this there; on numpy 2
    the render alone happens not to churn, the daemon's synthesis thread does: 3,300 in 25 s)."""
    def render(seconds: int) -> int:
        return _minor_faults([sys.executable, "-m", "bedside", "render", "surf", "--null", "--seconds", str(seconds),
                              "--seed", "1", "--block", "16384"])

    assert render(100) - render(10) < 300
