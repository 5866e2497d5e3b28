"""Sound synthesis: pure numpy, no I/O and no clocks.

A :class:`Source` renders the next block of stereo frames on demand. Every source draws its
randomness from its own generators in a fixed order, so rendering N frames gives the same samples
whether it is asked for them in one block or in many (the WAV file and the ALSA device see the same
sound for the same seed).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

CHANNELS = 2


class Source(Protocol):
    """Something that makes sound, one block at a time."""

    def render(self, frames: int) -> np.ndarray:
        """Return the next ``frames`` frames as a new float32 array of shape ``(frames, 2)``."""
        ...


def spawn_generators(seed: np.random.SeedSequence, count: int) -> list[np.random.Generator]:
    """Independent random streams, one per process inside a source.

    Separate streams keep each process's draws in a fixed order however blocks are cut.
    """
    return [np.random.Generator(np.random.PCG64(child)) for child in seed.spawn(count)]
