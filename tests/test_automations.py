"""Automations against a real mosquitto and the simulator: every trigger form, `for` across a
restart (injected clock), only_if, schedules, the loop guard, enable/disable, `chatops check`."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiomqtt
import pytest

from chatops.clock import JUMP_CHECK_EVERY, ManualClock
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for, write_demo_config

pytestmark = pytest.mark.servers
PARIS = ZoneInfo("Europe/Paris")
DEVICES = {"probe": {"type": "sensor", "topic": "test/probe", "value": "temperature", "unit": "°C"},
           "gate": {"type": "binary_sensor", "topic": "test/gate", "value": "open"}}


# Two automations that undo each other's work on one light: the loop guard's case.
FIGHTING = [{"name": "fight on", "when": "hall_light off", "do": ["switch hall_light on"], "owner": "owner",
             "max_runs_per_minute": 3},
            {"name": "fight off", "when": "hall_light on", "do": ["switch hall_light off"], "owner": "owner",
             "max_runs_per_minute": 3}]


def hub_for(tmp_path: Path, mosquitto: Mosquitto, automations: list[dict[str, Any]],
            clock: ManualClock | None = None) -> Hub:
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True, "motion_clear": "1s"},
                            adapters={"loopback": {"name": "loop"}}, devices=DEVICES, automations=automations)
    return Hub(settings, tty=False, clock=clock)


@contextlib.asynccontextmanager
async def started(hub: Hub) -> AsyncIterator[Hub]:
    async with running(hub) as running_hub:
        await wait_for(lambda: hub.home.devices["hall_light"].reading is not None)
        yield running_hub


async def publish(mosquitto: Mosquitto, topic: str, payload: dict[str, Any], retain: bool = False) -> None:
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish(topic, json.dumps(payload), qos=1, retain=retain)


async def reading(hub: Hub, mosquitto: Mosquitto, device: str, payload: dict[str, Any], value: Any,
                  retain: bool = False) -> None:
    """Publish a device's state, wait until the hub has it and the automations have judged it."""
    await publish(mosquitto, hub.home.devices[device].settings.topic or "", payload, retain)
    await wait_for(lambda: hub.home.devices[device].reading is not None
                   and hub.home.devices[device].reading.value == value)
    await hub.automations.settled()


def told(hub: Hub) -> list[str]:
    return [reply.text for _, reply in hub.adapters["loop"].sent]  # type: ignore[attr-defined]


async def test_hall_light_follows_motion_and_goes_off_after_a_quiet_while(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    autos = [{"name": "hall light", "when": "hall_motion on", "do": ["switch hall_light on"], "owner": "owner"},
             {"name": "hall light off", "when": "hall_motion off for 2s", "do": ["switch hall_light off"],
              "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        light = hub.home.devices["hall_light"]
        assert light.reading.value is False
        moved = time.monotonic()
        assert await exec_command(hub, "simulate motion") == \
            "Simulated motion in the hall; hall motion reports it (it clears by itself after 1s)."
        await wait_for(lambda: light.reading.value is True)
        await wait_for(lambda: light.reading.value is False, timeout=15)
        assert time.monotonic() - moved > 2.9, "off only once the hall was quiet for 2 s"
        audit = await hub.store.audit_entries("automation")
        assert [(a["sender"], a["detail"]) for a in audit] == [
            ("automation:hall light", "hall_motion on (detected): hall light is ON"),
            ("automation:hall light off", "hall_motion off for 2s: hall light is OFF")]
        listed = await exec_command(hub, "automations")
        assert "hall light [enabled] when hall_motion on -> switch hall_light on as owner; last " in listed


async def test_a_threshold_fires_on_crossing_with_hysteresis(tmp_path: Path, mosquitto: Mosquitto) -> None:
    autos = [{"name": "frost", "when": "probe < 19", "hysteresis": 0.5, "do": ["read probe"],
              "notify": ["loop:watch"], "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        for value in (20.0, 18.9, 18.5, 19.2, 18.7, 19.6, 18.8, 18.0):
            await reading(hub, mosquitto, "probe", {"temperature": value}, value)
        await wait_for(lambda: len(told(hub)) >= 2)
        assert told(hub) == ["Automation 'frost' (probe < 19 (18.9 °C)): probe: 18.9 °C",
                             "Automation 'frost' (probe < 19 (18.8 °C)): probe: 18.8 °C"]
        assert hub.automations.runs == 2, "19.2 is inside the band: no new crossing until 19.5"


async def test_a_threshold_already_passed_when_first_seen_fires_once_not_at_every_restart(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`probe < 19` added while the room is at 17 °C: the level to keep is missed now, so it fires
    at once (not after the room warms past 19.5 and cools again). Restarted in the same cold
    room, the remembered state says nothing crossed: it does not fire again."""
    autos = [{"name": "frost", "when": "probe < 19", "hysteresis": 0.5, "do": ["read probe"],
              "notify": ["loop:watch"], "owner": "owner"}]
    await publish(mosquitto, "test/probe", {"temperature": 17.0}, retain=True)
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await wait_for(lambda: told(hub) == ["Automation 'frost' (probe < 19 (17.0 °C)): probe: 17.0 °C"])
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await wait_for(lambda: hub.home.devices["probe"].reading is not None)
        await hub.automations.settled()
        assert told(hub) == [] and hub.automations.runs == 0
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:    # no retained probe for other tests
        await client.publish("test/probe", b"", qos=1, retain=True)


async def test_changed_and_offline_triggers(tmp_path: Path, mosquitto: Mosquitto) -> None:
    autos = [{"name": "gate moved", "when": "gate changed", "do": ["read gate"], "notify": ["loop:watch"],
              "owner": "owner"},
             {"name": "probe silent", "when": "probe offline 2s", "do": ["read probe"], "notify": ["loop:watch"],
              "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await reading(hub, mosquitto, "probe", {"temperature": 21.0}, 21.0)
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        await wait_for(lambda: any(t.startswith("Automation 'gate moved'") for t in told(hub)))
        await wait_for(lambda: any(t.startswith("Automation 'probe silent' (probe silent for 2s)") for t in told(hub)))
        assert [t for t in told(hub) if "gate moved" in t] == ["Automation 'gate moved' (gate changed to detected): gate: detected"]


async def test_an_offline_trigger_follows_what_a_device_says_of_itself(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`plug offline 2s` on a device with an availability topic: quiet for ten minutes it is
    still there (a Zigbee2MQTT plug reports only changes); said offline, it fires after 2 s, once;
    said online again, the next time counts anew."""
    plug = {"type": "switch", "topic": "test/plug", "command_topic": "test/plug/set", "value": "state",
            "availability_topic": "test/plug/availability"}
    autos = [{"name": "plug gone", "when": "plug offline 2s", "do": ["read plug"], "notify": ["loop:watch"],
              "owner": "owner"}]
    clock = ManualClock()
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, devices={**DEVICES, "plug": plug},
                            automations=autos)
    async with started(Hub(settings, tty=False, clock=clock)) as hub:
        await publish(mosquitto, "test/plug/availability", {"state": "online"})
        await reading(hub, mosquitto, "plug", {"state": "ON"}, True)
        clock.advance(600)
        await hub.automations.settled()
        assert hub.automations.runs == 0
        await publish(mosquitto, "test/plug/availability", {"state": "offline"})
        await wait_for(lambda: hub.home.devices["plug"].offline_since is not None)
        await hub.automations.settled()
        clock.advance(1)
        await hub.automations.settled()
        assert hub.automations.runs == 0
        clock.advance(1.5)
        await wait_for(lambda: any(t.startswith("Automation 'plug gone' (plug offline for 2s)") for t in told(hub)))
        clock.advance(60)
        await hub.automations.settled()
        assert hub.automations.runs == 1
        await publish(mosquitto, "test/plug/availability", {"state": "online"})
        await wait_for(lambda: not hub.automations.by_name["plug gone"].holding)


async def test_for_is_kept_across_a_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`door on for 10m`: the door opened at 10:00, the hub restarted at 10:08; it fires at 10:10."""
    autos = [{"name": "gate left open", "when": "gate on for 10m", "do": ["read gate"],
              "notify": ["loop:watch"], "owner": "owner"}]
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False, retain=True)
        await reading(hub, mosquitto, "gate", {"open": True}, True, retain=True)
        assert hub.automations.by_name["gate left open"].since == clock.time()
    clock.jump(8 * 60)
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await wait_for(lambda: hub.home.devices["gate"].reading is not None)     # the retained state
        await hub.automations.settled()
        clock.advance(119)
        await hub.automations.settled()
        assert hub.automations.runs == 0
        clock.advance(2)
        await wait_for(lambda: told(hub) == ["Automation 'gate left open' (gate on for 10m): gate: detected"])
    await publish(mosquitto, "test/gate", {"open": False}, retain=True)


async def test_enabled_again_while_its_condition_holds_it_is_rearmed(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The gate stayed open for 10 minutes while `gate left open` was disabled: enabled again,
    its hold counts again from then (it does not wait for the gate to close and reopen); a
    threshold without `for` that was crossed while off fires at once."""
    autos = [{"name": "gate left open", "when": "gate on for 10m", "do": ["read gate"],
              "notify": ["loop:watch"], "owner": "owner"},
             {"name": "frost", "when": "probe < 19", "do": ["read probe"], "notify": ["loop:watch"], "owner": "owner"}]
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "probe", {"temperature": 20.0}, 20.0)
        assert await exec_command(hub, "disable gate left open") == "Automation 'gate left open' disabled."
        assert await exec_command(hub, "disable frost") == "Automation 'frost' disabled."
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        await reading(hub, mosquitto, "probe", {"temperature": 17.0}, 17.0)
        clock.advance(11 * 60)
        await hub.automations.settled()
        assert told(hub) == [] and hub.automations.runs == 0
        assert await exec_command(hub, "enable frost") == "Automation 'frost' enabled."
        await wait_for(lambda: told(hub) == ["Automation 'frost' (probe < 19 (enabled again while it holds)): "
                                             "probe: 17.0 °C"])
        assert await exec_command(hub, "enable gate left open") == "Automation 'gate left open' enabled."
        await hub.automations.settled()
        clock.advance(9 * 60)
        await hub.automations.settled()
        assert len(told(hub)) == 1, "the hold counts from the enable"
        clock.advance(61)
        await wait_for(lambda: told(hub)[1:] == ["Automation 'gate left open' (gate on for 10m): gate: detected "
                                                 "(stale: 21m old)"])
    await publish(mosquitto, "test/gate", {"open": False}, retain=True)


async def test_a_pending_for_ends_on_time_after_a_restart_without_a_retained_state(tmp_path: Path,
                                                                                  mosquitto: Mosquitto) -> None:
    """The gate does not retain its state (Zigbee2MQTT's default): after the restart at 10:08 it
    says nothing, and the `for` still ends at 10:10 on the state remembered."""
    autos = [{"name": "gate left open", "when": "gate on for 10m", "do": ["simulate smoke off"],
              "notify": ["loop:watch"], "owner": "owner"}]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish("test/gate", b"", qos=1, retain=True)        # no retained state left by others
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
    clock.jump(8 * 60)
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await hub.automations.settled()
        assert hub.home.devices["gate"].reading is None
        clock.advance(119)
        await hub.automations.settled()
        assert hub.automations.runs == 0
        clock.advance(2)
        await wait_for(lambda: len(told(hub)) == 1)
        assert told(hub)[0].startswith("Automation 'gate left open' (gate on for 10m): "), told(hub)


async def test_a_pending_for_ends_on_time_when_the_hub_restarts_on_a_wrong_clock(tmp_path: Path,
                                                                                 mosquitto: Mosquitto) -> None:
    """A Pi without a real-time clock restarts a month behind, then NTP steps it right: the
    remembered hold (gate open since 10:00, `for 10m`) ends at 10:10 on the corrected clock, not
    a month later."""
    autos = [{"name": "gate left open", "when": "gate on for 10m", "do": ["simulate smoke off"],
              "notify": ["loop:watch"], "owner": "owner"}]
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish("test/gate", b"", qos=1, retain=True)
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
    month = 30 * 86400
    clock.jump(8 * 60 - month)                      # 10:08, but the boot clock says a month earlier
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await hub.automations.settled()
        clock.jump(month)                           # NTP: 10:08 on the right day
        clock.advance(JUMP_CHECK_EVERY)
        await wait_for(lambda: hub.clock_jumps == 1)
        await hub.automations.settled()
        assert hub.automations.runs == 0
        clock.advance(120 - JUMP_CHECK_EVERY + 1)  # 10:10 and a second
        await wait_for(lambda: len(told(hub)) == 1)
        assert told(hub)[0].startswith("Automation 'gate left open' (gate on for 10m): "), told(hub)


async def test_a_pending_for_is_cancelled_when_the_condition_stops(tmp_path: Path, mosquitto: Mosquitto) -> None:
    autos = [{"name": "gate left open", "when": "gate on for 1m", "do": ["read gate"], "owner": "owner"}]
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, autos, clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        clock.advance(50)
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        clock.advance(60)
        await hub.automations.settled()
        assert hub.automations.runs == 0


async def test_only_if_checks_devices_and_schedules_run_automations(tmp_path: Path, mosquitto: Mosquitto) -> None:
    autos = [{"name": "hot", "when": "probe > 30", "only_if": ["hall_light on", "between 00:00 and 23:59", "entre 0h et 23h59"],
              "do": ["read probe"], "notify": ["loop:watch"], "owner": "owner"},
             {"name": "tick", "at": "every 1s", "do": ["read salon"], "notify": ["loop:tick"], "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await reading(hub, mosquitto, "probe", {"temperature": 20.0}, 20.0)
        await reading(hub, mosquitto, "probe", {"temperature": 31.0}, 31.0)
        assert hub.automations.by_name["hot"].last_result == "skipped: hall_light on is not true (hall light is OFF)"
        assert await exec_command(hub, "switch hall_light on") == "hall light is ON"
        await reading(hub, mosquitto, "probe", {"temperature": 20.0}, 20.0)
        await reading(hub, mosquitto, "probe", {"temperature": 32.0}, 32.0)
        await wait_for(lambda: "Automation 'hot' (probe > 30 (32.0 °C)): probe: 32.0 °C" in told(hub))
        await wait_for(lambda: any(t.startswith("Automation 'tick' (schedule every 1s): salon: ") for t in told(hub)))
        listed = await exec_command(hub, "automations")
        tick = next(line for line in listed.splitlines() if line.startswith("tick "))
        assert re.fullmatch(r"tick \[enabled\] every 1s -> read salon as owner; last \d\d:\d\d:\d\d \(salon: .*\); "
                            r"next \d\d:\d\d:\d\d", tick), tick          # a schedule says when it runs next


async def test_a_window_that_blocks_a_bare_off_and_the_default_owner(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`only_if = ["between 22:00 and 06:00"]` at noon: skipped, said in `automations` and audited
    as automation-skipped; at 23:00 it runs. `gate off` fires on the edge to OFF. Neither names an
    owner: `[automations_defaults] owner` runs them."""
    autos = [{"name": "night", "when": "gate on", "only_if": ["between 22:00 and 06:00"], "do": ["read gate"],
              "notify": ["loop:watch"]},
             {"name": "shut", "when": "gate off", "do": ["read gate"], "notify": ["loop:watch"]}]
    clock = ManualClock(wall=datetime(2026, 6, 1, 12, 0, tzinfo=PARIS).timestamp())
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, devices=DEVICES, automations=autos,
                            automations_defaults={"owner": "owner"}, hub={"timezone": "Europe/Paris"})
    async with started(Hub(settings, tty=False, clock=clock)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        assert hub.automations.by_name["night"].last_result == "skipped: not between 22:00 and 06:00"
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await wait_for(lambda: told(hub) == ["Automation 'shut' (gate off (clear)): gate: clear"])
        clock.jump(11 * 3600)                                   # 23:00
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        await wait_for(lambda: told(hub)[-1] == "Automation 'night' (gate on (detected)): gate: detected")
        await hub.audit.flush(everything=True)
        skipped = await hub.store.audit_entries("automation-skipped")
        assert [e["sender"] for e in skipped] == ["automation:night"]
        assert "as owner" in (await exec_command(hub, "automations"))
    await publish(mosquitto, "test/gate", {"open": False}, retain=True)


async def test_the_loop_guard_stops_an_automation_that_triggers_itself(tmp_path: Path,
                                                                       mosquitto: Mosquitto) -> None:
    autos = [{"name": "flicker", "when": "hall_light changed", "do": ["switch hall_light toggle"],
              "owner": "owner", "max_runs_per_minute": 3}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await exec_command(hub, "switch hall_light on")
        flicker = hub.automations.by_name["flicker"]
        await wait_for(lambda: flicker.stopped is not None, timeout=20)
        await hub.automations.settled()         # `stopped` is set before its warning is queued
        assert hub.automations.runs == 3
        assert "flicker [stopped: ran 3 times within a minute]" in await exec_command(hub, "automations")
        store = hub.store
        # An alert to its owner: listed, repeated until acknowledged, closed by `enable`.
        [alert] = await hub.alerts.active()
        assert alert["message"] == ("Automation 'flicker' ran 3 times within a minute and was stopped (does it "
                                    "trigger itself?). Say enable flicker to start it again."), alert
        rows = await store.call(lambda: store.db.execute(
            "SELECT recipient, text FROM deliveries WHERE kind = 'raise'").fetchall())
        assert ("owner", f"[WARNING] {alert['message']} (alert #{alert['id']}; answer ack {alert['id']})") in rows, rows
        assert [a["kind"] for a in await store.audit_entries("automation-stopped")] == ["automation-stopped"]
        assert await exec_command(hub, "enable flicker") == "Automation 'flicker' enabled."
        assert flicker.stopped is None
        listed = await exec_command(hub, "automations")
        assert "flicker [enabled]" in listed and "stopped" not in listed, "no stale stop reason once enabled"
        assert await hub.alerts.active() == [], "enabled again: its alert is over"
        closed = await store.call(lambda: store.db.execute(
            "SELECT text FROM deliveries WHERE kind = 'clear'").fetchall())
        assert (f"[RESOLVED] Automation 'flicker' was enabled again. (alert #{alert['id']})",) in closed, closed
        # Over: an ack no longer says "reminders stopped" of an alert that has none.
        assert await exec_command(hub, f"ack {alert['id']}") == \
            f"Alert #{alert['id']} is over already (resolved, or a message told once): nothing to acknowledge."


async def test_two_automations_undoing_each_other_are_named_together(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`hall_light off` -> on and `hall_light on` -> off: the loop guard stops one, and its
    warning names the other instead of asking whether it triggers itself."""
    async with started(hub_for(tmp_path, mosquitto, FIGHTING)) as hub:
        await exec_command(hub, "switch hall_light on")
        await wait_for(lambda: any(a.stopped for a in hub.automations.by_name.values()), timeout=20)
        await hub.automations.settled()         # `stopped` is set before its warning is queued
        store = hub.store
        texts = [r[0] for r in await store.call(lambda: store.db.execute(
            "SELECT text FROM deliveries WHERE kind = 'raise'").fetchall())]
        warning = next(t for t in texts if "was stopped" in t)
        assert "drive each other's device" in warning and "trigger itself" not in warning, warning
        assert "'fight on'" in warning and "'fight off'" in warning, warning


def test_an_automation_that_only_reads_a_device_is_no_rival(tmp_path: Path) -> None:
    """Two automations whose lines `read salon` drive nothing: a stopped one was once said to
    fight the other over the salon ("drive each other's device") instead of triggering itself."""
    autos = [{"name": "loop", "when": "salon changed", "do": ["read salon"], "owner": "owner"},
             {"name": "hot", "when": "salon > 0", "do": ["read salon"], "owner": "owner"},
             {"name": "heat", "when": "salon < 15", "do": ["chauffage on"], "owner": "owner"},
             {"name": "cool", "when": "heater on", "do": ["set salon 12"], "owner": "owner"}]
    hub = Hub(settings_for(tmp_path / "data", automations=autos), tty=False)
    rivals = hub.automations._rivals
    assert rivals(hub.automations.by_name["loop"]) == []
    assert rivals(hub.automations.by_name["heat"]) == ["cool"], "a switch and a set each drive the other's device"


async def test_disable_survives_a_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    autos = [{"name": "hall light", "when": "hall_motion on", "do": ["switch hall_light on"], "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        assert await exec_command(hub, "disable Hall Light") == "Automation 'hall light' disabled."
        # In the quotes answers show it in (they were taken as part of the name), and from a timer.
        assert await exec_command(hub, "enable 'hall light'") == "Automation 'hall light' enabled."
        assert (await exec_command(hub, "in 1h désactive ‘Hall Light’")).startswith("Timer #1: ")
        assert await exec_command(hub, "disable 'hall light'") == "Automation 'hall light' disabled."
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        assert (await exec_command(hub, "automations")).startswith("hall light [disabled] when hall_motion on")
        await exec_command(hub, "simulate motion")
        await hub.automations.settled()
        assert hub.automations.runs == 0 and hub.home.devices["hall_light"].reading.value is False
        assert await exec_command(hub, "enable hall light") == "Automation 'hall light' enabled."
        await exec_command(hub, "simulate motion off")
        await exec_command(hub, "simulate motion")
        await wait_for(lambda: hub.home.devices["hall_light"].reading.value is True)


async def test_enable_of_one_shipped_disabled_survives_a_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`enabled = false` in config.toml, `enable` from chat: the next start keeps it enabled."""
    autos = [{"name": "hall light", "when": "hall_motion on", "do": ["switch hall_light on"], "owner": "owner",
              "enabled": False}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        assert (await exec_command(hub, "automations")).startswith("hall light [disabled] when hall_motion on")
        assert await exec_command(hub, "enable hall light") == "Automation 'hall light' enabled."
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        assert (await exec_command(hub, "automations")).startswith("hall light [enabled] when hall_motion on")
        await exec_command(hub, "simulate motion")
        await wait_for(lambda: hub.home.devices["hall_light"].reading.value is True)


async def test_fixing_config_brings_a_stopped_automation_back(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A typo in `do` stops the automation (and says why); once config.toml is fixed, the next
    start runs it: the old reason is not kept in the database (only the loop guard's is)."""
    broken = [{"name": "hall light", "when": "hall_motion on", "do": ["swich hall_light on"], "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, broken)) as hub:
        assert (await exec_command(hub, "automations")).startswith(
            "hall light [do 'swich hall_light on': 'swich' is not a command")
    fixed = [{**broken[0], "do": ["switch hall_light on"]}]
    async with started(hub_for(tmp_path, mosquitto, fixed)) as hub:
        assert (await exec_command(hub, "automations")).startswith("hall light [enabled] when hall_motion on")
        await exec_command(hub, "simulate motion")
        await wait_for(lambda: hub.home.devices["hall_light"].reading.value is True)


async def test_enabled_again_after_the_loop_guard_it_does_what_it_was_stopped_from(tmp_path: Path,
                                                                                 mosquitto: Mosquitto) -> None:
    """The loop guard refused a run while the condition held: `enable` makes it, as after a
    `disable` (it said "enabled" and left the light as it was)."""
    async with started(hub_for(tmp_path, mosquitto, FIGHTING)) as hub:
        await exec_command(hub, "switch hall_light on")
        await wait_for(lambda: any(a.stopped for a in hub.automations.by_name.values()), timeout=20)
        await hub.automations.settled()
        stopped = next(a for a in hub.automations.by_name.values() if a.stopped)
        other = next(a for a in hub.automations.by_name.values() if a is not stopped)
        await exec_command(hub, f"disable {other.name}")
        await hub.automations.settled()
        light = hub.home.devices["hall_light"]
        wanted = stopped.name == "fight on"
        if light.reading is not None and light.reading.value is wanted:     # the other had the last word
            await exec_command(hub, f"switch hall_light {'off' if wanted else 'on'}")
            await hub.automations.settled()
        assert await exec_command(hub, f"enable {stopped.name}") == f"Automation '{stopped.name}' enabled."
        await wait_for(lambda: light.reading is not None and light.reading.value is wanted, timeout=10)


async def test_what_an_automations_command_says_later_goes_to_its_notify(tmp_path: Path,
                                                                        mosquitto: Mosquitto) -> None:
    """`do = ["switch heater on for 1s"]`: the switch-back is a timer whose result has no chat to
    answer in; it goes where the automation's runs are told, not to a network called automation."""
    autos = [{"name": "boost", "when": "gate on", "do": ["switch heater on for 1s"], "notify": ["loop:watch"],
              "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        await wait_for(lambda: len(told(hub)) == 2, timeout=15)
        first, later = told(hub)
        assert first.startswith("Automation 'boost' (gate on (detected)): heater is ON until "), first
        assert later == "Automation 'boost': Timer #1 (switch heater on for 1s): heater is OFF", later
        assert await hub.alerts.outbox.waiting() == {}


async def test_a_run_that_fails_is_told_to_its_owner_without_notify(tmp_path: Path, mosquitto: Mosquitto,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    """A typo in `do` (a device discovery never brought) or a device that does not confirm: the
    run failed, and its owner hears it though the automation has no `notify` (it was only in
    `automations`). A run that works stays quiet."""
    autos = [{"name": "typo", "when": "gate on", "do": ["switch heatr on"], "owner": "owner"},
             {"name": "quiet", "when": "gate on", "do": ["switch heater on"], "owner": "owner"}]
    async with started(hub_for(tmp_path, mosquitto, autos)) as hub:
        await reading(hub, mosquitto, "gate", {"open": False}, False)
        await reading(hub, mosquitto, "gate", {"open": True}, True)
        await wait_for(lambda: hub.home.devices["heater"].reading is not None
                       and hub.home.devices["heater"].reading.value is True)
        await hub.automations.settled()
        store = hub.store
        rows = await store.call(lambda: store.db.execute(
            "SELECT recipient, text FROM deliveries WHERE kind = 'automation'").fetchall())
        assert rows == [("owner", "Automation 'typo' (gate on (detected)): No device called 'heatr'. Did you mean heater?")]
        assert "automation typo (gate on (detected)) did not do it all: No device called 'heatr'" in caplog.text


def check(tmp_path: Path, extra: str) -> subprocess.CompletedProcess[str]:
    config = write_demo_config(tmp_path, extra=extra)
    return subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                          capture_output=True, text=True, timeout=60)


def test_check_accepts_the_shipped_automations(tmp_path: Path) -> None:
    result = check(tmp_path, "")
    assert result.returncode == 0, result.stderr
    assert "automations: hall light, hall light off, frost guard" in result.stdout


@pytest.mark.parametrize(("extra", "says"), [
    ('[users.kid]\nroles = ["guest"]\n[[automations]]\nname = "kid heater"\nwhen = "chambre < 15"\n'
     'do = ["switch heater on"]\nowner = "kid"\n', "kid heater: do 'switch heater on': Sorry, kid may not use switch."),
    ('[[automations]]\nname = "typo"\nwhen = "chambre < 15"\ndo = ["swich heater on"]\n',
     "typo: do 'swich heater on': 'swich' is not a command"),
    ('[[automations]]\nname = "short"\nwhen = "chambre < 15"\ndo = ["read"]\n',
     "short: do 'read': Missing device. Usage: read DEVICE"),
    ('[[automations]]\nname = "hot"\nwhen = "chambre < 15"\ndo = ["thermostat 45"]\n',
     "hot: do 'thermostat 45': thermostat takes 5 to 30 °C in steps of 0.5; 45 is out of range."),
    ('[[automations]]\nname = "tell"\nwhen = "chambre < 15"\ndo = ["read salon"]\nnotify = ["bobb"]\n',
     "(tell).notify: 'bobb' is neither a user name nor an address"),
])
def test_check_refuses_commands_the_owner_may_not_run_or_that_do_not_parse(tmp_path: Path, extra: str,
                                                                           says: str) -> None:
    result = check(tmp_path, extra)
    assert result.returncode == 2, result.stdout
    assert says in result.stderr


def test_check_warns_of_a_device_the_config_lacks_in_do(tmp_path: Path) -> None:
    # A typo, or a device discovery brings later: said, and the file is still valid.
    extra = '[[automations]]\nname = "frost"\nwhen = "chambre < 5"\ndo = ["switch heatr on"]\n'
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config",
                             str(write_demo_config(tmp_path, extra=extra))], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    warning = next(line for line in result.stderr.splitlines() if "heatr" in line)
    assert warning.startswith("warning: automations: frost: do 'switch heatr on': ") and "heater" in warning
    assert warning.endswith("(fine if MQTT discovery brings it)")


def test_check_refuses_a_timed_switch_whose_owner_may_not_set_timers(tmp_path: Path) -> None:
    """`switch heater on for 2h` sets a timer to switch back: an owner allowed to switch but not
    to schedule could never run it, so `chatops check` says so instead of the first run."""
    extra = ('[users.sw]\nroles = ["switcher"]\n[[automations]]\nname = "boost"\nwhen = "chambre < 15"\n'
             'do = ["switch heater on for 2h", "allume chauffage 2h"]\nowner = "sw"\n')
    config = write_demo_config(tmp_path, extra=extra)
    config.write_text(config.read_text().replace("[roles]\n", '[roles]\nswitcher = ["guest", "switch"]\n', 1))
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stdout
    assert ("boost: do 'switch heater on for 2h': Sorry, sw may not use in (it needs the schedule permission). None of "
            "their roles grants schedule: an admin can add it to one in [roles] of config.toml. (switch heater on for "
            "2h needs it too: it sets a timer)") in result.stderr
    assert "boost: do 'allume chauffage 2h': Sorry, sw may not use in (it needs the schedule permission)." in result.stderr
    (tmp_path / "fine").mkdir()
    fine = write_demo_config(tmp_path / "fine", extra=extra.replace(' for 2h", "allume chauffage 2h"', '"'))
    fine.write_text(fine.read_text().replace("[roles]\n", '[roles]\nswitcher = ["guest", "switch"]\n', 1))
    assert subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(fine)],
                          capture_output=True, text=True, timeout=60).returncode == 0
