"""The configuration file: one TOML file, every key optional, every mistake named.

A bad config is reported with the key path, what was wrong, and what is allowed, before any
audio is touched. The appliance issue extends the sections; this module already validates
``[audio]``, ``[volume]``, ``[sound]`` and the ``[[sounds]]`` a user declares.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A config problem, with the key path it concerns."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


@dataclass(frozen=True)
class AudioConfig:
    device: str = "default"
    rate: int = 48000
    period_frames: int = 256
    periods: int = 4
    format: str = "auto"  # auto = S32_LE if the device takes it, else S16_LE


@dataclass(frozen=True)
class VolumeConfig:
    floor_db: float = -60.0
    ceiling_db: float = 0.0
    default: int = 30


@dataclass(frozen=True)
class SoundConfig:
    default: str = "brown"
    fade_in_s: float = 3.0
    stop_fade_s: float = 2.0
    crossfade_s: float = 2.0


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
    sounds: tuple[SoundDeclaration, ...] = ()
    path: Path | None = None


Check = Callable[[Any], str | None]  # returns what is allowed, if the value is not


def _between(low: float, high: float) -> Check:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}"


def _one_of(*choices: Any) -> Check:
    return lambda v: None if v in choices else f"must be one of {', '.join(map(repr, choices))}"


_SCHEMA: dict[str, tuple[type, dict[str, tuple[type, Check | None]]]] = {
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
    }),
    "sound": (SoundConfig, {
        "default": (str, None),
        "fade_in_s": (float, _between(0.1, 60.0)),
        "stop_fade_s": (float, _between(0.1, 60.0)),
        "crossfade_s": (float, _between(0.5, 30.0)),
    }),
}


def _typed(key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or isinstance(value, bool) or (kind is float and not math.isfinite(value)):
        raise ConfigError(key, f"must be {'a number' if kind is float else 'an integer' if kind is int else 'a string'}"
                               f", got {value!r}")
    return value


def _section(name: str, table: Any) -> Any:
    cls, keys = _SCHEMA[name]
    if not isinstance(table, dict):
        raise ConfigError(name, "must be a table")
    values = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{name}.{key}", f"unknown key; allowed: {', '.join(keys)}")
        kind, check = keys[key]
        value = _typed(f"{name}.{key}", value, kind)
        problem = check(value) if check else None
        if problem:
            raise ConfigError(f"{name}.{key}", f"{problem}, got {value!r}")
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
            raise ConfigError(f"{where}.{sorted(unknown)[0]}", "unknown key; allowed: name, description, file, layers")
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
                raise ConfigError(f"{lw}.level_db", f"must be between -60.0 and 0.0, got {level!r}")
            parsed.append((_typed(f"{lw}.sound", layer["sound"], str), level))
        out.append(SoundDeclaration(name, description, layers=tuple(parsed)))
    return tuple(out)


def parse(data: dict[str, Any], base: Path = Path(".")) -> Config:
    """Validate a parsed TOML document."""
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SCHEMA:
            sections[key] = _section(key, value)
        elif key == "sounds":
            sections["sounds"] = _sound_declarations(value, base)
        else:
            raise ConfigError(key, f"unknown section; allowed: {', '.join([*_SCHEMA, 'sounds'])}")
    volume = sections.get("volume", VolumeConfig())
    if volume.floor_db >= volume.ceiling_db:
        raise ConfigError("volume.floor_db", f"must be below volume.ceiling_db ({volume.ceiling_db})")
    return Config(**sections)


def load(path: Path | None) -> Config:
    """Read and validate a config file; ``None`` gives the defaults."""
    if path is None:
        return Config()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as error:
        raise ConfigError("", f"cannot read config {path}: {error.strerror}") from error
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("", f"{path}: invalid TOML: {error}") from error
    config = parse(data, path.parent)
    return Config(config.audio, config.volume, config.sound, config.sounds, path)
