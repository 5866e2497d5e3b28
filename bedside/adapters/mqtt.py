"""The MQTT adapter: the only module that imports paho.

paho's network loop runs on its own thread (``connect_async`` + ``loop_start``) and reconnects by
itself with backoff; the sound never waits for the broker. Incoming commands are parsed by
:mod:`bedside.adapters.ha` and only submitted to the controller; outgoing state is handed to a publisher
thread, so the audio loop never blocks on the network.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from bedside import __version__
from bedside.adapters.ha import CommandError, Topics, discovery_configs, parse_command, state_document
from bedside.commands import Command
from bedside.config import MqttConfig
from bedside.events import Snapshot
from bedside.logs import RateLimitedLog

log = logging.getLogger(__name__)

#: While a sleep timer runs, the state (with timer_remaining) is republished this often.
REMAINING_EVERY_S = 10.0


def topics_for(config: MqttConfig) -> Topics:
    return Topics(config.base_topic, config.device_name(), config.discovery_prefix)


class MqttBridge:
    def __init__(self, config: MqttConfig, submit: Callable[[Command], None], sounds: Sequence[str],
                 presets: Sequence[float],
                 configuration_url: str | None = None, profiles: Sequence[str] = ()) -> None:
        self.config = config
        self.configuration_url = configuration_url  # the page, shown as "Visit" on the device in HA
        self.topics = topics_for(config)
        self._submit = submit
        self._sounds, self._presets, self._profiles = list(sounds), list(presets), list(profiles)
        self._snapshot: Snapshot | None = None
        self._dirty = threading.Event()
        self._announce = threading.Event()  # discovery + availability + state to (re)publish
        self._closing = threading.Event()
        self.connected = threading.Event()
        self.rejected = 0
        self.retained_ignored = 0
        self._warn = RateLimitedLog(log)

        client_id = config.client_id or f"bedside-{self.topics.name}"
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.will_set(self.topics.availability, "offline", qos=config.qos, retain=True)
        password = config.password
        if config.password_file:
            password = Path(config.password_file).read_text(encoding="utf-8").strip()
        if config.username:
            self.client.username_pw_set(config.username, password or None)
        if config.tls:
            self.client.tls_set(ca_certs=config.ca_file or None, certfile=config.cert_file or None,
                                keyfile=config.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
            self.client.tls_insecure_set(config.tls_insecure)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_socket_open = self._on_socket_open
        # An exception in a callback must not end paho's network thread (MQTT dead until restart):
        # ours catch everything themselves, and paho is told to log and carry on as well.
        self.client.suppress_exceptions = True
        self._publisher = threading.Thread(target=self._publish_loop, name="mqtt-publish", daemon=True)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._publisher.start()
        self.client.connect_async(self.config.host, self.config.port, keepalive=self.config.keepalive)
        self.client.loop_start()
        log.info("MQTT: connecting to %s:%d as %s", self.config.host, self.config.port, self.topics.state)

    def close(self) -> None:
        """Clean shutdown: say offline (the will is for unclean ones), then disconnect."""
        self._closing.set()
        self._dirty.set()
        self._publisher.join(timeout=2)
        if self.connected.is_set():
            info = self.client.publish(self.topics.availability, "offline", qos=self.config.qos, retain=True)
            info.wait_for_publish(timeout=2)
        self.client.disconnect()
        self.client.loop_stop()

    # -- from the dispatcher's thread: hand over and return ----------------------------------

    @property
    def lines_held_back(self) -> int:
        """Rejected-message lines not logged this minute (the flood guard)."""
        return self._warn.held_back

    def on_state(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot  # one reference, replaced whole: the publisher reads it as it is
        self._dirty.set()

    # -- paho's thread -----------------------------------------------------------------------

    @staticmethod
    def _on_socket_open(client, userdata, sock) -> None:
        """No Nagle delay: state messages are small, and a slider should feel immediate."""
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            self._connected(client, reason_code)
        except Exception as error:  # paho's thread must outlive anything
            self._warn.warning("MQTT: on connect: %s: %s", type(error).__name__, error)

    def _connected(self, client, reason_code) -> None:
        if reason_code.is_failure:
            log.warning("MQTT: broker refused the connection: %s", reason_code)
            return
        client.subscribe([(self.topics.set, self.config.qos), (self.topics.ha_status, self.config.qos)])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        """Connected *and* subscribed: from here a published command is heard (set at CONNACK,
        a command sent in between was lost), and the announcements go out."""
        with contextlib.suppress(Exception):  # paho's thread must outlive anything
            self.connected.set()
            self._announce.set()
            self._dirty.set()
            log.info("MQTT: connected to %s:%d", self.config.host, self.config.port)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was_connected = self.connected.is_set()
        self.connected.clear()
        with contextlib.suppress(Exception):
            if was_connected and not self._closing.is_set():
                self._warn.warning("MQTT: connection lost (%s); reconnecting", reason_code)

    def _on_message(self, client, userdata, message) -> None:
        try:
            self._received(message)
        except Exception as error:  # paho's thread must outlive anything a message can do
            self._warn.warning("MQTT: message on %s dropped: %s: %s", str(message.topic)[:100],
                               type(error).__name__, str(error)[:200])
            self.rejected += 1

    def _received(self, message) -> None:
        if message.topic == self.topics.ha_status:
            if message.payload == b"online":  # Home Assistant restarted: tell it about us again
                self._announce.set()
                self._dirty.set()
            return
        if message.retain:
            # A command is for now: one left retained on the broker (Home Assistant never retains
            # them) would replay at every reconnect and restart, in the middle of the night.
            if not self.retained_ignored:
                log.warning("MQTT: ignoring a retained command on %s (clear it with: mosquitto_pub -r -n -t %s)",
                            message.topic, message.topic)
            self.retained_ignored += 1
            return
        try:
            batch = parse_command(message.payload, self._sounds, self._profiles)
        except CommandError as error:
            self._warn.warning("MQTT: rejected command on %s: %s", message.topic, error)
            self.rejected += 1  # after the log line, so a count seen means its line is written
            return
        self._submit(batch)

    # -- the publisher thread ----------------------------------------------------------------

    def _publish_loop(self) -> None:
        while not self._closing.is_set():
            timer_running = self._snapshot is not None and self._snapshot.state.timer_end is not None
            self._dirty.wait(REMAINING_EVERY_S if timer_running else None)
            self._dirty.clear()
            if self._closing.is_set() or not self.connected.is_set():
                continue
            if self._announce.is_set():
                self._announce.clear()
                self._publish_announcements()
            self._publish_state()

    def _publish_announcements(self) -> None:
        qos = self.config.qos
        self.client.publish(self.topics.availability, "online", qos=qos, retain=True)
        if self.config.discovery:
            for topic, payload in discovery_configs(self.topics, self._sounds, self._presets, __version__,
                                                    self.config.fade_out_s, self.configuration_url, self._profiles):
                self.client.publish(topic, json.dumps(payload), qos=qos, retain=True)

    def _publish_state(self) -> None:
        if self._snapshot is None:
            return
        snapshot = self._snapshot.aged()
        document = state_document(snapshot.state, snapshot.timer_remaining_s, self._sounds)
        self.client.publish(self.topics.state, json.dumps(document), qos=self.config.qos, retain=True)

    def update_sounds(self, sounds: Sequence[str], presets: Sequence[float], profiles: Sequence[str] = ()) -> None:
        """After a config reload: new options for the selects."""
        self._sounds, self._presets, self._profiles = list(sounds), list(presets), list(profiles)
        self._announce.set()
        self._dirty.set()
