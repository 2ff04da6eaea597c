"""Durations on monotonic time, schedules on wall time, and a step of the wall clock seen at once."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from chatops.clock import JUMP_CHECK_EVERY, ManualClock, watch_jumps
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for
from chatops.web import LinkStore


def test_a_link_lives_its_ttl_whatever_the_wall_clock_does(tmp_path: Path) -> None:
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(b"\xff\xd8")
    clock = ManualClock()
    links = LinkStore("http://hub", ttl=3600, monotonic=clock.monotonic)
    token = links.publish(picture).split("/")[-2]
    clock.jump(365 * 86400)                    # NTP steps a year forward
    assert links.get(token) is not None
    clock.jump(-2 * 365 * 86400)               # and two back
    assert links.get(token) is not None
    clock.advance(3601)                        # an hour really passed
    assert links.get(token) is None


def test_rate_limits_count_real_time_whatever_the_wall_clock_does(tmp_path: Path) -> None:
    """The hub's one clock reaches the rate limits: a step forward refills no bucket (a flood
    goes on being refused), a step back locks no one out for the length of the step."""
    clock = ManualClock()
    hub = Hub(settings_for(tmp_path, hub={"rate_limit": 2}), clock=clock)
    temp = hub.commands.find("temp")

    def refused() -> bool:
        return hub.access.authorize("irc:stranger", None, temp) is not None

    assert [refused(), refused(), refused()] == [False, False, True]
    clock.jump(86400)
    assert refused()                           # a day "passed" on the wall clock: still limited
    clock.jump(-2 * 86400)
    clock.advance(60)                          # a real minute: the bucket refilled, the step ignored
    assert not refused()


async def test_the_watcher_tells_steps_not_drift() -> None:
    clock = ManualClock()
    seen: list[float] = []
    watcher = asyncio.create_task(watch_jumps(clock, seen.append))
    await asyncio.sleep(0)
    clock.jump(1.0)                           # a second of drift: not a jump
    clock.advance(JUMP_CHECK_EVERY)
    await asyncio.sleep(0)
    clock.jump(-600)
    clock.advance(JUMP_CHECK_EVERY)
    await asyncio.sleep(0)
    watcher.cancel()
    assert seen == [-600.0]


def hub_on(tmp_path: Path, mosquitto: Mosquitto, clock: ManualClock, rule: dict[str, Any], **more: Any) -> Hub:
    """A hub on `clock` with one alert rule, told through the loopback network `loop`."""
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}}, web={"user": None},
                            **{"automations": [], **more})
    return Hub(settings, tty=False, clock=clock)


@pytest.mark.servers
async def test_an_alert_cooldown_ignores_a_clock_step(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A `changed` rule with a 1 h cooldown: the wall clock stepping a day forward does not end it."""
    clock = ManualClock(wall=time.time())
    rule = {"name": "door", "device": "hall_motion", "when": "changed", "message": "{device}: {value}",
            "severity": "info", "notify": ["loop:bob"], "cooldown": "1h"}
    hub = hub_on(tmp_path, mosquitto, clock, rule)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        inbox = hub.adapters["loop"]
        for occupied in (False, True):
            await device.publish("zigbee2mqtt/hall_motion", json.dumps({"occupancy": occupied}), qos=1)
            await wait_for(lambda o=occupied: hub.home.devices["hall_motion"].reading is not None
                           and hub.home.devices["hall_motion"].reading.value is o)
        first = await inbox.next(10)
        assert first[1].startswith("hall motion: detected (alert #1"), first      # info: said without a tag
        clock.jump(86400)
        await device.publish("zigbee2mqtt/hall_motion", json.dumps({"occupancy": False}), qos=1)
        await wait_for(lambda: hub.home.devices["hall_motion"].reading.value is False)
        with pytest.raises(TimeoutError):            # within the hour's cooldown: nothing raised
            await inbox.next(1.0)
        # Back two days: the cooldown does not now seem to last two days more. An hour later on
        # the monotonic clock, the next change is told.
        clock.jump(-2 * 86400)
        clock.advance(3601)
        await device.publish("zigbee2mqtt/hall_motion", json.dumps({"occupancy": True}), qos=1)
        told = await inbox.next(10)
        assert told[1].startswith("hall motion: detected (alert #"), told


@pytest.mark.servers
async def test_reminders_months_overdue_send_one_not_a_burst(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Reminders are stored on wall time (they survive a restart). After NTP steps the hub's clock
    forward by months, an open alert looks 90 days overdue: it gets one reminder, and the next
    one is an hour from now, not one per missed hour. A step back sends nothing twice, and the
    next reminder moves back with it: an hour after the last one in real time, not the hour plus
    the step (once, ten minutes back meant seventy minutes of silence)."""
    clock = ManualClock(wall=time.time())
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the {device}!",
            "severity": "critical", "notify": ["loop:bob"], "repeat": "1h"}
    hub = hub_on(tmp_path, mosquitto, clock, rule)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        inbox = hub.adapters["loop"]
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert (await inbox.next(10))[1].startswith("[CRITICAL] Smoke in the kitchen smoke detector! (alert #1")

        async def quiet() -> None:
            await hub.alerts.outbox.settled("loop")
            with pytest.raises(TimeoutError):
                await inbox.next(0.5)

        clock.jump(90 * 86400)                          # NTP: three months forward
        clock.advance(JUMP_CHECK_EVERY)                 # the hub's watcher sees the step
        assert (await inbox.next(10))[1].startswith("[REMINDER 1] Smoke in the kitchen smoke detector!")
        await quiet()
        store = hub.store
        (next_repeat,) = await store.call(lambda: store.db.execute("SELECT next_repeat FROM alerts").fetchone())
        assert next_repeat >= clock.time() + 3600 - JUMP_CHECK_EVERY
        clock.jump(-600)                                # then ten minutes back
        clock.advance(JUMP_CHECK_EVERY)                 # the watcher sees it: the reminder moves with it
        await wait_for(lambda: hub.clock_jumps == 2)
        await asyncio.gather(*[t for t in hub.tasks if t.get_name() == "clock-stepped-back"])
        (moved,) = await store.call(lambda: store.db.execute("SELECT next_repeat FROM alerts").fetchone())
        assert moved == pytest.approx(next_repeat - 600)
        clock.advance(3600 - 3 * JUMP_CHECK_EVERY)      # not yet an hour of real time since the last
        await quiet()
        clock.advance(2 * JUMP_CHECK_EVERY + 1)
        assert (await inbox.next(10))[1].startswith("[REMINDER 2] Smoke in the kitchen smoke detector!")
        await quiet()


@pytest.mark.servers
async def test_a_forward_step_makes_no_device_look_silent_nor_ends_a_held_state_early(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A Pi without a real-time clock: the hub hears the salon and the gate close, then NTP steps
    the clock 90 days forward. 30 s later neither the `offline 1m` alert rule nor the `off for
    10m` automation acts (their waits are on monotonic time), and no reading looks 90 days old;
    each acts when its time has really passed."""
    clock = ManualClock(wall=time.time())
    rule = {"name": "silent", "device": "salon", "when": "offline 1m", "message": "{device} silent",
            "severity": "warning", "notify": ["loop:bob"]}
    automation = {"name": "gate shut", "when": "gate off for 10m", "do": ["read gate"], "notify": ["loop:watch"],
                  "owner": "owner"}
    hub = hub_on(tmp_path, mosquitto, clock, rule, automations=[automation],
                 devices={"gate": {"type": "binary_sensor", "topic": "test/gate", "value": "open"}})
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        inbox = hub.adapters["loop"]
        await device.publish("zigbee2mqtt/salon", json.dumps({"temperature": 20.0}), qos=1)
        await device.publish("test/gate", json.dumps({"open": False}), qos=1)
        await wait_for(lambda: hub.home.devices["salon"].reading is not None
                       and hub.home.devices["gate"].reading is not None)
        await hub.automations.settled()
        heard = hub.home.devices["gate"].reading.at
        clock.jump(90 * 86400)
        clock.advance(30)
        await hub.automations.settled()
        with pytest.raises(TimeoutError):
            await inbox.next(0.5)
        # Heard before the step, dated by the wrong clock: moved with it, not shown 90 days stale.
        assert hub.home.devices["gate"].reading.at == heard + 90 * 86400
        assert not hub.home.devices["gate"].is_stale(clock.time())
        # Nor is the hub, or its link to the broker, "up 90d" (once measured on the wall clock).
        status = await exec_command(hub, "status")
        assert status.startswith("maison up 3") and "90d" not in status, status
        assert (await hub.metrics.exposition()).decode().count("chatops_uptime_seconds 3") == 1
        clock.advance(31)
        assert (await inbox.next(10)) == ("bob", "[WARNING] salon silent (alert #1; answer ack 1)")
        clock.advance(600)
        assert (await inbox.next(10))[1] == "Automation 'gate shut' (gate off for 10m): gate: clear"


@pytest.mark.servers
async def test_history_dated_by_a_clock_that_ran_ahead_is_not_the_newest(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A Pi boots ten days ahead and records the salon at 30 °C; NTP steps it back; the salon
    then says 18 °C. `history salon` gives 18 °C as the last value: the point dated in what is
    now the future is neither the newest nor counted in the last 24 hours."""
    clock = ManualClock(wall=time.time() + 10 * 86400)
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "notify": ["loop:bob"]}
    hub = hub_on(tmp_path, mosquitto, clock, rule)
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish("zigbee2mqtt/salon", json.dumps({"temperature": 30.0}), qos=1)
        await wait_for(lambda: hub.home.devices["salon"].reading is not None)
        await hub.history.flush()
        clock.jump(-10 * 86400)                        # NTP: back to the real date
        clock.advance(JUMP_CHECK_EVERY)
        await wait_for(lambda: hub.clock_jumps == 1)
        await device.publish("zigbee2mqtt/salon", json.dumps({"temperature": 18.0}), qos=1)
        await wait_for(lambda: hub.home.devices["salon"].reading.value == 18.0)
        await hub.history.flush()
        answer = await exec_command(hub, "history salon")
        assert answer == "salon, last 24h: min 18.0 °C, avg 18.0 °C, max 18.0 °C; last 18.0 °C (1 reading)", answer
