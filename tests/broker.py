"""A real Mosquitto broker for the tests, on a free loopback port, with an optional password file
and an optional TLS listener signed by a throwaway CA made with openssl."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_ca(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1/localhost, valid for a day."""
    run = lambda *args: subprocess.run(args, cwd=directory, check=True, capture_output=True)  # noqa: E731
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=bedside test CA",
        "-keyout", "ca.key", "-out", "ca.crt")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "server.key",
        "-out", "server.csr")
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "1", "-extfile", "san.ext", "-out", "server.crt")
    return {name: directory / f"{name}" for name in ("ca.crt", "server.crt", "server.key")}


class Broker:
    def __init__(self, directory: Path, users: dict[str, str] | None = None, tls: bool = False) -> None:
        assert shutil.which("mosquitto"), "mosquitto is installed by `make test`"
        self.directory = directory
        self.port = free_port()
        self.users = users
        self.tls = make_ca(directory) if tls else None
        self.process: subprocess.Popen | None = None
        # When started as root, mosquitto drops to its own user, which cannot read the test's private
        # files: stay as we are (this option does nothing for a non-root user).
        user = "root" if os.geteuid() == 0 else "mosquitto"
        lines = [f"user {user}", f"listener {self.port} 127.0.0.1", "persistence false", "log_type error",
                 "log_type warning", "set_tcp_nodelay true",
                 f"allow_anonymous {'false' if users else 'true'}"]
        if users:
            passwords = directory / "passwords"
            for i, (user, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwords), user,
                                password], check=True, capture_output=True)
            passwords.chmod(0o600)
            lines.append(f"password_file {passwords}")
        if self.tls:
            lines += [f"cafile {self.tls['ca.crt']}", f"certfile {self.tls['server.crt']}",
                      f"keyfile {self.tls['server.key']}"]
        self.config = directory / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> Broker:
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start: {self.process.stderr.read()}")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(5)
            self.process = None


class Listener:
    """A test client that records every message, retained ones included."""

    def __init__(self, broker: Broker, topics=("#",), username: str | None = None, password: str | None = None):
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{free_port()}")
        if username:
            self.client.username_pw_set(username, password)
        if broker.tls:
            self.client.tls_set(ca_certs=str(broker.tls["ca.crt"]))
        self.client.on_message = self._record
        self.client.on_socket_open = lambda c, u, sock: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.client.connect("127.0.0.1", broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _record(self, client, userdata, message) -> None:
        with self._lock:
            self.messages.append((message.topic, message.payload, bool(message.retain)))

    def publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def on(self, topic: str) -> list[bytes]:
        with self._lock:
            return [payload for t, payload, _ in self.messages if t == topic]

    def wait(self, predicate, timeout: float = 10.0):
        return wait_until(predicate, timeout, lambda: f"a message; last messages: {self.messages[-5:]}")

    def wait_state(self, topic: str, check, timeout: float = 10.0) -> dict:
        """Wait until the newest document on ``topic`` passes ``check``."""
        def latest():
            payloads = self.on(topic)
            if payloads:
                document = json.loads(payloads[-1])
                if check(document):
                    return document
            return None
        return self.wait(latest, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
