"""From float samples to the bytes a DAC or a WAV file takes.

One encoder serves every sink (ALSA, WAV, null), so a seed gives the same bytes everywhere.
Reducing to 16 bits adds TPDF dither, which turns quantisation distortion into a steady hiss far
below the sound (drawn once per encoder into a table that each block reads from a random place:
the dither only has to be independent of the signal, and drawing it afresh cost more than all the
rest of the encoding); 24- and 32-bit output needs none (float32 samples carry 24 bits). Exact digital
silence stays exact: no dither where the signal is zero, so the end of a sleep fade is true zeros,
not a faint hiss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The sample formats bedside writes, as ALSA names them, with their bytes per sample.
FORMATS = {"S16_LE": 2, "S24_3LE": 3, "S32_LE": 4}


#: Dither values drawn once per encoder (1 MiB of float32), and the cells of the encoder's own sample
#: count that each read a window of it from a random place (on that grid, not per block: the same
#: bytes for a seed however blocks are cut, as before the table).
DITHER_TABLE = 1 << 18
DITHER_CELL = 1 << 16

_S32_SCALE = np.float32(2.0**31)
_S32_MAX = np.float32(2.0**31 - 128)  # the largest float32 below 2^31


@dataclass(frozen=True)
class Format:
    name: str

    @property
    def sample_bytes(self) -> int:
        return FORMATS[self.name]

    @property
    def bits(self) -> int:
        return 8 * self.sample_bytes


class Encoder:
    """Float32 frames in [-1, 1] to interleaved little-endian PCM bytes."""

    def __init__(self, fmt: str, seed: np.random.SeedSequence | int | None = None, *, limited: bool = False) -> None:
        """``limited``: every block comes from the engine, whose limiter keeps samples within
        ±LIMIT_CEILING (< 1), so 32-bit words need no clipping; the encoder then also reuses one
        buffer (the caller copies the bytes out before the next block). That makes a period one
        numpy call, where each call costs tens of microseconds on a CPU that has just woken."""
        if fmt not in FORMATS:
            raise ValueError(f"unsupported sample format {fmt!r}; use one of {', '.join(FORMATS)}")
        self.format = Format(fmt)
        self._rng = np.random.Generator(np.random.PCG64(seed))
        self._full_scale = float(2 ** (self.format.bits - 1) - 1)
        self._limited = limited
        self._words = np.empty(0, "<i4")
        self._scaled = np.empty(0, np.float32)
        self._dither = self._dither_table() if fmt == "S16_LE" else np.empty(0, np.float32)
        self._samples = 0  # samples encoded so far: the dither cells' clock
        self._window = 0  # where the current cell reads the table

    def _dither_table(self) -> np.ndarray:
        """High-passed TPDF dither in LSBs, for interleaved stereo: on each channel, the difference
        of successive uniform draws (two samples apart in the table, so any place in it keeps each
        channel's own sequence). It has the triangular ±1 LSB distribution that decorrelates the
        error from the signal, with its noise pushed up the spectrum where the ear is least
        sensitive at night-time levels. One random byte per draw (a 1/256 LSB grid is plenty)."""
        draws = np.frombuffer(self._rng.bytes(DITHER_TABLE + 2), np.int8).astype(np.float32)
        draws *= np.float32(1 / 256)
        return draws[2:] - draws[:-2]

    def encode(self, block: np.ndarray) -> np.ndarray:
        """Interleaved little-endian samples (a contiguous array: any sink can write its buffer)."""
        if self.format.name == "S16_LE":
            return self._encode_16(block)
        # float32 carries 24 bits, so scaling by 2^31 (a power of two) is exact and the 32-bit
        # words need no rounding of their own: the cast truncates nothing.
        if self._limited and self.format.name == "S32_LE" and block.dtype == np.float32:
            if len(self._words) < block.size:
                self._words = np.empty(block.size, "<i4")
            words = self._words[:block.size].reshape(block.shape)
            np.multiply(block, _S32_SCALE, out=words, casting="unsafe")
            return words
        scaled = np.multiply(block, _S32_SCALE, dtype=np.float32)
        np.clip(scaled, -_S32_SCALE, _S32_MAX, out=scaled)
        ints = scaled.astype("<i4", order="C")
        if self.format.name == "S24_3LE":
            return np.ascontiguousarray(ints.view(np.uint8).reshape(-1, 4)[:, 1:])
        return ints

    def encode_scaled(self, block: np.ndarray, gain: np.float32) -> np.ndarray:
        """``encode(block * gain)`` as a new array, for a block whose peak times ``gain`` is known to
        stay below full scale (a chunk the engine's limiter would leave alone): 32-bit words in one
        pass instead of four (the same words: the scale is a power of two, so the product rounds
        once either way), other formats as :meth:`encode`."""
        if self.format.name == "S32_LE" and block.dtype == np.float32:
            words = np.empty(block.shape, "<i4")
            np.multiply(block, np.float32(gain) * _S32_SCALE, out=words, casting="unsafe")
            return words
        return self.encode(block * gain)

    def _encode_16(self, block: np.ndarray) -> np.ndarray:
        n = block.size
        if len(self._scaled) < n:
            self._scaled = np.empty(n, np.float32)
        scaled = self._scaled[:n].reshape(block.shape)
        np.multiply(block, np.float32(self._full_scale), out=scaled)
        flat, done = scaled.reshape(-1), 0
        while done < n:
            within = self._samples % DITHER_CELL
            if within == 0:  # a new cell: a new place in the table
                self._window = int(self._rng.integers(0, DITHER_TABLE - DITHER_CELL + 1))
            take = min(DITHER_CELL - within, n - done)
            flat[done:done + take] += self._dither[self._window + within:self._window + within + take]
            done += take
            self._samples += take
        if not block.all():  # exact silence stays exact: no dither where the signal is zero
            scaled[block == 0] = 0.0
        if self._limited:  # within range already; one buffer, as for 32 bits (the caller copies the bytes out)
            if len(self._words) < n:
                self._words = np.empty(n, "<i4")
            words = self._words.view("<i2")[:n].reshape(block.shape)
        else:
            np.clip(scaled, -self._full_scale - 1, self._full_scale, out=scaled)
            words = np.empty(block.shape, "<i2")
        np.rint(scaled, out=words, casting="unsafe")  # rounds, then stores 16-bit words: one pass
        return words


def words_to_floats(words: np.ndarray) -> np.ndarray:
    """Encoded 16- or 32-bit words (frames × channels) back to float32 frames, for a sink that
    must work on a block it was handed encoded (a resume ramp after an underrun). 32-bit words made
    from float32 samples come back exactly; 16-bit ones within their dither."""
    scale = np.float32(1 / 2.0**31) if words.dtype.itemsize == 4 else np.float32(1 / 32767)
    return words.astype(np.float32) * scale


def decode(data: bytes, fmt: str, channels: int = 2) -> np.ndarray:
    """Interleaved PCM bytes back to float64 frames: for tests, measurements and benchmarks."""
    if fmt == "S16_LE":
        ints = np.frombuffer(data, "<i2").astype(np.float64) / 32767
    elif fmt == "S32_LE":
        ints = np.frombuffer(data, "<i4").astype(np.float64) / 2147483647
    elif fmt == "S24_3LE":
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        padded = np.zeros((len(raw), 4), np.uint8)
        padded[:, 1:] = raw
        ints = padded.view("<i4")[:, 0].astype(np.float64) / (2147483647 - 255)
    else:
        raise ValueError(f"unsupported sample format {fmt!r}")
    return ints.reshape(-1, channels)
