"""The synthesis thread: a sound being built never lets the one playing run low."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_quota import V2, tree  # the fake cgroup tree the quota tests build

from bedside.audio import synthesis as synthesis_module
from bedside.audio.quota import Throttling
from bedside.audio.synthesis import Feed, Synthesis

RATE = 48000


class Quiet:
    """A source that costs nothing: what is measured here is the thread's order of work."""

    def render(self, frames: int) -> np.ndarray:
        return np.zeros((frames, 2), np.float32)


def prepared(synthesis: Synthesis, make) -> Feed:
    ready: list[Feed | None] = []
    done = threading.Event()
    synthesis.prepare(make, lambda feed: (ready.append(feed), done.set()))
    assert done.wait(10)
    assert ready[0] is not None
    return ready[0]


def filled(synthesis: Synthesis, feed: Feed) -> Feed:
    """``feed`` once the thread has filled it to its ahead mark (10 s at most)."""
    deadline = time.monotonic() + 10
    while feed.ahead < synthesis.ahead and time.monotonic() < deadline:
        time.sleep(0.01)
    return feed


def test_a_new_sound_is_built_only_once_the_playing_one_is_full():
    """At a Pi's share of a core, building and priming fire took longer than the playing sound's
    low mark lasts (then 0.26 s): it ran dry at the switch. The playing feed is now filled to the top
    before the build begins (and between prime chunks), so the build has its whole reserve."""
    synthesis = Synthesis(RATE)
    try:
        playing = filled(synthesis, prepared(synthesis, Quiet))
        playing.render(playing.ahead - synthesis.low - 1)  # just above the low mark: no top-up due
        seen: list[int] = []

        def make() -> Quiet:
            seen.append(playing.ahead)
            return Quiet()

        prepared(synthesis, make)
        assert len(seen) == 1 and seen[0] >= synthesis.ahead, (seen, synthesis.ahead, synthesis.low)
    finally:
        synthesis.close()


def test_the_playing_sound_never_runs_dry_while_a_slow_build_is_paced():
    """After a build the thread pauses eight times its CPU time (more if the CPU is short), to
    leave the audio thread room. Fire's build at 10% of a core took 14 ms of CPU and asked for a
    0.45 s pause, longer than the playing sound had left: it ran dry in the crossfade. The pause
    now ends before the playing feed is down to its low mark. Here a build of 100 ms of CPU (a
    0.8 s pause uncapped, against 0.68 s made ahead) while a consumer takes frames in real time."""
    synthesis = Synthesis(RATE)
    stop = threading.Event()
    try:
        playing = filled(synthesis, prepared(synthesis, Quiet))
        lowest: list[int] = []

        def consume() -> None:  # an audio thread: what the clock says has played, a period at a time
            started, taken = time.monotonic(), 0
            while not stop.is_set():
                due = int((time.monotonic() - started) * RATE) // 512 * 512
                if due > taken:
                    playing.render(due - taken)
                    taken = due
                    lowest.append(playing.ahead)
                time.sleep(512 / RATE)

        def make() -> Quiet:
            burn = time.thread_time() + 0.1
            while time.thread_time() < burn:
                pass
            return Quiet()

        consumer = threading.Thread(target=consume, daemon=True)
        consumer.start()
        prepared(synthesis, make)
        time.sleep(0.3)
        stop.set()
        consumer.join(5)
        assert playing.starved == 0 and min(lowest) > 0, (playing.starved, min(lowest))
    finally:
        stop.set()
        synthesis.close()


def playing_in_real_time(feeds: list[Feed], stop: threading.Event, lone_ahead: list[int]) -> threading.Thread:
    """The audio thread's part, not started: every feed in ``feeds`` plays in real time, a period at
    a time, until ``stop``; while one plays alone, its frames ahead are noted in ``lone_ahead``."""
    def consume() -> None:
        started, taken = time.monotonic(), {}
        while not stop.is_set():
            due = int((time.monotonic() - started) * RATE) // 512 * 512
            for feed in list(feeds):
                if due > taken.setdefault(id(feed), due):
                    feed.render(due - taken[id(feed)])
                    taken[id(feed)] = due
            if len(feeds) == 1:
                lone_ahead.append(feeds[0].ahead)
            time.sleep(512 / RATE)
    return threading.Thread(target=consume, daemon=True)


def test_steady_play_tops_up_in_large_chunks_and_a_switch_in_small_ones(monkeypatch):
    """Large chunks wake the thread less often, but at 10% of a core they underran at the switch:
    a lone feed, once the last build is STEADY_AFTER_S old, is kept a STEADY_CHUNK further ahead
    and topped up in STEADY_CHUNKs (so a switch finds it at least the usual ahead mark full),
    while building, priming and a crossfade (two feeds) stay at CHUNK."""
    monkeypatch.setattr(synthesis_module, "STEADY_AFTER_S", 0.3)
    synthesis = Synthesis(RATE)
    sizes: list[tuple[int, int]] = []  # (frames, feeds playing) for every chunk rendered

    class Counted(Quiet):
        def render(self, frames: int) -> np.ndarray:
            sizes.append((frames, len(synthesis._live_feeds())))
            return super().render(frames)

    stop = threading.Event()
    feeds: list[Feed] = []
    lone_ahead: list[int] = []  # the first feed's frames ahead, period by period, while it plays alone
    consumer = playing_in_real_time(feeds, stop, lone_ahead)
    try:
        feeds.append(prepared(synthesis, Counted))
        consumer.start()
        time.sleep(1.0)  # past STEADY_AFTER_S: the lone feed's first steady top-ups
        lone_ahead.clear()
        time.sleep(1.0)
        steady = list(sizes)
        sizes.clear()
        feeds.append(prepared(synthesis, Counted))  # a switch: the new sound is built beside the old
        time.sleep(0.25)  # within STEADY_AFTER_S of the build, both feeds playing
        switch = list(sizes)
    finally:
        stop.set()
        consumer.join(5)
        synthesis.close()
    first = steady.index((synthesis.steady_chunk, 1))
    assert steady[first:].count((synthesis.steady_chunk, 1)) >= 4, steady
    assert (synthesis.chunk, 1) not in steady[first:], steady  # steady chunks only, no small pieces after them
    # Never down to the low mark it had before: a switch finds the usual ahead mark (less a period
    # or two of the thread's own wake-up) ready.
    assert min(lone_ahead) >= synthesis.ahead - 2048, min(lone_ahead)
    assert switch and all(frames == synthesis.chunk for frames, _ in switch), switch


@pytest.mark.parametrize("short", [False, True], ids=["plentiful", "short"])
def test_a_steady_top_up_is_several_chunks_in_one_wake_up_unless_the_cpu_is_short(monkeypatch, tmp_path, short):
    """A wake-up with cold caches cost more than the chunk it rendered: with the CPU plentiful, a
    lone feed in steady play is topped up by STEADY_PIECES chunks back to back, a wake-up a quarter
    as often; on a short CPU (a quota) by one, as was measured clean at 10% of a core."""
    monkeypatch.setattr(synthesis_module, "STEADY_AFTER_S", 0.2)
    # Plentiful whatever else runs here: no quota, no throttling, no chunk held back on the clock.
    fake_cgroup(tmp_path, "usage_usec 1000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
    monkeypatch.setattr(synthesis_module, "held_back", lambda cpu_s, wall_s: False)
    synthesis = Synthesis(RATE, steady_chunk=4096, steady_pieces=3)
    synthesis._throttling = Throttling(tmp_path / "proc", tmp_path)
    rendered: list[tuple[float, int]] = []  # (when, frames) for every chunk

    class Timed(Quiet):
        def render(self, frames: int) -> np.ndarray:
            rendered.append((time.monotonic(), frames))
            return super().render(frames)

    stop, feeds, lone_ahead = threading.Event(), [], []
    consumer = playing_in_real_time(feeds, stop, lone_ahead)
    try:
        if short:
            synthesis.short_at = time.monotonic()  # as the quota's look says, within PLENTY_AFTER_S
        feeds.append(prepared(synthesis, Timed))
        consumer.start()
        time.sleep(0.6)  # past STEADY_AFTER_S
        rendered.clear()
        lone_ahead.clear()
        time.sleep(2.0)
    finally:
        stop.set()
        consumer.join(5)
        synthesis.close()
    wake_ups: list[list[int]] = []  # the chunks of each wake-up: rendered within 40 ms of each other
    for index, (when, frames) in enumerate(rendered):
        if index == 0 or when - rendered[index - 1][0] > 0.04:
            wake_ups.append([])
        wake_ups[-1].append(frames)
    pieces = 1 if short else 3
    assert len(wake_ups) >= 2 and all(chunks == [4096] * pieces for chunks in wake_ups[1:]), wake_ups
    assert max(lone_ahead) >= synthesis.ahead + (pieces - 1) * 4096, (max(lone_ahead), synthesis.ahead)
    assert max(lone_ahead) <= synthesis.ahead + pieces * 4096, (max(lone_ahead), synthesis.ahead)


class Dear(Quiet):
    """A source whose every chunk costs 1.5 ms of the thread's CPU, as a dear sound's cold chunk
    does: more than BATCH_CPU_S, so a chunk is a wake-up of its own unless the thread batches on."""

    def __init__(self, rendered: list[tuple[float, int]]) -> None:
        self.rendered = rendered

    def render(self, frames: int) -> np.ndarray:
        self.rendered.append((time.monotonic(), frames))
        until = time.thread_time() + 0.0015
        while time.thread_time() < until:
            pass
        return super().render(frames)


@pytest.mark.parametrize("quota", ["tight", "none"])
def test_under_a_cpu_quota_a_steady_top_up_is_short_pieces_one_a_wake_up(monkeypatch, tmp_path, quota):
    """Under a quota every thread waits once a period's share is used up, the audio thread and a
    sound server's client thread too: a steady chunk of a dear sound (1-2 ms of CPU) held the device
    back two or three 10 ms periods in a row at 10% of a core. There a lone feed is topped up in
    CHUNK pieces, one a wake-up, between the same marks; without a quota in STEADY_CHUNKs."""
    monkeypatch.setattr(synthesis_module, "STEADY_AFTER_S", 0.2)
    stat = fake_cgroup(tmp_path, "usage_usec 1000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n")
    (stat.parent / "cpu.max").write_text("10000 100000\n" if quota == "tight" else "max 100000\n")
    monkeypatch.setattr(synthesis_module, "held_back", lambda cpu_s, wall_s: False)
    synthesis = Synthesis(RATE, chunk=1024, steady_chunk=4096, steady_pieces=1)
    synthesis._throttling = Throttling(tmp_path / "proc", tmp_path)
    rendered: list[tuple[float, int]] = []
    stop, feeds, lone_ahead = threading.Event(), [], []
    consumer = playing_in_real_time(feeds, stop, lone_ahead)
    try:
        feeds.append(prepared(synthesis, lambda: Dear(rendered)))
        consumer.start()
        time.sleep(0.6)  # past STEADY_AFTER_S
        rendered.clear()
        lone_ahead.clear()
        time.sleep(1.5)
    finally:
        stop.set()
        consumer.join(5)
        synthesis.close()
    sizes = {frames for _, frames in rendered}
    assert sizes == ({1024} if quota == "tight" else {4096}), rendered
    if quota == "tight":
        # One a wake-up: the thread pauses DUTY_PAUSE times a chunk's CPU (12 ms) after each.
        assert all(b - a > 0.008 for (a, _), (b, _) in itertools.pairwise(rendered)), rendered
        assert synthesis.short_at > -np.inf  # the quota's look said so
    # The same marks either way: a switch finds the usual ahead mark ready.
    assert min(lone_ahead) >= synthesis.ahead - 1024, (min(lone_ahead), synthesis.ahead)
    assert max(lone_ahead) <= synthesis.ahead + 4096 + 1024, (max(lone_ahead), synthesis.ahead)


class HeldBack:
    """A source whose chunks take time on the clock but none on the CPU: the thread held back."""

    def render(self, frames: int) -> np.ndarray:
        time.sleep(0.004)
        return np.zeros((frames, 2), np.float32)


def test_chunks_held_back_on_the_clock_say_the_cpu_is_short_and_one_alone_does_not():
    """Two chunks within SHORT_WITHIN_S that took far longer on the clock than on the CPU (at 15%
    of a core, 44% of heavy-rain's) mean a short CPU: the player then keeps the device's margin. A
    single one is a stall of the host, and quick chunks say nothing."""
    synthesis = Synthesis(RATE)
    try:
        quick = Feed(Quiet())
        for _ in range(5):  # a few chunks of ~10 µs: too short for a busy machine to hold back twice
            synthesis._fill(quick)
        assert synthesis.short_at == -np.inf
        synthesis._fill(Feed(HeldBack()))
        assert synthesis.short_at == -np.inf  # one held-back chunk: not yet
        synthesis._fill(Feed(HeldBack()))
        assert time.monotonic() - synthesis.short_at < 1.0
    finally:
        synthesis.close()


def fake_cgroup(tmp_path: Path, stat_text: str) -> Path:
    """A cgroup v2 tree under ``tmp_path`` with this process in bedside.service (membership in
    ``tmp_path / "proc"``): its cpu.stat, holding ``stat_text``."""
    (tmp_path / "proc").write_text(V2)
    return tree(tmp_path, "system.slice/bedside.service", stat_text)


def test_a_cpu_quota_that_throttles_the_process_says_the_cpu_is_short(tmp_path):
    """The process's cgroup counting a throttled period (its quota used up, every thread held back
    until the next) is a short CPU at once: the kernel's own count, not a guess from the clock."""
    stat = fake_cgroup(tmp_path, "usage_usec 1000\nnr_periods 40\nnr_throttled 3\nthrottled_usec 900\n")
    synthesis = Synthesis(RATE)
    try:
        synthesis._throttling = Throttling(tmp_path / "proc", tmp_path)
        feed = Feed(Quiet())
        synthesis._fill(feed)  # the first look only learns the count
        synthesis._throttle_looked = -np.inf
        synthesis._fill(feed)
        assert synthesis.short_at == -np.inf  # not throttled since
        stat.write_text("usage_usec 2000\nnr_periods 50\nnr_throttled 4\nthrottled_usec 1800\n")
        synthesis._throttle_looked = -np.inf
        synthesis._fill(feed)
        assert time.monotonic() - synthesis.short_at < 1.0
    finally:
        synthesis.close()


def test_a_tight_cpu_quota_says_the_cpu_is_short_before_it_throttles(tmp_path):
    """Under a tight quota (10% of a core) the process is short at the first look, throttled or not: a
    cheap sound went a minute unthrottled at 10%, and the knob then took the device down to a
    margin the sweep's own work ran dry (2026-12-06). A generous quota waits for the count."""
    stat = fake_cgroup(tmp_path, "usage_usec 1000\nnr_periods 40\nnr_throttled 0\nthrottled_usec 0\n")
    quota = stat.parent / "cpu.max"
    synthesis = Synthesis(RATE)
    try:
        synthesis._throttling = Throttling(tmp_path / "proc", tmp_path)
        feed = Feed(Quiet())
        quota.write_text("90000 100000\n")  # 90% of a core, held back at most 10 ms: not tight
        synthesis._fill(feed)
        assert synthesis.short_at == -np.inf
        quota.write_text("10000 100000\n")
        synthesis._throttle_looked = -np.inf
        synthesis._fill(feed)  # the throttle count is looked at again, the quota not yet
        assert synthesis.short_at == -np.inf
        synthesis._throttle_looked = synthesis._quota_looked = -np.inf  # QUOTA_LOOK_S later
        synthesis._fill(feed)
        assert time.monotonic() - synthesis.short_at < 1.0
    finally:
        synthesis.close()


class Counting:
    """A source whose every frame says where it is: what the audio thread takes shows its order."""

    def __init__(self) -> None:
        self.at = 0

    def render(self, frames: int) -> np.ndarray:
        out = np.repeat(((self.at + np.arange(frames)) / 2**20).astype(np.float32)[:, None], 2, axis=1)
        self.at += frames
        return out


def test_words_made_ahead_run_on_into_the_next_chunk_and_stop_at_a_change_of_gain():
    """Two periods a wake-up begun a period before a chunk's end: the words are both chunks' joined,
    in order; not when the next chunk was made at another gain (then nothing is taken)."""
    feed = Feed(Counting())
    key = (np.float32(0.5), "S32_LE", 0.99)
    feed.words = key
    feed.fill(4096)
    feed.fill(4096)
    assert feed.take_words(3584, key) is not None  # a period short of the first chunk's end
    words = feed.take_words(1024, key)
    assert words is not None and len(words) == 1024 and feed.consumed == 4608
    expected = (np.arange(3584, 4608) / 2**20 * 0.5 * 2**31).astype(np.int64)
    assert np.array_equal(words[:, 0].astype(np.int64), expected)
    feed.words = (np.float32(0.25), "S32_LE", 0.99)  # the knob turned: the next chunk at the new gain
    feed.fill(4096)
    assert feed.take_words(3584, key) is not None
    assert feed.take_words(1024, key) is None and feed.consumed == 8192  # nothing taken
    assert len(feed.render(1024)) == 1024 and feed.consumed == 9216  # mixed on the audio thread instead
