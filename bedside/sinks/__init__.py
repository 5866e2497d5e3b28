"""Where the samples go: an ALSA device, a WAV file, or nowhere.

Every sink takes the engine's float blocks and encodes them with the same
:class:`~bedside.pcm.Encoder`, so the bytes for a seed are the same on every sink.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bedside.pcm import Encoder


class Sink(Protocol):
    rate: int
    format: str

    def write(self, block: np.ndarray) -> None:
        """Encode and deliver one block of float32 frames (may block: it paces real time)."""
        ...

    def close(self) -> None:
        ...


class AudioDeviceError(RuntimeError):
    """The sound device could not be opened or used; the message says which and why."""


class NullSink:
    """Encodes and discards: the whole sample path, minus the device (for benchmarks)."""

    def __init__(self, rate: int, fmt: str = "S16_LE", dither_seed: int | None = None) -> None:
        self.rate, self.format = rate, fmt
        self._encoder = Encoder(fmt, dither_seed)
        self.frames_written = 0

    def write(self, block: np.ndarray) -> None:
        self._encoder.encode(block)
        self.frames_written += len(block)

    def close(self) -> None:
        pass
