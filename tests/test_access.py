"""Access control across every network, as one table: command x kind of sender -> allowed or refused.

Identities are built the way each adapter builds them (the adapters' own suites prove they do).
Every refusal must be in the audit log. The table asks the router; two paths add their own rule:

- Jabber-RPC: the "rpc caller" rows are also played as real Jabber-RPC calls through the XMPP
  adapter's own handler (`adapters.xmpp_rpc`: Endpoints -> HubService), without a network;
- SMS: the router would let an unknown number read, but the SMS adapter never answers a number
  that no user has (it only audits it). `test_sms_adapter_answers_no_unknown_number` checks it
  here on the adapter's own handling; tests/sms/test_sms.py
  `test_gammu_unknown_number_is_audited_not_answered` proves it end to end on the dummy phone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from chatops.hub import Hub, running
from chatops.message import Address, Identity, Message, Reply
from adapters.xmpp_rpc_client import Fault, FaultCode, call_query, parse_response
from chatops.testing import settings_for

SENDERS = {
    "admin (xmpp)": Identity("xmpp", "alice@example.org"),
    "family (irc account)": Identity("irc", "bobby!b@1.2.3.4", account="bob", display="bobby"),
    "family (irc hostmask)": Identity("irc", "bob!~b@home.example.org", display="bob"),
    "unknown (slack)": Identity("slack", "U0STRANGER"),
    "spoofed nick (irc)": Identity("irc", "alice!evil@elsewhere.example", display="alice"),
    "muc occupant, no real jid": Identity("xmpp", "maison@conference.example.org/alice", trusted=False),
    "unknown phone": Identity("sms", "+33700000000"),
    "family phone": Identity("sms", "+33611111111"),
    "rpc caller (admin jid)": Identity("xmpp", "alice@example.org"),
    "rpc caller (unknown jid)": Identity("xmpp", "script@example.org"),
    "admin (matrix)": Identity("matrix", "@alice:example.org"),
    "unknown (matrix)": Identity("matrix", "@mallory:example.org"),
    "family (telegram)": Identity("telegram", "123456789", display="bobby"),
    "unknown (telegram, a family member's name)": Identity("telegram", "987654321", display="bob"),
}
READ_ONLY = {"help", "temp salon", "read heater", "status", "devices", "whoami"}
FAMILY = {"switch heater on", "alerts", "ack", "history salon", "graph salon", "snap entree"}
ADMIN = {"mute smoke 1m", "simulate smoke off"}
LEVEL = {
    "admin (xmpp)": "admin", "rpc caller (admin jid)": "admin", "admin (matrix)": "admin",
    "family (irc account)": "family", "family (irc hostmask)": "family", "family phone": "family",
    "family (telegram)": "family",
}


def refused(text: str) -> bool:
    return any(line.startswith("Sorry, ") and " may not use " in line for line in text.splitlines())


def expected(sender: str, command: str) -> bool:
    level = LEVEL.get(sender, "guest")
    if command in READ_ONLY:
        return True
    if command in FAMILY:
        return level in ("family", "admin")
    return level == "admin"


async def settle_audit(hub: Hub) -> None:
    """The audit trail writes its rows in batches: write what it holds."""
    await hub.audit.flush(everything=True)


@pytest.fixture
async def hub(tmp_path: Path, mosquitto: object) -> AsyncIterator[Hub]:
    settings = settings_for(tmp_path, mosquitto.url, hub={"rate_limit": 1000}, alerts=[], web={"user": None}, users={  # type: ignore[attr-defined]
        "owner": None,
        "alice": {"roles": ["admin"], "xmpp": ["alice@example.org"], "irc": ["alice!*@home.example.org"],
                  "matrix": ["@alice:example.org"]},
        "bob": {"roles": ["family"], "irc": ["account:bob", "bob!*@home.example.org"], "sms": ["06 11 11 11 11"],
                "telegram": ["123456789"]},
    })
    async with running(Hub(settings, tty=False)) as started:
        yield started


@pytest.mark.servers
async def test_every_command_for_every_kind_of_sender(hub: Hub) -> None:
    outcomes: dict[tuple[str, str], bool] = {}
    for sender_name, identity in SENDERS.items():
        for command in sorted(READ_ONLY | FAMILY | ADMIN):
            message = Message(identity, Address(identity.network, identity.id, True), command, addressed=True)
            replies = [r.text for r in await hub.execute(message)]
            outcomes[(sender_name, command)] = not refused("\n".join(replies))
    wrong = {key: allowed for key, allowed in outcomes.items() if allowed != expected(*key)}
    assert wrong == {}, wrong
    await settle_audit(hub)
    audited = {(e["sender"], e["text"]) for e in await hub.store.audit_entries("refused")}
    refusals = {(str(SENDERS[s]), c) for (s, c), allowed in outcomes.items() if not allowed}
    assert refusals and refusals <= audited


# ---- Jabber-RPC: the XMPP adapter's own handler, without a network ---------------------------------

RPC_CALLERS = {                                       # the full JID a script calls from -> table row
    "alice@example.org/backup-script": "rpc caller (admin jid)",
    "script@example.org/cron": "rpc caller (unknown jid)",
    "maison@conference.example.org/alice": "muc occupant, no real jid",
}
ROOM = "maison@conference.example.org"


class JabberRpc:
    """The XMPP adapter of `hub`, built but never connected: a call is handed to slixmpp's
    Jabber-RPC handler as if the server had delivered it, and the adapter's answer is taken
    from its send()."""

    def __init__(self, hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
        from adapters.xmpp import Adapter, Settings
        from adapters.xmpp_rooms import Room

        monkeypatch.setenv("ACCESS_XMPP_PASSWORD", "unused")
        self.adapter = Adapter("xmpp", Settings.model_validate(
            {"jid": "maison@example.org", "password_env": "ACCESS_XMPP_PASSWORD", "rooms": [ROOM]}))
        self.adapter._hub = hub
        self.xmpp = self.adapter._client("unused")
        self.adapter.rooms[ROOM] = Room(ROOM, "maison", joined=True)
        self.answers: dict[str, asyncio.Future[Any]] = {}
        self.serial = 0
        monkeypatch.setattr(self.xmpp, "send", self._sent)

    def _sent(self, stanza: Any, *args: Any, **kwargs: Any) -> None:
        future = self.answers.get(stanza["id"])
        if future is not None and not future.done():
            future.set_result(stanza)

    async def call(self, jid: str, method: str, *params: str) -> Any:
        """The result of `method(*params)` called by `jid`; raises the Fault the hub answers."""
        from slixmpp import Iq

        self.serial += 1
        iq = Iq(self.xmpp, stype="set", sfrom=jid, sto="maison@example.org/chatops")
        iq["id"] = f"rpc-{self.serial}"
        iq.append(call_query(method, params))
        answer = self.answers[iq["id"]] = asyncio.get_running_loop().create_future()
        self.xmpp.plugin["xep_0009"]._handle_method_call(iq)
        reply = await asyncio.wait_for(answer, 15)
        assert reply["type"] == "result" and reply["to"] == jid
        return parse_response(reply.xml.find("{jabber:iq:rpc}query"))


@pytest.mark.servers
async def test_rpc_callers_get_the_tables_answers_over_jabber_rpc(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    rpc = JabberRpc(hub, monkeypatch)
    outcomes: dict[tuple[str, str], bool] = {}
    for jid, row in RPC_CALLERS.items():
        for command in sorted(READ_ONLY | FAMILY | ADMIN):
            try:
                outcomes[(row, command)] = not refused(await rpc.call(jid, "hub.command", command))
            except Fault as fault:          # a refusal is a fault, as for hub.read and hub.switch
                assert fault.code == FaultCode.NOT_PERMITTED and refused(fault.message), fault
                outcomes[(row, command)] = False
    wrong = {key: allowed for key, allowed in outcomes.items() if allowed != expected(*key)}
    assert wrong == {}, wrong

    admin, unknown, occupant = RPC_CALLERS
    switched = await rpc.call(admin, "hub.switch", "heater", "on")
    assert (switched["device"], switched["state"], switched["on"]) == ("heater", "ON", True)
    for caller in (unknown, occupant):
        with pytest.raises(Fault) as fault:
            await rpc.call(caller, "hub.switch", "heater", "off")
        assert fault.value.code == FaultCode.NOT_PERMITTED
        assert "may not use switch" in fault.value.message
    assert hub.home.find("heater").reading.value is True                  # type: ignore[union-attr]
    assert {d["name"] for d in await rpc.call(unknown, "hub.devices")} >= {"heater", "salon"}  # guests may list

    await settle_audit(hub)
    audited = {(e["sender"], e["text"]) for e in await hub.store.audit_entries("refused")}
    assert {("xmpp:script@example.org", "hub.switch heater off"),
            (f"xmpp:{occupant}", "hub.switch heater off")} <= audited
    refusals = {(str(SENDERS[row]), c) for (row, c), allowed in outcomes.items() if not allowed}
    assert refusals and refusals <= audited
    assert not [e for e in await hub.store.audit_entries("refused") if e["sender"] == "xmpp:alice@example.org"]


# ---- SMS: an unknown number gets no answer at all -----------------------------------------------

@pytest.mark.servers
async def test_sms_adapter_answers_no_unknown_number(hub: Hub, tmp_path: Path) -> None:
    """The table's "unknown phone" row may read at the router; the SMS adapter, which alone
    hears phones, answers such a number nothing and audits it, while the family phone gets the
    table's answers."""
    from adapters.sms import Adapter, Settings
    from adapters.sms_text import Incoming

    sms = Adapter("sms", Settings(backend="gammu", model="dummy", connection="none", device=str(tmp_path)))
    sms._hub = hub
    unknown, family = SENDERS["unknown phone"].id, SENDERS["family phone"].id
    for index, command in enumerate(sorted(READ_ONLY | FAMILY | ADMIN)):
        assert await sms._answer(Incoming(unknown, command, f"u{index}", ()), unknown) == [], command
        [answer] = await sms._answer(Incoming(family, command, f"f{index}", ()), family)
        assert refused(answer) != expected("family phone", command), (command, answer)
    await settle_audit(hub)
    unanswered = await hub.store.audit_entries("sms-unknown-sender")
    assert [(e["sender"], e["text"]) for e in unanswered] == \
        [(f"sms:{unknown}", c) for c in sorted(READ_ONLY | FAMILY | ADMIN)]


async def test_an_unknown_numbers_flood_is_folded_in_the_audit(hub: Hub, tmp_path: Path) -> None:
    # A flood from one unknown (or spoofed) number: one row each within its rate, then folded.
    from adapters.sms import Adapter, Settings
    from adapters.sms_text import Incoming

    sms = Adapter("sms", Settings(backend="gammu", model="dummy", connection="none", device=str(tmp_path)))
    sms._hub = hub
    number = "+33699999999"
    for index in range(hub.settings.hub.rate_limit + 500):
        assert await sms._answer(Incoming(number, "chauffage on", f"x{index}", ()), number) == []
    await settle_audit(hub)
    rows = await hub.store.audit_entries("sms-unknown-sender")
    assert hub.settings.hub.rate_limit <= len(rows) <= hub.settings.hub.rate_limit + 3, len(rows)


def test_a_sender_two_users_take_is_neither(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """bob's `*!*@127.0.0.1` (everyone at home) and alice's `alice!~alice@127.0.0.1` both take
    `alice!~alice@127.0.0.1`: anyone at that address may say they are alice (nick and user are
    what the client sends), and "the one with fewer grants" is no answer either (`switch` alone
    is more than six read commands): it is a stranger, in either order of the file, and the log
    says why. The same pattern in two users is a config error."""
    from chatops.auth import Auth
    from chatops.config import ConfigError

    roles = {"reader": ["help", "temp", "read", "status", "devices", "whoami"], "operator": ["switch", "set"]}
    for order in (["kid", "mallory"], ["mallory", "kid"]):
        everyone = {"kid": {"roles": ["reader"], "irc": ["*!*@127.0.0.1"]},
                    "mallory": {"roles": ["operator"], "irc": ["mal!~mal@127.0.0.1"]}}
        auth = Auth(settings_for(tmp_path, roles=roles, users={name: everyone[name] for name in order}))
        assert auth.user_for(Identity("irc", "mal!~mal@127.0.0.1")) is None
        assert auth.user_for(Identity("irc", "kid!~kid@127.0.0.1")).name == "kid"      # type: ignore[union-attr]
        assert "matches users" in caplog.text and "taken for neither" in caplog.text
    users = {"bob": {"roles": ["guest"], "irc": ["*!*@127.0.0.1"]}, "alice": {"roles": ["admin"], "irc": ["*!*@127.0.0.1"]}}
    with pytest.raises(ConfigError) as caught:
        settings_for(tmp_path, users=users)
    assert "users.alice.irc: '*!*@127.0.0.1' is also bob's; a sender is one person: remove it from one of them" \
        in caught.value.problems


@pytest.mark.servers
async def test_why_a_plugin_failed_is_for_admins_and_masked(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    """`status` is a guest's command: a stranger learns that a plugin is not loaded, not the text
    of its exception (which may hold what it read); an admin sees it, URL passwords masked."""
    from chatops.testing import exec_command
    why = "RuntimeError: cannot reach https://hub:hunter2@ntfy.example/x"
    monkeypatch.setattr(Hub, "plugin_problems", property(lambda _hub: {"ntfy": why}))
    stranger = await exec_command(hub, "status", network="slack", adapter="slack", sender="U0STRANGER")
    assert "plugin ntfy: NOT LOADED" in stranger and "RuntimeError" not in stranger, stranger
    admin = await exec_command(hub, "status", network="xmpp", adapter="xmpp", sender="alice@example.org")
    assert "plugin ntfy: NOT LOADED (RuntimeError: cannot reach https://hub:****@ntfy.example/x)" in admin, admin


@pytest.mark.servers
async def test_a_sender_claiming_another_network_than_its_adapters_is_a_stranger(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    """A plugin adapter that wrote `Identity(self.name, ...)`, its instance named `xmpp` or
    `console`, had its TCP strangers matched by that network's patterns: eve became alice, admin."""
    from types import SimpleNamespace

    from chatops.adapter import Capabilities
    hub.adapters["tcp"] = SimpleNamespace(name="tcp", network="tcpchat", capabilities=Capabilities())  # type: ignore[assignment]
    try:
        claimed = Message(Identity("xmpp", "alice@example.org"), Address("tcp", "eve", True), "whoami", addressed=True)
        [reply] = await hub.execute(claimed)
        assert "(an unknown sender)" in reply.text, reply.text
        assert "adapter tcp (network tcpchat) sent a message from alice@example.org, a sender of network 'xmpp': " \
               "taken for a stranger" in caplog.text
        own = Message(Identity("xmpp", "alice@example.org"), Address("xmpp", "alice@example.org", True), "whoami",
                      addressed=True)
        assert "(alice)" in (await hub.execute(own))[0].text
    finally:
        del hub.adapters["tcp"]


@pytest.mark.servers
async def test_a_line_an_adapter_hands_over_as_another_adapters_is_judged_by_its_own_network(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    """A TCP plugin that took the adapter's name from what it read (`Address("xmpp", ...)`, or a
    name no adapter has) had its sender judged by that network's patterns, the check that the
    sender is of the adapter's own network skipped: a stranger became alice, an admin. Its lines
    are answered where they came from, their sender a stranger, whichever way they come in."""
    from chatops.adapter import AdapterBase, Capabilities

    alice = Identity("xmpp", "alice@example.org")

    class Forger(AdapterBase):
        network, capabilities = "tcpchat", Capabilities()

        def __init__(self) -> None:
            super().__init__("tcp", None)
            self.sent: asyncio.Queue[tuple[Address, str]] = asyncio.Queue()

        async def run(self, hub: Hub) -> None:
            self.health.up("listening")
            for named in ("xmpp", "nosuch"):            # queued: answered by the conversation's own task
                hub.dispatch(Message(alice, Address(named, "eve", True), "switch heater on", addressed=True))
            for reply in await hub.execute(Message(alice, Address("xmpp", "eve", True), "whoami", addressed=True)):
                await self.sent.put((Address("tcp", "(execute)"), reply.text))
            await asyncio.Event().wait()

        async def send(self, address: Address, reply: Reply) -> None:
            await self.sent.put((address, reply.text))

    forger = Forger()
    hub.adapters["tcp"] = forger  # type: ignore[assignment]
    task = asyncio.create_task(hub._supervise(forger))
    try:
        answers = [await asyncio.wait_for(forger.sent.get(), 10) for _ in range(3)]
    finally:
        task.cancel()
        del hub.adapters["tcp"]
    assert sorted(a.adapter for a, _ in answers) == ["tcp"] * 3, answers      # back where they came from
    texts = sorted(text for _, text in answers)
    assert texts[0].startswith("Sorry, you may not use switch.") and texts[1] == texts[0], texts
    assert "(an unknown sender)" in texts[2], texts
    assert hub.home.devices["heater"].reading is None or hub.home.devices["heater"].reading.value is not True
    assert "adapter tcp (network tcpchat) sent a message from alice@example.org, a sender of network 'xmpp'" \
        in caplog.text


@pytest.mark.servers
async def test_an_adapter_whose_run_raises_a_config_error_is_down_with_its_words(hub: Hub) -> None:
    """docs/plugins.md: `run` raises `ConfigError("why")` for a setting that cannot work. Given
    one string (not a list), `status` showed it one character per line."""
    from chatops.adapter import AdapterBase, Capabilities
    from chatops.config import ConfigError
    from chatops.testing import exec_command

    class Misconfigured(AdapterBase):
        network, capabilities = "tcpchat", Capabilities()

        async def run(self, hub: Hub) -> None:
            raise ConfigError("listen: port 70000 cannot work; set a port under 65536")

        async def send(self, address: Address, reply: Reply) -> None:
            raise AssertionError("never")

    adapter = Misconfigured("tcp", None)
    hub.adapters["tcp"] = adapter  # type: ignore[assignment]
    try:
        await hub._supervise(adapter)           # returns: a person must fix it, not tried again
        status = await exec_command(hub, "status", network="xmpp", adapter="xmpp", sender="alice@example.org")
    finally:
        del hub.adapters["tcp"]
    assert "tcp: DOWN (configuration: listen: port 70000 cannot work; set a port under 65536)" in status, status


async def test_a_sender_two_users_take_is_told_why_it_is_refused(tmp_path: Path) -> None:
    """The owner's console `*` and a child's `root`: root was refused "Ask the hub's owner to add
    you to [users]" though it is there twice, and `chatops check` said OK; only the log said why."""
    from chatops.config_report import config_warnings
    from chatops.testing import exec_command

    settings = settings_for(tmp_path, simulator={"enabled": True}, users={
        "owner": {"roles": ["admin"], "console": ["*"]}, "kid": {"roles": ["guest"], "console": ["root"]}})
    assert "users.owner.console: '*' also takes kid's 'root': a sender both match is taken for neither (owner nor " \
        "kid), a stranger; give each person patterns no one else's take" in config_warnings(settings)
    household = settings_for(tmp_path, users={"alice": {"roles": ["admin"], "irc": ["alice!*@192.0.2.*"]},
                                              "house": {"roles": ["family"], "irc": ["*!*@192.0.2.*"]}})
    assert "users.house.irc: '*!*@192.0.2.*' also takes alice's 'alice!*@192.0.2.*': a sender both match is taken " \
        "for neither (house nor alice), a stranger; give each person patterns no one else's take" in \
        config_warnings(household), "the README's own example, wildcards on both sides"
    hub = Hub(settings, tty=False)
    refusal = await exec_command(hub, "chauffage on", sender="root")
    assert refusal == ("Sorry, you may not use 'chauffage on' (it needs the switch permission). You match [users] "
                       "owner, kid in config.toml, so the hub takes you for none of them: each person needs patterns "
                       "no one else's take."), refusal
    assert "(taken for none of [users] owner, kid: each of them takes you" in await exec_command(hub, "whoami",
                                                                                              sender="root")
    # Someone else: the owner's `*` alone takes them.
    assert (await exec_command(hub, "whoami", sender="alice")).startswith("You are console:alice (owner);")


async def test_a_refusal_says_which_permission_and_where_it_is_granted(tmp_path: Path) -> None:
    from chatops.testing import exec_command

    settings = settings_for(tmp_path, simulator={"enabled": True}, users={
        "owner": {"roles": ["admin"], "console": ["owner"]}, "kid": {"roles": ["guest"], "console": ["kid"]}})
    hub = Hub(settings, tty=False)
    assert await exec_command(hub, "mute smoke 30m", sender="kid") == (
        "Sorry, kid may not use mute. None of their roles grants mute: an admin can add it to one in [roles] of "
        "config.toml.")
    # A device's shorthand has no command word: the line as said, not the `set` it stands for.
    stranger = await exec_command(hub, "lampe 40%", sender="eve")
    assert stranger.startswith("Sorry, you may not use 'lampe 40%' (it needs the switch permission)."), stranger
