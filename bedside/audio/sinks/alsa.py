"""ALSA output through pyalsaaudio: the only module that imports ``alsaaudio``.

The device is asked for 32-bit samples first (at −60 dB, 16-bit output is mostly dither) and what
ALSA actually granted is read back with ``info()``: rate, format and period size are checked, not
assumed.

The PCM is non-blocking: the player first waits (``poll`` on the PCM's descriptors) until the
device has room for a block, and only then applies commands and renders it. A command is therefore
heard after at most one buffer, not a buffer plus a block.

Underruns are counted, and the sound comes back on a short ramp up from silence after a lead-in of
zeros: the gap itself cannot be undone, but there is no click. An underrun is ``avail`` or ``write``
answering -EPIPE, or a write later than all the device held at the last one could last (by more
than a buffer): ALSA's ``pulse`` plugin hears of an underrun from the server asynchronously and
forgets it when a write comes first, so a process resumed after a long stall wrote before the news
arrived and came back at full level after silence (a CI run under load, 2026-12-02).

The lead-in is there because a sound server such as PulseAudio skips the first ~9 ms written after
an underrun: the ramp must not be in what it skips. On a DAC it only lengthens a gap that is already
there by 10 ms.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import math
import select
import time
from typing import Protocol

import alsaaudio
import numpy as np

from bedside.audio.pcm import Encoder, words_to_floats
from bedside.audio.sinks import AudioDeviceError

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

#: After an underrun the sound comes back over this long (a raised cosine from exact silence).
RESUME_RAMP_S = 0.010
#: ...behind this many periods of zeros (at most half the buffer), so that the restarted device
#: holds some margin before the sound resumes. Periods, not a share of the buffer: a deeper buffer
#: must not make every underrun's gap longer (half of 512 × 6 was 32 ms of added silence).
LEAD_IN_PERIODS = 2
#: A device that takes nothing for this long has failed (unplugged, or its driver stuck).
STALL_S = 5.0
#: Kept at its steady fill, the loop sleeps until the device is down to one period less. Woken
#: more than this share of a period after that, it is late (the CPU is short): the device is kept
#: full for BRACED_S after it, as after an underrun, or when the loop comes back from a write to
#: find the device more than two periods under its steady fill (held up between its wake-ups).
#: (Late by the clock first, not by what the device says it played: PulseAudio reports a period
#: more than played every ~0.2 s here on an idle machine.)
LATE_SHARE = 0.5
BRACED_S = 60.0
#: Braced, the loop waits until a period is free, so it finds about the whole buffer less a period
#: (less one more where the device counts what it played a period at a time); finding it down by
#: more than this many periods, the loop was held up: late too. (Before, a braced loop was never
#: counted late: at 10% of a core, always braced, the exit line said "0 late periods" beside
#: underruns.)
LATE_BRACED_PERIODS = 3
#: A raised fill (a brace, a hurry over) is what a late look is measured against only once the
#: device is seen within this many periods of it: the period about to be written, and one more
#: where the device counts what it played a period at a time. Before, it was at once, and topping
#: the device up a period a wake-up counted late: every switch during steady play, every knob sweep
#: that ended in a start's first minute (a minute more braced, the knob waiting 64 ms).
REACHED_PERIODS = 2
#: A late loop is logged at most this often (with the count so far).
LATE_LOG_S = 10.0
#: The device is kept full for BRACED_S after it starts from rest too: the synthesis thread builds
#: ahead then (the new sound's first minutes), and at 15% of a core the steady fill alone ran dry
#: there (issue 23's notes).
STARTED_BRACED = True
#: When a brace ends the fill comes down a period at a time, one every FILL_STEP_S, from a period
#: under the whole buffer to ``fill_periods`` (what a knob detent waits behind once settled): a
#: CPU that kept up for a minute is trusted with a thinner margin only step by step, and any late
#: wake-up or underrun on the way braces the device full again (a watermark, as sound servers keep).
FILL_STEP_S = 30.0
#: A wait for room longer than this many periods is cut short by a command (see wait_for_room);
#: a shorter one ends first. A knob detent used to wake the loop mid-wait, one wake-up more per
#: detent on top of a period's, and the command was applied at the same frame either way. (A
#: steady wait is up to 2.5 periods: two written a wake-up, see STEADY_BATCH.)
WAKE_AFTER_PERIODS = 3
#: Periods written a wake-up once the device is down from its brace and nobody is turning the
#: volume: the loop wakes half as often (a wake-up, not the period's arithmetic, is most of what a
#: Python period loop costs: issue 23's notes), at the same low mark (a period and a half held at
#: the steady fill). Braced, a period a wake-up keeps the deep margin's low mark at 5 periods; a
#: knob turn goes back to a period a wake-up, so a detent waits behind the steady fill. A device
#: with no clock (ALSA null, file) is paced by the wall clock and always takes two.
STEADY_BATCH = 2

_ALSA_FORMATS = {"S32_LE": alsaaudio.PCM_FORMAT_S32_LE, "S16_LE": alsaaudio.PCM_FORMAT_S16_LE}


class AudioSettings(Protocol):
    """What a sink is opened with: ``[audio]`` (:class:`bedside.config.AudioConfig`)."""

    device: str
    rate: int
    period_frames: int
    periods: int
    format: str


def available_pcms() -> list[str]:
    """The playback PCM names ALSA knows on this machine."""
    try:
        return list(alsaaudio.pcms(alsaaudio.PCM_PLAYBACK))
    except alsaaudio.ALSAAudioError:
        return []


class AlsaSink:
    def __init__(self, device: str = "default", rate: int = 48000, period_frames: int = 256,
                 periods: int = 4, formats: tuple[str, ...] = ("S32_LE", "S16_LE"),
                 dither_seed: int | None = None, fill_periods: int | None = None) -> None:
        self.device = device
        self.underruns = 0
        last_error = "no sample format was accepted"
        for fmt in formats:
            try:
                pcm = alsaaudio.PCM(type=alsaaudio.PCM_PLAYBACK, mode=alsaaudio.PCM_NONBLOCK, device=device,
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
        self.buffer_frames = info["buffer_size"]
        self.buffer_seconds = self.buffer_frames / self.rate
        #: The least the device is kept filled to, once the CPU has kept up for a while (a command
        #: waits behind it); the whole buffer for a while after a start, while the player braces for
        #: work (a sound built, a crossfade) and after a late wake-up or an underrun, and down to this
        #: a period at a time after that. (See :meth:`fill_frames`.)
        self.steady_frames = min(self.buffer_frames, self.period_frames * (fill_periods or self.periods))
        self._braced_until = -math.inf
        self._short_until = -math.inf  # braced because the CPU came up short: not for the knob either
        self._last_fill = self.buffer_frames  # the fill the device was last brought up to (see _wait)
        if STARTED_BRACED:
            self._brace()  # a new device is a start
        self.late_wakes = 0
        self._late_logged = -math.inf
        # Fed by the player only: blocks from the engine, within its limiter's ceiling.
        self._encoder = Encoder(fmt, dither_seed, limited=True)
        self._frame_bytes = 2 * self._encoder.format.sample_bytes
        self._poll = select.poll()
        self._pcm_poll = select.poll()  # the device alone: a short wait for room
        self._wake_poll = select.poll()  # the command pipe alone: a timed wait for a fill level
        self._pcm_fds = set()
        for fd, events in pcm.polldescriptors():
            self._poll.register(fd, events)
            self._pcm_poll.register(fd, events)
            self._pcm_fds.add(fd)
        self._wake_fd: int | None = None  # the command pipe, once the player has handed it over
        self._short_wait_ms = 1000 * WAKE_AFTER_PERIODS * self.period_frames / self.rate
        self._avail = self.buffer_frames
        self._xrun = False
        self._resting = False
        self._no_room_since: float | None = None  # the device has taken nothing since (see STALL_S)
        ramp = max(1, round(RESUME_RAMP_S * self.rate))
        self._resume_ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp) + 0.5) / ramp)).astype(np.float32)[:, None]
        self._ramp_at: int | None = None  # position in the resume ramp, while it runs
        self._lead_in = False
        self.lead_in_frames = min(self.buffer_frames // 2, LEAD_IN_PERIODS * self.period_frames)
        self._wrote_at: float | None = None  # monotonic time of the last write, once the device plays
        self._played = 0  # frames it has been seen to play since it last started, up to a buffer
        self._clockless = False  # it takes samples as fast as they come (ALSA's null, file): no clock to read
        self._lasts_s = 0.0  # how long what the device held after the last write could play, and a buffer
        #: Frames still queued in the device when the last block was handed over (its latency).
        self.queued_before = 0
        self._write_ended: float | None = None  # monotonic end of the last write since the device last rested
        #: At the last underrun: how long after the last write it was found dry, and what that write
        #: left queued. Longer than what was queued: the loop was held up; shorter: the device (or a
        #: sound server behind it) ran dry early, the loop on time. None before any underrun, or for
        #: one before any write since the device last rested.
        self.last_dry: tuple[float, float] | None = None
        log.info("ALSA %s: %s, %d Hz, %d frames × %d periods", device, fmt, self.rate,
                 self.period_frames, self.periods)

    @classmethod
    def from_config(cls, audio: AudioSettings, dither_seed: int | None = None, device: str | None = None) -> AlsaSink:
        """The device ``[audio]`` describes ("auto" format: 32-bit if the device takes it, else 16)."""
        formats = ("S32_LE", "S16_LE") if audio.format == "auto" else (audio.format,)
        return cls(device or audio.device, audio.rate, audio.period_frames, audio.periods, formats, dither_seed,
                   audio.fill_periods)

    def held_s(self) -> float:
        """Seconds still queued in the device, as of the last look (a wait for room, or a write)."""
        return 0.0 if self._resting or self._xrun else (self.buffer_frames - self._avail) / self.rate

    def rest(self) -> None:
        """Nothing more to play for now: let what is queued play out, then stop the stream, so an
        idle box neither wakes for every period nor counts the silence as an underrun."""
        if self._resting:
            return
        try:
            queued = self.buffer_frames - self._pcm.avail()
            if 0 < queued <= self.buffer_frames:
                time.sleep(queued / self.rate)
            self._pcm.drop()
        except alsaaudio.ALSAAudioError as error:
            raise AudioDeviceError(f"ALSA device {self.device!r} failed: {error}") from error
        self._resting, self._xrun, self._avail = True, False, self.buffer_frames
        self._no_room_since, self._wrote_at, self._write_ended = None, None, None

    def fill_frames(self, now: float) -> int:
        """What the device is kept filled to at ``now`` (monotonic): the whole buffer while braced,
        then a period less every FILL_STEP_S down to :attr:`steady_frames`."""
        settled_s = now - self._braced_until
        if settled_s < 0:
            return self.buffer_frames
        steps = 1 + int(min(settled_s, 1e6) // FILL_STEP_S)
        return max(self.steady_frames, self.buffer_frames - steps * self.period_frames)

    def wait_for_room(self, frames: int, wake_fd: int | None = None, brace: bool = False,
                      hurry: bool = False) -> int:
        """Block until the device can take ``frames`` frames now (or has run dry: then at once);
        returns how many it can take (a whole buffer when it is stopped and empty: starting with
        a full buffer, not one period, is what survives a busy CPU in the first milliseconds), or 0
        as soon as ``wake_fd`` is readable in a long wait (the player applies a command meanwhile:
        a device slow to take samples must not hold a stop for seconds). A wait of a period or two
        is not cut short: the command is applied when it ends, before the next block, which is as
        soon as it could be heard anyway, and a knob sweep no longer wakes the loop for each detent
        on top of each period (see WAKE_AFTER_PERIODS).

        The device is kept filled to :meth:`fill_frames` (what a knob detent waits behind): its whole
        buffer while ``brace`` (the player expects a burst of work: a sound being built or
        crossfaded in) and for BRACED_S after the loop came late or the device ran dry (the CPU is
        short: see LATE_SHARE, :meth:`cpu_short`), then a period less at a time down to
        ``steady_frames``. While ``hurry`` (someone is turning the volume) it is kept at
        ``steady_frames`` instead, unless ``brace`` or the CPU came up short in the last BRACED_S:
        a start's brace and the slow step down give way to a person listening, a short CPU does
        not (at 10% of a core, throttled by its quota, a knob sweep with 2 periods queued ran the
        device dry in 4 of 18 sound-runs: benchmarks/README, 2026-12-05). Where the room above the
        fill's low mark allows, it returns STEADY_BATCH periods: the loop wakes half as often.

        A loop back later than all the device held could last (and a buffer) is told, as after an
        -EPIPE, that a whole buffer less the lead-in is free: the restart then holds all it can."""
        if not self._resting and self._played_out():  # stalled past all it held, ALSA not told yet:
            self._xrun = True  # the restart takes a whole buffer, as after an -EPIPE, not the period
            self._avail = self.buffer_frames  # asked for (then the next late write ran it dry again)
            return self.buffer_frames - self.lead_in_frames
        return self._wait(frames, wake_fd, brace, hurry)

    def _wait(self, frames: int, wake_fd: int | None, brace: bool, hurry: bool) -> int:
        """:meth:`wait_for_room`, once the device is known not to have played out (and within a
        write: a device that takes nothing mid-write is full, not dry)."""
        if self._resting:
            return self.buffer_frames  # stopped and empty: the next write starts it again
        frames = min(frames, self.buffer_frames)
        if wake_fd is not None and wake_fd != self._wake_fd:
            self._poll.register(wake_fd, select.POLLIN)
            self._wake_poll.register(wake_fd, select.POLLIN)
            self._wake_fd = wake_fd
        now = called = time.monotonic()
        still_avail, still_since = -1, now  # the room seen while waiting on the clock, and since when
        if brace or now < self._short_until:
            braced = True
        elif hurry and self._wrote_at is not None:  # not before it is seen to play: a clock that has
            braced = False  # not started frees no room for the steady fill's wait on it
        else:
            braced, hurry = now < self._braced_until, False
        fill = self.buffer_frames if braced else self.steady_frames if hurry else self.fill_frames(now)
        # Frames left free after the write. Some devices count what they played a period at a time
        # (PulseAudio here: 2037 free, then 2549): within half a period of the mark is on it.
        headroom = 0 if braced else max(0, self.buffer_frames - fill - self.period_frames // 2)
        # Two periods a wake-up where the room above the fill's low mark has them (not braced: the
        # deep margin's low mark stays; not hurried: a detent waits behind the steady fill); a
        # device with no clock has no margin to keep.
        batch = frames if hurry else min(self.buffer_frames, STEADY_BATCH * frames)
        if not self._clockless and frames + headroom < batch:
            batch = frames
        # Late if the device holds less than the fill it was last brought up to (not the one kept
        # now: a hurry just over or a brace raises the fill, and while the loop tops the device up
        # to it, a period a wake-up, what was held to the lower one is not late).
        first_look = self._wrote_at is not None and not self._clockless
        look_fill = self._last_fill = min(fill, self._last_fill)
        late_below = look_fill - (LATE_BRACED_PERIODS if braced else 2) * self.period_frames
        try:
            while True:
                avail = self._pcm.avail()
                held = self.buffer_frames - avail
                if first_look and avail >= 0 and held < late_below:
                    self._late((look_fill - self.period_frames - held) / self.rate)  # held up since
                    headroom = 0  # the last write: the CPU is short
                first_look = False
                if avail >= 0 and held >= fill - REACHED_PERIODS * self.period_frames:
                    self._last_fill = fill  # come up to it (less the period about to be written)
                # Running and empty without an underrun: no clock. (A fresh PCM is empty too, but
                # PREPARED, not running: a clocked device written without a rest first stays clocked.)
                if avail >= self.buffer_frames and not self._clockless \
                        and self._pcm.state() == alsaaudio.PCM_STATE_RUNNING:
                    self._clockless = True
                if avail >= 0:  # what it played since the last look
                    self._played = min(self.buffer_frames, self._played + max(0, avail - self._avail))
                    self._avail = avail
                if avail < 0:  # -EPIPE: it ran dry; the next write recovers (after a lead-in)
                    self._xrun = True
                    self._avail = self.buffer_frames
                    return self.buffer_frames - self.lead_in_frames
                if avail >= frames + headroom:
                    self._no_room_since = None
                    return min(batch, avail)  # late and more room? the next call returns at once
                if avail >= frames:  # room enough, but above the steady fill: wait on the clock
                    self._no_room_since = None
                    if avail != still_avail:
                        still_avail, still_since = avail, time.monotonic()
                    elif time.monotonic() - still_since > self._short_wait_ms / 1000:
                        # Its clock does not run: a sound server that ran short itself waits for its
                        # buffer to be filled again before it plays on (PulseAudio's prebuffering).
                        return frames
                    timeout = math.ceil(1000 * (frames + headroom - avail + self.period_frames // 2) / self.rate)
                    due = time.monotonic() + timeout / 1000
                    # A short wait is slept through, unless this call has waited long already: a
                    # device whose clock has not started frees no room (PulseAudio after a start),
                    # and a command must still come through.
                    if wake_fd is None or timeout + 1000 * (time.monotonic() - called) <= self._short_wait_ms:
                        time.sleep(timeout / 1000)
                    elif self._wake_poll.poll(timeout):
                        return 0
                    if (late_s := time.monotonic() - due) > LATE_SHARE * self.period_frames / self.rate:
                        self._late(late_s)
                    continue
                now = time.monotonic()
                self._no_room_since = self._no_room_since or now
                if now - self._no_room_since > STALL_S:
                    raise AudioDeviceError(f"ALSA device {self.device!r} stopped taking samples")
                # poll wakes at period boundaries; some plugins' descriptors stay ready, so never
                # spin: at most sleep for the time the missing frames take to play. The command
                # pipe only once the device has taken nothing for a while.
                waited_ms = 1000 * (now - self._no_room_since)
                poll = self._poll if wake_fd is not None and waited_ms > self._short_wait_ms else self._pcm_poll
                ready = poll.poll(math.ceil(1000 * (frames - avail) / self.rate) + 1)
                if any(fd == wake_fd for fd, _ in ready):
                    return 0
                ready = [(fd, events) for fd, events in ready if fd in self._pcm_fds]
                if ready:
                    self._pcm.polldescriptors_revents(ready)
                    if self._pcm.avail() < frames:
                        time.sleep((frames - max(avail, 0)) / self.rate / 2)
        except alsaaudio.ALSAAudioError as error:
            raise AudioDeviceError(f"ALSA device {self.device!r} failed: {error}") from error

    def _late(self, late_s: float) -> None:
        """The loop came about ``late_s`` late: keep the device full for a while (a CPU short once is
        short again), and say so at most every LATE_LOG_S: what the journal shows beside an
        underrun, or instead of one (a line is only formatted and queued here: see logs.queued)."""
        self.late_wakes += 1
        self._brace(short=True)
        now = time.monotonic()
        if now - self._late_logged >= LATE_LOG_S:
            self._late_logged = now
            log.info("the audio loop came %.0f ms late (%d late periods so far): the sound device is kept full",
                     1000 * late_s, self.late_wakes)

    def cpu_short(self) -> None:
        """Told by the player that the CPU came up short elsewhere (the synthesis thread's work
        held up on the clock, the cgroup's quota throttling): braced as after a late wake-up."""
        self._brace(short=True)

    def _brace(self, short: bool = False) -> None:
        """Keep the device full for BRACED_S from now: after a start, or (``short``: even while
        someone turns the volume) a late loop, an underrun or a CPU short elsewhere."""
        self._braced_until = time.monotonic() + BRACED_S
        if short:
            self._short_until = self._braced_until

    @property
    def words_format(self) -> str:
        return self.format

    def write(self, block: np.ndarray) -> None:
        self._write(block, None)

    def write_words(self, words: np.ndarray) -> None:
        """A block already encoded in :attr:`format` (a steady period's, made ahead): written as it
        is, unless the sound is coming back from an underrun (then its ramp needs the floats)."""
        self._write(None, words)

    def _write(self, block: np.ndarray | None, words: np.ndarray | None) -> None:
        """Deliver ``block`` (float frames) or ``words`` (the same, encoded): one of them."""
        starting = self._resting or self._xrun  # the device starts from empty with this block
        if self._resting and STARTED_BRACED:
            self._brace()
        self._resting = False
        if self._xrun:  # seen by wait_for_room
            self._restart()
        self.queued_before = self.buffer_frames - self._avail
        if words is not None and (self._ramp_at is not None or self._lead_in
                                  or words.dtype.itemsize != self._encoder.format.sample_bytes):
            block = words_to_floats(words)  # the ramp needs floats (or the device was reopened in another format)
        data = memoryview(words).cast("B") if block is None else self._encoded(self._resumed(block))
        # Looked at after encoding, just before the write: a stall in between would go unseen.
        if not starting and self._played_out():
            self._restart()
            starting = True
            block = words_to_floats(words) if block is None else block
            data = self._encoded(self._resumed(block))
        done, total = 0, len(data) // self._frame_bytes
        while done < total:
            try:
                written = self._pcm.write(data[done * self._frame_bytes:] if done else data)
            except alsaaudio.ALSAAudioError as error:
                raise AudioDeviceError(f"ALSA device {self.device!r} failed: {error}") from error
            if written == -errno.EPIPE:  # ran dry just now; pyalsaaudio has prepared it again
                block = words_to_floats(words) if block is None else block
                block = block[max(0, done - (total - len(block))):]  # what is left after any lead-in
                self._dry()
                starting = True
                data = self._encoded(self._resumed(block))
                total, done = len(data) // self._frame_bytes, 0
                continue
            if written <= 0:  # no room after all (a plugin's estimate): wait for some
                self._wait(min(total - done, self.period_frames), None, True, False)
                continue
            done += written
        self._avail = max(0, self._avail - total)
        # A start's clock runs from when the device begins to play, which it does not say (a sound
        # server takes tens of ms): timed once it has been seen to play a whole buffer since.
        if starting:
            self._played = 0
        self._write_ended = time.monotonic()
        self._wrote_at = self._write_ended if self._played >= self.buffer_frames else None
        self._lasts_s = (2 * self.buffer_frames - self._avail) / self.rate

    def _played_out(self) -> bool:
        """Later than all the device held at the last write could play, and a whole buffer more: it
        ran dry, whether or not ALSA has said so yet. (Not a period more: a sound server holds a
        little beyond what ALSA's count says, and at a Pi's share of a CPU, writes that late but
        not dry are common: counted as underruns, their restarts made real gaps.)"""
        return (self._wrote_at is not None and not self._clockless
                and time.monotonic() - self._wrote_at > self._lasts_s)

    def _restart(self) -> None:
        """Count the underrun and restart the stream from empty (drop; the next write prepares it)."""
        self._dry()
        try:
            self._pcm.drop()
        except alsaaudio.ALSAAudioError as error:
            raise AudioDeviceError(f"ALSA device {self.device!r} failed: {error}") from error
        self._avail = self.buffer_frames

    def _encoded(self, block: np.ndarray) -> memoryview:
        return memoryview(self._encoder.encode(block)).cast("B")

    def _dry(self) -> None:
        """The device ran out of samples: count it, and bring the sound back gently."""
        self.underruns += 1
        self.last_dry = (None if self._write_ended is None  # _lasts_s: what that write left queued, and a buffer
                         else (time.monotonic() - self._write_ended, self._lasts_s - self.buffer_seconds))
        self._brace(short=True)
        self._xrun = False
        self._ramp_at = 0
        self._lead_in = True

    def _resumed(self, block: np.ndarray) -> np.ndarray:
        """``block``, after an underrun: behind a lead-in of zeros, and on the resume ramp."""
        if self._ramp_at is not None:
            block = self._ramp(block)
        if self._lead_in:
            self._lead_in = False
            block = np.concatenate([np.zeros((self.lead_in_frames, block.shape[1]), block.dtype), block])
        return block

    def _ramp(self, block: np.ndarray) -> np.ndarray:
        """``block`` with the resume ramp (or the rest of it) applied, as a new array."""
        at = self._ramp_at or 0
        n = min(len(block), len(self._resume_ramp) - at)
        out = block.copy()
        out[:n] *= self._resume_ramp[at:at + n]
        self._ramp_at = None if at + n >= len(self._resume_ramp) else at + n
        return out

    def close(self) -> None:
        with contextlib.suppress(alsaaudio.ALSAAudioError):
            self._pcm.close()  # drains what is queued
