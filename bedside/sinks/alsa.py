"""ALSA output through pyalsaaudio: the only module that imports ``alsaaudio``.

The device is asked for 32-bit samples first (at −60 dB, 16-bit output is mostly dither) and what
ALSA actually granted is read back with ``info()``: rate, format and period size are checked, not
assumed. Underruns (``write`` returning -EPIPE: pyalsaaudio has already re-prepared the stream) are
counted and the block is written again, so no audio is lost, only delayed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging

import alsaaudio
import numpy as np

from bedside.config import AudioConfig
from bedside.pcm import Encoder
from bedside.sinks import AudioDeviceError

log = logging.getLogger(__name__)

# libasound prints its own diagnostics to stderr (a dozen lines for a missing card). Our errors
# already carry ALSA's reason in one line, so its printer is replaced by one that says nothing.
_ERROR_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                  ctypes.c_char_p)


def _silence_libasound() -> object | None:
    try:
        library = ctypes.CDLL(ctypes.util.find_library("asound") or "libasound.so.2")
    except OSError:
        return None
    handler = _ERROR_HANDLER(lambda *_: None)
    library.snd_lib_error_set_handler(handler)
    return handler  # kept alive for as long as the module is loaded


_QUIET = _silence_libasound()

_ALSA_FORMATS = {"S32_LE": alsaaudio.PCM_FORMAT_S32_LE, "S16_LE": alsaaudio.PCM_FORMAT_S16_LE}


def available_pcms() -> list[str]:
    """The playback PCM names ALSA knows on this machine."""
    try:
        return list(alsaaudio.pcms(alsaaudio.PCM_PLAYBACK))
    except alsaaudio.ALSAAudioError:
        return []


class AlsaSink:
    def __init__(self, device: str = "default", rate: int = 48000, period_frames: int = 256,
                 periods: int = 4, formats: tuple[str, ...] = ("S32_LE", "S16_LE"),
                 dither_seed: int | None = None) -> None:
        self.device = device
        self.underruns = 0
        last_error = "no sample format was accepted"
        for fmt in formats:
            try:
                pcm = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NORMAL, device=device,
                                    rate=rate, channels=2, format=_ALSA_FORMATS[fmt],
                                    periodsize=period_frames, periods=periods)
            except alsaaudio.ALSAAudioError as error:
                last_error = str(error)
                continue
            info = pcm.info()
            if info["format_name"] == fmt and info["channels"] == 2:
                break
            pcm.close()
            last_error = f"asked for {fmt} stereo, got {info['format_name']} with {info['channels']} channels"
        else:
            pcms = ", ".join(available_pcms()) or "none"
            raise AudioDeviceError(f"cannot open ALSA device {device!r}: {last_error}. Available PCMs: {pcms}")
        if info["rate"] != rate:
            pcm.close()
            raise AudioDeviceError(f"ALSA device {device!r} runs at {info['rate']} Hz, not {rate} Hz; "
                                   f"use a 'plughw:' or 'default' device to resample, or set the rate")
        self._pcm = pcm
        self.info = info
        self.rate, self.format = info["rate"], fmt
        self.period_frames, self.periods = info["period_size"], info["periods"]
        self.buffer_seconds = info["buffer_size"] / self.rate
        self._encoder = Encoder(fmt, dither_seed)
        self._frame_bytes = 2 * self._encoder.format.sample_bytes
        log.info("ALSA %s: %s, %d Hz, %d frames × %d periods", device, fmt, self.rate,
                 self.period_frames, self.periods)

    @classmethod
    def from_config(cls, audio: AudioConfig, dither_seed: int | None = None, device: str | None = None) -> AlsaSink:
        """The device ``[audio]`` describes ("auto" format: 32-bit if the device takes it, else 16)."""
        formats = ("S32_LE", "S16_LE") if audio.format == "auto" else (audio.format,)
        return cls(device or audio.device, audio.rate, audio.period_frames, audio.periods, formats, dither_seed)

    def write(self, block: np.ndarray) -> None:
        data = self._encoder.encode(block)
        while data:
            try:
                written = self._pcm.write(data)
            except alsaaudio.ALSAAudioError as error:
                raise AudioDeviceError(f"ALSA device {self.device!r} failed: {error}") from error
            if written == -errno.EPIPE:
                self.underruns += 1  # the stream was re-prepared; write the same data again
                continue
            data = data[max(written, 0) * self._frame_bytes:]

    def close(self) -> None:
        with contextlib.suppress(alsaaudio.ALSAAudioError):
            self._pcm.close()  # drains what is queued
