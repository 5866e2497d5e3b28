"""systemd's notify protocol with the standard library: READY, STATUS and WATCHDOG datagrams.

No dependency: a ``sd_notify`` message is one datagram on the socket named by ``$NOTIFY_SOCKET``
(a leading ``@`` means Linux's abstract namespace). Without the variable every call does nothing,
so the same daemon runs by hand, in tests and under systemd.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


class Notifier:
    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self._address = "\0" + address[1:] if address.startswith("@") else address
        self._socket: socket.socket | None = None
        if self._address:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        usec = int(env.get("WATCHDOG_USEC", "0") or 0)
        #: Pet the watchdog twice per period, as systemd recommends; 0 = no watchdog.
        self.watchdog_interval = usec / 2e6 if usec > 0 else 0.0
        self._last_pet = 0.0

    @property
    def enabled(self) -> bool:
        return self._socket is not None

    def send(self, message: str) -> None:
        if self._socket is None:
            return
        try:
            self._socket.sendto(message.encode(), socket.MSG_DONTWAIT, self._address)
        except OSError as error:  # never let the supervisor's socket stop the sound
            log.debug("sd_notify %r failed: %s", message, error)

    def ready(self, status: str) -> None:
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def progress(self) -> None:
        """Called by the audio loop after each block: pets the watchdog, at most twice a period.
        If the loop stalls, the pets stop and systemd restarts the service."""
        if not self.watchdog_interval or self._socket is None:
            return
        now = time.monotonic()
        if now - self._last_pet >= self.watchdog_interval:
            self._last_pet = now
            self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1")
