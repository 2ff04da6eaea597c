"""Fault injection rig: one hub on IRC (ngircd), XMPP (prosody), Slack (emulator) and MQTT (mosquitto).

Every peer runs on a free loopback port and can be killed and brought back on the same port:
mosquitto, ngircd and prosody by SIGKILL, the in-process Slack emulator by a crash that drops
its listener and resets every connection without a close frame. Observers count what each
network received, so a test can say "exactly once":

- IRC: `alice` sits in #maison on ngircd itself. The hub reaches ngircd through a `Gate`
  (a TCP relay), so after a restart the test puts alice back in the channel before the hub
  can reconnect: IRC keeps nothing for absent people, and a NOTICE to an empty channel
  would prove nothing. The hub reaches prosody through a gate too, which only watches: both
  show what the hub wrote towards the server (an alert in flight).
- XMPP: `bob@localhost`; prosody runs mod_offline, so an alert sent while bob reconnects is
  kept for him, never lost to the test's own timing.
- Slack: the emulator records every chat.postMessage across its crashes.

Reconnect times measured by the tests are collected by `recovery_log` and written, at the end
of the session, as a markdown table to test-artifacts/reconnect-times.md (and printed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from aiohttp import web

from chatops.config import Settings
from chatops.hub import Hub, running
from chatops.testing import REPO, Mosquitto, merge, settings_for
from tests.irc.conftest import IrcClient, Ngircd, settings_irc
from tests.slack.emulator import APP_TOKEN, BOT_TOKEN, SlackEmulator
from tests.xmpp.conftest import PASSWORD, Prosody, XmppClient

HUB_JID = "maison@localhost/chatops"
BOB = "bob@localhost"
CHANNEL = "#maison"
SLACK_CHANNEL = "C0HOME"
SMOKE = "zigbee2mqtt/kitchen_smoke"
SALON = "zigbee2mqtt/salon"
HEATER = "zigbee2mqtt/heater"
NOTIFY = [f"xmpp:{BOB}", f"irc:{CHANNEL}", f"slack:{SLACK_CHANNEL}"]
ARTIFACT = REPO / "test-artifacts" / "reconnect-times.md"


# ---- peers that can be killed ---------------------------------------------------------------

def kill(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL a server process and reap it."""
    if proc is not None and proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)


class KillableNgircd(Ngircd):
    def kill(self) -> None:
        kill(self.proc)
        self.proc = None


class KillableProsody(Prosody):
    """prosody with mod_offline: a chat message to an account that is not online waits for it."""

    def _config(self) -> str:
        return super()._config().replace("modules_enabled = { ", 'modules_enabled = { "offline", ')

    def kill(self) -> None:
        kill(self.proc)
        self.proc = None


class CrashableSlack(SlackEmulator):
    """The Slack emulator, which can crash (listener gone, every socket reset) and come back on its port."""

    up = True

    async def crash(self) -> None:
        assert self._runner is not None
        server = self._runner.server
        transports = list(server._connections.values()) if server is not None else []  # type: ignore[union-attr]
        for site in list(self._runner.sites):
            await site.stop()                   # closes the listening socket only
        for transport in transports:
            transport.abort()                   # RST: no close frame, no goodbye
        self.up = False
        await self.wait(lambda: not self.open_sockets())

    async def restart(self) -> None:
        assert self._runner is not None
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        self.up = True


class Gate:
    """A TCP relay in front of a server: `close()` refuses new connections (the peer is gone),
    `open()` lets them through again. When the server side ends, the client side is closed.
    `upstream` keeps every byte the hub wrote towards the server."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self.is_open = True
        self.opened_at = time.monotonic()
        self.upstream = bytearray()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.close()
        if self._server is not None:
            self._server.close()

    def close(self) -> None:
        self.is_open = False
        for writer in list(self._writers):
            writer.transport.abort()

    def open(self) -> None:
        self.is_open = True
        self.opened_at = time.monotonic()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.is_open:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pump(reader, up_writer, self.upstream), self._pump(up_reader, writer))
        finally:
            self._writers -= {writer, up_writer}

    @staticmethod
    async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    record: bytearray | None = None) -> None:
        try:
            while data := await reader.read(65536):
                if record is not None:
                    record += data
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()


# ---- measurements ---------------------------------------------------------------------------

@dataclass
class Recovery:
    """One recovery measured by a test."""

    fault: str
    network: str
    outage: float                 # seconds the peer was unreachable
    connected: float              # peer back -> the adapter's health connected again
    answered: float | None        # peer back -> first command answered on that network
    caps: str                     # the reconnect backoff caps in force


@dataclass
class RecoveryLog:
    entries: list[Recovery] = field(default_factory=list)

    def add(self, recovery: Recovery) -> None:
        self.entries.append(recovery)
        answered = "-" if recovery.answered is None else f"{recovery.answered:.2f}s"
        print(f"\n[reconnect] {recovery.fault}: {recovery.network} down {recovery.outage:.2f}s, "
              f"connected {recovery.connected:.2f}s and answered {answered} after the peer was back "
              f"(caps {recovery.caps})")

    def table(self) -> str:
        lines = ["| fault | network | outage | adapter connected after | first command answered after "
                 "| backoff caps |", "|---|---|---|---|---|---|"]
        for r in self.entries:
            answered = "-" if r.answered is None else f"{r.answered:.2f} s"
            lines.append(f"| {r.fault} | {r.network} | {r.outage:.1f} s | {r.connected:.2f} s | {answered} "
                         f"| {r.caps} |")
        return "\n".join(lines) + "\n"


@pytest.fixture(scope="session")
def recovery_log() -> Iterator[RecoveryLog]:
    log = RecoveryLog()
    yield log
    if not log.entries:
        return
    table = log.table()
    ARTIFACT.parent.mkdir(parents=True, exist_ok=True)
    ARTIFACT.write_text(
        "# Reconnect times measured by tests/faults\n\n"
        "Outage: from the kill to the restart. Then seconds from the peer's restart (its own start-up\n"
        "included; IRC: from the restarted ngircd being let through to the hub; hub SIGKILL: from the new\n"
        "process's start) until the hub's part for that network reported itself connected, and until a\n"
        "first command on that network was answered (the test's own client reconnects first; MQTT:\n"
        "`!switch heater on` confirmed by the device). Loopback; caps: every network's reconnect\n"
        "backoff cap.\n\n" + table, encoding="utf-8")
    print("\n\nReconnect times (also in test-artifacts/reconnect-times.md):\n" + table)


# ---- waiting --------------------------------------------------------------------------------

async def until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    """Poll `predicate` (state owned by a server or another task) every few ms until it holds."""
    try:
        async with asyncio.timeout(timeout):
            while not predicate():
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}") from None


# ---- the rig --------------------------------------------------------------------------------

def smoke_rule(**extra: Any) -> dict[str, Any]:
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the kitchen!",
            "cleared": None, "severity": "warning", "notify": NOTIFY, "cooldown": "0s", "repeat": "0s"}
    rule.update(extra)
    return rule



def is_alert(text: str) -> bool:
    """An alert (recorded, or sent from memory while storage fails), not a command's answer."""
    return "(alert #" in text or "(NOT STORED" in text

class Rig:
    """The four peers, the observers and (inside `hub_running()`) the hub under test."""

    def __init__(self, tmp_path: Path, mosquitto: Mosquitto, ngircd: KillableNgircd, prosody: KillableProsody,
                 slack: CrashableSlack, gate: Gate, xmpp_gate: Gate) -> None:
        self.tmp_path = tmp_path
        self.mosquitto = mosquitto
        self.ngircd = ngircd
        self.prosody = prosody
        self.slack = slack
        self.gate = gate                    # the hub's way to ngircd
        self.xmpp_gate = xmpp_gate          # the hub's way to prosody (always open: it only watches)
        self.hub_: Hub | None = None
        self.alice: IrcClient | None = None
        self.alices: list[IrcClient] = []          # every connection alice had: copies are counted over all
        self.bob: XmppClient | None = None
        self.bob_got: list[str] = []
        self.mqtt: aiomqtt.Client | None = None
        self.heater_commands: list[str] = []       # what the heater received on its command topic
        self._heater: asyncio.Task[None] | None = None

    @property
    def hub(self) -> Hub:
        assert self.hub_ is not None
        return self.hub_

    def settings(self, data_dir: Path | None = None, cap: float = 1.0, **overrides: Any) -> Settings:
        """The hub's settings: every network enabled, every reconnect backoff capped at `cap` seconds."""
        caps = f"{cap:g}s"
        adapters = {
            "irc": settings_irc(self.gate.port, backoff_max=caps, connect_timeout="5s"),
            "xmpp": {"jid": HUB_JID, "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
                     "port": self.xmpp_gate.port, "allow_plaintext": True, "reconnect_max": caps,
                     "ping_interval": "5s", "ping_timeout": "5s", "connect_timeout": "5s"},
            "slack": {"api_url": self.slack.url, "bot_token_env": "SLACK_BOT_TOKEN",
                      "app_token_env": "SLACK_APP_TOKEN", "watchdog": "2s", "backoff_max": caps},
        }
        base = {"simulator": {"enabled": False}, "mqtt": {"backoff_max": caps}, "adapters": adapters,
                "alerts": [smoke_rule()],
                "users": {"alice": {"roles": ["admin"], "slack": ["U0ALICE"], "xmpp": ["alice@localhost"]}}}
        return settings_for(data_dir or self.tmp_path / "data", mqtt_url=self.mosquitto.url,
                            **merge(base, overrides))

    # ---- observers ----

    async def connect_alice(self) -> IrcClient:
        """alice, a person in #maison on ngircd itself (not through the gate)."""
        if self.alice is not None:
            await self.alice.close()
        self.alice = await IrcClient.connect(self.ngircd.port, "alice")
        self.alices.append(self.alice)
        await self.alice.join(CHANNEL)
        return self.alice

    async def connect_bob(self) -> XmppClient:
        """bob, on XMPP; everything he receives is also appended to `bob_got`."""
        if self.bob is not None:
            await self.bob.close()
        bob = XmppClient(f"{BOB}/phone", port=self.prosody.c2s_port)
        bob.xmpp.add_event_handler("message", lambda m: self.bob_got.append(str(m["body"]))
                                   if m["type"] != "error" and m["from"].bare == "maison@localhost" else None)
        await bob.connect()
        self.bob = bob
        return bob

    @staticmethod
    def _needle(alert: int | str) -> str:
        """What marks an alert's copy: its id, or (sent from memory, no id yet) a text of it."""
        return f"(alert #{alert};" if isinstance(alert, int) else alert

    def irc_copies(self, alert: int | str) -> int:
        return len([line for client in self.alices for line in client.lines if line.command == "NOTICE"
                    and line.nick == "maison" and self._needle(alert) in line.text])

    def xmpp_copies(self, alert: int | str) -> int:
        return len([b for b in self.bob_got if self._needle(alert) in b])

    def slack_copies(self, alert: int | str) -> int:
        return len([p for p in self.slack.posted if self._needle(alert) in str(p.get("text"))])

    def copies(self, alert: int | str) -> dict[str, int]:
        return {"irc": self.irc_copies(alert), "xmpp": self.xmpp_copies(alert), "slack": self.slack_copies(alert)}

    # ---- commands on each network (each returns the reply text) ----

    async def irc_command(self, text: str = "!temp salon", timeout: float = 10.0) -> str:
        assert self.alice is not None
        self.alice.say(CHANNEL, text)
        line = await self.alice.expect(lambda l: l.command == "PRIVMSG" and l.nick == "maison" and l.target == CHANNEL
                                       and not is_alert(l.text), timeout, what="an answer from maison")
        return str(line.text)

    async def xmpp_command(self, text: str = "temp salon", timeout: float = 10.0) -> str:
        assert self.bob is not None
        self.bob.say("maison@localhost", text)
        message = await self.bob.next_message(lambda m: m["from"].bare == "maison@localhost"
                                              and not is_alert(m["body"]), timeout=timeout)
        return str(message["body"])

    async def slack_command(self, text: str = "!temp salon", timeout: float = 10.0, event_id: str | None = None,
                            expect: str | None = None) -> str:
        """Post `text` in #maison as alice; the hub's next post there that starts with `expect`
        (by default: anything but an alert)."""
        seen = len(self.slack.posted)
        await self.slack.push_event({"type": "message", "channel": SLACK_CHANNEL, "user": "U0ALICE", "text": text,
                                     "channel_type": "channel"}, event_id=event_id, timeout=timeout)

        def answer() -> dict[str, Any] | None:
            for post in self.slack.posted[seen:]:
                body = str(post.get("text"))
                if post.get("channel") == SLACK_CHANNEL and (body.startswith(expect) if expect
                                                             else not is_alert(body)):
                    return post
            return None

        await self.slack.wait(lambda: answer() is not None, timeout=timeout)
        return str(answer()["text"])  # type: ignore[index]

    async def command_on(self, network: str, timeout: float = 10.0) -> str:
        if network == "slack":
            return await self.slack_command(timeout=timeout, expect="salon: ")
        return await {"irc": self.irc_command, "xmpp": self.xmpp_command}[network](timeout=timeout)

    # ---- the house ----

    async def publish(self, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
        assert self.mqtt is not None
        await self.mqtt.publish(topic, json.dumps(payload), qos=1, retain=retain)

    async def smoke(self, on: bool) -> int | None:
        """Publish the smoke detector's state; when it raises an alert, that alert's id."""
        before = self.hub.alerts.rules["smoke"].active_id
        await self.publish(SMOKE, {"smoke": on})
        if not on:
            await until(lambda: self.hub.alerts.rules["smoke"].active_id is None, what="the alert cleared")
            return None
        await until(lambda: self.hub.alerts.rules["smoke"].active_id not in (None, before), what="an alert")
        return self.hub.alerts.rules["smoke"].active_id

    async def start_heater(self) -> None:
        """The heater as a device: records each command and reports the new state (retained)."""
        if self._heater is not None:
            self._heater.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._heater
        subscribed = asyncio.Event()

        async def device() -> None:
            with contextlib.suppress(aiomqtt.MqttError):
                async with aiomqtt.Client("127.0.0.1", self.mosquitto.port) as client:
                    await client.subscribe(f"{HEATER}/set", qos=1)
                    subscribed.set()
                    async for message in client.messages:
                        payload = bytes(message.payload).decode()   # type: ignore[arg-type]
                        self.heater_commands.append(payload)
                        await client.publish(HEATER, json.dumps({"state": json.loads(payload)["state"]}),
                                             qos=1, retain=True)

        self._heater = asyncio.create_task(device(), name="heater")
        async with asyncio.timeout(10):
            await subscribed.wait()

    async def open_mqtt(self) -> aiomqtt.Client:
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                await self.mqtt.__aexit__(None, None, None)
        self.mqtt = aiomqtt.Client("127.0.0.1", self.mosquitto.port)
        await self.mqtt.__aenter__()
        return self.mqtt

    # ---- alerts in the store ----

    async def deliveries(self, alert_id: int) -> list[tuple[str, float | None, int]]:
        store = self.hub.store
        return await store.call(lambda: store.db.execute(
            "SELECT adapter, delivered_at, attempts FROM deliveries WHERE alert_id = ? ORDER BY id",
            (alert_id,)).fetchall())

    async def delivered_exactly_once(self, alert_id: int, networks: tuple[str, ...] = ("irc", "xmpp", "slack"),
                                     timeout: float = 20.0, shown_as: str | None = None) -> None:
        """Each network got one copy; the outbox shows one delivered row each, nothing pending.
        `shown_as`: a text of the copies, sent from memory before the alert had its id."""
        shown: int | str = shown_as or alert_id
        await until(lambda: all(self.copies(shown)[n] >= 1 for n in networks), timeout,
                    what=f"alert #{alert_id} on {networks} (got {self.copies(shown)})")
        rows: list[tuple[str, float | None, int]] = []

        async def recorded() -> bool:
            rows[:] = await self.deliveries(alert_id)
            return all(r[1] is not None and r[1] > 0 for r in rows)

        async with asyncio.timeout(timeout):
            while not await recorded():     # the copy can arrive before the hub hears the server's ack
                await asyncio.sleep(0.01)
        assert sorted(r[0] for r in rows) == sorted(networks), rows
        # a round trip on each network after the copy: a resend queued before it would show now
        for network in networks:
            await self.command_on(network)
        assert {n: self.copies(shown)[n] for n in networks} == {n: 1 for n in networks}, self.copies(shown)
        if shown_as:                        # recorded as told: never sent again with its id
            assert {n: self.copies(alert_id)[n] for n in networks} == {n: 0 for n in networks}

    # ---- the hub ----

    @contextlib.asynccontextmanager
    async def hub_running(self, settings: Settings) -> AsyncIterator[Hub]:
        hub = Hub(settings, tty=False)
        async with running(hub, timeout=30) as hub:
            self.hub_ = hub
            try:
                await until(lambda: all(a.health.connected for a in hub.adapters.values())
                            and hub.mqtt.connected.is_set(), 20, "every network connected")
                await self.publish(SALON, {"temperature": 21.5}, retain=True)
                await until(lambda: hub.home.devices["salon"].reading is not None, what="a salon reading")
                await until(lambda: CHANNEL in hub.adapters["irc"].health.detail, what="the hub in #maison")
                yield hub
            finally:
                self.hub_ = None

    async def health(self) -> dict[str, Any]:
        """GET /health from the hub's web server: the hub is up and says how each part is."""
        assert self.hub.web is not None
        async with aiohttp.ClientSession() as http, \
                http.get(f"http://127.0.0.1:{self.hub.web.port}/health", timeout=aiohttp.ClientTimeout(5)) as r:
            assert r.status == 200
            return dict(await r.json())

    async def close(self) -> None:
        if self._heater is not None:
            self._heater.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._heater
        for alice in self.alices:
            await alice.close()
        if self.bob is not None:
            await self.bob.close()
        if self.mqtt is not None:
            with contextlib.suppress(Exception):
                await self.mqtt.__aexit__(None, None, None)


@pytest.fixture
async def rig(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Rig]:
    """Every peer up, alice in #maison, bob on XMPP, an MQTT client; the hub is started by the test."""
    monkeypatch.setenv("HUB_XMPP_PASSWORD", PASSWORD)
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    ngircd = KillableNgircd(tmp_path / "ngircd")
    prosody = KillableProsody(tmp_path / "prosody")
    for user in ("maison", "alice", "bob"):
        prosody.register(user)
    slack = CrashableSlack()
    ngircd.start()
    prosody.start()
    await slack.start()
    gate, xmpp_gate = Gate(ngircd.port), Gate(prosody.c2s_port)
    await gate.start()
    await xmpp_gate.start()
    rig = Rig(tmp_path, mosquitto, ngircd, prosody, slack, gate, xmpp_gate)
    try:
        await rig.connect_alice()
        await rig.connect_bob()
        await rig.open_mqtt()
        await rig.start_heater()
        yield rig
    finally:
        await rig.close()
        await gate.stop()
        await xmpp_gate.stop()
        await slack.stop()
        prosody.stop()
        ngircd.stop()


# ---- log capture ----------------------------------------------------------------------------

class Records(logging.Handler):
    """Log records of the hub, kept for assertions (the failure must be loud)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def matching(self, text: str, level: int = logging.WARNING, since: int = 0) -> list[str]:
        return [r.getMessage() for r in self.records[since:] if r.levelno >= level and text in r.getMessage()]


@pytest.fixture
def hub_log() -> Iterator[Records]:
    handler = Records()
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(min(old, logging.INFO) if old else logging.INFO)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)


def env_for_hub() -> dict[str, str]:
    env = dict(os.environ)
    env.update(HUB_XMPP_PASSWORD=PASSWORD, SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_APP_TOKEN=APP_TOKEN,
               PYTHONUNBUFFERED="1")
    return env
