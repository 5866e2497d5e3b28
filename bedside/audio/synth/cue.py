"""A soft, wordless cue: two bell tones a fifth apart (a focus session's end).

Pure numpy and finite (unlike the sounds, it is played once). It starts and ends at exact zero
(a 12 ms exponential attack, a raised-cosine tail) so it never clicks, and its level is set
against the sounds' calibration: at a sound's own gain its peak sits near the noise's peaks,
so it is heard as a gentle bell over the sound, never as an alarm.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from bedside.audio.synth import CHANNELS

#: The cue's peak at 0 dB of gain, where a sound plays at -30 LUFS.
CUE_PEAK = 0.2
CUE_SECONDS = 5.0
#: (start in seconds, fundamental in Hz): C5, then G5.
TONES = ((0.0, 523.25), (0.45, 783.99))
#: (frequency ratio, amplitude, decay time constant in seconds): a bell's inharmonic partials.
PARTIALS = ((1.0, 1.0, 1.2), (2.76, 0.25, 0.5), (5.4, 0.08, 0.25))
ATTACK_S = 0.012
TAIL_S = 0.5


#: Frames computed at a time: the cue is made in pieces, so that making it never holds more than
#: the cue itself (made whole in float64, its temporaries were 12 MiB of the daemon's peak RSS).
PIECE = 8192


@lru_cache(maxsize=2)
def chime(rate: int) -> np.ndarray:
    """The cue as float32 ``(frames, 2)``, peak CUE_PEAK, exact zero at both ends. Cached (read-only):
    the daemon makes it at start, off the audio thread (25 ms here); a session's end only mixes it."""
    frames = int(CUE_SECONDS * rate)
    mono = np.zeros(frames, np.float32)
    for start, fundamental in TONES:
        first = int(start * rate)
        for begin in range(first, frames, PIECE):
            since = np.arange(begin - first, min(begin + PIECE, frames) - first) / rate
            attack = 1.0 - np.exp(-since / ATTACK_S)
            piece = np.zeros(len(since))
            for ratio, amplitude, decay in PARTIALS:
                live = since < 8 * decay  # e^-8 of it is left after 8 time constants
                piece += live * (amplitude * np.exp(-since / decay) * np.sin(2 * np.pi * fundamental * ratio * since))
            mono[begin:begin + len(since)] += (attack * piece).astype(np.float32)
    tail = int(TAIL_S * rate)
    mono[-tail:] *= (0.5 + 0.5 * np.cos(np.pi * np.arange(1, tail + 1) / tail)).astype(np.float32)
    mono *= np.float32(CUE_PEAK / np.max(np.abs(mono)))
    out = np.repeat(mono[:, None], CHANNELS, axis=1)
    out.flags.writeable = False  # shared by every session's end
    return out
