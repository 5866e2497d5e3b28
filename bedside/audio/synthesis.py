"""Synthesis ahead of the audio thread, so that a period only takes frames that already exist.

Every playing sound's source is wrapped in a :class:`Feed`, which the synthesis thread keeps filled
a fraction of a second ahead in chunks much larger than an ALSA period (the per-call cost of numpy
is paid once per chunk, not once per period). Building a sound (its source objects, its first
chunks) happens here too, and the controller is told by a command when the sound is ready; the audio
thread never waits for any of it.

The synthesis thread asks for a lower scheduling priority than the audio thread: when the CPU is
short (a Pi Zero at night with something else running), the period loop goes first.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable

import numpy as np

from bedside.audio.pcm import Encoder
from bedside.audio.quota import Throttling
from bedside.audio.synth import CHANNELS, Source

log = logging.getLogger(__name__)

#: Frames rendered at a time while a sound is built, primed or crossfaded in (85 ms at 48 kHz).
#: Once a single sound has played on its own for STEADY_AFTER_S, its feed is kept one STEADY_CHUNK
#: further ahead (0.68-1.02 s) and topped up by one STEADY_CHUNK a wake-up, ~2.9 wake-ups a second
#: (with the CPU plentiful, by STEADY_PIECES of them: 0.68-2.05 s, 0.73 wake-ups a second).
#: A thread that has just woken pays for cold caches on this VM: heavy-rain's chunk of 4096 costs
#: 0.57 ms back to back and 0.81 after a sleep of 1 ms, 1.1-1.3 after 5-85 ms, so wake-ups, not
#: frames, were most of the synthesis thread's CPU in steady play (41 s per audio hour against 20
#: back to back, 2026-12-05). A switch comes while the feed is at least the usual ahead mark (0.68
#: s), so the switch's own top-up has nothing to do and a build never follows a burst of pieces:
#: 16384 for everything (2026-12-04) underran at 10% of a core within 2.4 s of a switch, and so did
#: one steady chunk a top-up that let the feed sit down to the low mark (benchmarks/README). This
#: one: 0 underruns for all 20 sounds at 10% and at 12% of a core, one run each. Two steady chunks
#: a wake-up, back to back, cost the synthesis thread 1-4 s per audio hour less but underran at a
#: knob sweep at 10% (2 of 8 sounds, and more gaps the daemon did not see): not kept (2026-12-05).
CHUNK = 4096
STEADY_CHUNK = 16384
#: A switch is over (the crossfade, the controller's own work after it) this long after the last
#: sound was built: from then on a lone feed is kept a STEADY_CHUNK further ahead.
STEADY_AFTER_S = 5.0
#: While the CPU has not been short (SHORT_FILLS) for PLENTY_AFTER_S, a steady top-up is
#: STEADY_PIECES steady chunks back to back (1.37 s, a wake-up every 1.37 s instead of 0.34) and
#: the feed is kept that much further ahead. The wake-ups, not the frames, were the dearer part:
#: paced like the thread, heavy-rain cost 18-25 CPU s per audio hour in chunks of 16,384 frames
#: and 12-15 in 65,536 (10-12 back to back, either size), stream 16-18 and 10.5, fire 18 and 11-12
#: (2026-12-07). In the daemon (its threads' own CPU, two rounds each way, 20 s of steady play)
#: the synthesis thread came down 15-30%: heavy-rain 6.3 -> 4.4 ms a second, summer-night 6.2 ->
#: 4.8, distant-thunder 7.4 -> 6.3, fire 5.7 -> 4.6, stream 5.6 -> 4.3. Pieces, not one large
#: chunk: a piece's temporary arrays stay the size they were (peak RSS), and a switch or a short
#: CPU is seen between pieces. On a short CPU (a quota, a held-back thread) one piece a wake-up,
#: as measured clean at 10% and 12% of a core: four pieces back to back there would be ~4 ms of
#: CPU, four of a quota's 10 ms periods.
STEADY_PIECES = 4
PLENTY_AFTER_S = 60.0
#: Under a CPU quota that has come up short within QUOTA_AFTER_S, a steady top-up is CHUNK pieces,
#: one a wake-up, not a STEADY_CHUNK: once a quota period's share is used up every thread of the
#: process waits for the next (9 ms of 10 at 10% of a core), the audio thread and, on a sound
#: server, the client library's thread that carries its writes, so a dear sound's 16,384-frame
#: piece (1-2 ms of CPU) held the device back for two or three periods in a row. distant-thunder
#: at 10% of a core with a 3-period buffer, four runs each way: 3, 3, 16 and 3 underruns mid-play
#: with steady chunks, 1, 0, 1 and 0 (at the start and the switch) with CHUNK pieces (2026-12-07).
#: A CPU short for another reason (a busy core, no quota) keeps the steady chunk: there the audio
#: thread goes first anyway, and the pieces' extra wake-ups would cost it CPU it lacks.
QUOTA_AFTER_S = PLENTY_AFTER_S
#: How far ahead each feed is filled (0.68 s at 48 kHz); filling starts again when one is down to
#: LOW_CHUNKS (0.34 s). A lone feed in steady play: both a STEADY_CHUNK higher (1.02 and 0.68 s),
#: the top STEADY_PIECES of them higher with the CPU plentiful (2.05 s).
AHEAD_CHUNKS = 8
LOW_CHUNKS = 4
#: A top-up runs at most TOP_UP_SPEED times faster than the sound plays, and after each chunk (or
#: a new sound's build) the thread pauses DUTY_PAUSE times the CPU time it took: at most a ninth of
#: a core. On a CPU held to a share (a cgroup quota), work back to back uses up the share and the
#: audio thread waits for the next slice whatever its priority: measured at 12% of a core, priming
#: a new sound at a third of a core starved the audio thread for 90 ms, and at a ninth it still
#: could. Building a new sound, a slice that took much longer on the clock than on the CPU means
#: the CPU is short: the pause is then CONTENDED times longer (not for top-ups, which must keep
#: pace). Below CRITICAL_CHUNKS ahead, a top-up hurries (HURRY_PAUSE).
TOP_UP_SPEED = 1.5
DUTY_PAUSE = 8.0
HURRY_PAUSE = 2.0
CONTENDED = 4.0
CRITICAL_CHUNKS = 2
#: A top-up renders its chunks back to back, without a pause, while they have taken less CPU than
#: this in all: a cheap sound (the noise colours: ~0.4 ms a cold chunk) is topped up in one wake-up,
#: with warm caches after the first chunk; a dear one (fire, ~1 ms) still one chunk per slice.
BATCH_CPU_S = 0.001
#: How full a new sound's feed is before it starts (a quarter of a second): enough that the start
#: of a sound is not also a rush to fill it; building and priming it takes a few milliseconds here
#: (the crossfade starts within 100 ms of the command).
PRIME_CHUNKS = 3
#: Nice value of the synthesis thread (the audio thread keeps the process's own).
NICE = 5
#: If a feed is empty (the synthesis thread is late, or a sink without a clock runs ahead of it),
#: the audio thread waits for the next chunk no longer than the player allows (what the device still
#: holds, so the wait can never itself cause an underrun) and at most this long, then fills in silence.
STARVED_WAIT_S = 0.25
INFINITE = 1 << 62
MIN_SLEEP_S = 0.005
#: The CPU is short when SHORT_FILLS chunks within SHORT_WITHIN_S took much longer on the clock than
#: on the CPU (the thread was held back: :func:`held_back`, as CONTENDED), or when the process's CPU quota
#: throttled it at all or is tight (:mod:`bedside.audio.quota`, looked at every THROTTLE_LOOK_S while
#: the thread works). Then the player keeps the device's deeper margin, knob or not. Measured here, 20 s of
#: steady play each: unlimited and at half a core 0 chunks of ~100 held back for white, brown,
#: heavy-rain and fire; at 15% of a core 44-45% of heavy-rain's and fire's (4% of brown's, none of
#: white's); and the quota throttled heavy-rain 8.5 times a second at 10%, 0.8 at 30%, pink 0.65 at
#: 10%, white never. Two, not one: a single stall of this VM's host is not a short CPU.
SHORT_FILLS = 2
SHORT_WITHIN_S = 10.0
THROTTLE_LOOK_S = 0.1
#: The quota itself (whether it is tight) is read this often: a supervisor changing it is seen
#: within seconds, and a look at the throttle count stays one file read. (Reading it at every
#: throttle look cost 32 of a look's 45 µs here, ~0.6 CPU s per audio hour: 5% of the least loop
#: on a cheap hour of this VM.)
QUOTA_LOOK_S = 5.0


#: Builds a source with ``make`` and hands it to ``done`` (``None`` if building it failed): at once
#: (rendering to a file: :func:`prepare_now`) or later from the synthesis thread (the appliance).
Prepare = Callable[[Callable[[], Source], Callable[[Source | None], None]], None]


def prepare_now(make: Callable[[], Source], done: Callable[[Source | None], None]) -> None:
    done(make())


def held_back(cpu_s: float, wall_s: float) -> bool:
    """Work that took much longer on the clock than on the CPU: the thread was kept from running
    (the CPU is short). One test for a build's pause (CONTENDED) and for a short CPU (SHORT_FILLS)."""
    return wall_s > 1.5 * cpu_s + 0.0005


#: What the audio thread would write for a steady period: (the gain, a float32; the sink's sample
#: format; the limiter's threshold, which a chunk's peak times the gain must stay under). The same
#: tuple object for as long as the gain holds, so a chunk's words are matched by identity.
Words = tuple[np.float32, str, float]


class Feed:
    """A source rendered ahead; the audio thread takes frames, the synthesis thread adds them.

    One thread appends chunks, the other pops them (``deque`` operations are atomic), and each
    counter has a single writer, so no lock is taken on the audio thread.

    While one sound plays at a steady level, the audio thread says so in :attr:`words`, and each
    chunk made from then on also carries its frames at that gain, encoded for the device: a steady
    period then only takes bytes made ahead and writes them (:meth:`take_words`). On a core that has
    just woken, the gain and the encoding were a third of the period's work (the least Python loop
    here: 228 µs a period taking floats, gain and encoding, 163 taking bytes made ahead).
    """

    def __init__(self, source: Source, patience: Callable[[], float] = lambda: STARVED_WAIT_S) -> None:
        self.source = source
        self._patience = patience  # how long the audio thread may wait for a late chunk now
        #: (frames, largest |sample|, the frames encoded at ``words``' gain or None, that ``words``)
        self._chunks: deque[tuple[np.ndarray, float, np.ndarray | None, Words | None]] = deque()
        self._current: np.ndarray | None = None
        self._current_peak = 0.0
        self._current_words: np.ndarray | None = None
        self._current_key: Words | None = None
        #: Set by the audio thread while a steady period could take encoded words; read when a chunk is made.
        self.words: Words | None = None
        self._encoders: dict[str, Encoder] = {}
        self._position = 0
        #: The largest |sample| in the frames :meth:`render` returned last (measured here, on the
        #: synthesis thread, so the audio thread can skip its limiter's scan when gains keep it low).
        self.peak = 0.0
        self.produced = 0  # written by the synthesis thread only
        self.consumed = 0  # written by the audio thread only
        self.starved = 0  # frames filled with silence because no chunk came in time
        self.closed = False
        self._filled = threading.Event()

    @property
    def ahead(self) -> int:
        return self.produced - self.consumed

    def fill(self, chunk: int) -> None:
        """Render one more chunk (synthesis thread)."""
        frames = self.source.render(chunk)
        peak = float(max(frames.max(), -frames.min()))  # |x|'s largest, without an |x| array
        peak = peak if peak <= 1e9 else math.inf  # NaN: never "low"
        key = self.words
        words = None
        if key is not None and peak * float(key[0]) < key[2]:  # the engine's own test: no limiter
            encoder = self._encoders.get(key[1]) or self._encoders.setdefault(key[1], Encoder(key[1]))
            # The same float32 product the engine's steady period makes, and the sink's encoding of it.
            words = encoder.encode_scaled(frames, key[0])
        self._chunks.append((frames, peak, words, key if words is not None else None))
        self.produced += chunk
        self._filled.set()

    def render(self, frames: int) -> np.ndarray:
        """The next ``frames`` frames (audio thread): a view into a chunk in the usual case."""
        current, position = self._current, self._position
        if current is not None and position + frames <= len(current):
            self._position = position + frames
            self.consumed += frames
            self.peak = self._current_peak
            return current[position:position + frames]
        return self._gather(frames)

    def take_words(self, frames: int, key: Words) -> np.ndarray | None:
        """The next ``frames`` frames already at ``key``'s gain and encoded (audio thread), when the
        synthesis thread made them so; else None, and nothing is taken. A view into a chunk, or
        where they run on into the next chunk (two periods a wake-up, begun a period before a
        chunk's end), one copy of a few kilobytes joining the two."""
        current, position = self._current, self._position
        if current is None or position >= len(current):
            if not self._chunks:
                return None
            self._next_chunk()
            current, position = self._current, 0
        if self._current_key is not key:
            return None
        if position + frames <= len(current):
            self._position = position + frames
            self.consumed += frames
            self.peak = self._current_peak
            return self._current_words[position:position + frames]  # type: ignore[index]
        rest = position + frames - len(current)
        if not self._chunks or self._chunks[0][3] is not key or rest > len(self._chunks[0][0]):
            return None
        head, peak = self._current_words[position:], self._current_peak  # type: ignore[index]
        self._next_chunk()
        self._position = rest
        self.consumed += frames
        self.peak = max(peak, self._current_peak)
        return np.concatenate((head, self._current_words[:rest]))  # type: ignore[index]

    def _next_chunk(self) -> None:
        self._current, self._current_peak, self._current_words, self._current_key = self._chunks.popleft()
        self._position = 0

    def _gather(self, frames: int) -> np.ndarray:
        out = np.empty((frames, CHANNELS), np.float32)
        done = 0
        peak = self._current_peak if self._current is not None and self._position < len(self._current) else 0.0
        while done < frames:
            if self._current is None or self._position >= len(self._current):
                if not self._chunks:
                    self._filled.clear()
                    if not self._chunks and not self._filled.wait(min(STARVED_WAIT_S, self._patience())):
                        out[done:] = 0.0  # the synthesis thread is late: silence, not an underrun
                        self.starved += frames - done
                        log.warning("synthesis fell behind: %d frames of silence", frames - done)
                        break
                    continue
                self._next_chunk()
                peak = max(peak, self._current_peak)
            take = min(frames - done, len(self._current) - self._position)
            out[done:done + take] = self._current[self._position:self._position + take]
            self._position += take
            done += take
        self.consumed += frames
        self.peak = peak
        return out


class Synthesis:
    """The synthesis thread: prepares sounds and keeps every live feed ahead of the audio thread."""

    def __init__(self, rate: int, chunk: int = CHUNK, ahead_chunks: int = AHEAD_CHUNKS,
                 steady_chunk: int = STEADY_CHUNK, steady_pieces: int = STEADY_PIECES) -> None:
        self.chunk = chunk
        self.steady_chunk, self.steady_pieces = steady_chunk, steady_pieces
        self.ahead = chunk * ahead_chunks
        self.low = chunk * min(LOW_CHUNKS, ahead_chunks - 1)
        self._rate = rate
        # Weak references: a feed the engine has let go of (its voice faded out) is gone, and so
        # is the work of keeping it ahead.
        self._feeds: list[weakref.ref[Feed]] = []
        self._jobs: deque[Callable[[], None]] = deque()
        self._wake = threading.Event()
        self._topping_up = False
        self._critical = False
        self._closing = False
        self._built_at = -math.inf  # monotonic time the last job ended
        self._last_chunk = chunk  # frames the last top-up rendered
        #: Set by the player before each period: how long a late feed may be waited for.
        self.patience_s = STARVED_WAIT_S
        #: Monotonic time the CPU was last seen short (see SHORT_FILLS); read by the player.
        self.short_at = -math.inf
        self._quota_short_at = -math.inf  # the last time the short CPU was a quota's (QUOTA_AFTER_S)
        self._held_back_at: deque[float] = deque(maxlen=SHORT_FILLS)  # when chunks were last held back
        self._throttling = Throttling()
        self._throttled: int | None = None
        self._throttle_looked = -math.inf
        self._quota_looked, self._tight_share = -math.inf, None  # see QUOTA_LOOK_S
        self._thread = threading.Thread(target=self._run, name="synthesis", daemon=True)
        self._thread.start()

    def prepare(self, make: Callable[[], Source], done: Callable[[Feed | None], None]) -> None:
        """Build a source with ``make`` and prime its feed, then call ``done(feed)`` (synthesis
        thread); ``done(None)`` if building it fails (logged), so that nobody waits for it."""
        def job() -> None:
            # The sound playing now must not run dry while this one is built and primed (at 10% of
            # a core, fire's build and prime took ~0.4 s of wall clock, longer than the old feed's
            # low mark lasts): it is filled to the top first, and again before each prime chunk.
            self._top_up_live()
            slice_ = self._slice()
            try:
                feed = Feed(make(), lambda: self.patience_s)
            except Exception:
                log.exception("building a sound failed")
                done(None)
                return
            for _ in range(PRIME_CHUNKS):
                if self._live_feeds():  # something plays: leave it room
                    time.sleep(self._pause(slice_))
                    self._top_up_live()
                slice_ = self._slice()
                feed.fill(self.chunk)
            self._feeds.append(weakref.ref(feed))
            self._built_at = time.monotonic()
            done(feed)
        self._jobs.append(job)
        self._wake.set()

    @staticmethod
    def _slice() -> tuple[float, float]:
        return time.thread_time(), time.monotonic()

    def _pause(self, since: tuple[float, float]) -> float:
        """How long to pause, building a new sound, after the work done since ``since``: DUTY_PAUSE
        times its CPU time, and CONTENDED times more if the work took much longer on the clock than
        on the CPU — the thread was held back, so the CPU is short (a Pi at full load, a quota).

        Never longer than the playing feeds can go before the furthest behind is down to the low
        mark: fire's build, 14 ms of CPU at 10% of a core, asked for a 0.45 s pause, longer than
        the old sound had left, and it ran dry in the crossfade (2026-12-03)."""
        cpu = max(0.0, time.thread_time() - since[0])
        wall = time.monotonic() - since[1]
        pause = DUTY_PAUSE * cpu * (CONTENDED if held_back(cpu, wall) else 1.0)
        live = self._live_feeds()
        if live:
            pause = min(pause, max(0.0, (min(feed.ahead for feed in live) - self.low) / self._rate))
        return pause

    def _run(self) -> None:
        with contextlib.suppress(OSError):  # lower this thread only (Linux: a thread is a task)
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        slice_: tuple[float, float] | None = None
        while not self._closing:
            while self._jobs:
                self._guarded(self._jobs.popleft())
            slice_ = slice_ or self._slice()
            slack = self._fill_hungriest()
            if slack is None:
                cpu = max(0.0, time.thread_time() - slice_[0])
                if cpu < BATCH_CPU_S and not self._jobs:
                    continue  # a cheap chunk: the next one at once, while the caches are warm
                slice_ = None
                # A top-up keeps pace with the sound, so it is paced by the sound (and its own
                # duty cycle), not backed off when the CPU is short: that let it fall behind and
                # then hurry in bursts, worse for the audio thread than a steady pace.
                pause = (HURRY_PAUSE if self._critical else DUTY_PAUSE) * cpu
                if not self._critical:
                    pause = max(pause, self._last_chunk / self._rate / TOP_UP_SPEED)
                self._wake.wait(pause)  # a job still wakes it at once
                self._wake.clear()
                continue
            slice_ = None
            # Everything is ahead: sleep until the feed furthest behind is down to the low mark,
            # or a job arrives; with nothing playing, until a job arrives (an idle box never wakes).
            self._wake.wait(max(MIN_SLEEP_S, slack / self._rate) if slack < INFINITE else None)
            self._wake.clear()

    def _fill_hungriest(self) -> int | None:
        """Render a chunk for the feed furthest behind, if it is below the mark; else return how
        many frames it can play before it is down to the low mark (``INFINITE`` with no feeds).

        Once one feed is below the low mark, every feed is filled to the top before sleeping. A lone
        feed in steady play has its low mark a STEADY_CHUNK higher and its top STEADY_PIECES of them
        (one on a short CPU) and they fill it (in CHUNK pieces under a quota: QUOTA_AFTER_S). (A
        method of its own so that no strong reference to a feed outlives it.)
        """
        live = self._live_feeds()
        if not live:
            return INFINITE
        hungriest = min(live, key=lambda f: f.ahead)
        now = time.monotonic()
        steady = (len(live) == 1 and not self._jobs and now - self._built_at > STEADY_AFTER_S)
        pieces = self.steady_pieces if now - self.short_at > PLENTY_AFTER_S else 1
        # Under a quota: CHUNK pieces between the steady marks, the bursts short (QUOTA_AFTER_S).
        steady_top_up = steady and now - self._quota_short_at > QUOTA_AFTER_S
        top, low = (self.ahead + pieces * self.steady_chunk, self.ahead) if steady else (self.ahead, self.low)
        if hungriest.ahead >= top or (not self._topping_up and hungriest.ahead > low):
            self._topping_up = False
            return hungriest.ahead - low
        self._critical = hungriest.ahead < CRITICAL_CHUNKS * self.chunk
        if steady_top_up and not self._critical:
            short_at = self.short_at
            for _ in range(pieces):  # back to back, while the caches are warm
                self._fill(hungriest, self.steady_chunk)
                if self._jobs or self.short_at != short_at:
                    break  # a switch waits for no more pieces; a short CPU gets one a wake-up
            # One top-up a wake-up: above the usual ahead mark, sleep until the low mark again.
            self._topping_up = hungriest.ahead < self.ahead
            return None if self._topping_up else hungriest.ahead - low
        self._topping_up = True
        self._fill(hungriest, self.chunk)
        return None

    def _live_feeds(self) -> list[Feed]:
        """The feeds still playing (the list of references forgets the others)."""
        live = [(feed, ref) for ref in self._feeds if (feed := ref()) is not None and not feed.closed]
        self._feeds = [ref for _, ref in live]
        return [feed for feed, _ in live]

    def _top_up_live(self) -> None:
        """Fill every live feed to the top, the furthest behind first (while a sound is built)."""
        while True:
            live = self._live_feeds()
            if not live:
                return
            hungriest = min(live, key=lambda f: f.ahead)
            if hungriest.ahead >= self.ahead:
                return
            self._fill(hungriest)

    def _fill(self, feed: Feed, frames: int | None = None) -> None:
        """One chunk more for ``feed``; a source that fails once is not asked again."""
        self._last_chunk = frames = frames or self.chunk
        cpu, wall = time.thread_time(), time.monotonic()
        if not self._guarded(lambda: feed.fill(frames)):
            feed.closed = True
        now = time.monotonic()
        if held_back(time.thread_time() - cpu, now - wall):  # see SHORT_FILLS
            self._held_back_at.append(now)
            if len(self._held_back_at) == SHORT_FILLS and now - self._held_back_at[0] <= SHORT_WITHIN_S:
                self._short(now, "the synthesis thread is held back")
        if now - self._throttle_looked >= THROTTLE_LOOK_S:
            self._throttle_looked = now
            count = self._throttling.count()
            if now - self._quota_looked >= QUOTA_LOOK_S:
                self._quota_looked, self._tight_share = now, self._throttling.tight()
            if (share := self._tight_share) is not None:
                self._short(now, f"the CPU quota is {share:.0%} of a core")
                self._quota_short_at = now
            elif count is not None and self._throttled is not None and count > self._throttled:
                self._short(now, "the CPU quota throttles this process")
                self._quota_short_at = now
            self._throttled = count

    def _short(self, now: float, why: str) -> None:
        """The CPU came up short: the player keeps the device's margin (said once per spell)."""
        if now - self.short_at > SHORT_WITHIN_S:
            log.info("%s: the sound device is kept full", why)
        self.short_at = now

    def _guarded(self, work: Callable[[], None]) -> bool:
        try:
            work()
        except Exception:  # a broken source must not stop the other sounds or future ones
            log.exception("synthesis failed")
            return False
        return True

    def close(self) -> None:
        self._closing = True
        self._wake.set()
        self._thread.join(timeout=5)
