"""The engine: mixes voices and applies every gain, sample by sample, on its own sample clock.

The engine never looks at a wall clock. Its time is the number of frames it has rendered, so a
30-minute sleep fade is exact on the device and renders in a second in a test. Commands take effect
at the start of the next block (one ALSA period on the device); fades are scheduled in samples.

Gain structure, per sample::

    out = limiter( Σ voice.source · voice.calibration · voice.envelope ) · volume · sleep )

Each factor is a :class:`~bedside.audio.gain.Ramp`, so nothing ever steps: not a volume change, not a
start, a stop, a change of sound or the end of the night.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from bedside.audio.breath import Breathing
from bedside.audio.gain import (
    RAMP_WINDOW,
    SILENCE_DB,
    Ramp,
    VolumeScale,
    db_to_gain,
    linear_shape,
    xfade_in_shape,
    xfade_out_shape,
)
from bedside.audio.synth import CHANNELS, Source, scale_frames, scaled_frames
from bedside.audio.synth.processes import one_pole

if TYPE_CHECKING:
    from bedside.audio.synthesis import Words

#: The breathing guide's swell is computed every this many frames and joined by straight lines.
BREATH_GRID = 16
#: Shortest volume ramp: fast enough to feel immediate under a knob, slow enough never to zip.
MIN_VOLUME_RAMP_S = 0.030

# The safety limiter: transparent below the threshold, a smooth knee above it that never reaches
# full scale. Sounds are calibrated so it almost never acts; it is there so that nothing can clip.
LIMIT_THRESHOLD = 0.80
LIMIT_CEILING = 0.97

#: Where the volume ramp stands when an engine is made, before anyone sets a volume. Not a default
#: volume (that is the config's volume.default): the controller's first set_volume glides from here
#: over 30 ms, under the fade-in from silence. A hold instead would be cleaner but would change the
#: first 30 ms of every render (and, through the darkening filter's state, a whole darkened night
#: by up to -82 dBFS), so it stays until someone decides renders may change.
START_STEP = 50


@dataclass
class Voice:
    """One sound playing (or fading in or out) in the mix."""

    name: str
    source: Source
    calibration_db: float
    envelope: Ramp = field(default_factory=Ramp)


def _apply(block: np.ndarray, db: np.ndarray | float) -> None:
    """Multiply ``block`` in place by the gain for ``db`` (a float, or one value per frame)."""
    if isinstance(db, np.ndarray):
        scale_frames(block, db_to_gain(db).astype(np.float32))
    elif db != 0.0:
        block *= np.float32(db_to_gain(db))


def soft_limit(block: np.ndarray) -> int:
    """Bend peaks above the threshold smoothly towards the ceiling, in place.

    Returns how many samples it touched, so its use can be counted and kept rare.
    """
    if block.max() <= LIMIT_THRESHOLD and block.min() >= -LIMIT_THRESHOLD:
        return 0  # the usual case: two reductions, no temporary arrays
    over = np.abs(block) > LIMIT_THRESHOLD
    count = int(np.count_nonzero(over))
    if count:
        x = block[over]
        knee = LIMIT_CEILING - LIMIT_THRESHOLD
        bent = LIMIT_THRESHOLD + knee * np.tanh((np.abs(x) - LIMIT_THRESHOLD) / knee)
        block[over] = np.copysign(bent, x)
    return count


class Darkening:
    """A one-pole low-pass whose cutoff glides down as the sleep fade progresses, as a sound
    darkens when it moves away. Its coefficient changes on a fixed grid of the sample clock, so
    the output does not depend on how blocks are cut; the state is the previous output, so the
    output stays continuous at a change (a constant passes through untouched)."""

    GRID = 256
    START_HZ, END_HZ = 18000.0, 400.0

    def __init__(self, rate: int, start: int, length: int) -> None:
        self._rate = rate
        self._last: np.ndarray | None = None  # the previous output; None: not yet started
        self.progress: Callable[[int], float] = lambda t: (t - start) / length
        self.ends: int | None = None  # set when cancelled: the glide back up ends here

    def _pole_for(self, progress: float) -> float:
        cutoff = self.START_HZ * (self.END_HZ / self.START_HZ) ** min(max(progress, 0.0), 1.0)
        return math.exp(-2 * math.pi * cutoff / self._rate)

    @classmethod
    def brightening(cls, rate: int, start: int, length: int) -> Darkening:
        """The reverse: from 400 Hz up to 18 kHz over ``length`` frames, then gone (a wake-up's dawn)."""
        opening = cls(rate, start, length)
        opening.progress = lambda t: 1 - (t - start) / length
        opening.ends = start + length
        return opening

    def continue_from(self, other: Darkening, now: int) -> None:
        """Take over from ``other`` at ``now``: its cutoff and its filter's state, so the new glide
        neither jumps in brightness nor steps in level; from there it goes on down to the end."""
        held = min(max(other.progress(now), 0.0), 1.0)
        progress = self.progress
        self.progress = lambda t: held + (1 - held) * min(max(progress(t), 0.0), 1.0)
        self._last = other._last

    def cancel(self, now: int, ramp: int) -> None:
        """Glide the cutoff back up over ``ramp`` frames (removing it at once would be a step)."""
        held = self.progress(now)
        self.progress = lambda t: held * max(0.0, 1 - (t - now) / ramp)
        self.ends = now + ramp

    def apply(self, block: np.ndarray, t0: int) -> None:
        """Filter ``block`` (frames from ``t0``) in place."""
        n = len(block)
        i = 0
        while i < n:
            t = t0 + i
            chunk_end = min(n, (t // self.GRID + 1) * self.GRID - t0)
            pole = self._pole_for(self.progress(t // self.GRID * self.GRID))
            if self._last is None:
                self._last = block[i].astype(np.float64)  # start on the signal: no dip
            out = one_pole(block[i:chunk_end] * (1 - pole), pole, self._last)
            self._last = out[-1]
            block[i:chunk_end] = out
            i = chunk_end


class Engine:
    """Renders the mix. Not thread-safe: one thread (the audio loop) owns it."""

    def __init__(self, rate: int, volume_scale: VolumeScale | None = None, volume: int = START_STEP) -> None:
        self.rate = rate
        self.now = 0  # frames rendered so far: the engine's clock
        self.volume_scale = volume_scale or VolumeScale()
        self._volume = Ramp.hold(self.volume_scale.to_db(volume))
        self._sleep = Ramp()
        self._sleep_end: int | None = None
        self._darkening: Darkening | None = None
        self._dip: tuple[int, int, float] | None = None  # start, length, depth in dB
        #: A breathing guide: its plan, the frame it began, and (stopped early) the frame its swell
        #: began to go out and over how many frames.
        self._breath: tuple[Breathing, int, tuple[int, int] | None] | None = None
        self._breath_window: tuple[int, object, np.ndarray] | None = None  # (first frame, for which guide, dB)
        self._rise_end: int | None = None  # a wake-up's rise is moving the volume until this frame
        self._voices: list[Voice] = []
        self.limited_samples = 0
        self._steady_db, self._steady_gain = math.nan, np.float32(1.0)  # the last steady gain, cached
        #: What the feed playing steadily is asked to make ahead (see :meth:`render_words`). The feed
        #: itself is not held: a sound stopped must let its feed go, or the synthesis thread keeps it.
        self._words: Words | None = None
        #: Frames that went out as words made ahead (a steady period's fast path), for benchmarks and tests.
        self.words_frames = 0
        #: Things that happened on the sample clock, for the controller: ("timer_expired", frame).
        self.events: deque[tuple[str, int]] = deque()
        #: Frames the controller asked to hear about (a focus session's end, a nap's), earliest first.
        self._marks: list[tuple[int, str]] = []
        #: A cue over the sound (its first frame, its samples, its level in dB over the volume).
        self._cue: tuple[int, np.ndarray, float] | None = None

    # -- state ------------------------------------------------------------------------------

    @property
    def playing(self) -> bool:
        """True while a sound is audible or fading in; False once everything has faded out."""
        return any(not v.envelope.silent_after for v in self._voices)

    @property
    def audible(self) -> bool:
        """True while any sample may still be non-zero (a stop's fade-out and a sounding cue count)."""
        return bool(self._voices) or (self._cue is not None and self._cue[0] <= self.now)

    def mark(self, frame: int, tag: str) -> None:
        """Tell the controller (an event ``(tag, frame)``) once the sample clock reaches ``frame``."""
        self._marks = sorted([*self._marks, (max(frame, self.now), tag)])

    def clear_marks(self) -> None:
        """Forget the marks, and a cue that has not begun (one already sounding rings out)."""
        self._marks = []
        if self._cue is not None and self._cue[0] > self.now:
            self._cue = None

    def cue(self, samples: np.ndarray, at: int | None = None, level_db: float = 0.0) -> None:
        """Play ``samples`` once from frame ``at`` (default: now), exactly there, over whatever
        plays, following the volume (plus ``level_db``), the sleep fade and the guide as the sound
        does: a bell, not an alarm."""
        self._cue = (self.now if at is None else max(at, self.now), samples, level_db)

    @property
    def current(self) -> str | None:
        """The name of the sound playing (the newest one, mid-crossfade)."""
        for voice in reversed(self._voices):
            if not voice.envelope.silent_after:
                return voice.name
        return None

    @property
    def rising(self) -> bool:
        """A wake-up's rise is still moving the volume."""
        return self._rise_end is not None and self.now < self._rise_end and self._volume.length > 0 \
            and not self._volume.finished(self.now)

    @property
    def rise_end(self) -> int | None:
        """The frame a wake-up's rise reaches its volume, while it rises."""
        return self._rise_end if self.rising else None

    @property
    def sleep_fade(self) -> tuple[int, int] | None:
        """The sleep fade's first frame and the frame it reaches silence, if one is set."""
        return None if self._sleep_end is None else (self._sleep.start, self._sleep_end)

    @property
    def voices(self) -> tuple[Voice, ...]:
        """The voices in the mix (two or more mid-crossfade), oldest first."""
        return tuple(self._voices)

    @property
    def dipping(self) -> bool:
        """A press's confirming dip is under way."""
        return self._dip is not None

    @property
    def low_pass_active(self) -> bool:
        """The sleep fade's darkening (or a wake-up's brightening) low-pass is in the path."""
        return self._darkening is not None

    def level_db(self) -> float:
        """The volume's level in dB right now (mid-ramp, where it is)."""
        return self._volume.level_at(self.now)

    @property
    def sleep_timer_end(self) -> int | None:
        """The frame at which the sleep fade reaches silence, if a timer is set."""
        return self._sleep_end

    def seconds(self, s: float) -> int:
        return max(0, round(s * self.rate))

    # -- commands ---------------------------------------------------------------------------

    def play(self, name: str, source: Source, calibration_db: float = 0.0, fade_in: float = 3.0,
             crossfade: float = 2.0) -> None:
        """Start a sound: fade in from silence, or crossfade (equal power) from what is playing."""
        voice = Voice(name, source, calibration_db, Ramp.hold(-math.inf))
        if self.playing:
            for old in self._voices:
                old.envelope.move(self.now, SILENCE_DB, self.seconds(crossfade), xfade_out_shape)
            voice.envelope.move(self.now, 0.0, self.seconds(crossfade), xfade_in_shape)
        else:
            voice.envelope.move(self.now, 0.0, self.seconds(fade_in), linear_shape)
        self._voices.append(voice)

    def stop(self, fade: float = 2.0) -> None:
        """Fade everything out to silence (linear in dB) and stop. A voice already fading out that
        would be silent sooner keeps its fade; one that would be silent later ends with this one
        (a shutdown in the middle of a minute-long OFF fade must not wait for it)."""
        length = self.seconds(fade)
        for voice in self._voices:
            envelope = voice.envelope
            if envelope.silent_after and envelope.start + envelope.length <= self.now + length:
                continue
            envelope.move(self.now, SILENCE_DB, length, linear_shape)
        self.cancel_sleep_timer()

    def set_volume(self, step: int, ramp: float = MIN_VOLUME_RAMP_S) -> None:
        """Glide to a volume step over at least ``ramp`` seconds (never less than 30 ms)."""
        target = self.volume_scale.to_db(step)
        length = self.seconds(max(ramp, MIN_VOLUME_RAMP_S))
        self._volume.move(self.now, SILENCE_DB if target == -math.inf else target, length)
        self._rise_end = None

    def rise(self, step: int, seconds: float, brighten: bool = False, from_silence: bool = True) -> None:
        """A wake-up: the volume moves linearly in dB from the floor (``from_silence``: the sound
        has just started from exact zeros) or from the level playing, to ``step`` over ``seconds``;
        with ``brighten``, a low-pass opens from 400 Hz to 18 kHz over the same time."""
        target = self.volume_scale.to_db(step)
        current = self._volume.level_at(self.now)
        begin = self.volume_scale.floor_db if from_silence or current == -math.inf else current
        if begin != current and current != -math.inf:
            # A sound still fading out (stopped a moment ago) keeps its level: what the volume loses
            # here, its own gain takes, so the new sound's floor is not a step down under the old one.
            for old in self._voices[:-1]:
                old.calibration_db += current - begin
        self._volume = Ramp.hold(begin)
        self._volume.move(self.now, target, self.seconds(seconds))
        self._rise_end = self.now + self._volume.length
        if brighten:
            self._darkening = Darkening.brightening(self.rate, self.now, max(self.seconds(seconds), 1))

    def dip(self, depth_db: float = 6.0, length: float = 0.3) -> None:
        """A short, soft dip in the level: the confirmation of a press, heard without a screen."""
        self._dip = (self.now, max(self.seconds(length), 1), depth_db)

    def breathe(self, plan: Breathing) -> None:
        """Start a breathing guide on whatever plays (or will play), from this frame."""
        self._breath = (plan, self.now, None)

    def stop_breathing(self, release: float = 2.0) -> None:
        """Let the guide's swell go out over ``release`` seconds (a press: like a wake-up, any stops it)."""
        if self._breath is not None and self._breath[2] is None:
            plan, start, _ = self._breath
            self._breath = (plan, start, (self.now, max(self.seconds(release), 1)))

    @property
    def breathing(self) -> tuple[Breathing, int] | None:
        """The guide running (its plan and first frame), for the snapshot and the LED."""
        return None if self._breath is None else self._breath[:2]

    def _breath_db(self, t0: int, frames: int) -> np.ndarray | float:
        """The guide's dB for ``[t0, t0 + frames)``: a RAMP_WINDOW of it computed at once for the
        periods inside it (a dozen numpy calls per window, not per period: on a Pi-class core the
        guide's path cost a fifth more than the steady one)."""
        if self._breath is None:
            return 0.0
        plan, start, release = self._breath
        end = start + self.seconds(plan.seconds) if release is None else release[0] + release[1]
        if t0 >= end:
            self._breath = None
            self.events.append(("breathing_done", end))
            return 0.0
        w0 = t0 - t0 % RAMP_WINDOW
        if t0 + frames > w0 + RAMP_WINDOW:
            return self._breath_levels(t0, frames)
        cached = self._breath_window
        if cached is None or cached[0] != w0 or cached[1] is not self._breath:
            cached = self._breath_window = (w0, self._breath, self._breath_levels(w0, RAMP_WINDOW))
        return cached[2][t0 - w0:t0 - w0 + frames]

    def _breath_levels(self, t0: int, frames: int) -> np.ndarray:
        """The swell every BREATH_GRID frames, joined by straight lines: a breath lasts seconds, so
        the line is within 1e-7 dB of the curve, at a sixteenth of the numpy work (a window of it
        at once cost a Pi-class core a burst that, in a knob sweep, ran the device dry)."""
        assert self._breath is not None
        plan, start, release = self._breath
        grid = np.arange(t0, t0 + frames + BREATH_GRID, BREATH_GRID)
        db = plan.offset_db((grid - start) / self.rate)
        if release is not None:
            u = np.clip((grid - release[0]) / release[1], 0.0, 1.0)
            db = db * (1.0 + np.cos(np.pi * u)) / 2.0
        return np.interp(np.arange(t0, t0 + frames), grid, db)

    def _dip_db(self, t0: int, frames: int) -> np.ndarray | float:
        if self._dip is None:
            return 0.0
        start, length, depth = self._dip
        if t0 >= start + length:
            self._dip = None
            return 0.0
        u = (np.arange(t0, t0 + frames) - start) / length
        return -depth * np.clip(1 - np.abs(2 * u - 1), 0.0, 1.0)  # down and back, linear in dB

    def set_sleep_timer(self, expiry: int, fade: int, darken: bool = False) -> None:
        """Fade to silence, linear in dB, over the ``fade`` frames before frame ``expiry``.

        The fade runs from the current volume down to −100 dBFS and then exact zeros, starting at
        ``expiry - fade`` (or now, if that has passed); at ``expiry`` the sound stops. With
        ``darken``, a low-pass also glides down from 18 kHz to 400 Hz over the fade.
        """
        expiry = max(expiry, self.now + 1)
        start = max(self.now, expiry - fade)
        # A fade already under way (or its glide back up) goes on from the level it has reached:
        # starting the new one from 0 dB would be a step of up to 100 dB (a "fade out now" from Home
        # Assistant, or a stop entry, late in the sleep fade). It then runs from now to the expiry.
        held = self._sleep.level_at(self.now)
        held = SILENCE_DB if held == -math.inf else held
        if held < 0.0:
            start = self.now
        volume_db = self._volume.level_at(start)
        depth = SILENCE_DB - (volume_db if volume_db != -math.inf else SILENCE_DB)
        self._sleep = Ramp.hold(held)
        # A fade too short to stay below the zipper limit is lengthened (the expiry moves later).
        self._sleep.move(start, min(depth, -1.0), expiry - start, then_silence=True)
        self._sleep_end = start + self._sleep.length
        darkening, self._darkening = self._darkening, None
        if darken:
            self._darkening = Darkening(self.rate, start, self._sleep.length)
            if darkening is not None:  # the low-pass goes on from where it is, with its filter's state
                self._darkening.continue_from(darkening, self.now)
        elif darkening is not None:
            # Not darkening this time: a low-pass already in the path (a wake-up's brightening, an
            # earlier fade's darkening) glides out by itself rather than vanishing (a step in brightness).
            if darkening.ends is None:
                darkening.cancel(self.now, self.seconds(1.0))
            self._darkening = darkening

    def cancel_sleep_timer(self, ramp: float = 1.0) -> None:
        """Forget the timer; if its fade had begun, glide back up to the set volume."""
        if self._sleep_end is None:
            return
        self._sleep.move(self.now, 0.0, self.seconds(ramp))
        self._sleep.silent_after = False
        self._sleep_end = None
        if self._darkening is not None:
            self._darkening.cancel(self.now, self.seconds(ramp))

    # -- rendering --------------------------------------------------------------------------

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames of the mix, float32 ``(frames, 2)`` in [-1, 1]."""
        out = self._mix(frames)
        self._reach_marks()
        return out

    def _reach_marks(self) -> None:
        while self._marks and self.now >= self._marks[0][0]:
            frame, tag = self._marks.pop(0)
            self.events.append((tag, frame))

    def render_words(self, frames: int, fmt: str) -> np.ndarray | None:
        """The next ``frames`` frames as words in the sink's format ``fmt``, made ahead by the
        synthesis thread, when this is a steady period of one sound (nothing moving) and its feed
        made them at this gain (it is told the gain here, and makes words from its next chunk on);
        else None, and nothing is taken: :meth:`render` it.

        The same samples :meth:`render` gives, encoded as the sink would (at 16 bits the dither is
        drawn elsewhere). A steady period then costs the audio thread a slice and a write."""
        voice = self._steady_voice(self.now, frames)
        if voice is None:
            for other in self._voices:  # nothing steady: no feed need make words
                if getattr(other.source, "words", None) is not None:
                    other.source.words = None  # type: ignore[attr-defined]
            return None
        feed = voice.source
        if not hasattr(feed, "take_words"):
            return None
        key = self._words
        if key is None or key[0] is not self._steady_gain or key[1] != fmt:
            key = self._words = (self._steady_gain, fmt, LIMIT_THRESHOLD * (1 - 1e-6))
        if feed.words is not key:
            feed.words = key
        words = feed.take_words(frames, key)
        if words is None:
            return None
        self.words_frames += frames
        self._after_steady(voice, self.now, frames)  # type: ignore[arg-type]
        self._reach_marks()
        return words

    def _steady_voice(self, t0: int, frames: int) -> Voice | None:
        """The one voice of a steady period (nothing but it in the mix, every ramp holding), with
        its gain in ``_steady_gain``; None if the period is not steady."""
        if len(self._voices) != 1 or self._dip is not None or self._darkening is not None \
                or self._breath is not None or (self._cue is not None and self._cue[0] < t0 + frames):
            return None
        voice = self._voices[0]
        if not (voice.envelope.is_steady(t0, frames) and self._volume.is_steady(t0, frames)
                and self._sleep.is_steady(t0, frames)):
            return None
        # Summed in the general path's order, so that both give the same float32 gain.
        master = self._volume.held_at(t0) + self._sleep.held_at(t0) + 0.0
        db = voice.envelope.held_at(t0) + voice.calibration_db + master
        if db != self._steady_db:
            self._steady_db, self._steady_gain = db, np.float32(db_to_gain(db))
        return voice

    def _mix(self, frames: int) -> np.ndarray:
        t0 = self.now
        cue = self._cue is not None and self._cue[0] < t0 + frames  # a cue sounds in this block
        voice = self._steady_voice(t0, frames)
        if voice is not None:
            return self._render_steady(voice, t0, frames)
        if not self._voices:
            out = np.zeros((frames, CHANNELS), np.float32)
            breath = self._breath_db(t0, frames)  # a guide over silence still ends on time
            if cue:
                self._add_cue(out, t0, self._volume.db_block(t0, frames) + self._sleep.db_block(t0, frames) + breath)
                self.limited_samples += soft_limit(out)
        else:
            volume, sleep = self._volume.db_block(t0, frames), self._sleep.db_block(t0, frames)
            dip, breath = self._dip_db(t0, frames), self._breath_db(t0, frames)
            voice = self._voices[0] if len(self._voices) == 1 else None
            envelope = 0.0 if voice is None else voice.envelope.db_block(t0, frames)
            if voice is not None and not cue and isinstance(volume, np.ndarray) and isinstance(sleep, float) \
                    and isinstance(dip, float) and isinstance(breath, float) and isinstance(envelope, float):
                # Only the volume moves (a knob's detent): see _turned.
                out, bound = self._turned(voice, t0, frames, envelope + voice.calibration_db + sleep + dip + breath)
            else:
                master = volume + sleep + dip + breath
                if voice is not None:  # the usual case: one multiply for every gain together
                    out = voice.source.render(frames)
                    _apply(out, envelope + voice.calibration_db + master)
                    bound = math.inf
                else:
                    out, bound = self._crossfade(t0, frames, master)
            darkened = self._darkening is not None
            if darkened:
                skip = min(max(self._sleep.start - t0, 0), frames) if self._darkening.ends is None else 0
                self._darkening.apply(out[skip:], t0 + skip)
                if self._darkening.ends is not None and t0 + frames >= self._darkening.ends:
                    self._darkening = None
            if cue:
                self._add_cue(out, t0, master)
            if bound >= LIMIT_THRESHOLD * (1 - 1e-6) or cue or darkened:
                self.limited_samples += soft_limit(out)
        self.now = t0 + frames
        self._voices = [v for v in self._voices if not v.envelope.silent_from(self.now)]
        if self._sleep_end is not None and self.now >= self._sleep_end:
            self._expire_timer()
        return out

    def _turned(self, voice: Voice, t0: int, frames: int, offset_db: float) -> tuple[np.ndarray, float]:
        """One voice while only the volume moves (a knob detent's 30 ms ramp): the volume's gains
        for the block, a RAMP_WINDOW of them computed at once with every steady gain in them, then
        one multiply, and a bound on the peak (a ramp moves one way: its largest gain in a block is
        at one end) so the limiter's scan is skipped. A detent used to cost the audio thread a
        dozen numpy calls a period of its ramp, a Pi's cold caches tens of µs each."""
        out = voice.source.render(frames)
        gains = self._volume.gain_block(t0, frames, offset_db)
        scale_frames(out, gains)  # type: ignore[arg-type]
        top = max(float(gains[0]), float(gains[-1]))  # type: ignore[index]
        return out, getattr(voice.source, "peak", math.inf) * top

    def _crossfade(self, t0: int, frames: int, master: np.ndarray | float) -> tuple[np.ndarray, float]:
        """Two (or more) voices summed, each at its own gain, and a bound on the sum's peak.

        A crossfade lasts seconds and used to cost the audio thread half as much again as a steady
        period (on a Pi-class share, the margin a switch needed). So: the first voice's block is the
        sum (no zeroed buffer), a steady master gain rides in each voice's gain window (one multiply
        per voice, no third), and the limiter's scan is skipped when the feeds' peaks times the
        gains stay under its threshold: a ramp moves one way, so its largest gain in a block is at
        one end of it.
        """
        steady_master = not isinstance(master, np.ndarray)
        out: np.ndarray | None = None
        bound = 0.0
        for voice in self._voices:
            block = voice.source.render(frames)
            offset = voice.calibration_db + (master if steady_master else 0.0)
            gain = voice.envelope.gain_block(t0, frames, offset)  # type: ignore[arg-type]
            if isinstance(gain, float):
                block *= np.float32(gain)
                top = gain
            else:
                scale_frames(block, gain)
                top = max(float(gain[0]), float(gain[-1]))
            bound += getattr(voice.source, "peak", math.inf) * top
            if out is None:
                out = block
            else:
                out += block
        assert out is not None
        if not steady_master:
            _apply(out, master)
            bound = math.inf
        return out, bound

    def _add_cue(self, out: np.ndarray, t0: int, master_db: np.ndarray | float) -> None:
        """Mix the cue's frames for this block into ``out`` (it may begin inside the block), at the
        master gain (the volume and what moves it) plus the cue's own level."""
        assert self._cue is not None
        start, samples, level_db = self._cue
        n = len(out)
        at = max(start - t0, 0)  # where in this block it begins
        first, last = t0 + at - start, min(len(samples), t0 + n - start)
        if last > first:
            gain = db_to_gain(np.broadcast_to(np.asarray(master_db, np.float64), (n,))[at:at + last - first] + level_db)
            out[at:at + last - first] += scaled_frames(samples[first:last], gain.astype(np.float32))
        if t0 + n - start >= len(samples):
            self._cue = None

    def _render_steady(self, voice: Voice, t0: int, frames: int) -> np.ndarray:
        """The usual period, one sound at a steady level: one multiply, and no limiter scan when
        the source's measured peak (a :class:`~bedside.audio.synthesis.Feed` knows it) times the gain
        stays under the threshold. Same samples as the general path; on a Pi each numpy call a
        period saved is worth tens of microseconds, most of them cold caches after a sleep."""
        out = voice.source.render(frames)
        out *= self._steady_gain
        peak = getattr(voice.source, "peak", math.inf)
        if not peak * float(self._steady_gain) < LIMIT_THRESHOLD * (1 - 1e-6):
            self.limited_samples += soft_limit(out)
        self._after_steady(voice, t0, frames)
        return out

    def _after_steady(self, voice: Voice, t0: int, frames: int) -> None:
        self.now = t0 + frames
        if voice.envelope.silent_from(self.now):
            self._voices.clear()
        if self._sleep_end is not None and self.now >= self._sleep_end:
            self._expire_timer()

    def _expire_timer(self) -> None:
        self.events.append(("timer_expired", self._sleep_end))
        self._voices.clear()
        self._darkening = None  # the night is over: the next sound must not start muffled
        self._sleep = Ramp()
        self._sleep_end = None
