"""The IRC adapter's pure logic: splitting, sanitising, parsing, pacing, settings, and raw lines
through irc3's dispatch into Messages (no server)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from chatops.schema import ValidationError

from adapters.irc import Adapter, Settings
from chatops.rate import TokenBucket
import re

from adapters.irc import _PREFIX
from adapters.irc_lines import (HOSTLEN, USERLEN, _split_carefully, casefold, decode_line, privmsg_parts,
                                sanitise, split_params, split_text, strip_formatting, strip_mention)
from adapters.irc_link import Link
from chatops.config import ConfigError
from chatops.hub import Hub
from chatops.message import Address, Message, Reply
from chatops.testing import settings_for
from tests.irc.conftest import FakeHub

# ---- splitting and sanitising ------------------------------------------------------------


def test_split_at_word_boundaries() -> None:
    lines = split_text("the quick brown fox jumps over the lazy dog", 10)
    assert lines == ["the quick", "brown fox", "jumps over", "the lazy", "dog"]


def test_split_never_breaks_a_character_and_keeps_every_byte() -> None:
    word = "é🌡ü" * 50
    lines = split_text(word, 31)
    assert "".join(lines) == word
    assert all(len(line.encode()) <= 31 for line in lines)


def test_split_keeps_combining_marks_with_their_letter() -> None:
    word = "e\u0301" * 40                                       # é as e + combining acute
    lines = split_text(word, 11)
    assert "".join(lines) == word
    assert not any(line[0] == "\u0301" for line in lines)


def test_every_line_break_starts_a_new_message_and_blank_lines_vanish() -> None:
    assert split_text("a\r\nb\nc\rd\n\n  \ne\u2028f", 100) == ["a", "b", "c", "d", "e", "f"]


def test_nul_and_ctcp_markers_are_dropped_other_controls_become_spaces() -> None:
    assert split_text("x\x00y\x01ACTION z\x01\x07w", 100) == ["xyACTION z w"]
    assert sanitise("a\r\nPRIVMSG\nb") == "a PRIVMSG b"
    assert split_text("\x02bold\x02 \x0304red\x03", 100) == ["\x02bold\x02 \x0304red\x03"]   # formatting kept


def test_a_line_without_room_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("hello", 3)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=800), st.integers(min_value=8, max_value=450))
def test_split_property(text: str, limit: int) -> None:
    lines = split_text(text, limit)
    for line in lines:
        assert len(line.encode("utf-8")) <= limit
        assert not set(line) & {"\r", "\n", "\x00"}
        assert line.strip()
    kept = "".join(sanitise(text).split())
    assert "".join("".join(lines).split()) == kept


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300), st.integers(min_value=8, max_value=450))
def test_the_short_clean_line_shortcut_cuts_as_the_full_path_does(text: str, limit: int) -> None:
    assert split_text(text, limit) == _split_carefully(text, limit)
    assert split_text("  " + text[:20] + "  ", limit) == _split_carefully("  " + text[:20] + "  ", limit)


_IRC3_PRIVMSG = re.compile(_PREFIX + r"(?P<command>PRIVMSG|NOTICE) +(?P<target>\S+) +:?(?P<data>.*)$")
_WORD = st.text(alphabet=st.sampled_from("ab#!@:. \t"), min_size=0, max_size=6)


_PIECE = st.one_of(_WORD, st.sampled_from([":", " ", "  ", "PRIVMSG", "NOTICE", "@a=b", "é", "\x01"]))


_NAME = st.text(alphabet=st.sampled_from("ab#!@:.é\t\xa0\x0b\x85\u3000"), max_size=8)
_GAP = st.sampled_from(["", " ", "  ", "\t", " :", ": "])


@settings(max_examples=1000, deadline=None)
@given(st.lists(_PIECE, max_size=10), _NAME, _NAME, st.lists(_PIECE, max_size=6),
       st.lists(_GAP, min_size=3, max_size=3), st.booleans())
def test_the_privmsg_shortcut_reads_lines_as_irc3_does(noise: list[str], source: str, target: str,
                                                        text: list[str], gaps: list[str], shaped: bool) -> None:
    line = ":" + source + gaps[0] + "PRIVMSG" + gaps[1] + target + gaps[2] + "".join(text) if shaped else "".join(noise)
    parts = privmsg_parts(line)
    if parts is None:
        return                                   # irc3's own dispatch reads it
    match = _IRC3_PRIVMSG.match(line)
    assert match is not None, line
    assert (match["tags"], match["command"]) == (None, "PRIVMSG")
    assert parts == (match["source"], match["target"], match["data"])


def test_the_privmsg_shortcut_on_the_lines_servers_send() -> None:
    assert privmsg_parts(":bob!b@h PRIVMSG #maison :!temp salon") == ("bob!b@h", "#maison", "!temp salon")
    assert privmsg_parts(":bob!b@h PRIVMSG maison hello") == ("bob!b@h", "maison", "hello")
    assert privmsg_parts(":bob!b@h PRIVMSG maison :") == ("bob!b@h", "maison", "")
    assert privmsg_parts(":bob!b@h PRIVMSG maison") is None            # no text: not a message
    assert privmsg_parts("@account=bob :bob!b@h PRIVMSG maison :hi") is None   # tags: irc3 reads them
    assert privmsg_parts(":bob!b@h NOTICE maison :hi") is None


def test_formatting_is_stripped_from_what_users_type() -> None:
    assert strip_formatting("\x02!temp\x02 \x0304,01salon\x03\x1d\x0f") == "!temp salon"
    assert strip_formatting("\x04ff0000red\x04") == "red"


def test_mentions() -> None:
    assert strip_mention("maison: temp salon", "maison") == "temp salon"
    assert strip_mention("Maison, temp", "maison") == "temp"
    assert strip_mention("maison:temp", "maison") == "temp"
    assert strip_mention("maison[1]: temp", "MAISON{1}") == "temp"     # rfc1459 case mapping
    assert strip_mention("maisonette: temp", "maison") is None
    assert strip_mention("hello maison: temp", "maison") is None
    assert strip_mention("maison", "maison") is None


def test_casefold_follows_the_servers_casemapping() -> None:
    assert casefold("Nick[]\\~") == "nick{}|^"
    assert casefold("Nick[]\\~", "strict-rfc1459") == "nick{}|~"
    assert casefold("Nick[]", "ascii") == "nick[]"


def test_split_params() -> None:
    assert split_params(" = #maison :@alice +bob carol") == ["=", "#maison", "@alice +bob carol"]
    assert split_params(" a b") == ["a", "b"]
    assert split_params(" :") == [""]
    assert split_params("") == []


def test_decode_falls_back_to_latin1() -> None:
    assert decode_line("été".encode()) == "été"
    assert decode_line("été".encode("latin-1")) == "été"


def test_token_bucket_bursts_then_paces() -> None:
    now = [100.0]
    bucket = TokenBucket(burst=3, rate=2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    assert bucket.delay() == pytest.approx(0.5)
    now[0] += 0.5
    assert bucket.take() and not bucket.take()
    now[0] += 100
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]      # never more than burst


# ---- settings ------------------------------------------------------------------------------


def test_settings_channels_keys_and_defaults() -> None:
    s = Settings.model_validate({"host": "irc.libera.chat", "ca_file": "",
                                 "channels": ["#maison", {"name": "#famille", "key_env": "FAMILY_KEY"}]})
    assert [c.name for c in s.channels] == ["#maison", "#famille"]
    assert s.channels[1].key_env == "FAMILY_KEY" and s.ca_file is None
    assert s.tls and s.tls_verify and s.port == 6697 and s.burst == 5


@pytest.mark.parametrize("bad", [
    {"host": "h", "sasl_password": "secret"},
    {"host": "h", "password": "secret"},
    {"host": "h", "channels": [{"name": "#x", "key": "secret"}]},
    {"host": "h", "nick": "not a nick"},
    {"host": "h", "alt_nicks": ["9lives"]},
    {"host": "h", "channels": ["maison"]},
    {"host": "h", "ping_interval": "5m", "ping_timeout": "1m"},
    {"host": "h", "rate": 0},
])
def test_settings_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate(bad)


def test_a_channel_without_its_hash_is_named_as_written_with_the_fix(tmp_path: Path) -> None:
    from chatops.config import ConfigError, parse_settings
    with pytest.raises(ConfigError) as refused:
        parse_settings({"adapters": {"irc": {"host": "h", "channels": ["#ok", "maison"]}}})
    assert refused.value.problems[0].startswith(
        "adapters.irc.channels: 'maison' is no IRC channel: a channel starts with # (or &, +, !) and has no space "
        "or comma, e.g. \"#maison\""), refused.value.problems
    assert "pattern" not in refused.value.problems[0]


def test_several_networks_are_a_list_of_sections(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, adapters={"irc": [
        {"name": "libera", "host": "irc.libera.chat", "channels": ["#maison"]},
        {"name": "oftc", "host": "irc.oftc.net", "channels": ["#maison"]}]})
    hub = Hub(settings)
    assert {n for n, a in hub.adapters.items() if a.network == "irc"} == {"libera", "oftc"}
    assert hub.adapters["oftc"].settings.host == "irc.oftc.net"  # type: ignore[attr-defined]
    # An alert to `oftc:#maison` is a channel, by the rule of oftc's kind (irc), not a person.
    from chatops.recipients import Recipient
    assert hub.alerts.is_direct(Recipient("oftc", "#maison", "")) is False
    assert hub.alerts.is_direct(Recipient("oftc", "alice", "")) is True


async def test_missing_secret_is_a_configuration_error(tmp_path: Path) -> None:
    adapter = Adapter("irc", Settings.model_validate({"host": "h", "sasl_password_env": "NO_SUCH_VAR_X"}))
    with pytest.raises(ConfigError):
        await adapter.run(FakeHub(tmp_path))  # type: ignore[arg-type]


# ---- raw lines in, Messages out (irc3 dispatch, no network) ----------------------------------


class Transport:
    def __init__(self) -> None:
        self.data = b""

    def write(self, data: bytes) -> None:
        self.data += data

    def close(self) -> None:
        pass

    def get_extra_info(self, name: str, default: object = None) -> object:
        return default                  # no socket: nothing to acknowledge early

    @property
    def lines(self) -> list[str]:
        return self.data.decode().split("\r\n")[:-1]


class Router:
    def command_text(self, message: Message) -> str | None:
        return message.text[1:] if message.text.startswith("!") else None


@pytest.fixture
async def wired(tmp_path: Path) -> AsyncIterator[SimpleNamespace]:
    """An adapter with a registered link on a fake transport, as after 001 on a real server."""
    adapter = Adapter("irc", Settings.model_validate({"host": "h", "nick": "maison", "burst": 1000}))
    hub = FakeHub(tmp_path, Router())
    adapter._hub = hub  # type: ignore[assignment]
    adapter.nicks = ["maison"]
    adapter.bot = adapter._make_bot("maison")
    link = Link(adapter, "maison")
    transport = Transport()
    link.protocol.connection_made(transport)  # type: ignore[arg-type]
    adapter.bot.protocol = link.protocol
    adapter._link = link
    link.registered.set_result(None)
    link.joined[link.fold("#maison")] = "#maison"          # as after its JOIN

    async def feed(*lines: str) -> list[Message]:
        for line in lines:
            link.protocol.data_received(line.encode() + b"\r\n")
        await asyncio.sleep(0)                          # irc3 dispatches with call_soon
        out = []
        while not hub.messages.empty():
            out.append(hub.messages.get_nowait())
        return out

    yield SimpleNamespace(adapter=adapter, link=link, hub=hub, transport=transport, feed=feed)
    link.close("test over")


async def test_channel_private_and_mention(wired: SimpleNamespace) -> None:
    [channel] = await wired.feed(":alice!al@home.example.org PRIVMSG #maison :!temp salon")
    assert channel.address == Address("irc", "#maison", False)
    assert not channel.addressed and channel.text == "!temp salon"
    assert channel.sender.id == "alice!al@home.example.org" and channel.sender.display == "alice"
    assert channel.sender.network == "irc" and channel.sender.account is None
    [private] = await wired.feed(":alice!al@h PRIVMSG maison :temp salon")
    assert private.address == Address("irc", "alice", True) and private.addressed
    [mention] = await wired.feed(":alice!al@h PRIVMSG #maison :MAISON: temp salon")
    assert mention.addressed and mention.text == "temp salon" and not mention.address.direct
    [coloured] = await wired.feed(":alice!al@h PRIVMSG #maison :\x02!temp\x02 \x0304salon")
    assert coloured.text == "!temp salon"


async def test_ignored_lines(wired: SimpleNamespace) -> None:
    assert await wired.feed(
        ":alice!a@h NOTICE #maison :!temp salon",               # notices: never answered
        ":alice!a@h NOTICE maison :temp",
        ":maison!bot@h PRIVMSG #maison :!temp salon",           # our own line
        ":alice!a@h PRIVMSG #maison :\x01ACTION waves\x01",      # CTCP
        ":alice!a@h PRIVMSG maison :\x01VERSION\x01",
        ":alice!a@h PRIVMSG #maison :just chatting",            # not for the bot
        ":irc.server PRIVMSG #maison :!temp salon",             # no hostmask
    ) == []


async def test_a_utf8_character_cut_between_reads_arrives_whole(wired: SimpleNamespace) -> None:
    data = ":alice!a@h PRIVMSG maison :température\r\n".encode()
    cut = data.index("é".encode()) + 1
    wired.link.protocol.data_received(data[:cut])
    wired.link.protocol.data_received(data[cut:-1])
    await asyncio.sleep(0)
    assert wired.hub.messages.empty()                      # the CR arrived, not the LF
    wired.link.protocol.data_received(b"\n")
    await asyncio.sleep(0)
    assert wired.hub.messages.get_nowait().text == "température"


async def test_account_tag_is_trusted_only_when_negotiated(wired: SimpleNamespace) -> None:
    line = "@time=x;account=alice :alice!a@h PRIVMSG maison :whoami"
    [before] = await wired.feed(line)
    assert before.sender.account is None
    wired.link.caps.add("account-tag")
    [after] = await wired.feed(line)
    assert after.sender.account == "alice" and after.sender.id == "alice!a@h"
    [none] = await wired.feed(":bob!b@h PRIVMSG maison :whoami")
    assert none.sender.account is None


async def test_accounts_from_extended_join_and_account_notify(wired: SimpleNamespace) -> None:
    wired.link.caps.update({"extended-join", "account-notify"})
    assert await wired.feed(":maison!bot@h JOIN #maison * :bot", ":alice!a@h JOIN #maison alice :Alice") == []
    [msg] = await wired.feed(":alice!a@h PRIVMSG maison :whoami")
    assert msg.sender.account == "alice"
    [other_host] = await wired.feed(":alice!a@elsewhere PRIVMSG maison :whoami")
    assert other_host.sender.account is None                # same nick, another mask: not trusted
    [renamed] = await wired.feed(":alice!a@h NICK :alice2", ":alice2!a@h PRIVMSG maison :x")
    assert renamed.sender.account == "alice"
    [logged_out] = await wired.feed(":alice2!a@h ACCOUNT *", ":alice2!a@h PRIVMSG maison :x")
    assert logged_out.sender.account is None
    [back] = await wired.feed(":alice2!a@h ACCOUNT alice", ":alice2!a@h PART #maison",
                              ":alice2!a@h PRIVMSG maison :x")
    assert back.sender.account is None                      # no shared channel: forgotten
    wired.link.isupport["WHOX"] = ""
    await wired.feed(":carol!c@h JOIN #maison * :Carol", ":srv 354 maison 174 c h carol carol")
    [whox] = await wired.feed(":carol!c@h PRIVMSG maison :x")
    assert whox.sender.account == "carol"
    [gone] = await wired.feed(":carol!c@h QUIT :bye", ":carol!c@h PRIVMSG maison :x")
    assert gone.sender.account is None


async def test_ping_is_answered_and_lines_fit_the_servers_limit(wired: SimpleNamespace) -> None:
    await wired.feed("PING :irc.example.org")
    await asyncio.sleep(0)
    assert "PONG :irc.example.org" in wired.transport.lines
    text = "mot " * 600
    await wired.adapter.send(Address("irc", "#maison", False), Reply(text))
    lines = [line for line in wired.transport.lines if line.startswith("PRIVMSG")]
    estimated = len("maison!") + USERLEN + 1 + HOSTLEN + 2      # before the server shows our mask
    assert all(len(line.encode()) + 2 + estimated <= 512 for line in lines)
    assert " ".join(line.split(" :", 1)[1] for line in lines) == text.strip()
    long_host = "maison!~chatops@" + "h" * 120
    await wired.feed(f":{long_host} JOIN #maison")
    wired.transport.data = b""
    await wired.adapter.send(Address("irc", "#maison", False), Reply(text, notice=True))
    lines = wired.transport.lines
    assert lines and all(line.startswith("NOTICE #maison :") for line in lines)
    assert all(len(f":{long_host} {line}\r\n".encode()) <= 512 for line in lines)
    assert max(len(f":{long_host} {line}\r\n".encode()) for line in lines) > 480     # and not wastefully short


async def test_send_raises_when_not_connected(tmp_path: Path) -> None:
    adapter = Adapter("irc", Settings.model_validate({"host": "h"}))
    with pytest.raises(ConnectionError):
        await adapter.send(Address("irc", "#maison", False), Reply("x"))


async def test_a_lost_connection_fails_pending_sends(wired: SimpleNamespace) -> None:
    wired.adapter.bucket = TokenBucket(burst=1, rate=0.001)
    sending = asyncio.create_task(wired.adapter.send(Address("irc", "#maison", False), Reply("a\nb\nc")))
    await asyncio.sleep(0)
    assert not sending.done()                                # b and c wait for tokens
    wired.link.close("server gone")
    with pytest.raises(ConnectionError):
        await sending


async def test_irc3_leaves_the_hubs_logging_alone(tmp_path: Path) -> None:
    import logging
    before = (list(logging.root.handlers), logging.getLogger("irc3").handlers[:],
              logging.getLogger("irc3").propagate, logging.getLogger("asyncio").handlers[:])
    Adapter("irc", Settings.model_validate({"host": "h"}))._make_bot("maison")
    after = (list(logging.root.handlers), logging.getLogger("irc3").handlers[:],
             logging.getLogger("irc3").propagate, logging.getLogger("asyncio").handlers[:])
    assert before == after


async def test_a_failing_handler_is_logged_and_the_next_line_still_handled(
        wired: SimpleNamespace, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    real = wired.adapter.message_for
    calls = []

    def flaky(*args: Any) -> Message:
        calls.append(args)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return real(*args)

    monkeypatch.setattr(wired.adapter, "message_for", flaky)
    [message] = await wired.feed(":a!a@h PRIVMSG maison :one", ":a!a@h PRIVMSG maison :two")
    assert message.text == "two"
    assert any("IRC handler _on_message failed" in r.getMessage() and r.exc_info for r in caplog.records)


async def test_status_prefixed_channel_messages_answer_the_same_audience(wired: SimpleNamespace) -> None:
    [message] = await wired.feed(":alice!a@h PRIVMSG @#maison :!temp salon")
    assert message.address == Address("irc", "@#maison", False)


async def test_lines_nobody_waits_for_are_dropped_quietly_with_the_link(caplog: pytest.LogCaptureFixture) -> None:
    """A JOIN queued when the hub stops: its future fails with the link and nobody awaits it;
    asyncio must not log "Future exception was never retrieved" as an ERROR at every stop."""
    import gc

    from adapters.irc_output import SendQueue
    bucket = TokenBucket(rate=0.001, burst=1)
    bucket.take()                                           # empty: every line waits in the queue
    link = SimpleNamespace(adapter=SimpleNamespace(bucket=bucket, name="irc", bot=None))
    queue = SendQueue(link)  # type: ignore[arg-type]
    assert queue.enqueue(["JOIN #maison"]) is not None      # dropped on the floor, as irc_channels does
    awaited = queue.enqueue(["PRIVMSG #maison :hello"])
    queue.fail(ConnectionError("IRC connection lost (hub stopping)"))
    with pytest.raises(ConnectionError):
        await awaited                                       # a sender that waits still hears of it
    del awaited
    gc.collect()
    assert "never retrieved" not in caplog.text


def test_brackets_in_a_nick_are_the_nick_not_a_wildcard() -> None:
    """`alice[m]` (a Matrix bridge's nick) never matched its own pattern: fnmatch read [m] as a
    set of one character. `*` and `?` are the only wildcards, as docs/networks/irc.md says."""
    from adapters.irc_network import matches
    from chatops.message import Identity
    alice = Identity("irc", "alice[m]!~alice@127.0.0.1")
    assert matches(alice, "alice[m]!*@127.0.0.1", None)          # type: ignore[arg-type]
    assert not matches(Identity("irc", "alicem!~alice@127.0.0.1"), "alice[m]!*@127.0.0.1", None)  # type: ignore[arg-type]
    assert matches(alice, "ALICE[M]!?alice@127.0.0.*", None)     # type: ignore[arg-type]


async def test_a_channel_the_bot_is_not_in_is_no_delivery_and_a_withdrawn_send_leaves_no_line(
        wired: SimpleNamespace) -> None:
    """An alert to a channel the bot was kicked from was counted delivered (the server dropped
    it, 404); one the outbox stopped waiting for (behind a long queue) went out later anyway, and
    its retry again: the same alert three times."""
    wired.link.joined.clear()
    with pytest.raises(ConnectionError, match="not in #maison"):
        await wired.adapter.send(Address("irc", "#maison", False), Reply("Smoke!", notice=True))
    wired.link.joined[wired.link.fold("#maison")] = "#maison"
    wired.adapter.bucket = TokenBucket(rate=0.001, burst=1)
    wired.adapter.bucket.take()                             # empty: the lines wait in the queue
    sending = asyncio.create_task(wired.adapter.send(Address("irc", "#maison", False), Reply("a\nb", notice=True)))
    await asyncio.sleep(0)
    assert len(wired.link.out.queue) == 2
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    assert not wired.link.out.queue, "withdrawn, not written later"


def test_a_stray_byte_does_not_turn_a_utf8_line_into_latin1() -> None:
    assert decode_line("!temp séjour".encode() + b"\xff") == "!temp séjour"
    assert decode_line(b"temp s\xe9jour") == "temp séjour"          # a legacy Latin-1 client still read


async def test_waiting_lines_take_turns_by_target(wired: SimpleNamespace) -> None:
    """At the shipped pace (a line a second), a long listing to one person held an alert to the
    channel until its last line: now each target waiting gets a line in turn."""
    wired.adapter.bucket = TokenBucket(rate=2000, burst=1)
    wired.adapter.bucket.take()                             # empty: the lines wait their tokens
    listing = asyncio.create_task(wired.adapter.send(Address("irc", "alice", True),
                                                     Reply("\n".join(f"device {n}" for n in range(1, 5)))))
    await asyncio.sleep(0)
    alert = asyncio.create_task(wired.adapter.send(Address("irc", "#maison", False), Reply("Smoke!", notice=True)))
    writer = asyncio.create_task(wired.link.out.write_forever())
    try:
        async with asyncio.timeout(5):
            await asyncio.gather(listing, alert)
    finally:
        writer.cancel()
    assert wired.transport.lines == ["PRIVMSG alice :device 1", "NOTICE #maison :Smoke!", "PRIVMSG alice :device 2",
                                     "PRIVMSG alice :device 3", "PRIVMSG alice :device 4"]


async def test_an_alert_to_the_hubs_own_nick_is_undeliverable_naming_the_channel(wired: SimpleNamespace) -> None:
    """`notify = ["irc:maison"]` for `irc:#maison`: the hub noticed itself and counted it delivered."""
    from chatops.outbox import Undeliverable
    wired.adapter.settings = Settings.model_validate({"host": "h", "nick": "maison", "channels": ["#maison"]})
    with pytest.raises(Undeliverable, match="irc:maison is the hub's own nick; the channel is written irc:#maison"):
        await wired.adapter.send(Address("irc", "maison", True), Reply("Smoke!", notice=True))
    assert "Smoke" not in wired.transport.data.decode()


async def test_names_are_folded_again_when_the_server_announces_its_casemapping(wired: SimpleNamespace) -> None:
    """`Link.fold` remembers what it folded; a CASEMAPPING in the server's 005 (read after our
    first names were folded) must change the answers, not leave the old mapping's."""
    link = wired.link
    assert link.fold("Alice[~]") == "alice{^}"                # rfc1459 until the server says otherwise
    await wired.feed(":irc.example 005 maison CASEMAPPING=ascii :are supported by this server")
    assert link.fold("Alice[~]") == "alice[~]"
    assert link.is_me("MAISON")


@pytest.mark.parametrize(("given", "port"), [({}, 6697), ({"tls": False}, 6667), ({"tls": False, "port": 6697}, 6697),
                                             ({"port": 7000}, 7000)])
def test_the_port_follows_tls_unless_given(given: dict[str, Any], port: int) -> None:
    """`tls = false` alone (a home ngircd) spoke plain text to port 6697, a TLS port by custom."""
    assert Settings.model_validate({"host": "irc.example.org", **given}).port == port
