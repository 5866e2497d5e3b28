"""Home Assistant over MQTT, as pure functions: topics, discovery configs, the state document,
and the parsing of commands. No I/O here (``bedside/adapters/mqtt.py`` does that), so every payload the
box sends or accepts can be tested without a broker.

Conventions Zigbee2MQTT users know: ``<base>/<name>`` carries the whole state as one retained JSON
object, ``<base>/<name>/set`` takes JSON commands, ``<base>/<name>/availability`` says online or
offline. Discovery uses one config topic per entity, which every Home Assistant since 2021 reads.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bedside.commands import (
    MAX_TIMER_MIN,
    AdjustVolume,
    Batch,
    Breathe,
    FadeOut,
    Play,
    SetProfile,
    SetSound,
    SetTimer,
    SetVolume,
    SetWake,
    State,
    Stop,
    StopBreathing,
    TogglePlay,
)
from bedside.schedule import HHMM, HHMM_PATTERN

#: Commands larger than this are refused unread: no legitimate command comes near it.
MAX_PAYLOAD_BYTES = 1024
MAX_FADE_S = 24 * 3600
MAX_TRANSITION_S = 600


class CommandError(ValueError):
    """A command that was refused, with the reason to log."""


@dataclass(frozen=True)
class Topics:
    base: str
    name: str
    discovery_prefix: str

    @property
    def state(self) -> str:
        return f"{self.base}/{self.name}"

    @property
    def set(self) -> str:
        return f"{self.state}/set"

    @property
    def availability(self) -> str:
        return f"{self.state}/availability"

    @property
    def ha_status(self) -> str:
        return f"{self.discovery_prefix}/status"

    @property
    def node_id(self) -> str:
        return re.sub(r"[^a-zA-Z0-9_-]", "_", f"bedside_{self.name}")

    def discovery(self, component: str, object_id: str) -> str:
        return f"{self.discovery_prefix}/{component}/{self.node_id}/{object_id}/config"


def preset_label(minutes: float) -> str:
    return f"{minutes:g}"


def discovery_configs(topics: Topics, sounds: Sequence[str], presets: Sequence[float], version: str,
                      fade_out_s: float, configuration_url: str | None = None,
                      profiles: Sequence[str] = ()) -> list[tuple[str, dict[str, Any]]]:
    """Every entity's discovery topic and config: play switch, volume slider, sound select, timer
    select, timer-remaining sensor, fade-out button, the underrun count as a diagnostic sensor, the
    breathing guide and wake-up switches, the wake time, the next event and the profile select;
    one shared device block."""
    device: dict[str, Any] = {
        "identifiers": [topics.node_id], "name": f"bedside {topics.name}", "manufacturer": "bedside",
        "model": "bedside sleep-sound machine", "sw_version": version,
    }
    if configuration_url:
        device["configuration_url"] = configuration_url
    common = {
        "availability_topic": topics.availability, "payload_available": "online",
        "payload_not_available": "offline", "device": device,
        "origin": {"name": "bedside", "sw_version": version},
    }

    def entity(component: str, object_id: str, name: str, icon: str, **fields: Any) -> tuple[str, dict[str, Any]]:
        unique = f"{topics.node_id}_{object_id}"
        config = {"name": name, "unique_id": unique, "object_id": unique, "icon": icon, **common, **fields}
        return topics.discovery(component, object_id), config

    timer_options = ["off", *(preset_label(p) for p in presets)]
    return [
        entity("switch", "play", "Play", "mdi:play-pause", command_topic=topics.set, state_topic=topics.state,
               payload_on='{"state": "ON"}', payload_off='{"state": "OFF"}', state_on="ON", state_off="OFF",
               value_template="{{ value_json.state }}"),
        entity("number", "volume", "Volume", "mdi:volume-high", command_topic=topics.set, state_topic=topics.state,
               command_template='{"volume": {{ value | int }}}', value_template="{{ value_json.volume }}",
               min=0, max=100, step=1, mode="slider"),
        entity("select", "sound", "Sound", "mdi:waves", command_topic=topics.set, state_topic=topics.state,
               command_template='{"sound": {{ value | tojson }}}', value_template="{{ value_json.sound }}",
               options=list(sounds)),
        entity("select", "timer", "Sleep timer", "mdi:timer-outline", command_topic=topics.set,
               state_topic=topics.state,
               command_template="{\"timer\": {{ 0 if value == 'off' else value }}}",
               value_template="{{ 'off' if not value_json.timer else ('%g' | format(value_json.timer)) }}",
               options=timer_options),
        entity("sensor", "timer_remaining", "Sleep timer remaining", "mdi:timer-sand", state_topic=topics.state,
               value_template="{{ value_json.timer_remaining }}", device_class="duration",
               unit_of_measurement="s"),
        entity("button", "fade_out", "Fade out now", "mdi:volume-minus", command_topic=topics.set,
               payload_press=json.dumps({"fade_out": fade_out_s})),
        entity("sensor", "underruns", "Audio underruns", "mdi:waveform", state_topic=topics.state,
               value_template="{{ value_json.underruns }}", entity_category="diagnostic",
               state_class="total_increasing"),
        entity("switch", "breathe", "Breathing guide", "mdi:weather-windy", command_topic=topics.set,
               state_topic=topics.state, payload_on='{"breathe": true}', payload_off='{"breathe": false}',
               state_on="ON", state_off="OFF", value_template="{{ 'ON' if value_json.breathing else 'OFF' }}"),
        entity("switch", "wake", "Wake-up", "mdi:alarm", command_topic=topics.set, state_topic=topics.state,
               payload_on='{"wake_enabled": true}', payload_off='{"wake_enabled": false}', state_on="ON",
               state_off="OFF", value_template="{{ 'ON' if value_json.wake_enabled else 'OFF' }}"),
        entity("text", "wake_at", "Wake-up time", "mdi:clock-outline", command_topic=topics.set,
               state_topic=topics.state, command_template='{"wake_at": {{ value | tojson }}}',
               value_template="{{ value_json.wake_at }}", pattern=HHMM_PATTERN, min=5, max=5, mode="text"),
        # "None" is Home Assistant's word for unknown: no profile (stopped, or the controls set by hand).
        entity("select", "profile", "Profile", "mdi:bed-clock", command_topic=topics.set, state_topic=topics.state,
               command_template='{"profile": {{ value | tojson }}}',
               value_template="{{ value_json.profile or 'None' }}", options=list(profiles)),
        # "None" is Home Assistant's word for unknown: nothing scheduled.
        entity("sensor", "next_event", "Next scheduled event", "mdi:calendar-clock", state_topic=topics.state,
               device_class="timestamp", value_template="{{ value_json.next_event or 'None' }}",
               json_attributes_topic=topics.state,
               json_attributes_template='{{ {"action": value_json.next_event_action} | tojson }}'),
    ]


def state_document(state: State, remaining_s: float, sounds: Sequence[str]) -> dict[str, Any]:
    return {
        "state": "ON" if state.playing else "OFF",
        "sound": state.sound,
        "sounds": list(sounds),
        "volume": state.volume,
        "timer": state.timer_min,
        "timer_remaining": math.ceil(remaining_s),
        "fading": state.fading,
        "underruns": state.underruns,
        "wake_enabled": state.wake_enabled is not False and bool(state.wake_time),
        "wake_at": state.wake_time,
        "waking": state.waking,
        "snoozed": state.snoozed,
        "breathing": state.breathing,
        "profile": state.profile,
        "next_event": _iso(state.next_at),
        "next_event_action": state.next_what,
        "clock_synced": state.clock_ok,
    }


def _iso(epoch: float | None) -> str | None:
    """An instant as Home Assistant's timestamp sensors take it: ISO 8601 with its offset."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _reject_constant(name: str) -> float:
    raise CommandError(f"{name} is not a number")


def _number(data: dict[str, Any], key: str, low: float, high: float) -> float:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CommandError(f"{key} must be a number, got {json.dumps(value)[:40]}")
    # Compared as they are (Python compares a 400-digit int with a float exactly): converting
    # first would overflow, and an exception here used to kill paho's network thread.
    if (isinstance(value, float) and not math.isfinite(value)) or not low <= value <= high:
        raise CommandError(f"{key} must be between {low:g} and {high:g}, got {repr(value)[:40]}")
    return float(value)


def parse_command(payload: bytes, sounds: Sequence[str], profiles: Sequence[str] = ()) -> Batch:
    """A ``/set`` payload to one batch of controller commands, or :class:`CommandError`.

    Every key is checked before anything is applied, so a message applies whole or not at all.
    """
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise CommandError(f"payload of {len(payload)} bytes is over the {MAX_PAYLOAD_BYTES}-byte limit")
    try:
        data = json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise CommandError("payload is not UTF-8") from None
    except json.JSONDecodeError as error:
        raise CommandError(f"payload is not JSON ({error.msg})") from None
    except RecursionError:
        raise CommandError("payload is nested too deeply") from None
    except ValueError as error:  # e.g. a number of more digits than Python converts
        raise CommandError(f"payload is not usable JSON ({str(error)[:60]})") from None
    if not isinstance(data, dict):
        raise CommandError("payload must be a JSON object")
    allowed = {"state", "sound", "volume", "volume_step", "timer", "fade_out", "transition", "wake_enabled",
               "wake_at", "breathe", "profile"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CommandError(f"unknown key {unknown[0][:40]!r}; allowed: {', '.join(sorted(allowed))}")
    if not set(data) - {"transition"}:
        raise CommandError("nothing to do: give state, sound, volume, volume_step, timer, fade_out, "
                           "wake_enabled, wake_at, breathe or profile")
    transition = _number(data, "transition", 0, MAX_TRANSITION_S) if "transition" in data else None
    commands: list = []
    if "volume" in data and "volume_step" in data:
        raise CommandError("give volume or volume_step, not both")
    if "volume" in data:
        commands.append(SetVolume(round(_number(data, "volume", 0, 100)), transition))
    if "volume_step" in data:
        step = _number(data, "volume_step", -100, 100)
        if step != int(step):
            raise CommandError(f"volume_step must be a whole number, got {step!r}")
        commands.append(AdjustVolume(int(step), transition))
    if "sound" in data:
        sound = data["sound"]
        if not isinstance(sound, str) or sound not in sounds:
            shown = json.dumps(sound)[:40]
            raise CommandError(f"unknown sound {shown}; known: {', '.join(sounds)}")
        commands.append(SetSound(sound))
    if "state" in data:
        state = data["state"]
        if state not in ("ON", "OFF", "TOGGLE"):
            raise CommandError(f"state must be ON, OFF or TOGGLE, got {json.dumps(state)[:40]}")
        commands.append({"ON": Play(None, transition), "OFF": Stop(transition), "TOGGLE": TogglePlay()}[state])
    if "timer" in data:
        commands.append(SetTimer(_number(data, "timer", 0, MAX_TIMER_MIN)))
    if "fade_out" in data:
        seconds = _number(data, "fade_out", 0, MAX_FADE_S)
        if seconds <= 0:
            raise CommandError("fade_out must be more than 0 seconds")
        commands.append(FadeOut(seconds))
    if "wake_enabled" in data or "wake_at" in data:
        enabled, at = data.get("wake_enabled"), data.get("wake_at")
        if "wake_enabled" in data and not isinstance(enabled, bool):
            raise CommandError(f"wake_enabled must be true or false, got {json.dumps(enabled)[:40]}")
        if "wake_at" in data and not (isinstance(at, str) and HHMM.fullmatch(at)):
            raise CommandError(f"wake_at must be a 24-hour time \"HH:MM\", got {json.dumps(at)[:40]}")
        commands.append(SetWake(enabled, at))
    if "profile" in data:  # first: what the same message says besides (a volume, say) applies on top of it
        profile = data["profile"]
        if not isinstance(profile, str) or profile not in profiles:
            raise CommandError(f"unknown profile {json.dumps(profile)[:40]}; known: {', '.join(profiles)}")
        commands.insert(0, SetProfile(profile))
    if "breathe" in data:  # true: the guide as it comes; a number: its minutes of pace; false: end it
        breathe = data["breathe"]
        if breathe is False:
            commands.append(StopBreathing())
        elif breathe is True:
            commands.append(Breathe())
        else:
            commands.append(Breathe(minutes=_number(data, "breathe", 0.1, 120)))
    return Batch(tuple(commands))
