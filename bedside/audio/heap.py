"""glibc's malloc told to keep the memory a block of sound frees, for the next block.

The synthesis allocates a few temporaries of 0.1–1 MiB for every block (an FFT's buffers and output,
a chunk's frames). By default glibc serves each from a fresh ``mmap`` once it is over 128 KiB (or a
threshold it raises as it goes) and gives the top of the heap back on ``free``, so the next block's
temporaries are page faults again and the kernel zeroes every page. Measured here, 16,384-frame
chunks: 400–1,200 page faults a chunk and half of the synthesis CPU in the kernel on numpy 1.24
(Debian bookworm's, which a Pi's venv takes); far fewer on numpy 2 (the daemon playing surf, 130 a
second). With the thresholds below: none, and the same samples.

The memory kept is what the biggest block needs, which the peak resident size already counted.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

#: mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: Blocks under this come from the heap, not a fresh mmap. Above any one temporary of the synthesis
#: (a 32,768-frame stereo float64 FFT output is 512 KiB); 32-bit glibc refuses more than 512 KiB, and
#: then that is what it gets.
MMAP_THRESHOLD = 4 << 20
MMAP_THRESHOLD_32_BIT = 512 << 10
#: Free memory at the top of the heap is given back only beyond this.
TRIM_THRESHOLD = 16 << 20


def keep_freed_memory() -> bool:
    """Set the thresholds; False (and nothing changed) where the C library has no ``mallopt`` (musl)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in this C library: malloc keeps its own thresholds")
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success and 0 for a value out of its range.
    kept = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) or mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_32_BIT)
    return bool(kept and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
