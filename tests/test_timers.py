"""Timers from chat against a real mosquitto and the simulator, times scaled down to seconds;
restarts and DST on an injected clock; SIGKILL of a hub process."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
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
ROLES = {"kid": ["guest", "schedule"],           # may set timers, not switch
         "switcher": ["guest", "switch"]}         # may switch, not set timers
USERS = {"kid": {"roles": ["kid"], "web": ["kid"], "loopback": ["kid"]},
         "fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"]},
         "sw": {"roles": ["switcher"], "web": ["sw"], "loopback": ["sw"]},
         "owner": {"loopback": ["tester"]}}


def hub_for(tmp_path: Path, mosquitto: Mosquitto, clock: ManualClock | None = None, **hub: Any) -> Hub:
    settings = settings_for(tmp_path / "data", mosquitto.url, hub=hub,
                            simulator={"enabled": True, "motion_clear": "1s"},
                            adapters={"loopback": {"name": "loop"}}, users=USERS, roles=ROLES,
                            automations=[])
    return Hub(settings, tty=False, clock=clock)


@contextlib.asynccontextmanager
async def started(hub: Hub) -> AsyncIterator[Hub]:
    async with running(hub) as running_hub:
        await wait_for(lambda: hub.home.devices["heater"].reading is not None)
        yield running_hub


async def say(hub: Hub, text: str, **kwargs: Any) -> str:
    """`text` typed on the in-memory network, by the tester (the owner) or `sender=`."""
    kwargs.pop("network", None)
    return await exec_command(hub, text, adapter="loop", network="loopback", **kwargs)


async def next_result(hub: Hub, timeout: float = 10.0) -> str:
    return (await hub.adapters["loop"].next(timeout))[1]  # type: ignore[attr-defined]


async def test_chauffage_on_for_3s_switches_back_about_3s_later(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        assert await say(hub, "switch chauffage off") == "heater is OFF"
        started_at = time.monotonic()
        answer = await say(hub, "switch chauffage on for 3s")
        assert answer.startswith("heater is ON until ") and answer.endswith(", then back OFF (timer #1)"), answer
        assert hub.home.devices["heater"].reading.value is True
        result = await next_result(hub)
        assert result == "Timer #1 (switch chauffage on for 3s): heater is OFF"
        assert 2.5 < time.monotonic() - started_at < 6
        assert hub.home.devices["heater"].reading.value is False, "confirmed by the device, not assumed"


async def test_a_grace_of_zero_still_runs_what_is_on_time(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`misfire_grace = "0"` means "only on time": the scheduler wakes a few ms after the due
    time, and that is on time, or every timer would be skipped while the hub runs."""
    async with started(hub_for(tmp_path, mosquitto, misfire_grace="0")) as hub:
        await say(hub, "in 1s read salon")
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")


async def test_the_chat_shorthand_chauffage_on_2s(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        assert "then back OFF (timer #1)" in await say(hub, "chauffage on 2s")
        assert await next_result(hub) == "Timer #1 (chauffage on 2s): heater is OFF"


async def test_switched_since_is_left_alone_and_said(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "switch heater off")
        assert "timer #1" in await say(hub, "switch heater on for 2s")
        assert await say(hub, "switch heater off", network="web", sender="fam") == "heater is OFF"
        assert await next_result(hub) == \
            "Timer #1 (switch heater on for 2s): heater was switched OFF since by fam; nothing to switch back."


async def test_a_switch_to_the_state_it_is_in_stops_the_switch_back_and_says_so(tmp_path: Path,
                                                                               mosquitto: Mosquitto) -> None:
    """`chauffage on for 2s`, then the frost guard (or anyone) says `heater on` while it is on:
    that says it must stay on (switched off at the end, a cold room would stay cold: the guard
    fires on the way down only), and the answer says the switch-back will not happen."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "switch heater off")
        assert "timer #1" in await say(hub, "switch heater on for 2s")
        assert await say(hub, "switch heater on", network="web", sender="fam") == \
            "heater is ON (it already was; the switch back OFF set with “for” will not happen: it stays ON.)"
        assert await next_result(hub) == \
            "Timer #1 (switch heater on for 2s): heater was switched since by fam; left ON (not switched back OFF)."
        assert hub.home.devices["heater"].reading.value is True


async def test_a_device_already_back_is_said_so_without_blaming_anyone(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Switched off at the wall (no command through the hub) before its switch-back: nothing to
    do, and the answer says so, not "was switched since; left OFF (not switched back OFF)"."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "switch heater off")
        assert "timer #1" in await say(hub, "switch heater on for 2s")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as wall:
            await wall.publish("zigbee2mqtt/heater/set", '{"state": "OFF"}', qos=1)
        await wait_for(lambda: hub.home.devices["heater"].reading.value is False)
        assert await next_result(hub) == "Timer #1 (switch heater on for 2s): heater is already OFF; nothing to switch back."


async def test_a_lamp_dimmed_since_is_left_alone_too(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # `lampe on for 2s` then `lampe 40%`: the switch-back once turned off the lamp just adjusted;
    # set, dim, open and close override a pending switch-back as a switch does.
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await wait_for(lambda: hub.home.devices["lampe"].reading is not None)
        await say(hub, "lampe off")
        assert "timer #1" in await say(hub, "lampe on for 2s")
        assert (await say(hub, "lampe 40%", network="web", sender="fam")).startswith("lampe: on, 40 %")
        assert await next_result(hub) == \
            "Timer #1 (lampe on for 2s): lampe was switched since by fam; left ON (not switched back OFF)."
        assert hub.home.devices["lampe"].reading.value is True


async def test_the_opposite_switch_for_a_while_never_leaves_the_heater_on(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # `on for 2h` then `off for 2s`: switching back ON after 2 s would leave the heater on for
    # good (the first switch-back is superseded), so it stays OFF and says why, not "it already was".
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        assert "then back OFF (timer #1)" in await say(hub, "chauffage on for 2h")
        assert await say(hub, "éteins chauffage pendant 2 secondes") == (
            "heater is OFF and stays OFF: it was ON only for a while, so it is not switched back ON later (that "
            "would leave it ON for good).")
        assert hub.home.devices["heater"].reading.value is False
        assert "back ON" not in await say(hub, "timers"), "no timer will switch it on again"
        assert "then back OFF (timer #2)" in await say(hub, "allume chauffage durant 2h"), "durant as pendant"
        assert await say(hub, "chauffage on for") == \
            "For how long? Add a duration (e.g. 2h, 30m). Usage: switch DEVICE on|off|toggle [for DURATION]"


async def test_two_times_in_one_phrase_are_answered_with_the_second_timer_to_set(tmp_path: Path,
                                                                                  mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        assert await say(hub, "every day at 7:00 and 19:00 chauffage on") == \
            "A timer has one time: set a second one for 19:00 (every day at 19:00 chauffage on)."
        assert "No timers" in await say(hub, "timers")


async def test_in_2s_chauffage_on(tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        answer = await say(hub, "in 2s chauffage on")
        assert answer.startswith("Timer #1: chauffage on at ") and answer.endswith("(in 2s).")
        assert await next_result(hub) == "Timer #1 (chauffage on): heater is ON"
        assert hub.home.devices["heater"].reading.value is True
        audit = await hub.store.audit_entries("timer")
        assert [(a["sender"], a["text"], a["detail"]) for a in audit] == \
            [("timer:1:owner", "chauffage on", "heater is ON")]
        await hub.timers.settled()
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []   # no failed pass


async def test_a_result_waits_for_its_network_when_the_timer_fires_while_it_is_down(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The network the timer was set on is down when it fires: the command runs on time, and its
    result goes through the outbox when the network is back."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        assert (await say(hub, "in 1s chauffage on")).startswith("Timer #1: ")
        inbox = hub.adapters["loop"]
        inbox.health.down("network unreachable")
        await wait_for(lambda: hub.home.devices["heater"].reading.value is True, timeout=10)   # ran on time
        with pytest.raises(TimeoutError):
            await inbox.next(timeout=0.5)
        inbox.health.up()
        assert await next_result(hub) == "Timer #1 (chauffage on): heater is ON"


async def test_timers_cancel_pause_resume(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        assert (await say(hub, "timers")).startswith("No timers.")
        # A daily time a minute ago: next due in almost a day, whatever the time the test runs at
        # (a weekday 06:30 came before `in 1h` when run between 05:30 and 06:30).
        from chatops.schedule import zone
        daily = (datetime.now(zone(hub.settings.hub.timezone)) - timedelta(minutes=1)).strftime("%H:%M")
        await say(hub, "in 3s read salon")
        await say(hub, f"every day at {daily} chauffage on")
        await say(hub, "in 1h snap entree")
        await say(hub, "in 4s read chambre")
        listed = (await say(hub, "timers")).splitlines()
        assert [line.split()[0] for line in listed] == ["#1", "#4", "#3", "#2"], listed
        assert listed[3].endswith(f" owner: chauffage on (every day at {daily})")
        assert await say(hub, "pause 1") == "Timer #1 paused (read salon); resume 1 starts it again."
        assert await say(hub, "cancel 3") == "Timer #3 cancelled (snap entree)."
        # The same line twice: both are kept, and the second answer says so.
        first = await say(hub, "every day at 06:30 chauffage on for 2h")
        again = await say(hub, "every day at 06:30 chauffage on for 2h")
        number = int(first.split("#")[1].split(":")[0])
        assert again.endswith(f"Timer #{number} does the same already: cancel {number} or cancel {number + 1} if "
                              "one is enough."), again
        assert "does the same" not in await say(hub, "every day at 07:30 chauffage on for 2h")
        # Alike whatever the case or the language of the command word (each was a timer unlike the other).
        assert (await say(hub, "Every Day at 07:30 Chauffage ON for 2h")).endswith(
            f"Timer #{number + 2} does the same already: cancel {number + 2} or cancel {number + 3} if one is enough.")
        assert (await say(hub, "every day at 08:00 lire salon")).endswith("every day at 08:00.")
        assert "does the same" in await say(hub, "every day at 08:00 read salon")
        for timer_id in range(number, number + 6):
            await say(hub, f"cancel {timer_id}")
        assert await say(hub, "cancel") == "Missing id. Usage: cancel ID"
        assert await say(hub, "cancel -1") == "'-1' is not a timer number; timers lists them."
        assert await say(hub, "timer") == await say(hub, "timers"), "timer, as French has minuterie"
        # #4 fires after #1 was due: had the paused #1 run, its result would come first
        assert (await next_result(hub)).startswith("Timer #4 (read chambre): chambre: ")
        assert (await say(hub, "timers")).splitlines()[-1] == "#1 paused owner: read salon (once, set for in 3s)"
        assert "resumed" in await say(hub, "resume 1")
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")
        assert await say(hub, "cancel 3") == "No timer #3; timers lists them."
        # As people say it, the word before the number: was "'timer 3' is not a timer number".
        assert await say(hub, "cancel timer 3") == await say(hub, "cancel the timer #3") == \
            "No timer #3; timers lists them."
        assert await say(hub, "pause timer 2") == "Timer #2 paused (chauffage on); resume 2 starts it again."
        assert await say(hub, "annule la minuterie n°3") == "No timer #3; timers lists them."
        huge = "9" * 25                                 # past SQLite's integers: no "Sorry, cancel failed"
        assert await say(hub, f"pause {huge}") == f"No timer #{huge}; timers lists them."
        assert await say(hub, "cancel 2", network="web", sender="fam") == \
            "Timer #2 is owner's; only they (or an admin) can change it."


async def test_a_timer_from_chat_repeats_at_most_once_a_minute(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # Every run answers in the conversation: `every 1s` would flood it (an automation may).
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        refused = "A timer repeats at most once a minute (each run answers here): write every 1m or more; " \
                  "an automation in config.toml may run more often."
        assert await say(hub, "every 1s read salon") == refused
        assert await say(hub, "every 59 seconds read salon") == refused
        assert (await say(hub, "every minute read salon")).startswith("Timer #1: read salon at ")
        assert (await say(hub, "timers")).endswith("owner: read salon (every minute)")
        # Nor can anyone store a timer whose date no clock can show: the listing stays everyone's.
        for line in ("every 99999999999d read salon", "in 36500d 36500d read salon", "chauffage on for 99999999d"):
            answer = await say(hub, line)
            assert "is more than a hundred years" in answer, (line, answer)
        assert (await say(hub, "timers")).endswith("owner: read salon (every minute)")
        assert len((await say(hub, "timers")).splitlines()) == 1
        # A schedule with no command: the example given back is one the hub takes as written.
        hint = await say(hub, 'cron "30 6 * * 1-5"')
        assert hint == 'cron "30 6 * * 1-5": then what? Add the command, e.g. cron "30 6 * * 1-5" chauffage on', hint
        assert (await say(hub, 'cron "30 6 * * 1-5" chauffage on')).startswith("Timer #2: chauffage on at ")


async def test_a_timer_stops_when_its_owner_may_no_longer_set_timers(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # kid sets a timer, then loses `schedule` (config changed, hub restarted): it does not run
    # on in kid's name; it is paused and kid is told why.
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        assert (await say(hub, "in 2s read salon", network="web", sender="kid")).startswith("Timer #1: ")
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, users=USERS, automations=[],
                            roles={**ROLES, "kid": ["guest"]})
    async with started(Hub(settings, tty=False)) as hub:
        assert await next_result(hub) == ("Timer #1 (read salon): not run, and paused: kid may no longer set timers "
                                          "(it needs the schedule permission); give it back and resume it, or "
                                          "cancel it.")
        assert (await say(hub, "timers")) == "#1 paused kid: read salon (once, set for in 2s)"
        # An admin's resume would only pause it again: refused, saying why (it said "resumed").
        assert await say(hub, "resume 1") == (
            "Timer #1 runs as kid, who may no longer set timers (it needs the schedule permission): resumed, it "
            "would pause again. Give kid that permission in config.toml, or cancel it.")
        assert (await say(hub, "timers")) == "#1 paused kid: read salon (once, set for in 2s)"


async def test_a_switch_back_whose_owner_left_the_config_is_told_to_the_admins(tmp_path: Path,
                                                                             mosquitto: Mosquitto) -> None:
    """fam says `chauffage on for 5s`, then leaves the config: the switch back failed in the log
    alone (a KeyError), and the heater stayed on without a word. It is not run in nobody's name;
    the admins are told where the heater stays and what to say."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        assert "then back OFF (timer #1)" in await say(hub, "chauffage on for 5s", sender="fam")
    users = {name: user for name, user in USERS.items() if name != "fam"}
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, users=users, roles=ROLES, automations=[])
    async with started(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["heater"].reading.value is False)   # the new simulator's start
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as wall:             # on at the wall, before it is due
            await wall.publish("zigbee2mqtt/heater/set", '{"state": "ON"}', qos=1)
        await wait_for(lambda: hub.home.devices["heater"].reading.value is True)
        assert await next_result(hub) == ("Timer #1: fam is no longer a configured user, so heater was not switched "
                                          "back OFF as they asked; it stays ON. Say switch heater off to switch it "
                                          "back.")
        assert hub.home.devices["heater"].reading.value is True


async def test_a_schedule_said_from_its_day(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`daily at 06:30 …` is `every day at 06:30 …`; a day alone (`monday at 7:00 …`) is once or
    each week, so the answer gives both ways. They were "Unknown command 'monday'. Did you mean read?"."""
    clock = ManualClock(wall=datetime(2026, 12, 8, 10, 0, tzinfo=PARIS).timestamp())      # a Tuesday
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert (await say(hub, "daily at 06:30 read salon")).endswith(", every day at 06:30.")
        assert (await say(hub, "everyday at 07:30 read salon")).endswith(", every day at 07:30.")
        assert await say(hub, "monday at 7:00 read salon") == (
            "A day alone is no schedule: say every monday at 07:00 read salon (each week), or at 2026-12-14 07:00 "
            "read salon (once).")
        assert not any(line.startswith(("daily", "monday")) for line in (await say(hub, "help")).splitlines()), \
            "no command of its own in the list"
        assert "lundi" not in await say(hub, "lunch") and "monday" not in await say(hub, "mondo"), "nor a guess"
    async with started(hub_for(tmp_path / "fr", mosquitto, clock, timezone="Europe/Paris", language="fr")) as hub:
        assert await say(hub, "lundi à 7h allume chauffage") == (
            "Un jour seul n'est pas une programmation : dites chaque lundi à 07:00 allume chauffage (chaque "
            "semaine), ou à 2026-12-14 07:00 allume chauffage (une fois).")


async def test_one_person_has_at_most_fifty_timers(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto, rate_limit=1000)) as hub:
        for _ in range(50):
            assert (await say(hub, "in 1h read salon", network="web", sender="kid")).startswith("Timer #")
        assert await say(hub, "in 1h read salon", network="web", sender="kid") == \
            "You have 50 timers, the most one person may have: cancel one first (timers lists them)."
        assert (await say(hub, "in 1h read salon")).startswith("Timer #51: "), "someone else's are their own"


async def test_a_guest_cannot_schedule_a_switch(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        stranger = await say(hub, "in 1m chauffage on", network="web", sender="stranger")
        assert stranger.startswith("Sorry, you may not use in (it needs the schedule permission).")
        assert await say(hub, "in 1m chauffage on", network="web", sender="kid") == (
            "Not scheduled: sorry, kid may not use switch. None of their roles grants switch: an admin can add it "
            "to one in [roles] of config.toml.")
        assert (await say(hub, "in 1m read salon", network="web", sender="kid")).startswith("Timer #1: read salon")
        assert (await say(hub, "in 1m chauffage on", network="web", sender="fam")).startswith("Timer #2: ")
        assert await say(hub, "in 1m frobnicate") == "Not scheduled: 'frobnicate' is not a command. Say help for the list."
        assert await say(hub, "in 1m chaufage on") == \
            "Not scheduled: 'chaufage' is not a command. Did you mean chauffage on?"
        assert re.fullmatch(r"Timer #\d+: read salon at \w+ 07:00 \(in [0-9dhm]+\)\.",
                            await say(hub, "tomorrow at 7 am read salon", network="web", sender="kid"))
        assert (await say(hub, "in 1h 30m read salon", network="web", sender="kid")).endswith("(in 1h30m).")
        # A typo in the device is answered now, not when the timer runs at 06:30.
        assert (await say(hub, "every day at 06:30 allume chaufage", network="web", sender="fam")).startswith(
            "Not scheduled: no device called 'chaufage'. Did you mean chauffage?")
        assert (await say(hub, "in 1m read garage", network="web", sender="fam")).startswith(
            "Not scheduled: no device called 'garage'. Devices: ")          # nothing close: the list
        assert (await say(hub, "in 1m ouvre la volet_salon", network="web", sender="fam")).startswith("Timer #")
        # And a value the device does not take, or a device that does not switch: now too.
        assert await say(hub, "in 1m thermostat 45", network="web", sender="fam") == \
            "Not scheduled: thermostat takes 5 to 30 °C in steps of 0.5; 45 is out of range."
        assert await say(hub, "in 1m switch salon on", network="web", sender="fam") == \
            "Not scheduled: salon is a sensor, it cannot be switched."
        assert await say(hub, "in 1m in 2m read salon") == "A timer cannot set timers; write the schedule once."
        refused = await hub.store.audit_entries("refused")
        assert any(r["text"] == "in 1m chauffage on" for r in refused)


async def test_every_command_s_words_are_checked_when_its_timer_is_set(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`in 2s dim lampe 140` was set, and said at run time that lampe takes 0 to 100 %; so were a
    room that does not exist, a camera that is a lamp, a period of 0h, a rule misspelt, a mute
    without a unit and an automation that does not exist. Each is refused when set now."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        refused = {"in 2s dim lampe 140": "lampe takes 0 to 100 %",
                   "in 2s dim volet_salon 30": "volet salon is not a light.",
                   "in 2s temp kitchen": "no device called 'kitchen'.",
                   "in 2s snap lampe": "lampe is a light, not a camera.",
                   "in 2s graph salon 3x": "'3x' is not a period",
                   "in 2s history salon 0h": "the period must be between 1m and ",
                   "in 2s mute smok 10m": "no alert rule named 'smok'; rules: ",
                   "in 2s mute smoke 10": 'give a unit: "10s", "10m" or "10h"',
                   "in 2s disable foo": "no automation called 'foo'; automations: "}
        for line, problem in refused.items():
            answer = await say(hub, line)
            assert answer.startswith(f"Not scheduled: {problem}"), (line, answer)
        for line in ("in 2s dim lampe 40", "in 2s temp salon", "in 2s temp salon, chambre", "in 2s snap entree",
                     "in 2s graph salon 7d", "in 2s mute smoke 10m", "in 2s history salon"):
            assert (await say(hub, line)).startswith("Timer #"), line


async def test_a_switch_for_a_while_needs_the_schedule_permission(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # `chauffage on for 2h` stores a timer (the switch back): it asks what `in` asks.
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        for line in ("chauffage on for 2h", "chauffage on 2h", "allume chauffage 2h"):
            assert await say(hub, line, network="web", sender="sw") == (      # quoting their own words
                f"Sorry, sw may not set timers, and “{line}” switches back by one. Without the duration it "
                "switches and stays."), line
        assert (await say(hub, "read heater", network="web", sender="sw")).endswith("OFF"), "nothing was switched"
        assert (await say(hub, "timers")).startswith("No timers.")
        assert await say(hub, "chauffage on", network="web", sender="sw") == "heater is ON"
        assert "(timer #1)" in await say(hub, "chauffage off for 2h", network="web", sender="fam")


async def test_restart_within_the_grace_runs_once_beyond_it_is_reported(tmp_path: Path,
                                                                         mosquitto: Mosquitto) -> None:
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert "at 10:10 (in 10m)" in await say(hub, "in 10m read salon")
        assert "at 10:16 (in 16m)" in await say(hub, "in 16m read chambre")
    clock.jump(20 * 60)                 # the hub was down from 10:00 to 10:20
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        got = sorted([await next_result(hub), await next_result(hub)])
        assert got[0] == ("Timer #1 (read salon) was due at 10:10 but the hub could not run it in time (10m late, "
                          "more than the 5m grace): skipped.")
        assert got[1].startswith("Timer #2 (read chambre): chambre: ")      # 4 minutes late: within the grace
        assert (await say(hub, "timers")).startswith("No timers.")
    clock.jump(60)
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await hub.timers.settled()
        assert hub.timers.fired == 0 and hub.timers.skipped == 0, "no run ever happens twice"


async def test_a_new_for_replaces_the_switch_back_it_continues_from(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`on for 2h`, then `on for 3h` (or `every 1m chauffage on for 2h`): one switch-back, the
    new one; the old was left listed for hours as "switched since by owner, will be left", a
    hundred of them from a repeating timer. `cancel` names what a switch-back does."""
    async with started(hub_for(tmp_path, mosquitto)) as hub:
        await say(hub, "chauffage off")
        assert "then back OFF (timer #1)" in await say(hub, "chauffage on for 2h")
        answer = await say(hub, "chauffage on for 3h")
        assert answer.endswith("then back OFF (timer #2) (it replaces #1)"), answer
        listed = (await say(hub, "timers")).splitlines()
        assert len(listed) == 1 and listed[0].startswith("#2 ") and listed[0].endswith(
            "owner: switch heater back OFF (after chauffage on for 3h)"), listed
        # What is left is said: the heater stays on (it was "cancelled (switch heater back OFF (...))").
        assert await say(hub, "cancel 2") == ("Timer #2 cancelled: heater will not be switched back OFF (after "
                                              "chauffage on for 3h); it stays ON.")


async def test_a_switch_back_to_off_runs_however_late(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`chauffage on for 10m`, and the hub down for three hours past it: the switch back to OFF
    still runs (skipping it would leave the heater on for good)."""
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await say(hub, "chauffage off")
        assert "then back OFF (timer #1)" in await say(hub, "chauffage on for 10m")
    clock.jump(3 * 3600)
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert await next_result(hub) == "Timer #1 (chauffage on for 10m): heater is OFF"
        assert hub.home.devices["heater"].reading.value is False
        # Switched by hand meanwhile, the hub down past the due time: the state it is left in is
        # said (once the device's retained state is back), not "in an unknown state".
        assert "then back OFF (timer #2)" in await say(hub, "chauffage on for 10m")
        assert await say(hub, "chauffage off") == "heater is OFF"
    clock.jump(3600)
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert await next_result(hub) == \
            "Timer #2 (chauffage on for 10m): heater was switched OFF since by owner; nothing to switch back."
        # A switch back to ON keeps the grace: skipped, and the state it is left in is said.
        assert await say(hub, "chauffage on") == "heater is ON"
        assert "then back ON (timer #3)" in await say(hub, "chauffage off for 10m")
    clock.jump(3600)
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert (await next_result(hub)).endswith(
            "more than the 5m grace): skipped. heater stays OFF; say switch heater on to switch it back yourself.")


async def test_a_run_missed_by_a_few_minutes_still_runs(tmp_path: Path, mosquitto: Mosquitto) -> None:
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock)) as hub:
        await say(hub, "in 10m read salon")
    clock.jump(13 * 60)
    async with started(hub_for(tmp_path, mosquitto, clock)) as hub:
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")


async def test_a_timer_set_from_a_web_page_answers_on_its_owners_other_networks(tmp_path: Path,
                                                                                mosquitto: Mosquitto) -> None:
    # The page (or the HTTP API, `web:api`) is closed when the timer runs: its result was given up
    # there ("no web chat page was open") and never seen. It goes where its owner can read it later.
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, automations=[],
                            users={"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"]}})
    async with started(Hub(settings, tty=False)) as hub:
        answer = await exec_command(hub, "in 1s read salon", network="web", sender="fam", adapter="web")
        assert answer.startswith("Timer #1: read salon at "), answer
        who, text = await hub.adapters["loop"].next(10)
        assert who == "fam" and text.startswith("Timer #1 (read salon): salon: "), (who, text)


async def test_a_backward_clock_step_moves_interval_timers_not_calendar_ones(tmp_path: Path,
                                                                           mosquitto: Mosquitto) -> None:
    # `every 15m` and `in 10m` are real time: after the clock steps an hour back they once waited
    # an hour more. `at 11:00` is the calendar's: it stays 11:00 on the corrected clock.
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await say(hub, "every 15m read salon")
        await say(hub, "at 11:00 read chambre")
        await say(hub, "in 10m snap entree")             # real time too: ten minutes, not seventy
        due = {t.command: t.next_run for t in await hub.timers.listed()}
        clock.jump(-3600)
        clock.advance(JUMP_CHECK_EVERY)
        await wait_for(lambda: hub.clock_jumps == 1)
        await asyncio.gather(*[t for t in hub.tasks if t.get_name() == "clock-stepped-back"])
        moved = {t.command: t.next_run for t in await hub.timers.listed()}
        assert moved == {"read salon": due["read salon"] - 3600, "read chambre": due["read chambre"],
                         "snap entree": due["snap entree"] - 3600}


async def test_a_forward_clock_jump_skips_instead_of_firing_everything(tmp_path: Path,
                                                                       mosquitto: Mosquitto) -> None:
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await say(hub, "every 15m read salon")
        clock.jump(3 * 3600)                # NTP steps the clock three hours forward
        clock.advance(MAX_NAP)
        result = await next_result(hub)
        assert result.startswith("Timer #1 (read salon) was due at 10:15 ") and "Next run: 13:15." in result
        assert hub.timers.fired == 0
        clock.advance(15 * 60)
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")
        assert hub.timers.fired == 1


async def test_a_jump_of_months_is_seen_at_once_said_once_and_runs_nothing_twice(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """A Pi without a real-time clock: NTP steps the clock 90 days forward, later 10 minutes back.
    The hub notices within seconds (one log line each), a repeating timer misses once (not the
    8,640 quarter hours), and the step back runs nothing a second time: its next run moves back
    with the step, fifteen minutes of real time after the last."""
    clock = ManualClock(wall=datetime(2026, 1, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await say(hub, "every 15m read salon")
        clock.jump(90 * 86400)
        clock.advance(JUMP_CHECK_EVERY)         # the watcher's next look, far less than a timer's nap
        result = await next_result(hub)
        # 90 days later it is 11:00 in Paris (summer time): the next quarter hour is 11:15
        assert result.startswith("Timer #1 (read salon) was due at ") and "skipped. Next run: 11:15." in result
        assert hub.clock_jumps == 1 and caplog.text.count("the wall clock jumped forward by 90d") == 1
        clock.advance(15 * 60)
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")      # 11:15, on time
        runs = hub.timers.fired
        clock.jump(-10 * 60)                    # back to 11:05: 11:15 is not run again
        for _ in range(4):
            clock.advance(JUMP_CHECK_EVERY)
            await hub.timers.settled()
        assert hub.clock_jumps == 2 and "the wall clock jumped back by 10m" in caplog.text
        assert hub.timers.fired == runs
        clock.advance(15 * 60 - 4 * JUMP_CHECK_EVERY - 1)      # 11:19:59 on the corrected clock
        await hub.timers.settled()
        assert hub.timers.fired == runs
        clock.advance(2)                        # 11:20, a quarter hour of real time after the last: once
        assert (await next_result(hub)).startswith("Timer #1 (read salon): salon: ")
        assert hub.timers.fired == runs + 1


MAX_NAP = 30.0


@pytest.mark.parametrize(("start", "day", "expected"), [
    ((2026, 3, 28, 12, 0), "2026-03-29", ["03:00"]),
    ((2026, 10, 24, 12, 0), "2026-10-25", ["02:30"]),
])
async def test_dst_days_run_a_daily_0230_once_on_an_injected_clock(
        tmp_path: Path, mosquitto: Mosquitto, start: tuple[int, ...], day: str, expected: list[str]) -> None:
    clock = ManualClock(wall=datetime(*start, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        await say(hub, "every day at 02:30 read salon")
        runs: list[str] = []
        for _ in range(48 * 4):             # two days in quarter hours
            before = hub.timers.fired
            clock.advance(900)
            await hub.timers.settled()
            if hub.timers.fired > before:
                runs.append(datetime.fromtimestamp(clock.time(), PARIS).strftime("%Y-%m-%d %H:%M"))
        on_the_day = [r[11:] for r in runs if r.startswith(day)]
        assert len(on_the_day) == 1 and on_the_day[0][:2] == expected[0][:2], runs
        assert len(runs) == 2, runs


async def test_a_timer_survives_sigkill_and_fires_once(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_demo_config(tmp_path, mosquitto.url)

    async def start() -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})

    async def line_with(proc: asyncio.subprocess.Process, text: str, seen: list[str]) -> str:
        assert proc.stdout is not None
        async with asyncio.timeout(30):
            while True:
                line = (await proc.stdout.readline()).decode()
                assert line, f"the hub ended before saying {text!r}: {seen}"
                seen.append(line.rstrip("\n"))
                if text in line:
                    return line

    first = await start()
    seen: list[str] = []
    assert first.stdin is not None
    first.stdin.write(b"in 4s read salon\n")
    await line_with(first, "Timer #1: read salon at ", seen)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    assert not any("Timer #1 (read salon)" in line for line in seen)
    second = await start()
    seen = []
    try:
        assert await line_with(second, "Timer #1 (read salon): salon: ", seen)
        assert second.stdin is not None
        second.stdin.write(b"timers\n")
        await line_with(second, "No timers.", seen)
        assert len([line for line in seen if "Timer #1 (read salon)" in line]) == 1
    finally:
        second.send_signal(signal.SIGKILL)
        await second.wait()


async def test_a_timer_whose_device_discovery_withdrew_says_so_and_a_repeating_one_pauses(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`every 1m garage_plug on`, then the plug's announcement withdrawn: every minute for ever,
    "Unknown command 'garage_plug'"; now the device is said gone, and the repeating one waits."""
    import aiomqtt
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    config = "homeassistant/switch/garage/gsw/config"
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish(config, json.dumps({"name": "garage_plug", "stat_t": "garage/plug",
                                                 "cmd_t": "garage/plug/set"}), qos=1, retain=True)
        await wait_for(lambda: hub.home.find("garage_plug") is not None)
        assert (await say(hub, "every 1m garage_plug on")).startswith("Timer #1: garage_plug on at 10:01")
        assert (await say(hub, "in 30s read garage_plug")).startswith("Timer #2: read garage_plug at 10:00")
        await device.publish(config, b"", qos=1, retain=True)
        await wait_for(lambda: hub.home.find("garage_plug") is None)
        clock.advance(61)
        got = sorted([await next_result(hub), await next_result(hub)])
        assert got == ["Timer #1 (garage_plug on): not run: the device it names is gone (removed from the config, or "
                       "withdrawn by its discovery). Paused: resume it once the device is back, or cancel it.",
                       "Timer #2 (read garage_plug): not run: the device it names is gone (removed from the config, "
                       "or withdrawn by its discovery)."], got
        assert (await say(hub, "timers")).startswith("#1 paused owner: garage_plug on (every 1m)")


async def test_a_shorthand_timer_whose_owner_lost_the_permission_is_not_said_gone(tmp_path: Path,
                                                                                  mosquitto: Mosquitto) -> None:
    """`every 1m heater on` by someone who then lost `switch`: the timer said the heater was
    gone (its line had a problem and started with no command's word); it is the refusal."""
    clock = ManualClock(wall=datetime(2026, 6, 1, 10, 0, tzinfo=PARIS).timestamp())
    async with started(hub_for(tmp_path, mosquitto, clock, timezone="Europe/Paris")) as hub:
        assert (await say(hub, "every 1m heater on", network="web", sender="fam")).startswith("Timer #1: heater on")
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": True},
                            adapters={"loopback": {"name": "loop"}}, users=USERS, automations=[],
                            roles={**ROLES, "family": ["guest", "schedule"]}, hub={"timezone": "Europe/Paris"})
    async with started(Hub(settings, tty=False, clock=clock)) as hub:
        clock.advance(61)
        result = await next_result(hub)
        assert result.startswith("Timer #1 (heater on): Sorry, fam may not use 'heater on' (it needs the switch "
                                 "permission). None of their roles grants switch"), result
