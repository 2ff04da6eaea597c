"""The SMS hourly cap on libgammu's dummy phone: what the hub sends unasked stops first, answers
next, one "limit reached" note says so, the last SMS waits for an alarm; and a restart within the
hour forgets none of it. Every wait is on the spy modem, the phone or the store, with a timeout."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.message import Address, Reply
from chatops.testing import Mosquitto, settings_for, wait_for

from .conftest import DummyPhone, ModemSpy
from .test_sms import ALICE, gammu_backend, sms_up

pytestmark = pytest.mark.servers

SMOKE = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "severity": "critical", "notify": ["alice"]}


def _console(text: str) -> Any:
    from chatops.testing import message
    return message(text, sender="owner")


async def given_up(hub: Hub, count: int, timeout: float = 10.0) -> None:
    """Wait until `count` deliveries were given up (held back by the cap: `send` has returned)."""
    def query() -> int:
        return int(hub.store.db.execute("SELECT COUNT(*) FROM deliveries WHERE delivered_at = -1").fetchone()[0])
    async with asyncio.timeout(timeout):
        while await hub.store.call(query) < count:
            await asyncio.sleep(0.02)


async def test_gammu_hourly_cap_holds_back_and_says_so(tmp_path: Path, mosquitto: Mosquitto,
                                                       phone: DummyPhone, modem_spy: ModemSpy) -> None:
    settings = settings_for(tmp_path / "data", mqtt_url=mosquitto.url, users={"alice": {"roles": ["family"],
                                                                                 "sms": [ALICE]}},
                            adapters={"sms": {"poll_interval": "0.05s", **gammu_backend(phone, hourly_cap=6)}},
                            alerts=[{"name": "smoke", "device": "kitchen_smoke", "when": "on", "severity": "critical",
                                     "message": "Smoke! " + "Leave the house now. " * 8, "notify": ["alice"]}])
    async with running(Hub(settings)) as hub:
        adapter = await sms_up(hub)
        await hub.timers.deliver(Address("sms", ALICE), "alice", "notify",
                                 [Reply(f"alert {i}", notice=True) for i in range(3)])
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 2, timeout=10)
        await wait_for(lambda: adapter.status_note() is not None, timeout=10)
        assert sorted(modem_spy.texts(ALICE)) == ["alert 0", "alert 1"]
        assert adapter.status_note() == "1 SMS held back in the last hour (hourly cap: 6 per number)"
        status = "\n".join(r.text for r in await hub.execute(_console("status")))
        assert "sms: 1 SMS held back" in status
        given_up = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT text, last_error FROM deliveries WHERE delivered_at = -1").fetchall())
        assert given_up == [("alert 2", "refused: Undeliverable: held back by the hourly cap "
                                        "(6 SMS per number per hour)")]
        # What the hub sends unasked stops 4 short of the cap: the answers to alice's own SMS (an
        # `ack` after an hour of reminders) still fit, 2 short of it.
        for count, room in ((3, "salon"), (4, "chambre")):      # two texts: one SMS is known by its time and text
            phone.deliver(ALICE, f"temp {room}")
            await wait_for(lambda: len(modem_spy.texts(ALICE)) == count, timeout=10)
            assert modem_spy.texts(ALICE)[-1].startswith(f"{room}: ")
        # Past that, one SMS says answers stop (once), so she knows; the last one stays for an alarm.
        phone.deliver(ALICE, "read salon")
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 5, timeout=10)
        assert re.fullmatch(r"SMS limit reached \(6 an hour\): no more answers until \d\d:\d\d; alarms still "
                            r"come\.", modem_spy.texts(ALICE)[-1]), modem_spy.texts(ALICE)[-1]
        phone.deliver(ALICE, "read chambre")
        await wait_for(lambda: adapter.status_note() == "3 SMS held back in the last hour (hourly cap: 6 per number)",
                       timeout=10)
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:       # smoke: the alarm still comes
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 6, timeout=10)
        # Two SMS long (a snapshot's link makes most alarms so), with one left: the words, cut to
        # it, rather than nothing until the hour is over.
        alarm = modem_spy.texts(ALICE)[-1]
        assert alarm.startswith("[CRITICAL] Smoke! Leave the house now.") and len(alarm) <= 160, alarm


async def test_a_restart_within_the_hour_keeps_the_cap_and_the_limit_note_said_once(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    """The "limit reached" note goes out from the adapter, not the outbox: after a restart its SMS
    was not counted and the hub forgot it had said it, so alice got the note a second time, and
    past the cap once the alarm came."""
    settings = settings_for(tmp_path / "data", mqtt_url=mosquitto.url,
                            users={"alice": {"roles": ["family"], "sms": [ALICE]}},
                            adapters={"sms": {"poll_interval": "0.05s", **gammu_backend(phone, hourly_cap=4)}},
                            alerts=[{**SMOKE, "message": "Smoke!"}])
    async with running(Hub(settings)) as hub:       # cap 4: two answers, the note, one SMS for an alarm
        await sms_up(hub)
        for count, line in ((1, "temp salon"), (2, "temp chambre")):
            phone.deliver(ALICE, line)
            await wait_for(lambda: len(modem_spy.texts(ALICE)) == count, timeout=10)
        phone.deliver(ALICE, "read salon")
        await given_up(hub, 1)
    sent = modem_spy.texts(ALICE)
    assert len(sent) == 3 and sent[-1].startswith("SMS limit reached (4 an hour)"), sent

    async with running(Hub(settings)) as hub:       # same data folder, within the hour
        adapter = await sms_up(hub)
        phone.deliver(ALICE, "read chambre")
        await given_up(hub, 2)
        assert modem_spy.texts(ALICE) == sent, "the note is said once an hour, restart or not"
        assert adapter.status_note() == "1 SMS held back in the last hour (hourly cap: 4 per number)"
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:       # the last SMS is the alarm's
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 4, timeout=10)
        assert modem_spy.texts(ALICE)[-1].startswith("[CRITICAL] Smoke!"), modem_spy.texts(ALICE)
