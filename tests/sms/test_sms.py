"""SMS end to end: python-gammu on libgammu's dummy phone, and the real gammu-smsd on it.

The hub runs in-process on a real mosquitto with the simulated home; a test drops an SMS
file into the dummy phone and watches MQTT, the dummy's folders, gammu-smsd's sent folder
or the spy StateMachine. Nothing sleeps: every wait is on an event or a file, with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import re
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import gammu
import pytest

from adapters import sms as sms_adapter
from chatops.hub import Hub, running
from chatops.message import Address, Reply
from chatops.testing import Mosquitto, settings_for, started, wait_for

from .conftest import DummyPhone, GammuSmsd, ModemSpy

pytestmark = pytest.mark.servers

ALICE = "+33611111111"
STRANGER = "+33699999999"
HEATER_SET = "zigbee2mqtt/heater/set"


def hub_settings(tmp_path: Path, mosquitto: Mosquitto, sms: dict[str, Any], *,
                 users: dict[str, Any] | None = None, data: str = "data") -> Any:
    users = users or {"alice": {"roles": ["family"], "sms": [ALICE]}}
    return settings_for(tmp_path / data, mqtt_url=mosquitto.url,
                        adapters={"sms": {"poll_interval": "0.05s", **sms}}, users=users)


def gammu_backend(phone: DummyPhone, **extra: Any) -> dict[str, Any]:
    return {"backend": "gammu", "model": "dummy", "connection": "none", "device": str(phone.device), **extra}


def smsd_backend(daemon: GammuSmsd, **extra: Any) -> dict[str, Any]:
    return {"backend": "smsd", "smsd_config": str(daemon.config), **extra}


@contextlib.asynccontextmanager
async def heater_commands(mosquitto: Mosquitto) -> AsyncIterator[asyncio.Queue[str]]:
    """Payloads published to the heater's command topic while the body runs."""
    seen: asyncio.Queue[str] = asyncio.Queue()
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.subscribe(HEATER_SET)

        async def collect() -> None:
            async for message in client.messages:
                seen.put_nowait(message.payload.decode())
        task = asyncio.create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def sms_up(hub: Hub, timeout: float = 10.0) -> sms_adapter.Adapter:
    adapter = hub.adapters["sms"]
    async with asyncio.timeout(timeout):
        await adapter.health.up_event.wait()
    return adapter  # type: ignore[return-value]


async def audit(hub: Hub, kind: str) -> list[dict[str, Any]]:
    return await hub.store.audit_entries(kind)


# ---- gammu-smsd owns the modem ---------------------------------------------------------------

async def test_smsd_chauffage_on_switches_and_answers(tmp_path: Path, mosquitto: Mosquitto,
                                                       smsd: GammuSmsd) -> None:
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, smsd_backend(smsd)))) as hub:
        await sms_up(hub)
        smsd.phone.deliver(ALICE, "chauffage on")
        payload = await asyncio.wait_for(commands.get(), 10)
        assert json.loads(payload) == {"state": "ON"}
        await wait_for(lambda: smsd.sent(), timeout=15)
        (message,) = smsd.sent()
        assert message[0]["Number"] == ALICE
        assert "".join(p["Text"] for p in message) == "heater is ON"
        assert not list(smsd.folders["inbox"].iterdir())       # handled, then deleted


async def test_smsd_long_reply_is_one_linked_multipart_sms(tmp_path: Path, mosquitto: Mosquitto,
                                                           smsd: GammuSmsd) -> None:
    text = ("Température salon 21 degrés, chambre 19 degrés. " * 9)[:400]
    async with running(Hub(hub_settings(tmp_path, mosquitto, smsd_backend(smsd)))) as hub:
        adapter = await sms_up(hub)
        await adapter.send(Address("sms", ALICE), Reply(text, notice=True))
        await wait_for(lambda: smsd.sent(), timeout=15)
    (parts,) = smsd.sent()
    udh = [p["UDH"] for p in parts]
    assert [u["PartNumber"] for u in udh] == [1, 2, 3]
    assert {u["AllParts"] for u in udh} == {3} and len({u["ID8bit"] for u in udh}) == 1
    assert [p["Length"] for p in parts] == [153, 153, 94]      # GSM-7 (é is in its alphabet)
    assert "".join(p["Text"] for p in parts) == text
    assert len(gammu.LinkSMS([[p] for p in parts])) == 1


async def test_smsd_two_part_sms_is_one_command(tmp_path: Path, mosquitto: Mosquitto, smsd: GammuSmsd) -> None:
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, smsd_backend(smsd)))) as hub:
        await sms_up(hub)
        smsd.phone.deliver(ALICE, "Chauffage   ON", parts=2, reverse=True)
        assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
        await wait_for(lambda: smsd.sent(), timeout=15)
        assert ["".join(p["Text"] for p in m) for m in smsd.sent()] == ["heater is ON"]


async def test_smsd_unicode_inbox_format(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with started(GammuSmsd(tmp_path / "smsd-unicode", inbox_format="unicode", outbox_format="unicode")) as daemon:
        async with running(Hub(hub_settings(tmp_path, mosquitto, smsd_backend(daemon)))) as hub:
            await sms_up(hub)
            daemon.phone.deliver(ALICE, "température   Salon", parts=2, reverse=True)   # inbox: _00 and _01
            await wait_for(lambda: list(daemon.folders["sent"].iterdir()), timeout=15)
            (sent,) = list(daemon.folders["sent"].iterdir())
            assert ALICE in sent.name
            assert sent.read_bytes().decode("utf-16").lstrip("\ufeff").startswith("salon: ")
            assert not list(daemon.folders["inbox"].iterdir())


def inbox_file(daemon: GammuSmsd, number: str, text: str) -> Path:
    """A received SMS as gammu-smsd's files service leaves it in its inbox (detail format)."""
    when = datetime.datetime.now().replace(microsecond=0)           # an old one is answered "not run"
    path = daemon.folders["inbox"] / f"IN{when:%Y%m%d_%H%M%S}_00_{number}_00.txt"
    staging = daemon.workdir / "staging.txt"
    gammu.SaveSMSBackup(str(staging), [{"Type": "Deliver", "Number": number, "Text": text, "State": "UnRead",
                                        "Folder": 1, "SMSC": {"Number": "+33000000000"}, "DateTime": when}])
    os.replace(staging, path)
    return path


def hub_config(tmp_path: Path, mosquitto: Mosquitto, daemon: GammuSmsd) -> Path:
    config = tmp_path / "hub.toml"
    config.write_text(f"""
[hub]
data_dir = "{tmp_path / 'hub-data'}"
[mqtt]
url = "{mosquitto.url}"
[web]
listen = "127.0.0.1:0"
[simulator]
enabled = true
[adapters.sms]
backend = "smsd"
smsd_config = "{daemon.config}"
poll_interval = "0.05s"
[roles]
guest = ["help"]
family = ["guest", "switch", "temp", "read"]
[users.alice]
roles = ["family"]
sms = ["{ALICE}"]
[devices.heater]
type = "switch"
state_topic = "zigbee2mqtt/heater"
command_topic = "zigbee2mqtt/heater/set"
value = "state"
payload_on = '{{"state": "ON"}}'
payload_off = '{{"state": "OFF"}}'
aliases = ["chauffage"]
""", encoding="utf-8")
    return config


async def test_hub_killed_after_handling_does_not_run_it_again(tmp_path: Path, mosquitto: Mosquitto,
                                                                smsd: GammuSmsd) -> None:
    """A real `chatops run` process is SIGKILLed after it handled an SMS; the file comes back
    (as if the kill came before the delete); the restarted hub deletes it without running it."""
    config = hub_config(tmp_path, mosquitto, smsd)
    chatops = Path(sys.executable).parent / "chatops"
    log = (tmp_path / "hub.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen([str(chatops), "run", "--config", str(config)], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=log)
    async with heater_commands(mosquitto) as commands:
        received = inbox_file(smsd, ALICE, "chauffage on")
        saved = received.read_bytes()
        hub = start()
        try:
            assert json.loads(await asyncio.wait_for(commands.get(), 20)) == {"state": "ON"}
            await wait_for(lambda: not received.exists() and len(smsd.sent()) == 1, timeout=20)
        finally:
            hub.kill()
            hub.wait()
        received.write_bytes(saved)
        hub = start()
        try:
            await wait_for(lambda: not received.exists(), timeout=20)
        finally:
            hub.terminate()
            hub.wait(10)
        log.close()
        assert commands.empty()
        assert not list(smsd.folders["outbox"].iterdir())
        assert ["".join(p["Text"] for p in m) for m in smsd.sent()] == ["heater is ON"]


async def test_gammu_in_french_accents_kept(tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone,
                                           modem_spy: ModemSpy) -> None:
    """Alice reads French: her SMS come back in French with their accents (UCS-2 when needed)."""
    users = {"alice": {"roles": ["family"], "sms": [ALICE], "language": "fr"}}
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone), users=users))) as hub:
        await sms_up(hub)
        phone.deliver(ALICE, "allume chauffage")
        assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
        await wait_for(lambda: modem_spy.texts(ALICE), timeout=10)
        phone.deliver(ALICE, "éteins volet")
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 2, timeout=10)
        assert modem_spy.texts(ALICE) == ["heater: allumé", "volet salon est de type volet : dites ouvre volet, "
                                                            "ferme volet ou arrête volet."]
        phone.deliver(ALICE, "température séjour")          # a decimal comma and a degree sign, by SMS
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 3, timeout=10)
        assert re.fullmatch(r"salon: \d+,\d °C", modem_spy.texts(ALICE)[2]), modem_spy.texts(ALICE)[2]


async def test_gammu_help_is_the_command_names_in_one_sms_not_a_listing_cut_short(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    """`help` by SMS was the direct chat's listing, 36 lines cut to the first few commands (each SMS
    costs): now the names of all of them, and how to ask about one."""
    async with running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        phone.deliver(ALICE, "help")
        await wait_for(lambda: modem_spy.texts(ALICE), timeout=10)
        [answer] = modem_spy.texts(ALICE)
        assert answer.startswith("Commands: ack, alerts, ") and answer.endswith(". help NAME tells how to use one.")
        assert ", whoami." in answer and "\n" not in answer and len(answer) < 320, answer


# ---- the hub owns the modem (python-gammu StateMachine) ----------------------------------------

async def test_gammu_chauffage_on_switches_and_answers(tmp_path: Path, mosquitto: Mosquitto,
                                                       phone: DummyPhone, modem_spy: ModemSpy) -> None:
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        phone.deliver(ALICE, "chauffage on")
        assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
        await wait_for(lambda: modem_spy.texts(ALICE), timeout=10)
        assert modem_spy.texts(ALICE) == ["heater is ON"]
        await wait_for(lambda: not phone.waiting(), timeout=5)
        # One SMS in, one out: the reply was counted twice (once by execute, once by the outbox).
        await wait_for(lambda: hub.metrics.sent["sms"] >= 1)
        assert (hub.metrics.received["sms"], hub.metrics.sent["sms"]) == (1, 1)


async def test_gammu_on_a_read_only_card_answers_from_memory_and_never_says_interrupted(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    """The Pi boots on a worn card (the database read-only): the SMS adapter starts all the same
    (its housekeeping waits), `chauffage on` switches and is answered at once from memory; once
    the card takes writes again, nothing says the command was "interrupted"."""
    from tests.test_storage_failure import immutable

    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone))
    async with running(Hub(settings)):
        pass                                                    # the database exists
    with immutable(tmp_path / "data" / "chatops.db") as writable:
        hub = Hub(settings)
        hub.store.reopen_every = 0.5
        async with heater_commands(mosquitto) as commands, running(hub):
            await sms_up(hub)
            phone.deliver(ALICE, "chauffage on")
            assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
            await wait_for(lambda: modem_spy.texts(ALICE), timeout=10)
            assert modem_spy.texts(ALICE)[0].startswith("heater is ON"), modem_spy.texts(ALICE)
            await wait_for(lambda: not phone.waiting(), timeout=10)  # handled once, deleted
            writable()
            await wait_for(lambda: hub.store.health.connected, timeout=15)
            phone.deliver(ALICE, "temp salon")
            await wait_for(lambda: len(modem_spy.texts(ALICE)) == 2, timeout=10)
            assert modem_spy.texts(ALICE)[1].startswith("salon: "), modem_spy.texts(ALICE)
            assert commands.empty()


async def test_gammu_unknown_number_is_audited_not_answered(tmp_path: Path, mosquitto: Mosquitto,
                                                            phone: DummyPhone, modem_spy: ModemSpy) -> None:
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        phone.deliver(STRANGER, "chauffage on")
        await wait_for(lambda: not phone.waiting(), timeout=10)     # deleted once handled and recorded
        entries = await audit(hub, "sms-unknown-sender")
        assert [(e["sender"], e["text"]) for e in entries] == [(f"sms:{STRANGER}", "chauffage on")]
        assert commands.empty() and modem_spy.sent == []


async def test_gammu_data_sms_is_audited_and_deleted_and_the_rest_run_in_the_order_sent(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    """An operator's MMS notice (8-bit data) once crashed the adapter at every poll, the SIM
    never emptied: it is audited and deleted. Messages waiting on the SIM run in the order they
    were sent (`off` after `on` wins, whatever their slots), and one sent hours ago is not run."""
    now = datetime.datetime.now().replace(microsecond=0)
    base = {"Type": "Deliver", "Number": "+33600000000", "State": "UnRead", "Folder": 1,
            "SMSC": {"Number": "+33000000000"}, "DateTime": now}
    phone._place(dict(base, Text=b"\x8c\x82\x98mms-notice", Coding="8bit"))
    phone.deliver(ALICE, "chauffage off", when=now)
    phone.deliver(ALICE, "chauffage on", when=now - datetime.timedelta(seconds=30))
    phone.deliver(ALICE, "temp salon", when=now - datetime.timedelta(hours=3))
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        switched = [json.loads(await asyncio.wait_for(commands.get(), 10)) for _ in range(2)]
        assert switched == [{"state": "ON"}, {"state": "OFF"}]
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 3, timeout=10)
        assert modem_spy.texts(ALICE)[0].startswith("Not run: 'temp salon' reached the hub 3h late"), \
            modem_spy.texts(ALICE)                                   # the oldest, answered first
        await wait_for(lambda: not phone.waiting(), timeout=10)     # the data SMS too
        [data] = await audit(hub, "sms-not-text")
        assert data["sender"] == "sms:+33600000000" and "MMS" in data["detail"], data
        assert hub.adapters["sms"].health.connected


async def test_a_connection_gammu_does_not_know_stops_the_adapter_naming_the_key(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, caplog: pytest.LogCaptureFixture) -> None:
    """`connection = "foo"` was retried for ever, the log saying "Unknown connection type string"."""
    async with running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone, connection="foo")))) as hub:
        await wait_for(lambda: "adapters.sms.connection: gammu knows no connection 'foo'" in caplog.text)
        assert not hub.adapters["sms"].health.connected


async def test_gammu_two_part_and_accented_ucs2(tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone,
                                                modem_spy: ModemSpy) -> None:
    async with heater_commands(mosquitto) as commands, \
            running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        phone.deliver(ALICE, "chauffage on", parts=2, reverse=True)
        assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
        await wait_for(lambda: modem_spy.texts(ALICE) == ["heater is ON"], timeout=10)
        phone.deliver(ALICE, "Température  SALON", unicode=True)
        await wait_for(lambda: len(modem_spy.texts(ALICE)) == 2, timeout=10)
        reply = modem_spy.sent[-1]
        assert reply["Coding"] == "Unicode_No_Compression"          # "°C" is not GSM-7
        assert reply["Text"].startswith("salon: ") and reply["Text"].endswith("°C")
        assert commands.empty()


async def test_gammu_restart_does_not_run_a_handled_command_again(tmp_path: Path, mosquitto: Mosquitto,
                                                                  phone: DummyPhone, modem_spy: ModemSpy,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone))
    handled = asyncio.Event()

    async def crash_before_delete(self: Any, incoming: Any) -> None:
        handled.set()
        await asyncio.Event().wait()          # the hub dies here: handled, recorded, not deleted
    async with heater_commands(mosquitto) as commands:
        with monkeypatch.context() as patch:
            patch.setattr(sms_adapter.Adapter, "_delete", crash_before_delete)
            async with running(Hub(settings)) as hub:
                await sms_up(hub)
                phone.deliver(ALICE, "chauffage on")
                await asyncio.wait_for(handled.wait(), 10)
                await wait_for(lambda: modem_spy.texts(ALICE) == ["heater is ON"], timeout=10)
        assert json.loads(commands.get_nowait()) == {"state": "ON"}
        assert len(phone.waiting()) == 1                            # still on the SIM after the "crash"

        async with running(Hub(settings)) as hub:   # same data dir, the SMS is still on the phone
            adapter = await sms_up(hub)
            await wait_for(lambda: not phone.waiting(), timeout=10)
            await wait_for(lambda: not adapter._handlers, timeout=10)
            pending = await hub.store.call(lambda: hub.store.db.execute(
                "SELECT COUNT(*) FROM deliveries WHERE delivered_at IS NULL").fetchone()[0])
            assert pending == 0
        assert commands.empty()                                     # not switched a second time
        assert modem_spy.texts(ALICE) == ["heater is ON"]           # nor answered twice


async def test_gammu_command_cut_short_is_not_run_twice(tmp_path: Path, mosquitto: Mosquitto,
                                                        phone: DummyPhone, modem_spy: ModemSpy,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_SMS_PIN", "4321")
    users = {"alice": {"roles": ["family"], "sms": [ALICE], "pin_env": "ALICE_SMS_PIN"}}
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone), users=users)
    started = asyncio.Event()

    async def hang(self: Any, message: Any, **_: Any) -> list[Reply]:
        started.set()
        await asyncio.Event().wait()
        return []
    with monkeypatch.context() as patch:
        patch.setattr(Hub, "execute", hang)
        async with running(Hub(settings)) as hub:
            await sms_up(hub)
            phone.deliver(ALICE, "4321 chauffage on")
            await asyncio.wait_for(started.wait(), 10)
    async with heater_commands(mosquitto) as commands, running(Hub(settings)) as hub:
        await sms_up(hub)
        await wait_for(lambda: not phone.waiting(), timeout=10)
        await wait_for(lambda: modem_spy.texts(ALICE), timeout=10)
        assert "not run again" in modem_spy.texts(ALICE)[0]
        assert '"**** chauffage on"' in modem_spy.texts(ALICE)[0]           # the PIN is not sent back
        stored = await hub.store.call(lambda: hub.store.db.execute("SELECT text FROM deliveries").fetchall())
        assert stored and "4321" not in repr(stored)
        assert commands.empty()


async def test_gammu_pin_word(tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALICE_SMS_PIN", "4321")
    users = {"alice": {"roles": ["family"], "sms": ["06 11 11 11 11"], "pin_env": "ALICE_SMS_PIN"}}
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone), users=users)
    async with heater_commands(mosquitto) as commands, running(Hub(settings)) as hub:
        await sms_up(hub)

        async def exchange(text: str, count: int) -> str:
            phone.deliver(ALICE, text)
            await wait_for(lambda: len(modem_spy.texts(ALICE)) == count, timeout=10)
            return modem_spy.sent[-1]["Text"]
        assert "needs your PIN" in await exchange("chauffage on", 1)
        assert "Wrong PIN" in await exchange("9999 chauffage on", 2)
        assert commands.empty()
        assert await exchange("4321 Chauffage ON", 3) == "heater is ON"
        assert json.loads(commands.get_nowait()) == {"state": "ON"}
        assert (await exchange("temp salon", 4)).startswith("salon: ")   # read-only: no PIN needed
        kinds = [e["kind"] for e in await hub.store.audit_entries() if e["kind"].startswith("pin-")]
        assert kinds == ["pin-missing", "pin-wrong"]
        assert "9999" not in json.dumps(await hub.store.audit_entries())
        # Alice texting from a friend's phone: not answered, audited, her PIN not kept.
        phone.deliver(STRANGER, "4321 chauffage off")
        await wait_for(lambda: not phone.waiting(), timeout=10)
        [stranger] = await hub.store.audit_entries("sms-unknown-sender")
        assert stranger["text"] == "**** chauffage off"
        assert "4321" not in json.dumps(await hub.store.audit_entries())


async def test_gammu_silent_modem_is_reopened_without_losing_queued_sms(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone, probe_interval="0.2s", call_timeout="2s"))
    async with running(Hub(settings)) as hub:
        adapter = await sms_up(hub)
        modem_spy.go_silent()
        await wait_for(lambda: not adapter.health.connected, timeout=10)
        assert "does not answer" in adapter.health.detail
        with pytest.raises(ConnectionError):                      # alerts' outbox will retry
            await adapter.send(Address("sms", ALICE), Reply("smoke!", notice=True))
        await sms_up(hub, timeout=15)                              # re-opened with a new StateMachine
        assert modem_spy.opened >= 2
        await adapter.send(Address("sms", ALICE), Reply("queued while fine", notice=True))
        await wait_for(lambda: modem_spy.texts(ALICE) == ["queued while fine"], timeout=10)


async def test_gammu_wedged_modem_thread_is_abandoned_and_reopened(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone, probe_interval="0.2s", call_timeout="1s"))
    async with heater_commands(mosquitto) as commands, running(Hub(settings)) as hub:
        adapter = await sms_up(hub)
        modem_spy.go_silent(hang=True)                             # calls block instead of failing
        await wait_for(lambda: not adapter.health.connected, timeout=10)
        assert "no answer from the modem" in adapter.health.detail
        await sms_up(hub, timeout=15)
        phone.deliver(ALICE, "chauffage on")                       # the new StateMachine serves
        assert json.loads(await asyncio.wait_for(commands.get(), 10)) == {"state": "ON"}
        await wait_for(lambda: modem_spy.texts(ALICE) == ["heater is ON"], timeout=10)


async def test_gammu_send_failure_keeps_message_until_reopened(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone, probe_interval="1h", call_timeout="2s"))
    async with running(Hub(settings)) as hub:
        adapter = await sms_up(hub)
        modem_spy.go_silent()                                      # the probe has not noticed yet
        await hub.timers.deliver(Address("sms", ALICE), "alice", "notify", [Reply("kept", notice=True)])
        await wait_for(lambda: modem_spy.opened >= 2 and modem_spy.texts(ALICE) == ["kept"], timeout=20)


async def test_missing_modem_leaves_the_hub_running(tmp_path: Path, mosquitto: Mosquitto) -> None:
    sms = {"backend": "gammu", "model": "dummy", "connection": "none",
           "device": str(tmp_path / "no-such" / "file" / "x")}
    (tmp_path / "no-such").mkdir()
    (tmp_path / "no-such" / "file").write_text("not a folder")
    async with running(Hub(hub_settings(tmp_path, mosquitto, sms))) as hub:
        adapter = hub.adapters["sms"]
        await wait_for(lambda: "does not exist (is the 3G key plugged in?" in adapter.health.detail, timeout=10)
        assert hub.web is not None
        base = f"http://127.0.0.1:{hub.web.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/health") as response:
                health = await response.json()
            async with session.post(f"{base}/api/command", json={"text": "temp salon"}) as response:
                replies = (await response.json())["replies"]
        assert health["ready"] is True
        assert health["adapters"]["sms"]["connected"] is False
        assert "device" in health["adapters"]["sms"]["detail"]
        assert health["adapters"]["web"]["connected"] is True
        assert replies[0].startswith("salon: ")
        with pytest.raises(ConnectionError):
            await adapter.send(Address("sms", ALICE), Reply("x", notice=True))


async def test_stopping_the_hub_stops_the_gammu_thread(tmp_path: Path, mosquitto: Mosquitto,
                                                       phone: DummyPhone) -> None:
    before = set(threading.enumerate())
    async with running(Hub(hub_settings(tmp_path, mosquitto, gammu_backend(phone)))) as hub:
        await sms_up(hub)
        ours = [t for t in threading.enumerate() if t.name == "gammu-sms" and t not in before]
        assert len(ours) == 1
    assert not ours[0].is_alive()


async def test_a_long_sms_whose_second_part_fails_is_finished_not_sent_again_whole(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, modem_spy: ModemSpy) -> None:
    """Part 2 of 3 timed out: the retry sent all three again under a new reference, so the phone
    showed part 1 twice (one an orphan) and the bill had a part the hourly cap never counted."""
    settings = hub_settings(tmp_path, mosquitto, gammu_backend(phone, probe_interval="0.2s", call_timeout="2s",
                                                              max_parts=3))
    async with running(Hub(settings)) as hub:
        await sms_up(hub)
        text = ("Washing machine done. " * 14).strip()          # three SMS
        modem_spy.fail_part = 2
        await hub.timers.deliver(Address("sms", ALICE), "alice", "notify", [Reply(text, notice=True)])
        await wait_for(lambda: len(modem_spy.sent) >= 3, timeout=20)
        assert modem_spy.texts(ALICE) == [text], modem_spy.texts(ALICE)
        numbers = [(p["UDH"]["ID8bit"], p["UDH"]["PartNumber"]) for p in modem_spy.sent]
        assert sorted(n for _, n in numbers) == [1, 2, 3] and len({ref for ref, _ in numbers}) == 1, numbers
        # Counted when the modem's answer is back on the loop, a moment after the spy saw part 3.
        spent = hub.adapters["sms"]._spent  # type: ignore[attr-defined]
        await wait_for(lambda: sum(p for _, p in spent.get(ALICE, ())) >= 3, timeout=10)
        assert sum(p for _, p in spent[ALICE]) == 3, "each part counted once"


async def test_a_users_number_that_is_no_phone_number_is_warned_of_at_start(
        tmp_path: Path, mosquitto: Mosquitto, phone: DummyPhone, caplog: pytest.LogCaptureFixture) -> None:
    """`06123456789` (a digit too many) passed `chatops check` and said nothing: that user was
    a stranger to the SMS adapter, and every alarm to them failed."""
    settings = settings_for(tmp_path / "data", mqtt_url=mosquitto.url,
                            users={"eve": {"roles": ["family"], "sms": ["06123456789"]},
                                   "alice": {"roles": ["family"], "sms": [ALICE]}},
                            adapters={"sms": gammu_backend(phone)})
    async with running(Hub(settings)) as hub:
        await sms_up(hub)
        assert "sms: users.eve.sms: '06123456789' is no phone number in +33: eve is never recognised by it, and " \
               "SMS to it fail; write it in the international form, e.g. +33612345678" in caplog.text
        assert "users.alice.sms" not in caplog.text
