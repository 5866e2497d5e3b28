"""WAV file output, so every sound and a whole night can be heard and measured anywhere."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from bedside.audio.pcm import Encoder
from bedside.audio.sinks import Unclocked


class WavSink(Unclocked):
    def __init__(self, path: str | Path, rate: int, fmt: str = "S16_LE", dither_seed: int | None = None,
                 channels: int = 2) -> None:
        self.rate, self.format = rate, fmt
        # Written by the player, whose blocks come from the engine's limiter: no clipping pass, and
        # the encoder's one buffer is written out before the next block.
        self._encoder = Encoder(fmt, dither_seed, limited=True)
        self._raw = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._file = wave.open(self._raw, "wb")  # noqa: SIM115 - closed in close()
        self._file.setnchannels(channels)
        self._file.setsampwidth(self._encoder.format.sample_bytes)
        self._file.setframerate(rate)

    def write(self, block: np.ndarray) -> None:
        self._file.writeframesraw(self._encoder.encode(block))

    def close(self) -> None:
        self._file.close()  # patches the header with the final length
        self._raw.close()


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file as float64 frames and its rate (16, 24 or 32 bit)."""
    from bedside.audio.pcm import decode

    with wave.open(str(path), "rb") as f:
        fmt = {2: "S16_LE", 3: "S24_3LE", 4: "S32_LE"}[f.getsampwidth()]
        return decode(f.readframes(f.getnframes()), fmt, f.getnchannels()), f.getframerate()
