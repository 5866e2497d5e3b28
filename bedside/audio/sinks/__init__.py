"""Where the samples go: an ALSA device, a WAV file, or nowhere.

Every sink takes the engine's float blocks and encodes them with the same
:class:`~bedside.audio.pcm.Encoder`, so the bytes for a seed are the same on every sink.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from bedside.audio.pcm import Encoder, words_to_floats


class Output(Protocol):
    """Everything the player's loop asks of where the samples go, and nothing more."""

    @property
    def period_frames(self) -> int | None:
        """Frames per device period (the last block is padded to one); None: any length."""
        ...

    @property
    def underruns(self) -> int:
        """Times the device ran dry so far."""
        ...

    @property
    def last_dry(self) -> tuple[float, float] | None:
        """At the last underrun: seconds from the last write to finding the device dry, and the
        seconds that write left queued (what tells a loop held up from a device dry early); None:
        not known."""
        ...

    @property
    def queued_before(self) -> int:
        """Frames still queued in the device when the last block was handed over."""
        ...

    def held_s(self) -> float:
        """Seconds of sound the device still holds now: how long the loop may wait before it runs dry."""
        ...

    def wait_for_room(self, frames: int, wake_fd: int | None = None, brace: bool = False,
                      hurry: bool = False) -> int:
        """Wait until ``frames`` fit; returns how many fit now (a clock-less sink: at once), or 0
        if ``wake_fd`` became readable first (a command to apply). ``brace``: a burst of work is
        coming (a sound built, a crossfade): a device may hold more than its steady fill.
        ``hurry``: someone is turning the volume: hold no more than the steady fill, unless braced
        or the CPU came up short lately."""
        ...

    def cpu_short(self) -> None:
        """The CPU came up short where the sink cannot see it (the synthesis thread held up, a
        quota's throttling): keep the margin a late wake-up would, even while the knob turns."""
        ...

    def write(self, block: np.ndarray) -> None:
        """Encode and deliver one block of float32 frames (may block: it paces real time)."""
        ...

    @property
    def words_format(self) -> str | None:
        """The sample format in which :meth:`write_words` takes blocks already encoded (the
        synthesis thread makes a steady period's words ahead); None: floats only."""
        ...

    def write_words(self, words: np.ndarray) -> None:
        """Deliver one block already encoded in :attr:`words_format`, as :meth:`write` would."""
        ...

    def rest(self) -> None:
        """Nothing plays for now: let the device play out and stop it, until the next write."""
        ...

    def close(self) -> None:
        ...


class Sink(Output, Protocol):
    """A device or file: an :class:`Output` with a format and a buffer."""

    rate: int
    format: str
    #: Wake-ups that found the device holding less than planned (the CPU was short).
    late_wakes: int

    @property
    def buffer_seconds(self) -> float:
        """How far ahead of what is heard it can take samples (0: it has no clock)."""
        ...


class Unclocked:
    """What a sink without a clock of its own answers: it takes any block at once, never runs dry."""

    period_frames: int | None = None
    words_format: str | None = None  # a file's bytes all come from the encoder: the same for a seed
    underruns = 0
    late_wakes = 0
    last_dry: tuple[float, float] | None = None
    queued_before = 0
    buffer_seconds = 0.0

    def held_s(self) -> float:
        return 0.0

    def write(self, block: np.ndarray) -> None:
        raise NotImplementedError

    def write_words(self, words: np.ndarray) -> None:
        self.write(words_to_floats(words))

    def wait_for_room(self, frames: int, wake_fd: int | None = None, brace: bool = False,
                      hurry: bool = False) -> int:
        return frames

    def cpu_short(self) -> None:
        pass

    def rest(self) -> None:
        pass


class AudioDeviceError(RuntimeError):
    """The sound device could not be opened or used; the message says which and why."""


class NullSink(Unclocked):
    """Encodes and discards: the whole sample path, minus the device (for benchmarks)."""

    def __init__(self, rate: int, fmt: str = "S16_LE", dither_seed: int | None = None) -> None:
        self.rate, self.format = rate, fmt
        self._encoder = Encoder(fmt, dither_seed, limited=True)  # the player's blocks: the engine's, limited
        self.frames_written = 0

    def write(self, block: np.ndarray) -> None:
        self._encoder.encode(block)
        self.frames_written += len(block)

    def close(self) -> None:
        pass
