"""Alerts end to end on a real mosquitto: raise, deliver, repeat, acknowledge, flapping, restarts."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from chatops.alerts import Condition
from chatops.clock import ManualClock
from chatops.hub import Hub, running
from chatops.outbox import GIVE_UP_ATTEMPTS
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

pytestmark = pytest.mark.servers
SMOKE = "zigbee2mqtt/kitchen_smoke"


SMOKE_RULE = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
              "severity": "critical", "notify": ["loop:alice", "loop:bob"], "repeat": "1h", "cooldown": "30s"}


def alert_settings(tmp_path: Path, url: str, *, mqtt: dict[str, Any] | None = None, hub: dict[str, Any] | None = None,
                   **rule: Any) -> Any:
    return settings_for(tmp_path, url, hub=hub or {}, simulator={"enabled": False}, alerts=[{**SMOKE_RULE, **rule}],
                        mqtt=mqtt or {}, adapters={"loopback": {"name": "loop"}}, web={"user": None},
                        users={"owner": None, "alice": {"roles": ["admin"], "console": ["alice"], "loopback": ["alice"]}})


@asynccontextmanager
async def hub_with_inbox(settings: Any) -> AsyncIterator[tuple[Hub, Any]]:
    hub = Hub(settings, tty=False)
    async with running(hub):
        yield hub, hub.adapters["loop"]


@asynccontextmanager
async def hub_with_inbox_on(settings: Any, clock: ManualClock) -> AsyncIterator[tuple[Hub, Any]]:
    hub = Hub(settings, tty=False, clock=clock)
    async with running(hub):
        yield hub, hub.adapters["loop"]


@pytest.fixture
async def broker(mosquitto: Mosquitto) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        yield client


async def smoke(client: aiomqtt.Client, on: bool) -> None:
    await client.publish(SMOKE, json.dumps({"smoke": on, "battery": 100}), qos=1)


async def test_smoke_alert_is_delivered_repeated_and_acknowledged(tmp_path: Path, mosquitto: Mosquitto,
                                                                  broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, repeat="0.4s", cooldown="0.2s")
    await broker.subscribe("chatops/maison/alerts/smoke")
    async with hub_with_inbox(settings) as (hub, inbox):
        sent = time.monotonic()
        await smoke(broker, True)
        first = {await inbox.next(), await inbox.next()}
        latency = time.monotonic() - sent
        assert first == {("alice", "[CRITICAL] Smoke in the kitchen smoke detector! (alert #1; answer ack 1)"),
                         ("bob", "[CRITICAL] Smoke in the kitchen smoke detector! (alert #1; answer ack 1)")}
        assert latency < 1.0
        reminders = {await inbox.next(), await inbox.next()}
        assert {t for _, t in reminders} == {"[REMINDER 1] Smoke in the kitchen smoke detector! (alert #1; answer ack 1)"}
        listing = await exec_command(hub, "alerts", sender="alice")
        assert listing.startswith("#1 [critical] Smoke in the kitchen smoke detector!")
        assert "NOT acknowledged" in listing and "loop:alice" in listing
        assert await exec_command(hub, "ack", sender="alice") == "Alert #1 (smoke) acknowledged; reminders stopped."
        told: set[tuple[str, str]] = set()
        while ("bob", "Alert #1 (smoke) acknowledged by alice.") not in told:
            told.add(await inbox.next())
        assert ("alice", "Alert #1 (smoke) acknowledged by alice.") in told   # notify lists bare addresses
        with pytest.raises(TimeoutError):
            while True:                         # no reminder after the ack, for three repeat periods
                target, text = await inbox.next(timeout=1.2)
                assert "REMINDER" not in text, text
        assert "acknowledged by alice" in await exec_command(hub, "alerts", sender="alice")
        assert "already acknowledged" in await exec_command(hub, "ack 1", sender="alice")
        async with asyncio.timeout(5):
            async for message in broker.messages:
                state = json.loads(message.payload)
                if state["state"] == "acknowledged":
                    assert state["acked_by"] == "alice" and state["id"] == 1
                    break
        await smoke(broker, False)
        cleared = {await inbox.next(), await inbox.next()}
        assert {t for _, t in cleared} == {"[CLEARED] kitchen smoke detector is back to normal (clear) (alert #1)"}
        assert await exec_command(hub, "alerts", sender="alice") == "No active alerts."


async def test_an_alert_state_lost_with_the_broker_is_published_again(tmp_path: Path, mosquitto: Mosquitto,
                                                                    broker: aiomqtt.Client) -> None:
    """The ack's state is in flight to a frozen mosquitto, which is then killed and restarted
    empty (no persistence): the hub publishes `acknowledged` again on the new broker."""
    settings = alert_settings(tmp_path, mosquitto.url, mqtt={"backoff_max": "1s"}, notify=["loop:alice"])
    await broker.subscribe("chatops/maison/alerts/smoke")
    async with hub_with_inbox(settings) as (hub, inbox):
        await smoke(broker, True)
        assert (await inbox.next())[1].startswith("[CRITICAL]")
        async with asyncio.timeout(5):       # the active state is out and confirmed
            async for message in broker.messages:
                if json.loads(message.payload)["state"] == "active":
                    break
            while any(t.get_name() == "alert-state-smoke" for t in hub.tasks):
                await asyncio.sleep(0.01)
        assert mosquitto.proc is not None
        mosquitto.proc.send_signal(signal.SIGSTOP)
        assert await exec_command(hub, "ack", sender="alice") == "Alert #1 (smoke) acknowledged; reminders stopped."
        async with asyncio.timeout(5):       # the acknowledged state is waiting for the frozen broker
            while not any(t.get_name() == "alert-state-smoke" for t in hub.mqtt._pending):
                await asyncio.sleep(0.01)
        await asyncio.to_thread(mosquitto.stop, kill=True)
        await asyncio.to_thread(mosquitto.start)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as follower, asyncio.timeout(15):
            await follower.subscribe("chatops/maison/alerts/smoke")
            async for message in follower.messages:
                state = json.loads(message.payload)
                if state["state"] == "acknowledged":
                    assert state["acked_by"] == "alice" and state["id"] == 1
                    break
                assert state["state"] == "active", state


async def test_flapping_sensor_gives_one_alert(tmp_path: Path, mosquitto: Mosquitto,
                                               broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cleared=None, cooldown="30s")
    async with hub_with_inbox(settings) as (hub, inbox):
        for i in range(10):
            await smoke(broker, i % 2 == 0)
        await smoke(broker, False)
        assert (await inbox.next())[1].startswith("[CRITICAL]")
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=2.0)
        count = await hub.store.call(lambda: hub.store.db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0])
        assert count == 1
        # The smoke is gone; the cooldown keeps the alert open, and `alerts` says until when.
        assert 20 < hub.alerts.rules["smoke"].quiet_left(hub.clock.monotonic()) <= 30
        listing = await exec_command(hub, "alerts", sender="alice")
        assert re.search(r"; condition over, ends at (\w{3} )?\d\d:\d\d(:\d\d)? unless it comes back$", listing), listing
        await smoke(broker, True)                   # back: no end in sight
        await wait_for(lambda: hub.alerts.rules["smoke"].quiet_since is None)
        assert "condition over" not in await exec_command(hub, "alerts", sender="alice")


async def test_malformed_payloads_raise_nothing(tmp_path: Path, mosquitto: Mosquitto,
                                                broker: aiomqtt.Client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    async with hub_with_inbox(alert_settings(tmp_path, mosquitto.url)) as (hub, inbox):
        for payload in (b"\xff\x00", b"{not json", b'{"smoke": "maybe"}', b'{"battery": 3}', b"[" * 10000):
            await broker.publish(SMOKE, payload, qos=1)
        async with asyncio.timeout(5):
            while hub.home.bad_payloads < 5:
                await asyncio.sleep(0.01)
        ignored = [r.getMessage() for r in caplog.records
                   if r.levelno == logging.WARNING and r.getMessage().startswith("ignored payload")]
        why = f"ignored payload for kitchen_smoke on {SMOKE}: "
        assert ignored == [why + "2-byte binary payload is not text",
                           why + "payload is not JSON: '{not json'",
                           why + "'maybe' is neither on nor off",
                           why + "no field 'smoke' in the payload",
                           why + "JSON nested deeper than 32 levels"]
        assert inbox.queue.empty()
        assert hub.home.devices["kitchen_smoke"].reading is None
        # The same junk again and again (a firmware gone wrong): said once, counted all the same.
        for n in range(50):
            await broker.publish(SMOKE, f"junk{n}".encode(), qos=1)
        async with asyncio.timeout(5):
            while hub.home.bad_payloads < 55:
                await asyncio.sleep(0.01)
        said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ignored payload")][5:]
        assert said == [why + "payload is not JSON: 'junk0'"], said
        await smoke(broker, True)                # and the engine still works afterwards
        assert "Smoke in the" in (await inbox.next())[1]


async def test_offline_rule_fires_when_a_device_stops_reporting(tmp_path: Path, mosquitto: Mosquitto,
                                                                broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, name="silent", device="salon", when="offline 1s",
                              message="{device} stopped reporting", severity="warning", notify=["loop:alice"],
                              cleared="{device} is back")
    async with hub_with_inbox(settings) as (hub, inbox):
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 20.0}))
        target, text = await inbox.next(timeout=5)
        assert text == "[WARNING] salon stopped reporting (alert #1; answer ack 1)"
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 20.5}))
        assert (await inbox.next())[1] == "[CLEARED] salon is back (alert #1)"


async def test_a_device_with_an_availability_topic_is_offline_when_it_says_so_not_when_quiet(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """A Zigbee2MQTT plug publishes only when it changes: `offline 1s` on its silence raised a
    false alarm every second it sat idle. It says itself whether it is there: the rule follows
    that, raised once it has said offline for the period, cleared when it says online."""
    plug = {"type": "switch", "topic": "z/plug", "command_topic": "z/plug/set", "value": "state",
            "availability_topic": "z/plug/availability"}
    rule = {**SMOKE_RULE, "name": "plug_gone", "device": "plug", "when": "offline 1s", "message": "{device} is gone",
            "severity": "warning", "notify": ["loop:alice"], "cleared": "{device} is back"}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            devices={"plug": plug}, adapters={"loopback": {"name": "loop"}}, web={"user": None})
    async with hub_with_inbox(settings) as (hub, inbox):
        await broker.publish("z/plug/availability", json.dumps({"state": "online"}))
        await broker.publish("z/plug", json.dumps({"state": "ON"}))
        await wait_for(lambda: hub.home.devices["plug"].reading is not None)
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=2.5)                  # quiet for more than its second: still there
        await broker.publish("z/plug/availability", json.dumps({"state": "offline"}))
        assert (await inbox.next(timeout=5))[1] == "[WARNING] plug is gone (alert #1; answer ack 1)"
        await broker.publish("z/plug/availability", json.dumps({"state": "online"}))
        assert (await inbox.next())[1] == "[CLEARED] plug is back (alert #1)"


async def test_a_rule_s_default_words_are_said_in_the_reader_s_language(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """A rule without `message` and `cleared` said `[TERMINÉ] salon is back to normal` to a French
    reader: the hub's own default words, left in English."""
    rule = {"name": "hot", "device": "kitchen_smoke", "when": "on", "notify": ["alice"], "cooldown": "0s"}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None},
                            users={"owner": None, "alice": {"roles": ["admin"], "loopback": ["alice"], "language": "fr"}})
    async with hub_with_inbox(settings) as (hub, inbox):
        await smoke(broker, True)
        assert (await inbox.next())[1] == "[AVERTISSEMENT] kitchen smoke detector : détecté (alerte n°1 ; répondez ack 1)"
        await smoke(broker, False)
        assert (await inbox.next())[1] == "[TERMINÉ] kitchen smoke detector est revenu à la normale (calme) (alerte n°1)"


async def test_an_alert_s_clear_never_overtakes_the_alert_to_the_same_address(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """An IRC nick offline when the alarm was raised: its retry waited on backoff, the [CLEARED]
    was tried fresh when the nick came back, and the nick read the end before the alarm."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:carol"], cooldown="0s",
                              cleared="Smoke gone from the {device}")
    async with hub_with_inbox(settings) as (hub, inbox):
        away = True
        send = inbox.send

        async def flaky(address: Any, reply: Any) -> None:
            if away and reply.text.startswith("[CRITICAL]"):        # the alarm meets her absence
                raise ConnectionError("carol is not online")
            await send(address, reply)
        inbox.send = flaky                                           # type: ignore[method-assign]
        await smoke(broker, True)
        await wait_for(lambda: (hub.store.db.execute(
            "SELECT MAX(attempts) FROM deliveries WHERE kind = 'raise'").fetchone()[0] or 0) >= 1)
        await smoke(broker, False)
        await hub.alerts.settled()
        away = False
        first, second = (await inbox.next(timeout=30))[1], (await inbox.next(timeout=30))[1]
        assert first.startswith("[CRITICAL] Smoke in the") and second.startswith("[CLEARED] Smoke gone"), (first,
                                                                                                          second)


async def test_alert_waits_for_a_network_that_is_down(tmp_path: Path, mosquitto: Mosquitto,
                                                      broker: aiomqtt.Client) -> None:
    async with hub_with_inbox(alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"])) as (hub, inbox):
        inbox.health.down("network unreachable")
        await smoke(broker, True)
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=1.0)
        inbox.health.up()
        assert "Smoke in the" in (await inbox.next())[1]


async def test_pending_alert_survives_a_restart_and_is_sent_once(tmp_path: Path, mosquitto: Mosquitto,
                                                                 broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"])
    async with hub_with_inbox(settings) as (hub, down):
        down.health.down("offline")
        await smoke(broker, True)
        async with asyncio.timeout(5):
            while not await hub.alerts.active():
                await asyncio.sleep(0.01)
    # the first hub is gone with the delivery unsent; a new one on the same data dir sends it once
    async with hub_with_inbox(settings) as (hub, inbox):
        assert "Smoke in the" in (await inbox.next())[1]
        await smoke(broker, True)                # still on: no second alert
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=1.0)
        rows = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT COUNT(*), SUM(delivered_at IS NOT NULL) FROM deliveries").fetchone())
        assert rows == (1, 1)


async def test_an_open_alert_of_a_rule_taken_out_of_the_config_is_closed_aloud(tmp_path: Path, mosquitto: Mosquitto,
                                                                              broker: aiomqtt.Client) -> None:
    """Rule `smoke` raised #1, then was renamed in config.toml: #1 stayed active for ever
    (`alerts`, `status`, chatops_alerts_active), since no reading of a rule that is gone ends it."""
    async with hub_with_inbox(alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"])) as (hub, inbox):
        await smoke(broker, True)
        assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")
        await hub.alerts.outbox.settled("loop")         # recorded as delivered: not sent again
    async with hub_with_inbox(alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], name="fumee")) \
            as (hub, inbox):
        assert (await inbox.next())[1] == \
            "[CLEARED] Alert #1 is over: its rule 'smoke' is no longer in the configuration."
        assert await hub.alerts.active() == []
        assert "alerts: none active" in await exec_command(hub, "status", sender="alice")


async def smoke_came_and_went(hub: Hub, inbox: Any, broker: aiomqtt.Client, ack: bool = False) -> None:
    """Alert #1 raised (and acknowledged by alice with `ack`), then the smoke gone, its quiet recorded."""
    await smoke(broker, True)
    assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")
    if ack:
        assert await exec_command(hub, "ack", sender="alice") == "Alert #1 (smoke) acknowledged; reminders stopped."
        assert (await inbox.next())[1] == "Alert #1 (smoke) acknowledged by alice."
    await smoke(broker, False)
    async with asyncio.timeout(5):
        while hub.alerts.rules["smoke"].quiet_since is None:
            await asyncio.sleep(0.01)
    await hub.alerts.settled()


async def test_a_new_alarm_after_a_restart_is_told_though_the_old_one_was_acknowledged(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    # Smoke, acknowledged; the smoke goes and the hub stops before the cooldown ends (the alert
    # stays open). Smoke again two hours later: a new alarm, told to everyone, not folded into
    # the old acknowledged alert.
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="10m")
    clock = ManualClock()
    async with hub_with_inbox_on(settings, clock) as (hub, inbox):
        await smoke_came_and_went(hub, inbox, broker, ack=True)
    later = ManualClock(wall=clock.time() + 7200, monotonic=50.0)      # a new boot: monotonic starts again
    async with hub_with_inbox_on(settings, later) as (hub, inbox):
        await smoke(broker, True)
        target, text = await inbox.next()
        assert text.startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #2"), text
        assert [a["id"] for a in await hub.alerts.active()] == [2]
    # Back on within the cooldown (a flapping sensor across a restart): still the one alert.
    async with hub_with_inbox_on(settings, ManualClock(wall=later.time() + 1, monotonic=10.0)) as (hub, inbox):
        await smoke(broker, False)
        await hub.alerts.settled()
    async with hub_with_inbox_on(settings, ManualClock(wall=later.time() + 60, monotonic=10.0)) as (hub, inbox):
        await smoke(broker, True)
        await hub.alerts.settled()
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=0.5)
        assert [a["id"] for a in await hub.alerts.active()] == [2]


async def test_an_alert_over_during_a_restart_is_cleared_aloud_when_its_rule_is_muted(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    # The smoke ended while the hub was down; the rule is muted now, so no new alert will say
    # more: those told of alert #1 are told it is over. (Reminders every 3 h: none is due yet.)
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="10m", repeat="3h")
    clock = ManualClock()
    async with hub_with_inbox_on(settings, clock) as (hub, inbox):
        await smoke_came_and_went(hub, inbox, broker)
    async with hub_with_inbox_on(settings, ManualClock(wall=clock.time() + 7200, monotonic=50.0)) as (hub, inbox):
        # A mute holds back new alerts, and says so of the one still open.
        assert await exec_command(hub, "mute smoke 10m", sender="alice") == \
            "Alert rule smoke muted for 10m. Alert #1, open before, is not silenced: ack 1 stops its reminders."
        await smoke(broker, True)
        assert (await inbox.next())[1].startswith("[CLEARED]")
        await hub.alerts.settled()
        assert await hub.alerts.active() == []


async def test_a_mute_does_not_ask_to_acknowledge_an_alert_already_acknowledged(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], repeat="1h")
    async with hub_with_inbox(settings) as (hub, inbox):
        await smoke(broker, True)
        await inbox.next()
        assert (await exec_command(hub, "mute smoke 10m", sender="alice")).endswith("ack 1 stops its reminders.")
        await exec_command(hub, "ack 1", sender="alice")
        assert await exec_command(hub, "mute smoke 20m", sender="alice") == "Alert rule smoke muted for 20m."


async def test_mute_stops_new_alerts(tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="0s")
    async with hub_with_inbox(settings) as (hub, inbox):
        assert await exec_command(hub, "mute smoke 1 hour 30 minutes", sender="alice") == \
            "Alert rule smoke muted for 1h30m."
        assert await exec_command(hub, "mute smoke 10m please", sender="alice") == \
            "'10m please' is not a duration. Usage: mute RULE DURATION"
        # Half a mute is told what it lacks (`mute 1h` heard "Missing duration", the one thing it had).
        assert await exec_command(hub, "mute 1h", sender="alice") == \
            "Which rule? e.g. mute smoke 1h; rules: smoke."
        assert await exec_command(hub, "mute smoke", sender="alice") == \
            "For how long? e.g. mute smoke 30m (mute smoke 0 unmutes)."
        assert await exec_command(hub, "mute smok", sender="alice") == "No alert rule named 'smok'; rules: smoke."
        # The rule by the name of the one device it watches, any of its names (`silence fumée 30m`).
        assert await exec_command(hub, "mute kitchen_smoke 5m", sender="alice") == "Alert rule smoke muted for 5m."
        assert await exec_command(hub, "mute SMOKE 6m", sender="alice") == "Alert rule smoke muted for 6m."
        # As a duration without its unit in `switch` is answered (was `give a unit: …`, no usage).
        assert await exec_command(hub, "mute smoke 30", sender="alice") == \
            'Give a unit: "30s", "30m" or "30h". Usage: mute RULE DURATION'
        assert await exec_command(hub, "in 1m mute smoke 30", sender="alice") == \
            'Not scheduled: give a unit: "30s", "30m" or "30h".'
        assert await exec_command(hub, "mute smoke 10m", sender="alice") == "Alert rule smoke muted for 10m."
        assert (await exec_command(hub, "mute smoke 10m", network="irc", sender="x!y@z", adapter="irc")
                ).startswith("Sorry")
        await smoke(broker, True)
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=1.0)
        # No alert, and why: a mute survives restarts, and a forgotten one looked like a dead detector.
        until = hub.alerts.mutes["smoke"]
        from chatops.schedule import local_time
        shown = local_time(until, hub.timers.tz, hub.clock.time())
        assert await exec_command(hub, "alerts", sender="alice") == f"No active alerts. Muted: smoke until {shown}."
        assert f"alerts: none active. Muted: smoke until {shown}." in await exec_command(hub, "status", sender="alice")


@pytest.mark.parametrize("when, value, previous, expected", [
    ("on", True, None, True), ("on", False, None, False), ("off", False, None, True),
    ("> 30", 30.5, None, True), ("> 30", 30.0, None, False), ("< 5", 4.9, None, True),
    ("< 5", "n/a", None, False), ("changed", 2.0, 1.0, True), ("changed", 2.0, 2.0, False),
    ("= open", "OPEN", None, True),
    ("off", 0.0, None, True), ("off", 30.0, None, False), ("on", 30.0, None, True),   # a cover: closed is off
])
def test_conditions(when: str, value: Any, previous: Any, expected: bool) -> None:
    from chatops.home import Reading
    prev = Reading(previous, 0.0) if previous is not None else None
    assert Condition.parse(when).holds(value, prev) is expected


def test_a_comparison_with_a_word_is_refused_not_read_as_equal() -> None:
    with pytest.raises(ValueError, match="> compares numbers, not 'abc'"):
        Condition.parse("> abc")


async def test_flapping_keeps_one_alert_and_a_new_alarm_after_the_clear_is_not_delayed(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="0.5s", repeat="1h")
    async with hub_with_inbox(settings) as (hub, inbox):
        for i in range(6):
            await smoke(broker, i % 2 == 0)          # on/off/on/off/on/off within the cooldown
        assert (await inbox.next())[1].startswith("[CRITICAL]")
        assert (await inbox.next())[1].startswith("[CLEARED]")   # only once quiet for the cooldown
        started = time.monotonic()
        await smoke(broker, True)
        assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #2")
        assert time.monotonic() - started < 1.0


async def test_time_field_renders_the_local_time_of_the_alert(tmp_path: Path, mosquitto: Mosquitto,
                                                              broker: aiomqtt.Client) -> None:
    # In [hub] timezone, not the system's (UTC here): "at 20:50" for a hub in Tokyo was UTC.
    settings = alert_settings(tmp_path, mosquitto.url, name="hot", device="salon", when="> 30",
                              message="{device} {value}{unit} at {time}", severity="warning",
                              notify=["loop:alice"], cleared=None, hub={"timezone": "Asia/Tokyo"})
    async with hub_with_inbox(settings) as (hub, inbox):
        sent = time.time()
        await broker.publish("zigbee2mqtt/salon", json.dumps({"temperature": 31.5}), qos=1)
        _, text = await inbox.next(timeout=5)
        received = time.time()
    match = re.fullmatch(r"\[WARNING\] salon 31\.5 °C at (\d\d:\d\d:\d\d) \(alert #1; answer ack 1\)", text)
    assert match, text
    seconds = range(int(sent) - 1, int(received) + 2)                # the clock read while the alert was raised
    tokyo = ZoneInfo("Asia/Tokyo")
    assert match.group(1) in {datetime.fromtimestamp(s, tokyo).strftime("%H:%M:%S") for s in seconds}


def test_a_person_with_two_irc_patterns_is_one_irc_recipient(tmp_path: Path) -> None:
    """`account:alice` and `alice!*@home.example.org` are the same person: one alert, not two."""
    settings = settings_for(tmp_path, simulator={"enabled": False},
                            adapters={"irc": {"host": "127.0.0.1", "port": 1, "tls": False}},
                            users={"alice": {"roles": ["family"], "irc": ["account:alice", "alice!*@home.example.org",
                                                                          "*!*@guest.example.org"]},
                                   "bob": {"roles": ["family"], "irc": ["*!*@bob.example.org"]}})
    hub = Hub(settings, tty=False)
    recipients = hub.alerts.recipients(["alice", "bob", "irc:#maison"])
    assert [(r.network, r.target) for r in recipients] == [("irc", "user:alice"), ("irc", "#maison")]


async def test_a_delivery_refused_for_a_day_is_given_up(tmp_path: Path, mosquitto: Mosquitto,
                                                        broker: aiomqtt.Client,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A recipient the network keeps refusing (not a lost connection) is retried with backoff for a
    day, then dropped with a log line instead of a day-old alarm arriving some day."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:nobody"])
    async with hub_with_inbox(settings) as (hub, inbox):
        async def refuse(address: Any, reply: Any) -> None:
            raise LookupError(f"{address.target} is not online")
        inbox.send = refuse
        store = hub.store
        await smoke(broker, True)

        async def row() -> tuple[Any, ...]:
            return await store.call(lambda: store.db.execute(
                "SELECT attempts, delivered_at, last_error FROM deliveries WHERE kind = 'raise'").fetchone() or ())

        async with asyncio.timeout(10):
            while not (state := await row()) or not state[0]:
                await asyncio.sleep(0.02)
        assert state[1] is None and "LookupError: nobody is not online" in state[2]       # refused, retried later
        # A day passed by the wall clock, but with a single refusal (NTP stepped the clock forward
        # after a boot): still retried. With GIVE_UP_ATTEMPTS refusals as well: given up.
        await store.call(lambda: store.db.execute("UPDATE deliveries SET created = created - 90000, next_try = 0"))
        hub.alerts.outbox.wake("loop").set()
        async with asyncio.timeout(10):
            while (state := await row())[0] < 2:
                await asyncio.sleep(0.02)
        assert state[1] is None
        await store.call(lambda: store.db.execute("UPDATE deliveries SET attempts = ?, next_try = 0",
                                                  (GIVE_UP_ATTEMPTS - 1,)))
        hub.alerts.outbox.wake("loop").set()
        async with asyncio.timeout(10):
            while (state := await row())[1] is None:
                await asyncio.sleep(0.02)
        assert state[1] == -1 and state[2].startswith("given up after 24 h: LookupError: nobody is not online")
        assert any(f"given up after {GIVE_UP_ATTEMPTS} attempts" in r.getMessage() for r in caplog.records)


async def test_two_hubs_on_one_broker_keep_their_alert_states_apart(tmp_path: Path, mosquitto: Mosquitto,
                                                                     broker: aiomqtt.Client) -> None:
    """Two hubs, `maison` and `chalet`, each with a `smoke` rule, on one mosquitto: each publishes
    its retained state under its own name, so the chalet acknowledging its alarm does not mark the
    house's as acknowledged (they used to share `chatops/alerts/smoke`)."""
    house = alert_settings(tmp_path / "maison", mosquitto.url)
    chalet = alert_settings(tmp_path / "chalet", mosquitto.url, hub={"name": "chalet"})
    states: dict[str, dict[str, Any]] = {}
    async with hub_with_inbox(house) as (_house, house_inbox), hub_with_inbox(chalet) as (chalet_hub, chalet_inbox), \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe("chatops/+/alerts/smoke")

        async def seen(hub_name: str, state: str) -> None:
            async with asyncio.timeout(10):
                async for message in watcher.messages:
                    states[str(message.topic)] = json.loads(message.payload)
                    if states.get(f"chatops/{hub_name}/alerts/smoke", {}).get("state") == state:
                        return

        await smoke(broker, True)                          # one detector both hubs watch
        for inbox in (house_inbox, chalet_inbox):
            assert (await inbox.next())[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector!")
        await seen("maison", "active")
        await seen("chalet", "active")
        assert await exec_command(chalet_hub, "ack", sender="alice") == \
            "Alert #1 (smoke) acknowledged; reminders stopped."
        await seen("chalet", "acknowledged")
        assert states["chatops/maison/alerts/smoke"]["state"] == "active"


async def test_an_alarm_whose_device_came_back_during_a_restart_ends_after_the_restart(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """The retained state the hub reads as it subscribes (before the alert rules listen) is
    judged too: the detector back to normal while the hub was down ends the alarm after its
    cooldown, instead of reminders of smoke that is gone."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="0.3s", repeat="1h")
    try:
        async with hub_with_inbox(settings) as (hub, inbox):
            await broker.publish(SMOKE, json.dumps({"smoke": True, "battery": 100}), qos=1, retain=True)
            assert (await inbox.next())[1].startswith("[CRITICAL] Smoke")
            await hub.alerts.outbox.settled("loop")          # its delivered mark written
        await broker.publish(SMOKE, json.dumps({"smoke": False, "battery": 100}), qos=1, retain=True)
        async with hub_with_inbox(settings) as (hub, inbox):
            assert (await inbox.next(timeout=5))[1].startswith("[CLEARED]")
            await hub.alerts.settled()
            assert await hub.alerts.active() == []
    finally:
        await broker.publish(SMOKE, b"", qos=1, retain=True)


async def test_an_ack_typed_in_a_room_the_alert_reached_is_not_told_back_to_that_room(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """`!ack` in #room: the room read the answer, then "acknowledged by alice" as well."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:#room", "loop:bob"])
    async with hub_with_inbox(settings) as (hub, inbox):
        await smoke(broker, True)
        told = {(await inbox.next())[0], (await inbox.next())[0]}
        assert told == {"#room", "bob"}
        answer = await exec_command(hub, "!ack", sender="alice", adapter="loop", network="loopback", direct=False)
        assert answer == "Alert #1 (smoke) acknowledged; reminders stopped."
        assert await inbox.next() == ("bob", "Alert #1 (smoke) acknowledged by alice.")
        await hub.alerts.outbox.settled("loop")
        assert [a.target for a, reply in inbox.sent if "acknowledged by" in reply.text] == ["bob"]


def test_a_user_and_their_own_address_in_one_list_are_one_recipient() -> None:
    """`{"to": ["owner", "email:owner@example.org"]}` sent two identical mails."""
    from chatops.recipients import Recipient, one_each
    assert one_each([Recipient("email", "owner@example.org", ""), Recipient("email", "owner@example.org", "owner"),
                     Recipient("irc", "#maison", "")]) == [Recipient("email", "owner@example.org", "owner"),
                                                           Recipient("irc", "#maison", "")]


async def test_smoke_that_goes_on_after_a_mute_ends_is_raised_then(tmp_path: Path, mosquitto: Mosquitto,
                                                                     broker: aiomqtt.Client) -> None:
    """Smoke began while the rule was muted and went on; a detector that reports only changes
    said nothing more, and no alert was ever raised once the mute ended."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], cooldown="0s")
    async with hub_with_inbox(settings) as (hub, inbox):
        assert await exec_command(hub, "mute smoke 1s", sender="alice") == "Alert rule smoke muted for 1s."
        await smoke(broker, True)
        target, text = await inbox.next(timeout=10)
        assert target == "alice" and text.startswith("[CRITICAL] "), text
        assert hub.clock.time() >= hub.alerts.mutes["smoke"], "not before the mute ended"


async def test_a_hub_started_with_its_clock_behind_still_reminds_within_a_period(
        tmp_path: Path, mosquitto: Mosquitto, broker: aiomqtt.Client) -> None:
    """Restarted 90 days behind (a Pi before NTP), the open alert's next reminder was 90 days away."""
    settings = alert_settings(tmp_path, mosquitto.url, notify=["loop:alice"], repeat="30s")
    clock = ManualClock()
    async with hub_with_inbox_on(settings, clock) as (hub, inbox):
        await smoke(broker, True)
        assert (await inbox.next())[1].startswith("[CRITICAL]")
    behind = ManualClock(wall=clock.time() - 90 * 86400, monotonic=50.0)
    async with hub_with_inbox_on(settings, behind) as (hub, inbox):
        await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None)

        def next_repeat() -> float:
            return hub.store.db.execute("SELECT next_repeat FROM alerts WHERE rule = 'smoke'").fetchone()[0]
        await wait_for(lambda: next_repeat() <= behind.time() + 30, timeout=10)
        behind.advance(31)
        assert (await inbox.next(timeout=10))[1].startswith("[REMINDER 1]")
