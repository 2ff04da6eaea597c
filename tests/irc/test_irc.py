"""The IRC adapter end to end: a real ngircd, a real mosquitto, the hub in-process, and a
raw client typing in #maison."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.message import Address, Attachment, Reply
from chatops.testing import Mosquitto, settings_for, started, wait_for
from tests.irc.conftest import IrcClient, Ngircd, settings_irc

pytestmark = pytest.mark.servers

READING = re.compile(r"salon: -?\d+(\.\d+)? °C")
CHANNEL = Address("irc", "#maison", False)


@asynccontextmanager
async def hub_with_irc(tmp_path: Path, mosquitto: Mosquitto, section: dict[str, Any],
                       **overrides: Any) -> AsyncIterator[tuple[Hub, Any]]:
    settings = settings_for(tmp_path / "hub", mqtt_url=mosquitto.url, adapters={"irc": section}, **overrides)
    async with running(Hub(settings)) as hub:
        yield hub, hub.adapters["irc"]


async def in_channel(tmp_path: Path, nick: str, irc_client: Any) -> IrcClient:
    client = await irc_client(nick)
    await client.join("#maison")
    return client


def bot_lines(client: IrcClient, *commands: str) -> list[str]:
    return [line.raw for line in client.lines if line.nick == "maison" and line.command in commands]


async def test_temp_in_channel_by_prefix_and_mention_and_in_private(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        alice.say("#maison", "!temp salon")
        assert READING.fullmatch((await alice.reply("maison", "#maison")).text)

        alice.say("#maison", "the weather is nice")           # not for the bot: no answer
        alice.say("#maison", "Maison: temp salon")             # a mention, stripped
        assert READING.fullmatch((await alice.reply("maison", "#maison")).text)

        alice.say("maison", "temp salon")                     # private: no prefix needed
        answer = await alice.reply("maison")
        assert answer.target == "alice" and READING.fullmatch(answer.text)
        assert irc.health.connected and "#maison" in irc.health.detail


async def test_long_reply_is_complete_in_lines_of_at_most_512_bytes(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    words = ["température", "salon", "🌡️", "chauffage", "x" * 40, "été", "ok"]
    text = ""
    for index in range(1000):
        word = words[index % len(words)]
        if len(text) + len(word) + 1 > 2000:
            break
        text = f"{text} {word}" if text else word
    unbroken = "é🌡ü" * 300                                   # 900 characters, 2,700 bytes, no space
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        for reply_text, joiner in ((text, " "), (unbroken, "")):
            await irc.send(CHANNEL, Reply(reply_text))
            received: list[str] = []
            while joiner.join(received) != reply_text:
                line = await alice.reply("maison", "#maison", timeout=5)
                assert line.size <= 512, line.raw
                received.append(line.text)
                assert len(joiner.join(received)) <= len(reply_text)
            assert len(received) > 1


async def test_line_breaks_and_nul_cannot_inject_commands(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        await irc.send(CHANNEL, Reply("before\r\nQUIT :injected\nPART #maison\x00JOIN #evil\rMODE maison +i"))
        texts = [(await alice.reply("maison", "#maison")).text for _ in range(4)]
        assert texts == ["before", "QUIT :injected", "PART #maisonJOIN #evil", "MODE maison +i"]
        with pytest.raises(ValueError):
            await irc.send(Address("irc", "alice\r\nQUIT", True), Reply("x"))
        alice.say("#maison", "!temp salon")
        assert READING.fullmatch((await alice.reply("maison", "#maison")).text)
        assert bot_lines(alice, "QUIT", "PART", "JOIN")[1:] == []          # only its first JOIN
        assert irc.connections == 1 and irc.health.connected


async def test_only_configured_hostmasks_may_switch(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    bob = await in_channel(tmp_path, "bob", irc_client)
    users = {"alice": {"roles": ["family"], "irc": ["alice!*@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users) as (_hub, _irc):
        await bob.wait_member("#maison", "maison")
        bob.say("#maison", "!switch heater on")
        refusal = (await bob.reply("maison", "#maison")).text
        assert refusal.startswith("Sorry, bob may not use switch. Ask the hub's owner")    # in a room: named
        await alice.expect(lambda l: l.text == refusal)
        alice.say("#maison", "!switch heater on")
        assert (await alice.reply("maison", "#maison")).text == "heater is ON"
        bob.say("maison", "switch heater off")                # private, still refused
        assert (await bob.reply("maison", "bob")).text.startswith("Sorry, you may not use switch.")


async def test_account_patterns_on_a_server_that_tells_no_account_are_warned_of(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, caplog: pytest.LogCaptureFixture) -> None:
    """ngircd offers none of account-tag, extended-join, account-notify: `account:alice` (the
    README's smallest config) can never match, and nothing said so."""
    users = {"alice": {"roles": ["family"], "irc": ["account:alice"]},
             "bob": {"roles": ["family"], "irc": ["bob!*@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users) as (_hub, irc):
        await wait_for(lambda: irc.health.connected)
    assert "tells no one's services account (none of account-tag, extended-join, account-notify): [users] alice " \
           "with account: patterns are strangers here; give them a nick!user@host pattern instead" in caplog.text


async def test_rejoins_after_server_restart_and_refuses_sends_meanwhile(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (hub, irc):
        await alice.wait_member("#maison", "maison")
        await asyncio.to_thread(ngircd.stop)
        await wait_for(lambda: not irc.health.connected, timeout=5)
        with pytest.raises(ConnectionError):
            await irc.send(CHANNEL, Reply("nobody hears this"))
        assert not hub.health()["adapters"]["irc"]["connected"]  # type: ignore[index]
        await asyncio.to_thread(ngircd.start)
        carol = await in_channel(tmp_path, "carol", irc_client)
        await carol.wait_member("#maison", "maison", timeout=10)
        carol.say("#maison", "!temp salon")
        assert READING.fullmatch((await carol.reply("maison", "#maison")).text)
        assert irc.connections == 2 and irc.health.connected


async def test_rejoins_after_a_kick(tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)           # first in: channel operator
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        alice.send("KICK #maison maison :out")
        await alice.expect(lambda l: l.command == "KICK")
        await alice.expect(lambda l: l.command == "JOIN" and l.nick == "maison", what="rejoin")
        alice.say("#maison", "!temp salon")
        assert READING.fullmatch((await alice.reply("maison", "#maison")).text)
        assert irc.connections == 1


async def test_hundred_commands_at_once_all_answered_in_order(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    section = settings_irc(ngircd.port, burst=5, rate=200.0)         # paced: ~0.5 s for 100 lines
    # alice is a configured user: her lines are never dropped (a stranger's beyond 20 waiting are).
    users = {"alice": {"roles": ["family"], "irc": ["alice!*@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, section, hub={"rate_limit": 1000}, users=users) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        commands = ["!temp salon" if i % 2 == 0 else f"!nope{i}" for i in range(100)]
        alice.writer.write("".join(f"PRIVMSG #maison :{c}\r\n" for c in commands).encode())
        started = time.monotonic()
        for index in range(100):
            text = (await alice.reply("maison", "#maison", timeout=15)).text
            if index % 2 == 0:
                assert READING.fullmatch(text), (index, text)
            else:
                assert f"nope{index}" in text, (index, text)
        assert time.monotonic() - started >= (100 - 5) / 200.0 * 0.9      # the bucket did pace
        assert not [l for l in alice.lines if l.command in ("KICK", "ERROR") or
                    (l.nick == "maison" and l.command == "QUIT")]
        assert irc.connections == 1 and irc.health.connected


async def test_alerts_go_out_as_notices_and_notices_are_never_answered(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (_hub, irc):
        await alice.wait_member("#maison", "maison")
        await irc.send(CHANNEL, Reply("Smoke detected in the kitchen!", notice=True))
        notice = await alice.reply("maison", "#maison", command="NOTICE")
        assert notice.text == "Smoke detected in the kitchen!"
        await irc.send(Address("irc", "alice", True), Reply("x", notice=True))
        assert (await alice.reply("maison", "alice", command="NOTICE")).text == "x"
        alice.send("NOTICE #maison :!temp salon")
        alice.send("NOTICE maison :temp salon")
        alice.say("#maison", "!nope1")
        assert "nope1" in (await alice.reply("maison")).text            # the NOTICEs got nothing


async def test_nick_in_use_takes_the_alternative_then_reclaims(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    squatter = await in_channel(tmp_path, "maison", irc_client)
    alice = await in_channel(tmp_path, "alice", irc_client)
    section = settings_irc(ngircd.port, alt_nicks=["maisonbot"])
    async with hub_with_irc(tmp_path, mosquitto, section) as (hub, irc):
        await alice.wait_member("#maison", "maisonbot")
        alice.say("#maison", "maisonbot: temp salon")
        assert READING.fullmatch((await alice.reply("maisonbot", "#maison")).text)
        assert "maisonbot" in (irc.status_note() or "")
        squatter.send("QUIT :bye")
        nick = await alice.expect(lambda l: l.command == "NICK" and l.nick == "maisonbot", what="NICK")
        assert nick.text == "maison"
        alice.say("#maison", "!temp salon")
        assert READING.fullmatch((await alice.reply("maison", "#maison")).text)


async def test_the_first_nick_is_taken_back_when_its_holder_left_unseen(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The nick's holder was in no channel of ours (or was our own old connection, gone after a
    freeze): its leaving was never seen, and the hub stayed `maisonbot` for good."""
    import adapters.irc_link
    monkeypatch.setattr(adapters.irc_link, "RECLAIM_EVERY", 0.5)
    squatter = await irc_client("maison")                 # in no channel
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port, alt_nicks=["maisonbot"])) as (hub, irc):
        await alice.wait_member("#maison", "maisonbot")
        squatter.send("QUIT :bye")
        nick = await alice.expect(lambda l: l.command == "NICK" and l.nick == "maisonbot", what="NICK")
        assert nick.text == "maison"


async def test_images_are_sent_as_links(tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd,
                                        irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    image = tmp_path / "entree.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\nfake")
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (hub, _irc):
        await alice.wait_member("#maison", "maison")
        reply = Reply("Entrée:", attachments=(Attachment(image, "image/png"),
                                              Attachment(image, url="https://example.org/a.png", name="a")))
        await hub.send(CHANNEL, reply)                    # the core turns the pictures into links
        texts = [(await alice.reply("maison", "#maison")).text for _ in range(3)]
        assert texts[0] == "Entrée:" and texts[2] == "a: https://example.org/a.png"
        url = texts[1].split(": ", 1)[1]
        assert url.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            assert response.status == 200 and await response.read() == image.read_bytes()


async def test_tls_with_the_servers_ca_file_and_refused_without(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with started(Ngircd(tmp_path / "tls-ngircd", tls=True)) as server:
        alice = await IrcClient.connect(server.port, "alice")
        await alice.join("#maison")
        section = settings_irc(server.tls_port, tls=True, ca_file=str(server.cert))
        async with hub_with_irc(tmp_path / "a", mosquitto, section) as (_hub, _irc):
            await alice.wait_member("#maison", "maison")
            alice.say("#maison", "!temp salon")
            assert READING.fullmatch((await alice.reply("maison", "#maison")).text)
        async with hub_with_irc(tmp_path / "b", mosquitto, settings_irc(server.tls_port, tls=True)) as (_hub, irc):
            await wait_for(lambda: "CERTIFICATE_VERIFY_FAILED" in irc.health.detail, timeout=5)
            assert not irc.health.connected
            assert "plain-text" not in irc.health.detail and "6667" not in irc.health.detail, \
                "a refused certificate is no reason to try plain text"
        await alice.close()


async def test_cancelling_stops_within_a_second_with_a_quit(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port)) as (hub, irc):
        await alice.wait_member("#maison", "maison")
        supervisor = next(t for t in hub.tasks if t.get_name() == "adapter-irc")
        started = time.monotonic()
        supervisor.cancel()
        await asyncio.wait({supervisor}, timeout=2)
        assert supervisor.done() and time.monotonic() - started < 1.0
        await alice.expect(lambda l: l.command == "QUIT" and l.nick == "maison", timeout=2)
        assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("irc-")]
        with pytest.raises(ConnectionError):
            await irc.send(CHANNEL, Reply("gone"))


async def test_an_alert_for_a_person_never_reaches_whoever_took_their_nick(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    """alice is `alice!*alice@127.0.0.1`: while eve holds the nick `alice` the alert waits (WHOIS
    shows eve's mask), and it reaches the real alice once she is back."""
    impostor = await irc_client("alice", user="eve")
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the kitchen!",
            "severity": "critical", "notify": ["alice"], "repeat": "1h", "cooldown": "30s"}
    users = {"alice": {"roles": ["family"], "irc": ["alice!*alice@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users, alerts=[rule],
                            simulator={"enabled": False}) as (hub, irc):
        await wait_for(lambda: irc.health.connected, timeout=10)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", b'{"smoke": true}')

        store = hub.store
        async with asyncio.timeout(10):                         # the first attempt is refused and recorded
            while not (rows := await store.call(lambda: store.db.execute(
                    "SELECT attempts, last_error FROM deliveries WHERE adapter = 'irc'").fetchall())) \
                    or not rows[0][0]:
                await asyncio.sleep(0.02)
        assert "held by alice!~eve@127.0.0.1" in rows[0][1]
        impostor.send("QUIT :caught")
        await wait_for(lambda: impostor.closed, timeout=5)
        alice = await irc_client("alice", user="alice")
        notice = await alice.reply("maison", "alice", command="NOTICE", timeout=15)
        assert notice.text.startswith("[CRITICAL] Smoke in the kitchen!")
        assert not [l for l in impostor.lines if l.command == "NOTICE" and l.nick == "maison"]


async def test_a_private_timer_result_never_reaches_whoever_took_the_nick(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    """alice sets `in 2s whoami` in private, then changes nick, and eve takes `alice`: the
    result (who alice is, what she may do) went to eve. It goes to alice as an alert does."""
    users = {"alice": {"roles": ["family"], "irc": ["alice!*alice@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users,
                            simulator={"enabled": False}) as (hub, irc):
        await wait_for(lambda: irc.health.connected, timeout=10)
        alice = await irc_client("alice", user="alice")
        alice.send("PRIVMSG maison :in 2s whoami")
        assert (await alice.reply("maison", "alice", timeout=10)).text.startswith("Timer #1")
        alice.send("NICK alice_away")
        impostor = await irc_client("alice", user="eve")
        store = hub.store
        async with asyncio.timeout(15):                 # due, tried, refused: eve holds the nick
            while not (rows := await store.call(lambda: store.db.execute(
                    "SELECT attempts, last_error FROM deliveries WHERE adapter = 'irc'").fetchall())) \
                    or not rows[0][0]:
                await asyncio.sleep(0.05)
        assert "held by alice!~eve@127.0.0.1" in rows[0][1], rows
        impostor.send("QUIT :bye")
        await wait_for(lambda: impostor.closed, timeout=5)
        alice.send("NICK alice")
        notice = await alice.reply("maison", "alice", command="NOTICE", timeout=20)
        assert notice.text.startswith("Timer #1 (whoami): You are"), notice.text
        assert not [l for l in impostor.lines if l.nick == "maison" and "Timer #1" in l.text]


async def test_a_timer_set_by_a_host_alone_says_its_result_cannot_come_back(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    """A user known by a host alone (`*!*@127.0.0.1`) sets a timer in private: its result
    has no nick whose holder can be checked, and went to the log only, without a word."""
    users = {"bob": {"roles": ["family"], "irc": ["*!*@127.0.0.1"]}}
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users,
                            simulator={"enabled": False}) as (hub, irc):
        await wait_for(lambda: irc.health.connected, timeout=10)
        bob = await irc_client("bob", user="bob")
        bob.send("PRIVMSG maison :in 1h whoami")
        answer = (await bob.reply("maison", "bob", timeout=10)).text
        assert answer.startswith("Timer #1") and answer.endswith(
            "Its result cannot be sent back here: your [users] patterns for irc name nobody to write to (add one "
            "with a nick or an account)."), answer
    # With an identity on another network, the result goes there, and the answer says so.
    users["bob"]["loopback"] = ["bob"]
    settings = settings_for(tmp_path / "second", mqtt_url=mosquitto.url, users=users, simulator={"enabled": False},
                            adapters={"irc": settings_irc(ngircd.port), "loopback": {"name": "loop"}})
    async with running(Hub(settings)) as hub:
        irc = hub.adapters["irc"]
        await wait_for(lambda: irc.health.connected, timeout=10)
        bob = await irc_client("bob_again", user="bob")                # the first is still connected
        bob.send("PRIVMSG maison :in 1s whoami")
        answer = (await bob.reply("maison", "bob_again", timeout=10)).text
        assert answer.endswith("Its result goes to you on loopback: your [users] patterns for irc name nobody to "
                               "write to here."), answer
        target, text = await hub.adapters["loop"].next(timeout=10)
        assert target == "bob" and text.startswith("Timer #1 (whoami): You are"), text


async def test_shipped_pacing_survives_ngircd_flood_penalties(tmp_path: Path, mosquitto: Mosquitto,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """Every other test here turns ngircd's flood penalties off. With them on, and the pacing
    the adapter ships with (burst 5, then 1 line/s), twelve private commands sent at once are
    all answered, in order, each as soon as the bot writes it (ngircd holds none of the bot's
    lines back), and ngircd never throws the bot out for flooding."""
    caplog.set_level("DEBUG", logger="adapters.irc_output")        # "irc -> LINE" as each is written
    server = Ngircd(tmp_path / "penalties-ngircd", penalties=True)
    await asyncio.to_thread(server.start)           # its wait for the port must not block the loop
    alice: IrcClient | None = None
    try:
        assert "MaxPenaltyTime = -1" in server.conf.read_text()             # ngircd's default: penalties on
        alice = await IrcClient.connect(server.port, "alice")
        await alice.join("#maison")                                        # to see the bot QUIT, if it ever did
        section = settings_irc(server.port)
        del section["burst"], section["rate"]                              # the shipped pacing
        async with hub_with_irc(tmp_path, mosquitto, section) as (_hub, irc):
            assert (irc.settings.burst, irc.settings.rate) == (5, 1.0)
            await alice.wait_member("#maison", "maison", timeout=15)
            bucket = irc.bucket                                            # registration and JOIN spent it:
            await wait_for(lambda: bucket.delay() == 0 and (bucket._refill(), bucket._tokens)[1] >= 5,
                           timeout=10)                                     # full again, so the bot bursts
            commands = ["temp salon" if i % 2 == 0 else f"nope{i}" for i in range(12)]
            started = time.time()
            alice.writer.write("".join(f"PRIVMSG maison :{c}\r\n" for c in commands).encode())
            received = []
            for index in range(12):
                line = await alice.reply("maison", "alice", timeout=15)
                received.append(time.time())
                if index % 2 == 0:
                    assert READING.fullmatch(line.text), (index, line.text)
                else:
                    assert f"nope{index}" in line.text, (index, line.text)
            written = [r.created for r in caplog.records if "-> PRIVMSG alice :" in r.getMessage()]
            assert len(written) == 12
            assert received[-1] - started >= (12 - 5) / 1.0 * 0.9          # the bucket paced the answers
            lags = [round(got - sent, 2) for sent, got in zip(written, received)]
            assert max(lags) < 0.9, lags                                   # a penalty would hold lines >= 1 s
            assert not [l.raw for l in alice.lines if l.command in ("KILL", "ERROR")
                        or (l.nick == "maison" and l.command in ("QUIT", "PART"))]
            assert irc.connections == 1 and irc.health.connected
            alice.say("maison", "temp salon")                              # still there, still answering
            assert READING.fullmatch((await alice.reply("maison", "alice", timeout=15)).text)
        await alice.expect(lambda l: l.command == "QUIT" and l.nick == "maison", what="the bot's QUIT on stopping")
    finally:
        if alice is not None:
            await alice.close()
        server.stop()
    ends = [l for l in server.log_text().splitlines() if 'User "maison!' in l and "unregistered" in l]
    assert len(ends) == 1 and "Got QUIT command" in ends[0], ends        # ngircd never cut the bot off


async def test_in_french_on_irc(tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    """[hub] language = "fr": the channel reads French (decimal comma, accents in UTF-8 lines), and
    a user who set `language = "en"` for herself gets English in private at the same time."""
    alice = await in_channel(tmp_path, "alice", irc_client)
    users = {"alice": {"roles": ["family"], "irc": ["alice!*@127.0.0.1"], "language": "en"},
             "claire": {"roles": ["family"], "irc": ["claire!*@127.0.0.1"]}}
    bob = await in_channel(tmp_path, "bob", irc_client)
    claire = await in_channel(tmp_path, "claire", irc_client)
    async with hub_with_irc(tmp_path, mosquitto, settings_irc(ngircd.port), users=users,
                            hub={"language": "fr"}) as (_hub, _irc):
        await bob.wait_member("#maison", "maison")
        bob.say("#maison", "!temp salon")
        assert re.fullmatch(r"salon: -?\d+,\d °C", (await bob.reply("maison", "#maison")).text)
        bob.say("#maison", "!tmep salon")
        assert (await bob.reply("maison", "#maison")).text == "Commande inconnue 'tmep'. Vouliez-vous dire !temp ?"
        bob.say("#maison", "!chauffage on")
        assert (await bob.reply("maison", "#maison")).text.startswith(
            "Désolé, bob ne peut pas utiliser 'chauffage on' (il faut la permission switch).")
        alice.say("maison", "chauffage on")
        assert (await alice.reply("maison", "alice")).text == "heater is ON"
        alice.say("maison", "temp salon")
        assert READING.fullmatch((await alice.reply("maison", "alice")).text)
        # Claire (family, the hub's French) drives the lamp, the thermostat and the shutter in French.
        async def answer(said: str, first_word: str) -> str:
            claire.say("#maison", said)
            line = await claire.expect(lambda l: l.command == "PRIVMSG" and l.nick == "maison"
                                       and l.text.startswith(first_word), 10, what=f"the answer to {said}")
            return str(line.text)
        assert await answer("!tamise lampe 40", "lampe") == "lampe: allumé, 40 %, 2700 K"
        assert re.fullmatch(r"thermostat: -?\d+,\d °C, consigne 21,0 °C, arrêt",
                            await answer("!règle thermostat 21", "thermostat:"))
        assert await answer("!règle thermostat 45", "thermostat accepte") == \
            "thermostat accepte de 5 à 30 °C par pas de 0,5 ; 45 est hors limites."
        assert (await answer("!ouvre volet", "volet")).startswith("volet salon: s'ouvre… (")
