"""Each config key is declared once (bedside/config.py): the example config, the defaults, the checks
and their documentation come from that one declaration and must agree."""

import re
import tomllib
from dataclasses import fields
from pathlib import Path

import pytest

from bedside.config import PATH, SECTIONS, Config, ConfigError, example_config, load, parse
from bedside.declare import Between, OneOf
from bedside.schedule import Entry

EXAMPLE = Path(__file__).parent.parent / "config" / "bedside.toml"
DECLARED = [(name, declaration) for name, section in SECTIONS.items() for declaration in fields(section)] + [
    ("schedule", declaration) for declaration in fields(Entry) if declaration.metadata.get("actions")]


def numbers_in(text: str) -> set[float]:
    return {float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", text)}


def test_the_example_config_is_made_from_the_declarations():
    assert EXAMPLE.read_text() == example_config(), "regenerate it: python -m bedside.config > config/bedside.toml"


def test_the_example_config_holds_every_default():
    assert parse(tomllib.loads(EXAMPLE.read_text()), EXAMPLE.parent) == Config()
    written = tomllib.loads(EXAMPLE.read_text())
    assert {name: set(table) for name, table in written.items()} == \
        {name: {f.name for f in fields(section)} for name, section in SECTIONS.items()}


@pytest.mark.parametrize(("section", "declaration"), DECLARED, ids=[f"{s}.{d.name}" for s, d in DECLARED])
def test_every_key_says_what_it_allows(section, declaration):
    doc, check = declaration.metadata["doc"], declaration.metadata["check"]
    assert doc.strip(), f"{section}.{declaration.name} has no doc"
    if isinstance(check, Between):
        assert {float(check.low), float(check.high)} <= numbers_in(doc), (doc, check.low, check.high)
    if isinstance(check, OneOf):
        assert all(str(choice) in doc for choice in check.choices), (doc, check.choices)


def test_a_schedule_entry_takes_exactly_its_actions_declared_keys(tmp_path):
    path = tmp_path / "bedside.toml"
    path.write_text('[[schedule]]\ndays = "daily"\nat = "07:00"\naction = "stop"\nrise_min = 5\n')
    with pytest.raises(ConfigError, match=r"schedule\[0\]\.rise_min: not a key of a 'stop' entry; allowed: "
                                          r"action, days, at, fade_min"):
        load(path)
    path.write_text('[[schedule]]\ndays = "daily"\nat = "07:00"\naction = "wake"\nsnooze_min = 61\n')
    with pytest.raises(ConfigError, match=r"schedule\[0\]\.snooze_min: must be between 0.1 and 60.0"):
        load(path)


def test_a_wrong_value_names_the_key_and_what_it_allows(tmp_path):
    path = tmp_path / "bedside.toml"
    path.write_text("[audio]\nperiods = 99\n")
    with pytest.raises(ConfigError, match=r"audio\.periods: must be between 2 and 16, got 99 \(.*line 2\)"):
        load(path)
    path.write_text("[audio]\nperoids = 3\n")
    with pytest.raises(ConfigError, match=r"audio\.peroids: unknown key; allowed: device, rate, period_frames"):
        load(path)


def test_a_steady_fill_deeper_than_the_buffer_names_both_keys(tmp_path):
    path = tmp_path / "bedside.toml"
    path.write_text("[audio]\nperiods = 4\nfill_periods = 5\n")
    with pytest.raises(ConfigError, match=r"audio\.fill_periods: must be at most audio\.periods \(4\)"):
        load(path)
    path.write_text("[audio]\nperiods = 4\nfill_periods = 4\n")
    assert load(path).audio.fill_periods == 4


def test_relative_paths_are_resolved_once_against_the_config_folder(tmp_path, monkeypatch):
    """The service runs in /run/bedside (and lgpio's folder): a relative path in the config must name
    the file beside the config for check-config and for use alike."""
    folder = tmp_path / "etc"
    (folder / "tls").mkdir(parents=True)
    for name in ("ca.pem", "client.pem", "client.key", "mqtt-password", "web-password"):
        (folder / "tls" / name).write_text("x")
    (folder / "bedside.toml").write_text(
        '[mqtt]\npassword_file = "tls/mqtt-password"\nca_file = "tls/ca.pem"\ncert_file = "tls/client.pem"\n'
        'key_file = "tls/client.key"\n[web]\npassword_file = "tls/web-password"\n[state]\ndirectory = "state"\n')
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    config = load(Path("../etc/bedside.toml"))
    resolved = [config.mqtt.password_file, config.mqtt.ca_file, config.mqtt.cert_file, config.mqtt.key_file,
                config.web.password_file]
    assert all(Path(p).is_absolute() and Path(p).is_file() for p in resolved), resolved
    assert Path(config.state.directory).is_absolute()
    assert Path(config.state.directory).resolve() == (folder / "state").resolve()
    declared_paths = {f"{s}.{d.name}" for s, d in DECLARED if d.metadata["kind"] is PATH}
    assert declared_paths == {"mqtt.password_file", "mqtt.ca_file", "mqtt.cert_file", "mqtt.key_file",
                              "web.password_file", "state.directory"}


@pytest.mark.parametrize("table", ['[state]\ndirectory = "~nosuchuser-bedside/x"\n',
                                   '[mqtt]\nca_file = "~nosuchuser-bedside/ca.pem"\n',
                                   '[[sounds]]\nname = "x"\nfile = "~nosuchuser-bedside/x.wav"\n'])
def test_a_path_in_an_unknown_users_home_is_a_config_error(tmp_path, table):
    path = tmp_path / "bedside.toml"
    path.write_text(table)
    with pytest.raises(ConfigError, match="home folder of a user this system does not have"):
        load(path)
