"""``bedside doctor``: what bedside sees, for setting up a Pi without guessing."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from bedside.config import Config
from bedside.state import state_directory


def _line(ok: bool | None, what: str, detail: str) -> None:
    mark = {True: "ok  ", False: "FAIL", None: "info"}[ok]
    print(f"[{mark}] {what}: {detail}")


def doctor(config: Config | None, config_error: str | None = None) -> int:
    """Print one line per check; exit 0 if everything needed to play works, else 1."""
    healthy = True
    if config is None:  # still look at everything else, as the built-in defaults would
        _line(False, "config", f"{config_error or 'invalid'}; the checks below use the built-in defaults")
        healthy, config = False, Config()
    else:
        _line(True, "config", f"{config.path or 'no file: built-in defaults'} is valid")
    _lgpio_line()

    from bedside.audio.sinks import AudioDeviceError
    from bedside.audio.sinks.alsa import AlsaSink, available_pcms

    _line(None, "ALSA PCMs", ", ".join(available_pcms()) or "none")
    audio = config.audio
    try:
        sink = AlsaSink.from_config(audio)
        _line(True, "audio device", f"{audio.device!r} opens: {sink.format}, {sink.rate} Hz, "
                                    f"{sink.period_frames} frames × {sink.periods} periods")
        sink.close()
    except AudioDeviceError as error:
        holder = running_service() if "busy" in str(error).lower() else None
        if holder is not None:  # a hw device is exclusive: the appliance itself is playing on it
            _line(True, "audio device", f"{audio.device!r} is in use by the running bedside service (pid {holder})")
        else:
            healthy = False
            _line(False, "audio device", str(error))

    from bedside.adapters.controls import choose_pins, on_raspberry_pi

    pins = choose_pins(config.controls.gpio)
    if pins.problem:
        healthy = False
        _line(False, "GPIO", pins.problem)
    elif pins.simulated:
        why = "[controls] gpio = \"simulated\"" if config.controls.gpio == "simulated" else "not a Raspberry Pi"
        _line(None, "GPIO", f"{pins.describe()}: {why}")
    else:
        _line(True, "GPIO", pins.describe() + (f" (after: {pins.fallbacks})" if pins.fallbacks else ""))
    if on_raspberry_pi() or config.controls.gpio == "required":
        _service_checks()
    _state_line(config)
    _clock_check(config)
    _web_check(config)

    if config.mqtt.enabled:
        try:
            with socket.create_connection((config.mqtt.host, config.mqtt.port), timeout=3):
                _line(True, "MQTT broker", f"{config.mqtt.host}:{config.mqtt.port} accepts connections")
        except OSError as error:
            healthy = False
            _line(False, "MQTT broker", f"{config.mqtt.host}:{config.mqtt.port}: {error}")
    else:
        _line(None, "MQTT", "disabled ([mqtt] enabled = false)")
    return 0 if healthy else 1


def _lgpio_line() -> None:
    """Which lgpio gpiozero will drive the pins with: Debian's / Raspberry Pi OS's package, or the
    one `make install` put into the venv from PyPI where the distribution has none."""
    import importlib.util
    import sys

    spec = importlib.util.find_spec("lgpio")
    if spec is None or spec.origin is None:
        _line(None, "lgpio", "not installed (needed on a Raspberry Pi only: `make install` adds it)")
    elif spec.origin.startswith(sys.prefix) and sys.prefix != sys.base_prefix:
        _line(None, "lgpio", f"from PyPI, in the venv ({spec.origin})")
    else:
        _line(None, "lgpio", f"from the distribution ({spec.origin})")


def _state_line(config: Config) -> None:
    """Where the state is kept, and whether this user can see it (the service's user can)."""
    directory = state_directory(config.state.directory)
    try:
        exists = directory.exists()
        readable = os.access(directory, os.R_OK | os.X_OK)
    except OSError:  # a folder on the way keeps this user out
        exists, readable = True, False
    if not exists:
        _line(None, "state directory", f"{directory} (made at the first start)")
    elif not readable:
        _line(None, "state directory", f"{directory} (the service's own, not readable by this user: "
                                       "`sudo bedside doctor` shows it)")
    else:
        _line(None, "state directory", str(directory))


def _clock_check(config: Config) -> None:
    """The clock the schedules fire on: its zone, and whether it is trusted yet (not a failure:
    the sound plays regardless; only [[schedule]] entries wait)."""
    from bedside.clock import clock_synced, system_zone

    zone = system_zone(config.clock.timezone)
    entries = len(config.schedule)
    if clock_synced():
        _line(True, "clock", f"synchronised; time zone {zone.key}; {entries} schedule entries")
    elif not entries:
        _line(None, "clock", f"not synchronised (no [[schedule]] entries, so nothing waits for it); zone {zone.key}")
    elif config.clock.require_synced:
        _line(None, "clock", f"NOT synchronised: the {entries} schedule entries wait for NTP "
                              "(no network and a real-time clock? set [clock] require_synced = false)")
    else:
        _line(None, "clock", f"not synchronised, firing anyway (require_synced = false); zone {zone.key}")


def _web_check(config: Config) -> None:
    """The page's address(es), and whether something (the running service, say) answers there."""
    web = config.web
    if not web.enabled:
        _line(None, "web page", "disabled ([web] enabled = false)")
        return
    from bedside.adapters.web import page_urls

    host, port = web.address()
    urls = "  ".join(page_urls(host, port))
    who = "anyone on the network (allow_anonymous)" if web.allow_anonymous and not web.loopback_only() else (
        "with the password" if web.password_file else "this machine only")
    try:
        with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "::") else host, port), timeout=2):
            _line(True, "web page", f"{urls} answers ({who})")
    except OSError:
        _line(None, "web page", f"{urls} ({who}); nothing answers there now: is `bedside run` running?")


def running_service() -> int | None:
    """The pid of a running ``bedside run`` other than this process, if there is one."""
    return next(iter(running_services()), None)


def running_services() -> list[int]:
    """The pids of every running ``bedside run`` other than this process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if "run" in (a.decode(errors="replace") for a in argv) and any(a.endswith(b"bedside") for a in argv):
            found.append(int(entry.name))
    return found


def _service_checks() -> None:
    """What the service will meet that a shell does not: its user and groups, and lgpio's
    working directory (the unit gives it /run/bedside; a read-only one kills the buttons)."""
    import grp
    import pwd

    try:
        pwd.getpwnam("bedside")
        _line(True, "service user", "bedside exists")
    except KeyError:
        _line(None, "service user", "no user 'bedside' yet: `make install` creates it")
        return
    missing = []
    for group in ("audio", "gpio", "spi"):
        try:
            if "bedside" not in grp.getgrnam(group).gr_mem:
                missing.append(f"{group} (not a member)")
        except KeyError:
            missing.append(f"{group} (no such group)")
    _line(not missing, "service groups", "audio, gpio, spi" if not missing else "missing: " + ", ".join(missing))
    unit = Path("/etc/systemd/system/bedside.service")
    if unit.exists():
        text = unit.read_text(errors="replace")
        ok = "WorkingDirectory=/run/bedside" in text and "LG_WD=" in text
        _line(ok, "service unit", "lgpio gets a writable working directory" if ok else
              f"{unit} gives lgpio no writable working directory: the buttons will fail (run make install again)")


def mqtt_info(config: Config) -> None:
    """The topics this box uses, and command lines to drive it by hand."""
    from bedside.adapters.ha import Topics

    mqtt = config.mqtt
    topics = Topics(mqtt.base_topic, mqtt.device_name(), mqtt.discovery_prefix)
    auth = f" -u {mqtt.username} -P '<password>'" if mqtt.username else ""
    tls = f" --cafile {mqtt.ca_file}" if mqtt.tls and mqtt.ca_file else (" --capath /etc/ssl/certs" if mqtt.tls else "")
    target = f"-h {mqtt.host} -p {mqtt.port}{auth}{tls}"
    status = "enabled" if mqtt.enabled else "disabled ([mqtt] enabled = false)"
    print(f"MQTT is {status}; broker {mqtt.host}:{mqtt.port}")
    print(f"state (retained JSON):   {topics.state}")
    print(f"commands (JSON):         {topics.set}")
    print(f"availability:            {topics.availability}  (online / offline)")
    print(f"Home Assistant discovery: {topics.discovery_prefix}/<component>/{topics.node_id}/<object>/config")
    print("\ntry:")
    print(f"  mosquitto_sub {target} -v -t '{topics.state}' -t '{topics.availability}'")
    for command in ('{"state": "ON"}', '{"sound": "rain", "volume": 35}', '{"volume": 20, "transition": 10}',
                    '{"timer": 30}', '{"fade_out": 120}', '{"state": "OFF"}', '{"wake_at": "06:45"}',
                    '{"wake_enabled": false}'):
        print(f"  mosquitto_pub {target} -t '{topics.set}' -m '{command}'")
