"""The audio output as the daemon needs it: it survives the device.

A missing or busy device at start, or a USB DAC unplugged at night, is logged once and retried
with backoff (1 s doubling to 30 s). Meanwhile the blocks go to a null sink paced by the wall
clock, so the sleep timer keeps time and the buttons keep working; when the device returns, the
sound resumes. A sink with no clock of its own (ALSA's null or file plugins) is paced the same way.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

import numpy as np

from bedside.audio.sinks import AudioDeviceError, Sink

log = logging.getLogger(__name__)

BACKOFF_START_S, BACKOFF_MAX_S = 1.0, 30.0
#: A clocked device can never take more than its buffer ahead of real time. A sink that takes this
#: much more within its first seconds has no clock, and is paced by the wall clock instead.
UNCLOCKED_MARGIN_S = 0.1
CLOCK_CHECK_S = 5.0


class ResilientOutput:
    """An :class:`~bedside.audio.sinks.Output` that outlives its sink (see the module's text)."""

    def __init__(self, open_sink: Callable[[], Sink], rate: int, describe: str,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
        self._open = open_sink
        self.rate = rate
        self.describe = describe
        self._clock, self._sleep = clock, sleep
        self.sink: Sink | None = None
        self._backoff = BACKOFF_START_S
        self._next_try = 0.0
        self._announced = False
        self._paced = True  # until a device proves it has a clock
        self._clocked = False  # proven: no more checks
        self._origin = clock()  # wall-clock time of frame 0 of the current pacing
        self._written = 0
        self.underruns_before = 0  # from sinks that have been closed
        self.late_wakes_before = 0  # likewise
        self.reopened = 0

    @property
    def underruns(self) -> int:
        return self.underruns_before + (self.sink.underruns if self.sink is not None else 0)

    @property
    def late_wakes(self) -> int:
        """Times the loop came late to the device, closed ones included: the exit line is written
        after the device is closed (it read 0 there whatever had happened, until 2026-12-07)."""
        return self.late_wakes_before + (self.sink.late_wakes if self.sink is not None else 0)

    @property
    def last_dry(self) -> tuple[float, float] | None:
        """The open sink's :attr:`~bedside.audio.sinks.Sink.last_dry`: what its last underrun says."""
        return self.sink.last_dry if self.sink is not None else None

    @property
    def period_frames(self) -> int | None:
        return self.sink.period_frames if self.sink is not None else None

    @property
    def queued_before(self) -> int:
        """Frames the device still had queued when the last block was handed over."""
        return self.sink.queued_before if self.sink is not None else 0

    def held_s(self) -> float:
        """What the device holds, or how far the wall-clock pacing is ahead (the null sink's "device")."""
        paced = max(0.0, self._written / self.rate - (self._clock() - self._origin)) if not self._clocked else 0.0
        return max(paced, self.sink.held_s() if self.sink is not None else 0.0)

    def rest(self) -> None:
        """Nothing plays: rest the device; the wall-clock pacing starts afresh at the next write."""
        if self.sink is not None:
            try:
                self.sink.rest()
            except AudioDeviceError as error:
                self._lost(error)
        self._origin, self._written = self._clock(), 0
        if self.sink is None:
            self.try_open()  # the retry goes on while nothing plays

    def wait_for_room(self, frames: int, wake_fd: int | None = None, brace: bool = False,
                      hurry: bool = False) -> int:
        """Wait until the device can take ``frames``; returns how many it can take (a sink without
        a clock is paced in write instead), or 0 if ``wake_fd`` became readable first."""
        if self.sink is None:
            return frames
        try:
            return self.sink.wait_for_room(frames, wake_fd, brace, hurry)
        except AudioDeviceError as error:
            self._lost(error)
            return frames

    def cpu_short(self) -> None:
        if self.sink is not None:
            self.sink.cpu_short()

    def try_open(self) -> bool:
        """Open the device now if it is due; True if a device is in use."""
        if self.sink is not None:
            return True
        now = self._clock()
        if now < self._next_try:
            return False
        try:
            self.sink = self._open()
        except AudioDeviceError as error:
            if not self._announced:
                log.warning("%s; playing silently and retrying", error)
                self._announced = True
            self._next_try = now + self._backoff
            self._backoff = min(self._backoff * 2, BACKOFF_MAX_S)
            return False
        if self._announced:
            log.info("audio device %s is back", self.describe)
            self.reopened += 1
        self._announced = False
        self._backoff = BACKOFF_START_S
        self._origin, self._written, self._paced, self._clocked = self._clock(), 0, False, False
        return True

    @property
    def words_format(self) -> str | None:
        return self.sink.words_format if self.sink is not None else None

    def write(self, block: np.ndarray) -> None:
        self._deliver(block, None)

    def write_words(self, words: np.ndarray) -> None:
        self._deliver(None, words)

    def _deliver(self, block: np.ndarray | None, words: np.ndarray | None) -> None:
        if self.sink is None:
            self.try_open()
        if self.sink is not None:
            try:
                if words is None:
                    self.sink.write(block)  # type: ignore[arg-type]
                else:
                    self.sink.write_words(words)
            except AudioDeviceError as error:
                self._lost(error)
        self._written += len(block if words is None else words)
        self._keep_time()

    def _lost(self, error: AudioDeviceError) -> None:
        log.warning("%s; playing silently and retrying", error)
        self._announced = True
        self._drop_sink()
        self._next_try = self._clock() + self._backoff

    def _keep_time(self) -> None:
        """Stay no further ahead of the wall clock than a device's buffer would let us, so that a
        command is heard as soon on an unclocked sink as on a real DAC."""
        if self._clocked:
            return  # a device that has shown its clock paces the loop itself
        elapsed = self._clock() - self._origin
        ahead = self._written / self.rate - elapsed
        buffer_s = self.sink.buffer_seconds if self.sink is not None else 0.0
        if not self._paced and elapsed < CLOCK_CHECK_S and ahead > buffer_s + UNCLOCKED_MARGIN_S:
            self._paced = True
            log.info("%s has no clock of its own: pacing it in real time", self.describe)
        if (self._paced or self.sink is None) and ahead > buffer_s + 0.002:
            self._sleep(ahead - buffer_s)
        elif not self._paced and self.sink is not None and elapsed >= CLOCK_CHECK_S:
            self._clocked = True

    def _keep_counts(self, sink: Sink) -> None:
        """``sink`` about to go: its underruns and late wake-ups stay counted for the exit line."""
        self.underruns_before += sink.underruns
        self.late_wakes_before += sink.late_wakes

    def _drop_sink(self) -> None:
        if self.sink is not None:
            self._keep_counts(self.sink)
            with contextlib.suppress(Exception):  # a vanished device may fail in any way on close
                self.sink.close()
            self.sink = None
        self._origin, self._written, self._paced, self._clocked = self._clock(), 0, True, False

    def close(self) -> None:
        """Close the device; its underruns stay counted (the exit line reports them)."""
        if self.sink is not None:
            self._keep_counts(self.sink)
            self.sink.close()
            self.sink = None
