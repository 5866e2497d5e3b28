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


# numpy broadcasting one value per frame over stereo frames, ``block * gains[:, None]``, runs its
# inner loop two elements at a time: 3–4 times slower than a channel at a time, and 10 times where
# a mono wave is spread over the two channels by a pair of gains (measured on 16,384 frames, numpy
# 2.4). These do the same products channel by channel: the same samples to the bit.


def scale_frames(block: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Multiply ``block`` (frames × channels) in place by ``gains`` (one per frame); returns it."""
    for channel in range(block.shape[1]):
        block[:, channel] *= gains
    return block


def scaled_frames(block: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """``block * gains[:, None]`` as a new array, a channel at a time."""
    out = np.empty(block.shape, np.result_type(block, gains))
    for channel in range(block.shape[1]):
        np.multiply(block[:, channel], gains, out=out[:, channel])
    return out


def spread(mono: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """A mono wave over the channels, ``mono[:, None] * gains``: ``gains`` holds one gain per
    channel (shape ``(channels,)``) or one per frame and channel (``(frames, channels)``)."""
    out = np.empty((len(mono), gains.shape[-1]), np.result_type(mono, gains))
    for channel in range(gains.shape[-1]):
        # dtype said: numpy 1.x would multiply a float32 wave by a float64 scalar gain in float32.
        np.multiply(mono, gains[..., channel], out=out[:, channel], dtype=out.dtype)
    return out
