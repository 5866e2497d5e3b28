"""A state file is whatever the SD card holds after a crash, a power cut or a stranger with a shell:
any of it means the defaults, one warning naming the file, and the file moved aside, never a
traceback (under ``Restart=on-failure`` that is a crash loop: the box never plays again)."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

import pytest
from test_schedule import LONDON, FakeClock, Recorder, entry, scheduler_for

from bedside.commands import State
from bedside.state import MAX_BYTES, SavedState, StateStore

HOSTILE = {
    "a list 100,000 deep": b"[" * 100_000,
    "a list 50,000 deep (under the cap: the parser's recursion)": b"[" * 50_000,
    "an object 10,000 deep": b'{"a":' * 10_000,
    "an object 100,000 deep": b'{"a":' * 100_000,
    "a closed list 5,000 deep": b"[" * 5000 + b"]" * 5000,
    "NUL bytes": b'{"volume": 40\x00}',
    "binary": bytes(range(256)) * 40,
    "not UTF-8": b'{"sound": "\xff\xfe"}',
    "larger than the cap": b'{"sound": "' + b"r" * (MAX_BYTES + 10) + b'"}',
    "a huge integer": b'{"volume": ' + b"9" * 4000 + b"}",
    "NaN": b'{"timer_min": NaN}',
    "Infinity": b'{"schedule_handled": Infinity}',
    "a negative volume": b'{"volume": -1}',
    "a string for a flag": b'{"playing": "true"}',
    "a list": b"[1, 2, 3]",
    "empty": b"",
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_hostile_state_file_is_moved_aside_with_one_warning(tmp_path, content, caplog):
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, "bedside.state"):
        assert StateStore(tmp_path).load() == SavedState()
    warnings = [r.getMessage() for r in caplog.records]
    assert len(warnings) == 1 and str(path) in warnings[0] and "defaults" in warnings[0], warnings
    assert not path.exists() and (tmp_path / "state.json.bad").read_bytes() == content
    caplog.clear()
    assert StateStore(tmp_path).load() == SavedState() and not caplog.records  # the next start: silent


def test_a_fifo_or_a_directory_in_its_place_does_not_block_the_start(tmp_path, caplog):
    os.mkfifo(tmp_path / "state.json")  # opened without O_NONBLOCK, reading it would wait for a writer
    with caplog.at_level(logging.WARNING, "bedside.state"):
        assert StateStore(tmp_path).load() == SavedState()
    assert "not a regular file" in caplog.text
    (tmp_path / "state.json").mkdir()
    assert StateStore(tmp_path).load() == SavedState()


def test_a_good_file_is_read_and_left_where_it_is(tmp_path, caplog):
    saved = SavedState("rain", 35, 45.0, True, False, "06:45", 1.8e9)
    StateStore(tmp_path).save(saved)
    with caplog.at_level(logging.WARNING):
        assert StateStore(tmp_path).load() == saved
    assert not caplog.records and not (tmp_path / "state.json.bad").exists()


def test_read_warns_but_moves_nothing(tmp_path, caplog):
    """``bedside schedule`` reads beside a running daemon: it must not move the daemon's file."""
    (tmp_path / "state.json").write_bytes(b"[" * 50_000)
    with caplog.at_level(logging.WARNING):
        assert StateStore(tmp_path).read() == SavedState()
    assert (tmp_path / "state.json").exists() and "nested too deeply" in caplog.text


def test_a_far_future_handled_instant_is_ignored_and_schedules_still_fire(caplog):
    """``schedule_handled`` of year 5138 is a valid number, but on a synchronised clock it would hold
    every schedule until then; a few hours ahead (a clock set back) still holds (not run twice)."""
    wake_at = datetime(2026, 11, 26, 6, 30, tzinfo=LONDON).astimezone(UTC)
    clock = FakeClock(wake_at + timedelta(seconds=1))
    recorder = Recorder()
    recorder.state = State(schedule_handled=99_999_999_999.0)
    with caplog.at_level(logging.WARNING, "bedside.scheduler"):
        scheduler_for([entry("06:30")], clock, recorder).step()
    assert len(recorder.fired()) == 1 and "in the future: ignored" in caplog.text
    recorder = Recorder()
    recorder.state = State(schedule_handled=(wake_at + timedelta(hours=5)).timestamp())
    scheduler_for([entry("06:30")], clock, recorder).step()
    assert not recorder.fired()
