"""What ngircd cannot show: SASL, NickServ, IRCv3 accounts, a server gone silent. A scripted
fake server plays the network; the adapter runs alone (FakeHub) or in a real hub."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from adapters.irc import Adapter, Settings
from chatops.hub import Hub, running
from chatops.message import Message
from chatops.testing import Mosquitto, settings_for, wait_for
from tests.irc.conftest import FakeHub, FakeServer, LineReader, settings_irc, welcome

ALL_CAPS = "sasl=PLAIN,EXTERNAL account-tag extended-join account-notify chghost multi-prefix"


@asynccontextmanager
async def adapter_running(tmp_path: Path, port: int, **extra: Any) -> AsyncIterator[tuple[Adapter, FakeHub,
                                                                                         asyncio.Task[None]]]:
    adapter = Adapter("irc", Settings.model_validate(settings_irc(port, **extra)))
    hub = FakeHub(tmp_path)
    task = asyncio.create_task(adapter.run(hub))  # type: ignore[arg-type]
    try:
        yield adapter, hub, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def command(name: str, first: str | None = None) -> Callable[[Any], bool]:
    return lambda l: l.command == name and (first is None or l.params[:1] == (first,))


async def sasl_exchange(conn: LineReader, password: str) -> str:
    """Play SASL PLAIN up to the payload; return it decoded."""
    await conn.expect(command("CAP", "LS"))
    conn.send(f":fake.test CAP * LS :{ALL_CAPS}")
    request = await conn.expect(command("CAP", "REQ"))
    assert set(request.text.split()) == {"sasl", "account-tag", "extended-join", "account-notify", "chghost"}
    conn.send(f":fake.test CAP * ACK :{request.text}")
    await conn.expect(lambda l: l.raw == "AUTHENTICATE PLAIN")
    conn.send("AUTHENTICATE +")
    payload = await conn.expect(command("AUTHENTICATE"))
    return base64.b64decode(payload.params[0]).decode()


async def test_sasl_login_then_account_tags_identify_senders(
        tmp_path: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRC_TEST_SASL", "s3cret")
    async with adapter_running(tmp_path, fake_server.port, sasl_username="maisonbot",
                               sasl_password_env="IRC_TEST_SASL") as (adapter, hub, _task):
        conn = await fake_server.accept()
        assert await sasl_exchange(conn, "s3cret") == "maisonbot\0maisonbot\0s3cret"
        conn.send(":fake.test 900 * maison!chatops@user/maisonbot maisonbot :You are now logged in")
        conn.send(":fake.test 903 * :SASL authentication successful")
        await conn.expect(command("CAP", "END"))
        conn.send(":fake.test 001 maison :Welcome")
        await conn.expect(command("JOIN"))
        conn.send(":maison!chatops@user/maisonbot JOIN #maison * :chatops home hub")
        await wait_for(lambda: "#maison" in adapter.health.detail)
        conn.send("@account=alice :alice!~a@gateway/web PRIVMSG #maison :!temp salon")
        message = await hub.message()
        assert isinstance(message, Message)
        assert message.sender.account == "alice" and message.sender.id == "alice!~a@gateway/web"
        conn.send(":bob!~b@host PRIVMSG maison :temp")
        message = await hub.message()
        assert message.sender.account is None and message.addressed        # type: ignore[attr-defined]
        assert "s3cret" not in " ".join(l.raw for l in conn.lines if not l.raw.startswith("AUTHENTICATE"))


async def test_refused_sasl_stops_the_adapter_and_says_why(tmp_path: Path, fake_server: FakeServer,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IRC_TEST_SASL", "wrong")
    async with adapter_running(tmp_path, fake_server.port, sasl_password_env="IRC_TEST_SASL") as (adapter, _hub, task):
        conn = await fake_server.accept()
        assert await sasl_exchange(conn, "wrong") == "maison\0maison\0wrong"
        conn.send(":fake.test 904 * :SASL authentication failed")
        await conn.expect(command("QUIT"))
        async with asyncio.timeout(2):
            await task                                    # run() returned: no reconnect loop
        assert not adapter.health.connected and "SASL" in adapter.health.detail
        assert fake_server.count == 1


async def test_sasl_the_server_does_not_offer_is_said_not_skipped(tmp_path: Path, fake_server: FakeServer,
                                                                  monkeypatch: pytest.MonkeyPatch,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    """sasl_password set, the server's CAP LS without sasl (but with other capabilities): the bot
    went on logged out, and nothing said so."""
    monkeypatch.setenv("IRC_TEST_SASL", "s3cret")
    async with adapter_running(tmp_path, fake_server.port, sasl_password_env="IRC_TEST_SASL") as (adapter, _hub, _t):
        conn = await fake_server.accept()
        await welcome(conn, "maison", caps="multi-prefix account-notify")
        async with asyncio.timeout(5):
            await adapter.health.up_event.wait()
        assert (adapter.status_note() or "").endswith("not logged in: the server offers no SASL (sasl_password is set)")
        assert "the server offers no SASL" in caplog.text


async def test_nickserv_identify_before_joining(tmp_path: Path, fake_server: FakeServer) -> None:
    secret = tmp_path / "nickserv.pass"
    secret.write_text("hunter2\n")
    async with adapter_running(tmp_path, fake_server.port, password_file=str(secret)) as (adapter, _hub, _task):
        conn = await fake_server.accept()
        await welcome(conn, "maison", caps="multi-prefix")
        identify = await conn.expect(command("PRIVMSG"))
        assert identify.raw == "PRIVMSG NickServ :IDENTIFY maison hunter2"
        assert not [l for l in conn.unread() if l.command == "JOIN"]
        conn.send(":fake.test 900 maison maison!chatops@h maison :You are now logged in as maison")
        await conn.expect(command("JOIN"))


async def test_server_password_goes_first_and_never_into_the_log(
        tmp_path: Path, fake_server: FakeServer, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A bouncer (ZNC) wants PASS before anything else; the debug log shows it masked."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("IRC_TEST_ZNC", "maison/libera:zncsecret")
    async with adapter_running(tmp_path, fake_server.port, server_password_env="IRC_TEST_ZNC") as (adapter, _h, _t):
        conn = await fake_server.accept()
        first = await conn.expect(lambda l: True, what="first line")
        assert first.raw == "PASS maison/libera:zncsecret"
        await welcome(conn, "maison")
        await wait_for(lambda: adapter.health.connected)
    assert "PASS ****" in caplog.text and "zncsecret" not in caplog.text


async def test_taken_nicks_fall_back_to_alternatives_then_generated(tmp_path: Path, fake_server: FakeServer) -> None:
    async with adapter_running(tmp_path, fake_server.port, alt_nicks=["maison_"]) as (adapter, _hub, _task):
        conn = await fake_server.accept()
        await conn.expect(command("CAP", "LS"))
        conn.send(":fake.test CAP * LS :multi-prefix")
        await conn.expect(command("CAP", "END"))
        assert [l.raw for l in conn.lines if l.command == "NICK"] == ["NICK maison"]
        conn.send(":fake.test 433 * maison :Nickname is already in use")
        assert (await conn.expect(command("NICK"))).params[0] == "maison_"
        conn.send(":fake.test 433 * maison_ :Nickname is already in use")
        generated = (await conn.expect(command("NICK"))).params[0]
        assert generated.startswith("maiso") and generated not in ("maison", "maison_") and len(generated) <= 9
        conn.send(f":fake.test 001 {generated} :Welcome")
        await conn.expect(command("JOIN"))
        await wait_for(lambda: adapter.health.connected)
        assert generated in adapter.health.detail


async def test_silent_server_is_a_ping_timeout_and_the_adapter_reconnects(
        tmp_path: Path, fake_server: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    async with adapter_running(tmp_path, fake_server.port, ping_interval="100ms",
                               ping_timeout="400ms") as (adapter, _h, _t):
        conn = await fake_server.accept()
        await welcome(conn, "maison")
        await wait_for(lambda: adapter.health.connected)
        await conn.expect(command("PING"), timeout=2)      # asked, never answered
        second = await fake_server.accept(timeout=5)
        await wait_for(lambda: conn.closed, timeout=2)        # the bot hung up the silent one
        assert any("ping timeout" in r.getMessage() for r in caplog.records)
        await welcome(second, "maison")
        await wait_for(lambda: adapter.health.connected)
        assert adapter.connections == 2


async def test_cancelling_while_waiting_to_reconnect_is_immediate(tmp_path: Path, fake_server: FakeServer) -> None:
    port = fake_server.port
    await fake_server.stop()                              # nothing listens any more
    async with adapter_running(tmp_path, port, backoff_min="30s", backoff_max="60s") as (adapter, _hub, task):
        await wait_for(lambda: "reconnecting in" in adapter.health.detail)
        started = time.monotonic()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert time.monotonic() - started < 0.5


@pytest.mark.servers
async def test_account_users_may_switch_whatever_their_nick(
        tmp_path: Path, fake_server: FakeServer, mosquitto: Mosquitto) -> None:
    users = {"alice": {"roles": ["family"], "irc": ["account:alice"]}}
    settings = settings_for(tmp_path / "hub", mqtt_url=mosquitto.url, users=users,
                            adapters={"irc": settings_irc(fake_server.port)})
    hub = Hub(settings)

    async def serve() -> LineReader:         # the hub is ready once the server has answered
        conn = await fake_server.accept()
        await welcome(conn, "maison", caps="account-tag extended-join account-notify")
        return conn
    serving = asyncio.create_task(serve())
    async with running(hub):
        conn = await serving
        await conn.expect(command("JOIN"))
        conn.send(":maison!chatops@bot.host JOIN #maison * :chatops home hub")
        conn.send("@account=alice :someone!~x@198.51.100.7 PRIVMSG #maison :!switch heater on")
        assert (await conn.expect(command("PRIVMSG"))).raw == "PRIVMSG #maison :heater is ON"
        conn.send(":alice!~alice@198.51.100.7 PRIVMSG #maison :!switch heater off")     # the nick alone
        refusal = await conn.expect(command("PRIVMSG"))
        assert refusal.text.startswith("Sorry, alice may not use switch.")


async def test_alert_to_an_account_goes_to_its_nick_only_while_whois_confirms_the_login(tmp_path: Path,
                                                                                      fake_server: FakeServer) -> None:
    from chatops.auth import Auth
    from chatops.message import Address, Reply

    async with adapter_running(tmp_path, fake_server.port) as (adapter, hub, _task):
        hub.auth = Auth(settings_for(tmp_path, users={"alice": {"roles": ["family"], "irc": ["account:alice"]}}))
        conn = await fake_server.accept()
        await welcome(conn, "maison")
        await wait_for(lambda: adapter.health.connected)
        person = Address("irc", "account:alice", True)

        sending = asyncio.create_task(adapter.send(person, Reply("Smoke!", notice=True)))
        await conn.expect(lambda l: l.raw == "WHOIS alice")
        conn.send(":fake.test 311 maison alice ~mallory evil.example * :not alice")
        conn.send(":fake.test 318 maison alice :End of /WHOIS list.")
        with pytest.raises(LookupError, match="held by alice!~mallory@evil.example, not logged in"):
            await sending
        assert not [l for l in conn.lines if l.command == "NOTICE"]        # the squatter got nothing

        sending = asyncio.create_task(adapter.send(person, Reply("Smoke!", notice=True)))
        await conn.expect(lambda l: l.raw == "WHOIS alice", what="second WHOIS")
        conn.send(":fake.test 311 maison alice ~alice home.example * :Alice")
        conn.send(":fake.test 330 maison alice alice :is logged in as")
        conn.send(":fake.test 318 maison alice :End of /WHOIS list.")
        await sending
        assert (await conn.expect(command("NOTICE"))).raw == "NOTICE alice :Smoke!"

        sending = asyncio.create_task(adapter.send(person, Reply("Smoke!", notice=True)))
        await conn.expect(lambda l: l.raw == "WHOIS alice", what="third WHOIS")
        conn.send(":fake.test 401 maison alice :No such nick/channel")
        with pytest.raises(LookupError, match="alice is not online"):
            await sending


@pytest.mark.servers
async def test_the_hub_is_not_ready_while_the_irc_server_has_not_answered(
        tmp_path: Path, fake_server: FakeServer, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A server that takes the connection and says nothing (a TLS port spoken to in clear, one
    that hangs): "ready" waits for the network's answer, or READY_WITHIN seconds, then says which
    network it is ready without; /health shows it still connecting."""
    monkeypatch.setattr("chatops.hub.READY_WITHIN", 1.5)
    settings = settings_for(tmp_path / "hub", mqtt_url=mosquitto.url,
                            adapters={"irc": settings_irc(fake_server.port, connect_timeout="60s")})
    hub = Hub(settings)
    async with running(hub):
        assert hub.uptime >= 1.5, "ready before the IRC server said anything"
        irc = hub.health()["adapters"]["irc"]          # type: ignore[index]
        assert irc["connected"] is False and irc["detail"] == f"connecting to 127.0.0.1:{fake_server.port}"
        assert f"ready without irc (connecting to 127.0.0.1:{fake_server.port})" in caplog.text


async def test_a_wrong_tls_setting_is_named_in_the_adapters_state(tmp_path: Path, fake_server: FakeServer) -> None:
    """Plain text to a server that says nothing and hangs up (a TLS port), or TLS to a server
    that talks plain text: the state says which setting to look at, not a bare reset."""
    async with adapter_running(tmp_path, fake_server.port) as (adapter, _hub, _task):
        conn = await fake_server.accept()
        await conn.close()
        await wait_for(lambda: "not a word from the server" in adapter.health.detail)
        assert f"is 127.0.0.1:{fake_server.port} a plain-text port? [adapters.irc] has tls = false" \
            in adapter.health.detail, adapter.health.detail
    async with adapter_running(tmp_path, fake_server.port, tls=True) as (adapter, _hub, _task):
        conn = await fake_server.accept()
        conn.send(":fake.test NOTICE * :*** Looking up your hostname...")
        await wait_for(lambda: "TLS failed" in adapter.health.detail)
        assert f"is 127.0.0.1:{fake_server.port} a TLS port? [adapters.irc] has tls = true" in adapter.health.detail
    # ngircd's plain port: silent, then it hangs up in the middle of the TLS handshake (a bare
    # ConnectionResetError, which named no setting).
    async with adapter_running(tmp_path, fake_server.port, tls=True) as (adapter, _hub, _task):
        conn = await fake_server.accept()
        await conn.close()
        await wait_for(lambda: "TLS failed (the server hung up during the handshake)" in adapter.health.detail)
        assert f"is 127.0.0.1:{fake_server.port} a TLS port? [adapters.irc] has tls = true" in adapter.health.detail
