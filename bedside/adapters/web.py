"""The bedside page: a small HTTP server in the standard library, an adapter like MQTT.

It serves three fixed files (``bedside/adapters/webui``: no file system path is ever built from a URL), the
state as JSON and as a server-sent event stream (pushed on every change, so a press on the box shows
on every phone within a few milliseconds), and takes commands through the same validated,
all-or-nothing parser as MQTT (:func:`bedside.adapters.ha.parse_command`); it only submits them. Why the
standard library: ``http.server`` adds nothing to install and about 1 MB to the process, and a
bedside page has a handful of clients; an idle page is one sleeping thread per phone and a
keep-alive comment every 15 s.

Safety: the Host header must name this machine (an IP address, localhost, or the host name): a
rebinding DNS name cannot reach it from a web page. A state-changing request must come from the
page itself (``Origin`` equal to its own origin, JSON only), so no other site can change anything.
With a password (``[web] password_file``), a login sets an ``HttpOnly``, ``SameSite=Strict`` cookie,
signed with a key derived from the password (changing it logs everyone out); wrong passwords are
locked out per address (the owner, elsewhere, is only slowed down). Each request has a deadline and
a byte budget, connections are capped per address and in total (see :mod:`bedside.adapters.httpguard`),
and every response carries a Content-Security-Policy of ``default-src 'self'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bedside.adapters.ha import CommandError, parse_command
from bedside.adapters.httpguard import Connection, Connections, HeadTooLarge, LoginGuard, RequestReader, address_key
from bedside.commands import Command
from bedside.config import WebConfig
from bedside.events import Snapshot
from bedside.logs import RateLimitedLog

log = logging.getLogger(__name__)

ASSETS = Path(__file__).parent / "webui"
#: URL → (file, content type). Nothing else is ever read from disk.
STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/icon.svg": ("icon.svg", "image/svg+xml"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
MAX_BODY = 4096
MAX_STREAMS, MAX_STREAMS_PER_ADDRESS = 16, 6
KEEPALIVE_S = 15.0
#: Changes closer together than this go out as one event (a knob sweep makes dozens a second).
COALESCE_S = 0.01
#: A client that reads nothing of an answer this long is let go.
SOCKET_TIMEOUT_S = 5.0
COOKIE = "bedside_session"
SESSION_DAYS = 30
RETRY_BIND_S = 30.0


def page_urls(host: str, port: int) -> list[str]:
    """Where a browser finds the page: the address, or on every interface the host's names."""
    if host in ("0.0.0.0", "::"):
        names = [f"{socket.gethostname()}.local"]
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET):
                if info[4][0] not in names and not info[4][0].startswith("127."):
                    names.append(info[4][0])
        return [f"http://{name}:{port}/" for name in names]
    return [f"http://{'[' + host + ']' if ':' in host else host}:{port}/"]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    #: Connections the kernel holds until they are accepted. They come in bursts: a page opening, or a
    #: flood's connections all let go at one deadline and all reopened at once; while the accepting
    #: thread waits its turn for the GIL behind the threads serving them, a queue of 64 filled to 62 and
    #: (in CI once) past it, and the kernel dropped the phone's SYN (its retry comes 1 s later).
    #: Capped by net.core.somaxconn (4096 on a current kernel); a queued connection costs the kernel ~1 KiB.
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], web: WebServer) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.web = web
        self.connections = Connections()
        self._starting = threading.local()  # the entry of the connection a new thread serves
        super().__init__(address, _Handler)

    def process_request(self, request, client_address) -> None:
        entry = self.connections.admit(request, client_address[0])
        if entry is None:  # full of connections that are all busy answering: drop the newest
            self.shutdown_request(request)
            return
        try:
            threading.Thread(target=self._serve_connection, args=(request, client_address, entry),
                             name="web-client", daemon=True).start()
        except RuntimeError:  # no thread to be had: this one waits for a better moment
            self.connections.closed(entry)
            self.shutdown_request(request)

    def _serve_connection(self, request, client_address, entry: Connection) -> None:
        self._starting.entry = entry
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.connections.closed(entry)
            self.shutdown_request(request)

    def entry(self) -> Connection:
        return self._starting.entry

    def handle_error(self, request, client_address) -> None:  # a client's mistake is not ours to print
        log.debug("web: error with a request from %s", client_address[0], exc_info=True)


class WebServer:
    def __init__(self, config: WebConfig, submit: Callable[[Command], None], document: Callable[[], dict[str, Any]],
                 sounds: Callable[[], list[str]], state_dir: Path,
                 profiles: Callable[[], list[str]] = list) -> None:
        self.config = config
        self.submit = submit
        self.document = document
        self.sounds = sounds
        self.profiles = profiles
        self.assets = {url: ((ASSETS / name).read_bytes(), kind) for url, (name, kind) in STATIC.items()}
        self.password: str | None = None
        if config.password_file:
            path = Path(config.password_file)  # resolved by the config
            self.password = path.read_text(encoding="utf-8").strip() or None
            if self.password is None:
                raise ValueError(f"{path} is empty")
        self._key = self._session_key(state_dir) if self.password else b""
        self.guard = LoginGuard()
        self.version = 0
        self._cache: tuple[int, float, bytes] = (-1, 0.0, b"")
        self._cache_lock = threading.Lock()
        self.changed = threading.Condition()
        self.closing = False
        self.streams: dict[str, int] = {}  # open event streams per address
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._retry = threading.Event()
        self.warn = RateLimitedLog(log)
        self.host, self.port = config.address()
        self._names = {"localhost", socket.gethostname().lower(), f"{socket.gethostname().lower()}.local"}

    def _session_key(self, state_dir: Path) -> bytes:
        """A key from the password and a random salt kept with the state: sessions survive a restart,
        and a new password ends them all."""
        salt_file = state_dir / "web-secret"
        try:
            salt = salt_file.read_bytes()
            if len(salt) < 32:
                raise OSError("too short")
        except OSError:
            salt = secrets.token_bytes(32)
            try:
                state_dir.mkdir(parents=True, exist_ok=True)
                temporary = salt_file.with_suffix(".tmp")
                fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(salt)
                os.replace(temporary, salt_file)
            except OSError as error:
                log.warning("web: cannot keep the session key in %s (%s): logins last until a restart",
                            state_dir, error.strerror)
        assert self.password is not None
        return hmac.new(salt, self.password.encode(), hashlib.sha256).digest()

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Listen now (so the page answers as soon as the box is ready), or keep trying on the thread."""
        bound = self._bind(log_failure=True)
        self._thread = threading.Thread(target=self._serve, args=(bound,), name="web", daemon=True)
        self._thread.start()

    def _bind(self, log_failure: bool) -> bool:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError as error:  # the port is taken, the address not up yet: retry, never fatal
            if log_failure:
                log.error("web: cannot listen on %s: %s; retrying every %.0f s", self.config.listen,
                          error.strerror, RETRY_BIND_S)
            return False
        log.info("web page: %s", "  ".join(self.urls()))
        return True

    def _serve(self, bound: bool) -> None:
        while not bound:
            self._retry.wait(RETRY_BIND_S)
            if self.closing:
                return
            bound = self._bind(log_failure=False)
        assert self._server is not None
        # No periodic wake-up (an idle box must cost nothing): close() wakes the loop with a connection.
        self._server.serve_forever(poll_interval=3600)

    def close(self) -> None:
        with self.changed:
            self.closing = True
            self.changed.notify_all()
        self._retry.set()
        if self._server is not None:
            stopper = threading.Thread(target=self._server.shutdown, daemon=True)
            stopper.start()
            host = "127.0.0.1" if self.host == "0.0.0.0" else "::1" if self.host == "::" else self.host
            deadline = time.monotonic() + 2
            while stopper.is_alive() and time.monotonic() < deadline:  # noticed at the next connection
                with contextlib.suppress(OSError):
                    socket.create_connection((host, self.port), timeout=0.5).close()
                stopper.join(0.05)
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    def urls(self) -> list[str]:
        return page_urls(self.host, self.port)

    def current(self) -> bytes:
        """The page's document as JSON, made once per change for every open phone (and again after
        a second, for the timer's time left)."""
        with self._cache_lock:
            version, made, body = self._cache
            if version != self.version or time.monotonic() - made > 1.0:
                body = json.dumps(self.document()).encode()
                self._cache = (self.version, time.monotonic(), body)
            return body

    # -- from the controller (the audio thread): note and return ------------------------------

    def on_state(self, snapshot: Snapshot) -> None:
        with self.changed:
            self.version += 1
            self.changed.notify_all()

    # -- checks the handler makes --------------------------------------------------------------

    def host_allowed(self, host_header: str | None) -> bool:
        """The Host names this machine: an IP address, localhost or its host name, on our port."""
        if not host_header or len(host_header) > 300:
            return False
        host, port = host_header, "80"
        if host.startswith("["):
            host, _, rest = host[1:].partition("]")
            port = rest[1:] if rest.startswith(":") else "80"
        elif host.count(":") == 1:
            host, port = host.split(":")
        if port != str(self.port):
            return False
        if host.lower() in self._names:
            return True
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    def session_ok(self, cookie_header: str | None) -> bool:
        if self.password is None:
            return True
        for part in (cookie_header or "")[:4096].split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE:
                expiry, _, signature = value.partition(".")
                if _decimal(expiry, 12) and int(expiry) > time.time() and hmac.compare_digest(
                        signature, self._sign(expiry)):
                    return True
        return False

    def _sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode(), hashlib.sha256).hexdigest()

    def new_session(self) -> str:
        expiry = str(int(time.time()) + SESSION_DAYS * 86400)
        return (f"{COOKIE}={expiry}.{self._sign(expiry)}; Max-Age={SESSION_DAYS * 86400}; Path=/; HttpOnly; "
                "SameSite=Strict")


def _decimal(text: str, digits: int) -> bool:
    """ASCII digits only, at most ``digits`` of them: ``str.isdigit`` also takes "²", which ``int``
    then refuses, and ``int`` of thousands of digits is slow (or refused)."""
    return 0 < len(text) <= digits and text.isascii() and text.isdigit()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "bedside"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S

    rfile: RequestReader  # type: ignore[assignment]

    @property
    def web(self) -> WebServer:
        return self.server.web

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self.rfile = RequestReader(self.connection, SOCKET_TIMEOUT_S)
        self.entry = self.server.entry()

    def handle_one_request(self) -> None:
        """One request, under its deadline; while it has not been sent whole, the connection may be let go."""
        self.rfile.next_request()
        self.server.connections.waiting(self.entry, True)
        try:
            super().handle_one_request()
        except HeadTooLarge:  # in the request line (the stdlib answers it in the headers itself)
            self.requestline, self.request_version, self.command = "", "HTTP/1.1", ""
            self.send_error(431, "Request head too large")
            self.close_connection = True

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.rfile.head_done()
        self.server.connections.waiting(self.entry, False)
        return ok

    def log_message(self, format: str, *args: Any) -> None:  # the journal is not an access log
        pass

    # -- responses -------------------------------------------------------------------------

    def _send(self, status: int, body: bytes = b"", kind: str = "application/json",
              headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers=headers)

    def _error(self, status: int, message: str, headers: dict | None = None) -> None:
        self._json(status, {"error": message}, headers)

    # -- checks ----------------------------------------------------------------------------

    def _headers_ok(self) -> bool:
        if not self.web.host_allowed(self.headers.get("Host")):
            self.close_connection = True
            self._error(421, "this page answers to its own address only")
            return False
        return True

    def _same_origin(self) -> bool:
        """A state-changing request must come from this page: its Origin, JSON, not another site."""
        origin = self.headers.get("Origin")
        site = self.headers.get("Sec-Fetch-Site")
        if origin != f"http://{self.headers.get('Host')}" or site not in (None, "same-origin"):
            self._error(403, "cross-origin request refused")
            return False
        if (self.headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            self._error(415, "commands are JSON")
            return False
        return True

    def _authorised(self) -> bool:
        if self.web.session_ok(self.headers.get("Cookie")):
            return True
        self._error(401, "log in first")
        return False

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            self.close_connection = True
            self._error(411, "a body needs its Content-Length")
            return None
        if not _decimal(length.strip(), 9):
            self.close_connection = True
            self._error(400, "Content-Length is not a number")
            return None
        if int(length) > MAX_BODY:
            self.close_connection = True
            self._error(413, f"bodies are at most {MAX_BODY} bytes")
            return None
        return self.rfile.read(int(length.strip()))

    # -- routes ----------------------------------------------------------------------------

    def do_HEAD(self) -> None:
        self._guarded(self._head)

    def do_GET(self) -> None:
        self._guarded(self._get)

    def do_POST(self) -> None:
        self._guarded(self._post)

    def _guarded(self, route: Callable[[str], None]) -> None:
        """Checks every request passes, then its route; nothing a request does may take the server down."""
        try:
            if not self._headers_ok():
                return
            route(self.path.split("?", 1)[0])
        except (ConnectionError, TimeoutError, OSError):
            self.close_connection = True
        except Exception as error:
            self.web.warn.warning("web: %s %s failed: %s: %s", self.command, self.path[:100], type(error).__name__,
                                  error)
            self.close_connection = True

    def _head(self, path: str) -> None:
        if path in self.web.assets:
            self._get(path)
        else:
            self._error(405, "HEAD is for the page's files")

    def _get(self, path: str) -> None:
        if path in self.web.assets:
            body, kind = self.web.assets[path]
            self._send(200, body, kind, {"Cache-Control": "no-cache"})
        elif path == "/state":
            if self._authorised():
                self._send(200, self.web.current())
        elif path == "/events":
            if self._authorised():
                self._stream()
        else:
            self._error(404, "not found")

    def _post(self, path: str) -> None:
        if not self._same_origin():
            return
        if path == "/login":
            self._login()
        elif path == "/logout":
            self._json(200, {}, {"Set-Cookie": f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"})
        elif path == "/command":
            if self._authorised():
                self._command()
        else:
            self._error(404, "not found")

    def _command(self) -> None:
        body = self._body()
        if body is None:
            return
        try:
            batch = parse_command(body, self.web.sounds(), self.web.profiles())
        except CommandError as error:
            self.web.warn.warning("web: rejected command: %s", error)
            self._error(400, str(error))
            return
        self.web.submit(batch)
        self._json(200, {})

    def _login(self) -> None:
        web = self.web
        if web.password is None:
            self._json(200, {})
            return
        address = self.client_address[0]
        wait = web.guard.wait_s(address, time.monotonic())
        if wait > 0:  # this address has been guessing
            self._error(429, f"too many wrong passwords: try again in {wait:.0f} s",
                        {"Retry-After": str(int(wait) + 1)})
            return
        time.sleep(web.guard.slowdown_s(time.monotonic()))  # guessing from everywhere: everyone waits a little
        body = self._body()
        if body is None:
            return
        try:
            password = json.loads(body.decode("utf-8")).get("password")
        except (ValueError, UnicodeDecodeError, AttributeError, RecursionError):
            password = None
        if not isinstance(password, str) or not hmac.compare_digest(password.encode(), web.password.encode()):
            web.guard.failed(address, time.monotonic())
            web.warn.warning("web: wrong password from %s", address)
            self._error(401, "wrong password")
            return
        web.guard.succeeded(address)
        self._json(200, {}, {"Set-Cookie": web.new_session()})

    def _stream(self) -> None:
        """Server-sent events: the whole state at once, then again after every change."""
        web = self.web
        key = address_key(self.client_address[0])
        with web.changed:
            if sum(web.streams.values()) >= MAX_STREAMS or web.streams.get(key, 0) >= MAX_STREAMS_PER_ADDRESS:
                self._error(503, "too many pages open")
                return
            web.streams[key] = web.streams.get(key, 0) + 1
        try:
            self.send_response(200)
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b"retry: 1000\n\n")
            seen = -1
            while True:
                with web.changed:
                    web.changed.wait_for(lambda last=seen: web.closing or web.version != last, timeout=KEEPALIVE_S)
                    if web.closing:
                        return
                    changed = web.version != seen
                if changed:
                    time.sleep(COALESCE_S)
                    seen = web.version
                    self.wfile.write(b"data: " + web.current() + b"\n\n")
                else:
                    self.wfile.write(b": keep-alive\n\n")
                self.wfile.flush()
        finally:
            with web.changed:
                web.streams[key] -= 1
                if not web.streams[key]:
                    del web.streams[key]
