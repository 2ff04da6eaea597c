"""Fault injection: the hub keeps working while its peers die, and no alert is lost or sent twice.

One hub runs with IRC (ngircd), XMPP (prosody), Slack (the emulator) and MQTT (mosquitto). Each
peer is killed (SIGKILL; a crash without goodbye for the in-process Slack emulator) while
commands and alerts flow; the hub itself is killed with SIGKILL and restarted; the SQLite file
runs out of disk or turns read-only; a partition outlasts every reconnect backoff cap.
Reconnect times are measured from the moment the peer is reachable again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from chatops.testing import free_port

from .conftest import (BOB, HEATER, SALON, SLACK_CHANNEL, SMOKE, Recovery, RecoveryLog, Records, Rig, env_for_hub,
                       smoke_rule, until)

pytestmark = pytest.mark.servers

CAP = 1.0                   # reconnect backoff cap of every network in the kill tests (seconds)
NETWORKS = ("irc", "xmpp", "slack")
KILLED = {"irc": "ngircd SIGKILL", "xmpp": "prosody SIGKILL", "slack": "Slack emulator crash",
          "mqtt": "mosquitto SIGKILL"}


# ---- killing and reviving one peer -------------------------------------------------------------

async def kill_peer(rig: Rig, network: str) -> None:
    if network == "irc":
        rig.ngircd.kill()
        rig.gate.close()                    # refused until alice is back in #maison (see conftest)
    elif network == "xmpp":
        rig.prosody.kill()
    elif network == "slack":
        await rig.slack.crash()
    elif network == "mqtt":
        rig.mosquitto.stop(kill=True)


async def revive_peer(rig: Rig, network: str) -> float:
    """Bring the peer back; returns the monotonic time it was restarted (its start-up time counts
    in the reconnect time), for IRC the time the gate let the hub through again."""
    if network == "irc":
        await asyncio.to_thread(rig.ngircd.start)
        await rig.connect_alice()
        rig.gate.open()
        return rig.gate.opened_at
    back = time.monotonic()
    if network == "xmpp":
        await asyncio.to_thread(rig.prosody.start)
    elif network == "slack":
        await rig.slack.restart()
    else:
        await asyncio.to_thread(rig.mosquitto.start)
    return back


async def reconnected(rig: Rig, network: str, back: float, timeout: float = 20.0) -> float:
    """Seconds from `back` until the hub's part for `network` reports itself connected."""
    event = rig.hub.mqtt.connected if network == "mqtt" else rig.hub.adapters[network].health.up_event
    async with asyncio.timeout(timeout):
        await event.wait()
    return time.monotonic() - back


async def first_answer(rig: Rig, network: str, back: float) -> float:
    """Seconds from `back` until a command on `network` is answered (observer reconnected first)."""
    if network == "xmpp":
        await rig.connect_bob()
    if network == "irc":                    # registered is not yet in the channel: a line there waits for the JOIN
        assert rig.alice is not None
        await rig.alice.wait_member("#maison", "maison")
    if network == "mqtt":                   # a command that needs the broker: switch, confirmed by the device
        await rig.open_mqtt()
        await rig.start_heater()
        assert await rig.slack_command("!switch heater on", expect="heater ") == "heater is ON"
    else:
        assert (await rig.command_on(network)).startswith("salon: ")
    return time.monotonic() - back


async def down(rig: Rig, network: str) -> None:
    part = rig.hub.mqtt.health if network == "mqtt" else rig.hub.adapters[network].health
    await until(lambda: not part.connected, 15, f"{network} to be seen down")


# what each part logs when it loses its peer and at each failed attempt, and how many lines mean
# "the connection was lost and at least one reconnect attempt failed": the hub is in its backoff loop
RETRY_LOGS = {"irc": ("IRC irc disconnected from", 2), "xmpp": ("xmpp: cannot connect", 1),
              "slack": ("cannot reach Slack", 1), "mqtt": ("MQTT disconnected", 2)}


async def retrying(hub_log: Records, network: str, since: int) -> None:
    """Wait until the hub has failed at least one reconnect attempt to the dead peer."""
    text, count = RETRY_LOGS[network]
    await until(lambda: len(hub_log.matching(text, since=since)) >= count, 15, f"{network} retrying")


# ---- each peer killed while commands and alerts flow ----------------------------------------------

@pytest.mark.parametrize("network", NETWORKS)
async def test_chat_peer_killed_and_restarted(rig: Rig, network: str, recovery_log: RecoveryLog,
                                              hub_log: Records) -> None:
    others = [n for n in NETWORKS if n != network]
    async with rig.hub_running(rig.settings(cap=CAP)) as hub:
        before = await rig.smoke(True)              # an alert in the steady state, for comparison
        assert before is not None
        await rig.delivered_exactly_once(before)
        await rig.smoke(False)

        mark = len(hub_log.records)
        await kill_peer(rig, network)
        killed = time.monotonic()
        await down(rig, network)
        health = await rig.health()                 # the hub is up and says what is down
        assert health["ready"] is True and health["adapters"][network]["connected"] is False
        assert all(health["adapters"][n]["connected"] for n in others)
        for other in others:                        # the other networks keep answering meanwhile
            assert (await rig.command_on(other)).startswith("salon: ")

        alert = await rig.smoke(True)               # raised during the outage
        assert alert is not None
        await until(lambda: all(rig.copies(alert)[n] == 1 for n in others), 10, "copies on the live networks")
        pending = [r for r in await rig.deliveries(alert) if r[0] == network]
        assert len(pending) == 1 and pending[0][1] is None, pending     # waiting, not lost, not dropped
        assert rig.copies(alert)[network] == 0
        await retrying(hub_log, network, mark)      # the peer stays dead until the hub has retried in vain

        back = await revive_peer(rig, network)
        outage = back - killed
        connected = await reconnected(rig, network, back)
        answered = await first_answer(rig, network, back)
        await rig.delivered_exactly_once(alert)
        assert rig.copies(before) == {n: 1 for n in NETWORKS}          # nothing older was sent again

        await rig.smoke(False)                      # and the next alert flows as before
        after = await rig.smoke(True)
        assert after is not None
        await rig.delivered_exactly_once(after)
        assert hub.alerts.outbox.sent_count == 9
        recovery_log.add(Recovery(KILLED[network], network, outage, connected, answered, f"{CAP:g} s"))


async def test_mosquitto_killed_and_restarted(rig: Rig, recovery_log: RecoveryLog, hub_log: Records) -> None:
    # a sensor that must report every 3 s: the broker's outage (longer) must not pass for its silence
    quiet = smoke_rule(name="quiet", device="salon", when="offline 3s", message="{device} stopped reporting")
    async with rig.hub_running(rig.settings(cap=CAP, alerts=[smoke_rule(), quiet])) as hub:
        alert = await rig.smoke(True)               # raised just before the broker dies
        assert alert is not None
        mark = len(hub_log.records)
        await kill_peer(rig, "mqtt")
        killed = time.monotonic()
        await down(rig, "mqtt")
        health = await rig.health()
        assert health["ready"] is True and health["mqtt"]["connected"] is False
        for network in NETWORKS:                    # every chat network answers, from the last readings
            assert (await rig.command_on(network)).startswith("salon: ")
        refused = await rig.slack_command("!switch heater on", expect="Cannot switch heater")
        assert "not reachable" in refused, refused                    # answered with a reason, not silence
        await rig.delivered_exactly_once(alert)
        await retrying(hub_log, "mqtt", mark)

        back = await revive_peer(rig, "mqtt")
        connected = await reconnected(rig, "mqtt", back)
        answered = await first_answer(rig, "mqtt", back)
        assert rig.heater_commands[-1] == '{"state": "ON"}'
        await rig.publish(SALON, {"temperature": 21.0})     # the sensor is heard again, well within its 3 s
        assert rig.mqtt is not None
        await rig.mqtt.subscribe("chatops/maison/status")  # the hub said it is back (retained)
        async with asyncio.timeout(5):
            status = await anext(aiter(rig.mqtt.messages))
        assert status.payload == b"online"

        await rig.smoke(False)                      # the subscriptions came back: new alerts flow
        after = await rig.smoke(True)
        assert after is not None
        await rig.delivered_exactly_once(after)
        assert rig.copies(alert) == {n: 1 for n in NETWORKS}
        assert hub.alerts.outbox.sent_count == 6
        assert await hub.alerts.active() and [a["rule"] for a in await hub.alerts.active()] == ["smoke"]
        recovery_log.add(Recovery(KILLED["mqtt"], "mqtt", back - killed, connected, answered, f"{CAP:g} s"))


# ---- a partition longer than every backoff cap -----------------------------------------------------

PARTITION_CAP = 2.0
PARTITION = 5.0             # > 2 caps: every network has been retrying at its cap for a while


async def test_partition_longer_than_every_backoff_cap(rig: Rig, recovery_log: RecoveryLog) -> None:
    everything = ("mqtt", *NETWORKS)
    async with rig.hub_running(rig.settings(cap=PARTITION_CAP)) as hub:
        before = await rig.smoke(True)
        assert before is not None
        await rig.delivered_exactly_once(before)
        for network in everything:
            await kill_peer(rig, network)
        cut = time.monotonic()
        for network in everything:
            await down(rig, network)
        # the partition lasts PARTITION seconds; all along, the hub answers /health (polled every 0.1 s)
        while (left := PARTITION - (time.monotonic() - cut)) > 0:
            health = await rig.health()
            assert health["ready"] is True and not health["mqtt"]["connected"]
            assert not any(health["adapters"][n]["connected"] for n in NETWORKS)
            await asyncio.sleep(min(0.1, left))
        backs = {network: await revive_peer(rig, network) for network in everything}
        connected = dict(zip(backs, await asyncio.gather(*(reconnected(rig, n, b) for n, b in backs.items()))))
        answered = dict(zip(backs, await asyncio.gather(*(first_answer(rig, n, b) for n, b in backs.items()))))
        for network in everything:
            recovery_log.add(Recovery(f"partition of {PARTITION:g} s (every peer down)", network,
                                      backs[network] - cut, connected[network], answered[network],
                                      f"{PARTITION_CAP:g} s"))
        for network in everything:          # by itself, within one cap of the peer's return
            assert connected[network] < PARTITION_CAP + 3.0, (network, connected[network])

        await rig.smoke(False)              # alerts flow again, and nothing older was sent twice
        after = await rig.smoke(True)
        assert after is not None
        await rig.delivered_exactly_once(after)
        assert rig.copies(before) == {n: 1 for n in NETWORKS}
        assert hub.alerts.outbox.sent_count == 6


# ---- the SQLite file: disk full, read-only ----------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 16 MiB tmpfs for the hub's data dir, so the test can fill it to the last byte."""
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        result = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mount)],
                                capture_output=True, text=True, timeout=10)
    except FileNotFoundError:
        pytest.skip("no mount command: cannot put the data dir on a tiny tmpfs")
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the data dir (needs root or CAP_SYS_ADMIN): {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True, timeout=10)


class DiskFull:
    """Fills the data dir's file system to the last page, and frees it again."""

    def __init__(self, disk: Path) -> None:
        self.filler = disk / "filler"

    async def start(self, rig: Rig) -> None:
        def fill() -> None:
            fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                for size in (1 << 20, 1 << 12, 1):
                    block = b"\0" * size
                    with contextlib.suppress(OSError):
                        while True:
                            os.write(fd, block)
            finally:
                os.close(fd)
            assert os.statvfs(self.filler.parent).f_bavail == 0
        await asyncio.to_thread(fill)

    async def end(self, rig: Rig) -> None:
        self.filler.unlink()


class ReadOnly:
    """The database refuses writes, as SQLite does for a read-only file or file system
    (`PRAGMA query_only`: the same SQLITE_READONLY error, without remounting anything)."""

    async def start(self, rig: Rig) -> None:
        store = rig.hub.store
        await store.call(lambda: store.db.execute("PRAGMA query_only = ON"))

    async def end(self, rig: Rig) -> None:
        store = rig.hub.store
        await store.call(lambda: store.db.execute("PRAGMA query_only = OFF"))


@pytest.mark.parametrize("fault", ["disk full", "read-only"])
async def test_store_fault_keeps_the_hub_answering_and_loses_no_alert(
        rig: Rig, fault: str, hub_log: Records, request: pytest.FixtureRequest) -> None:
    if fault == "disk full":
        disk = request.getfixturevalue("tiny_disk")
        injected: DiskFull | ReadOnly = DiskFull(disk)
        data_dir = disk / "data"
        error = "disk is full"
    else:
        injected, data_dir, error = ReadOnly(), None, "readonly"
    async with rig.hub_running(rig.settings(data_dir=data_dir, cap=CAP)) as hub:
        # alert A is recorded while XMPP is down; its XMPP copy will be sent during the fault
        await kill_peer(rig, "xmpp")
        await down(rig, "xmpp")
        first = await rig.smoke(True)
        assert first is not None
        await until(lambda: rig.copies(first)["irc"] == 1 and rig.copies(first)["slack"] == 1, 10, "alert A")

        await injected.start(rig)
        await asyncio.to_thread(rig.prosody.start)
        await rig.connect_bob()
        # sent once although the store cannot record it; not sent again while the write is retried
        await until(lambda: rig.copies(first)["xmpp"] == 1, 15, "alert A on XMPP")
        await until(lambda: hub_log.matching("cannot be marked delivered"), 10, "the unrecorded delivery logged")

        # alert B: the detector clears and fires again while nothing can be written: A is over (in
        # memory; its clear waits to be recorded), B is a new alarm and goes out at once, from memory
        await rig.publish(SMOKE, {"smoke": False})
        await rig.publish(SMOKE, {"smoke": True})
        await until(lambda: hub_log.matching("could not be recorded", logging.ERROR), 10, "the failed alert logged")
        health = await rig.health()                 # loud in /health, the hub still up
        assert health["ready"] is True
        assert health["store"]["ok"] is False and error in health["store"]["detail"], health["store"]
        assert hub_log.matching(error, logging.ERROR)
        for network in NETWORKS:                    # every network still answers commands
            assert (await rig.command_on(network)).startswith("salon: ")
        # What people ask says it too: storage failing (bob, a stranger on XMPP), and the alarm B
        # told from memory (alice on Slack, an admin).
        status = await rig.xmpp_command("status")
        assert "storage: FAILING (" in status and error in status, status
        listed = await rig.slack_command("!alerts", expect="(NOT STORED: storage is failing) [warning]")
        assert "Smoke in the kitchen!" in listed and f"#{first} " not in listed, listed     # A is over
        await until(lambda: len(hub_log.matching("could not be recorded")) >= 2, 10, "a second failed attempt")
        # A is over in memory (its clear waits to be recorded); B went out from memory, not recorded yet.
        assert hub.alerts.rules["smoke"].active_id is None and hub.alerts.unstored.alerts
        assert rig.copies(first) == {n: 1 for n in NETWORKS}        # A once everywhere, not sent again

        await injected.end(rig)                     # room again: B is recorded, A's delivery marked
        await until(lambda: hub.alerts.rules["smoke"].active_id not in (None, first), 15, "alert B recorded")
        second = hub.alerts.rules["smoke"].active_id
        assert second is not None
        await rig.delivered_exactly_once(first)
        # B went out from memory at once (NOT STORED), then was recorded with everyone as told.
        await rig.delivered_exactly_once(second, shown_as="Smoke in the kitchen! (NOT STORED")
        assert (await rig.health())["store"]["ok"] is True
        assert hub.alerts.outbox.sent_count == 3                    # A through the outbox; B was sent from memory


# ---- the hub killed with SIGKILL and restarted ----------------------------------------------------------

def hub_config(rig: Rig, data: Path, web_port: int) -> str:
    """A complete config.toml for a hub process on the rig's mosquitto, prosody and Slack emulator."""
    return f"""
[hub]
name = "maison"
data_dir = "{data}"

[mqtt]
url = "{rig.mosquitto.url}"
backoff_max = "1s"

[web]
listen = "127.0.0.1:{web_port}"

[simulator]
enabled = false

[adapters.xmpp]
jid = "maison@localhost/chatops"
password_env = "HUB_XMPP_PASSWORD"
host = "127.0.0.1"
port = {rig.prosody.c2s_port}
allow_plaintext = true
reconnect_max = "1s"
connect_timeout = "5s"

[adapters.slack]
api_url = "{rig.slack.url}"
bot_token_env = "SLACK_BOT_TOKEN"
app_token_env = "SLACK_APP_TOKEN"
watchdog = "2s"
backoff_max = "1s"

[roles]
guest = ["help", "temp", "read", "status", "whoami"]
admin = ["*"]

[users.alice]
roles = ["admin"]
slack = ["U0ALICE"]

[devices.salon]
type = "sensor"
topic = "{SALON}"
value = "temperature"
unit = "°C"

[devices.heater]
type = "switch"
state_topic = "{HEATER}"
command_topic = "{HEATER}/set"
value = "state"
payload_on = '{{"state": "ON"}}'
payload_off = '{{"state": "OFF"}}'

[devices.kitchen_smoke]
type = "binary_sensor"
topic = "{SMOKE}"
value = "smoke"

[[alerts]]
name = "smoke"
device = "kitchen_smoke"
when = "on"
message = "Smoke in the kitchen!"
notify = ["xmpp:{BOB}"]
cooldown = "0s"
"""


class HubProcess:
    """`python -m chatops.cli run --config FILE` as a child process, watched through /health."""

    def __init__(self, config: Path, web_port: int, log: Path) -> None:
        self.config, self.web_port, self.log = config, web_port, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(self.config)],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                         env=env_for_hub())

    async def health(self) -> dict[str, Any] | None:
        try:
            async with aiohttp.ClientSession() as http, http.get(
                    f"http://127.0.0.1:{self.web_port}/health", timeout=aiohttp.ClientTimeout(total=1)) as r:
                return dict(await r.json()) if r.status == 200 else None
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def wait_health(self, predicate: Any, what: str, timeout: float = 30.0) -> None:
        state: dict[str, Any] = {}

        async def check() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
            health = await self.health()
            state["last"] = health
            return health is not None and predicate(health)

        try:
            async with asyncio.timeout(timeout):
                while not await check():
                    await asyncio.sleep(0.02)
        except TimeoutError:
            raise AssertionError(f"hub process: no {what} after {timeout}s; last /health {state.get('last')}; "
                                 f"log:\n{self.log.read_text()[-3000:]}") from None

    async def connected(self) -> None:
        await self.wait_health(lambda h: h["ready"] and h["mqtt"]["connected"]
                               and all(a["connected"] for a in h["adapters"].values()), "connected networks")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        assert await asyncio.to_thread(self.proc.wait, 10) == -9
        self.proc = None

    async def stop(self) -> int:
        if self.proc is None:
            return 0
        self.proc.terminate()
        try:
            return await asyncio.to_thread(self.proc.wait, 10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc = None


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Read the hub's database from outside (a read-only connection; WAL lets it read while the hub writes)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
async def hub_process(rig: Rig) -> AsyncIterator[HubProcess]:
    web_port = free_port()
    config = rig.tmp_path / "hub.toml"
    config.write_text(hub_config(rig, rig.tmp_path / "hubdata", web_port), encoding="utf-8")
    process = HubProcess(config, web_port, rig.tmp_path / "hub.log")
    try:
        yield process
    finally:
        await process.stop()


async def test_hub_killed_and_restarted_sends_the_pending_alert_once_and_runs_no_command_twice(
        rig: Rig, hub_process: HubProcess, recovery_log: RecoveryLog) -> None:
    db = rig.tmp_path / "hubdata" / "chatops.db"
    hub_process.start()
    await hub_process.connected()
    await rig.publish(SALON, {"temperature": 21.5}, retain=True)
    switch = {"type": "message", "channel": SLACK_CHANNEL, "user": "U0ALICE", "text": "!switch heater on",
              "channel_type": "channel", "ts": "1700000000.000100"}
    assert await rig.slack_command(switch["text"], event_id="EvSWITCH", expect="heater ") == "heater is ON"
    assert rig.heater_commands == ['{"state": "ON"}']

    # XMPP, the alert's only network, goes down; the alert is committed, then the hub is killed
    await kill_peer(rig, "xmpp")
    await hub_process.wait_health(lambda h: not h["adapters"]["xmpp"]["connected"], "XMPP down")
    await rig.publish(SMOKE, {"smoke": True}, retain=True)      # the detector stays on, as a retained state
    await until(lambda: query(db, "SELECT COUNT(*) FROM deliveries WHERE delivered_at IS NULL") == [(1,)], 10,
                "the alert's delivery committed")
    await hub_process.kill()
    killed = time.monotonic()

    await asyncio.to_thread(rig.prosody.start)
    await rig.connect_bob()
    restarted = time.monotonic()
    hub_process.start()
    await hub_process.connected()
    connected = time.monotonic() - restarted
    await until(lambda: rig.xmpp_copies(1) == 1, 15, "the pending alert after the restart")
    delivered = time.monotonic() - restarted
    await until(lambda: query(db, "SELECT COUNT(*), SUM(delivered_at > 0) FROM deliveries") == [(1, 1)], 10,
                "the delivery marked")

    # Slack sends the switch again, as it does for an envelope whose ack it never got: not run twice
    await rig.slack.push_event({k: v for k, v in switch.items()}, event_id="EvSWITCH")
    assert (await rig.slack_command(expect="salon: ")).startswith("salon: ")     # handled after the replay
    assert rig.heater_commands == ['{"state": "ON"}']
    assert [p["text"] for p in rig.slack.posted].count("heater is ON") == 1
    assert (await rig.xmpp_command()).startswith("salon: ")
    answered = time.monotonic() - restarted
    assert rig.xmpp_copies(1) == 1
    assert query(db, "SELECT COUNT(*) FROM alerts") == [(1,)]   # the retained smoke state raised nothing new
    assert await hub_process.stop() == 0
    recovery_log.add(Recovery("hub SIGKILL, restarted", "all (process start)", restarted - killed, connected,
                              answered, "1 s"))
    print(f"[hub restart] networks connected {connected:.2f}s, pending alert delivered {delivered:.2f}s "
          "after the new process started")


# ---- an alert in flight to a server that hangs, then dies ------------------------------------------

@pytest.mark.parametrize("network", ["irc", "xmpp"])
async def test_alert_written_to_a_hung_server_that_is_then_killed_is_sent_again(
        rig: Rig, network: str, recovery_log: RecoveryLog) -> None:
    """The server stops reading (SIGSTOP), the hub writes the alert into its socket, the server is
    SIGKILLed: the bytes die in the kernel. Marking it delivered on write would lose it."""
    server = rig.ngircd if network == "irc" else rig.prosody
    gate = rig.gate if network == "irc" else rig.xmpp_gate
    others = [n for n in NETWORKS if n != network]
    async with rig.hub_running(rig.settings(cap=CAP)):
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        try:
            written = len(gate.upstream)
            alert = await rig.smoke(True)
            assert alert is not None
            await until(lambda: f"(alert #{alert};".encode() in gate.upstream[written:], 10,
                        "the alert written towards the hung server")
            await until(lambda: all(rig.copies(alert)[n] == 1 for n in others), 10, "copies on the other networks")
        finally:
            server.proc.send_signal(signal.SIGKILL)       # a stopped server is not left hanging
        await kill_peer(rig, network)
        killed = time.monotonic()
        await down(rig, network)
        back = await revive_peer(rig, network)
        connected = await reconnected(rig, network, back)
        up_at = time.time()
        answered = await first_answer(rig, network, back)
        await rig.delivered_exactly_once(alert)
        [row] = [r for r in await rig.deliveries(alert) if r[0] == network]
        assert row[2] == 2, row                     # the failed attempt, then the one that went through
        late = row[1] - up_at                       # sent again right after the reconnect, not after a backoff
        print(f"[in flight] {network}: the lost alert went out again {late:.2f}s after the reconnect")
        assert late < 1.5, late
        recovery_log.add(Recovery(f"{'ngircd' if network == 'irc' else 'prosody'} SIGSTOP, alert in flight, "
                                  "SIGKILL", network, back - killed, connected, answered, f"{CAP:g} s"))
