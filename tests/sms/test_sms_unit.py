"""SMS pieces without servers: encoding and linking, the smsd spool reader, PINs, the cap,
the gammu thread and the SIM unlock, on python-gammu's own functions and libgammu's dummy phone."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from pathlib import Path
from typing import Any

import gammu
import pytest

from adapters import sms_gammu, sms_smsd, sms_text
from adapters.sms import Adapter, Settings
from adapters.sms_gammu import GammuModem, GammuThread, ModemError
from adapters.sms_text import Encoder
from chatops.store import deliveries
from chatops.config import ConfigError, parse_settings
from chatops.hub import Hub
from chatops.message import Address, Attachment, Reply
from chatops.testing import settings_for

from .conftest import DummyPhone, GammuSmsd

ALICE = "+33611111111"


# ---- text on the air --------------------------------------------------------------------------

def test_gsm7_or_ucs2() -> None:
    assert sms_text.fits_gsm7("Chauffage ON: 21.5 C, é è à ù ì ò Ç ü ß €[]{}")
    assert not sms_text.fits_gsm7("21 °C")            # the degree sign is not GSM-7
    assert not sms_text.fits_gsm7("ç")                # only the capital Ç is
    assert not sms_text.fits_gsm7("🙂")


def test_gsm7_parts_are_153_of_160() -> None:
    encoder = Encoder(reference=7)
    assert [p["Length"] for p in encoder.encode("x" * 160)] == [160]
    parts = encoder.encode("é" * 400)
    assert [p["Length"] for p in parts] == [153, 153, 94]
    assert {p["Coding"] for p in parts} == {"Default_No_Compression"}
    assert [p["UDH"]["PartNumber"] for p in parts] == [1, 2, 3]
    assert {p["UDH"]["AllParts"] for p in parts} == {3}


def test_ucs2_parts_are_67_of_70_and_keep_emoji_whole() -> None:
    encoder = Encoder(reference=7)
    assert [p["Length"] for p in encoder.encode("°" * 70)] == [70]
    parts = encoder.encode("°" * 71)
    assert [p["Length"] for p in parts] == [67, 4]
    assert {p["Coding"] for p in parts} == {"Unicode_No_Compression"}
    emoji = encoder.encode("🙂" * 40)                  # 80 UTF-16 units: a pair is never split
    assert "".join(p["Text"] for p in emoji) == "🙂" * 40
    assert all(p["Length"] % 2 == 0 for p in emoji)


def test_each_long_message_gets_its_own_concatenation_reference() -> None:
    encoder = Encoder(reference=200)
    first, second = encoder.encode("a" * 300), encoder.encode("b" * 300)
    refs = [{p["UDH"]["ID8bit"] for p in m} for m in (first, second)]
    assert refs == [{201}, {202}]
    assert first[0]["UDH"]["Text"][3] == 201            # the byte on the air, not only the dict
    assert gammu.EncodePDU(dict(first[1], Number=ALICE, SMSC={"Number": "+33000000000"}))
    linked = sms_text.link([[p] for p in first + second])
    assert sorted(len(g) for g in linked) == [2, 2]


def test_fit_cuts_to_max_parts_with_an_ellipsis() -> None:
    encoder = Encoder()
    text = encoder.fit("word " * 300, 2)
    assert encoder.count(text) <= 2 and text.endswith("…")
    assert encoder.fit("short", 1) == "short"
    assert encoder.count(encoder.fit("°" * 500, 3)) <= 3


def _deliver(number: str, chunks: list[str], unicode: bool = False, ref: int = 9) -> list[dict[str, Any]]:
    """Parts as gammu hands them over (every key filled in, through an SMS-backup round trip)."""
    coding = "Unicode_No_Compression" if unicode else "Default_No_Compression"
    return [{"Type": "Deliver", "Number": number, "Text": chunk, "Coding": coding, "Location": 10001 + i,
             "SMSC": {"Number": "+33000000000"}, "State": "UnRead", "Folder": 1,
             "UDH": {"Type": "ConcatenatedMessages", "Text": bytes([5, 0, 3, ref, len(chunks), i + 1]),
                     "ID8bit": ref, "ID16bit": -1, "PartNumber": i + 1, "AllParts": len(chunks)}}
            for i, chunk in enumerate(chunks)]


def test_parts_are_joined_in_order_and_incomplete_ones_recognised(tmp_path: Path) -> None:
    gammu.SaveSMSBackup(str(tmp_path / "b"), _deliver(ALICE, ["tempéra", "ture sal", "on 🙂"], unicode=True))
    parts = gammu.ReadSMSBackup(str(tmp_path / "b"))
    groups = sms_text.link([[p] for p in reversed(parts)])
    assert len(groups) == 1 and sms_text.is_complete(groups[0])
    assert sms_text.join(groups[0]) == "température salon 🙂"
    partial = sms_text.link([[parts[0]], [parts[2]]])
    assert not sms_text.is_complete(partial[0])
    assert sms_text.join(partial[0]) == "tempéra…on 🙂"
    single = {"Type": "Deliver", "Number": ALICE, "Text": "chauffage on\x00\x00garbage", "UDH": {"Type": "NoUDH"}}
    assert sms_text.join([single]) == "chauffage on"
    sparse = _deliver(ALICE, ["chauf", "fage on"])            # dicts LinkSMS refuses: grouped by UDH
    assert [sms_text.join(g) for g in sms_text.link([[p] for p in reversed(sparse)])] == ["chauffage on"]


def test_message_key_is_stable_and_specific() -> None:
    key = sms_text.message_key(ALICE, "2026-05-01T12:00:00", "chauffage on")
    assert key == sms_text.message_key(ALICE, "2026-05-01T12:00:00", "chauffage on")
    assert key != sms_text.message_key(ALICE, "2026-05-01T12:00:01", "chauffage on")
    assert key != sms_text.message_key("+33622222222", "2026-05-01T12:00:00", "chauffage on")


# ---- gammu-smsd's spool -------------------------------------------------------------------------

def test_smsd_config_gives_folders_and_formats(tmp_path: Path) -> None:
    config = tmp_path / "smsdrc"
    config.write_text("[gammu]\ndevice = /dev/ttyUSB0\n[smsd]\nService = FILES ; comment\n"
                      "InboxPath = spool/in/\noutboxpath = \"/var/spool/gammu/outbox/\"\n", encoding="utf-8")
    spool = sms_smsd.read_smsd_config(config)
    assert spool.inbox == tmp_path / "spool/in"
    assert spool.outbox == Path("/var/spool/gammu/outbox")
    assert (spool.inbox_format, spool.outbox_format) == ("unicode", "detail")   # gammu-smsd's defaults
    config.write_text("[smsd]\nservice = sql\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="service = files"):
        sms_smsd.read_smsd_config(config)
    with pytest.raises(ConfigError, match="cannot read"):
        sms_smsd.read_smsd_config(tmp_path / "missing")


def _spool(tmp_path: Path, fmt: str) -> sms_smsd.SpoolConfig:
    for name in ("inbox", "outbox"):
        (tmp_path / name).mkdir(exist_ok=True)
    return sms_smsd.SpoolConfig(tmp_path / "smsdrc", "files", tmp_path / "inbox", tmp_path / "outbox", None,
                                fmt, fmt)


def _age(path: Path, seconds: float = 5.0) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_unicode_inbox_parts_are_one_message(tmp_path: Path) -> None:
    spool = _spool(tmp_path, "unicode")
    stem = f"IN20260501_120000_00_{ALICE}"
    first, second = spool.inbox / f"{stem}_00.txt", spool.inbox / f"{stem}_01.txt"
    first.write_bytes(b"\xfe\xff" + "Tempéra".encode("utf-16-be") + b"\x00\x00\x00\xe9")   # 1.42's padding
    second.write_bytes(b"\xfe\xff" + "ture salon".encode("utf-16-be"))
    assert sms_smsd._read_inbox(spool) == []              # just written: the daemon may still be at it
    _age(first)
    _age(second)
    (message,) = sms_smsd._read_inbox(spool)
    assert (message.number, message.text, message.parts) == (ALICE, "Température salon", 2)
    assert message.handle == (str(first), str(second))


def test_detail_inbox_file_is_read_with_gammu(tmp_path: Path) -> None:
    spool = _spool(tmp_path, "detail")
    path = spool.inbox / f"IN20260501_120000_00_{ALICE}_00.txt"
    gammu.SaveSMSBackup(str(path), _deliver(ALICE, ["chauffage", " on"]))
    _age(path)
    (message,) = sms_smsd._read_inbox(spool)
    assert (message.number, message.text, message.parts) == (ALICE, "chauffage on", 2)
    (spool.inbox / "IN20260501_120001_00_+33622222222_00.txt").write_text("not a backup")
    _age(spool.inbox / "IN20260501_120001_00_+33622222222_00.txt", sms_smsd.GIVE_UP + 5)
    assert [m.number for m in sms_smsd._read_inbox(spool)] == [ALICE]
    assert (spool.inbox / "IN20260501_120001_00_+33622222222_00.txt.unreadable").exists()


def test_a_data_sms_in_the_smsd_inbox_is_taken_as_data_with_its_time(tmp_path: Path) -> None:
    """gammu-smsd writes an 8-bit SMS (an MMS notice) as IN…_00.bin: once never read, it now
    comes as data (audited and deleted by the adapter); every message carries the time the daemon took it."""
    spool = _spool(tmp_path, "unicode")
    data = spool.inbox / "IN20260501_120000_00_+33600000000_00.bin"
    data.write_bytes(b"\x8c\x82mms")
    text = spool.inbox / f"IN20260501_120500_00_{ALICE}_00.txt"
    text.write_bytes(b"\xfe\xff" + "temp".encode("utf-16-be"))
    _age(data)
    _age(text)
    notice, command = sms_smsd._read_inbox(spool)
    assert (notice.number, notice.text, notice.binary, notice.handle) == ("+33600000000", "", True, (str(data),))
    assert (command.text, command.binary) == ("temp", False)
    assert command.sent_at == text.stat().st_mtime     # the daemon's clock: the name's time has no zone


async def test_smsd_spool_down_when_folders_are_missing(tmp_path: Path) -> None:
    daemon = GammuSmsd(tmp_path / "smsd")                  # config only; the daemon is not needed
    daemon.folders["inbox"].rmdir()
    settings = Settings(backend="smsd", smsd_config=str(daemon.config))
    spool = sms_smsd.SmsdSpool("sms", settings, Encoder())
    try:
        with pytest.raises(ModemError, match="inbox"):
            await spool.open()
    finally:
        await spool.close()


# ---- config ------------------------------------------------------------------------------------

def test_settings_refuse_a_literal_pin_and_bad_country() -> None:
    with pytest.raises(ConfigError, match="pin_env"):
        parse_settings({"adapters": {"sms": {"pin": "1234"}}})
    with pytest.raises(ConfigError, match="default_country"):
        parse_settings({"adapters": {"sms": {"default_country": "33"}}})
    settings = parse_settings({"adapters": {"sms": {"backend": "smsd", "hourly_cap": 5, "poll_interval": "2s"}}})
    ((_, kind, section),) = settings.adapter_sections
    assert kind == "sms" and section.hourly_cap == 5 and section.poll_interval == 2.0


# ---- the adapter's own logic, on a hub that is built but not running ---------------------------

@pytest.fixture
async def adapter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("ALICE_SMS_PIN", "Sesame")
    settings = settings_for(tmp_path / "data", adapters={"sms": {"hourly_cap": 3, "default_country": "+32"}},
                            users={"alice": {"roles": ["family"], "sms": ["0470 12 34 56"], "pin_env": "ALICE_SMS_PIN"},
                                   "bob": {"roles": ["family"], "sms": ["+33622222222"]}})
    hub = Hub(settings)
    sms: Adapter = hub.adapters["sms"]  # type: ignore[assignment]
    sms._hub = hub
    await hub.store.open()
    await hub.store.call(hub.store.transaction, sms._prepare_store)
    yield sms
    await hub.store.close()


async def test_numbers_are_matched_in_e164_with_the_default_country(adapter: Adapter) -> None:
    assert adapter.e164("0470 12 34 56") == "+32470123456"
    assert adapter.e164("0032470123456") == "+32470123456"
    assert adapter.e164("Orange") is None and adapter.e164("123") is None
    user, identity = adapter.identify("+32470123456")
    assert user is not None and user.name == "alice"
    assert adapter._hub.auth.user_for(identity) is user        # the router will see alice too
    assert adapter.identify("+33699999999")[0] is None


async def test_images_go_as_links(adapter: Adapter, tmp_path: Path) -> None:
    picture = tmp_path / "snap.jpg"
    picture.write_bytes(b"\xff\xd8")
    text = adapter.render([Reply("entree", (Attachment(picture, "image/jpeg"),)),
                           Reply("graph", (Attachment(picture, url="https://example.org/g.png"),))])
    lines = text.splitlines()
    assert lines[0] == "entree" and lines[1].startswith("snap.jpg: http://") and lines[1].endswith("/snap.jpg")
    assert lines[2:] == ["graph", "snap.jpg: https://example.org/g.png"]


async def test_hourly_cap_counts_parts_per_number(adapter: Adapter) -> None:
    def send(number: str, text: str) -> bool:
        parts = adapter.encoder.count(text)
        fits = adapter._within_cap(number, parts)
        if fits:
            adapter._spent[number].append((time.monotonic(), parts))
        return fits
    assert send(ALICE, "x" * 300)                   # 2 SMS
    assert not send(ALICE, "y" * 300)               # would be 4 > 3
    assert send(ALICE, "z")                         # 3
    assert send("+33622222222", "other number")
    adapter._note_held(ALICE, ["y" * 300])
    assert adapter.status_note() == "1 SMS held back in the last hour (hourly cap: 3 per number)"


async def test_an_older_versions_sms_queue_is_carried_over_to_the_outbox(tmp_path: Path) -> None:
    """A database from before the one outbox: its waiting SMS are queued in deliveries, once,
    and the old table goes; sent ones are not sent again."""
    settings = settings_for(tmp_path / "data", adapters={"sms": {}})
    hub = Hub(settings)
    sms: Adapter = hub.adapters["sms"]  # type: ignore[assignment]
    sms._hub = hub
    await hub.store.open()
    try:
        def legacy(db: Any) -> None:
            db.execute("CREATE TABLE sms_outbox (id INTEGER PRIMARY KEY, adapter TEXT NOT NULL, number TEXT NOT NULL, "
                       "text TEXT NOT NULL, parts INTEGER NOT NULL, queued_at REAL NOT NULL, next_try REAL NOT NULL, "
                       "attempts INTEGER NOT NULL DEFAULT 0, sent_at REAL, failed_at REAL, last_error TEXT)")
            db.executemany("INSERT INTO sms_outbox(adapter, number, text, parts, queued_at, next_try, sent_at) "
                           "VALUES ('sms', ?, ?, 1, 1000, 1000, ?)",
                           [(ALICE, "heater is ON", None), (ALICE, "already sent", 1001.0)])
        await hub.store.call(hub.store.transaction, legacy)
        await hub.store.call(hub.store.transaction, sms._prepare_store)
        await hub.store.call(hub.store.transaction, sms._prepare_store)      # twice: nothing moves again
        rows = await hub.store.call(lambda: hub.store.db.execute(
            "SELECT adapter, target, direct, kind, text, delivered_at FROM deliveries").fetchall())
        assert rows == [("sms", ALICE, 1, "reply", "heater is ON", None)]
        assert not await hub.store.call(lambda: hub.store.db.execute(
            "SELECT 1 FROM sqlite_master WHERE name = 'sms_outbox'").fetchone())
    finally:
        await hub.store.close()


class Answering:
    """A backend whose probe answers as told."""

    def __init__(self, error: ModemError | None) -> None:
        self.error = error

    async def probe(self) -> str:
        if self.error:
            raise self.error
        return "signal 80%, Orange F"


async def test_probe_sets_health_and_tells_a_dead_modem_from_a_missing_network(adapter: Adapter) -> None:
    adapter._identity = "Huawei E173"
    await adapter._probe(Answering(None))
    assert adapter.health.connected and adapter.health.detail == "Huawei E173, signal 80%, Orange F"
    await adapter._probe(Answering(ModemError("no mobile network (RequestingNetwork), signal 0%", reopen=False)))
    assert not adapter.health.connected
    assert adapter.health.detail == "Huawei E173: no mobile network (RequestingNetwork), signal 0%"
    with pytest.raises(ModemError):                        # silent: the caller reopens the modem
        await adapter._probe(Answering(ModemError("no answer from the modem in 60s")))


async def test_send_raises_while_the_modem_is_down(adapter: Adapter) -> None:
    from chatops.message import Address
    with pytest.raises(ConnectionError, match="down"):
        await adapter.send(Address("sms", ALICE), Reply("smoke!", notice=True))


# ---- the gammu thread and the modem backend on the dummy phone ------------------------------------

async def test_gammu_thread_runs_calls_and_reports_errors() -> None:
    owner = threading.Event()
    thread = GammuThread("gammu-test", lambda: {"value": 41})
    assert await thread.call(lambda obj: obj["value"] + 1) == 42
    with pytest.raises(KeyError):
        await thread.call(lambda obj: obj["missing"])
    with pytest.raises(ModemError, match="no answer"):
        await thread.call(lambda obj: owner.wait(5), timeout=0.05)
    owner.set()
    await thread.stop(timeout=5)
    assert not thread.alive
    with pytest.raises(ModemError):
        await thread.call(lambda obj: None)


async def test_gammu_thread_stuck_in_a_call_is_abandoned_on_stop() -> None:
    release = threading.Event()
    thread = GammuThread("gammu-stuck", lambda: None)
    started = asyncio.get_running_loop().create_future()
    with pytest.raises(ModemError):
        await thread.call(lambda _: (started.get_loop().call_soon_threadsafe(started.set_result, None),
                                     release.wait(10)), timeout=0.1)
    t0 = time.monotonic()
    await thread.stop(timeout=0.2)
    assert time.monotonic() - t0 < 1 and thread.alive
    release.set()


def _settings(phone: DummyPhone, **extra: Any) -> Settings:
    return Settings(backend="gammu", model="dummy", connection="none", device=str(phone.device), **extra)


async def test_modem_reads_links_and_deletes(phone: DummyPhone) -> None:
    modem = GammuModem("sms", _settings(phone, multipart_timeout="300ms"), None, Encoder())
    try:
        assert await modem.open() == "Gammu Dummy"
        assert await modem.probe() == "signal 42%, GammuT3l"
        phone.deliver(ALICE, "chauffage on")
        phone.deliver(ALICE, "température salon", parts=2, reverse=True, reference=1)
        phone.deliver(ALICE, "incomplete message", parts=3, reference=2)
        os.unlink(phone.waiting()[-2])                    # its middle part never arrives
        messages = await modem.receive()
        assert sorted(m.text for m in messages) == ["chauffage on", "température salon"]
        for message in messages:
            await modem.delete(message)
        assert len(phone.waiting()) == 2                  # the incomplete one waits for its part...
        deadline = time.monotonic() + 5
        while not (late := await modem.receive()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [(m.text, m.parts) for m in late] == [("incomp…essage", 2)]   # ...then goes as is
    finally:
        await modem.close()


class FakeSim:
    """Just enough of a StateMachine to test the SIM unlock."""

    def __init__(self, statuses: list[str | None], refuse: bool = False) -> None:
        self.statuses = statuses
        self.refuse = refuse
        self.entered: list[tuple[str, str]] = []

    def GetSecurityStatus(self) -> str | None:  # noqa: N802
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def EnterSecurityCode(self, kind: str, code: str) -> None:  # noqa: N802
        self.entered.append((kind, code))
        if self.refuse:
            raise gammu.ERR_SECURITYERROR({"Text": "Security error", "Where": "EnterSecurityCode", "Code": 32})


def test_sim_pin_is_entered_once_when_asked(phone: DummyPhone, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sms_gammu.time, "sleep", lambda s: None)
    modem = GammuModem("sms", _settings(phone), "1234", Encoder())
    sim = FakeSim(["PIN", "PIN", None])
    modem._unlock(sim)
    assert sim.entered == [("PIN", "1234")]
    refused = FakeSim(["PIN"], refuse=True)
    with pytest.raises(ConfigError, match="not retried"):
        modem._unlock(refused)
    assert refused.entered == [("PIN", "1234")]
    with pytest.raises(ConfigError, match="pin_env"):
        GammuModem("sms", _settings(phone), None, Encoder())._unlock(FakeSim(["PIN"]))
    with pytest.raises(ModemError, match="PUK"):
        modem._unlock(FakeSim(["PUK"]))
    modem._unlock(FakeSim([None]))


async def test_the_hourly_cap_counts_across_a_restart_and_a_clock_step(adapter: Adapter,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Three SMS delivered ten minutes ago (in the database): after a restart the cap of 3 is
    reached; NTP stepping the wall clock a month forward does not open it (the cap's hour is
    counted on the monotonic clock)."""
    import time

    store = adapter._hub.store
    sent = time.time() - 600
    rows = [(0, "sms", "0470 12 34 56", 1, "alice", "reply", "hello", None, sent, sent) for _ in range(3)]  # as written
    await store.call(store.transaction, lambda db: deliveries.insert(db, rows))
    await store.call(store.transaction, lambda db: db.execute("UPDATE deliveries SET delivered_at = ?", (sent,)))
    adapter._spent.clear()
    adapter._spent, adapter._told_capped = await store.call(adapter._count_spent, store.db)  # what a restart reads
    spent, _told = await store.call(adapter._count_spent, store.db)
    assert sum(len(q) for q in spent.values()) == 3, "never twice"
    assert not adapter._within_cap("+32470123456", 1)
    monkeypatch.setattr(time, "time", lambda: sent + 30 * 86400)
    assert not adapter._within_cap("+32470123456", 1), "a wall-clock step opened the cap"
    assert adapter._within_cap("+33622222222", 1), "another number has its own"


async def test_the_cap_counts_after_a_restart_what_was_sent_not_what_the_outbox_kept(adapter: Adapter) -> None:
    """A snapshot's answer went as 2 SMS (its picture's link added at send), while the outbox
    keeps its 1-SMS text; a message the modem gave up after 1 part is billed, not delivered.
    After a restart the cap of 3 counts the 3 SMS sent, not the 1 the outbox's texts make."""
    import time

    store = adapter._hub.store
    now = time.time()
    rows = [(0, "sms", "0470 12 34 56", 1, "alice", "reply", "entree at 09:40", None, now, now)]
    await store.call(store.transaction, lambda db: deliveries.insert(db, rows))
    await store.call(store.transaction, lambda db: db.execute("UPDATE deliveries SET delivered_at = ?", (now,)))
    adapter._count_sent("+32470123456", 2)                # the answer, with its link
    adapter._count_sent("+32470123456", 1)                # the part sent before the modem gave up
    assert adapter._keeper is not None
    await adapter._keeper                                 # written in the background
    adapter._spent.clear()
    adapter._spent, adapter._told_capped = await store.call(adapter._count_spent, store.db)  # what a restart reads
    assert adapter._spent_now("+32470123456") == 3
    assert not adapter._within_cap("+32470123456", 1)
    assert adapter._within_cap("+33622222222", 3), "another number has its own"


async def test_a_row_that_missed_this_hours_sends_does_not_hide_the_deliveries(adapter: Adapter) -> None:
    """The number's row was last written an hour ago (this hour's writes failed, the outbox's
    did not): after a restart the 3 SMS delivered this hour still count, not the row's 0."""
    import json
    import time

    store = adapter._hub.store
    await store.set_plugin_value("sms-spent:sms", "+32470123456", json.dumps([[time.time() - 7200, 1]]))
    sent = time.time() - 60
    rows = [(0, "sms", "0470 12 34 56", 1, "alice", "reply", "hello", None, sent, sent) for _ in range(3)]
    await store.call(store.transaction, lambda db: deliveries.insert(db, rows))
    await store.call(store.transaction, lambda db: db.execute("UPDATE deliveries SET delivered_at = ?", (sent,)))
    adapter._spent, adapter._told_capped = await store.call(adapter._count_spent, store.db)  # what a restart reads
    assert adapter._spent_now("+32470123456") == 3
    assert not adapter._within_cap("+32470123456", 1)


class Sending:
    """A backend that sends every text as one SMS."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def transmit(self, number: str, text: str, smsc: str | None) -> int:
        self.sent.append(text)
        return 1


async def test_a_sent_sms_does_not_wait_for_the_store_to_record_its_count(adapter: Adapter,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The count is written after the SMS went out: a store slow to take it (its thread busy, a
    locked card) must not hold `send` past the outbox's SEND_TIMEOUT, or the delivery would count
    as failed and the SMS be sent, and paid for, a second time. It is written once the store takes it."""
    modem = Sending()
    adapter.backend = modem
    adapter.health.up("ok")
    store = adapter._hub.store
    write, unstalled = store.set_plugin_value, asyncio.Event()

    async def stalled(*args: Any) -> None:
        await unstalled.wait()
        await write(*args)
    monkeypatch.setattr(store, "set_plugin_value", stalled)
    async with asyncio.timeout(5):
        await adapter.send(Address("sms", "0470 12 34 56", True), Reply("heater is ON", answer=True))
    assert modem.sent == ["heater is ON"]
    adapter._count_sent("+32470123456", 1)              # another, while the first is still being written
    assert adapter._spent_now("+32470123456") == 2
    unstalled.set()
    assert adapter._keeper is not None
    await adapter._keeper
    spent, _told = await store.call(adapter._count_spent, store.db)
    assert sum(p for _, p in spent["+32470123456"]) == 2, "both kept, the later count written last"


async def test_typography_goes_in_the_gsm_alphabet_so_help_costs_fewer_sms(adapter: Adapter) -> None:
    """`help`'s dashes, French quotes and thin spaces once made every SMS UCS-2 (70 characters
    instead of 160): they become their GSM look-alikes; `°` has none and stays."""
    from adapters import sms_text
    text = adapter.render([Reply("ack — acquitter l’alerte… « ack 1 », 1\u202f447")])
    assert text == "ack - acquitter l'alerte... \" ack 1 \", 1 447" and sms_text.fits_gsm7(text)
    assert adapter.render([Reply("salon: 20,5 °C")]) == "salon: 20,5 °C"


async def test_a_modem_of_another_country_takes_no_stranger_for_a_user(tmp_path: Path) -> None:
    """Two modems (France, Italy) and alice's number written as the French write it: the hub's
    one rule (chatops.auth, the users' country: [hub] default_country when the modems differ)
    says alice is +33612345678. The Italian modem read her pattern in Italy's plan
    (+390612345678), recognised that stranger's number as alice's and routed it under her
    pattern, past the rule: whoever texts from it was answered as alice (and could switch what
    she may), while alice herself, on that modem, was ignored as a stranger."""
    settings = settings_for(tmp_path / "data",
                            adapters={"sms": [{"name": "sms_fr", "default_country": "+33"},
                                              {"name": "sms_it", "default_country": "+39"}]},
                            users={"alice": {"roles": ["family"], "sms": ["06 12 34 56 78"]}})
    hub = Hub(settings)
    italian: Adapter = hub.adapters["sms_it"]  # type: ignore[assignment]
    italian._hub = hub
    await hub.store.open()
    try:
        answers = await italian._answer(sms_text.Incoming("+390612345678", "whoami", "k1", ()), "+390612345678")
        assert answers == [], f"a stranger's SMS gets no answer, and certainly not alice's: {answers}"
        answers = await italian._answer(sms_text.Incoming("+33612345678", "whoami", "k2", ()), "+33612345678")
        assert len(answers) == 1 and "alice" in answers[0]
        for number, meant in (("+390612345678", None), ("+33612345678", "alice")):
            user, identity = italian.identify(number)
            assert (user.name if user else None) == meant, number
            assert hub.auth.user_for(identity) is user, number      # what the router will judge
            assert identity.id == number                             # routed as the number that wrote
    finally:
        await hub.store.close()
