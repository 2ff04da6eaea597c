"""Access control across every network, as one table: command x kind of sender -> allowed or refused.

Identities are built the way each adapter builds them (the adapters' own suites prove they do);
the RPC caller goes through the same `hub.execute` path as XMPP RPC. Every refusal must be in
the audit log.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatops.hub import Hub, running
from chatops.message import Address, Identity, Message
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
}
READ_ONLY = {"help", "temp salon", "read heater", "status", "devices", "whoami"}
FAMILY = {"switch heater on", "alerts", "ack", "history salon", "graph salon", "snap entree"}
ADMIN = {"mute smoke 1m", "simulate smoke off"}
LEVEL = {
    "admin (xmpp)": "admin", "rpc caller (admin jid)": "admin",
    "family (irc account)": "family", "family (irc hostmask)": "family", "family phone": "family",
}


def expected(sender: str, command: str) -> bool:
    level = LEVEL.get(sender, "guest")
    if command in READ_ONLY:
        return True
    if command in FAMILY:
        return level in ("family", "admin")
    return level == "admin"


@pytest.fixture
async def hub(tmp_path: Path, mosquitto: object) -> AsyncIterator[Hub]:
    settings = settings_for(tmp_path, mosquitto.url, hub={"rate_limit": 1000}, alerts=[], web={"user": None}, users={  # type: ignore[attr-defined]
        "owner": None,
        "alice": {"roles": ["admin"], "xmpp": ["alice@example.org"], "irc": ["alice!*@home.example.org"]},
        "bob": {"roles": ["family"], "irc": ["account:bob", "bob!*@home.example.org"], "sms": ["06 11 11 11 11"]},
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
            refused = any(r.startswith("Sorry, ") and " may not use " in r for r in replies)
            outcomes[(sender_name, command)] = not refused
    wrong = {key: allowed for key, allowed in outcomes.items() if allowed != expected(*key)}
    assert wrong == {}, wrong
    for task in list(hub.tasks):
        if task.get_name() == "audit":
            await task
    audited = {(e["sender"], e["text"]) for e in await hub.store.audit_entries("refused")}
    refusals = {(str(SENDERS[s]), c) for (s, c), allowed in outcomes.items() if not allowed}
    assert refusals and refusals <= audited
