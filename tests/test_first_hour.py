"""A Pi owner's first hour: the README's steps typed by a normal user after `make install`.

The install puts the config in a 0750 root:bedside folder (it may hold a password). A user outside
that group who runs `bedside doctor`, `bedside sounds` or `bedside play` used to get a traceback
(``Path.exists`` raises on EACCES). Here the test process drops its effective uid to ``nobody``
around each call, so the kernel's own permission checks are what refuses, not a stub.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from bedside import daemon
from bedside.cli import main
from bedside.config import ConfigError, load

ROOT = Path(__file__).parent.parent


@pytest.fixture
def service_config(monkeypatch):
    """/etc/bedside as make install leaves it: a 0750 root:root folder, a 0640 config, in a folder
    anyone may pass through (pytest's own tmp_path is under a 0700 one)."""
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="bedside-etc-"))
    top.chmod(0o755)
    etc = top / "etc-bedside"
    etc.mkdir(mode=0o750)
    config = etc / "bedside.toml"
    shutil.copy(ROOT / "config" / "bedside.toml", config)
    config.chmod(0o640)
    monkeypatch.setattr(daemon, "SYSTEM_CONFIG", config)
    monkeypatch.delenv("BEDSIDE_CONFIG", raising=False)
    yield config
    shutil.rmtree(top)


@contextmanager
def as_nobody():
    if os.geteuid() != 0:
        pytest.fail("the tests run as root (make test): this one becomes another user for a moment")
    nobody = pwd.getpwnam("nobody")
    os.setegid(nobody.pw_gid)  # the group too: root's group may read a 0750 root:root folder
    os.seteuid(nobody.pw_uid)
    try:
        yield "nobody"
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_a_config_the_user_may_not_read_is_one_line_naming_the_file_and_the_group(service_config, capsys):
    with as_nobody() as user:
        assert daemon.default_config_path(None, {}) == service_config  # there, though not for us
        with pytest.raises(ConfigError) as refused:
            load(service_config)
        assert main(["sounds"]) == 78
    message = str(refused.value)
    assert f"cannot read config {service_config}: permission denied" in message
    assert f"sudo adduser {user} root" in message and "use sudo" in message
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "adduser" in err


def test_doctor_as_a_normal_user_says_what_it_could_not_see_and_checks_the_rest(service_config, capsys):
    main(["doctor"])  # as root first: this machine's Python lives in /root, where nobody cannot import from
    capsys.readouterr()
    with as_nobody():
        code = main(["doctor"])
    out = capsys.readouterr().out
    assert code == 1 and "Traceback" not in out
    lines = out.splitlines()
    assert lines[0].startswith("[FAIL] config: cannot read config") and "built-in defaults" in lines[0]
    # ...and the rest is still looked at, as the defaults describe it.
    for check in ("lgpio", "ALSA PCMs", "audio device", "GPIO", "state directory", "clock", "web page", "MQTT"):
        assert any(line.split("] ", 1)[1].startswith(check) for line in lines), (check, out)


def test_doctor_says_where_lgpio_comes_from(capsys, tmp_path):
    """Off a Pi it is usually absent; the line is there either way (on a Pi: Debian's or PyPI's)."""
    config = tmp_path / "bedside.toml"
    config.write_text("")
    main(["--config", str(config), "doctor"])
    line = next(line for line in capsys.readouterr().out.splitlines() if "] lgpio:" in line)
    assert any(word in line for word in ("not installed", "from PyPI", "from the distribution"))


def test_render_says_it_rendered_and_does_not_claim_to_be_playing(tmp_path, capsys):
    out_file = tmp_path / "rain.wav"
    config = tmp_path / "bedside.toml"
    config.write_text("")
    assert main(["--config", str(config), "render", "rain", "--seconds", "1", "-o", str(out_file)]) == 0
    captured = capsys.readouterr()
    assert f"rendered rain: 1 s to {out_file}" in captured.out
    assert "playing" not in captured.out + captured.err and out_file.stat().st_size > 48000 * 4


def test_make_clean_removes_every_build_artefact(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for artefact in ("build/lib/bedside", "bedside.egg-info", "bedside/__pycache__", ".pytest_cache",
                     ".ruff_cache", ".hypothesis", ".venv-bookworm"):
        (clone / artefact).mkdir(parents=True, exist_ok=True)
    subprocess.run(["make", "-s", "clean", "VENV=.venv-of-this-test"], cwd=clone, check=True)
    left = [p.name for p in clone.rglob("*") if p.name in ("build", "bedside.egg-info", "__pycache__",
                                                             ".pytest_cache", ".ruff_cache", ".hypothesis",
                                                             ".venv-bookworm")]
    assert not left, left


def test_make_install_builds_from_a_copy_not_in_the_clone():
    """pip as root in the owner's clone left a root-owned build/ and egg-info there."""
    script = (ROOT / "scripts" / "install.sh").read_text()
    install = next(line for line in script.splitlines() if '/venv/bin/pip" install' in line and "--upgrade" not in line)
    assert '"$build"' in install and 'install -q .' not in script
    # and as bytecode: the service cannot write it into /opt, and would compile every module each start
    assert "--compile" in install
