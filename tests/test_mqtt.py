"""Home Assistant over MQTT against a real Mosquitto on a free loopback port: discovery, commands,
state, the will, reconnection, malformed payloads, passwords and TLS."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from broker import Broker, Listener
from hypothesis import given, settings
from hypothesis import strategies as st
from pageless import pageless

from bedside.adapters.ha import CommandError, parse_command
from bedside.config import load
from bedside.daemon import Daemon

NAME = "nightstand"
STATE, SET, AVAIL = f"bedside/{NAME}", f"bedside/{NAME}/set", f"bedside/{NAME}/availability"
SOUNDS = ["white", "pink", "brown", "rain", "light-rain", "heavy-rain", "roof-rain", "surf", "gentle-surf", "fan",
          "wind", "breeze", "night-wind", "stream", "brook", "river", "birds", "fire", "thunderstorm",
          "distant-thunder", "summer-night", "crickets"]


def config_text(tmp_path: Path, broker: Broker, mqtt_extra: str = "") -> str:
    return (f'[audio]\ndevice = "null"\n[sound]\nfade_in_s = 0.2\nstop_fade_s = 0.2\n'
            f'[state]\ndirectory = "{tmp_path / "state"}"\n'
            f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\nname = "{NAME}"\nkeepalive = 5\n'
            f"{pageless(mqtt_extra)}")


class Box:
    """The daemon in a thread, wired to the broker, with simulated pins."""

    def __init__(self, tmp_path: Path, broker: Broker, mqtt_extra: str = "", connects: bool = True) -> None:
        self.connects = connects
        path = tmp_path / "bedside.toml"
        path.write_text(config_text(tmp_path, broker, mqtt_extra))
        self.daemon = Daemon(load(path), simulate_pins=True, keyboard=False, seed=2)
        self.thread = threading.Thread(target=self.daemon.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        assert self.daemon.ready.wait(10)
        # READY=1 can come before the broker connection: a command sent earlier would be lost.
        deadline = time.monotonic() + 10
        while self.daemon.mqtt is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert self.daemon.mqtt is not None
        assert not self.connects or self.daemon.mqtt.connected.wait(10)
        return self

    def __exit__(self, *exc):
        self.daemon.request_exit()
        self.thread.join(10)


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path).start()
    yield b
    b.stop()


@pytest.fixture
def listener(broker):
    client = Listener(broker)
    yield client
    client.close()


def test_discovery_configs_describe_every_entity_with_one_device(tmp_path, broker, listener):
    with Box(tmp_path, broker):
        configs = listener.wait(lambda: len({t for t, _, _ in listener.messages if t.endswith("/config")}) >= 12 and
                                {t: json.loads(p) for t, p, _ in listener.messages if t.endswith("/config")})
        assert listener.wait(lambda: listener.on(AVAIL) and listener.on(AVAIL)[-1] == b"online")
        late = Listener(broker)  # a client that subscribes later still gets them: they are retained
        try:
            retained = late.wait(lambda: len([t for t, _, r in late.messages if t.endswith("/config") and r]) == 12)
            assert retained and any(t == STATE and r for t, _, r in late.messages)
        finally:
            late.close()
    components = {topic.split("/")[1] for topic in configs}
    assert components == {"switch", "number", "select", "sensor", "button", "text"}
    assert all(topic.startswith("homeassistant/") and topic.split("/")[2] == f"bedside_{NAME}" for topic in configs)
    devices = {json.dumps(c["device"], sort_keys=True) for c in configs.values()}
    assert len(devices) == 1  # one shared device block
    device = json.loads(devices.pop())
    assert {"identifiers", "name", "manufacturer", "model", "sw_version"} <= set(device)
    unique_ids = [c["unique_id"] for c in configs.values()]
    assert len(set(unique_ids)) == 12
    for topic, config in configs.items():
        assert config["availability_topic"] == AVAIL and config["origin"]["name"] == "bedside"
        if topic.split("/")[1] != "button":
            assert config["state_topic"] == STATE
        if topic.split("/")[1] != "sensor":
            assert config["command_topic"] == SET
    sound_select = configs[f"homeassistant/select/bedside_{NAME}/sound/config"]
    assert sound_select["options"] == SOUNDS
    timer_select = configs[f"homeassistant/select/bedside_{NAME}/timer/config"]
    assert timer_select["options"] == ["off", "15", "30", "60", "90"]
    volume = configs[f"homeassistant/number/bedside_{NAME}/volume/config"]
    assert (volume["min"], volume["max"], volume["mode"]) == (0, 100, "slider")
    remaining = configs[f"homeassistant/sensor/bedside_{NAME}/timer_remaining/config"]
    underruns = configs[f"homeassistant/sensor/bedside_{NAME}/underruns/config"]
    assert (underruns["entity_category"], underruns["state_class"]) == ("diagnostic", "total_increasing")
    assert underruns["value_template"] == "{{ value_json.underruns }}"
    assert remaining["device_class"] == "duration" and remaining["unit_of_measurement"] == "s"
    wake = configs[f"homeassistant/switch/bedside_{NAME}/wake/config"]
    assert (wake["payload_on"], wake["payload_off"]) == ('{"wake_enabled": true}', '{"wake_enabled": false}')
    breathe = configs[f"homeassistant/switch/bedside_{NAME}/breathe/config"]
    assert (breathe["payload_on"], breathe["payload_off"]) == ('{"breathe": true}', '{"breathe": false}')
    assert breathe["value_template"] == "{{ 'ON' if value_json.breathing else 'OFF' }}"
    wake_at = configs[f"homeassistant/text/bedside_{NAME}/wake_at/config"]
    assert (wake_at["pattern"], wake_at["min"], wake_at["max"]) == ("^([01][0-9]|2[0-3]):[0-5][0-9]$", 5, 5)
    assert wake_at["command_template"] == '{"wake_at": {{ value | tojson }}}'
    next_event = configs[f"homeassistant/sensor/bedside_{NAME}/next_event/config"]
    assert next_event["device_class"] == "timestamp"
    profile = configs[f"homeassistant/select/bedside_{NAME}/profile/config"]
    assert profile["options"] == ["sleep", "unwind", "focus", "nap"]
    assert profile["command_template"] == '{"profile": {{ value | tojson }}}'
    assert profile["value_template"] == "{{ value_json.profile or 'None' }}"  # "None": unknown, no profile


def test_a_profile_chosen_over_mqtt_is_applied_and_echoed(tmp_path, broker, listener):
    with Box(tmp_path, broker):
        first = listener.wait_state(STATE, lambda d: True)
        assert first["profile"] == ""
        listener.publish(SET, '{"profile": "focus"}')  # what the select's command_template sends
        state = listener.wait_state(STATE, lambda d: d["profile"] == "focus")
        assert state["state"] == "ON" and state["sound"] == "pink" and state["timer"] == 0
        listener.publish(SET, '{"profile": "karaoke"}')  # refused whole, and the box goes on
        listener.publish(SET, '{"state": "OFF"}')
        state = listener.wait_state(STATE, lambda d: d["state"] == "OFF")
        assert state["profile"] == ""  # a stop ends what the profile arranged


def test_commands_change_the_state_and_it_is_echoed(tmp_path, broker, listener):
    with Box(tmp_path, broker) as box:
        first = listener.wait_state(STATE, lambda d: True)
        assert {"state", "sound", "sounds", "volume", "timer", "timer_remaining", "fading", "underruns"} <= set(first)
        assert first["underruns"] == 0
        assert first["state"] == "OFF" and first["sounds"] == SOUNDS
        listener.publish(SET, '{"state": "ON"}')
        listener.wait_state(STATE, lambda d: d["state"] == "ON")
        # The state answers at once; the sound follows once it is prepared (well within 100 ms).
        listener.wait(lambda: box.daemon.controller.engine.playing, timeout=1.0)
        listener.publish(SET, '{"volume": 35}')
        listener.wait_state(STATE, lambda d: d["volume"] == 35)
        listener.publish(SET, '{"sound": "rain"}')
        listener.wait_state(STATE, lambda d: d["sound"] == "rain")
        listener.publish(SET, '{"timer": 30}')
        doc = listener.wait_state(STATE, lambda d: d["timer"] == 30)
        assert 1790 <= doc["timer_remaining"] <= 1800
        listener.publish(SET, '{"sound": "surf", "volume": 20, "volume_step": 1}')  # invalid together: nothing
        time.sleep(0.3)
        assert box.daemon.controller.state.volume == 35 and box.daemon.controller.state.sound == "rain"
        listener.publish(SET, '{"sound": "surf", "volume_step": -5, "transition": 2}')  # several keys, together
        listener.wait_state(STATE, lambda d: d["sound"] == "surf" and d["volume"] == 30)
        listener.publish(SET, '{"breathe": true}')  # Home Assistant's switch: the guide on the sound
        listener.wait_state(STATE, lambda d: d["breathing"])
        assert box.daemon.controller.engine.breathing is not None
        listener.publish(SET, '{"breathe": false}')
        listener.wait_state(STATE, lambda d: not d["breathing"] and d["state"] == "ON")
        listener.publish(SET, '{"breathe": 0.05}')  # a number: its minutes of pace (at least 0.1): refused
        listener.publish(SET, '{"breathe": 2}')
        listener.wait_state(STATE, lambda d: d["breathing"])
        assert box.daemon.controller.engine.breathing[0].minutes == 2
        listener.publish(SET, '{"fade_out": 1}')
        listener.wait_state(STATE, lambda d: d["fading"])
        listener.wait_state(STATE, lambda d: d["state"] == "OFF" and not d["fading"], timeout=5)
        assert not box.daemon.controller.engine.audible


WAKE_CONFIG = '[clock]\ntimezone = "Europe/London"\n[[schedule]]\naction = "wake"\ndays = "daily"\nat = "06:30"\n'


def test_the_wake_up_set_from_home_assistant_persists_and_overrides_the_config(tmp_path, broker, listener, capsys):
    with Box(tmp_path, broker, WAKE_CONFIG) as box:
        first = listener.wait_state(STATE, lambda d: d.get("next_event") is not None)
        assert first["wake_enabled"] is True and first["wake_at"] == "06:30"
        assert first["next_event_action"].startswith("wake-up: birds")
        when = datetime.fromisoformat(first["next_event"])
        assert when.utcoffset() is not None  # a timestamp sensor needs its offset
        assert when.astimezone(ZoneInfo("Europe/London")).strftime("%H:%M") == "06:30"
        listener.publish(SET, '{"wake_at": "05:45"}')
        moved = listener.wait_state(STATE, lambda d: d["wake_at"] == "05:45" and d["next_event"] != first["next_event"])
        assert datetime.fromisoformat(moved["next_event"]).astimezone(ZoneInfo("Europe/London")).strftime(
            "%H:%M") == "05:45"
        listener.publish(SET, '{"volume": 50, "wake_at": "25:00"}')  # all or nothing: nothing
        listener.publish(SET, '{"wake_enabled": false}')
        # The switch is the controller's, the next event the scheduler's, a moment later.
        off = listener.wait_state(STATE, lambda d: d["wake_enabled"] is False and d["next_event"] is None)
        assert off["wake_at"] == "05:45"
        assert box.daemon.controller.state.volume != 50
    with Box(tmp_path, broker, WAKE_CONFIG) as box:  # a restart keeps what Home Assistant set
        state = box.daemon.controller.state
        assert (state.wake_enabled, state.wake_at, state.wake_time) == (False, "05:45", "05:45")
    from bedside.cli import main

    capsys.readouterr()
    assert main(["--config", str(tmp_path / "bedside.toml"), "schedule"]) == 0
    out = capsys.readouterr().out
    assert "wake-up set from Home Assistant: off at 05:45" in out
    assert "05:45" in out and "will not fire: wake-up switched off from Home Assistant" in out


def test_a_button_press_is_published(tmp_path, broker, listener):
    with Box(tmp_path, broker) as box:
        listener.wait_state(STATE, lambda d: d["state"] == "OFF")
        pins = box.daemon.pins.factory
        pin = pins.pin(17)
        pin.drive_low()
        time.sleep(0.05)
        pin.drive_high()
        listener.wait_state(STATE, lambda d: d["state"] == "ON")
        pins.pin(27).drive_low()
        time.sleep(0.05)
        pins.pin(27).drive_high()
        listener.wait_state(STATE, lambda d: d["sound"] == SOUNDS[(SOUNDS.index("brown") + 1) % len(SOUNDS)])


BAD_PAYLOADS = [
    b"not json", b"", b"[1, 2]", b'"ON"', b"\xff\xfe", b'{"state": "on"}', b'{"state": 1}',
    b'{"volume": "35"}', b'{"volume": NaN}', b'{"volume": Infinity}', b'{"volume": 101}', b'{"volume": -1}',
    b'{"volume": true}', b'{"volume_step": 1.5}', b'{"sound": "../../etc/passwd"}', b'{"sound": ["rain"]}',
    b'{"timer": 99999}', b'{"timer": -5}', b'{"fade_out": 0}', b'{"transition": 5}', b'{"colour": "red"}',
    b'{"volume": 50, "rm -rf": 1}', b'{"transition": -1, "volume": 10}', b'{"volume": 1e999}',
    b'{"state": "ON", "sound": "unknown-sound"}', b"[" * 5000, b'{"volume": ' + b"9" * 5000 + b"}",
    # A 400-digit integer fits in the size limit: converting it to a float overflowed, the error
    # escaped the callback and paho's network thread died (MQTT gone until a restart).
    b'{"volume": 1' + b"0" * 400 + b"}", b'{"timer": -1' + b"0" * 400 + b"}", b'{"transition": 1e400, "volume": 5}',
    b'{"volume": 5, "volume": "x"}', b'{"sound": "\\u0000"}', b"\x00" * 100,
    b'{"wake_at": "7:00"}', b'{"wake_at": "24:00"}', b'{"wake_at": "07:00\\n"}', b'{"wake_at": 700}',
    b'{"wake_at": "07:60"}', b'{"wake_enabled": "yes"}', b'{"wake_enabled": 1}', b'{"wake_at": null}',
    b'{"volume": 50, "wake_at": "25:00"}', b'{"breathe": "yes"}', b'{"breathe": 0}', b'{"breathe": 1e9}',
    b'{"breathe": null}',
]


def test_malformed_payloads_are_rejected_and_the_box_keeps_playing(tmp_path, broker, listener, caplog):
    with Box(tmp_path, broker) as box:
        listener.publish(SET, '{"state": "ON", "volume": 40}')
        listener.wait_state(STATE, lambda d: d["state"] == "ON" and d["volume"] == 40)
        before = box.daemon.controller.state
        for payload in BAD_PAYLOADS:
            listener.publish(SET, payload)
        listener.wait(lambda: box.daemon.mqtt.rejected == len(BAD_PAYLOADS))
        assert box.daemon.controller.state == before  # nothing half-applied
        # One line each for the first ten in a minute; the rest are counted, not written (a flood
        # must not fill the journal).
        assert caplog.text.count("rejected command") == 10
        assert box.daemon.mqtt.lines_held_back == len(BAD_PAYLOADS) - 10
        listener.publish(SET, '{"volume": 41}')  # still answering
        listener.wait_state(STATE, lambda d: d["volume"] == 41)
        assert box.daemon.controller.engine.playing and box.thread.is_alive()


def test_a_retained_command_is_not_replayed_at_start_or_reconnect(tmp_path, broker, listener, caplog):
    """A `/set` left retained on the broker (a script's mistake) would replay at every reconnect and
    restart, in the night: it is ignored, with one line."""
    listener.publish(SET, '{"state": "ON", "volume": 100}', retain=True)
    for _ in range(2):  # a start, and a restart: nothing plays either time
        with Box(tmp_path, broker) as box:
            listener.wait(lambda: box.daemon.mqtt.retained_ignored >= 1)
            time.sleep(0.3)
            assert not box.daemon.controller.state.playing and box.daemon.controller.state.volume != 100
            listener.publish(SET, '{"volume": 30}')  # a live command still works
            listener.wait_state(STATE, lambda d: d["volume"] == 30)
    assert caplog.text.count("ignoring a retained command") == 2


JSON = st.recursive(st.none() | st.booleans() | st.floats() | st.text(max_size=10)
                    | st.integers(min_value=-(10**400), max_value=10**400),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=1100), JSON.map(lambda v: json.dumps(v).encode()),
                 st.dictionaries(st.sampled_from(["state", "sound", "volume", "volume_step", "timer", "fade_out",
                                                  "transition"]), JSON, max_size=4)
                 .map(lambda d: json.dumps(d).encode()),
                 st.dictionaries(st.sampled_from(["state", "sound", "volume", "volume_step", "timer", "fade_out",
                                                  "transition", "x"]),
                                 st.one_of(st.none(), st.booleans(), st.integers(), st.floats(),
                                           st.text(max_size=20), st.lists(st.integers(), max_size=3)),
                                 max_size=4).map(lambda d: json.dumps(d).encode())))
def test_no_payload_makes_the_parser_fail_other_than_by_refusing(payload):
    try:
        batch = parse_command(payload, SOUNDS)
    except CommandError as error:
        assert str(error)
    else:
        assert batch.commands  # a valid command always does something


def test_home_assistant_coming_online_gets_discovery_again(tmp_path, broker, listener):
    with Box(tmp_path, broker):
        topic = f"homeassistant/switch/bedside_{NAME}/play/config"
        listener.wait(lambda: listener.on(topic))
        count = len(listener.on(topic))
        listener.publish("homeassistant/status", "online")
        listener.wait(lambda: len(listener.on(topic)) > count)


def run_process(tmp_path: Path, broker: Broker) -> subprocess.Popen:
    path = tmp_path / "bedside.toml"
    path.write_text(config_text(tmp_path, broker))
    return subprocess.Popen([sys.executable, "-m", "bedside", "--config", str(path), "run", "--simulate-pins"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ.copy())


def test_availability_goes_offline_by_will_when_killed_and_by_message_when_stopped(tmp_path, broker, listener):
    process = run_process(tmp_path, broker)
    listener.wait(lambda: listener.on(AVAIL) and listener.on(AVAIL)[-1] == b"online", timeout=20)
    process.kill()  # no goodbye: the broker publishes the will
    process.wait(10)
    listener.wait(lambda: listener.on(AVAIL)[-1] == b"offline", timeout=15)
    process = run_process(tmp_path, broker)
    listener.wait(lambda: listener.on(AVAIL)[-1] == b"online", timeout=20)
    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    listener.wait(lambda: listener.on(AVAIL)[-1] == b"offline")


def test_the_broker_restarting_in_the_night_does_not_stop_the_sound(tmp_path, broker):
    with Box(tmp_path, broker) as box:
        first = Listener(broker)
        first.publish(SET, '{"state": "ON"}')
        first.wait_state(STATE, lambda d: d["state"] == "ON")
        first.close()
        broker.stop()
        time.sleep(1.5)
        assert box.daemon.controller.engine.playing and box.thread.is_alive()
        broker.start()  # a fresh broker that remembers nothing: everything must be published again
        again = Listener(broker)
        try:
            again.wait(lambda: again.on(AVAIL) and again.on(AVAIL)[-1] == b"online", timeout=40)
            again.wait(lambda: again.on(f"homeassistant/switch/bedside_{NAME}/play/config"))
            again.wait_state(STATE, lambda d: d["state"] == "ON")
            again.publish(SET, '{"volume": 12}')  # and it listens again
            again.wait_state(STATE, lambda d: d["volume"] == 12)
        finally:
            again.close()


def test_username_and_password(tmp_path):
    broker = Broker(tmp_path, users={"bedside": "s3cret", "ha": "other"}).start()
    try:
        (tmp_path / "mqtt-password").write_text("s3cret\n")
        listener = Listener(broker, username="ha", password="other")
        with Box(tmp_path, broker, 'username = "bedside"\npassword_file = "mqtt-password"\n'):
            listener.wait(lambda: listener.on(AVAIL) and listener.on(AVAIL)[-1] == b"online")
        listener.close()
        with Box(tmp_path, broker, 'username = "bedside"\npassword = "wrong"\n', connects=False) as box:
            time.sleep(1.0)
            assert not box.daemon.mqtt.connected.is_set() and box.thread.is_alive()  # refused, still running
    finally:
        broker.stop()


def test_tls_with_a_throwaway_ca(tmp_path):
    broker = Broker(tmp_path, tls=True).start()
    try:
        listener = Listener(broker)
        ca = broker.tls["ca.crt"]
        with Box(tmp_path, broker, f'tls = true\nca_file = "{ca}"\n') as box:
            listener.wait(lambda: listener.on(AVAIL) and listener.on(AVAIL)[-1] == b"online")
            listener.publish(SET, '{"state": "ON"}')
            listener.wait_state(STATE, lambda d: d["state"] == "ON")
            assert box.daemon.mqtt.connected.is_set()
        listener.close()
    finally:
        broker.stop()


def test_a_broker_down_at_boot_is_waited_for(tmp_path):
    broker = Broker(tmp_path)  # not started yet
    with Box(tmp_path, broker, connects=False) as box:
        time.sleep(1.5)
        assert box.thread.is_alive() and not box.daemon.mqtt.connected.is_set()
        broker.start()
        try:
            listener = Listener(broker)
            listener.wait(lambda: listener.on(AVAIL) and listener.on(AVAIL)[-1] == b"online", timeout=40)
            listener.wait_state(STATE, lambda d: d["state"] == "OFF")
            listener.close()
        finally:
            broker.stop()


def test_mqtt_info_prints_the_topics_and_commands_to_try(tmp_path, broker):
    path = tmp_path / "bedside.toml"
    path.write_text(config_text(tmp_path, broker))
    result = subprocess.run([sys.executable, "-m", "bedside", "--config", str(path), "mqtt-info"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert f"commands (JSON):         {SET}" in result.stdout
    assert f"mosquitto_pub -h 127.0.0.1 -p {broker.port} -t '{SET}' -m '{{\"state\": \"ON\"}}'" in result.stdout
