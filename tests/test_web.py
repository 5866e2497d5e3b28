"""The page's server at the HTTP level, against the daemon in a thread (real controller, engine and
ALSA file plugin; MockFactory pins): headers, what can be read, what can change state and from
where, the live stream, the password, and hostile requests."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
from pathlib import Path

import pytest
from broker import free_port
from test_appliance import PLAY, Appliance, tone_file  # noqa: F401 (a fixture)
from test_mqtt import BAD_PAYLOADS
from waiting import wait_until

from bedside.adapters.httpguard import MAX_FAILURES, REQUEST_DEADLINE_S
from bedside.adapters.web import MAX_BODY
from bedside.cli import main
from bedside.commands import Play


class Page:
    """HTTP to the box, as the page (its own Origin) or as anyone else."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        self.cookie = ""

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = 5, source: str | None = None) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout,
                                                source_address=(source, 0) if source else None)
        sent = {"Host": f"127.0.0.1:{self.port}"}
        if method == "POST":
            sent.update({"Origin": self.origin, "Content-Type": "application/json"})
        if self.cookie:
            sent["Cookie"] = self.cookie
        if body is not None:
            sent["Content-Length"] = str(len(body))
        sent.update(headers or {})
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in sent.items():
                if value is not None:
                    connection.putheader(name, value)
            connection.endheaders(body)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def command(self, data: dict | bytes, **headers) -> int:
        body = data if isinstance(data, bytes) else json.dumps(data).encode()
        return self.request("POST", "/command", body, headers)[0]


def web_box(tmp_path: Path, tone: Path, web: str = "") -> tuple[Appliance, Page]:
    port = free_port()
    box = Appliance(tmp_path, tone, f'[web]\nlisten = "127.0.0.1:{port}"\n{web}')
    return box, Page(port)


def ok(page: Page) -> bool:
    try:
        return page.request("GET", "/state", timeout=1)[0] == 200
    except (OSError, http.client.HTTPException):
        return False


def test_the_page_is_served_with_its_assets_and_a_content_security_policy(tmp_path, tone_file):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        status, headers, body = page.request("GET", "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        html = body.decode()
        assert 'src="/app.js"' in html and 'href="/style.css"' in html
        assert "http://" not in html and "https://" not in html  # nothing from elsewhere
        for asset in ("/app.js", "/style.css", "/icon.svg"):
            status, headers, body = page.request("GET", asset)
            assert status == 200 and b"https://" not in body and b"http://" not in body.replace(
                b"http://www.w3.org/2000/svg", b"")
        status, _, body = page.request("GET", "/state")
        state = json.loads(body)
        assert status == 200 and state["state"] == "OFF" and {"sounds", "presets", "plan", "events"} <= set(state)


@pytest.mark.parametrize("path", [
    "/../bedside.toml", "/%2e%2e/%2e%2e/etc/passwd", "/webui/../../../etc/passwd", "//etc/passwd",
    "/app.js/../../../../etc/passwd", "/..%2f..%2fetc%2fpasswd", "/index.html", "/webui/app.js", "/state.json",
    "/" + "a" * 5000, "/%00", "/app.js%00.html",
])
def test_no_file_outside_the_assets_can_be_read(tmp_path, tone_file, path):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        status, _, body = page.request("GET", path)
    assert status in (400, 404, 414)
    assert b"root:" not in body and b"[audio]" not in body and b"function" not in body


def test_commands_take_the_mqtt_path_whole_or_not_at_all(tmp_path, tone_file, caplog):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        assert page.command({"state": "ON", "volume": 40}) == 200
        box.wait_for("started")
        wait_until(lambda: box.controller.state.volume == 40)
        for payload in BAD_PAYLOADS:
            assert page.command(payload) in (400, 413), payload
        assert page.command({"volume": 70, "sound": "no-such-sound"}) == 400  # the volume is not applied
        time.sleep(0.2)
        state = box.controller.state
        assert state.playing and state.volume == 40 and state.sound == "tone"
        assert box.daemon.output.sink is not None  # still playing into the device
    assert any("web: rejected command" in r.message for r in caplog.records)


@pytest.mark.parametrize("headers", [
    {"Origin": "http://evil.example"},
    {"Origin": None},
    {"Origin": "null"},
    {"Origin": "http://127.0.0.1:1"},
    {"Sec-Fetch-Site": "cross-site"},
    {"Content-Type": "text/plain"},  # a form or a no-cors fetch from another site
    {"Content-Type": "application/x-www-form-urlencoded"},
])
def test_a_cross_site_request_cannot_change_anything(tmp_path, tone_file, headers):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        status = page.command({"state": "ON"}, **headers)
        time.sleep(0.2)
        assert status in (403, 415) and not box.controller.state.playing


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "127.0.0.1:1", None, "a" * 400])
def test_a_request_for_another_host_name_is_refused(tmp_path, tone_file, host):  # noqa: F811
    """A rebinding DNS name pointing at the box cannot read or change it from a web page."""
    box, page = web_box(tmp_path, tone_file)
    with box:
        sent = None if host is None else host.format(port=page.port)
        status, _, _ = page.request("GET", "/state", headers={"Host": sent})
        assert status in (400, 421)
        assert page.command({"state": "ON"}, Host=sent, Origin=f"http://{sent}") in (400, 403, 421)
        assert not box.controller.state.playing
        assert page.request("GET", "/state", headers={"Host": f"localhost:{page.port}"})[0] == 200


def test_bodies_headers_and_connections_are_bounded(tmp_path, tone_file):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        assert page.command(b'{"volume": 10, "x": "' + b"a" * MAX_BODY + b'"}') == 413
        assert page.request("POST", "/command", b"{}", {"Content-Length": None})[0] == 411
        for length in ("\u00b2", "9" * 5000, "-1", "1e3"):  # "²" passes str.isdigit, then int() refuses it
            assert page.request("POST", "/command", b"{}", {"Content-Length": length})[0] == 400
        assert page.request("GET", "/state", headers={"Cookie": "bedside_session=\u00b2\u00b2.x"})[0] == 200
        assert page.request("GET", "/state", headers={f"X-Pad-{i}": "b" * 1000 for i in range(20)})[0] == 431
        # 60 idle connections (a slow client, a flood): the oldest idle ones are let go to make room,
        # so the page answers at once, and the sound plays on.
        box.controller.submit(Play())
        box.wait_for("started")
        idle = [socket.create_connection(("127.0.0.1", page.port)) for _ in range(60)]
        try:
            assert page.request("GET", "/state", timeout=1)[0] == 200  # with the flood still open
            assert box.controller.state.playing and box.daemon.player is not None
            frames = box.engine.now
            time.sleep(0.5)
            assert box.engine.now > frames + 0.4 * 48000  # the audio loop did not wait for any of it
        finally:
            for s in idle:
                s.close()
        assert page.command({"volume": 10}) == 200


class Slowloris:
    """``count`` connections that each send a request line and then one header line every ``drip_s``."""

    def __init__(self, port: int, count: int, drip_s: float, source: str = "127.0.0.1") -> None:
        self.port, self.drip_s, self.source = port, drip_s, source
        self.sockets: list[socket.socket] = []
        self.reopened = 0
        self._stop = threading.Event()
        for _ in range(count):
            self.sockets.append(self._open())
        self._thread = threading.Thread(target=self._drip, daemon=True)
        self._thread.start()

    def _open(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5, source_address=(self.source, 0))
        s.sendall(f"GET /state HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n".encode())
        return s

    def _drip(self) -> None:
        n = 0
        while not self._stop.wait(self.drip_s):
            n += 1
            for i, s in enumerate(self.sockets):
                try:
                    s.sendall(f"X-Drip-{n}: {n}\r\n".encode())
                except OSError:  # let go by the server: a real attacker opens another
                    s.close()
                    with contextlib.suppress(OSError):
                        self.sockets[i] = self._open()
                        self.reopened += 1

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for s in self.sockets:
            s.close()


def test_slowloris_locks_out_neither_an_open_phone_nor_anyone_past_the_deadline(tmp_path, tone_file):  # noqa: F811
    """48 connections dripping a header line a second from the phone's own address, and 8 more from each
    of three others (over the total cap): every request of a client that sends it whole is answered
    within 1 s, and no dripping connection outlives REQUEST_DEADLINE_S (a per-read timeout let a drip
    hold it for ever)."""
    box, page = web_box(tmp_path, tone_file)
    with box:
        attack = [Slowloris(page.port, 48, 1.0)] + [Slowloris(page.port, 8, 1.0, f"127.0.0.{n}") for n in (2, 3, 4)]
        try:
            started = time.monotonic()
            while time.monotonic() - started < REQUEST_DEADLINE_S + 2:
                asked = time.monotonic()
                assert page.request("GET", "/state", timeout=1)[0] == 200
                assert time.monotonic() - asked < 1.0
                time.sleep(0.25)
            # Past the deadline every dripping connection was closed at least once (and reopened).
            assert sum(a.reopened for a in attack) >= 72, [a.reopened for a in attack]
        finally:
            for a in attack:
                a.close()


def rss_kib() -> int:
    return int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                    if line.startswith("VmRSS:")).split()[1])


def test_a_header_flood_costs_a_few_hundred_kib_a_request_not_megabytes(tmp_path, tone_file):  # noqa: F811
    """3 waves × 32 connections × 99 headers of 65 KB (6.4 MB each, 200 MB in all): each is answered
    431 or cut after MAX_HEAD_BYTES; the process grows by a few MiB at most and the sound plays on."""
    box, page = web_box(tmp_path, tone_file)
    line = b"X-Flood: " + b"f" * 65_000 + b"\r\n"
    with box:
        box.controller.submit(Play())
        box.wait_for("started")
        before = rss_kib()

        def flood() -> str:
            try:
                with socket.create_connection(("127.0.0.1", page.port), timeout=5) as s:
                    s.sendall(f"GET /state HTTP/1.1\r\nHost: 127.0.0.1:{page.port}\r\n".encode())
                    for _ in range(99):
                        s.sendall(line)
                    s.sendall(b"\r\n")
                    return s.recv(100).decode(errors="replace")[:12]
            except OSError:
                return "cut"

        for _ in range(3):
            answers: list[str] = []
            threads = [threading.Thread(target=lambda got=answers: got.append(flood())) for _ in range(32)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(30)
            assert len(answers) == 32 and all(a in ("HTTP/1.0 431", "cut", "") for a in answers), answers
            assert page.request("GET", "/state", timeout=1)[0] == 200
        grown = (rss_kib() - before) / 1024
        assert grown <= 16, f"{grown:.1f} MiB"
        assert box.controller.state.playing


class Stream:
    """A reader of /events on its own thread: every state it receives, with when."""

    def __init__(self, page: Page) -> None:
        self.states: list[tuple[float, dict]] = []
        self.connection = http.client.HTTPConnection("127.0.0.1", page.port, timeout=10)
        self.connection.request("GET", "/events", headers={"Cookie": page.cookie} if page.cookie else {})
        self.response = self.connection.getresponse()
        assert self.response.status == 200
        assert self.response.getheader("Content-Type") == "text/event-stream"
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self.response:
                if line.startswith(b"data: "):
                    self.states.append((time.monotonic(), json.loads(line[6:])))
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def first(self, condition, after: float = 0.0):
        return next(((t, s) for t, s in list(self.states) if t >= after and condition(s)), None)

    def close(self) -> None:
        self.connection.close()


def test_a_press_on_the_box_reaches_every_open_page_within_200_ms(tmp_path, tone_file):  # noqa: F811
    box, page = web_box(tmp_path, tone_file)
    with box:
        streams = [Stream(page) for _ in range(3)]
        try:
            for stream in streams:
                wait_until(lambda s=stream: s.first(lambda d: d["state"] == "OFF"))
            for _ in range(3):
                expected = "OFF" if box.controller.state.playing else "ON"
                pressed = time.monotonic()
                box.press(PLAY)
                for stream in streams:
                    seen, _ = wait_until(lambda s=stream, e=expected, p=pressed: s.first(lambda d: d["state"] == e, p))
                    assert seen - pressed < 0.2 + 0.05  # 50 ms of the press itself (press() holds it)
                time.sleep(0.3)
        finally:
            for stream in streams:
                stream.close()


def password_box(tmp_path: Path, tone: Path) -> tuple[Appliance, Page]:
    (tmp_path / "web-password").write_text("correct horse\n")
    return web_box(tmp_path, tone, f'password_file = "{tmp_path / "web-password"}"')


def test_with_a_password_nothing_but_the_page_shell_is_served_before_a_login(tmp_path, tone_file):  # noqa: F811
    box, page = password_box(tmp_path, tone_file)
    with box:
        assert page.request("GET", "/")[0] == 200  # the page itself, with its login form
        assert page.request("GET", "/state")[0] == 401
        assert page.request("GET", "/events")[0] == 401
        assert page.command({"state": "ON"}) == 401
        status, headers, _ = page.request("POST", "/login", json.dumps({"password": "correct horse"}).encode())
        assert status == 200
        cookie = headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
        page.cookie = cookie.split(";")[0]
        assert page.request("GET", "/state")[0] == 200
        assert page.command({"state": "ON"}) == 200
        name, value = page.cookie.split("=", 1)
        expiry, signature = value.split(".")
        for forged in (f"{name}={int(expiry) + 1}.{signature}", f"{name}={expiry}.{'0' * 64}", f"{name}=1.x",
                       f"{name}={expiry}"):
            page.cookie = forged
            assert page.request("GET", "/state")[0] == 401
    # A restart keeps the session (the key is derived from the password and a salt kept on disk).
    box2 = Appliance(tmp_path, tone_file, f'[web]\nlisten = "127.0.0.1:{page.port}"\n'
                                          f'password_file = "{tmp_path / "web-password"}"')
    with box2:
        page.cookie = cookie.split(";")[0]
        assert page.request("GET", "/state")[0] == 200


def test_wrong_passwords_are_rate_limited(tmp_path, tone_file):  # noqa: F811
    box, page = password_box(tmp_path, tone_file)
    with box:
        for _ in range(MAX_FAILURES):
            assert page.request("POST", "/login", b'{"password": "guess"}')[0] == 401
        status, headers, _ = page.request("POST", "/login", b'{"password": "correct horse"}')
        assert status == 429 and int(headers["Retry-After"]) >= 59  # the guessing address: even the right one
        for hostile in (b"", b"[", b'{"password": 1}', b'{"password": "' + b"x" * 3000 + b'"}', b"\x00\xff"):
            assert page.request("POST", "/login", hostile)[0] in (401, 429)


def test_password_spraying_from_40_addresses_slows_the_owner_but_never_refuses_them(tmp_path, tone_file):  # noqa: F811
    """Guessing from many addresses used to lock everyone out for a minute (31 failures a minute
    from anywhere): now the guessing addresses are locked out and the owner, from an address that
    has not failed, is let in within a few seconds, with a phone already logged in unaffected."""
    box, page = password_box(tmp_path, tone_file)
    with box:
        status, headers, _ = page.request("POST", "/login", b'{"password": "correct horse"}', source="127.0.0.200")
        phone = Page(page.port)
        phone.cookie = headers["Set-Cookie"].split(";")[0]
        refused = 0
        for round_ in range(MAX_FAILURES + 2):  # each round: 40 guesses at once, one from each address
            statuses: list[int] = []
            body = b'{"password": "guess%d"}' % round_
            guesses = [threading.Thread(target=lambda n=n, got=statuses, body=body: got.append(page.request(
                "POST", "/login", body, source=f"127.0.1.{n + 1}")[0])) for n in range(40)]
            for guess in guesses:
                guess.start()
            for guess in guesses:
                guess.join(10)
            assert len(statuses) == 40 and set(statuses) <= {401, 429}, statuses
            refused += statuses.count(429)
            asked = time.monotonic()
            assert phone.request("GET", "/state", timeout=1)[0] == 200 and time.monotonic() - asked < 1
        assert refused >= 40  # every guessing address got locked out
        asked = time.monotonic()
        status, _, _ = page.request("POST", "/login", b'{"password": "correct horse"}', source="127.0.0.201")
        assert status == 200 and time.monotonic() - asked < 3


def test_listening_beyond_loopback_needs_a_password_or_an_explicit_yes(tmp_path, capsys):
    config = tmp_path / "open.toml"
    config.write_text('[web]\nlisten = "0.0.0.0:8080"\n')
    assert main(["check-config", str(config)]) == 78
    assert "web.listen: 0.0.0.0:8080 is reachable from other machines" in capsys.readouterr().err
    config.write_text('[web]\nlisten = "0.0.0.0:8080"\nallow_anonymous = true\n')
    assert main(["check-config", str(config)]) == 0
    (tmp_path / "pw").write_text("secret\n")
    config.write_text(f'[web]\nlisten = "0.0.0.0:8080"\npassword_file = "{tmp_path / "pw"}"\n')
    assert main(["check-config", str(config)]) == 0


def test_a_port_already_taken_is_logged_and_the_box_plays_on(tmp_path, tone_file, caplog):  # noqa: F811
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        box = Appliance(tmp_path, tone_file, f'[web]\nlisten = "127.0.0.1:{port}"\n')
        with box:
            box.press(PLAY)
            box.wait_for("started")
    assert any("web: cannot listen on" in r.message for r in caplog.records)


def test_a_home_assistant_command_reaches_the_page_within_200_ms(tmp_path):
    """MQTT in, the page's event stream out: the same state, through the same controller."""
    from broker import Broker, Listener
    from test_mqtt import SET, Box

    broker = Broker(tmp_path).start()
    listener = Listener(broker)
    try:
        port = free_port()
        with Box(tmp_path, broker, f'[web]\nlisten = "127.0.0.1:{port}"\n'):
            stream = Stream(Page(port))
            try:
                wait_until(lambda: stream.first(lambda d: True))
                for volume in (21, 37, 52):
                    sent = time.monotonic()
                    listener.publish(SET, json.dumps({"volume": volume}))
                    seen, _ = wait_until(lambda v=volume, t=sent: stream.first(lambda d: d["volume"] == v, t))
                    assert seen - sent < 0.2
            finally:
                stream.close()
    finally:
        listener.close()
        broker.stop()


def test_an_ipv6_client_counts_as_its_slash_64_and_a_mapped_ipv4_as_itself():
    """One machine can hold millions of addresses of its /64: the caps and the lockout count the prefix."""
    from bedside.adapters.httpguard import address_key

    assert address_key("2001:db8:1:2::1") == address_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert address_key("2001:db8:1:3::1") != address_key("2001:db8:1:2::1")
    assert address_key("::ffff:192.0.2.7") == address_key("192.0.2.7") == "192.0.2.7"
