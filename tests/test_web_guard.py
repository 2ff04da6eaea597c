"""Cross-site requests and DNS rebinding against the web server, as a page in the user's browser
would send them, over a real hub on real mosquitto (the shipped config: loopback, no token,
the web chat acting as the admin `owner`)."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import pwd
import socket
from pathlib import Path

import aiohttp
import pytest

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for, wait_for
from chatops.web_guard import RequestGuard

pytestmark = pytest.mark.servers
EVIL = "http://evil.example"


def heater_on(hub: Hub) -> bool:
    device = hub.home.find("heater")
    return bool(device and device.reading and device.reading.value)


async def test_cross_site_requests_never_drive_the_house(tmp_path: Path, mosquitto: Mosquitto,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        assert not heater_on(hub)
        # A plain cross-site form post: text/plain needs no browser preflight.
        async with http.post(f"{base}/api/command", data='{"text":"switch heater on"}',
                             headers={"Origin": EVIL, "Content-Type": "text/plain"}) as response:
            assert response.status == 403
            assert "Cross-site" in (await response.json())["error"]
        assert f"web: refused POST /api/command from 127.0.0.1: cross-site request from '{EVIL}'" in caplog.text
        # The same with a JSON content type, still from another site.
        async with http.post(f"{base}/api/command", json={"text": "switch heater on"},
                             headers={"Origin": EVIL}) as response:
            assert response.status == 403
        # A WebSocket opened by another site's page.
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{base}/ws", headers={"Origin": EVIL})
        assert refused.value.status == 403
        # DNS rebinding: evil.example now resolves to 127.0.0.1, the browser sends its own name.
        async with http.get(f"{base}/api/state", headers={"Host": f"evil.example:{hub.web.port}"}) as response:
            assert response.status == 403
            assert "allowed_hosts" in (await response.json())["error"]
        # A script with no Origin, but a form's content type: refused as not JSON.
        async with http.post(f"{base}/api/command", data="switch heater on",
                             headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 415
        assert not heater_on(hub)

        # The hub's own page and scripts still work.
        async with http.post(f"{base}/api/command", json={"text": "switch heater on"},
                             headers={"Origin": base}) as response:
            assert response.status == 200
            assert (await response.json())["replies"] == ["heater is ON"]
        async with http.post(f"{base}/api/command", json={"text": "switch heater off"}) as response:
            assert response.status == 200, "curl and cron send no Origin"
        async with http.get(f"{base}/api/state", headers={"Host": f"localhost:{hub.web.port}"}) as response:
            assert response.status == 200
        socket = await http.ws_connect(f"{base}/ws", headers={"Origin": base})
        hello = json.loads((await socket.receive(timeout=5)).data)
        assert hello["type"] == "hello"
        await socket.close()


async def test_the_same_rules_hold_with_a_token(tmp_path: Path, mosquitto: Mosquitto,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUARD_WEB_TOKEN", "s3cret-token-0123456789")
    settings = settings_for(tmp_path / "data", mosquitto.url,
                            web={"token_env": "GUARD_WEB_TOKEN", "public_url": "https://home.example.org/"})
    hub = Hub(settings)
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        bearer = {"Authorization": "Bearer s3cret-token-0123456789"}
        async with http.post(f"{base}/api/command", json={"text": "switch heater on"},
                             headers={**bearer, "Origin": EVIL}) as response:
            assert response.status == 403
        async with http.get(f"{base}/api/state", headers={**bearer, "Host": "evil.example"}) as response:
            assert response.status == 403
        # public_url's host and origin are the hub's own (a reverse proxy in front of it).
        async with http.post(f"{base}/api/command", json={"text": "temp salon"},
                             headers={**bearer, "Host": "home.example.org",
                                      "Origin": "https://home.example.org"}) as response:
            assert response.status == 200
        # The same host over plain HTTP is not the hub's page (a page slipped into HTTP traffic).
        async with http.post(f"{base}/api/command", json={"text": "temp salon"},
                             headers={**bearer, "Host": "home.example.org",
                                      "Origin": "http://home.example.org"}) as response:
            assert response.status == 403
        # The token is swapped once for a cookie that is not the token, Secure when it came by
        # HTTPS (here through the reverse proxy of public_url), and not over plain HTTP, where a
        # browser would drop it; a proxy's own Basic login does not hide ?token=.
        async with http.get(f"{base}/?token=s3cret-token-0123456789", allow_redirects=False,
                            headers={"X-Forwarded-Proto": "https", "Authorization": "Basic YWxpY2U6eA=="}) as login:
            assert login.status == 302 and login.headers["Location"] == "/"
            cookie = login.cookies["chatops_token"]
            assert cookie.value and "s3cret-token-0123456789" not in cookie.value
            assert cookie["secure"] and cookie["httponly"] and cookie["samesite"] == "Lax"
        async with http.get(f"{base}/?token=s3cret-token-0123456789", allow_redirects=False) as login:
            assert login.status == 302 and not login.cookies["chatops_token"]["secure"], "plain HTTP on the LAN"
        async with http.get(f"{base}/api/state", cookies={"chatops_token": cookie.value}) as response:
            assert response.status == 200
        async with http.get(f"{base}/api/state", cookies={"chatops_token": "s3cret-token-0123456789"}) as response:
            assert response.status == 401, "the cookie holds the session value, never the token"
        assert not heater_on(hub)


async def test_no_page_of_the_hub_can_be_framed_by_another_site(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # Clickjacking: the hub's own page in an invisible frame sends the hub's own Origin.
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        for path in ("/", "/static/dashboard.js", "/api/state", "/health", "/nowhere"):
            async with http.get(f"{base}{path}") as response:
                assert response.headers["X-Frame-Options"] == "DENY", path
                assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path
                assert response.headers["X-Content-Type-Options"] == "nosniff", path


def test_host_and_origin_rules() -> None:
    guard = RequestGuard("127.0.0.1", "https://home.example.org/chatops/", ["pi.lan"])
    assert guard.host_allowed("127.0.0.1:8080") and guard.host_allowed("[::1]:8080")
    assert guard.host_allowed("localhost:8080") and guard.host_allowed("app.localhost")
    assert guard.host_allowed("home.example.org") and guard.host_allowed("PI.LAN:80")
    assert guard.host_allowed("192.168.1.20:8080"), "an address typed by the user cannot be rebound"
    assert not guard.host_allowed("evil.example:8080") and not guard.host_allowed("")
    assert guard.origin_allowed("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert guard.origin_allowed("https://home.example.org", "127.0.0.1:8080")
    assert not guard.origin_allowed("http://127.0.0.1:9999", "127.0.0.1:8080")
    assert not guard.origin_allowed("null", "127.0.0.1:8080")
    assert not guard.origin_allowed("http://evil.example", "127.0.0.1:8080")
    assert guard.origin_allowed("https://home.example.org", "home.example.org")
    assert not guard.origin_allowed("http://home.example.org", "home.example.org"), "public_url's scheme"
    explicit = RequestGuard("127.0.0.1", "https://Home.example.org:443/", [])
    assert explicit.origin_allowed("https://home.example.org", "home.example.org"), "a browser omits :443"


async def test_through_a_reverse_proxy_loopback_alone_opens_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Bound to loopback with no token, behind a proxy on the same machine for public_url: what
    came through the proxy (it says so, or it asks for public_url's host) is the Internet, not
    this machine's browser. It needs the token there is none of: 401. This machine's own
    browser, asking 127.0.0.1, is still answered."""
    settings = settings_for(tmp_path / "data", mosquitto.url, web={"public_url": "https://home.example.org/"})
    hub = Hub(settings)
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        for headers in ({"Host": "home.example.org"}, {"X-Forwarded-For": "203.0.113.9"},
                        {"Forwarded": "for=203.0.113.9"}, {"X-Real-IP": "203.0.113.9"}, {"Via": "1.1 nginx"},
                        {"X-Forwarded-Host": "home.example.org"}, {"X-Forwarded-Proto": "https"}):
            async with http.post(f"{base}/api/command", json={"text": "switch heater on"}, headers=headers) as response:
                assert response.status == 401, headers
            async with http.get(f"{base}/api/state", headers=headers) as response:
                assert response.status == 401, headers
        async with http.get(f"{base}/api/state") as response:
            assert response.status == 200
        # A plain TCP forwarder (socat, `ssh -g -L`) adds nothing, but the browser beyond it asks for
        # the forwarder's address: not a loopback name, so not this machine's browser.
        for host in ("192.0.2.2:37015", "0.0.0.0", "[::1]evil", "pi.lan"):
            async with http.post(f"{base}/api/command", json={"text": "switch heater on"},
                                 headers={"Host": host}) as response:
                assert response.status in (401, 403), host
        for host in ("localhost", f"127.0.0.2:{hub.web.port}", f"[::1]:{hub.web.port}", "hub.localhost"):
            async with http.get(f"{base}/api/state", headers={"Host": host}) as response:
                assert response.status == 200, host
        # nginx's bare proxy_pass: no header of its own, Host 127.0.0.1, but HTTP/1.0.
        async with aiohttp.ClientSession(version=aiohttp.HttpVersion10) as proxied:
            async with proxied.post(f"{base}/api/command", json={"text": "switch heater on"}) as response:
                assert response.status == 401
            async with proxied.get(f"{base}/") as response:
                assert response.status == 401 and (await response.text()).startswith(
                    "This hub answers its own machine only: this request came through a proxy (or in HTTP/1.0")
            async with proxied.get(f"{base}/metrics") as response:        # a scraper is told the same, not "runs as"
                text = await response.text()
                assert response.status == 401 and "this request came through a proxy" in text and " as (" not in text
            async with proxied.get(f"{base}/health") as response:         # probes still read the status
                assert response.status == 200 and set(await response.json()) == {"ready", "status"}
        assert not heater_on(hub)
    from chatops.config_report import config_warnings
    assert any(w.startswith("web.public_url: https://home.example.org/ is reached from beyond this machine and "
                            "[web] has no token") for w in config_warnings(settings))


def _socket_owned_by(uid: int) -> socket.socket:
    """A TCP socket the kernel files under `uid`, as another account's browser would open:
    setfsuid is per thread and only for this call, so nothing else in the test runs as `uid`."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(uid)
    try:
        return socket.socket()
    finally:
        libc.setfsuid(os.getuid())


async def _http_as(uid: int, port: int, method: str, path: str, body: str = "",
                   headers: str = "") -> tuple[int, str]:
    """(status, body) of one HTTP/1.1 request sent from a socket that `uid` owns."""
    sock = _socket_owned_by(uid)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock)
    extra = f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n" if body else ""
    writer.write(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{extra}{headers}Connection: close\r\n\r\n"
                 f"{body}".encode())
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, text = answer.decode().partition("\r\n\r\n")
    return int(head.split()[1]), text


async def test_a_request_whose_connection_is_reset_at_once_is_not_run_as_the_owner(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """Any local account sent a whole request, then reset the connection: by the time the hub
    asked the kernel whose connection it was, the kernel no longer knew, and the hub took that
    for "not Linux, loopback alone" and ran it as the web user, the admin (timers, mutes)."""
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub):
        body = '{"text": "in 1h temp salon"}'
        for _attempt in range(3):
            with socket.create_connection(("127.0.0.1", hub.web.port)) as sock:
                sock.sendall(f"POST /api/command HTTP/1.1\r\nHost: 127.0.0.1:{hub.web.port}\r\nContent-Type: "
                             f"application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        await wait_for(lambda: hub.web.access.guard.said.seen["gone"] >= 3)      # logged once: folded per minute
        assert caplog.text.count("its connection was gone before its account could be read") == 1
        assert await hub.timers.listed() == [], "nothing ran as the owner"
        status, text = await _http_as(os.getuid(), hub.web.port, "POST", "/api/command", '{"text": "whoami"}')
        assert status == 200 and "owner" in text, "a connection that stays is answered as before"


def test_the_kernel_names_the_account_at_the_other_end_of_a_loopback_connection() -> None:
    from chatops.peer_account import owner_of
    for family, listen, connect in ((socket.AF_INET, "127.0.0.1", "127.0.0.1"), (socket.AF_INET6, "::1", "::1"),
                                    (socket.AF_INET6, "::", "127.0.0.1")):       # the last: dual stack, mapped
        with socket.socket(family) as server:
            server.bind((listen, 0))
            server.listen()
            with socket.socket(socket.AF_INET if "." in connect else socket.AF_INET6) as client:
                client.connect((connect, server.getsockname()[1]))
                accepted, peer = server.accept()
                with accepted:
                    assert owner_of(peer[:2], accepted.getsockname()[:2]) == os.getuid(), (listen, connect)
                    assert owner_of(("127.0.0.1", 1), accepted.getsockname()[:2]) is None


@pytest.mark.skipif(os.getuid() != 0, reason="making a socket as another account needs root (CI runs as root)")
async def test_on_loopback_without_a_token_other_local_accounts_need_the_token(tmp_path: Path,
                                                                                mosquitto: Mosquitto) -> None:
    """Loopback proves the request came from this machine, not from whom: another account (a
    guest login, a compromised service) once acted as the admin web user and muted the smoke
    alarm. Without a token the hub answers its own account and root, and [web] local_users."""
    nobody = pwd.getpwnam("nobody").pw_uid
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub):
        port = hub.web.port
        status, text = await _http_as(nobody, port, "POST", "/api/command", '{"text": "mute smoke 1d"}')
        assert status == 401, text
        status, text = await _http_as(nobody, port, "GET", "/")
        assert status == 401 and "this browser runs as nobody. Add local_users = [\"nobody\"] to [web]" in text, text
        status, text = await _http_as(nobody, port, "GET", "/api/state")
        assert status == 401, text
        ws = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " \
             "dGhlIHNhbXBsZSBub25jZQ==\r\n"
        status, _ = await _http_as(nobody, port, "GET", "/ws", headers=ws)
        assert status == 401
        status, text = await _http_as(nobody, port, "GET", "/health")
        assert status == 200 and set(json.loads(text)) == {"ready", "status"}, "probes still read the status"
        status, text = await _http_as(nobody, port, "GET", "/metrics")      # a Prometheus of its own account
        assert status == 401 and "this scraper runs as nobody. Give [web] a metrics_token_file" in text, text
        status, text = await _http_as(os.getuid(), port, "POST", "/api/command", '{"text": "whoami"}')
        assert status == 200 and "owner" in text, "the hub's own account is answered"
    allowed = Hub(settings_for(tmp_path / "data2", mosquitto.url, web={"local_users": ["nobody"]}))
    async with running(allowed):
        status, text = await _http_as(nobody, allowed.web.port, "POST", "/api/command", '{"text": "whoami"}')
        assert status == 200 and "owner" in text, text
    from chatops.config import ConfigError, parse_settings
    with pytest.raises(ConfigError) as unknown:
        parse_settings({"web": {"local_users": ["no-such-account"]}})
    assert "web.local_users" in str(unknown.value) and "no account 'no-such-account'" in str(unknown.value)


def test_a_line_break_sent_to_the_hub_never_forges_a_log_line(tmp_path: Path) -> None:
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    from chatops.testing import free_port, wait_port, write_demo_config

    port = free_port()
    config = write_demo_config(tmp_path, web_listen=f"127.0.0.1:{port}", embedded_listen=f"127.0.0.1:{free_port()}")
    hub = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                           cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           text=True)
    try:
        wait_port(port, timeout=30)
        forged = "/api/x%0A2030-01-01%2000:00:00,000%20WARNING%20chatops.access:%20forged"
        request = urllib.request.Request(f"http://127.0.0.1:{port}{forged}", data=b"x", method="POST",
                                         headers={"Content-Type": "text/plain"})
        with pytest.raises(urllib.error.HTTPError) as refused_request:
            urllib.request.urlopen(request, timeout=10)
        assert refused_request.value.code == 415
    finally:
        hub.terminate()
        _out, log = hub.communicate(timeout=30)
    refused = [line for line in log.splitlines() if "web: refused POST /api/x" in line]
    assert refused and refused[0].endswith("content type 'text/plain'") and "\\n2030-01-01" in refused[0], log
    assert not any(line.startswith("2030-01-01") for line in log.splitlines()), log


async def test_wrong_tokens_are_logged_and_an_address_that_keeps_guessing_is_held_off(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """1,500 wrong tokens took under a second, unlogged, and a 2-character token fell in half a
    second: now a wrong token is logged, and after 10 in a minute the address is refused (429)
    until the minute is over, the right token too; a short token is refused at start."""
    monkeypatch.setenv("GUARD_WEB_TOKEN", "s3cret-token-0123456789")
    proxy = pwd.getpwuid(os.getuid()).pw_name            # this test's requests come "through the proxy"
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url, web={"token_env": "GUARD_WEB_TOKEN", "proxy_user": proxy}))
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        statuses = []
        for guess in range(12):
            async with http.get(f"{base}/api/state", headers={"Authorization": f"Bearer guess-{guess}"}) as response:
                statuses.append(response.status)
        assert statuses == [401] * 9 + [429] * 3          # the tenth already answers 429
        async with http.get(f"{base}/api/state", headers={"Authorization": "Bearer s3cret-token-0123456789"}) as held:
            assert held.status == 429 and "too many wrong tokens" in (await held.json())["error"]
        async with http.post(f"{base}/api/notify", json={"text": "x"},
                             headers={"Authorization": "Bearer s3cret-token-0123456789"}) as notify:
            assert notify.status == 429, "notify tokens are guessed against the same brake"
            assert notify.headers["Retry-After"] == "60"
        # Alertmanager and Grafana drop a 4xx (the alert with it): held, they are told to retry.
        async with http.post(f"{base}/api/notify/alertmanager", json={"alerts": []},
                             headers={"Authorization": "Bearer s3cret-token-0123456789"}) as webhook:
            assert webhook.status == 503 and webhook.headers["Retry-After"] == "60"
            assert "too many wrong tokens" in (await webhook.json())["error"]
        # Behind a reverse proxy on this machine every request comes from 127.0.0.1: the owner,
        # at another forwarded address, still gets in; a stale cookie is no guess.
        owner = {"Authorization": "Bearer s3cret-token-0123456789", "X-Forwarded-For": "192.0.2.7"}
        async with http.get(f"{base}/api/state", headers=owner) as response:
            assert response.status == 200
        for _ in range(12):
            async with http.get(f"{base}/api/state", headers={"X-Forwarded-For": "192.0.2.8"},
                                cookies={"chatops_token": "an-old-session"}) as response:
                assert response.status == 401
    assert "web: a wrong token from 127.0.0.1 (/api/state)" in caplog.text
    assert "web: 10 wrong tokens from 127.0.0.1 within a minute" in caplog.text
    monkeypatch.setenv("GUARD_WEB_TOKEN", "z9")
    from chatops.config import ConfigError, read_secret
    with pytest.raises(ConfigError, match="GUARD_WEB_TOKEN holds a 2-character token, which anyone who reaches "
                                          "the web server could guess; use at least 16"):
        read_secret(settings_for(tmp_path / "data", mosquitto.url, web={"token_env": "GUARD_WEB_TOKEN"}).web, "token")


async def test_a_forwarded_address_is_believed_from_the_configured_proxy_only(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any local process could write X-Forwarded-For: naming the owner's address, it locked the
    owner out for as long as it liked; naming a new address at each guess, it was never held off.
    Without [web] proxy_user the header is not believed: the guesses count for the one peer."""
    monkeypatch.setenv("GUARD_WEB_TOKEN", "s3cret-token-0123456789")
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url, web={"token_env": "GUARD_WEB_TOKEN"}))
    async with running(hub), aiohttp.ClientSession() as http:
        statuses = []
        for guess in range(12):
            async with http.get(f"http://127.0.0.1:{hub.web.port}/api/state",
                                headers={"Authorization": f"Bearer guess-{guess}",
                                         "X-Forwarded-For": f"10.9.{guess}.1"}) as response:
                statuses.append(response.status)
        assert statuses == [401] * 9 + [429] * 3, "a new forwarded address at each guess escapes nothing"
        assert hub.web.access.guesses.blocked("127.0.0.1") and not hub.web.access.guesses.blocked("10.9.0.1")
    from chatops.config import ConfigError
    with pytest.raises(ConfigError, match="web.proxy_user.*no account 'no-such-proxy'"):
        settings_for(tmp_path / "data", mosquitto.url, web={"proxy_user": "no-such-proxy"})


async def test_tokenless_hub_answers_scripts_why_and_ignores_a_token_in_the_address(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`/?token=x` on a hub with no token (an old bookmark) was a 500 and a traceback; a script
    refused by such a hub was told to send a token that does not exist; `{"text": null}` ran the
    command `None`."""
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        async with http.get(f"{base}/?token=x", allow_redirects=False) as response:
            assert response.status == 302 and "chatops_token" not in response.cookies
        async with http.get(f"{base}/api/state", headers={"X-Forwarded-For": "192.0.2.7"}) as response:
            assert response.status == 401
            assert "the hub has no token. Give [web] a token_file" in (await response.json())["error"]
        for body in ({"text": None}, {"text": ["switch", "heater", "on"]}):
            async with http.post(f"{base}/api/command", json=body) as response:
                assert response.status == 400 and "text is a string" in (await response.json())["error"]
        async with http.post(f"{base}/api/command", json={"text": "temp " + "x" * 70000}) as response:
            assert response.status == 413 and "a command is short" in (await response.json())["error"]
        async with http.get(f"{base}/api/history?device=salon&points=x") as response:
            assert response.status == 400
            assert (await response.json())["error"] == "points: a whole number from 10 to 2000, not 'x'"
        async with http.get(f"{base}/api/history") as response:           # which device, and the names
            assert response.status == 400
            error = (await response.json())["error"]
            assert error.startswith("say which device: ?device=NAME; devices: ") and "salon" in error, error
        async with http.get(f"{base}/api/history?device=salom") as response:
            assert response.status == 404
            assert (await response.json())["error"].startswith("no device called 'salom'; devices: ")
        socket = await http.ws_connect(f"{base}/ws", headers={"Origin": base})
        await socket.receive(timeout=5)                                     # hello
        await socket.send_str("temp " + "x" * 17000)                        # beyond the old 16 KiB frame limit
        answer = json.loads((await socket.receive(timeout=5)).data)
        assert answer["type"] == "reply" and "characters long; commands are short" in answer["text"]
        await socket.close()


async def test_picture_links_on_the_page_are_relative_and_ipv6_links_bracketed(tmp_path: Path,
                                                                              mosquitto: Mosquitto) -> None:
    """Bound to [::1] the link was http://::1:PORT/files/…; bound to 0.0.0.0 it named 127.0.0.1,
    which a phone reaching the hub as hub.lan opened on itself."""
    from chatops.web import served_at
    assert served_at("::1", 8080) == "http://[::1]:8080" and served_at("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub), aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{hub.web.port}"
        async with http.post(f"{base}/api/command", json={"text": "snap entree"},
                             headers={"Host": f"localhost:{hub.web.port}"}) as response:
            [image] = (await response.json())["images"]
        assert image.startswith(f"http://localhost:{hub.web.port}/files/"), image
        socket = await http.ws_connect(f"{base}/ws", headers={"Origin": base})
        await socket.receive(timeout=5)
        await socket.send_str(json.dumps({"type": "snap", "camera": "entree", "request": 1}))
        result = json.loads((await socket.receive(timeout=10)).data)
        await socket.close()
        [page_image] = result["images"]
        assert page_image.startswith("/files/"), page_image
        async with http.get(f"{base}{page_image}") as picture:
            assert picture.status == 200 and picture.content_type == "image/jpeg"


async def test_a_reply_to_a_page_closed_meanwhile_is_one_warning_not_a_traceback(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """A phone tab closed before its `temp salon` was answered logged an ERROR with a traceback."""
    from chatops.message import Address, Reply
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub):
        await hub.send(Address("web", "closed-page", True), Reply("salon: 20.9 °C"))
    assert "a reply to closed-page through web was dropped: no web chat page was open" in caplog.text
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text


async def test_connections_that_send_nothing_are_bounded_and_dropped(tmp_path: Path, mosquitto: Mosquitto,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """1,100 idle connections, no token needed, used every descriptor a systemd service has: the
    hub answered nothing, not even /health, and aiohttp held each for an hour. Now the server
    holds at most MOST_OPEN (the next is reset at once, said once a minute), and a connection
    silent for IDLE_TIMEOUT is closed."""
    import chatops.web
    import chatops.web_gate
    monkeypatch.setattr(chatops.web_gate, "MOST_OPEN", 5)
    monkeypatch.setattr(chatops.web, "IDLE_TIMEOUT", 1.0)
    hub = Hub(settings_for(tmp_path / "data", mosquitto.url))
    async with running(hub):
        assert hub.web is not None
        held = [socket.create_connection(("127.0.0.1", hub.web.port)) for _ in range(5)]
        await wait_for(lambda: hub.web._gate.open["127.0.0.1"] == 5)
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", hub.web.port)) as refused:
                assert await asyncio.to_thread(_closed_by_the_hub, refused, 5.0), "closed at once"
        assert caplog.text.count("web: refused a connection from 127.0.0.1: 5 open from it, 5 in all") == 1, "said once"
        for sock in held:                           # silent: closed by the hub after IDLE_TIMEOUT
            assert await asyncio.to_thread(_closed_by_the_hub, sock, 10.0)
            sock.close()
        await wait_for(lambda: hub.web._gate.open["127.0.0.1"] == 0)
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{hub.web.port}/health") as answer:
            assert answer.status == 200


def _closed_by_the_hub(sock: socket.socket, timeout: float) -> bool:
    """Whether the other end closed `sock` (EOF or reset) within `timeout` seconds (blocking)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_one_address_holds_at_most_its_share_but_loopback_and_a_64_count_as_one() -> None:
    """MOST_PER_ADDRESS per host; an IPv6 host holds a whole /64 (counted as one); loopback has
    the total alone (behind a reverse proxy every client is 127.0.0.1)."""
    from chatops.web_gate import MOST_PER_ADDRESS, Gate, _holder
    gate = Gate(lambda: None)      # type: ignore[arg-type,return-value]
    assert all(gate.admit("192.0.2.7") for _ in range(MOST_PER_ADDRESS)) and not gate.admit("192.0.2.7")
    assert gate.admit("192.0.2.8"), "another address has its own share"
    assert _holder("2001:db8:1:2::a") == _holder("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"
    assert all(gate.admit("127.0.0.1") for _ in range(MOST_PER_ADDRESS + 10))
    gate.closed("192.0.2.7")
    assert gate.admit("192.0.2.7")
