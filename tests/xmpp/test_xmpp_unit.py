"""Pure logic of the XMPP adapter, without a server: wire format, config, stanzas in, permissions."""

from __future__ import annotations

import contextlib
import datetime as dt
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from adapters.xmpp import Adapter, strip_mention
from adapters.xmpp_rpc import HubService, caller_of
from chatops.config import ConfigError
from chatops.hub import Hub
from chatops.message import Address, Identity, Message
from adapters.xmpp_rpc_client import (
    Fault, FaultCode, call_query, decode_value, encode_value, fault_query, parse_call, parse_response,
    render, result_query,
)
from chatops.testing import settings_for

ROOM = "maison@conference.localhost"
USERS = {"alice": {"roles": ["admin"], "xmpp": ["alice@localhost"]}}


def section(**extra: Any) -> dict[str, Any]:
    base = {"jid": "maison@localhost", "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
            "allow_plaintext": True, "rooms": [ROOM]}
    base.update(extra)
    return base


# ---- wire format -----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [
    0, -7, 2**31 - 1, True, False, 21.5, -0.25, "", "salon <&> \"é\" 🔥", None, b"\x00\xffbytes",
    [1, "two", [3.0]], {"device": "salon", "value": 21.5, "nested": {"ok": True, "list": []}},
])
def test_values_survive_a_round_trip(value: Any) -> None:
    element = ET.fromstring(ET.tostring(encode_value(value)))
    assert decode_value(element) == value


def test_big_ints_become_doubles_and_datetimes_are_utc() -> None:
    assert decode_value(encode_value(2**40)) == float(2**40)
    stamp = dt.datetime(2026, 11, 21, 12, 30, 5, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert decode_value(encode_value(stamp)) == dt.datetime(2026, 11, 21, 11, 30, 5)


def test_untyped_value_is_a_string_and_unknown_types_are_refused() -> None:
    ns = "jabber:iq:rpc"
    assert decode_value(ET.fromstring(f'<value xmlns="{ns}">plain</value>')) == "plain"
    assert decode_value(ET.fromstring(f'<value xmlns="{ns}"><string/></value>')) == ""
    with pytest.raises(ValueError):
        decode_value(ET.fromstring(f'<value xmlns="{ns}"><complex>1+2j</complex></value>'))
    with pytest.raises(ValueError):
        decode_value(ET.fromstring(f'<value xmlns="{ns}"><boolean>yes</boolean></value>'))
    with pytest.raises(TypeError):
        encode_value(object())


def test_deep_nesting_is_refused() -> None:
    value: Any = "x"
    for _ in range(40):
        value = [value]
    with pytest.raises(ValueError):
        encode_value(value)


def test_a_fault_in_an_iq_is_well_formed_xml_with_one_namespace() -> None:
    """slixmpp's fault2xml writes xmlns twice; prosody then kills the stream. Ours parses."""
    from slixmpp import Iq
    from slixmpp.xmlstream import tostring

    iq = Iq(stype="result", sto="script@localhost/x", sid="1")
    iq.append(fault_query(FaultCode.NOT_PERMITTED, "eve may not use switch"))
    text = tostring(iq.xml, xmlns="jabber:client", top_level=True)
    assert text.count("xmlns=") == 1 and 'xmlns=""' not in text   # only the query's
    parsed = ET.fromstring(text)
    with pytest.raises(Fault) as fault:
        parse_response(parsed.find("{jabber:iq:rpc}query"))
    assert (fault.value.code, fault.value.message) == (1, "eve may not use switch")


def test_calls_and_results_parse_back() -> None:
    method, params = parse_call(ET.fromstring(ET.tostring(call_query("hub.switch", ("heater", "on")))))
    assert (method, params) == ("hub.switch", ["heater", "on"])
    assert parse_response(ET.fromstring(ET.tostring(result_query({"state": "ON"})))) == {"state": "ON"}
    with pytest.raises(Fault) as fault:
        parse_call(ET.fromstring('<query xmlns="jabber:iq:rpc"><methodCall/></query>'))
    assert fault.value.code == FaultCode.PARSE_ERROR


def test_cli_output_is_easy_to_read_in_a_script() -> None:
    assert render("read", {"device": "salon", "value": 21.5, "unit": "°C"}) == "21.5"
    assert render("read", {"device": "heater", "value": True}) == "ON"
    assert render("switch", {"device": "heater", "state": "OFF"}) == "OFF"
    assert render("devices", [{"name": "salon", "type": "sensor", "value": 21.5, "unit": "°C"},
                              {"name": "entree", "type": "camera"}]) == "salon\tsensor 21.5 °C\nentree\tcamera"
    # As read prints it: a state was `False` in the list and `OFF` from read.
    assert render("devices", [{"name": "heater", "type": "switch", "value": False}]) == "heater\tswitch OFF"


# ---- configuration ---------------------------------------------------------------------------

def test_plaintext_is_only_accepted_on_loopback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loopback"):
        settings_for(tmp_path, adapters={"xmpp": section(host="xmpp.example.org")})
    with pytest.raises(ConfigError, match="password"):
        settings_for(tmp_path, adapters={"xmpp": section(password_env=None)})
    with pytest.raises(ConfigError, match="not a JID"):
        settings_for(tmp_path, adapters={"xmpp": section(jid="maison")})
    with pytest.raises(ConfigError, match="listed twice"):
        settings_for(tmp_path, adapters={"xmpp": section(rooms=[ROOM, {"jid": ROOM.upper()}])})


def test_rooms_as_strings_or_tables_and_a_fixed_resource(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, adapters={"xmpp": section(rooms=[
        ROOM, {"jid": "secret@conference.localhost", "nick": "bot", "password_env": "ROOM_PW"}])})
    xmpp = next(s for _n, k, s in settings.adapter_sections if k == "xmpp")
    assert xmpp.full_jid == "maison@localhost/chatops"
    rooms = xmpp.room_list("maison")
    assert [(r.jid, r.nick, r.password_env) for r in rooms] == [
        (ROOM, "maison", None), ("secret@conference.localhost", "bot", "ROOM_PW")]


def test_text_helpers() -> None:
    assert strip_mention("Maison: temp salon", "maison") == "temp salon"
    assert strip_mention("@maison, temp", "maison") == "temp"
    assert strip_mention("maisonette: hi", "maison") is None


# ---- stanzas in --------------------------------------------------------------------------------

@pytest.fixture
async def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An adapter wired to a hub that records dispatched messages instead of running them."""
    monkeypatch.setenv("HUB_XMPP_PASSWORD", "pw")
    hub = Hub(settings_for(tmp_path, adapters={"xmpp": section()}, users=USERS))
    dispatched: list[Message] = []
    monkeypatch.setattr(hub, "dispatch", dispatched.append)
    adapter = hub.adapters["xmpp"]
    assert isinstance(adapter, Adapter)
    adapter._hub = hub
    adapter.xmpp = adapter._client("pw")
    from adapters.xmpp_rooms import Room
    adapter.rooms[ROOM] = Room(ROOM, "maison", joined=True)
    adapter.dispatched = dispatched
    yield adapter


def stanza(xml: str) -> Any:
    from slixmpp import Message as XmppMessage
    return XmppMessage(xml=ET.fromstring(xml))


def stamp(seconds_ago: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - seconds_ago))


async def test_direct_chat_is_addressed_from_the_bare_jid(adapter: Any) -> None:
    adapter._on_message(stanza('<message xmlns="jabber:client" from="alice@localhost/phone" to="maison@localhost" '
                               'type="chat"><body>temp salon</body></message>'))
    [message] = adapter.dispatched
    assert message.addressed and message.text == "temp salon"
    assert message.sender == Identity("xmpp", "alice@localhost", display="alice")
    assert (message.address.target, message.address.direct) == ("alice@localhost", True)


async def test_late_direct_messages_are_not_run_but_resumed_ones_are(adapter: Any) -> None:
    late = (f'<message xmlns="jabber:client" from="alice@localhost/phone" type="chat"><body>chauffage on</body>'
            f'<delay xmlns="urn:xmpp:delay" from="localhost" stamp="{stamp(3600)}"/></message>')
    adapter._on_message(stanza(late))
    [stale] = adapter.dispatched                           # marked late: the router answers "not run", metered
    assert 3590 < stale.late < 3610
    fresh = late.replace(stamp(3600), stamp(5))
    adapter._on_message(stanza(fresh))                     # queued by the server during a short drop
    assert len(adapter.dispatched) == 2 and adapter.dispatched[1].late == 0.0


async def test_room_echo_history_and_plain_talk(adapter: Any) -> None:
    def room_line(nick: str, body: str, delay: str = "") -> Any:
        return stanza(f'<message xmlns="jabber:client" from="{ROOM}/{nick}" type="groupchat"><body>{body}</body>'
                      f'{delay}</message>')
    adapter._on_groupchat(room_line("maison", "!temp salon"))                          # our own echo
    adapter._on_groupchat(room_line("alice", "!temp salon",
                                    f'<delay xmlns="urn:xmpp:delay" from="{ROOM}" stamp="{stamp(10)}"/>'))
    assert adapter.dispatched == []
    adapter._on_groupchat(room_line("bob", "maison: temp salon"))
    adapter._on_groupchat(room_line("bob", "!temp salon"))
    mention, prefixed = adapter.dispatched
    assert mention.addressed and mention.text == "temp salon"
    assert not prefixed.addressed and prefixed.text == "!temp salon"
    assert (prefixed.address.target, prefixed.address.direct) == (ROOM, False)


async def test_occupants_are_trusted_only_with_their_real_jid(adapter: Any) -> None:
    from slixmpp import JID

    adapter.xmpp.plugin["xep_0045"].rooms[None][JID(ROOM)] = {"alice": {"jid": JID("alice@localhost/phone")}}
    assert adapter._occupant(adapter.rooms[ROOM], "alice") == Identity("xmpp", "alice@localhost", display="alice")
    stranger = adapter._occupant(adapter.rooms[ROOM], "alice2")
    assert not stranger.trusted and stranger.id == f"{ROOM}/alice2"
    assert adapter._hub.auth.user_for(stranger) is None
    assert not caller_of(JID(f"{ROOM}/alice"), adapter.rooms).trusted


async def test_send_raises_when_not_connected(adapter: Any) -> None:
    from chatops.message import Address, Reply

    with pytest.raises(ConnectionError):
        await adapter.send(Address("xmpp", "alice@localhost", True), Reply("hello"))


# ---- permissions -------------------------------------------------------------------------------

async def test_rpc_permissions_follow_the_router(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hub = Hub(settings_for(tmp_path, users=USERS))
    await hub.store.open()
    try:
        service = HubService(hub, "xmpp")
        eve, alice = Identity("xmpp", "eve@localhost"), Identity("xmpp", "alice@localhost")
        with pytest.raises(Fault) as refused:
            await service.call(eve, "hub.switch", ["heater", "on"])
        assert refused.value.code == FaultCode.NOT_PERMITTED
        assert await service.permit(alice, "switch", "hub.switch heater on") is not None
        untrusted = Identity("xmpp", f"{ROOM}/alice", trusted=False)
        with pytest.raises(Fault):
            await service.permit(untrusted, "switch", "hub.switch heater on")
        assert await service.permit(eve, "read", "hub.read salon") is None    # guests may read
        with pytest.raises(Fault) as unknown:
            await service.call(alice, "hub.nothing", [])
        assert unknown.value.code == FaultCode.UNKNOWN_METHOD
        with pytest.raises(Fault) as bad:
            await service.call(alice, "hub.read", [])
        assert bad.value.code == FaultCode.BAD_PARAMS
        with pytest.raises(Fault) as missing:
            await service.call(alice, "hub.read", ["garage"])
        assert missing.value.code == FaultCode.NO_SUCH_DEVICE
        refusals = await hub.store.audit_entries("refused")
        assert [e["sender"] for e in refusals] == ["xmpp:eve@localhost", f"xmpp:{ROOM}/alice"]
    finally:
        await hub.store.close()


async def test_rpc_devices_asks_reads_permission_as_the_chat_command_does(tmp_path: Path) -> None:
    """hub.devices returns every device's value: a caller who may list but not `read` gets a
    refusal, as `devices` in a chat answers, not the values by the side door."""
    roles = {"guest": ["help", "devices"], "family": ["guest", "switch"], "admin": ["*"]}
    hub = Hub(settings_for(tmp_path, users=USERS, roles=roles))
    await hub.store.open()
    try:
        service = HubService(hub, "xmpp")
        with pytest.raises(Fault) as refused:
            await service.call(Identity("xmpp", "eve@localhost"), "hub.devices", [])
        assert refused.value.code == FaultCode.NOT_PERMITTED and "read" in refused.value.message
        said = await hub.execute(Message(Identity("xmpp", "eve@localhost"), Address("xmpp", "eve@localhost"),
                                         "devices", addressed=True))
        assert said[0].text.startswith("Sorry, xmpp:eve@localhost may not read devices")
        listed = await service.call(Identity("xmpp", "alice@localhost"), "hub.devices", [])
        assert [d["name"] for d in listed] == sorted(hub.home.devices)
    finally:
        await hub.store.close()


@contextlib.asynccontextmanager
async def rpc_service(tmp_path: Path, **settings: Any) -> AsyncIterator[tuple[Hub, HubService]]:
    """A hub with its store open (what a Jabber-RPC call needs of it) and its RPC service."""
    hub = Hub(settings_for(tmp_path, **{"users": USERS, **settings}))
    await hub.store.open()
    try:
        yield hub, HubService(hub, "xmpp")
    finally:
        await hub.store.close()


async def fault_codes(service: HubService, caller: Identity, method: str, params: list[Any], times: int) -> list[int]:
    """The fault code of each of `times` calls that all fail."""
    codes = []
    for _ in range(times):
        with pytest.raises(Fault) as failed:
            await service.call(caller, method, params)
        codes.append(failed.value.code)
    return codes


async def test_rpc_calls_naming_no_device_cost_a_rate_token(tmp_path: Path) -> None:
    """hub.read of an unknown name ends before the router: it still spends the caller's bucket,
    so a flood of them is refused as rate-limited, as chat lines naming no device are."""
    async with rpc_service(tmp_path, hub={"rate_limit": 3}) as (_hub, service):
        eve = Identity("xmpp", "eve@localhost")
        codes = await fault_codes(service, eve, "hub.read", ["nope"], 5)
        assert codes[:3] == [FaultCode.NO_SUCH_DEVICE] * 3 and codes[3:] == [FaultCode.RATE_LIMITED] * 2
        with pytest.raises(Fault) as limited:
            await service.call(eve, "hub.read", ["salon"])
        assert limited.value.code == FaultCode.RATE_LIMITED


async def test_rpc_refusals_cost_a_rate_token_and_are_audited_once_a_minute(tmp_path: Path) -> None:
    """A stranger's refused hub.switch once cost nothing and wrote one audit row each: 300 calls,
    300 rows. Now refusals spend the bucket like refused chat lines, and their rows are folded."""
    async with rpc_service(tmp_path, hub={"rate_limit": 3}) as (hub, service):
        eve = Identity("xmpp", "eve@evil.example")
        codes = await fault_codes(service, eve, "hub.switch", ["heater", "on"], 20)
        assert codes[:3] == [FaultCode.NOT_PERMITTED] * 3 and set(codes[3:]) == {FaultCode.RATE_LIMITED}
        with pytest.raises(Fault) as limited:
            await service.call(eve, "hub.read", ["salon"])
        assert limited.value.code == FaultCode.RATE_LIMITED, "the bucket is spent for reading too"
        await hub.audit.flush(everything=True)
        refused_rows = [e["text"] for e in await hub.store.audit_entries("refused")]
        assert sorted(refused_rows) == ["(and 2 more like this within a minute)", "hub.switch heater on"]
        assert len(await hub.store.audit_entries("rate-limited")) == 2      # the first, and "(and 17 more…)"


async def test_rpc_names_the_devices_only_to_whoever_may_read_them(tmp_path: Path) -> None:
    roles = {"guest": ["help"], "switcher": ["switch"], "admin": ["*"]}
    users = {**USERS, "sam": {"roles": ["switcher"], "xmpp": ["sam@localhost"]}}
    async with rpc_service(tmp_path, users=users, roles=roles) as (_hub, service):
        with pytest.raises(Fault) as unknown:
            await service.call(Identity("xmpp", "sam@localhost"), "hub.switch", ["garage", "on"])
        assert unknown.value.code == FaultCode.NO_SUCH_DEVICE and unknown.value.message == "no device called 'garage'"
        with pytest.raises(Fault) as listed:
            await service.call(Identity("xmpp", "alice@localhost"), "hub.switch", ["garage", "on"])
        assert "devices: " in listed.value.message and "heater" in listed.value.message


def test_slixmpp_is_imported_without_its_pygments_colouriser() -> None:
    """pygments is installed here (pytest needs it): slixmpp must not build its colouriser, yet
    pygments stays importable for anyone else in the process."""
    import subprocess
    import sys

    probe = ("import sys; from adapters.xmpp_rpc_client import import_slixmpp; import_slixmpp();"
             "colour = 'pygments' in sys.modules; import pygments;"
             "print(colour, sys.modules['slixmpp.xmlstream.tostring'].highlight('x'))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[2]).stdout
    assert out.split() == ["False", "x"]


def test_slixmpps_stanza_lines_lose_their_secrets() -> None:
    """slixmpp logs every stanza at DEBUG: SASL PLAIN's payload (the password in base64), a SCRAM
    response and a room's password are masked, whatever else the line holds; other lines pass."""
    import base64
    import logging

    from adapters.xmpp import StanzaSecrets

    plain = base64.b64encode(b"\0maison\0xmpp-s3cret-6612").decode()
    lines = {
        f"SEND: <auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">{plain}</auth>":
            "SEND: <auth xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\" mechanism=\"PLAIN\">****</auth>",
        "SEND: <response xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">Yz1iaXdzLHI9</response>":
            "SEND: <response xmlns=\"urn:ietf:params:xml:ns:xmpp-sasl\">****</response>",
        "SEND: <presence to=\"maison@conference.example.org/maison\"><x xmlns=\"http://jabber.org/protocol/muc\">"
        "<password>room-key-8803</password></x></presence>":
            "SEND: <presence to=\"maison@conference.example.org/maison\"><x xmlns=\"http://jabber.org/protocol/muc\">"
            "<password>****</password></x></presence>",
        "RECV: <message><body>salon: 20.5</body></message>": "RECV: <message><body>salon: 20.5</body></message>",
    }
    for line, shown in lines.items():
        record = logging.LogRecord("slixmpp.xmlstream.xmlstream", logging.DEBUG, __file__, 1, "SEND: %s",
                                   (line.partition("SEND: ")[2],) if line.startswith("SEND") else (), None)
        if not line.startswith("SEND"):
            record.msg = line
        assert StanzaSecrets().filter(record) is True
        assert record.getMessage() == shown
        assert "s3cret" not in record.getMessage() and plain not in record.getMessage()


async def test_a_temporary_login_failure_is_retried_a_refused_password_is_not() -> None:
    """slixmpp says failed_all_auth for any SASL failure: `temporary-auth-failure` (the server's
    account store down a moment) once stopped the adapter until a restart."""
    import asyncio
    from types import SimpleNamespace
    from adapters.xmpp_settings import Settings
    adapter = Adapter("xmpp", Settings(jid="maison@example.org", password_env="HOME"))
    adapter.xmpp = SimpleNamespace(plugin={"feature_mechanisms": SimpleNamespace(attempted_mechs={"PLAIN"})})
    for condition, outcome in (("temporary-auth-failure", "the server could not check the password just now "
                                                          "(temporary-auth-failure)"),
                               ("not-authorized", "fatal:the server refused the password of maison@example.org")):
        adapter._outcome = asyncio.get_running_loop().create_future()
        adapter._auth_failure = condition
        adapter._on_failed_auth(None)
        assert adapter._outcome.result() == outcome


async def test_a_strangers_presences_from_ever_new_jids_leave_nothing_behind(adapter: Any) -> None:
    """Directed presence reaches a full JID from anyone, no subscription needed (RFC 6121 4.6),
    and slixmpp kept a roster node and item for every JID it came from (about 1.3 kB each): a
    stranger's server sending presence from ever new JIDs (or resources) grew the hub's memory
    without limit. A stranger's presence, subscription requests included, leaves nothing; a
    configured user's and a room's are kept."""
    xmpp = adapter.xmpp

    def presence(frm: str, kind: str = "") -> None:
        typed = f' type="{kind}"' if kind else ""
        xmpp._spawn_event(ET.fromstring(f'<presence xmlns="jabber:client" from="{frm}" to="maison@localhost/hub"'
                                        f'{typed}/>'))
    before = len(xmpp.roster._rosters), len(xmpp.client_roster._jids)
    for n in range(300):
        presence(f"x{n}@evil.example/r")
        presence(f"one@evil.example/r{n}")
        presence(f"x{n}@evil.example/r", "unavailable")
        presence(f"s{n}@evil.example", "subscribe")
    assert (len(xmpp.roster._rosters), len(xmpp.client_roster._jids)) == before
    presence("alice@localhost/phone")
    presence(f"{ROOM}/bob")
    assert {"alice@localhost", ROOM} <= set(xmpp.client_roster._jids)
    assert xmpp.client_roster["alice@localhost"].resources


async def test_strangers_hold_a_bounded_number_of_ad_hoc_sessions(adapter: Any, monkeypatch: pytest.MonkeyPatch
                                                                  ) -> None:
    """Starting the `command` ad-hoc command asked nothing of the caller (no permission, no rate
    token) and slixmpp kept each session, a form of about 18 kB, for its 300 s timeout: a
    stranger's server starting sessions from ever new JIDs held memory without limit. Strangers
    now hold at most MOST_STRANGER_SESSIONS open, three each; past that a start is answered
    `resource-constraint`. A configured user's start is never refused by strangers' sessions."""
    from adapters.xmpp_rpc import MOST_STRANGER_SESSIONS
    from chatops.testing import wait_for

    xmpp = adapter.xmpp
    adhoc = xmpp.plugin["xep_0050"]
    sent: list[Any] = []
    monkeypatch.setattr(xmpp, "send", lambda stanza, *args, **kwargs: sent.append(stanza))
    adapter._rpc.session_started()
    await wait_for(lambda: len(adhoc.commands) == 3)

    def start(frm: str, n: int) -> None:
        xmpp._spawn_event(ET.fromstring(
            f'<iq xmlns="jabber:client" type="set" id="s{n}" from="{frm}" to="{xmpp.boundjid.full}">'
            '<command xmlns="http://jabber.org/protocol/commands" node="command" action="execute"/></iq>'))
    for n in range(400):
        start(f"s{n}@evil.example/r", n)
    for n in range(10):
        start("one@evil.example/r", 1000 + n)
    await wait_for(lambda: len(sent) == 410)
    assert len(adhoc.sessions) <= MOST_STRANGER_SESSIONS
    refused = [s for s in sent if s["type"] == "error"]
    assert len(refused) >= 410 - MOST_STRANGER_SESSIONS
    assert {s["error"]["condition"] for s in refused} == {"resource-constraint"}
    start("alice@localhost/phone", 2000)
    await wait_for(lambda: len(sent) == 411)
    assert sent[-1]["type"] == "result" and sent[-1]["command"]["sessionid"] in adhoc.sessions
