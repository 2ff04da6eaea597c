"""A full disk under the data folder: the smoke alarm still goes out, marked as not stored; the
admins are told that storage fails; `status`, `alerts` and /health say so; once space is back the
alert is recorded with those already told recorded as told, and nobody gets it twice.
A real (small) tmpfs as the data folder, real mosquitto, the in-memory loopback network."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.systemd import status_line
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

pytestmark = pytest.mark.servers


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(folder: Path) -> Path:
    """Write zeros until the file system is full; the file to delete to free it again."""
    filler = folder / "filler"
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def smoke_hub(data: Path, mosquitto: Mosquitto, repeat: str = "1h") -> Hub:
    """A hub whose smoke rule tells bob (an address) and alice (an admin) on the loopback network."""
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
            "severity": "critical", "notify": ["loop:bob", "alice"], "repeat": repeat}
    settings = settings_for(data, mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    return Hub(settings, tty=False)


def cleared_smoke_hub(data: Path, mosquitto: Mosquitto, **rule: str) -> Hub:
    """A hub whose smoke rule tells bob on the loopback network, and tells him when it is over."""
    smoke = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
             "severity": "critical", "notify": ["loop:bob"], "cooldown": "0.2s", "cleared": "No more smoke.", **rule}
    settings = settings_for(data, mosquitto.url, simulator={"enabled": False}, alerts=[smoke],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False})
    return Hub(settings, tty=False)


async def smoke_goes_out_not_stored(hub: Hub, broker: aiomqtt.Client) -> None:
    """The detector fires while the database refuses writes: both recipients get the alarm marked
    NOT STORED, and alice, an admin, is told that storage is failing."""
    inbox = hub.adapters["loop"]
    await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
    got = {await inbox.next(), await inbox.next(), await inbox.next()}
    alarms = {who for who, text in got if text.startswith("[CRITICAL] Smoke in the kitchen smoke detector! "
                                                              "(NOT STORED")}
    assert alarms == {"alice", "bob"}, got
    assert any(who == "alice" and "storage is failing" in text for who, text in got), got


async def test_a_full_disk_never_silences_the_smoke_alarm(small_disk: Path, mosquitto: Mosquitto) -> None:
    hub = smoke_hub(small_disk / "data", mosquitto)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        filler = fill(small_disk)

        await smoke_goes_out_not_stored(hub, broker)
        status = await exec_command(hub, "status", sender="alice", network="loopback", adapter="loop")
        assert "storage: FAILING" in status
        listing = await exec_command(hub, "alerts", sender="alice", network="loopback", adapter="loop")
        assert listing.startswith("(NOT STORED: storage is failing) [critical] Smoke in the kitchen smoke detector!")
        assert "loop:alice" in listing and "loop:bob" in listing
        assert hub.health()["status"] == "degraded"

        filler.unlink()                                   # space is back: recorded, sent to nobody again
        await wait_for(lambda: not hub.alerts.unstored.alerts, timeout=30)
        listing = await exec_command(hub, "alerts", sender="alice", network="loopback", adapter="loop")
        assert listing.startswith("#1 [critical] Smoke in the kitchen smoke detector!"), listing
        rows = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT target, delivered_at > 0 FROM deliveries WHERE alert_id = 1 AND kind = 'raise' "
            "ORDER BY target").fetchall())
        assert rows == [("alice", 1), ("bob", 1)]
        await wait_for(lambda: hub.store.health.connected, timeout=30)
        assert hub.health()["status"] == "ok"
        assert await inbox.next() == ("alice", "[RESOLVED] The hub's storage works again: what waited in memory "
                                               "is being stored.")
        await hub.alerts.outbox.settled("loop")
        assert inbox.queue.empty(), "the alert was sent twice"


async def test_commands_history_and_timers_while_the_disk_is_full(
        small_disk: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """Commands keep working; a timer is refused with why (not kept in memory to vanish at the next
    restart); readings wait in memory with one log line however often the write fails; status says
    all of it; once space is back everything is stored without a restart."""
    settings = settings_for(small_disk / "data", mosquitto.url, simulator={"enabled": False}, alerts=[],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None},
                            history={"flush_interval": "0.2s", "min_interval": "0s"},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    hub = Hub(settings, tty=False)

    async def say(text: str) -> str:
        return await exec_command(hub, text, sender="alice", network="loopback", adapter="loop")

    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        filler = fill(small_disk)
        for value in (19.5, 19.6, 19.7):
            await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": value}), qos=1)
        await wait_for(lambda: hub.history.failing is not None and hub.history.waiting >= 3, timeout=10)
        assert (await say("temp salon")) == "salon: 19.7 °C"                   # commands keep working
        assert await say("history salon 1h") == ("No readings of salon in the last 1h. (3 newer readings wait in "
                                                  "memory, not shown: the hub's storage is failing.)")
        taken = await say("snap entree")                                     # its picture cannot be saved
        assert taken.startswith("snap could not be done: the hub's storage is failing ([Errno 28] No space left "
                                "on device"), taken
        assert (await say("in 10m snap entree")).startswith("Cannot store the timer (")
        assert "it was not set" in await say("in 10m snap entree")
        status = await say("status")
        assert "history: " in status and "readings kept in memory, not stored" in status, status
        for _ in range(3):                                   # several failed flushes: still one log line
            await hub.history.flush()
        assert caplog.text.count("history: readings cannot be written") == 1
        filler.unlink()
        await wait_for(lambda: hub.history.failing is None, timeout=30)
        summary = await say("history salon 1h")
        assert "min 19.5 °C" in summary and "max 19.7 °C" in summary, summary
        assert "history: " not in await say("status")
        assert (await say("in 10m snap entree")).startswith("Timer #1: snap entree at ")


async def test_a_read_only_database_is_said_and_survived(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A database SQLite may no longer write (what a read-only SD card or file gives: "attempt to
    write a readonly database"): the audit trail keeps its rows in memory and says so once, and
    stores them when writing works again."""
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    hub = Hub(settings, tty=False)
    async with running(hub):
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await exec_command(hub, "switch heater on", sender="stranger", network="loopback", adapter="loop")
        await hub.audit.flush()
        assert hub.audit.failing is not None and "readonly" in hub.audit.failing and hub.audit.waiting >= 1
        status = await exec_command(hub, "status", sender="alice", network="loopback", adapter="loop")
        assert "audit: " in status and "not stored" in status
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await hub.audit.flush()
        assert hub.audit.failing is None
        refused = await hub.store.audit_entries("refused")
        assert any("stranger" in e["sender"] for e in refused)


@contextlib.contextmanager
def immutable(database: Path) -> Iterator[Callable[[], None]]:
    """`database` made immutable (`chattr +i`: read-only even to root, as a worn card is) for the
    block; it yields the function that makes it writable again (also done on the way out)."""
    if subprocess.run(["chattr", "+i", str(database)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag (chattr +i)")

    def writable() -> None:
        subprocess.run(["chattr", "-i", str(database)], check=True)
    try:
        yield writable
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=False)


async def test_a_database_found_read_only_at_start_starts_the_hub_degraded(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    """The Pi reboots with its database file read-only (a worn SD card, a file made immutable):
    the hub starts anyway, opened read-only, says storage fails, sends the smoke alarm from
    memory; once the file is writable again it is stored, without a restart."""
    data = tmp_path / "data"
    async with running(smoke_hub(data, mosquitto)):
        pass
    with immutable(data / "chatops.db") as writable:
        hub = smoke_hub(data, mosquitto)
        hub.store.reopen_every = 0.5
        async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
            assert hub.health()["status"] == "degraded"
            say = {"sender": "alice", "network": "loopback", "adapter": "loop"}
            status = await exec_command(hub, "status", **say)
            assert "storage: FAILING (read-only: Operation not permitted)" in status, status
            await smoke_goes_out_not_stored(hub, broker)
            assert (await exec_command(hub, "alerts", **say)).startswith("(NOT STORED: storage is failing) [critical]")
            # A write refused since (the alarm's) keeps the file system's reason, not SQLite's.
            assert "storage: FAILING (read-only: Operation not permitted)" in await exec_command(hub, "status", **say)
            writable()
            await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None, timeout=15)   # recorded
            assert hub.store.health.connected and hub.health()["status"] == "ok"
            assert (await exec_command(hub, "alerts", **say)).startswith("#1 [critical] Smoke in the kitchen")


async def test_an_empty_database_found_read_only_at_start_starts_the_hub_degraded(tmp_path: Path,
                                                                                mosquitto: Mosquitto) -> None:
    """A database file with no tables (a file system check emptied it) and read-only: the hub once
    stopped at start with a traceback (exit 1: a restart loop under systemd), creating its tables.
    It starts degraded, alarms from memory, and creates them once the file is writable."""
    import sqlite3

    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    database = data / "chatops.db"
    with contextlib.closing(sqlite3.connect(database)) as db:
        db.execute("CREATE TABLE x (a)")
        db.execute("DROP TABLE x")
    with immutable(database) as writable:
        hub = smoke_hub(data, mosquitto)
        hub.store.reopen_every = 0.5
        async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
            assert hub.health()["status"] == "degraded"
            # Failing before any network was up: the admins hear it once one is, with no alarm
            # needed to carry it (once nobody was told at all).
            who, text = await hub.adapters["loop"].next()
            assert who == "alice" and text.startswith("[CRITICAL] The hub's storage is failing"), text
            await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
            inbox = hub.adapters["loop"]
            got = {await inbox.next(), await inbox.next()}
            assert {who for who, text in got if "(NOT STORED" in text} == {"alice", "bob"}, got
            writable()
            await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None, timeout=15)   # recorded
            assert hub.health()["status"] == "ok"


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A small ext4 file system on a loop device, mounted `errors=remount-ro` as a data folder
    on an SD card usually is; (mount point, the kernel's trigger_fs_error file for it)."""
    if os.geteuid() != 0:
        pytest.skip("a loop device and a mount need root (CI runs as root)")
    image = tmp_path / "disk.img"
    with image.open("wb") as handle:
        handle.truncate(32 * 1048576)
    setup = subprocess.run(["losetup", "--find", "--show", str(image)], capture_output=True, text=True)
    if setup.returncode != 0:
        pytest.skip(f"no loop device on this machine: {setup.stderr.strip()}")
    loop = setup.stdout.strip()
    mount = tmp_path / "disk"
    mount.mkdir()
    try:
        made = subprocess.run(["mkfs.ext4", "-q", loop], capture_output=True, text=True)
        mounted = made.returncode == 0 and subprocess.run(
            ["mount", "-o", "errors=remount-ro", loop, str(mount)], capture_output=True).returncode == 0
        trigger = Path("/sys/fs/ext4") / Path(loop).name / "trigger_fs_error"
        if not mounted or not trigger.exists():
            pytest.skip(f"this kernel cannot mount ext4 on {loop} or lacks {trigger}: {made.stderr.strip()}")
        yield mount, trigger
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        subprocess.run(["losetup", "-d", loop], check=False)


async def test_the_kernel_remounting_the_data_folder_read_only_never_silences_the_smoke_alarm(
        ext4_disk: tuple[Path, Path], mosquitto: Mosquitto) -> None:
    """The kernel turns the data folder read-only under the open database (an I/O error on an SD
    card with `errors=remount-ro`; here ext4's own trigger_fs_error): SQLite then answers "disk I/O
    error". The smoke alarm still reaches everyone, marked as not stored; commands answer; status
    and /health say that storage fails."""
    mount, trigger = ext4_disk
    hub = smoke_hub(mount / "data", mosquitto)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        trigger.write_text("chatops test\n")
        mounted = next(line for line in Path("/proc/mounts").read_text().splitlines() if f" {mount} " in line)
        assert {"ro", "emergency_ro"} & set(mounted.split()[3].split(",")), mounted   # the kernel made it read-only

        await smoke_goes_out_not_stored(hub, broker)
        hub.home.devices["salon"].reading = None
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 18.5}), qos=1)
        await wait_for(lambda: hub.home.devices["salon"].reading is not None, timeout=10)
        say = {"sender": "alice", "network": "loopback", "adapter": "loop"}
        assert await exec_command(hub, "temp salon", **say) == "salon: 18.5 °C"
        status = await exec_command(hub, "status", **say)
        assert "storage: FAILING" in status and "I/O error" in status, status
        assert hub.health()["status"] == "degraded"


async def test_a_data_folder_read_only_at_start_starts_the_hub_degraded(
        ext4_disk: tuple[Path, Path], mosquitto: Mosquitto) -> None:
    """The SD card turned read-only and the Pi rebooted: the data folder, with its database, is
    on a read-only mount. The hub starts (the database read-only) and the alarm goes out."""
    mount, _trigger = ext4_disk
    async with running(smoke_hub(mount / "data", mosquitto)):
        pass
    subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
    hub = smoke_hub(mount / "data", mosquitto)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        assert hub.health()["status"] == "degraded"
        status = await exec_command(hub, "status", sender="alice", network="loopback", adapter="loop")
        assert "storage: FAILING (read-only: " in status, status
        await smoke_goes_out_not_stored(hub, broker)


async def test_a_refused_alert_holds_back_no_other_and_commands_say_what_failed(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The database refuses writes (a read-only card). The motion alert it refused first does not
    hold back the smoke alarm: both go out from memory at once. A switch still switches, and what
    needs storage says so (a switch-back, a mute, the ack of an alert that is not stored). The
    admins hear that storage fails and, once it works again, that it does; nobody is told twice."""
    rules = [{"name": "motion", "device": "hall_motion", "when": "on", "message": "Someone in the {device}",
              "severity": "warning", "notify": ["loop:bob"]},
             {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
              "severity": "critical", "notify": ["loop:bob", "alice"], "repeat": "1h"}]
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True, "motion_clear": "1h"},
                            alerts=rules, adapters={"loopback": {"name": "loop"}}, web={"user": None},
                            history={"enabled": False},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    hub = Hub(settings, tty=False)

    async def say(text: str) -> str:
        return await exec_command(hub, text, sender="alice", network="loopback", adapter="loop")

    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await wait_for(lambda: hub.home.devices["heater"].reading is not None)
        await broker.subscribe(hub.alerts.state_topic("smoke"), qos=1)
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))

        await broker.publish("zigbee2mqtt/hall_motion", json.dumps({"occupancy": True}), qos=1)
        got = {await inbox.next(), await inbox.next()}
        assert {who for who, text in got if text.startswith("[WARNING] Someone in the hall motion (NOT STORED")} \
            == {"bob"}, got
        assert any(who == "alice" and text.startswith("[CRITICAL] The hub's storage is failing") for who, text in got)
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        got = {await inbox.next(), await inbox.next()}
        assert {who for who, text in got if text.startswith("[CRITICAL] Smoke in the kitchen smoke detector! "
                                                              "(NOT STORED")} == {"alice", "bob"}, got

        # Home Assistant's binary sensor, /metrics and systemd's STATUS count it as an alarm too.
        async with asyncio.timeout(10):
            async for state in broker.messages:
                if json.loads(state.payload)["state"] == "active":
                    break
        assert json.loads(state.payload) | {"raised_at": 0} == {
            "state": "active", "id": None, "device": "kitchen_smoke", "severity": "critical", "raised_at": 0,
            "message": "Smoke in the kitchen smoke detector!", "value": True, "acked_by": None, "stored": False}
        exposition = (await hub.metrics.exposition()).decode()
        assert 'chatops_alerts_active{rule="smoke"} 1.0' in exposition, exposition
        assert status_line(hub).endswith("; 2 alerts active (2 not stored)"), status_line(hub)
        status = await say("status")
        assert "storage: FAILING (OperationalError: attempt to write a readonly database)" in status, status
        assert "alerts: 2 active" in status, status                  # the two sent from memory count
        # Acknowledged in memory (the newest, the smoke): its reminders stop, bob hears it from here.
        assert await say("ack") == ("Alert smoke (not stored: the hub's storage is failing) acknowledged; reminders "
                                    "stopped. It is recorded as acknowledged once storage is back.")
        assert await inbox.next() == ("bob", "Alert smoke (not stored) acknowledged by alice.")
        smoke = [line for line in (await say("alerts")).splitlines() if "Smoke" in line]
        assert len(smoke) == 1 and "acknowledged by alice" in smoke[0] and "NOT acknowledged" not in smoke[0], smoke
        switched = await say("switch heater on")
        assert switched.startswith("heater is ON (The hub's storage is failing (attempt to write a readonly "
                                   "database)"), switched
        assert "heater is OFF, but it will NOT be switched back" in await say("heater off for 1h")
        assert (await say("mute smoke 10m")).startswith("mute could not be done: the hub's storage is failing "
                                                        "(attempt to write a readonly database). Free disk space")

        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: not hub.alerts.unstored.alerts, timeout=30)
        assert await inbox.next() == ("alice", "[RESOLVED] The hub's storage works again: what waited in memory "
                                               "is being stored.")
        listing = (await say("alerts")).splitlines()
        assert sorted(line.split(" [")[0] for line in listing) == ["#1", "#2"], listing
        await hub.alerts.outbox.settled("loop")               # every recorded delivery handled
        assert inbox.queue.empty(), "an alert was sent twice"


async def test_an_offline_alarm_over_before_storage_returns_never_silences_the_next(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The salon sensor goes silent while the database refuses writes: bob is told from memory.
    It reports again before storage is back, so that alarm is over and forgotten; when it goes
    silent again later, the new alert is recorded and bob is told again (he used to be skipped,
    taken for already told)."""
    rule = {"name": "gone", "device": "salon", "when": "offline 1s", "message": "{device} stopped reporting",
            "severity": "warning", "notify": ["loop:bob"]}
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False})
    hub = Hub(settings, tty=False)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 20.5}), qos=1)
        await wait_for(lambda: hub.home.devices["salon"].reading is not None)
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        assert (await inbox.next(timeout=15)) == ("bob", "[WARNING] salon stopped reporting (NOT STORED: the "
                                                         "hub's storage is failing: attempt to write a readonly "
                                                         "database; it is recorded once storage is back; answer "
                                                         "ack)")
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 20.6}), qos=1)
        await wait_for(lambda: not hub.alerts.unstored.alerts, timeout=15)            # over: forgotten
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        assert await exec_command(hub, "alerts") == "No active alerts."
        assert (await inbox.next(timeout=15)) == ("bob", "[WARNING] salon stopped reporting (alert #1; "
                                                         "answer ack 1)")


async def test_smoke_gone_then_back_while_storage_fails_is_a_new_alarm_not_silence(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Alert #1 is recorded; then the card turns read-only. The smoke goes (its clear cannot be
    written, so #1 stays open in the database: the clear is told from memory) and comes back:
    that is told at once from memory, not queued behind the refused clear until storage returns.
    Once it does, #1 is recorded as cleared and the new alarm as told: bob gets neither twice."""
    hub = cleared_smoke_hub(tmp_path / "data", mosquitto)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
        assert (await inbox.next(10))[1] == "[CLEARED] No more smoke. (alert #1)"     # over, not recorded
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert (await inbox.next(10))[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (NOT STORED")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: not hub.alerts.unstored.alerts, timeout=30)
        cleared = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT cleared_at IS NOT NULL FROM alerts WHERE id = 1").fetchone())
        assert cleared == (1,)
        await hub.alerts.outbox.settled("loop")
        assert inbox.queue.empty(), "the new alarm was sent twice"
        assert [a["id"] for a in await hub.alerts.active()] == [2]


async def test_an_alarm_raised_before_the_disk_filled_still_reminds_and_ack_stops_it(
        small_disk: Path, mosquitto: Mosquitto) -> None:
    """The smoke alert is stored, then the card fills: its reminders go on from memory (each
    once), `ack` still stops them and tells the others, and both are recorded once space is back."""
    hub = smoke_hub(small_disk / "data", mosquitto, repeat="2s")
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        first = {await inbox.next(), await inbox.next()}
        assert {who for who, text in first if text.startswith("[CRITICAL] Smoke in the kitchen smoke detector! "
                                                               "(alert #1;")} == {"alice", "bob"}, first
        await hub.alerts.outbox.settled("loop")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        filler = fill(small_disk)

        got = [await inbox.next(timeout=10) for _ in range(3)]     # two reminders, the storage alarm
        reminders = {(who, text) for who, text in got if text.startswith("[REMINDER")}
        assert reminders == {("alice", "[REMINDER 1] Smoke in the kitchen smoke detector! (alert #1; answer ack 1)"),
                             ("bob", "[REMINDER 1] Smoke in the kitchen smoke detector! (alert #1; answer ack 1)")}, got
        assert any(who == "alice" and "storage is failing" in text for who, text in got), got
        assert (await inbox.next(timeout=10))[1].startswith("[REMINDER 2] "), "the reminders stopped"
        await inbox.next(timeout=10)

        answer = await exec_command(hub, "ack", sender="alice", network="loopback", adapter="loop")
        assert answer.startswith("Alert #1 (smoke) acknowledged"), answer
        assert await inbox.next() == ("bob", "Alert #1 (smoke) acknowledged by alice.")
        listing = await exec_command(hub, "alerts", sender="alice", network="loopback", adapter="loop")
        assert "acknowledged by alice" in listing, listing
        assert "already acknowledged by alice" in await exec_command(
            hub, "ack 1", sender="alice", network="loopback", adapter="loop")

        filler.unlink()
        await wait_for(lambda: not hub.alerts.unstored.acked, timeout=30)
        row = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT acked_by, repeats, next_repeat FROM alerts WHERE id = 1").fetchone())
        assert row == ("alice", 2, None)
        assert await inbox.next() == ("alice", "[RESOLVED] The hub's storage works again: what waited in memory "
                                               "is being stored.")
        await hub.alerts.outbox.settled("loop")
        assert inbox.queue.empty(), [inbox.queue.get_nowait() for _ in range(inbox.queue.qsize())]


async def test_an_alarm_over_while_the_disk_is_full_is_not_reminded(small_disk: Path, mosquitto: Mosquitto) -> None:
    """Stored, then the card fills and the smoke goes: [CLEARED] from memory, and no reminder of
    it afterwards, though the database still shows it open until space is back."""
    import time

    hub = cleared_smoke_hub(small_disk / "data", mosquitto, repeat="2s")
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")
        raised = time.time()
        await hub.alerts.outbox.settled("loop")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
        filler = fill(small_disk)
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
        assert (await inbox.next(10))[1] == "[CLEARED] No more smoke. (alert #1)"
        await wait_for(lambda: time.time() > raised + 2 * 2 + 0.5, timeout=10)      # two reminder periods
        assert inbox.queue.empty(), [inbox.queue.get_nowait() for _ in range(inbox.queue.qsize())]
        filler.unlink()
        await wait_for(lambda: not hub.alerts.unstored.ended, timeout=30)
        assert await hub.alerts.active() == []


async def test_home_assistant_sees_an_alarm_acknowledged_and_over_while_storage_fails(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Stored, then the database refuses writes: acknowledged, then the smoke gone. The retained
    state once stayed `active` (then `acknowledged` for good, once storage was back) and Home
    Assistant's sensor on: it follows at once, and its last word is `cleared`."""
    hub = cleared_smoke_hub(tmp_path / "data", mosquitto)

    async def states(broker: aiomqtt.Client, wanted: str) -> dict[str, object]:
        async with asyncio.timeout(10):
            async for message in broker.messages:
                state = json.loads(message.payload)
                if state["state"] == wanted:
                    return state
        raise AssertionError("unreachable")

    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await broker.subscribe(hub.alerts.state_topic("smoke"), qos=1)
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")
        assert (await states(broker, "active"))["id"] == 1
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await exec_command(hub, "ack 1")
        assert (await states(broker, "acknowledged"))["id"] == 1
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
        assert (await states(broker, "cleared"))["id"] == 1
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: not hub.alerts.unstored.ended and not hub.alerts.unstored.acked, timeout=30)
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as follower:        # as Home Assistant finds it
        await follower.subscribe(hub.alerts.state_topic("smoke"), qos=1)
        async with asyncio.timeout(10):
            async for message in follower.messages:
                assert json.loads(message.payload)["state"] == "cleared"
                break


async def test_an_alarm_sent_from_memory_is_repeated_until_acknowledged_and_recorded_as_it_was(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """While the database refuses writes, a critical alarm was said once and then nothing until
    storage came back, and `ack` could not stop what did not repeat. It is repeated from memory
    as a stored one is, `ack` acknowledges it in memory, and once recorded it keeps the time it
    was raised and who acknowledged it."""
    hub = smoke_hub(tmp_path / "data", mosquitto, repeat="1s")
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await smoke_goes_out_not_stored(hub, broker)
        raised = hub.alerts.unstored.alerts["smoke", "kitchen_smoke"].raised_at
        reminded: set[str] = set()
        while reminded != {"alice", "bob"}:
            who, text = await inbox.next(timeout=15)
            assert re.fullmatch(r"\[REMINDER \d\] Smoke in the kitchen smoke detector! \(NOT STORED: the hub's "
                                r"storage is failing; answer ack to stop it\)", text), text
            reminded.add(who)
        answer = await exec_command(hub, "ack", sender="alice", network="loopback", adapter="loop")
        assert answer.startswith("Alert smoke (not stored: the hub's storage is failing) acknowledged"), answer
        while (said := await inbox.next(timeout=15)) != ("bob", "Alert smoke (not stored) acknowledged by alice."):
            assert said[1].startswith("[REMINDER "), said                 # one already on its way
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None, timeout=30)
        row = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT raised_at, acked_by, next_repeat FROM alerts WHERE rule = 'smoke'").fetchone())
        assert row == (raised, "alice", None), row
        assert not [m for m in [inbox.queue.get_nowait() for _ in range(inbox.queue.qsize())]
                    if m[1].startswith("[REMINDER")], "acknowledged: no reminder after"


async def test_a_loop_failing_on_a_full_card_logs_once_a_minute_not_every_pass(
        caplog: pytest.LogCaptureFixture) -> None:
    """Issue 23's log: "could not be recorded …; retrying" every few seconds, for ever. A loop
    whose every pass fails on the database says it once, then once a minute with the count."""
    import logging
    import sqlite3

    from chatops.backoff import SAY_FAILURES_EVERY, Backoff, pause_after_failure
    log = logging.getLogger("chatops.test_loop")
    backoff = Backoff(base=0.001, cap=0.001)
    full = sqlite3.OperationalError("database or disk is full")
    for _ in range(5):
        await pause_after_failure(backoff, full, "timers", log)
    lines = [r.getMessage() for r in caplog.records if r.name == "chatops.test_loop"]
    assert lines == ["timers: the database fails (database or disk is full); retrying every few seconds"], lines
    assert backoff.said_at is not None
    backoff.said_at -= SAY_FAILURES_EVERY                    # a minute later
    await pause_after_failure(backoff, full, "timers", log)
    lines = [r.getMessage() for r in caplog.records if r.name == "chatops.test_loop"]
    assert lines[-1] == ("timers: the database fails (database or disk is full); retrying every few seconds "
                         "(4 more failed passes since the last line)"), lines
    backoff.reset()                                          # a pass went through: a new failure is said at once
    await pause_after_failure(backoff, full, "timers", log)
    assert len([r for r in caplog.records if r.name == "chatops.test_loop"]) == 3
    await pause_after_failure(backoff, RuntimeError("a bug"), "timers", log)   # another failure: said at once
    assert [r for r in caplog.records if r.name == "chatops.test_loop"][-1].exc_info is not None


async def test_a_timer_due_while_storage_fails_waits_and_its_owner_is_told(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    """A run is recorded before it starts, so on a full card none starts: its owner hears that
    it waits (once, from memory), and it runs once storage is back, within the grace."""
    hub = smoke_hub(tmp_path / "data", mosquitto)

    async def say(text: str) -> str:
        return await exec_command(hub, text, sender="alice", network="loopback", adapter="loop")

    async with running(hub):
        inbox = hub.adapters["loop"]
        assert (await say("in 1s whoami")).startswith("Timer #1: whoami at ")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        told = [await inbox.next(), await inbox.next()]             # the admins' storage alert, and the timer
        assert ("alice", "Timer #1 (whoami) is due, but the hub's storage is failing (attempt to write a readonly "
                         "database): it runs once storage is back, if that is within 5m; else it is skipped.") \
            in told, told
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        results = [await inbox.next(timeout=30) for _ in range(2)]   # [RESOLVED] storage, and the run
        assert any(text.startswith("Timer #1 (whoami): You are ") for _who, text in results), results


async def test_an_alarm_sent_from_memory_reaches_a_network_that_was_down_when_it_fired(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Storage failing and the network down at the same moment: the alarm skipped that network,
    and a rule that does not repeat said nothing there until storage came back, maybe days later.
    It goes out once the network is back."""
    hub = smoke_hub(tmp_path / "data", mosquitto)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        inbox.health.down("reconnecting")
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await wait_for(lambda: ("smoke", "kitchen_smoke") in hub.alerts.unstored.alerts, timeout=10)
        assert inbox.queue.empty()
        inbox.health.up()
        got = {await inbox.next(timeout=10) for _ in range(3)}
        alarms = {who for who, text in got if text.startswith("[CRITICAL] Smoke in the kitchen smoke detector! "
                                                               "(NOT STORED")}
        assert alarms == {"alice", "bob"}, got
        assert hub.alerts.unstored.alerts["smoke", "kitchen_smoke"].told == {("loop", "alice"), ("loop", "bob")}
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=0.5)                   # once each, not again at the next pass


async def test_an_ack_typed_in_a_room_while_storage_fails_is_not_told_back_to_that_room(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`!ack` in #room with the disk full: the room read the answer, then "acknowledged by alice"."""
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
            "severity": "critical", "notify": ["loop:#room", "loop:bob"], "repeat": "1h"}
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    async with running(Hub(settings, tty=False)) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await broker.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        told = {(await inbox.next())[0] for _ in range(3)}               # the room, bob, alice (storage failing)
        assert {"#room", "bob"} <= told, told
        answer = await exec_command(hub, "!ack", sender="alice", adapter="loop", network="loopback", direct=False)
        assert answer.startswith("Alert smoke (not stored: the hub's storage is failing) acknowledged"), answer
        assert await inbox.next() == ("bob", "Alert smoke (not stored) acknowledged by alice.")
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=0.5)                                   # not the room again


async def test_reminders_said_from_memory_are_counted_on_once_the_alarm_is_recorded(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`[REMINDER 1]` from memory, storage back, then `[REMINDER 1]` again: the count carries over."""
    hub = smoke_hub(tmp_path / "data", mosquitto, repeat="1s")
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as broker:
        inbox = hub.adapters["loop"]
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await smoke_goes_out_not_stored(hub, broker)
        while not (await inbox.next(timeout=15))[1].startswith("[REMINDER 1] "):
            pass
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None, timeout=30)
        while not (said := await inbox.next(timeout=15))[1].startswith("[REMINDER") or "NOT STORED" in said[1]:
            pass
        number = int(said[1].split()[1].rstrip("]"))
        assert number >= 2, said


async def test_the_admins_are_told_when_the_broker_stays_lost_and_when_it_is_back(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """With the broker killed, the hub heard no detector and only `status` said so."""
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[],
                            mqtt={"down_alert_after": "1s", "backoff_max": "0.5s"},
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    async with running(Hub(settings, tty=False)) as hub:
        inbox = hub.adapters["loop"]
        mosquitto.stop(kill=True)
        who, text = await inbox.next(timeout=15)
        assert who == "alice" and text.startswith(f"[CRITICAL] The hub has not reached the MQTT broker at "
                                                  f"127.0.0.1:{mosquitto.port} for 1s ("), text
        assert "no detector can be heard" in text
        await asyncio.to_thread(mosquitto.start)          # the hub's loop runs on while it starts
        assert await inbox.next(timeout=15) == ("alice", "[RESOLVED] The hub reaches the MQTT broker again: detectors "
                                                         "are heard and devices switched.")


async def test_simulate_names_the_alarm_sent_from_memory(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """With storage failing, `simulate smoke on` said only that the detector reported it."""
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True}, automations=[],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None}, history={"enabled": False},
                            users={"owner": {"loopback": ["tester"]}})
    async with running(Hub(settings, tty=False)) as hub:
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        answer = await exec_command(hub, "simulate smoke on", network="loopback", adapter="loop")
        assert answer.endswith("Alert smoke is active (NOT STORED: the hub's storage is failing): say ack to stop it."), \
            answer


async def test_the_admins_are_told_when_the_hub_starts_with_the_broker_down(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    """After a power cut the broker is often slower back than the hub: that case said nothing."""
    mosquitto.stop(kill=True)
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[],
                            mqtt={"down_alert_after": "1s"}, adapters={"loopback": {"name": "loop"}},
                            web={"user": None}, history={"enabled": False},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"]}})
    hub = Hub(settings, tty=False)
    task = asyncio.create_task(hub.run())
    try:
        await wait_for(lambda: "loop" in hub.adapters and hub.adapters["loop"].health.connected, timeout=10)
        who, text = await hub.adapters["loop"].next(timeout=15)
        assert who == "alice" and text.startswith("[CRITICAL] The hub has not reached the MQTT broker"), text
    finally:
        hub.stop()
        await asyncio.wait_for(task, 15)
        mosquitto.start()


async def test_keys_of_handled_messages_are_kept_a_month_however_long_the_hub_runs(tmp_path: Path) -> None:
    """The keys that stop a redelivered message running twice were forgotten only when an
    adapter started (Telegram's never): a hub up for a year kept every one."""
    import time

    from chatops.store import Store, processed

    store = Store(tmp_path / "chatops.db")
    await store.open()
    try:
        old = time.time() - 31 * 86400
        await store.call(lambda: [processed.mark(store.db, key, old) for key in ("telegram:7:1", "slack:T:e1")])
        await store.call(processed.mark, store.db, "telegram:7:2", time.time() - 86400)
        assert await store.mark_processed("telegram:7:3") is True
        assert not await store.was_processed("telegram:7:1") and not await store.was_processed("slack:T:e1")
        assert await store.was_processed("telegram:7:2"), "a day old: still kept"
        assert await store.mark_processed("telegram:7:2") is False, "and still never run twice"
    finally:
        await store.close()
