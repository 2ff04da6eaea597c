"""The Matrix adapter against a real Synapse (tests/matrix/conftest.py): commands in a room and a
direct room, answers as replies, strangers refused and audited, invitations, alerts (also through
the outbox while Synapse is down), the sync token across a hub restart, encrypted rooms, secrets."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from adapters.matrix import TIMELINE_LIMIT
from adapters.matrix_network import NETWORK, address_problem, identity_problem
from adapters.matrix_settings import Settings
from chatops.hub import Hub, running
from chatops.message import Address, Attachment, Reply
from chatops.testing import Mosquitto, settings_for, tiny_png, wait_for
from tests.matrix.conftest import Synapse

_ids = itertools.count(1)


class Peer:
    """A person on the homeserver, speaking the client-server API directly (no nio)."""

    def __init__(self, synapse: Synapse, user_id: str, token: str) -> None:
        self.synapse, self.user_id, self.token = synapse, user_id, token
        self.since: str | None = None
        self.events: dict[str, list[dict[str, Any]]] = {}
        self.invites: set[str] = set()

    @classmethod
    def make(cls, synapse: Synapse, name: str) -> Peer:
        account = synapse.register(name, "pw-" + name)
        return cls(synapse, account["user_id"], account["access_token"])

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.request(method, f"{self.synapse.url}/_matrix/client/v3{path}", json=body, params=params,
                                    headers={"Authorization": f"Bearer {self.token}"}) as resp:
                data = await resp.json()
                assert resp.status == 200, data
                return data

    async def create_room(self, invite: list[str], direct: bool = False, encrypted: bool = False) -> str:
        body: dict[str, Any] = {"invite": invite, "is_direct": direct, "preset": "private_chat"}
        if encrypted:
            body["initial_state"] = [{"type": "m.room.encryption", "state_key": "",
                                      "content": {"algorithm": "m.megolm.v1.aes-sha2"}}]
        return str((await self.call("POST", "/createRoom", body))["room_id"])

    async def send(self, room: str, body: str) -> str:
        content = {"msgtype": "m.text", "body": body}
        return str((await self.call("PUT", f"/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}", content))["event_id"])

    async def members(self, room: str) -> set[str]:
        return set((await self.call("GET", f"/rooms/{room}/joined_members"))["joined"])

    async def sync(self) -> None:
        params = {"timeout": "1000"} | ({"since": self.since} if self.since else {})
        data = await self.call("GET", "/sync", params=params)
        self.since = data["next_batch"]
        for room_id, room in data.get("rooms", {}).get("join", {}).items():
            self.events.setdefault(room_id, []).extend(
                e for e in room["timeline"]["events"] if e["type"] == "m.room.message")
        self.invites |= set(data.get("rooms", {}).get("invite", {}))

    async def messages_from(self, sender: str, room: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The first `count` messages `sender` wrote in `room` (waiting for them)."""
        async with asyncio.timeout(timeout):
            while len(found := [e for e in self.events.get(room, []) if e["sender"] == sender]) < count:
                await self.sync()
        return found[:count]

    async def invited(self, besides: frozenset[str] = frozenset(), timeout: float = 30) -> str:
        """The one room this person is invited to besides `besides` (waiting for it)."""
        async with asyncio.timeout(timeout):
            while not (self.invites - besides):
                await self.sync()
        (room,) = self.invites - besides
        return room

    async def wait_joined(self, room: str, user: str, timeout: float = 20) -> None:
        async with asyncio.timeout(timeout):
            while user not in await self.members(room):
                await self.sync()


def hub_settings(tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, bot: str, alice: Peer,
                 hub: dict[str, Any] | None = None, **secret: str) -> Any:
    return settings_for(tmp_path / "data", mosquitto.url, hub=hub or {},
                        adapters={"matrix": {"homeserver": synapse.url, "user_id": bot, **secret}},
                        users={"alice": {"roles": ["family"], "matrix": [alice.user_id]}},
                        alerts=[{"name": "smoke", "device": "kitchen_smoke", "when": "on",
                                 "message": "Smoke in the kitchen!", "severity": "critical",
                                 "notify": ["alice"], "cooldown": "0s"}])


@pytest.fixture
def people(synapse: Synapse, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Peer, Peer]:
    """A fresh bot account (its token in MATRIX_TOKEN), alice (configured) and bob (a stranger)."""
    n = f"{next(_ids)}{uuid.uuid4().hex[:6]}"
    bot = synapse.register(f"hub{n}", f"pw-hub{n}")
    monkeypatch.setenv("MATRIX_TOKEN", bot["access_token"])
    monkeypatch.setenv("MATRIX_PASSWORD", f"pw-hub{n}")
    return bot["user_id"], Peer.make(synapse, f"alice{n}"), Peer.make(synapse, f"bob{n}")


@pytest.mark.servers
async def test_commands_in_a_room_and_a_direct_room_and_a_stranger_refused(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    bot, alice, bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await alice.create_room([bot, bob.user_id])
        await bob.call("POST", f"/rooms/{room}/join", {})
        await alice.wait_joined(room, bot)
        asked = await alice.send(room, "!temp salon")
        await alice.send(room, "temp salon")             # no prefix in a room: not for the hub
        (answer,) = await alice.messages_from(bot, room)
        assert answer["content"]["body"].startswith("salon: ")
        assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
        await bob.send(room, "!chauffage off")
        refusal = (await alice.messages_from(bot, room, 2))[1]["content"]["body"]
        assert refusal.startswith(f"Sorry, {bob.user_id} may not use 'chauffage off' (it needs the switch permission).")
        assert [e["sender"] for e in await hub.store.audit_entries("refused")] == [f"matrix:{bob.user_id}"]
        # A direct room: no prefix needed.
        direct = await alice.create_room([bot], direct=True)
        await alice.wait_joined(direct, bot)
        await alice.send(direct, "temp salon")
        assert (await alice.messages_from(bot, direct))[0]["content"]["body"].startswith("salon: ")


@pytest.mark.servers
async def test_invitations_from_a_stranger_are_declined_and_audited_from_a_user_accepted(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer],
        caplog: pytest.LogCaptureFixture) -> None:
    bot, alice, bob = people
    settings = hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN")
    hub = Hub(settings)
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await bob.create_room([bot])
        async with asyncio.timeout(20):
            while not await hub.store.audit_entries("refused"):
                await asyncio.sleep(0.05)
        (entry,) = await hub.store.audit_entries("refused")
        assert entry["sender"] == f"matrix:{bob.user_id}"
        state = await bob.call("GET", f"/rooms/{room}/state/m.room.member/{bot}")
        assert state["membership"] == "leave"
        # alice's invitation is accepted; what the room said before the hub joined is not run.
        # A room with a long past: the window of it that comes with the join is cut short, and
        # that is no "events missed" warning.
        room = await alice.create_room([])
        await alice.send(room, "!chauffage on")
        for n in range(TIMELINE_LIMIT + 5):
            await alice.send(room, f"chat {n}")
        await alice.call("POST", f"/rooms/{room}/invite", {"user_id": bot})
        await alice.wait_joined(room, bot)
        asked = await alice.send(room, "!temp salon")
        (answer,) = await alice.messages_from(bot, room)
        assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked
        assert answer["content"]["body"].startswith("salon: ")
        assert "since the last sync" not in caplog.text
    # More events than a sync brings while the hub was down (notices: a room of two is a direct
    # room, where every line would be a command): the newest are handled, and the log says that
    # older ones were not.
    for n in range(TIMELINE_LIMIT + 5):
        await alice.call("PUT", f"/rooms/{room}/send/m.room.message/{uuid.uuid4().hex}",
                         {"msgtype": "m.notice", "body": f"a bot's notice {n}"})
    asked = await alice.send(room, "!temp salon")
    async with running(Hub(settings)):
        (_first, answer) = await alice.messages_from(bot, room, 2, timeout=30)
    assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked, answer
    assert f"more than {TIMELINE_LIMIT} events in {room} since the last sync" in caplog.text


@pytest.mark.servers
async def test_an_alert_reaches_a_user_also_after_synapse_restarts(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    bot, alice, _bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        adapter = hub.adapters["matrix"]
        await wait_for(lambda: adapter.syncs >= 1, timeout=30)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        direct = await alice.invited()
        await alice.call("POST", f"/rooms/{direct}/join", {})
        assert "Smoke in the kitchen!" in (await alice.messages_from(bot, direct))[0]["content"]["body"]
        # Synapse down: the next alert waits in the outbox and goes out once it is back.
        await asyncio.to_thread(synapse.stop)
        await wait_for(lambda: not adapter.health.connected, timeout=60)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await asyncio.to_thread(synapse.start)
        later = [m["content"]["body"] for m in await alice.messages_from(bot, direct, 3, timeout=90)][1:]
        assert "back to normal" in later[0] and "Smoke in the kitchen!" in later[1]


@pytest.mark.servers
async def test_no_line_is_handled_twice_after_a_hub_restart_and_no_secret_in_logs(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer],
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    bot, alice, _bob = people
    settings = hub_settings(tmp_path, mosquitto, synapse, bot, alice, password_env="MATRIX_PASSWORD")
    hub = Hub(settings)
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        direct = await alice.create_room([bot], direct=True)
        await alice.wait_joined(direct, bot)
        first = await alice.send(direct, "temp salon")
        await alice.messages_from(bot, direct)
        tokens = {hub.adapters["matrix"].client.access_token}
    second = await alice.send(direct, "temp salon")          # sent while the hub is down
    hub = Hub(settings)
    async with running(hub):
        answers = await alice.messages_from(bot, direct, 2)
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 2, timeout=30)
        await alice.send(direct, "temp salon")
        answers = await alice.messages_from(bot, direct, 3)
        tokens.add(hub.adapters["matrix"].client.access_token)
    asked = [a["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] for a in answers]
    assert asked[:2] == [first, second] and len(set(asked)) == 3
    for secret in tokens | {f"pw-{bot[1:].split(':')[0]}"}:
        assert secret and secret not in caplog.text
    assert "handling event of type" not in caplog.text, "nio.rooms logs a line per event at INFO"


@pytest.mark.servers
async def test_an_encrypted_room_is_told_once_that_the_hub_cannot_read_it(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    bot, alice, _bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await alice.create_room([bot], encrypted=True)
        await alice.wait_joined(room, bot)
        for _ in range(2):
            await alice.call("PUT", f"/rooms/{room}/send/m.room.encrypted/{uuid.uuid4().hex}", {
                "algorithm": "m.megolm.v1.aes-sha2", "ciphertext": "AwgAEnAc", "sender_key": "x" * 43,
                "device_id": "ALICE", "session_id": "s" * 43})
        (note,) = await alice.messages_from(bot, room)
        assert "end-to-end encrypted" in note["content"]["body"]
        await alice.send(room, "m")
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 3, timeout=30)
        await alice.sync()
        assert len([e for e in alice.events[room] if e["sender"] == bot]) == 1


@pytest.mark.servers
async def test_a_line_in_clear_in_an_encrypted_direct_room_is_not_run_and_alarms_go_elsewhere(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """A client that sends in clear into an encrypted room was answered in clear, and the room
    became alice's direct room: the smoke alarm went there, unencrypted."""
    bot, alice, _bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await alice.create_room([bot], direct=True, encrypted=True)
        await alice.wait_joined(room, bot)
        await alice.send(room, "temp salon")
        (note,) = await alice.messages_from(bot, room)
        assert "end-to-end encrypted" in note["content"]["body"]
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        other = await alice.invited()
        assert other != room
        await alice.call("POST", f"/rooms/{other}/join", {})
        assert "Smoke in the kitchen!" in (await alice.messages_from(bot, other))[0]["content"]["body"]
        assert [e["content"]["body"] for e in alice.events[room] if e["sender"] == bot] == [note["content"]["body"]]


@pytest.mark.servers
async def test_an_alarm_for_someone_who_left_their_direct_room_opens_a_new_one(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """The alarm was written into the room alice had left, with only the hub in it, and marked
    delivered."""
    bot, alice, _bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        adapter = hub.adapters["matrix"]
        await wait_for(lambda: adapter.syncs >= 1, timeout=30)
        direct = await alice.create_room([bot], direct=True)
        await alice.wait_joined(direct, bot)
        await alice.send(direct, "temp salon")
        await alice.messages_from(bot, direct)
        await alice.call("POST", f"/rooms/{direct}/leave", {})
        room = adapter.client.rooms.get(direct)
        await wait_for(lambda: alice.user_id not in room.users, timeout=30)    # the hub's sync saw it
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        other = await alice.invited(besides=frozenset({direct}))
        await alice.call("POST", f"/rooms/{other}/join", {})
        assert "Smoke in the kitchen!" in (await alice.messages_from(bot, other))[0]["content"]["body"]


@pytest.mark.servers
async def test_an_alarm_never_goes_to_a_room_others_have_joined_since(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """alice talked to the hub in a room where they were alone, which the hub then took for her
    direct room; bob joined it later, and alice's smoke alarm (and camera picture) went there,
    in front of him. It goes to a room of hers alone."""
    bot, alice, bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        adapter = hub.adapters["matrix"]
        await wait_for(lambda: adapter.syncs >= 1, timeout=30)
        shared = await alice.create_room([bot])
        await alice.wait_joined(shared, bot)
        await alice.send(shared, "temp salon")
        await alice.messages_from(bot, shared)
        await alice.call("POST", f"/rooms/{shared}/invite", {"user_id": bob.user_id})
        await bob.call("POST", f"/rooms/{shared}/join", {})
        room = adapter.client.rooms.get(shared)
        await wait_for(lambda: bob.user_id in room.users, timeout=30)         # the hub's sync saw him
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        own = await alice.invited(besides=frozenset({shared}))
        await alice.call("POST", f"/rooms/{own}/join", {})
        assert "Smoke in the kitchen!" in (await alice.messages_from(bot, own))[0]["content"]["body"]
        assert not [e for e in alice.events.get(shared, []) if "Smoke" in e["content"].get("body", "")]


@pytest.mark.servers
async def test_pictures_go_to_the_media_repository_rate_limits_are_waited_out_aliases_resolved(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer],
        caplog: pytest.LogCaptureFixture) -> None:
    bot, alice, _bob = people
    account = synapse.register(f"admin{uuid.uuid4().hex[:8]}", "pw-admin", admin=True)
    admin = Peer(synapse, account["user_id"], account["access_token"])
    # The bot may send one message a second, in bursts of one: Synapse answers M_LIMIT_EXCEEDED.
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{synapse.url}/_synapse/admin/v1/users/{bot}/override_ratelimit",
                             json={"messages_per_second": 1, "burst_count": 1},
                             headers={"Authorization": f"Bearer {admin.token}"}) as resp:
            assert resp.status == 200, await resp.text()
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        adapter = hub.adapters["matrix"]
        await wait_for(lambda: adapter.syncs >= 1, timeout=30)
        direct = await alice.create_room([bot], direct=True)
        await alice.wait_joined(direct, bot)
        picture = tiny_png(tmp_path / "snapshot.png")
        await adapter.send(Address("matrix", direct, True),
                           Reply("Garage camera", attachments=(Attachment(picture, "image/png", name="garage.png"),)))
        await asyncio.gather(*(adapter.send(Address("matrix", direct, True), Reply(f"line {n}")) for n in range(3)))
        sent = await alice.messages_from(bot, direct, 5)
        # An alias as the address: resolved, joined (a public room), written to.
        alias = f"maison{uuid.uuid4().hex[:8]}"
        public = (await alice.call("POST", "/createRoom", {"preset": "public_chat", "room_alias_name": alias}))["room_id"]
        await adapter.send(Address("matrix", f"#{alias}:localhost", False), Reply("Door open"))
        assert (await alice.messages_from(bot, public))[0]["content"]["body"] == "Door open"
    image, text, *lines = (m["content"] for m in sent)
    assert image["msgtype"] == "m.image" and image["url"].startswith("mxc://localhost/")
    assert text["body"] == "Garage camera"
    assert sorted(line["body"] for line in lines) == ["line 0", "line 1", "line 2"]
    media = image["url"].removeprefix("mxc://")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{synapse.url}/_matrix/client/v1/media/download/{media}",
                            headers={"Authorization": f"Bearer {alice.token}"}) as resp:
            assert await resp.read() == picture.read_bytes()
    assert "ratelimited" in caplog.text          # Synapse did say M_LIMIT_EXCEEDED, and it was waited out


@pytest.mark.servers
async def test_the_line_that_opened_a_direct_chat_is_answered_and_an_unjoinable_room_is_said(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """Element opens a direct chat with its first line, and invites the hub (`is_direct`) after:
    that line is for the hub. An invite-only room the hub was not invited to cannot be written
    to: given up at once, with the reason (invite the hub), not retried for a day in silence."""
    from chatops.outbox import Undeliverable
    bot, alice, _bob = people
    direct = await alice.create_room([bot], direct=True)          # the hub is not running yet
    await alice.send(direct, "temp salon")
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        (answer,) = await alice.messages_from(bot, direct)
        assert answer["content"]["body"].startswith("salon: "), answer
        alias = f"priv{uuid.uuid4().hex[:8]}"
        await alice.call("POST", "/createRoom", {"preset": "private_chat", "room_alias_name": alias})
        with pytest.raises(Undeliverable, match=f"M_FORBIDDEN.*; invite {bot} to #{alias}:localhost"):
            await hub.adapters["matrix"].send(Address("matrix", f"#{alias}:localhost", False), Reply("Door open"))


async def test_a_web_site_given_as_homeserver_is_said_to_be_one(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`homeserver = "https://example.org"` where the client API is on matrix.example.org: the
    site answers an HTML 404, which nio reads as "unknown error"; the hub says what it is."""
    from aiohttp import web as aioweb

    from tests.test_notify import serving

    async def not_matrix(_request: aioweb.Request) -> aioweb.Response:
        return aioweb.Response(status=404, text="<html>Not here</html>", content_type="text/html")

    app = aioweb.Application()
    app.router.add_route("*", "/{tail:.*}", not_matrix)
    async with serving(app) as port:
        settings = settings_for(tmp_path / "data", mosquitto.url, adapters={"matrix": {
            "homeserver": f"http://127.0.0.1:{port}", "user_id": "@maison:localhost", "password_env": "HOME"}})
        async with running(Hub(settings)) as hub:
            adapter = hub.adapters["matrix"]
            await wait_for(lambda: "HTTP 404" in adapter.health.detail, timeout=20)
            assert "is homeserver the client API's URL" in adapter.health.detail, adapter.health.detail


@pytest.mark.parametrize(("pattern", "ok"), [("@alice:example.org", True), ("@*:example.org", True),
                                             ("@Alice:example.org", True),     # a historical user id
                                             ("alice@example.org", False), ("@Alice", False)])
def test_identities_are_matrix_user_ids(pattern: str, ok: bool) -> None:
    assert (identity_problem(pattern) is None) is ok


@pytest.mark.parametrize(("sender", "pattern", "taken"), [
    ("@alice:example.org", "@alice:example.org", True), ("@alice:Example.ORG", "@alice:example.org", True),
    ("@Alice:example.org", "@alice:example.org", False),     # a historical account of its own, not alice's
    ("@alice:example.org", "@Alice:example.org", False), ("@Alice:example.org", "@Alice:example.org", True),
    ("@bob:example.org", "@*:example.org", True), ("@bob:evil.example", "@*:example.org", False)])
def test_a_user_id_is_matched_with_its_localpart_as_written(sender: str, pattern: str, taken: bool) -> None:
    """Patterns were matched ignoring case: `@alice:…` took the distinct account `@Alice:…`."""
    from adapters.matrix_network import same_user
    from chatops.message import Identity
    assert same_user(Identity("matrix", sender), pattern) is taken


def test_addresses_and_settings_are_checked() -> None:
    assert address_problem("!abc:example.org") is None and address_problem("#maison:example.org") is None
    # Room version 12 (Synapse's default since 2025): room ids with no server part.
    opaque = "!rl_4xBF-Rw5iUMgWQtrM9ahF0QQYsO9DmlN5sh7i5nU"
    assert address_problem(opaque) is None and address_problem("#maison") is not None
    assert Settings(homeserver="https://m.example.org", user_id="@maison:example.org", password_env="P",
                    rooms=[opaque]).rooms == [opaque]
    assert address_problem("@alice:example.org") is None and address_problem("maison") is not None
    assert NETWORK.is_direct("@alice:example.org") and not NETWORK.is_direct("#maison:example.org")
    with pytest.raises(ValueError, match="needs a secret"):
        Settings(homeserver="https://matrix.example.org", user_id="@maison:example.org")
    with pytest.raises(ValueError, match="unencrypted"):
        Settings(homeserver="http://matrix.example.org", user_id="@maison:example.org", password_env="P")
    with pytest.raises(ValueError, match="not a room"):
        Settings(homeserver="https://m.example.org", user_id="@maison:example.org", password_env="P", rooms=["maison"])


@pytest.mark.servers
async def test_a_line_that_arrives_too_late_is_answered_not_run(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """With stale_after at a microsecond every line is late (Synapse stamps it before the hub gets it)."""
    bot, alice, bob = people
    settings = hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN",
                            stale_after="0.000001s")
    hub = Hub(settings)
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await alice.create_room([bot, bob.user_id])   # three: not a direct room
        await alice.wait_joined(room, bot)
        await alice.send(room, "chauffage on")           # not for the hub: no answer at all
        asked = await alice.send(room, "!chauffage on")
        (answer,) = await alice.messages_from(bot, room)
        assert answer["content"]["body"].startswith("Not run: '!chauffage on' reached the hub")
        assert answer["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == asked


@pytest.mark.servers
async def test_a_flooding_stranger_gets_one_slow_down_then_silence(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """The per-sender rate limit, as on every network: bob's (a stranger's) 8 lines in alice's
    room get 5 answers (rate_limit 5: one more token every 12 s, far more than the round trips
    take, however loaded the machine), one "Too many commands", then nothing; the refusals are
    audited in two rows, not three."""
    bot, alice, bob = people
    hub = Hub(hub_settings(tmp_path, mosquitto, synapse, bot, alice, hub={"rate_limit": 5},
                           access_token_env="MATRIX_TOKEN"))
    async with running(hub):
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        room = await alice.create_room([bot, bob.user_id])        # a stranger's own invitation is declined
        await bob.call("POST", f"/rooms/{room}/join", {})
        await alice.wait_joined(room, bot)
        for count in range(1, 7):                   # one at a time, each answered before the next
            await bob.send(room, "!temp salon")
            answers = await bob.messages_from(bot, room, count)
        assert answers[5]["content"]["body"] == "Too many commands; wait a minute and try again."
        assert all(a["content"]["body"].startswith("salon: ") for a in answers[:5])
        for _ in range(2):
            await bob.send(room, "!temp salon")
        await wait_for(lambda: hub.metrics.commands["temp", "refused"] == 3, timeout=30)
        await bob.sync()
        assert len([e for e in bob.events[room] if e["sender"] == bot]) == 6
        await hub.audit.flush(everything=True)
        rows = await hub.store.audit_entries("rate-limited")
        assert len(rows) == 2 and {r["sender"] for r in rows} == {f"matrix:{bob.user_id}"}


@pytest.mark.servers
async def test_replies_threads_and_lines_written_while_the_hub_was_down(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """A reply carries a quote of what it answers (`Unknown command '>'`); an answer to a line in
    a thread went to the main timeline; the lines written while the hub was down are all
    handled (up to the sync filter's TIMELINE_LIMIT; more, and the log says some were missed)."""
    bot, alice, _bob = people
    settings = hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN")
    async with running(Hub(settings)) as hub:
        await wait_for(lambda: hub.adapters["matrix"].syncs >= 1, timeout=30)
        direct = await alice.create_room([bot], direct=True)
        await alice.wait_joined(direct, bot)
        asked = await alice.send(direct, "temp salon")
        (answer,) = await alice.messages_from(bot, direct)
        quoted = {"msgtype": "m.text", "body": f"> <{bot}> {answer['content']['body']}\n\nwhoami",
                  "m.relates_to": {"m.in_reply_to": {"event_id": answer["event_id"]}}}
        await alice.call("PUT", f"/rooms/{direct}/send/m.room.message/{uuid.uuid4().hex}", quoted)
        in_thread = {"msgtype": "m.text", "body": "temp salon",
                     "m.relates_to": {"rel_type": "m.thread", "event_id": asked, "is_falling_back": True,
                                      "m.in_reply_to": {"event_id": asked}}}
        await alice.call("PUT", f"/rooms/{direct}/send/m.room.message/{uuid.uuid4().hex}", in_thread)
        _first, who, threaded = await alice.messages_from(bot, direct, 3)
        assert "alice" in who["content"]["body"] and "Unknown" not in who["content"]["body"], who
        assert threaded["content"]["m.relates_to"]["rel_type"] == "m.thread"
        assert threaded["content"]["m.relates_to"]["event_id"] == asked
    for n in range(15):
        await alice.send(direct, "temp salon")
    async with running(Hub(settings)):
        answers = await alice.messages_from(bot, direct, 3 + 15, timeout=60)
    assert len(answers) == 18


@pytest.mark.servers
async def test_a_declined_invitation_is_not_followed_by_a_new_room_for_every_message(
        tmp_path: Path, mosquitto: Mosquitto, synapse: Synapse, people: tuple[str, Peer, Peer]) -> None:
    """alice declines the room the hub opened for an alarm: each later message opened another
    room and sent another invitation, without end; and a restart forgot the hour it waits."""
    bot, alice, _bob = people
    settings = hub_settings(tmp_path, mosquitto, synapse, bot, alice, access_token_env="MATRIX_TOKEN")
    first: str | None = None
    for restart in (False, True):
        hub = Hub(settings)
        async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            adapter = hub.adapters["matrix"]
            await wait_for(lambda: adapter.syncs >= 1, timeout=30)
            if not restart:
                await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
                first = await alice.invited()
                await alice.call("POST", f"/rooms/{first}/leave", {})          # declined
            earlier = hub.alerts.rules["smoke"].active_id
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
            store = hub.store
            await wait_for(lambda: hub.alerts.rules["smoke"].active_id not in (None, earlier), timeout=30)
            later = hub.alerts.rules["smoke"].active_id
            async with asyncio.timeout(60):         # the later alarm was tried (sent, or held back)
                while not await store.call(lambda: store.db.execute(
                        "SELECT 1 FROM deliveries WHERE alert_id = ? AND kind = 'raise' AND (attempts > 0 OR "
                        "delivered_at IS NOT NULL)", (later,)).fetchall()):
                    await asyncio.sleep(0.1)
            await alice.sync()
            assert alice.invites == {first}, f"no second room, no second invitation (restarted: {restart})"


async def test_an_invitation_is_judged_by_every_invite_event_its_server_hands_over(tmp_path: Path) -> None:
    """An invitation comes with "stripped state" that the inviting server writes, unsigned; the
    homeserver puts the invite itself last (Synapse: `invited_state.append(invite)`). A stranger's
    own homeserver could put in front a forged `m.room.member` for the hub "sent" by alice: the
    first one found was believed, and the hub joined the stranger's room. Every invite event for
    the hub in it must come from a configured user, or the invitation is declined and audited."""
    import nio
    from nio.responses import InviteInfo

    alice, mallory, bot = "@alice:example.org", "@mallory:evil.example", "@maison:example.org"
    settings = settings_for(tmp_path / "data", adapters={"matrix": {
        "homeserver": "https://matrix.example.org", "user_id": bot, "access_token_env": "MATRIX_TOKEN"}},
        users={"alice": {"roles": ["family"], "matrix": [alice]}})
    hub = Hub(settings)
    adapter = hub.adapters["matrix"]
    adapter._hub = hub

    class Client:
        user_id = bot

        def __init__(self) -> None:
            self.joined: list[str] = []
            self.left: list[str] = []

        async def join(self, room: str) -> Any:
            self.joined.append(room)
            return nio.JoinResponse(room)

        async def room_leave(self, room: str) -> None:
            self.left.append(room)

    def invite(sender: str) -> Any:
        return nio.InviteMemberEvent.from_dict({"type": "m.room.member", "sender": sender, "state_key": bot,
                                                "content": {"membership": "invite"}})

    adapter.client = client = Client()
    await adapter._invited("!evil:evil.example", InviteInfo([invite(alice), invite(mallory)]))   # forged first
    assert client.joined == [] and client.left == ["!evil:evil.example"]
    assert any(row[2] == f"matrix:{mallory}" for row in hub.audit._pending)
    await adapter._invited("!home:example.org", InviteInfo([invite(alice)]))
    assert client.joined == ["!home:example.org"]
