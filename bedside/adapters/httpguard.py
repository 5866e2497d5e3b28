"""What keeps the page available to its owner while a stranger on the network abuses it.

The standard library's HTTP server bounds each read, not the request: one header line every 4 s
holds a connection for ever (slowloris), and it reads 100 header lines of 64 KiB each before anyone
can say no (6.4 MB a connection). Here:

- :class:`RequestReader` reads a request from the socket itself, to a deadline for the whole request
  (request line, headers and body) and a byte budget for the head, so a request costs at most
  ``MAX_HEAD_BYTES`` however it is sent.
- :class:`Connections` caps connections per address and in total; when full, the connection that has
  waited longest for a request it has not finished sending is let go to make room, so a client that
  sends a whole request at once (the owner's phone) always gets in.
- :class:`LoginGuard` locks out the addresses that guess passwords, and only slows everyone else
  down when guessing comes from everywhere: the owner's right password is never refused.

IPv6 addresses count per /64 (one home network's prefix: a single machine can hold millions of its
addresses).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field

#: The request line and headers together (a browser sends under 2 KiB).
MAX_HEAD_BYTES = 16 * 1024
#: The whole request, from its first byte awaited to its last byte read; also how long a kept-alive
#: connection may sit idle.
REQUEST_DEADLINE_S = 10.0
MAX_CONNECTIONS = 48
MAX_PER_ADDRESS = 16
#: Wrong passwords: this many from one address in LOCKOUT_WINDOW_S lock it out for LOCKOUT_S,
#: doubling with each further one (at most an hour).
MAX_FAILURES, LOCKOUT_WINDOW_S, LOCKOUT_S = 5, 900.0, 60.0
#: More wrong passwords than this in a minute from anywhere is an attack from many addresses:
#: every login is then answered after SLOWDOWN_S (checked, never refused for it).
GLOBAL_FAILURES, SLOWDOWN_S = 30, 1.0
MAX_ADDRESSES = 1024


def address_key(address: str) -> str:
    """Who a client is, for the caps: its IPv4 address, or its IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


class HeadTooLarge(http.client.LineTooLong):
    """Raised while the head is read: the stdlib answers it with 431 and closes the connection."""

    def __init__(self) -> None:
        http.client.HTTPException.__init__(self, f"the request line and headers exceed {MAX_HEAD_BYTES} bytes")


class RequestReader:
    """``rfile`` for a request handler: ``readline`` and ``read`` from the socket, each call's wait
    bounded by what is left of the request's deadline, the head by a byte budget."""

    def __init__(self, sock: socket.socket, idle_timeout_s: float) -> None:
        self._sock = sock
        self._idle = idle_timeout_s
        self._buffer = bytearray()
        self._deadline = time.monotonic() + REQUEST_DEADLINE_S
        self._head_left = MAX_HEAD_BYTES
        self.closed = False

    def next_request(self) -> None:
        """A new request starts: a new deadline and a new budget for its head."""
        self._deadline = time.monotonic() + REQUEST_DEADLINE_S
        self._head_left = MAX_HEAD_BYTES

    def head_done(self) -> None:
        """The headers are in: what is read now is the body (bounded by its Content-Length)."""
        self._head_left = -1

    def readline(self, limit: int = -1) -> bytes:
        in_head = self._head_left >= 0
        cap = MAX_HEAD_BYTES + 1 if limit < 0 else limit
        if in_head:
            cap = min(cap, self._head_left + 1)
        while True:
            end = self._buffer.find(b"\n", 0, cap)
            if end >= 0:
                return self._take(end + 1, in_head)
            if len(self._buffer) >= cap:
                if in_head and cap > self._head_left:
                    raise HeadTooLarge()
                return self._take(cap, in_head)
            if not self._fill():
                return self._take(len(self._buffer), in_head)

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise ValueError("a request is read to its Content-Length, never to the end")
        while len(self._buffer) < size:
            if not self._fill():
                break
        return self._take(min(size, len(self._buffer)), False)

    def _take(self, n: int, in_head: bool) -> bytes:
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        if in_head:
            self._head_left -= n
        return data

    def _fill(self) -> bool:
        """Wait for more bytes, at most until the deadline; False at the end of the stream."""
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the request took too long")
        self._sock.settimeout(min(left, self._idle))
        try:
            data = self._sock.recv(8192)
        finally:
            self._sock.settimeout(self._idle)  # for writing the answer
        self._buffer += data
        return bool(data)

    def close(self) -> None:
        self.closed = True


@dataclass(eq=False)
class Connection:
    sock: socket.socket
    key: str
    #: Waiting for (or reading) a request: nothing is lost if it is let go.
    waiting: bool = True
    since: float = field(default_factory=time.monotonic)


class Connections:
    """The connections being served, capped per address and in total."""

    def __init__(self, total: int = MAX_CONNECTIONS, per_address: int = MAX_PER_ADDRESS) -> None:
        self.total, self.per_address = total, per_address
        self._lock = threading.Lock()
        self._open: list[Connection] = []

    def admit(self, sock: socket.socket, address: str) -> Connection | None:
        """The new connection's entry, or None when no room can be made (then close it)."""
        key = address_key(address)
        with self._lock:
            own = [c for c in self._open if c.key == key]
            if len(own) >= self.per_address and not self._make_room(own):
                return None
            if len(self._open) >= self.total:
                # From the address holding most first: a flood from one address costs only that address.
                counts = Counter(c.key for c in self._open)
                most = max(counts.values())
                busiest = [c for c in self._open if counts[c.key] == most]
                if not self._make_room(busiest) and not self._make_room(self._open):
                    return None
            entry = Connection(sock, key)
            self._open.append(entry)
            return entry

    def _make_room(self, candidates: list[Connection]) -> bool:
        """Let go of the candidate that has waited longest for its request."""
        waiting = [c for c in candidates if c.waiting]
        if not waiting:
            return False
        oldest = min(waiting, key=lambda c: c.since)
        self._open.remove(oldest)
        with contextlib.suppress(OSError):
            oldest.sock.shutdown(socket.SHUT_RDWR)  # its thread's recv returns: it ends on its own
        return True

    def waiting(self, entry: Connection, waiting: bool) -> None:
        with self._lock:
            entry.waiting = waiting
            if waiting:
                entry.since = time.monotonic()

    def closed(self, entry: Connection) -> None:
        with self._lock:
            if entry in self._open:
                self._open.remove(entry)


class LoginGuard:
    """Wrong passwords, per address and overall."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._all: deque[float] = deque(maxlen=GLOBAL_FAILURES + 1)

    def wait_s(self, address: str, now: float) -> float:
        """Seconds until ``address`` may try again (0: now)."""
        with self._lock:
            failures = [t for t in self._failures.get(address_key(address), ()) if now - t < LOCKOUT_WINDOW_S]
            if len(failures) < MAX_FAILURES:
                return 0.0
            lock = min(LOCKOUT_S * 2 ** (len(failures) - MAX_FAILURES), 3600.0)
            return max(0.0, failures[-1] + lock - now)

    def slowdown_s(self, now: float) -> float:
        """How long to hold every login back: guessing from many addresses at once."""
        with self._lock:
            return SLOWDOWN_S if len(self._all) > GLOBAL_FAILURES and now - self._all[0] < 60 else 0.0

    def failed(self, address: str, now: float) -> None:
        key = address_key(address)
        with self._lock:
            if key not in self._failures and len(self._failures) >= MAX_ADDRESSES:
                self._failures.pop(next(iter(self._failures)))  # bounded: forget the oldest address
            self._failures.setdefault(key, deque(maxlen=32)).append(now)
            self._all.append(now)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address_key(address), None)
