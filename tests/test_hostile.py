"""Hostile and odd input (issue 8): a config file or a value written to hurt must give one clear
line and exit 78, never a traceback, never a secret echoed, never a flood of log."""

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bedside.cli import main
from bedside.config import ConfigError, load
from bedside.logs import MAX_LINE_CHARS, RateLimitedLog

BEDSIDE = [sys.executable, "-m", "bedside"]


def check(path: Path, *before: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BEDSIDE, *before, "check-config", str(path)], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("text, key", [
    ("x = " + "[" * 5000, "nested too deeply"),  # tomllib recursed until RecursionError: a traceback
    ("x = " + "{a = " * 3000, "nested too deeply"),
    ('[audio]\ndevice = "hw:0\\u0000,0"\n', "audio.device: must not contain a NUL"),  # passed, then run died
    ('[audio]\ndevice = "' + "d" * 100_000 + '"\n', "audio.device: is longer than 1024"),
    ("[volume]\ndefault = 1" + "0" * 5000 + "\n", "invalid TOML"),  # more digits than Python converts
    ('[sound]\ndefault = "' + "\\u0000" + '"\n', "sound.default: must not contain a NUL"),
])
def test_a_hostile_config_is_one_line_and_exit_78(tmp_path, text, key):
    path = tmp_path / "bedside.toml"
    path.write_text(text)
    result = check(path)
    assert result.returncode == 78, result.stderr
    assert key in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1 and len(result.stderr) < 400


def test_a_config_file_too_large_to_be_one_is_refused_unread(tmp_path):
    path = tmp_path / "bedside.toml"
    path.write_bytes(b"# " + b"x" * (2 << 20) + b"\n")
    result = check(path)
    assert result.returncode == 78 and "larger than 1024 KiB" in result.stderr


@pytest.mark.parametrize("value", ["31415926535", "[1, 2]", "true", '"pw\\u0000x"'])
def test_a_mistyped_password_is_never_echoed(tmp_path, value):
    path = tmp_path / "bedside.toml"
    path.write_text(f"[mqtt]\npassword = {value}\n")
    result = check(path)
    assert result.returncode == 78 and "mqtt.password" in result.stderr and "(hidden)" in result.stderr
    assert "31415926535" not in result.stderr and "pw" not in result.stderr.replace("password", "")


def test_options_after_the_command_work_too(tmp_path):
    path = tmp_path / "bedside.toml"
    path.write_text("[volume]\ndefault = 30\n")
    after = subprocess.run([*BEDSIDE, "check-config", "--config", str(path)], capture_output=True, text=True)
    assert after.returncode == 0 and str(path) in after.stdout, after.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[volume]\ndefault = 300\n")
    assert subprocess.run([*BEDSIDE, "sounds", "--config", str(bad)], capture_output=True).returncode == 78


TOMLISH = st.lists(st.sampled_from([*'[]{}="\'.,=#\n\\ \x00aéz019-+_eE:tf', "true", "false", "inf", "nan",
                                    "[audio]", "[[sounds]]", "device", "period_frames", "[mqtt]", "password"]),
                   max_size=80).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(TOMLISH, st.text(max_size=200)))
def test_no_text_makes_the_config_loader_fail_other_than_by_refusing(tmp_path, text):
    path = tmp_path / "fuzz.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        load(path)
    except ConfigError as error:
        assert str(error)


def test_log_lines_are_bounded_and_a_flood_is_counted_not_written(caplog):
    clock = [0.0]
    limited = RateLimitedLog(logging.getLogger("bedside.test"), per_minute=10, clock=lambda: clock[0])
    with caplog.at_level(logging.WARNING):
        for i in range(10_000):
            limited.warning("bad payload %d", i)
        assert len(caplog.records) == 10 and limited.held_back == 9_990
        clock[0] = 61.0
        limited.warning("bad payload again")
    assert "9990 more like the above" in caplog.text and caplog.records[-1].getMessage() == "bad payload again"


def test_a_huge_value_in_a_log_line_is_cut(tmp_path, capsys):
    """`bedside play --device <10 MB>` used to write the name into the log three times over."""
    assert main(["play", "pink", "--device", "x" * 1_000_000, "--seconds", "0.1"]) != 0
    err = capsys.readouterr().err
    assert len(err) < 2 * MAX_LINE_CHARS, len(err)
