"""Side doors on XMPP, against a real prosody: Jabber-RPC obeys the rate limit for configured
users too, an ad-hoc session is continued only by the client that started it, and a stranger's
2,000-line flood in a room neither delays alice nor fills the database."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from slixmpp.exceptions import IqError

from adapters.xmpp_rpc_client import Fault, FaultCode, RpcClient
from chatops.testing import Mosquitto
from tests.xmpp.conftest import MUC, PASSWORD, Prosody, XmppClient, xmpp_client
from tests.xmpp.test_xmpp import HUB_JID, hub_with_xmpp, joined, xmpp_section

pytestmark = pytest.mark.servers
READING = re.compile(r"salon: -?\d+(\.\d+)? °C")


async def test_jabber_rpc_is_rate_limited_for_configured_users_too(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody), hub={"rate_limit": 3}) \
            as (hub, _adapter):
        # script@localhost is a configured user (role guest): before, only strangers were limited.
        async with RpcClient("script@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                             plaintext=True) as script:
            for _ in range(3):
                assert (await script.call("hub.read", "salon"))["device"] == "salon"
            with pytest.raises(Fault) as limited:
                await script.call("hub.read", "salon")
            assert limited.value.code == FaultCode.RATE_LIMITED
        rows = await hub.store.audit_entries("rate-limited")
        assert rows and rows[0]["sender"] == "xmpp:script@localhost"
        # Counted in the command metrics as a chat line is: three reads, one refusal.
        assert hub.metrics.commands["read", "ok"] == 3 and hub.metrics.commands["read", "refused"] == 1


async def test_an_adhoc_session_is_continued_only_by_its_starter(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (hub, _adapter), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice, \
            xmpp_client("eve@localhost/laptop", prosody.c2s_port) as eve, \
            xmpp_client("alice@localhost/stolen", prosody.c2s_port) as other_alice:
        first = await alice.xmpp.plugin["xep_0050"].send_command(HUB_JID, "switch", timeout=5)
        session = first["command"]["sessionid"]
        assert first["command"]["status"] == "executing"
        form = eve.xmpp.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="device", value="heater")
        form.add_field(var="state", value="on")
        for intruder in (eve, other_alice):          # another person, or another client of the same account
            with pytest.raises(IqError) as refused:
                await intruder.xmpp.plugin["xep_0050"].send_command(HUB_JID, "switch", sessionid=session,
                                                                    action="complete", payload=form, timeout=5)
            assert refused.value.condition == "forbidden"
        assert hub.home.find("heater").reading is None or hub.home.find("heater").reading.value is False
        done = await alice.xmpp.plugin["xep_0050"].send_command(HUB_JID, "switch", sessionid=session,
                                                                action="complete", payload=form, timeout=10)
        assert done["command"]["notes"][0] == ("info", "heater is ON")


async def reveal_real_jids(owner: XmppClient, room: str) -> None:
    """As the room's owner, make it non-anonymous: the hub then sees who its occupants are."""
    muc, forms = owner.xmpp.plugin["xep_0045"], owner.xmpp.plugin["xep_0004"]
    form = forms.make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig")
    form.add_field(var="muc#roomconfig_whois", ftype="list-single", value="anyone")
    await muc.set_room_config(room, form, timeout=10)


async def test_a_strangers_room_flood_never_delays_a_configured_user(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"flood@{MUC}"
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice, \
            xmpp_client("eve@localhost/flood", prosody.c2s_port) as eve:
        await alice.join(room, "alice")
        await reveal_real_jids(alice, room)       # else alice is an untrusted occupant, a stranger too
        await eve.join(room, "eve")
        section = xmpp_section(prosody, rooms=[room])
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, section, history={"enabled": False}) \
                as (hub, adapter):
            await joined(adapter, room)
            await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
            before = sum(p.stat().st_size for p in hub.settings.data_dir.glob("chatops.db*"))
            waits = []
            for chunk in range(5):
                for index in range(400):
                    eve.say(room, f"!switch heater on {chunk}-{index}", "groupchat")
                asked = time.monotonic()
                alice.say(room, "!temp salon", "groupchat")
                await alice.next_message(lambda m: m["from"].resource == "maison"
                                         and bool(READING.fullmatch(m["body"])), timeout=10)
                waits.append(time.monotonic() - asked)
            assert max(waits) < 1.0, waits
            await hub.audit.flush(everything=True)
            await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
            grown = sum(p.stat().st_size for p in hub.settings.data_dir.glob("chatops.db*")) - before
            assert grown < 100_000, f"the database grew by {grown} bytes"
            assert hub.home.find("heater").reading is None or hub.home.find("heater").reading.value is False
