"""The user's own recordings, played forever without a seam, from the file as it plays.

The recording is read as a chain of segments joined by equal-power crossfades. A short file is
looped whole, its tail crossfading into its head; a long file is read in segments of random length
from random places, so it never replays in the same order and there is no loop to learn.

A file is never decoded whole: a 20-minute 44.1 kHz stereo file is 420 MB as float32 at 48 kHz,
and a Pi Zero 2 W has 512 MB. :class:`FileTape` reads it a second at a time (seeking for a random
segment), converts it to stereo at the engine's rate, and keeps the two pieces in use.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from bedside.audio.gain import SILENCE_DB, xfade_in_shape
from bedside.audio.synth import scale_frames, spawn_generators
from bedside.audio.synth.processes import GrainBus
from bedside.audio.synth.resample import TAPS, resample

log = logging.getLogger(__name__)

#: Segments of a long recording last this long (seconds, uniform at random).
SEGMENT_SECONDS = (20.0, 60.0)
CROSSFADE_SECONDS = 3.0
#: Shortest recording that can loop (its crossfade is a quarter of it).
MIN_SECONDS = 0.5


class ArrayTape:
    """A recording already in memory (float32 stereo at the engine's rate): tests, short clips."""

    def __init__(self, data: np.ndarray) -> None:
        self._data = np.ascontiguousarray(data, dtype=np.float32)
        self.length = len(self._data)

    def read(self, begin: int, n: int) -> np.ndarray:
        return self._data[begin:begin + n].copy()


def to_stereo(part: np.ndarray) -> np.ndarray:
    """Mono doubled, stereo kept, more channels folded to two (odd ones left, even ones right)."""
    if part.shape[1] == 1:
        return np.repeat(part, 2, axis=1)
    if part.shape[1] == 2:
        return part
    return np.stack([part[:, 0::2].mean(axis=1), part[:, 1::2].mean(axis=1)], axis=1).astype(np.float32)


class FileTape:
    """A sound file read a piece (about a second) at a time, as stereo at ``rate``.

    Pieces are resampled with a margin of real samples on each side whose length is a multiple of
    the resampling ratio, so the pieces join into exactly what resampling the whole file gives.
    Memory is a few pieces whatever the file's length, rate or channels.
    """

    KEEP = 3  # pieces cached: a crossfade reads two segments at once

    def __init__(self, path: Path, rate: int) -> None:
        import soundfile

        self.path = path
        info = soundfile.info(str(path))
        self.file_rate, self.channels, self.file_frames = int(info.samplerate), int(info.channels), int(info.frames)
        g = math.gcd(self.file_rate, rate)
        self._up, self._down = rate // g, self.file_rate // g
        steps = max(1, round(self.file_rate / self._down))  # about a second of the file per piece
        self._piece_in, self._piece_out = self._down * steps, self._up * steps
        self._pad_in = 0 if self._up == self._down else self._down * math.ceil(2 * TAPS / self._down)
        self.length = math.ceil(self.file_frames * self._up / self._down)
        self._rate = rate
        self._file = None
        self._pieces: dict[int, np.ndarray] = {}
        self._failed = False

    @property
    def seconds(self) -> float:
        return self.file_frames / self.file_rate if self.file_rate else 0.0

    @property
    def pieces(self) -> int:
        return math.ceil(self.length / self._piece_out)

    def piece(self, index: int) -> np.ndarray:
        """Piece ``index`` of the output: ``piece_out`` frames (fewer at the end), float32 stereo."""
        cached = self._pieces.get(index)
        if cached is not None:
            return cached
        import soundfile

        if self._file is None:
            self._file = soundfile.SoundFile(str(self.path))
        begin = index * self._piece_in - self._pad_in
        end = (index + 1) * self._piece_in + self._pad_in
        first, last = max(begin, 0), min(end, self.file_frames)
        raw = np.zeros((end - begin, 2), np.float32)
        if last > first:
            self._file.seek(first)
            got = self._file.read(last - first, dtype="float32", always_2d=True)
            raw[first - begin:first - begin + len(got)] = to_stereo(got)
        if self._up != self._down:
            pad_out = self._pad_in * self._up // self._down
            raw = resample(raw, self.file_rate, self._rate)[pad_out:pad_out + self._piece_out]
        out = raw[:max(0, min(self._piece_out, self.length - index * self._piece_out))]
        if len(self._pieces) >= self.KEEP:
            del self._pieces[next(iter(self._pieces))]  # the oldest
        self._pieces[index] = out
        return out

    def read(self, begin: int, n: int) -> np.ndarray:
        """Output frames ``[begin, begin + n)``; a part that cannot be decoded plays as silence."""
        out = np.zeros((n, 2), np.float32)
        done = 0
        while done < n and begin + done < self.length:
            index, offset = divmod(begin + done, self._piece_out)
            try:
                piece = self.piece(index)
            except Exception as error:  # a file damaged in the middle: say so once, play on
                if not self._failed:
                    log.warning("recording %s: cannot decode past %.0f s: %s", self.path,
                                (begin + done) / self._rate, error)
                    self._failed = True
                break
            take = min(n - done, len(piece) - offset)
            if take <= 0:
                break
            out[done:done + take] = piece[offset:offset + take]
            done += take
        return out

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._pieces.clear()


class _Segment:
    """A stretch of the recording with crossfade ramps at its ends."""

    __slots__ = ("_begin", "_fade", "_fade_head", "_tape", "length", "start")

    def __init__(self, start: int, tape, begin: int, length: int, fade: np.ndarray, fade_head: bool = True) -> None:
        self.start, self.length = start, length
        self._tape, self._begin = tape, begin
        self._fade, self._fade_head = fade, fade_head

    def render(self, offset: int, n: int) -> np.ndarray:
        out = self._tape.read(self._begin + offset, n)
        x = len(self._fade)
        if self._fade_head and offset < x:
            k = min(offset + n, x)
            scale_frames(out[: k - offset], self._fade[offset:k])
        tail_from = self.length - x
        if offset + n > tail_from:
            k = max(offset, tail_from)
            scale_frames(out[k - offset:], self._fade[::-1][k - tail_from:offset + n - tail_from])
        return out


def _fade(length: int) -> np.ndarray:
    """The rising equal-power leg; reversed it is the falling one (the shapes are mirror images)."""
    u = (np.arange(length) + 0.5) / length
    rising = 10 ** ((SILENCE_DB * (1 - xfade_in_shape(u))) / 20)
    return rising.astype(np.float32)


class Recording:
    """Plays a recording without end: a :class:`FileTape` (or, for a clip in memory, an array of
    float32 stereo frames at the engine's rate)."""

    def __init__(self, tape, rate: int, seed: np.random.SeedSequence) -> None:
        if isinstance(tape, np.ndarray):
            tape = ArrayTape(tape)
        if tape.length < rate * MIN_SECONDS:
            raise ValueError("a recording must be at least half a second long")
        (self._rng,) = spawn_generators(seed, 1)
        self._tape = tape
        self._rate = rate
        self._crossfade = min(int(CROSSFADE_SECONDS * rate), tape.length // 4)
        self._fade = _fade(self._crossfade)
        shortest = int(SEGMENT_SECONDS[0] * rate)
        self._loop_whole = tape.length < 2 * shortest
        self._bus = GrainBus()
        self._now = 0
        self._next_start = 0

    def _next_segment(self) -> _Segment:
        n = self._tape.length
        if self._loop_whole:
            begin, length = 0, n
        else:
            low, high = (int(s * self._rate) for s in SEGMENT_SECONDS)
            length = int(self._rng.integers(low, min(high, n) + 1))
            begin = int(self._rng.integers(0, n - length + 1))
        # The first segment has nothing to crossfade from: the engine's fade-in covers its start.
        segment = _Segment(self._next_start, self._tape, begin, length, self._fade, fade_head=self._next_start > 0)
        self._next_start += length - self._crossfade
        return segment

    def render(self, frames: int) -> np.ndarray:
        t0, self._now = self._now, self._now + frames
        while self._next_start < t0 + frames:
            self._bus.add(self._next_segment())
        out = np.zeros((frames, 2), np.float32)
        self._bus.render_into(out, t0)
        return out
