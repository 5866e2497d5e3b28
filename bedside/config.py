"""The configuration file: one TOML file, every key optional, every mistake named.

A bad config is reported with the key path (and its line), what was wrong, and what is allowed,
before any audio is touched. ``config/bedside.toml`` documents every key.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bedside.audio.gain import VolumeScale
from bedside.schedule import ACTIONS, Entry, parse_days, parse_hhmm


class ConfigError(ValueError):
    """A config problem, with the key path it concerns."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclass(frozen=True)
class AudioConfig:
    device: str = "default"
    rate: int = 48000
    period_frames: int = 512
    periods: int = 3
    format: str = "auto"  # auto = S32_LE if the device takes it, else S16_LE


@dataclass(frozen=True)
class VolumeConfig:
    floor_db: float = -60.0
    ceiling_db: float = 0.0
    default: int = 30
    knob_step: int = 1  # volume steps per encoder detent

    def scale(self) -> VolumeScale:
        return VolumeScale(self.floor_db, self.ceiling_db)


@dataclass(frozen=True)
class SoundConfig:
    default: str = "brown"
    fade_in_s: float = 3.0
    stop_fade_s: float = 2.0
    crossfade_s: float = 2.0


@dataclass(frozen=True)
class TimerConfig:
    presets_min: tuple[float, ...] = (15.0, 30.0, 60.0, 90.0)
    mode: str = "cycle"  # cycle: each press steps to the next preset, then off; add: adds the first preset
    fade_min: float = 10.0  # the sleep fade's length (the whole timer, if that is shorter)
    darken: bool = False
    at_end: str = "stop"  # stop: the timer is off afterwards; stop-keep-timer: the next play re-arms it


@dataclass(frozen=True)
class ControlsConfig:
    """BCM pin numbers; ``False`` (or leaving a control unwired) disables it."""

    play_pin: int | bool = 17
    sound_pin: int | bool = 27
    timer_pin: int | bool = 22  # without one, a long press of play steps the timer
    encoder_a_pin: int | bool = 5
    encoder_b_pin: int | bool = 6
    encoder_button_pin: int | bool = 13  # the knob's push switch: a second play button
    pot_channel: int | bool = False  # MCP3008 channel for a potentiometer instead of the encoder
    led_pin: int | bool = 12
    led_brightness: float = 0.3  # 0–1: a bedroom at night is dark
    long_press_s: float = 0.8
    bounce_ms: float = 20.0
    #: "auto": real GPIO on a Raspberry Pi (its device tree says so), simulated pins elsewhere;
    #: "required": real GPIO or a loud error; "simulated": never touch the pins.
    gpio: str = "auto"

    def pins(self) -> dict[str, int]:
        """The GPIO pins in use, by key."""
        keys = ("play_pin", "sound_pin", "timer_pin", "encoder_a_pin", "encoder_b_pin", "encoder_button_pin",
                "led_pin")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not False}


@dataclass(frozen=True)
class MqttConfig:
    """Home Assistant over MQTT (off by default: the appliance works without it)."""

    enabled: bool = False
    host: str = "localhost"
    port: int = 1883
    client_id: str = ""  # default: bedside-<name>
    username: str = ""
    password: str = ""
    password_file: str = ""  # read at start; keeps the secret out of the config
    tls: bool = False
    ca_file: str = ""  # default: the system's CAs
    cert_file: str = ""
    key_file: str = ""
    tls_insecure: bool = False  # skip the host name check (never the CA check)
    keepalive: int = 60
    qos: int = 1
    base_topic: str = "bedside"
    name: str = ""  # default: the host name
    discovery: bool = True
    discovery_prefix: str = "homeassistant"
    fade_out_s: float = 120.0  # what Home Assistant's "fade out now" button does

    def device_name(self) -> str:
        import socket

        return self.name or re.sub(r"[^a-zA-Z0-9_-]", "-", socket.gethostname()) or "bedside"


@dataclass(frozen=True)
class StateConfig:
    directory: str = ""  # default: $STATE_DIRECTORY (systemd), else ~/.local/state/bedside
    resume_on_boot: bool = False


@dataclass(frozen=True)
class WebConfig:
    """The page the box serves for a phone. Local only; beyond this machine, a password."""

    enabled: bool = True
    listen: str = "127.0.0.1:8080"  # host:port; "0.0.0.0:8080" for the home network
    password_file: str = ""  # the password, alone in a file readable by the bedside user only
    allow_anonymous: bool = False  # written explicitly: listen beyond loopback without a password

    def address(self) -> tuple[str, int]:
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)

    def loopback_only(self) -> bool:
        import ipaddress

        host = self.address()[0]
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class ClockConfig:
    """Schedules fire on the wall clock, so it must be right: a Pi without a real-time clock boots
    with the time of its last shutdown until NTP corrects it."""

    require_synced: bool = True  # wait for NTP (systemd-timesyncd, or the kernel's NTP status)
    catch_up_min: float = 15.0  # an event missed by at most this long (late sync, restart) still runs
    timezone: str = ""  # an IANA name, e.g. "Europe/London"; default: the system's


@dataclass(frozen=True)
class SoundDeclaration:
    """A ``[[sounds]]`` entry: a recording (``file``) or a mix (``layers``)."""

    name: str
    description: str
    file: Path | None = None
    layers: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    volume: VolumeConfig = field(default_factory=VolumeConfig)
    sound: SoundConfig = field(default_factory=SoundConfig)
    timer: TimerConfig = field(default_factory=TimerConfig)
    controls: ControlsConfig = field(default_factory=ControlsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    state: StateConfig = field(default_factory=StateConfig)
    clock: ClockConfig = field(default_factory=ClockConfig)
    web: WebConfig = field(default_factory=WebConfig)
    sounds: tuple[SoundDeclaration, ...] = ()
    schedule: tuple[Entry, ...] = ()
    path: Path | None = None


Check = Callable[[Any], str | None]  # returns what is allowed, if the value is not

#: Keys whose values are never repeated in an error or a log line.
SECRET_KEYS = frozenset({"mqtt.password"})
#: The longest string any key takes (a path, a topic, a name): longer is a mistake or an attack,
#: and would be copied into every log line that names it.
MAX_STRING = 1024
#: A config file larger than this is not a config file.
MAX_FILE_BYTES = 1 << 20


def _key_name(key: str) -> str:
    """A key the user wrote, as an error names it: itself if short and printable, else shown."""
    return key if len(key) <= 60 and key.isprintable() else shown("", key)


def shown(key: str, value: Any) -> str:
    """A value as an error message may show it: secrets hidden, and never more than 60 characters."""
    if key in SECRET_KEYS:
        return "(hidden)"
    text = repr(value) if not isinstance(value, list | dict) or len(value) < 100 else f"<{type(value).__name__}>"
    return text if len(text) <= 60 else f"{text[:50]}… ({len(text)} characters)"


def _between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _one_of(*choices: Any) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.-]+")
_TOPIC = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")
PIN = "pin"  # a BCM GPIO number, or false
PRESETS = "presets"  # a non-empty list of minutes

_SCHEMA: dict[str, tuple[type, dict[str, tuple[Any, Check | None]]]] = {
    "audio": (AudioConfig, {
        "device": (str, None),
        "rate": (int, _one_of(44100, 48000, 88200, 96000)),
        "period_frames": (int, _between(32, 8192)),
        "periods": (int, _between(2, 16)),
        "format": (str, _one_of("auto", "S32_LE", "S16_LE")),
    }),
    "volume": (VolumeConfig, {
        "floor_db": (float, _between(-90.0, -10.0)),
        "ceiling_db": (float, _between(-40.0, 0.0)),
        "default": (int, _between(0, 100)),
        "knob_step": (int, _between(1, 20)),
    }),
    "sound": (SoundConfig, {
        "default": (str, None),
        "fade_in_s": (float, _between(0.1, 60.0)),
        "stop_fade_s": (float, _between(0.1, 60.0)),
        "crossfade_s": (float, _between(0.5, 30.0)),
    }),
    "timer": (TimerConfig, {
        "presets_min": (PRESETS, None),
        "mode": (str, _one_of("cycle", "add")),
        "fade_min": (float, _between(0.05, 240.0)),
        "darken": (bool, None),
        "at_end": (str, _one_of("stop", "stop-keep-timer")),
    }),
    "controls": (ControlsConfig, {
        "play_pin": (PIN, None), "sound_pin": (PIN, None), "timer_pin": (PIN, None),
        "encoder_a_pin": (PIN, None), "encoder_b_pin": (PIN, None), "encoder_button_pin": (PIN, None),
        "pot_channel": (PIN, lambda v: None if v is False or 0 <= v <= 7 else "must be an MCP3008 channel 0-7"),
        "led_pin": (PIN, None),
        "led_brightness": (float, _between(0.01, 1.0)),
        "long_press_s": (float, _between(0.3, 5.0)),
        "bounce_ms": (float, _between(0.0, 200.0)),
        "gpio": (str, _one_of("auto", "required", "simulated")),
    }),
    "mqtt": (MqttConfig, {
        "enabled": (bool, None),
        "host": (str, lambda v: None if v else "must not be empty"),
        "port": (int, _between(1, 65535)),
        "client_id": (str, None), "username": (str, None), "password": (str, None), "password_file": (str, None),
        "tls": (bool, None), "ca_file": (str, None), "cert_file": (str, None), "key_file": (str, None),
        "tls_insecure": (bool, None),
        "keepalive": (int, _between(5, 3600)),
        "qos": (int, _one_of(0, 1, 2)),
        "base_topic": (str, lambda v: None if _TOPIC.fullmatch(v) else "must be a topic without wildcards"),
        "name": (str, lambda v: None if not v or _TOPIC_LEVEL.fullmatch(v) else "must be one topic level"),
        "discovery": (bool, None),
        "discovery_prefix": (str, lambda v: None if _TOPIC.fullmatch(v) else "must be a topic without wildcards"),
        "fade_out_s": (float, _between(1.0, 7200.0)),
    }),
    "state": (StateConfig, {
        "directory": (str, None),
        "resume_on_boot": (bool, None),
    }),
    "web": (WebConfig, {
        "enabled": (bool, None),
        "listen": (str, lambda v: _listen_problem(v)),
        "password_file": (str, None),
        "allow_anonymous": (bool, None),
    }),
    "clock": (ClockConfig, {
        "require_synced": (bool, None),
        "catch_up_min": (float, _between(0.0, 180.0)),
        "timezone": (str, lambda v: None if not v or _zone_problem(v) is None else _zone_problem(v)),
    }),
}


def _listen_problem(listen: str) -> str | None:
    """Why ``listen`` is not "host:port" with an IP address (or localhost) and a port, or None."""
    import ipaddress

    host, colon, port = listen.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not colon or not port.isdigit() or not 1 <= int(port) <= 65535:
        return 'must be "address:port", e.g. "127.0.0.1:8080" or "0.0.0.0:8080"'
    if host != "localhost":
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return 'must be "address:port" with an IP address (or localhost), e.g. "0.0.0.0:8080"'
    return None


def _zone_problem(name: str) -> str | None:
    """Why ``name`` is not a time zone this system knows, or None."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "must be a time zone name this system knows, e.g. \"Europe/London\" (see timedatectl list-timezones)"
    return None


#: ``[[schedule]]`` keys: every action's, then each action's own (type, check, default).
_SCHEDULE_COMMON = ("action", "days", "at")
_SCHEDULE_KEYS: dict[str, dict[str, tuple[Any, Check | None]]] = {
    "start": {"sound": (str, None), "volume": (int, _between(1, 100)), "timer_min": (float, _between(0.0, 1440.0))},
    "wake": {"sound": (str, None), "volume": (int, _between(1, 100)), "rise_min": (float, _between(0.1, 180.0)),
             "stop_after_min": (float, _between(0.0, 1440.0)), "brighten": (bool, None),
             "snooze_min": (float, _between(0.1, 60.0))},
    "stop": {"fade_min": (float, _between(0.05, 240.0))},
}
MAX_SCHEDULE_ENTRIES = 64


def _typed(key: str, value: Any, kind: Any) -> Any:
    if kind is PIN:
        if value is False or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 27):
            return value
        raise ConfigError(key, f"must be a BCM GPIO number 0-27, or false for none; got {shown(key, value)}")
    if kind is PRESETS:
        if (isinstance(value, list) and value and len(value) <= 12
                and all(isinstance(v, int | float) and not isinstance(v, bool) and 0 < v <= 24 * 60 for v in value)):
            return tuple(float(v) for v in value)
        raise ConfigError(key, f"must be a list of 1-12 durations in minutes (0-1440), got {shown(key, value)}")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(key, f"must be true or false, got {shown(key, value)}")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is float and not math.isfinite(value)):
        raise ConfigError(key, f"must be {'a number' if kind is float else 'an integer' if kind is int else 'a string'}"
                               f", got {shown(key, value)}")
    if kind is str and (len(value) > MAX_STRING or "\0" in value):
        problem = "must not contain a NUL character" if "\0" in value else f"is longer than {MAX_STRING} characters"
        raise ConfigError(key, f"{problem}, got {shown(key, value)}")
    return value


def _section(name: str, table: Any) -> Any:
    cls, keys = _SCHEMA[name]
    if not isinstance(table, dict):
        raise ConfigError(name, "must be a table")
    values = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{name}.{_key_name(key)}", f"unknown key; allowed: {', '.join(keys)}")
        kind, check = keys[key]
        value = _typed(f"{name}.{key}", value, kind)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{name}.{key}", f"{problem}, got {shown(f'{name}.{key}', value)}")
        values[key] = value
    return cls(**values)


def _sound_declarations(entries: Any, base: Path) -> tuple[SoundDeclaration, ...]:
    if not isinstance(entries, list):
        raise ConfigError("sounds", "must be an array of tables ([[sounds]])")
    out = []
    for i, entry in enumerate(entries):
        where = f"sounds[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be a table")
        unknown = set(entry) - {"name", "description", "file", "layers"}
        if unknown:
            raise ConfigError(f"{where}.{_key_name(sorted(unknown)[0])}",
                              "unknown key; allowed: name, description, file, layers")
        name = _typed(f"{where}.name", entry.get("name"), str)
        description = _typed(f"{where}.description", entry.get("description", name), str)
        if ("file" in entry) == ("layers" in entry):
            raise ConfigError(where, "needs exactly one of 'file' (a recording) or 'layers' (a mix)")
        if "file" in entry:
            path = Path(_typed(f"{where}.file", entry["file"], str)).expanduser()
            path = path if path.is_absolute() else base / path
            if not path.is_file():
                raise ConfigError(f"{where}.file", f"no such file: {path}")
            out.append(SoundDeclaration(name, description, file=path))
            continue
        layers = entry["layers"]
        if not isinstance(layers, list) or not layers:
            raise ConfigError(f"{where}.layers", "must be a non-empty array of {sound = ..., level_db = ...}")
        parsed = []
        for j, layer in enumerate(layers):
            lw = f"{where}.layers[{j}]"
            if not isinstance(layer, dict) or set(layer) - {"sound", "level_db"} or "sound" not in layer:
                raise ConfigError(lw, "must be {sound = \"name\", level_db = number}")
            level = _typed(f"{lw}.level_db", layer.get("level_db", 0.0), float)
            if not -60.0 <= level <= 0.0:
                raise ConfigError(f"{lw}.level_db", f"must be between -60.0 and 0.0, got {shown('', level)}")
            parsed.append((_typed(f"{lw}.sound", layer["sound"], str), level))
        out.append(SoundDeclaration(name, description, layers=tuple(parsed)))
    return tuple(out)


def _schedule_entries(entries: Any) -> tuple[Entry, ...]:
    if not isinstance(entries, list):
        raise ConfigError("schedule", "must be an array of tables ([[schedule]])")
    if len(entries) > MAX_SCHEDULE_ENTRIES:
        raise ConfigError("schedule", f"at most {MAX_SCHEDULE_ENTRIES} entries, got {len(entries)}")
    out = []
    for i, entry in enumerate(entries):
        where = f"schedule[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be a table")
        action = entry.get("action")
        if action not in ACTIONS:
            raise ConfigError(f"{where}.action", f"must be one of {', '.join(map(repr, ACTIONS))}, "
                                                 f"got {shown('', action)}")
        own = _SCHEDULE_KEYS[action]
        for key in entry:
            if key not in _SCHEDULE_COMMON and key not in own:
                raise ConfigError(f"{where}.{_key_name(key)}", f"not a key of a {action!r} entry; allowed: "
                                                              f"{', '.join([*_SCHEDULE_COMMON, *own])}")
        for key in ("days", "at"):
            if key not in entry:
                raise ConfigError(f"{where}.{key}", "is required")
        try:
            days = parse_days(entry["days"])
        except ValueError as error:
            raise ConfigError(f"{where}.days", f"{error}, got {shown('', entry['days'])}") from None
        try:
            at = parse_hhmm(entry["at"])
        except ValueError as error:
            raise ConfigError(f"{where}.at", f"{error}, got {shown('', entry['at'])}") from None
        values: dict[str, Any] = {}
        for key, (kind, check) in own.items():
            if key in entry:
                value = _typed(f"{where}.{key}", entry[key], kind)
                problem = check(value) if check else None
                if problem:
                    raise ConfigError(f"{where}.{key}", f"{problem}, got {shown('', value)}")
                values[key] = value
        made = Entry(index=i, action=action, days=days, at=at, **values)
        if made.action == "wake" and made.stop_after_min and made.stop_after_min <= made.rise_min:
            raise ConfigError(f"{where}.stop_after_min", f"must be longer than rise_min ({made.rise_min:g}), "
                                                         "or 0 to play on")
        out.append(made)
    return tuple(out)


def parse(data: dict[str, Any], base: Path = Path(".")) -> Config:
    """Validate a parsed TOML document."""
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SCHEMA:
            sections[key] = _section(key, value)
        elif key == "sounds":
            sections["sounds"] = _sound_declarations(value, base)
        elif key == "schedule":
            sections["schedule"] = _schedule_entries(value)
        else:
            allowed = ", ".join([*_SCHEMA, "sounds", "schedule"])
            raise ConfigError(_key_name(key), f"unknown section; allowed: {allowed}")
    volume = sections.get("volume", VolumeConfig())
    if volume.floor_db >= volume.ceiling_db:
        raise ConfigError("volume.floor_db", f"must be below volume.ceiling_db ({volume.ceiling_db})")
    controls = sections.get("controls", ControlsConfig())
    written = set(data.get("controls", {}))
    seen: dict[int, str] = {}
    for key, pin in controls.pins().items():
        if pin in seen:
            other = seen[pin]
            if key not in written and other in written:  # name the key the user wrote
                key, other = other, key
            default = "" if other in written else " (its default: move it, or set it to false)"
            raise ConfigError(f"controls.{key}", f"GPIO {pin} is already used by controls.{other}{default}")
        seen[pin] = key
    if controls.pot_channel is not False and {7, 8, 9, 10, 11} & set(seen):
        busy = next(k for k, p in controls.pins().items() if p in {7, 8, 9, 10, 11})
        raise ConfigError(f"controls.{busy}", "GPIO 7-11 are the SPI bus the MCP3008 needs (pot_channel is set)")
    mqtt = sections.get("mqtt", MqttConfig())
    if mqtt.password and mqtt.password_file:
        raise ConfigError("mqtt.password_file", "give mqtt.password or mqtt.password_file, not both")
    if bool(mqtt.cert_file) != bool(mqtt.key_file):
        raise ConfigError("mqtt.cert_file", "a client certificate needs both cert_file and key_file")
    for key in ("password_file", "ca_file", "cert_file", "key_file"):
        value = getattr(mqtt, key)
        if value and not (Path(value).expanduser() if Path(value).is_absolute() else base / value).is_file():
            raise ConfigError(f"mqtt.{key}", f"no such file: {value}")
    web = sections.get("web", WebConfig())
    if web.password_file:
        path = Path(web.password_file).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            raise ConfigError("web.password_file", f"no such file: {web.password_file}")
    if web.enabled and not web.loopback_only() and not web.password_file and not web.allow_anonymous:
        raise ConfigError("web.listen", f"{web.listen} is reachable from other machines: give web.password_file, "
                                        "or write allow_anonymous = true to let anyone on the network in")
    return Config(**sections)


def _line_of(text: str, key: str) -> int | None:
    """The line a key path is written on, where that can be found (TOML parsers do not say)."""
    table, _, name = key.rpartition(".")
    if re.fullmatch(r"\w+\[\d+\]", key):  # "schedule[1]": the entry itself
        table, name = key, ""
    current = ""
    seen: dict[str, int] = {}  # [[array]] headers so far: its entries are named array[0], array[1]…
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("[["):
            array = stripped.strip("[] ")
            seen[array] = seen.get(array, -1) + 1
            current = f"{array}[{seen[array]}]"
            if current == table and not name:
                return number
        elif stripped.startswith("["):
            current = stripped.strip("[] ")
            if current == key:
                return number
        elif current == table and re.match(rf"{re.escape(name)}\s*=", stripped):
            return number
    return None


def load(path: Path | None) -> Config:
    """Read and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES:
            raise ConfigError("", f"{path}: larger than {MAX_FILE_BYTES // 1024} KiB: not a config file")
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except OSError as error:
        raise ConfigError("", f"cannot read config {path}: {error.strerror}") from error
    except RecursionError:  # tomllib recurses per nesting level: "x = [[[[…" must not be a traceback
        raise ConfigError("", f"{path}: invalid TOML: nested too deeply") from None
    except UnicodeDecodeError as error:
        raise ConfigError("", f"{path}: not UTF-8 text: {error}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("", f"{path}: invalid TOML: {error}") from error
    except ValueError as error:  # e.g. an integer of more than 4300 digits
        raise ConfigError("", f"{path}: invalid TOML: {str(error)[:100]}") from None
    try:
        config = parse(data, path.parent)
    except ConfigError as error:
        raise with_line(error, path, text) from None
    return replace(config, path=path)


def with_line(error: ConfigError, path: Path | None, text: str | None = None) -> ConfigError:
    """The same error, naming the file and line of its key where that can be found."""
    if path is None or " line " in str(error):
        return error
    try:
        line = _line_of(text if text is not None else path.read_text(encoding="utf-8"), error.key)
    except OSError:
        line = None
    if line is None:
        return error
    return ConfigError(error.key, f"{str(error).split(': ', 1)[1]} ({path}, line {line})")
