"""What each built-in network tells the core (pure logic): identities, matching, delivery targets,
rooms and people. The core asks these descriptions and names no network itself."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

import pytest

from adapters import SHIPPED
from chatops.recipients import Recipient, is_direct
from chatops.message import Identity
from chatops.networks import networks
from chatops.testing import settings_for


def test_the_built_in_networks_are_registered_as_plugins_are() -> None:
    assert {"console", "irc", "xmpp", "slack", "sms", "web", "loopback"} <= set(networks().names)
    assert networks().broken == {}


def test_the_shipped_list_is_the_entry_points() -> None:
    """adapters.SHIPPED (read without package metadata) and pyproject's entry points say the same."""
    project = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    points = project["project"]["entry-points"]["chatops.adapters"]
    assert {**SHIPPED, "web": "chatops.networks:WEB"} == points
    assert list(networks().known)[:len(SHIPPED)] == list(SHIPPED)      # the order people meet them


def test_an_xmpp_room_is_never_guessed_from_its_domain() -> None:
    """`xmpp:house@muc.example.org` used to go out as a direct chat ("conference" was not in the
    domain) and was lost: XMPP addresses now go out undecided and the adapter asks the server."""
    assert is_direct(Recipient("xmpp", "house@muc.example.org", "")) is False
    assert is_direct(Recipient("irc", "#maison", "")) is False and is_direct(Recipient("irc", "alice", ""))
    assert is_direct(Recipient("slack", "C0123", "")) is False and is_direct(Recipient("slack", "U0123", ""))
    assert is_direct(Recipient("sms", "+33612345678", ""))
    assert is_direct(Recipient("some-plugin-not-installed", "x", ""))


def test_each_network_matches_its_own_identities(tmp_path: object) -> None:
    settings = settings_for(tmp_path / "data")       # type: ignore[operator]
    irc, xmpp, sms = (networks().get(n) for n in ("irc", "xmpp", "sms"))
    assert irc and xmpp and sms
    assert irc.matches(Identity("irc", "bob!b@h", account="Bob"), "account:bob", settings)
    assert not irc.matches(Identity("irc", "bob!b@h"), "account:bob", settings)
    assert irc.matches(Identity("irc", "bob!~b@home.example.org"), "bob!*@home.example.org", settings)
    assert xmpp.matches(Identity("xmpp", "Alice@Example.org"), "alice@example.org/phone", settings)
    assert sms.matches(Identity("sms", "+33612345678"), "06 12 34 56 78", settings)
    assert irc.targets("alice", ["account:alice", "alice!*@home.example.org"]) == ["user:alice"]
    assert irc.targets("alice", ["*!*@192.0.2.10"]) == []          # no nick to write to
    assert xmpp.targets("alice", ["alice@example.org", "*@example.org"]) == ["alice@example.org"]
    assert xmpp.identity_problem("not a jid") and irc.identity_problem("alice!*@*")
    assert sms.address_problem("+33612345678") is None and sms.address_problem("hello")
    slack = networks().get("slack")
    assert slack.identity_problem("B0GRAF") is None, "a bot (allow_bots) can be given a role"
    assert slack.identity_problem("@alice") is not None


IMPOSTOR = __import__("chatops.networks", fromlist=["Network"]).Network(
    name="irc", adapter="adapters.loopback:Adapter", example="pipe:x", identities="anything")


def test_a_plugin_whose_network_names_a_built_in_is_left_out(monkeypatch: object) -> None:
    """Entry point `pipe`, but `Network(name="irc")` inside: it would replace IRC, and who counts
    as whom there. Left out, and said."""
    import chatops.networks as module
    shipped = list(module.entry_points(module.GROUP))
    monkeypatch.setattr(module, "entry_points",  # type: ignore[attr-defined]
                        lambda group: [*shipped, ("pipe", "tests.test_networks:IMPOSTOR")])
    found = module.Networks()
    assert found.get("irc") is not None and found.get("irc").adapter == "adapters.irc:Adapter"
    assert "pipe" in found.broken and "its Network is named 'irc'" in found.broken["pipe"]


async def test_an_adapter_whose_run_returns_while_connected_is_down_and_started_again(
        caplog: pytest.LogCaptureFixture) -> None:
    """A plugin's run() that said `up` and returned showed `connected: true` in /health for ever."""
    from types import SimpleNamespace

    from chatops.health import Health
    from chatops.hub import Hub

    class Returns:
        name, network = "tcp", "tcpchat"

        def __init__(self) -> None:
            self.health, self.runs = Health(), 0

        async def run(self, hub: object) -> None:
            self.runs += 1
            self.health.up("pretending")
            if self.runs == 2:
                await asyncio.Event().wait()

    adapter = Returns()
    supervising = asyncio.create_task(Hub._supervise(SimpleNamespace(), adapter))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(5):
            while adapter.runs < 2:
                await asyncio.sleep(0.01)
    finally:
        supervising.cancel()
    assert "adapter tcp: run() returned while its health said connected" in caplog.text


def test_a_plugin_matches_that_raises_leaves_a_stranger_not_silence(tmp_path: Path,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """A network's `matches` that raised (a plugin's KeyError) left the sender with no answer."""
    import dataclasses

    from chatops.auth import Auth
    settings = settings_for(tmp_path, users={"owner": {"web": ["owner"]}})
    auth = Auth(settings)
    web = networks().known["web"]

    def broken(identity: Identity, pattern: str, _settings: object) -> bool:
        raise KeyError("nick")
    networks().known["web"] = dataclasses.replace(web, matches=broken)
    try:
        assert auth.user_for(Identity("web", "mallory")) is None
    finally:
        networks().known["web"] = web
    assert "network web: matches() failed on mallory against 'owner' (KeyError: 'nick'); the sender is taken " \
           "for a stranger" in caplog.text


def test_an_xmpp_identity_that_could_never_match_is_refused() -> None:
    """`xmpp:alice@…` (an alert address pasted) and `*@example.org` passed check, then the person
    was a stranger: a JID is matched whole."""
    from chatops.config import ConfigError, parse_settings
    with pytest.raises(ConfigError) as caught:
        parse_settings({"users": {"alice": {"xmpp": ["xmpp:alice@example.org"]},
                                  "bob": {"xmpp": ["*@example.org", "bob!*@127.0.0.1"]}}})
    assert caught.value.problems == [
        "users.alice.xmpp: 'xmpp:alice@example.org': write the JID without xmpp: (\"alice@example.org\"); xmpp: "
        "starts an alert address only",
        "users.bob.xmpp: '*@example.org': a JID is matched whole, without wildcards; list each person's, e.g. "
        "\"alice@example.org\"",
        "users.bob.xmpp: 'bob!*@127.0.0.1': a JID is matched whole, without wildcards; list each person's, e.g. "
        "\"alice@example.org\""]


def test_a_slack_id_in_another_form_is_refused() -> None:
    """`@alice` or a lower-cased id passed check, then alice was a stranger; `slack:#general`
    was an alert retried for a day."""
    from chatops.config import ConfigError, parse_settings
    with pytest.raises(ConfigError) as caught:
        parse_settings({"users": {"alice": {"slack": ["@alice"]}}})
    assert caught.value.problems[0].startswith("users.alice.slack: '@alice' is not a Slack member ID; write it as "
                                               "Slack does, e.g. \"U0123ABCD\"")
    parse_settings({"users": {"alice": {"slack": ["U0123ABCD"]}}})
    from adapters.slack_network import address_problem
    assert address_problem("#general") and address_problem("c0123abc") and not address_problem("C0123ABCD")


def test_an_adapter_whose_constructor_raises_is_down_and_the_hub_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A plugin's `__init__` raising (`int("127.0.0.1:18392")`) stopped `run` and `check` with a
    traceback and exit 1: a restart loop under systemd. That network is down, named; the rest runs."""
    import adapters.loopback
    from chatops.adapter import NotLoaded
    from chatops.hub import Hub

    def broken(self: object, name: str, settings: object = None) -> None:
        raise ValueError("invalid literal for int() with base 10: '127.0.0.1:18392'")

    monkeypatch.setattr(adapters.loopback.Adapter, "__init__", broken)
    hub = Hub(settings_for(tmp_path, adapters={"loopback": {"name": "loop"}}), tty=False)
    loop = hub.adapters["loop"]
    assert isinstance(loop, NotLoaded) and not loop.health.connected
    assert "its adapter raised ValueError: invalid literal" in loop.health.detail
    assert "adapter loop (loopback) could not be built" in caplog.text


async def test_a_reply_whose_send_never_returns_is_given_up_and_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A send that hangs held its conversation's lane for good, without a log line."""
    import chatops.hub
    from chatops.message import Address, Reply

    hub = chatops.hub.Hub(settings_for(tmp_path, adapters={"loopback": {"name": "loop"}}), tty=False)

    async def hangs(address: Address, reply: Reply) -> None:
        await asyncio.Event().wait()

    monkeypatch.setattr(hub.adapters["loop"], "send", hangs)
    monkeypatch.setattr(chatops.hub, "REPLY_SEND_TIMEOUT", 0.05)
    async with asyncio.timeout(5):
        await hub.send(Address("loop", "alice", True), Reply("hello"))
    assert "a reply to alice through loop was given up: the adapter's send did not return within 0.05s" in caplog.text
