"""The XMPP adapter end to end: a real prosody, a real mosquitto, the hub in-process, slixmpp clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

import adapters.xmpp as xmpp_module
import adapters.xmpp_rooms as xmpp_rooms
from chatops.hub import Hub, running
from chatops.message import Address, Attachment, Reply
from adapters.xmpp_rpc_client import Fault, FaultCode, RpcClient
from chatops.testing import Mosquitto, settings_for, started, tiny_png, wait_for

from .conftest import MUC, OTHER_MUC, PASSWORD, Prosody, TcpProxy, XmppClient, xmpp_client

pytestmark = pytest.mark.servers

REPO = Path(__file__).resolve().parents[2]
CHATOPS = REPO / ".venv" / "bin" / "chatops"
HUB_JID = "maison@localhost/chatops"
USERS = {"alice": {"roles": ["admin"], "xmpp": ["alice@localhost"]},
         "script": {"roles": ["guest"], "xmpp": ["script@localhost"]}}


def xmpp_section(server: Prosody, rooms: list[Any] | None = None, port: int | None = None,
                 **extra: Any) -> dict[str, Any]:
    section = {"jid": HUB_JID, "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
               "port": port or server.c2s_port, "allow_plaintext": True, "rooms": rooms or [],
               "reconnect_max": "2s", "ping_interval": "5s", "ping_timeout": "5s"}
    section.update(extra)
    return section


@contextlib.asynccontextmanager
async def hub_with_xmpp(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch,
                        section: dict[str, Any], **overrides: Any) -> AsyncIterator[tuple[Hub, xmpp_module.Adapter]]:
    monkeypatch.setenv("HUB_XMPP_PASSWORD", PASSWORD)
    settings = settings_for(tmp_path / "hub", mqtt_url=mosquitto.url, adapters={"xmpp": section}, users=USERS,
                            **overrides)
    async with running(Hub(settings)) as hub:
        adapter = hub.adapters["xmpp"]
        assert isinstance(adapter, xmpp_module.Adapter)
        await adapter.wait_until(lambda: adapter.health.connected, 15)
        yield hub, adapter


async def joined(adapter: xmpp_module.Adapter, room: str, timeout: float = 15) -> None:
    await adapter.wait_until(lambda: adapter.health.connected and room in adapter.rooms
                             and adapter.rooms[room].joined, timeout)


def body_is(text: str) -> Any:
    return lambda m: text in m["body"]


async def test_direct_chat_any_text_is_a_command(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        alice.say("maison@localhost", "temp salon")
        answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert re.fullmatch(r"salon: -?\d+\.\d °C", answer["body"]), answer["body"]
        assert answer["type"] == "chat"
        # A correction (XEP-0308, a client's edit) is no new command: correcting `chauffage on`
        # switched again. The next plain line is answered as ever.
        from slixmpp.xmlstream import ET
        corrected = alice.xmpp.make_message(mto="maison@localhost", mbody="temp chambre", mtype="chat")
        corrected.xml.append(ET.Element("{urn:xmpp:message-correct:0}replace", {"id": "abc"}))
        corrected.send()
        alice.say("maison@localhost", "whoami")
        answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert answer["body"].startswith("You are"), answer["body"]


async def test_room_prefix_and_mention_no_echo_no_history(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters.xmpp")
    room = f"prefix@{MUC}"
    monkeypatch.setattr(xmpp_rooms, "JOIN_HISTORY", 20)   # ask for history: the filter must drop it
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        await alice.join(room, "alice")
        alice.say(room, "!temp chambre", "groupchat")      # history by the time the hub joins
        await alice.next_message(body_is("!temp chambre"))
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, rooms=[room])) as (hub, a):
            await joined(a, room)
            alice.say(room, "!temp salon", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].resource == "maison")
            assert answer["type"] == "groupchat" and answer["body"].startswith("salon: "), answer["body"]
            alice.say(room, "maison: temp salon", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].resource == "maison")
            assert answer["body"].startswith("salon: ")
            alice.say(room, "salon is warm today", "groupchat")            # not for the hub
            # The bot's own lines come back to it (echo) and start with the prefix-less reading;
            # a line that looks like a command from the bot would be answered if echoes were not ignored.
            await hub.send(Address("xmpp", room, False), Reply("!temp chambre"))
            echo = await alice.next_message(lambda m: m["from"].resource == "maison")
            assert echo["body"] == "!temp chambre"
            await alice.no_message(lambda m: m["from"].resource == "maison", within=1.5)
    assert "ignored replayed history line of alice" in caplog.text      # the room did replay it


async def test_in_rooms_only_a_real_jid_the_room_reveals_grants_control(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    owned, foreign = f"owned@{MUC}", f"foreign@{MUC}"
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        await alice.join(foreign, "alice")              # alice owns it: the hub sees nicks, not JIDs
        section = xmpp_section(prosody, rooms=[owned, foreign])
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, section) as (_hub, adapter):
            await joined(adapter, owned)                # the hub created it: it is its owner
            await joined(adapter, foreign)
            await alice.join(owned, "alice")
            alice.say(owned, "!chauffage on", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].bare == owned and m["from"].resource == "maison")
            assert answer["body"] == "heater is ON"
            alice.say(foreign, "!chauffage off", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].bare == foreign and m["from"].resource == "maison")
            assert answer["body"].startswith("Sorry, alice may not use 'chauffage off' (it needs the switch permission)")


ROOM_SECRET = "tr0mpette du salon"


@pytest.mark.parametrize("source", ["env", "file"])
async def test_password_protected_room_joined_with_its_secret(tmp_path: Path, mosquitto: Mosquitto,
                                                              prosody: Prosody, monkeypatch: pytest.MonkeyPatch,
                                                              source: str, caplog: pytest.LogCaptureFixture) -> None:
    """...and the room password never shows in the logs, even slixmpp's stanza lines at DEBUG."""
    caplog.set_level(logging.DEBUG)
    room = f"secret-{source}@{MUC}"
    if source == "env":
        monkeypatch.setenv("HUB_ROOM_PASSWORD", ROOM_SECRET)
        secret: dict[str, str] = {"password_env": "HUB_ROOM_PASSWORD"}
    else:
        (tmp_path / "room.pass").write_text(ROOM_SECRET + "\n")
        secret = {"password_file": str(tmp_path / "room.pass")}
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        await alice.join(room, "alice")                 # alice creates it, owns it, and stays in it
        await alice.protect_room(room, ROOM_SECRET)
        section = xmpp_section(prosody, rooms=[{"jid": room, **secret}])
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, section) as (_hub, adapter):
            await joined(adapter, room)
            alice.say(room, "!temp salon", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].bare == room and m["from"].resource == "maison")
            assert answer["type"] == "groupchat"
            assert re.fullmatch(r"salon: -?\d+\.\d °C", answer["body"]), answer["body"]
    hub_lines = "\n".join(r.getMessage() for r in caplog.records if "SEND: <presence" in r.getMessage()
                          and room in r.getMessage() and "maison" in r.getMessage())
    assert "<password>****</password>" in hub_lines
    # The only lines with the secret are the test client's own room configuration (alice sets it).
    leaks = [r.getMessage() for r in caplog.records if ROOM_SECRET in r.getMessage()]
    assert all("muc#roomconfig_roomsecret" in line for line in leaks), leaks


async def test_wrong_room_password_is_reported_and_the_rest_keeps_working(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="adapters.xmpp_rooms")
    room, open_room = f"locked@{MUC}", f"open@{MUC}"
    monkeypatch.setenv("HUB_ROOM_PASSWORD", "not the secret")
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        await alice.join(room, "alice")
        await alice.protect_room(room, ROOM_SECRET)
        section = xmpp_section(prosody, rooms=[{"jid": room, "password_env": "HUB_ROOM_PASSWORD"}, open_room])
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, section) as (hub, adapter):
            await joined(adapter, open_room)            # the other room is not held up by the locked one
            await adapter.wait_until(lambda: adapter.rooms[room].detail.startswith("join failed"), 15)
            assert not adapter.rooms[room].joined
            assert "wrong or missing room password" in adapter.rooms[room].detail, adapter.rooms[room].detail
            failures = [r.getMessage() for r in caplog.records if r.name == "adapters.xmpp_rooms"
                        and r.levelno == logging.WARNING and room in r.getMessage()]
            assert failures and "wrong or missing room password" in failures[0], failures
            # the hub runs on: a direct chat is answered, and !status names the room and why
            task = next(t for t in hub.tasks if t.get_name() == "adapter-xmpp")
            assert adapter.health.connected and not task.done()
            alice.say("maison@localhost", "temp salon")
            answer = await alice.next_message(lambda m: m["type"] == "chat" and m["from"].bare == "maison@localhost")
            assert re.fullmatch(r"salon: -?\d+\.\d °C", answer["body"]), answer["body"]
            alice.say("maison@localhost", "status")
            status = await alice.next_message(lambda m: m["type"] == "chat" and "rooms:" in m["body"])
            assert f"{room} (join failed: not-authorized: wrong or missing room password)" in status["body"], \
                status["body"]
            assert f"{open_room} (joined)" in status["body"], status["body"]


async def test_rpc_cli_reads_a_device(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (hub, _a):
        env = dict(os.environ, XMPP_PASSWORD=PASSWORD)
        base = [str(CHATOPS), "rpc", "--jid", "script@localhost", "--to", HUB_JID, "--server", "127.0.0.1",
                "--port", str(prosody.c2s_port), "--plaintext", "--timeout", "10"]
        proc = await asyncio.create_subprocess_exec(*base, "read", "salon", env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        assert re.fullmatch(r"-?\d+\.\d+", out.decode().strip()), out
        proc = await asyncio.create_subprocess_exec(*base, "--json", "read", "salon", env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err.decode()
        data = json.loads(out)
        assert data["device"] == "salon" and data["unit"] == "°C" and abs(data["timestamp"] - time.time()) < 600
        proc = await asyncio.create_subprocess_exec(*base, "switch", "heater", "on", env=env,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 1 and b"fault 1:" in err, (out, err)


async def test_rpc_switch_refused_for_a_stranger_and_the_stream_survives(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (hub, _a), \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe("zigbee2mqtt/heater/set")
        commands: list[bytes] = []

        async def collect() -> None:
            async for message in watcher.messages:
                commands.append(bytes(message.payload))
        collector = asyncio.create_task(collect())
        try:
            async with RpcClient("eve@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                                 plaintext=True) as eve:
                with pytest.raises(Fault) as refused:
                    await eve.call("hub.switch", "heater", "on")
                assert refused.value.code == FaultCode.NOT_PERMITTED
                with pytest.raises(Fault) as unknown:
                    await eve.call("hub.explode")
                assert unknown.value.code == FaultCode.UNKNOWN_METHOD
                reading = await eve.call("hub.read", "salon")          # same stream, still alive
                assert reading["device"] == "salon" and isinstance(reading["value"], float)
                assert [d["name"] for d in await eve.call("hub.devices")] == sorted(hub.home.devices)
            audit = await hub.store.audit_entries("refused")
            assert any("eve@localhost" in e["sender"] and "switch" in e["detail"] for e in audit)
            # alice may: the command goes out and the heater confirms
            async with RpcClient("alice@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                                 plaintext=True) as alice:
                result = await alice.call("hub.switch", "heater", "on")
                assert result["state"] == "ON" and result["on"] is True
            assert commands == [b'{"state": "ON"}']             # only alice's; nothing from eve
        finally:
            collector.cancel()


async def test_rpc_switch_runs_the_switch_command(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """hub.switch is the `switch` command: it drives a light as the chat does, and a switch from RPC
    overrides a pending "on for 2h" as any switch does (its switch-back will leave it alone)."""
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (hub, _a):
        await wait_for(lambda: hub.home.devices["lampe"].reading is not None)
        async with RpcClient("alice@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                             plaintext=True) as alice:
            assert (await alice.call("hub.switch", "lampe", "on"))["state"] == "ON"
            assert hub.home.devices["lampe"].reading.value is True
            assert "timer #1" in await alice.call("hub.command", "switch heater on for 2h")
            assert (await alice.call("hub.switch", "heater", "off"))["on"] is False
        timers = await hub.timers.listed()
        assert timers and timers[0].data.get("superseded_by") == "alice"


async def test_rpc_command_runs_as_the_caller(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)), \
            RpcClient("alice@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                      plaintext=True) as alice, \
            RpcClient("eve@localhost", PASSWORD, HUB_JID, server="127.0.0.1", port=prosody.c2s_port,
                      plaintext=True) as eve:
        assert (await alice.call("hub.command", "whoami")).find("alice") >= 0
        with pytest.raises(Fault) as refused:          # a script tells a refusal from an answer by its status
            await eve.call("hub.command", "chauffage on")
        assert refused.value.code == FaultCode.NOT_PERMITTED and "may not use 'chauffage on' (it needs the switch permission)" in refused.value.message
        assert (await alice.call("hub.command", "chauffage off")) == "heater is OFF"
        # The rate limit is fault 5, as for hub.read: a script backs off instead of giving up.
        with pytest.raises(Fault) as limited:
            for _ in range(100):
                await eve.call("hub.command", "temp salon")
        assert limited.value.code == FaultCode.RATE_LIMITED, limited.value


async def test_a_message_the_server_returns_fails_the_send_with_the_reason(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """An alert to a JID with no account was counted delivered: the server's bounce was dropped."""
    from chatops.outbox import Undeliverable
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (_hub, adapter):
        with pytest.raises(Undeliverable, match="returned the message to nobody@localhost"):
            await adapter.send(Address("xmpp", "nobody@localhost", True), Reply("Smoke in the kitchen!"))
        assert "returned the message to nobody@localhost" in caplog.text


async def test_a_picture_with_no_way_to_go_is_said_not_dropped(tmp_path: Path, mosquitto: Mosquitto,
                                                                prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tiny_png(tmp_path / "snap.png")
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, {**xmpp_section(prosody), "http_upload": False},
                             web={"enabled": False}) as (_hub, adapter), \
            xmpp_client("bob@localhost/phone", prosody.c2s_port) as bob:
        await adapter.send(Address("xmpp", "bob@localhost", True),
                           Reply("Entrée", attachments=(Attachment(path=image, mime="image/png"),)))
        assert (await bob.next_message())["body"] == "Entrée"
        assert (await bob.next_message())["body"] == \
            "snap.png: (a picture: this network cannot carry it and the hub's web server is off)"


async def test_image_goes_by_http_upload_with_oob(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    image = tiny_png(tmp_path / "snap.png")
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (_hub, adapter), \
            xmpp_client("bob@localhost/phone", prosody.c2s_port) as bob:
        await adapter.send(Address("xmpp", "bob@localhost", True),
                           Reply("Entrée", attachments=(Attachment(path=image, mime="image/png"),)))
        text = await bob.next_message()
        assert text["body"] == "Entrée"
        picture = await bob.next_message()
        url = picture["body"]
        assert picture["oob"]["url"] == url and url.startswith(f"http://127.0.0.1:{prosody.http_port}/")
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200
            assert await response.read() == image.read_bytes()


async def test_snap_command_arrives_as_an_uploaded_picture(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`snap entree` in a direct chat: the demo's simulated camera, by HTTP upload with an OOB URL."""
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        alice.say("maison@localhost", "snap entree")
        text = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert re.fullmatch(r"entrée at \d\d:\d\d:\d\d", text["body"]), text["body"]
        picture = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        url = picture["body"]
        assert picture["oob"]["url"] == url and url.startswith(f"http://127.0.0.1:{prosody.http_port}/")
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            assert response.status == 200 and (await response.read())[:3] == b"\xff\xd8\xff"


async def test_image_falls_back_to_a_hub_link_without_upload(tmp_path: Path, mosquitto: Mosquitto,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    image = tiny_png(tmp_path / "snap.png")
    with started(Prosody(tmp_path / "prosody", upload=False)) as server:
        server.register("maison")
        server.register("bob")
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(server)) as (_hub, adapter), \
                xmpp_client("bob@localhost/phone", server.c2s_port) as bob:
            await adapter.send(Address("xmpp", "bob@localhost", True),
                               Reply("", attachments=(Attachment(path=image, mime="image/png"),)))
            link = await bob.next_message()
            assert "/files/" in link["body"] and not link["oob"]["url"]
            async with aiohttp.ClientSession() as http, http.get(link["body"]) as response:
                assert response.status == 200 and await response.read() == image.read_bytes()


async def test_alerts_reach_a_person_and_a_room_and_raise_when_offline(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"alerts@{MUC}"
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, rooms=[room])) as (_h, adapter), \
            xmpp_client("bob@localhost/phone", prosody.c2s_port) as bob:
        await joined(adapter, room)
        await bob.join(room, "bob")
        await adapter.send(Address("xmpp", "bob@localhost", True), Reply("Smoke detected in the kitchen!",
                                                                        notice=True))
        alert = await bob.next_message(lambda m: m["type"] == "chat")
        assert alert["body"] == "Smoke detected in the kitchen!" and alert["from"].bare == "maison@localhost"
        # an alert address says direct=True for rooms it does not recognise; the adapter knows its rooms
        await adapter.send(Address("xmpp", room, True), Reply("Smoke in the room", notice=True))
        in_room = await bob.next_message(lambda m: m["type"] == "groupchat" and m["from"].resource == "maison")
        assert in_room["body"] == "Smoke in the room"
        await asyncio.to_thread(prosody.stop)
        await adapter.wait_until(lambda: not adapter.health.connected, 10)
        with pytest.raises(ConnectionError):
            await adapter.send(Address("xmpp", "bob@localhost", True), Reply("lost?", notice=True))


async def test_an_alert_rule_reaches_a_person_and_a_room(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"house@{MUC}"
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke detected in the kitchen!",
            "severity": "critical", "notify": ["xmpp:bob@localhost", f"xmpp:{room}"], "cooldown": "0s"}
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, rooms=[room]),
                             alerts=[rule]) as (_hub, adapter), \
            xmpp_client("bob@localhost/phone", prosody.c2s_port) as bob:
        await joined(adapter, room)
        await bob.join(room, "bob")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        kinds = set()
        for _ in range(2):
            alert = await bob.next_message(lambda m: m["from"].bare in ("maison@localhost", room)
                                           and "Smoke detected" in m["body"])
            kinds.add(str(alert["type"]))
        assert kinds == {"chat", "groupchat"}


async def test_an_alert_to_a_user_says_ack_without_the_rooms_prefix(tmp_path: Path, mosquitto: Mosquitto,
                                                                    prosody: Prosody,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """alice's JID (a user's identity) was judged a room, as XMPP cannot tell one by its look: her
    one-to-one chat read `answer !ack 1`, where the `!` belongs to rooms only."""
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke!",
            "severity": "critical", "notify": ["alice"], "cooldown": "0s"}
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody), alerts=[rule]), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        alert = await alice.next_message(lambda m: "Smoke!" in m["body"])
        assert str(alert["type"]) == "chat" and alert["body"] == "[CRITICAL] Smoke! (alert #1; answer ack 1)"


async def test_an_alert_to_a_room_not_in_the_config_on_any_muc_domain_reaches_the_room(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    """`xmpp:house@muc.localhost` is neither configured nor on a `conference.` domain: the adapter
    asks the server what it is (disco#info), joins it, and the alert is said in the room, where
    the old guess from the domain sent it as a direct chat to a room JID, lost."""
    room = f"house@{OTHER_MUC}"
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke detected in the kitchen!",
            "severity": "critical", "notify": [f"xmpp:{room}"], "cooldown": "0s"}
    async with xmpp_client("bob@localhost/phone", prosody.c2s_port) as bob:
        await bob.join(room, "bob")                      # the room exists before the hub knows of it
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody), alerts=[rule]) \
                as (_hub, adapter):
            await adapter.wait_until(lambda: adapter.health.connected, 15)
            assert room not in adapter.rooms
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
                await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
            alert = await bob.next_message(lambda m: m["type"] == "groupchat" and m["from"].resource == "maison")
            assert "Smoke detected in the kitchen!" in alert["body"]
            assert adapter.rooms[room].joined


async def test_an_alert_to_a_room_that_does_not_exist_is_given_up_saying_so(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    """`xmpp:ghost@conference.localhost`, a room nobody made: sent as a chat to a person, it came
    back item-not-found, and the log said only that. The room service says there is no such room."""
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke detected in the kitchen!",
            "severity": "critical", "notify": [f"xmpp:ghost@{MUC}"], "cooldown": "0s"}
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody), alerts=[rule]) \
            as (hub, adapter):
        await adapter.wait_until(lambda: adapter.health.connected, 15)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        async with asyncio.timeout(15):
            while not (given_up := await hub.store.call(lambda: hub.store.db.execute(
                    "SELECT last_error FROM deliveries WHERE delivered_at = -1").fetchall())):
                await asyncio.sleep(0.05)
        assert given_up == [(f"refused: Undeliverable: xmpp:ghost@{MUC}: there is no such room on {MUC}: create it "
                             "(and invite the hub), or check the address",)], given_up


async def test_prosody_restart_reconnects_rejoins_and_answers(tmp_path: Path, mosquitto: Mosquitto,
                                                              prosody: Prosody,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"restart@{MUC}"
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, rooms=[room])) as (_h, adapter):
        await joined(adapter, room)
        assert adapter.sessions_started == 1
        await asyncio.to_thread(prosody.stop)
        await adapter.wait_until(lambda: not adapter.health.connected, 10)
        assert not adapter.rooms[room].joined or not adapter.health.connected
        await asyncio.to_thread(prosody.start)
        await adapter.wait_until(lambda: adapter.sessions_started == 2, 20)
        await joined(adapter, room)
        async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
            await alice.join(room, "alice")
            alice.say(room, "!temp salon", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].resource == "maison")
            assert answer["body"].startswith("salon: ")
            alice.say("maison@localhost", "temp chambre")
            answer = await alice.next_message(lambda m: m["type"] == "chat")
            assert answer["body"].startswith("chambre: ")


async def test_self_ping_notices_a_room_that_forgot_the_bot(tmp_path: Path, mosquitto: Mosquitto,
                                                            prosody: Prosody,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"forgetful@{MUC}"
    section = xmpp_section(prosody, rooms=[room], self_ping_interval="0.5s")
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, section) as (_h, adapter):
        await joined(adapter, room)
        forget = f"> local m = prosody.hosts['{MUC}'].modules.muc; m.forget_room(m.get_room_from_jid('{room}'))"
        shell = await asyncio.to_thread(prosody.shell, forget)
        assert "Result" in shell or "OK" in shell, shell
        await adapter.wait_until(lambda: not adapter.rooms[room].joined, 10)   # noticed by self-ping
        await joined(adapter, room)                                              # and joined again
        async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
            await alice.join(room, "alice")
            alice.say(room, "!temp salon", "groupchat")
            answer = await alice.next_message(lambda m: m["from"].resource == "maison")
            assert answer["body"].startswith("salon: ")


async def test_short_network_drop_loses_nothing_either_way(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async with TcpProxy(prosody.c2s_port) as proxy, \
            hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, port=proxy.port)) as (_h, adapter), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        assert adapter.xmpp.plugin["xep_0198"].enabled_out
        # outbound: the link goes silent, the alert is written into the void, then the link breaks
        proxy.blackhole()
        sending = asyncio.create_task(adapter.send(Address("xmpp", "alice@localhost", True),
                                                   Reply("alert during the outage", notice=True)))
        await asyncio.sleep(0)                  # let the stanza reach the dead socket
        await proxy.wait_swallowed()
        proxy.cut()
        await adapter.wait_until(lambda: adapter.resumed == 1, 15)
        await asyncio.wait_for(sending, 10)     # acknowledged after the resumption
        alert = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert alert["body"] == "alert during the outage"
        # inbound: alice writes while the hub is cut off; the server keeps it for the resumed stream
        proxy.cut(refuse=True)
        await adapter.wait_until(lambda: not adapter.health.connected, 10)
        alice.say("maison@localhost", "temp salon")
        await alice.no_message(lambda m: m["from"].bare == "maison@localhost", within=0.5)
        proxy.accept()
        await adapter.wait_until(lambda: adapter.resumed == 2, 15)
        answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert answer["body"].startswith("salon: ")
        assert adapter.sessions_started == 1
        await alice.no_message(lambda m: m["from"].bare == "maison@localhost", within=1.0)   # exactly once


async def test_subscriptions_only_from_configured_users(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)) as (hub, _a), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice, \
            xmpp_client("eve@localhost/phone", prosody.c2s_port) as eve:
        for client in (alice, eve):
            client.xmpp.send_presence(pto="maison@localhost", ptype="subscribe")

        async def answer(client: XmppClient) -> str:
            async with asyncio.timeout(10):
                while True:
                    presence = await client.presences.get()
                    if presence["from"].bare == "maison@localhost" and presence["type"] in ("subscribed",
                                                                                           "unsubscribed"):
                        return str(presence["type"])
        assert await answer(alice) == "subscribed"
        assert await answer(eve) == "unsubscribed"
        audit = await hub.store.audit_entries("refused")
        assert any("eve@localhost" in e["sender"] and "subscription" in e["text"] for e in audit)


async def test_adhoc_commands_are_listed_and_run(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody)), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice, \
            xmpp_client("eve@localhost/phone", prosody.c2s_port) as eve:
        items = await alice.xmpp.plugin["xep_0030"].get_items(jid=HUB_JID, node="http://jabber.org/protocol/commands",
                                                             timeout=5)
        assert {i[1] for i in items["disco_items"]["items"]} == {"read", "switch", "command"}
        adhoc = alice.xmpp.plugin["xep_0050"]
        first = await adhoc.send_command(HUB_JID, "read", timeout=5)
        assert first["command"]["status"] == "executing"
        # Every device hub.read reads, and every one `switch` takes (the dimmable lamp too).
        readable = {o["value"] for o in first["command"]["form"].get_fields()["device"].get_options()}
        assert {"salon", "lampe", "thermostat", "volet_salon", "heater"} <= readable and "entree" not in readable
        switch = await adhoc.send_command(HUB_JID, "switch", timeout=5)
        assert {o["value"] for o in switch["command"]["form"].get_fields()["device"].get_options()} == \
            {"hall_light", "heater", "lampe"}
        form = alice.xmpp.plugin["xep_0004"].make_form(ftype="submit")
        form.add_field(var="device", value="salon")
        done = await adhoc.send_command(HUB_JID, "read", sessionid=first["command"]["sessionid"],
                                        action="complete", payload=form, timeout=5)
        assert done["command"]["status"] == "completed"
        assert done["command"]["notes"][0][0] == "info" and done["command"]["notes"][0][1].startswith("salon: ")
        refused = await eve.xmpp.plugin["xep_0050"].send_command(HUB_JID, "switch", timeout=5)
        assert refused["command"]["status"] == "completed"
        assert refused["command"]["notes"][0][0] == "error"


async def test_tls_verified_with_the_ca_file_and_refused_without(tmp_path: Path, mosquitto: Mosquitto,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with started(Prosody(tmp_path / "prosody-tls", tls=True)) as server:
        server.register("maison")
        server.register("alice")
        section = xmpp_section(server, ca_file=str(server.ca_file), host="localhost")
        section.pop("allow_plaintext")
        async with hub_with_xmpp(tmp_path / "a", mosquitto, monkeypatch, section), \
                xmpp_client("alice@localhost/phone", server.c2s_port, ca_file=server.ca_file) as alice:
            alice.say("maison@localhost", "temp salon")
            answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
            assert answer["body"].startswith("salon: ")
        section.pop("ca_file")
        monkeypatch.setenv("HUB_XMPP_PASSWORD", PASSWORD)
        settings = settings_for(tmp_path / "b", mqtt_url=mosquitto.url, adapters={"xmpp": section}, users=USERS)
        async with running(Hub(settings)) as hub:
            adapter = hub.adapters["xmpp"]
            await adapter.wait_until(lambda: "certificate" in adapter.health.detail, 15)
            assert not adapter.health.connected
            # The reason, and the fix for it (a private CA here; a name that does not match is another matter).
            assert "not trusted: " in adapter.health.detail and "set ca_file" in adapter.health.detail, \
                adapter.health.detail


async def test_wrong_password_stops_the_adapter_and_says_so(tmp_path: Path, mosquitto: Mosquitto,
                                                            prosody: Prosody,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUB_XMPP_PASSWORD", "wrong")
    settings = settings_for(tmp_path / "hub", mqtt_url=mosquitto.url, adapters={"xmpp": xmpp_section(prosody)},
                            users=USERS)
    async with running(Hub(settings)) as hub:
        adapter = hub.adapters["xmpp"]
        await adapter.wait_until(lambda: "password" in adapter.health.detail, 15)
        assert not adapter.health.connected


async def test_cancelling_disconnects_within_a_second(tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    room = f"bye@{MUC}"
    async with xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        await alice.join(room, "alice")
        async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody, rooms=[room])) as (hub, a):
            await joined(a, room)
            task = next(t for t in hub.tasks if t.get_name() == "adapter-xmpp")
            started = time.monotonic()
            task.cancel()
            await asyncio.wait({task}, timeout=2)
            assert time.monotonic() - started < 1.0
            assert not a.health.connected
            async with asyncio.timeout(5):              # the room saw the hub leave
                while True:
                    presence = await alice.room_presences.get()
                    if presence["from"].resource == "maison" and presence["type"] == "unavailable":
                        break


async def test_a_control_character_from_a_device_never_breaks_the_stream(
        tmp_path: Path, mosquitto: Mosquitto, prosody: Prosody, monkeypatch: pytest.MonkeyPatch) -> None:
    """A raw text value with BEL (not allowed in XML: prosody would drop the stream) and a
    right-to-left override reaches the user cleaned, and the next command is answered."""
    devices = {"gate": {"type": "sensor", "topic": "test/gate"}}
    async with hub_with_xmpp(tmp_path, mosquitto, monkeypatch, xmpp_section(prosody), devices=devices) as (hub, xmpp), \
            xmpp_client("alice@localhost/phone", prosody.c2s_port) as alice:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
            await device.publish("test/gate", "open\x07\u202eleft".encode(), qos=1, retain=True)
        await wait_for(lambda: hub.home.devices["gate"].reading is not None)   # not an adapter change: poll
        alice.say("maison@localhost", "read gate")
        answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert answer["body"].startswith("gate: openleft")
        alice.say("maison@localhost", "temp salon")
        answer = await alice.next_message(lambda m: m["from"].bare == "maison@localhost")
        assert re.fullmatch(r"salon: -?\d+\.\d °C", answer["body"]), answer["body"]
        assert xmpp.health.connected
