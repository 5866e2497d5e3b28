"""The configuration file: one TOML file, every key optional, every mistake named.

A bad config is reported with the key path (and its line), what was wrong, and what is allowed,
before any audio is touched. ``config/bedside.toml`` documents every key.
"""

from __future__ import annotations

import grp
import json
import math
import os
import pwd
import re
import textwrap
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bedside.audio.gain import VolumeScale
from bedside.commands import DEFAULT_VOLUME
from bedside.declare import Between, Check, OneOf, setting
from bedside.profiles import (
    BUILTIN_PROFILES,
    MAX_PROFILES,
    NAME_PATTERN,
    PROFILE_KEYS,
    Profile,
    describe,
    profiles_with,
)
from bedside.schedule import ACTION_DOCS, ACTIONS, Entry, parse_days, parse_hhmm


class ConfigError(ValueError):
    """A config problem, with the key path it concerns."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key


PIN = "pin"  # a BCM GPIO number, or false
PRESETS = "presets"  # a non-empty list of minutes
PATH = "path"  # a file or folder: relative to the config file's folder, made absolute when read


def resolve_path(value: str, base: Path, key: str = "") -> str:
    """The one place a path from the config is resolved: ``~`` expanded, a relative path taken from
    the config file's folder (``base``), and made absolute, so that the service's working directory
    (/run/bedside, or lgpio's) never changes what it names. Empty stays empty (not set)."""
    if not value:
        return value
    try:
        path = Path(value).expanduser()
    except RuntimeError:  # "~nosuchuser/…": no such home
        raise ConfigError(key, f"names the home folder of a user this system does not have: "
                               f"{shown(key, value)}") from None
    return str(path if path.is_absolute() else base.absolute() / path)


_TOPIC_LEVEL = re.compile(r"[A-Za-z0-9_.-]+")
_TOPIC = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def _topic(value: str) -> str | None:
    return None if _TOPIC.fullmatch(value) else "must be a topic without wildcards"


@dataclass(frozen=True)
class AudioConfig:
    device: str = setting("default", "ALSA PCM to play on. `aplay -L` or `bedside play --device nosuch` lists the "
                                     "names.")
    rate: int = setting(48000, "Sample rate in Hz: 44100, 48000, 88200 or 96000.", OneOf(44100, 48000, 88200, 96000))
    period_frames: int = setting(512, (
        "Frames per ALSA period (32–8192). The player wakes once per period and writes it (every two periods, "
        "writing two, once the device is down from its brace and nobody turns the knob). "
        "What the device holds is the margin that a late wake-up (a busy CPU) eats before the sound stops, and "
        "what a command (a knob detent) waits behind before it is heard. So the device is kept at its whole "
        "buffer of periods for a minute after a start, while a sound is built and crossfaded in, and for a "
        "minute after a wake-up came late or the device ran dry (512 × 12: 128 ms); then a period less every "
        "30 s while the CPU keeps up, "
        "down to fill_periods. 94 wake-ups a second cost half of what 256 × 4 does; two periods a wake-up "
        "cost the daemon a third to a half less again. (Smaller periods wake more often: more CPU. ALSA may "
        "round it: `bedside doctor` shows what the device granted.)"),
        Between(32, 8192))
    periods: int = setting(12, (
        "Periods in the device's buffer (2–16): the most it holds, kept full for a minute after a start, while "
        "a sound is built and crossfaded in, and for a minute after the player woke late (a busy CPU). Under a "
        "CPU quota (a container) a thread can be billed for more than the quota in one go (time the host took "
        "while it was on the CPU), and the process then waits it out, throttled, for up to 60 ms: 6 periods "
        "(64 ms) ran dry in 2 of 3 runs of surf at 10% of a core, 12 (128 ms) in none of 5 (2026-12-07)."),
        Between(2, 16))
    fill_periods: int = setting(2, (
        "Periods kept queued once the CPU has kept up for a while (1–16, at most periods): what a knob detent "
        "waits behind before it is heard (512 × 2 at 48 kHz: a detent reaches the DAC in 12 ms, p99 24 ms; "
        "kept at 4, p99 54 ms). With 12 periods it is reached 360 s after a start or the last late wake-up; "
        "while the knob turns (for 10 s after a detent) at once, unless a sound is being built or the CPU is "
        "short (a late wake-up or underrun in the last minute, the process throttled by a CPU quota, or a "
        "quota under half a core: such a box gives up the knob's 21 ms for the whole buffer's 128)."),
        Between(1, 16))
    format: str = setting("auto", (
        'Sample format: "auto" (32-bit if the device takes it, else 16-bit with TPDF dither), "S32_LE" or '
        '"S16_LE". At the quietest steps, 16-bit output is mostly dither: prefer 32.'),
        OneOf("auto", "S32_LE", "S16_LE"))


@dataclass(frozen=True)
class VolumeConfig:
    """Volume runs 0–100 in equal dB steps: 0 is silence, 1 is floor_db, 100 is ceiling_db."""

    floor_db: float = setting(-60.0, "The level of step 1, -90.0 to -10.0 dB. The default puts it a whisper above "
                                 "silence.", Between(-90.0, -10.0))
    ceiling_db: float = setting(0.0, "The level of step 100, -40.0 to 0.0 dB. At 0 dB every sound plays at -30 LUFS.",
                            Between(-40.0, 0.0))
    default: int = setting(DEFAULT_VOLUME, "The volume at first start (0–100); afterwards the last volume is "
                                       "remembered.", Between(0, 100))
    knob_step: int = setting(1, "Volume steps per detent of the rotary encoder (1–20).", Between(1, 20))

    def scale(self) -> VolumeScale:
        return VolumeScale(self.floor_db, self.ceiling_db)


@dataclass(frozen=True)
class SoundConfig:
    default: str = setting("brown", "The sound played first (afterwards the last sound is remembered), and by "
                                "`bedside play`.")
    fade_in_s: float = setting(3.0, "Seconds to fade in from silence when a sound starts (0.1–60), linear in dB.",
                           Between(0.1, 60.0))
    stop_fade_s: float = setting(2.0, "Seconds to fade out to exact silence when stopped (0.1–60), linear in dB.",
                             Between(0.1, 60.0))
    crossfade_s: float = setting(2.0, "Seconds of equal-power crossfade when switching sounds (0.5–30).",
                             Between(0.5, 30.0))


@dataclass(frozen=True)
class TimerConfig:
    presets_min: tuple[float, ...] = setting((15.0, 30.0, 60.0, 90.0), "The sleep timer presets in minutes (1–12 of "
                                                                   "them, up to 1440 each).", kind=PRESETS)
    mode: str = setting("cycle", (
        '"cycle": each press of the timer button steps to the next preset, then off.\n'
        '"add": each press adds the first preset\'s minutes; past the longest preset, it turns off.'),
        OneOf("cycle", "add"))
    fade_min: float = setting(10.0, (
        "Minutes of sleep fade before the timer ends (0.05–240; the whole timer, if that is shorter). The fade is "
        "linear in dB from the current volume to -100 dBFS, then exact silence."), Between(0.05, 240.0))
    darken: bool = setting(False, "Also darken the sound as it fades (a low-pass gliding from 18 kHz to 400 Hz).")
    at_end: str = setting("stop", (
        'What happens at the end: "stop" (stop, and the timer is off next time) or "stop-keep-timer" (stop; the '
        "next play re-arms the same timer: for a nightly habit)."), OneOf("stop", "stop-keep-timer"))


@dataclass(frozen=True)
class ControlsConfig:
    """BCM GPIO numbers, matching the wiring in hardware.md. Set any of them to false if that control
    is not fitted. Buttons connect the pin to ground (internal pull-ups are used)."""

    play_pin: int | bool = setting(17, "Play/stop. A long press steps the sleep timer when there is no timer button.",
                               kind=PIN)
    sound_pin: int | bool = setting(27, "Next sound (short press) / previous sound (long press).", kind=PIN)
    timer_pin: int | bool = setting(22, "Sleep timer: each press steps the presets, confirmed by a soft dip in the "
                                    "sound and LED blinks. A long press starts (or ends) the breathing guide.",
                                    kind=PIN)
    encoder_a_pin: int | bool = setting(5, "KY-040 rotary encoder CLK: one detent = knob_step volume steps.", kind=PIN)
    encoder_b_pin: int | bool = setting(6, "KY-040 rotary encoder DT.", kind=PIN)
    encoder_button_pin: int | bool = setting(13, (
        "The encoder's push switch (SW): a second play button; held, the next profile (sleep, unwind, focus, nap, "
        "your own), confirmed by a soft dip; during a wake-up, held, it snoozes."), kind=PIN)
    pot_channel: int | bool = setting(False, (
        "Instead of the encoder: a potentiometer on an MCP3008 ADC channel (0–7), read over SPI (enable SPI with "
        "raspi-config; GPIO 7–11 are then taken). Smoothed, with hysteresis. false = none."),
        lambda v: None if v is False or 0 <= v <= 7 else "must be an MCP3008 channel 0-7", kind=PIN)
    led_pin: int | bool = setting(12, (
        "A LED (with a resistor) on a PWM-capable pin: a dim glow while playing, a slow breath while a sleep timer "
        "runs, two blinks to confirm a press, dark when stopped — but for a brief, dim double blink as the sound "
        "stops when a wake-up is set for the morning."), kind=PIN)
    led_brightness: float = setting(0.3, "LED brightness 0.01–1.0: a bedroom at night is dark.", Between(0.01, 1.0))
    long_press_s: float = setting(0.8, "Seconds a press must last to count as a long press (0.3–5).", Between(0.3, 5.0))
    bounce_ms: float = setting(20.0, "Contact bounce filter in milliseconds (0–200): edges this close to the last are "
                                 "ignored.", Between(0.0, 200.0))
    gpio: str = setting("auto", (
        'Which pins: "auto" uses real GPIO on a Raspberry Pi (its device tree says so) and simulated pins anywhere '
        'else; "required" insists on real GPIO; "simulated" never touches them. Where real GPIO is expected and '
        'does not work, bedside logs an error with the reason, shows "GPIO FAILED" in `systemctl status`, '
        "`bedside doctor` fails, and the sound plays on (MQTT and the timer work)."),
        OneOf("auto", "required", "simulated"))

    def pins(self) -> dict[str, int]:
        """The GPIO pins in use, by key."""
        keys = ("play_pin", "sound_pin", "timer_pin", "encoder_a_pin", "encoder_b_pin", "encoder_button_pin",
                "led_pin")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not False}


@dataclass(frozen=True)
class MqttConfig:
    """Home Assistant over MQTT, with discovery: the box appears as a device with a play switch, a
    volume slider, a sound select, a sleep timer select, a timer-remaining sensor and a fade-out
    button. Local only: a broker on your network (usually Mosquitto). Off by default."""

    enabled: bool = setting(False, "Connect to the broker (the appliance works without it).")
    host: str = setting("localhost", "The broker's host name or address.", lambda v: None if v else "must not be empty")
    port: int = setting(1883, "The broker's port (1–65535): 1883 plain, usually 8883 with TLS.", Between(1, 65535))
    client_id: str = setting("", 'Empty: "bedside-<name>".')
    username: str = setting("", "Empty: connect without logging in.")
    password: str = setting("", "The password, or better password_file. Not both.")
    password_file: str = setting("", "A file holding the password, readable by the bedside user only (relative: to "
                                 "this file's folder).", kind=PATH)
    tls: bool = setting(False, "Connect with TLS.")
    ca_file: str = setting("", "The CA that signed the broker's certificate; empty: the system's CAs.", kind=PATH)
    cert_file: str = setting("", "A client certificate (needs key_file too).", kind=PATH)
    key_file: str = setting("", "The client certificate's key (needs cert_file too).", kind=PATH)
    tls_insecure: bool = setting(False, "Skip the check that the broker's certificate names its host (the CA is "
                                    "still checked).")
    keepalive: int = setting(60, 'Seconds between keep-alive pings (5–3600); the broker publishes "offline" if they '
                             "stop.", Between(5, 3600))
    qos: int = setting(1, "QoS of commands and state (0, 1 or 2).", OneOf(0, 1, 2))
    base_topic: str = setting("bedside", (
        "Topics: <base_topic>/<name> (state), <base_topic>/<name>/set (commands), <base_topic>/<name>/availability "
        "(online/offline)."), _topic)
    name: str = setting("", "The device's topic level and name in Home Assistant. Empty: the host name.",
                    lambda v: None if not v or _TOPIC_LEVEL.fullmatch(v) else "must be one topic level")
    discovery: bool = setting(True, (
        "Publish Home Assistant discovery configs under <discovery_prefix>/<component>/... Besides the entities "
        "above: a wake-up switch, the wake-up time (a text entity, HH:MM) and the next scheduled event (a timestamp "
        "sensor). A wake-up time or switch set from Home Assistant is remembered across restarts and overrides the "
        'first "wake" entry below until it is changed there again.'))
    discovery_prefix: str = setting("homeassistant", "Home Assistant's discovery prefix (its MQTT integration's "
                                                 "setting).", _topic)
    fade_out_s: float = setting(120.0, "Seconds of fade when Home Assistant's \"fade out now\" button is pressed "
                                   "(1–7200).", Between(1.0, 7200.0))

    def device_name(self) -> str:
        import socket

        return self.name or re.sub(r"[^a-zA-Z0-9_-]", "-", socket.gethostname()) or "bedside"


@dataclass(frozen=True)
class StateConfig:
    directory: str = setting("", (
        "Where the last sound, volume and timer are remembered. Empty: $STATE_DIRECTORY (set by systemd to "
        "/var/lib/bedside), else ~/.local/state/bedside."), kind=PATH)
    resume_on_boot: bool = setting(False, "Start playing at boot if it was playing when it was switched off.")


@dataclass(frozen=True)
class WebConfig:
    """A page for the phone, served by the box itself: play/stop, the sound, the volume, the sleep
    timer, "fade out now", the wake-up, and a picture of the night's planned level, live. Every
    asset comes from the box (nothing from the internet). `bedside doctor` prints its address."""

    enabled: bool = setting(True, "Serve the page.")
    listen: str = setting("127.0.0.1:8080", (
        'address:port to listen on. The default answers this machine only; "0.0.0.0:8080" opens it to the home '
        "network, which needs password_file (or allow_anonymous = true, written out: mosquitto's rule)."),
        lambda v: _listen_problem(v))
    password_file: str = setting("", (
        "The password, alone in a file readable by the bedside user only. A login keeps a phone logged in for 30 "
        "days (a new password logs every phone out); wrong passwords are rate-limited."), kind=PATH)
    allow_anonymous: bool = setting(False, "true: anyone on the network may use the page without a password. Only if "
                                       "you mean it.")

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
    """Schedules fire on the wall clock, so it must be right. A Raspberry Pi has no real-time clock: it
    boots with the time it last saved and jumps when NTP answers."""

    require_synced: bool = setting(True, (
        "Nothing fires until the clock is synchronised (systemd-timesyncd's flag, or timedatectl's "
        "NTPSynchronized), logged once. Set it to false only if the box keeps time without a network (a Pi 5 with "
        "its battery, an RTC HAT) — `bedside doctor` shows what the clock is doing."))
    catch_up_min: float = setting(15.0, (
        "An event missed by at most this many minutes (0–180) — a late sync, a restart — still runs; a wake-up then "
        "rises over what is left of its rise. Anything older is skipped with a log line."), Between(0.0, 180.0))
    timezone: str = setting("", (
        'An IANA time zone name such as "Europe/London". Empty: the system\'s (`timedatectl set-timezone`). Summer '
        "time is followed: a time that does not exist on the night the clocks go forward fires at the first minute "
        "after it; one that happens twice when they go back fires once."),
        lambda v: None if not v or _zone_problem(v) is None else _zone_problem(v))


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
    profiles: tuple[Profile, ...] = ()
    path: Path | None = None


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


#: The tables of the file, in the order the example config shows them.
SECTIONS: dict[str, type] = {"audio": AudioConfig, "volume": VolumeConfig, "sound": SoundConfig,
                             "timer": TimerConfig, "controls": ControlsConfig, "mqtt": MqttConfig,
                             "web": WebConfig, "state": StateConfig, "clock": ClockConfig}


def declared(section: type) -> dict[str, tuple[Any, Check | None]]:
    """A section's keys as declared: name → (kind, check)."""
    return {f.name: (f.metadata["kind"], f.metadata["check"]) for f in fields(section)}


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
    action: {f.name: (f.metadata["kind"], f.metadata["check"]) for f in fields(Entry)
             if action in f.metadata.get("actions", ())}
    for action in ACTIONS
}
MAX_SCHEDULE_ENTRIES = 64


def _typed(key: str, value: Any, kind: Any) -> Any:
    if kind is PATH:
        kind = str
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


def _checked(key: str, value: Any, check: Check | None) -> Any:
    """``value``, if ``check`` allows it; else a ConfigError naming ``key`` and showing the value."""
    problem = check(value) if check else None
    if problem:
        raise ConfigError(key, f"{problem}, got {shown(key, value)}")
    return value


def _section(name: str, table: Any, base: Path) -> Any:
    cls = SECTIONS[name]
    keys = declared(cls)
    if not isinstance(table, dict):
        raise ConfigError(name, "must be a table")
    values = {}
    for key, value in table.items():
        if key not in keys:
            raise ConfigError(f"{name}.{_key_name(key)}", f"unknown key; allowed: {', '.join(keys)}")
        kind, check = keys[key]
        value = _typed(f"{name}.{key}", value, kind)
        if kind is PATH:
            value = resolve_path(value, base, f"{name}.{key}")
        values[key] = _checked(f"{name}.{key}", value, check)
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
            path = Path(resolve_path(_typed(f"{where}.file", entry["file"], str), base, f"{where}.file"))
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
                values[key] = _checked(f"{where}.{key}", _typed(f"{where}.{key}", entry[key], kind), check)
        made = Entry(index=i, action=action, days=days, at=at, **values)
        if made.action == "wake" and made.stop_after_min and made.stop_after_min <= made.rise_min:
            raise ConfigError(f"{where}.stop_after_min", f"must be longer than rise_min ({made.rise_min:g}), "
                                                         "or 0 to play on")
        out.append(made)
    return tuple(out)


def _profile_entries(entries: Any) -> tuple[Profile, ...]:
    if not isinstance(entries, list):
        raise ConfigError("profile", "must be an array of tables ([[profile]])")
    if len(entries) > MAX_PROFILES:
        raise ConfigError("profile", f"at most {MAX_PROFILES} entries, got {len(entries)}")
    out: dict[str, Profile] = {}
    for i, entry in enumerate(entries):
        where = f"profile[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(where, "must be a table")
        name = _typed(f"{where}.name", entry.get("name"), str) if "name" in entry else None
        if name is None or not re.fullmatch(NAME_PATTERN, name):
            raise ConfigError(f"{where}.name", "is required: 1-32 of a-z, 0-9 and '-', e.g. \"reading\", got "
                                               f"{shown('', name)}")
        if name in out:
            raise ConfigError(f"{where}.name", f"{name!r} is declared twice")
        values: dict[str, Any] = {}
        for key, value in entry.items():
            if key == "name":
                continue
            if key not in PROFILE_KEYS:
                raise ConfigError(f"{where}.{_key_name(key)}", f"unknown key; allowed: name, {', '.join(PROFILE_KEYS)}")
            kind, check = PROFILE_KEYS[key]
            values[key] = _checked(f"{where}.{key}", _typed(f"{where}.{key}", value, kind), check)
        made = Profile(name, **values)
        if made.session_min and made.wake_after_min:
            raise ConfigError(f"{where}.wake_after_min", "a profile is a focus session or a nap, not both")
        if made.timer_min and (made.session_min or made.wake_after_min):
            raise ConfigError(f"{where}.timer_min", "a focus session or a nap ends by itself: no sleep timer")
        out[name] = made
    return tuple(out.values())


def parse(data: dict[str, Any], base: Path = Path(".")) -> Config:
    """Validate a parsed TOML document."""
    sections: dict[str, Any] = {}
    for key, value in data.items():
        if key in SECTIONS:
            sections[key] = _section(key, value, base)
        elif key == "sounds":
            sections["sounds"] = _sound_declarations(value, base)
        elif key == "schedule":
            sections["schedule"] = _schedule_entries(value)
        elif key == "profile":
            sections["profiles"] = _profile_entries(value)
        else:
            allowed = ", ".join([*SECTIONS, "sounds", "schedule", "profile"])
            raise ConfigError(_key_name(key), f"unknown section; allowed: {allowed}")
    known = profiles_with(sections.get("profiles", ()))
    for entry in sections.get("schedule", ()):
        if entry.action == "profile" and entry.profile not in known:
            raise ConfigError(f"{entry.name}.profile", f"no profile {shown('', entry.profile)}; "
                                                       f"there are {', '.join(known)}")
    audio = sections.get("audio", AudioConfig())
    if audio.fill_periods > audio.periods:
        raise ConfigError("audio.fill_periods", f"must be at most audio.periods ({audio.periods})")
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
        if value and not Path(value).is_file():
            raise ConfigError(f"mqtt.{key}", f"no such file: {value}")
    web = sections.get("web", WebConfig())
    if web.password_file and not Path(web.password_file).is_file():
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
    except PermissionError:
        raise ConfigError("", f"cannot read config {path}: permission denied{_access_hint(path)}") from None
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


def _access_hint(path: Path) -> str:
    """Who may read ``path`` (or the folder that keeps this user out), and how to become one of them."""
    blocked, info = path, None
    for place in (path, *path.parents):  # the file, else the deepest folder we may look at but not into
        try:
            blocked, info = place, place.stat()
            break
        except OSError:
            continue
    try:
        group = grp.getgrgid(info.st_gid).gr_name if info is not None else ""
    except KeyError:
        group = str(info.st_gid) if info is not None else ""
    if not group:
        return ""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = "$USER"
    return (f" ({blocked} is for root and the group {group!r}: use sudo, or join the group with "
            f"`sudo adduser {user} {group}` and log in again)")


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


#: The example config's opening comment (``config/bedside.toml``; the rest is made from the keys).
EXAMPLE_HEADER = """\
# bedside — example configuration, with every key at its default.
#
# bedside reads --config FILE, else $BEDSIDE_CONFIG, else /etc/bedside/bedside.toml (where
# `make install` puts this file). Every key is optional: an empty file is a valid config.
# `bedside check-config FILE` validates without touching hardware; a mistake is reported with its
# key path, its line and what is allowed, and exits with status 78. `bedside run` checks first
# and refuses to start on an invalid config; SIGHUP (systemctl reload bedside) re-reads it.

"""

#: After the tables: how to write schedules and your own sounds (arrays of tables, all optional);
#: ``{actions}`` is each action's keys, from their declarations on :class:`~bedside.schedule.Entry`.
EXAMPLE_TAIL = """\
# Schedules: what the box does by itself. Each [[schedule]] entry has
#   days   = "daily", "weekdays", "weekends", or a list such as ["mon", "wed", "fri"]
#   at     = "HH:MM", 24-hour local time
#   action = "start", "wake" or "stop", and the keys of that action:
{actions}# `bedside schedule` lists the next 7 days of events, and why any will not fire.
#
# [[schedule]]
# days = "daily"
# at = "22:30"
# action = "start"
# sound = "rain"
# volume = 25
# timer_min = 60
#
# [[schedule]]
# days = "weekdays"
# at = "06:45"
# action = "wake"
# sound = "birds"
# volume = 45
# rise_min = 20
# brighten = true
# stop_after_min = 90
#
# [[schedule]]
# days = "weekends"
# at = "08:30"
# action = "wake"
# rise_min = 30

# Your own sounds. Each [[sounds]] entry is either a recording or a mix of other sounds.
#
# A recording: a WAV, FLAC or OGG file (relative paths are relative to this file). Any rate and
# channel count is converted. It plays forever without a seam: a short file loops with a 3 s
# equal-power crossfade at the wrap; a long one is played in random 20–60 s segments joined by
# crossfades, so it never replays in the same order. Its loudness is matched to the built-ins.
#
# [[sounds]]
# name = "cabin"
# description = "Rain on the cabin roof, recorded last summer"
# file = "sounds/cabin-rain.flac"
#
# A mix: layers of sounds (built-in or declared above) with levels in dB (-60 to 0, default 0).
# The mix as a whole is brought back to the same loudness as every other sound.
#
# [[sounds]]
# name = "rainy-night"
# description = "Rain over brown noise"
# layers = [{ sound = "rain" }, { sound = "brown", level_db = -12 }]

# Profiles: one choice (the page, Home Assistant's select, MQTT {"profile": "focus"}, a schedule
# entry with action = "profile") sets up a whole use of the box. Built in:
{builtins}# A [[profile]] entry with one of these names replaces it; any other name (1-32 of a-z, 0-9, -)
# adds one. Its keys besides name:
{profile_keys}#
# [[profile]]
# name = "reading"
# description = "A fan for an hour of reading, then it fades"
# sound = "fan"
# volume = 25
# timer_min = 60
"""
#: The example config's comments are wrapped at this width.
EXAMPLE_WIDTH = 100


def _comment(text: str) -> list[str]:
    """``text`` as comment lines: each ``\\n``-separated line wrapped to the example's width."""
    return [f"# {line}" for part in text.split("\n") if part for line in textwrap.wrap(part, EXAMPLE_WIDTH - 2)]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(f"{v:g}" for v in value) + "]"
    return repr(value)


def example_config() -> str:
    """``config/bedside.toml``: every key at its default, with its declared doc as its comment."""
    lines = [EXAMPLE_HEADER.rstrip("\n")]
    for name, section in SECTIONS.items():
        lines += ["", f"[{name}]"]
        intro = section.__doc__ or ""
        if not intro.startswith(f"{section.__name__}("):  # a dataclass without a docstring of its own
            lines += _comment(" ".join(intro.split()))
        for declaration in fields(section):
            lines += _comment(declaration.metadata["doc"])
            lines.append(f"{declaration.name} = {_toml(declaration.default)}")
    actions = []
    for action in ACTIONS:
        actions += _comment(f'"{action}" {ACTION_DOCS[action]}')
        for declaration in fields(Entry):
            if action in declaration.metadata.get("actions", ()):
                default = declaration.default
                shown_default = "" if default is None else f" Default: {_toml(default)}."
                actions += textwrap.wrap(declaration.metadata["doc"] + shown_default, EXAMPLE_WIDTH,
                                         initial_indent=f"#   {declaration.name}: ", subsequent_indent="#     ")
    builtins = []
    for profile in BUILTIN_PROFILES:
        builtins += textwrap.wrap(f"{profile.description}: {describe(profile)}.", EXAMPLE_WIDTH,
                                  initial_indent=f"#   {profile.name}: ", subsequent_indent="#     ")
    keys = []
    for declaration in fields(Profile):
        if declaration.name != "name":
            keys += textwrap.wrap(declaration.metadata["doc"], EXAMPLE_WIDTH,
                                  initial_indent=f"#   {declaration.name}: ", subsequent_indent="#     ")
    tail = EXAMPLE_TAIL
    for mark, block in (("{actions}", actions), ("{builtins}", builtins), ("{profile_keys}", keys)):
        tail = tail.replace(mark, "\n".join(block) + "\n")
    return "\n".join(lines) + "\n\n" + tail





if __name__ == "__main__":  # python -m bedside.config > config/bedside.toml
    print(example_config(), end="")
