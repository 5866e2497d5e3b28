"""The player: the one loop that drives the engine into an output, for ``run``, ``play`` and ``render``.

Per period it only waits for room in the device, applies the queued commands (cheap: they set
ramps), takes the frames the synthesis thread made ahead, applies the gains, encodes and writes;
in a steady period (one sound, nothing moving) it takes them already at their gain and encoded.
Everything slow — building a sound, rendering it, reading a config — happens on other threads and
arrives as commands. Offline (``render``) the same loop runs on the engine's sample clock as fast as
it can, with sounds prepared in place, so a file and the device get the same samples for a seed.

Underruns are counted, logged once per burst (then at most every ``UNDERRUN_LOG_S``), and become
part of the state, so systemd's status line and Home Assistant show them. After one, the sound comes
back with a short ramp from silence instead of a step (the sinks do that, they see it first).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from bedside.audio.engine import Engine
from bedside.audio.sinks import Output
from bedside.audio.synth import Source
from bedside.audio.synthesis import Prepare, Synthesis, prepare_now
from bedside.commands import Command, Stop

log = logging.getLogger("bedside")

#: Underruns closer together than this are one burst, logged once.
UNDERRUN_BURST_S = 10.0
#: While a burst goes on, a line at most this often.
UNDERRUN_LOG_S = 30.0
#: While nothing plays, the loop rests (no device writes, no wake-ups) and only wakes this often
#: (the watchdog) or for a command.
IDLE_TICK_S = 1.0
#: A feed the synthesis thread is late with is waited for at most this share of what the device
#: still holds: the rest is for mixing, encoding and writing before it runs dry.
PATIENCE_SHARE = 0.5
#: For this long after a volume change at the knob's pace the device is kept at its steady fill,
#: not braced full for a start's first minute nor stepping down over minutes: someone is turning the
#: knob and listening, and a detent waits behind all the device holds (12 periods, 128 ms; steady, 21
#: ms). Not while a sound is built or crossfaded in, nor while the CPU is short (a late wake-up, an
#: underrun, the synthesis thread held back or the process throttled by a CPU quota: see
#: synthesis.SHORT_FILLS): at 10% of a core, throttled, a sweep at 2 periods ran the device dry.
HURRY_S = 10.0
#: Nor for this long after a crossfade to another sound: how much CPU the new sound needs is not
#: known yet (the synthesis thread has to see it throttled or held back first). A cheap sound before
#: it (a noise colour) never found the CPU short, so a knob turned right after the switch hurried
#: the device to its steady fill under the new sound's first chunks: at 10% of a core, rain switched
#: to from brown underran in 3 of 5 runs between the switch and the first sweep, from light-rain
#: (which had found the CPU short already) in none of 3 (2026-12-06). A start from rest is not a
#: switch: the start's own brace covers it, and a turn then is waited for behind the braced device.
SETTLING_S = 10.0


class Driven(Protocol):
    """What the loop asks of the controller (:class:`bedside.controller.Controller`), and no more."""

    engine: Engine

    @property
    def preparing(self) -> bool: ...

    @property
    def quick_turns(self) -> int: ...

    def submit(self, command: Command) -> None: ...

    def set_prepare(self, prepare: Prepare) -> None: ...

    @property
    def wake_fd(self) -> int: ...

    def process_pending(self, wait: float = 0.0, woken: bool = False) -> int: ...

    def after_block(self) -> None: ...

    def note_underruns(self, total: int) -> None: ...


class Player:
    """Owns the controller (and through it the engine) and the output; nothing else renders.

    ``realtime``: sounds are prepared and rendered ahead on the synthesis thread (the device sets
    the pace). Otherwise they are prepared in place (rendering to a file: exact and repeatable).
    """

    def __init__(self, controller: Driven, output: Output, block_frames: int, *, realtime: bool,
                 after_write: Callable[[], None] | None = None) -> None:
        self.controller = controller
        self.engine = controller.engine
        self.output = output
        self.block = block_frames
        self._after_write = after_write
        self._stop_requested = False  # a plain flag: stop() may run in a signal handler
        self._stop_fade: float | None = None
        self._realtime = realtime
        self.synthesis = Synthesis(self.engine.rate) if realtime else None
        controller.set_prepare(self._prepare if realtime else prepare_now)
        self._underruns = 0
        self._last_underrun = -1e9
        self._logged_at = -1e9
        self._unlogged = 0
        self._turns_seen = controller.quick_turns
        self._hurry_until = -1.0  # monotonic: the device kept short until then (see HURRY_S)
        self._crossfaded_at = -math.inf  # monotonic: the last period two sounds played (see SETTLING_S)
        self._short_seen = -math.inf  # the synthesis thread's last "CPU short" passed on to the output
        #: (first frame, time it was handed over, frames still queued before it), for benchmarks.
        self.writes: deque[tuple[int, float, int]] | None = None

    def _prepare(self, make: Callable[[], Source], done: Callable[[Source | None], None]) -> None:
        assert self.synthesis is not None
        self.synthesis.prepare(make, done)

    def stop(self, fade_s: float | None = None) -> None:
        """Fade out and end the loop (any thread, or a signal handler: it takes no lock, and the
        queue's put is reentrant). The fade starts at the next period; a second call changes nothing."""
        if self._stop_requested:
            return
        self._stop_fade = fade_s
        self._stop_requested = True
        self.controller.submit(Stop(fade_s))  # wakes a resting loop

    def run(self, frames: int | None = None, stop_after: int | None = None,
            progress: Callable[[int, int], None] | None = None) -> None:
        """Play until :meth:`stop` (then fade to silence), or for exactly ``frames`` frames (a file),
        or until frame ``stop_after`` (then fade as after :meth:`stop`)."""
        engine, controller, output = self.engine, self.controller, self.output
        stopping = False
        try:
            while True:
                if not stopping and (self._stop_requested or (stop_after is not None and engine.now >= stop_after)):
                    stopping = True
                    if not self._stop_requested:  # stop() has sent its Stop: a second would restart the fade
                        controller.submit(Stop(self._stop_fade))
                    if not engine.audible:
                        break
                if self._realtime and not stopping and not engine.audible:
                    self._rest()  # until a command: a sound being prepared starts from here, on this frame
                    continue
                n = self.block if frames is None else min(self.block, frames - engine.now)
                if n <= 0:
                    break
                # A command that comes while the device has no room is applied at once: a device that
                # takes nothing for a while (PulseAudio after a start: 1.6–2 s here) must not hold a
                # stop that long, nor keep it from the state file.
                if self.synthesis is not None and self.synthesis.short_at != self._short_seen:
                    self._short_seen = self.synthesis.short_at
                    output.cpu_short()
                room = output.wait_for_room(n, controller.wake_fd, self._bracing(), self._hurrying())
                while room == 0:
                    controller.process_pending(woken=True)  # it may have started a switch
                    room = output.wait_for_room(n, controller.wake_fd, self._bracing(), self._hurrying())
                if frames is None and room > n:  # an empty device, or two periods a wake-up: whole periods
                    n = room // n * n
                controller.process_pending()
                if self.synthesis is not None:  # a late feed is waited for while the device still plays
                    self.synthesis.patience_s = PATIENCE_SHARE * output.held_s()
                # A steady period takes its words made ahead (see Engine.render_words); any other
                # is mixed here. (Not rendering to a file: that must not depend on threads.)
                words = engine.render_words(n, fmt) if self._realtime and (fmt := output.words_format) else None
                block = engine.render(n) if words is None else None
                controller.after_block()
                first = engine.now - n
                if block is not None:
                    output.write(block)
                else:
                    output.write_words(words)  # type: ignore[arg-type]
                if self.writes is not None:
                    self.writes.append((first, time.monotonic(), output.queued_before))
                if output.underruns != self._underruns:
                    self._note_underruns(output.underruns)
                if self._after_write is not None:
                    self._after_write()
                if progress is not None and frames is not None:
                    progress(engine.now, frames)
                if stopping and not engine.audible:
                    # A period of exact zeros, so the DAC rests at 0 rather than at -100 dB.
                    output.write(engine.render(output.period_frames or self.block))
                    break
        finally:
            if self.synthesis is not None:
                self.synthesis.close()

    def _bracing(self) -> bool:
        """A sound is being built or crossfaded in: the device may hold its whole buffer, so the
        synthesis thread's bursts come out of a deeper margin. Notes when two sounds last played
        (for SETTLING_S): called before :meth:`_hurrying` each period."""
        if len(self.engine.voices) > 1:
            self._crossfaded_at = time.monotonic()
            return True
        return self.controller.preparing

    def _hurrying(self) -> bool:
        """Someone turned the volume in the last HURRY_S: what the device holds is what they wait for
        (not while a sound switched to in the last SETTLING_S has not shown what it costs)."""
        if self.controller.quick_turns != self._turns_seen:
            self._turns_seen = self.controller.quick_turns
            self._hurry_until = time.monotonic() + HURRY_S
        if self._hurry_until <= 0:  # nobody has turned the knob yet: no clock to read
            return False
        now = time.monotonic()
        return now < self._hurry_until and now - self._crossfaded_at >= SETTLING_S

    def _rest(self) -> None:
        """Nothing plays: let the device play out what it holds and stop it, then sleep until a
        command comes (or a tick passes, for the watchdog). A box that is off costs nothing."""
        self.controller.process_pending()
        if self.engine.audible:
            return
        self.output.rest()
        if self._after_write is not None and not self.controller.preparing:
            self._after_write()  # the watchdog, and READY=1 for a box that starts silent
        self.controller.process_pending(wait=IDLE_TICK_S)

    def _note_underruns(self, total: int) -> None:
        new, self._underruns = total - self._underruns, total
        now = time.monotonic()
        if now - self._last_underrun > UNDERRUN_BURST_S:
            # Found dry later after the last write than that write left queued: this loop was held
            # up; sooner: the device, or a sound server behind it, ran dry with the loop on time.
            dry = self.output.last_dry
            log.warning("audio underrun: the sound device ran dry (%d so far)%s", total,
                        "" if dry is None else f", found {dry[0] * 1000:.0f} ms after the last write, "
                                               f"which left {dry[1] * 1000:.0f} ms queued")
            self._logged_at, self._unlogged = now, 0
        elif now - self._logged_at >= UNDERRUN_LOG_S:
            log.warning("%d more underruns (%d so far)", self._unlogged + new, total)
            self._logged_at, self._unlogged = now, 0
        else:
            self._unlogged += new
        self._last_underrun = now
        self.controller.note_underruns(total)


class ProgressBar:
    """A one-line progress bar on a terminal; silent when stderr is not one."""

    def __init__(self, label: str, stream=sys.stderr) -> None:
        self._label, self._stream = label, stream
        self._enabled = stream.isatty()
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        if not self._enabled:
            return
        now = time.monotonic()
        if now - self._last < 0.2 and done < total:
            return
        self._last = now
        width = 30
        filled = int(width * done / total)
        self._stream.write(f"\r{self._label} [{'#' * filled}{'.' * (width - filled)}] {100 * done // total:3d}%")
        if done >= total:
            self._stream.write("\n")
        self._stream.flush()
