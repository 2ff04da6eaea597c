"""SMS through a 3G key: `chauffage on` from the road, `heater is ON` back once it switched.

Two backends behind one adapter: `gammu` (the hub owns the modem through python-gammu) and
`smsd` (gammu-smsd owns it; the hub reads its inbox and queues into its outbox). Either way:

- only numbers of configured users are served; others are audited and never answered;
- a received message is recorded as begun before its command runs and as done, together
  with its replies, before it is deleted: a crash never loses it and never runs it twice;
- replies wait in the hub's database until the modem took them, under an hourly cap per number;
- modem trouble shows in /health and !status and is retried with backoff; a silent modem is
  caught by a periodic probe and reopened.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections import deque
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, field_validator

from chatops.adapter import AdapterBase, Capabilities
from chatops.auth import User
from chatops.backoff import Backoff
from chatops.config import (COUNTRY_PATTERN, AdapterSettings, ConfigError, Duration, known_country,
                            read_secret)
from chatops.health import Health
from chatops.message import Address, Attachment, Identity, Message, Reply
from chatops.router import clean_text

from .sms_network import normalise_phone
from .sms_gammu import GammuModem, ModemError
from .sms_text import Encoder, Incoming

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)

E164 = re.compile(r"^\+[1-9]\d{5,14}$")
HOUR = 3600.0
MAX_ATTEMPTS = 8           # a message the modem refused this often is given up (logged)

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS sms_outbox (
    id INTEGER PRIMARY KEY, adapter TEXT NOT NULL, number TEXT NOT NULL, text TEXT NOT NULL,
    parts INTEGER NOT NULL, queued_at REAL NOT NULL, next_try REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, sent_at REAL, failed_at REAL, last_error TEXT);
CREATE INDEX IF NOT EXISTS sms_outbox_pending ON sms_outbox(adapter, sent_at, failed_at, next_try);
CREATE INDEX IF NOT EXISTS sms_outbox_recent ON sms_outbox(adapter, number, queued_at);
"""


class BackendKind(str, Enum):
    GAMMU = "gammu"
    SMSD = "smsd"


class Settings(AdapterSettings):
    """[adapters.sms]: a 3G key driven by python-gammu, or gammu-smsd's spool."""

    backend: BackendKind = Field(BackendKind.GAMMU, examples=['"gammu"', '"smsd"'])
    connection: str = Field("at", examples=['"at"', '"at115200"'])
    device: str = Field("/dev/ttyUSB0", examples=['"/dev/ttyUSB0"', '"/dev/serial/by-id/usb-HUAWEI-if00-port0"'])
    model: str = Field("", examples=['""', '"dummy"'])
    gammurc: str | None = Field(None, examples=['"/etc/gammurc"'],
                                description="read connection/device/model from this gammurc instead")
    gammurc_section: int = Field(0, ge=0, examples=["0"])
    pin_env: str | None = Field(None, examples=['"SIM_PIN"'])
    pin_file: str | None = Field(None, examples=['"/etc/chatops/sim.pin"'])
    smsc: str | None = Field(None, examples=['"+33609001390"'], description="SMS centre; default: the SIM's")
    smsd_config: str = Field("/etc/gammu-smsdrc", examples=['"/etc/gammu-smsdrc"'])
    poll_interval: Duration = Field(5.0, gt=0, le=600, examples=['"5s"'])
    probe_interval: Duration = Field(60.0, gt=0, examples=['"1m"'])
    call_timeout: Duration = Field(60.0, gt=0, examples=['"60s"'])
    default_country: str | None = Field(None, pattern=COUNTRY_PATTERN, examples=['"+33"', '"FR"'],
                                        description="default: [hub] default_country")
    hourly_cap: int = Field(10, ge=1, examples=["10"], description="SMS sent per number per hour")
    max_parts: int = Field(4, ge=1, le=10, examples=["4"], description="longest reply, in SMS")
    multipart_timeout: Duration = Field(600.0, gt=0, examples=['"10m"'])
    smsd_stale: Duration = Field(600.0, gt=0, examples=['"10m"'])

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return known_country(value) if value else value

    def gammurc_path(self, base_dir: Path | None) -> Path:
        path = Path(self.gammurc or "")
        return path if path.is_absolute() or base_dir is None else base_dir / path


class Adapter(AdapterBase):
    """The SMS adapter; `send` queues (durably) and raises when the modem is down."""

    network = "sms"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        # A sender number can be forged: users with a PIN word must give it (the router checks).
        self.capabilities = Capabilities(max_text=153 * settings.max_parts, images=False, forgeable_sender=True)
        self.encoder = Encoder()
        self.backend: Any = None               # the open backend while the modem is usable
        self._identity = ""                    # what the open modem says it is
        self._hub: Hub | None = None
        self._wake = asyncio.Event()           # the outbox has something new
        self._probe_now = asyncio.Event()      # a transmit failed: is the modem still there?
        self._inflight: set[str] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._held: deque[float] = deque()
        self._pending = 0

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        sim_pin = read_secret(self.settings, "pin", hub.settings.base_dir)
        await hub.store.call(self._prepare_store)
        transmitter = asyncio.create_task(self._transmit_forever(), name=f"{self.name}-transmit")
        try:
            await self._connect_forever(sim_pin)
        finally:
            transmitter.cancel()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(transmitter, *self._handlers, return_exceptions=True)

    def _new_backend(self, sim_pin: str | None) -> Any:
        base = self._hub.settings.base_dir if self._hub else None
        if self.settings.backend is BackendKind.SMSD:
            from .sms_smsd import SmsdSpool
            return SmsdSpool(self.name, self.settings, self.encoder, base)
        return GammuModem(self.name, self.settings, sim_pin, self.encoder, base)

    async def _connect_forever(self, sim_pin: str | None) -> None:
        """Open the modem, serve it until it fails, close it, retry with backoff; forever."""
        assert self._hub is not None
        store = self._hub.store
        backoff = Backoff(base=2.0, cap=300.0, reset_after=120.0)
        while True:
            backend = self._new_backend(sim_pin)
            if not self.health.connected:
                self.health.down(f"opening the modem ({self.health.detail})"
                                 if self.health.started else "opening the modem")
            try:
                self._identity = await backend.open()
                await store.call(self._retry_now)       # what failed with the old modem goes first
                self.backend = backend
                await self._probe(backend)
                backoff.up()
                log.info("%s: modem open: %s", self.name, self.health.detail)
                await self._serve(backend)
            except ModemError as exc:
                self.health.down(str(exc))
                log.warning("%s: modem trouble: %s; retrying", self.name, exc)
            finally:
                self.backend = None
                await backend.close()
            await asyncio.sleep(backoff.next_delay())

    async def _serve(self, backend: Any) -> None:
        """Poll for messages and probe the modem until it fails (ModemError)."""
        assert self._hub is not None
        await self._hub.ready.wait()
        next_probe = time.monotonic() + self.settings.probe_interval
        while True:
            for incoming in await backend.receive():
                if incoming.key not in self._inflight:
                    self._inflight.add(incoming.key)
                    self._spawn(self._handle(incoming))
            if self._probe_now.is_set() or time.monotonic() >= next_probe:
                self._probe_now.clear()
                await self._probe(backend)
                next_probe = time.monotonic() + self.settings.probe_interval
            try:
                async with asyncio.timeout(self.settings.poll_interval):
                    await self._probe_now.wait()
            except TimeoutError:
                pass

    async def _probe(self, backend: Any) -> None:
        """Health from the modem's answer; ModemError (reopen) when it does not answer at all."""
        try:
            self.health.up(f"{self._identity}, {await backend.probe()}")
            self._wake.set()
        except ModemError as exc:
            if exc.reopen:
                raise
            self.health.down(f"{self._identity}: {exc}")   # it answers, but no network (yet)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._handlers.add(task)
        task.add_done_callback(self._handlers.discard)

    # ---- receiving -------------------------------------------------------------------------

    async def _handle(self, incoming: Incoming) -> None:
        number = self.e164(incoming.number) or incoming.number
        lock, users = self._locks.get(number, (asyncio.Lock(), 0))
        self._locks[number] = (lock, users + 1)
        try:
            async with lock:                    # one sender's messages are answered in order
                await self._handle_once(incoming, number)
        except ModemError as exc:
            log.warning("%s: SMS from %s handled but not deleted yet (%s); next poll retries",
                        self.name, number, exc)
        except Exception:
            log.exception("%s: handling an SMS from %s failed", self.name, number)
        finally:
            self._inflight.discard(incoming.key)
            lock, users = self._locks[number]
            if users > 1:
                self._locks[number] = (lock, users - 1)
            else:
                del self._locks[number]

    async def _handle_once(self, incoming: Incoming, number: str) -> None:
        hub = self._hub
        assert hub is not None
        begun, done = f"sms:{incoming.key}", f"sms:{incoming.key}:done"
        if await hub.store.was_processed(done):
            await self._delete(incoming)        # handled before a restart, deletion was cut short
            return
        if not await hub.store.mark_processed(begun):
            # Begun by an earlier run that died before finishing: never run a command twice.
            log.warning("%s: SMS from %s was interrupted while being handled (hub stopped?); "
                        "not running it again", self.name, number)
            user, _ = self.identify(number)
            texts = [f"The hub was interrupted while handling \"{clean_text(incoming.text)[:40]}\"; to be safe "
                     "it was not run again. Send it again if needed."] if user else []
            await self._finish(number, texts, done)
            await self._delete(incoming)
            return
        texts = await self._answer(incoming, number)
        await self._finish(number, texts, done)
        await self._delete(incoming)

    async def _answer(self, incoming: Incoming, number: str) -> list[str]:
        """The reply texts for one received message (none for strangers)."""
        hub = self._hub
        assert hub is not None
        user, identity = self.identify(number)
        address = Address(self.name, number, True)
        if user is None:
            hub.audit.record("sms-unknown-sender", f"sms:{number}", str(address), incoming.text,
                             "no [users] entry has this number; not answered")
            return []
        message = Message(identity, address, incoming.text, addressed=True, raw=incoming)
        replies = await hub.execute(message)
        rendered = self.render(replies)
        return [rendered] if rendered else []

    async def _finish(self, number: str, texts: list[str], done: str) -> None:
        """Queue the replies and record the message as done, in one transaction."""
        hub = self._hub
        assert hub is not None
        valid = number if E164.match(number) else None
        prepared = [(t, self.encoder.count(t)) for t in texts] if valid else []

        def write(db: sqlite3.Connection) -> list[str]:
            db.execute("INSERT OR IGNORE INTO processed(key, at) VALUES (?, ?)", (done, time.time()))
            return self._queue(db, number, prepared)
        held = await hub.store.call(hub.store.transaction, write)
        self._note_held(number, held)
        if prepared:
            self._wake.set()

    async def _delete(self, incoming: Incoming) -> None:
        backend = self.backend
        if backend is None:
            raise ModemError("the modem is down")
        await backend.delete(incoming)

    # ---- who may talk ----------------------------------------------------------------------

    @property
    def country(self) -> str:
        """Country code for numbers written without one: this section's, else the hub's."""
        if self.settings.default_country:
            return self.settings.default_country
        return self._hub.settings.hub.default_country if self._hub is not None else "+33"

    def e164(self, number: str) -> str | None:
        """`number` in E.164 (default country applied), or None for alphanumeric senders."""
        if not re.search(r"\d", number or ""):
            return None
        normal = normalise_phone(number, self.country)
        return normal if E164.match(normal) else None

    def identify(self, number: str) -> tuple[User | None, Identity]:
        """The configured user owning `number` (E.164), and the identity to route with."""
        hub = self._hub
        assert hub is not None
        for user in hub.auth.users.values():
            for pattern in user.settings.patterns("sms"):
                if self.e164(pattern) == number:
                    identity = Identity("sms", number, display=user.name)
                    if hub.auth.user_for(identity) is not user:
                        # Auth normalises with its own default country; the configured form matches it.
                        identity = Identity("sms", pattern, display=user.name)
                    return user, identity
        return None, Identity("sms", number, display=number)

    # ---- sending -----------------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        """Queue `reply` for `address` (durably); raise when the modem is down so the outbox retries."""
        hub = self._hub
        if hub is None or self.backend is None or not self.health.connected:
            raise ConnectionError(f"SMS modem is down: {self.health.detail}")
        number = self.e164(address.target)
        if number is None:
            raise ValueError(f"{address.target!r} is not a phone number")
        text = self.render([reply])
        if not text:
            return
        prepared = [(text, self.encoder.count(text))]
        held = await hub.store.call(hub.store.transaction, lambda db: self._queue(db, number, prepared))
        self._note_held(number, held)
        self._wake.set()

    def render(self, replies: list[Reply]) -> str:
        """One SMS text for `replies`: images as links, cut to `max_parts` SMS."""
        lines = []
        for reply in replies:
            if reply.text:
                lines.append(reply.text)
            lines += [self._link(a) for a in reply.attachments]
        return self.encoder.fit("\n".join(lines), self.settings.max_parts) if lines else ""

    def _link(self, attachment: Attachment) -> str:
        url = attachment.url
        web = getattr(self._hub, "web", None)
        if url is None and web is not None and attachment.path.exists():
            url = web.links.publish(attachment.path, attachment.mime)
        return f"Image: {url}" if url else "(an image: SMS cannot carry it and the web server is off)"

    def _queue(self, db: sqlite3.Connection, number: str, prepared: list[tuple[str, int]]) -> list[str]:
        """Insert texts into the outbox under the hourly cap (store thread); returns those held back."""
        now = time.time()
        used = db.execute("SELECT COALESCE(SUM(parts), 0) FROM sms_outbox WHERE adapter = ? AND number = ? "
                          "AND queued_at > ? AND failed_at IS NULL", (self.name, number, now - HOUR)).fetchone()[0]
        held = []
        for text, parts in prepared:
            if used + parts > self.settings.hourly_cap:
                held.append(text)
                continue
            db.execute("INSERT INTO sms_outbox(adapter, number, text, parts, queued_at, next_try) "
                       "VALUES (?,?,?,?,?,?)", (self.name, number, text, parts, now, now))
            used += parts
        return held

    def _note_held(self, number: str, held: list[str]) -> None:
        for text in held:
            self._held.append(time.time())
            log.warning("%s: SMS to %s held back by the hourly cap (%d SMS per number per hour): %r",
                        self.name, number, self.settings.hourly_cap, text[:80])

    def _prepare_store(self) -> None:
        assert self._hub is not None
        db = self._hub.store.db
        db.executescript(OUTBOX_SCHEMA)
        week = time.time() - 7 * 86400
        db.execute("DELETE FROM sms_outbox WHERE adapter = ? AND (sent_at < ? OR failed_at < ?)",
                   (self.name, week, week))
        db.execute("DELETE FROM processed WHERE key LIKE 'sms:%' AND at < ?", (time.time() - 30 * 86400,))

    async def _transmit_forever(self) -> None:
        """Hand queued SMS to the modem while it is up; failures wait with backoff and ask for a probe."""
        hub = self._hub
        assert hub is not None
        store = hub.store
        while True:
            self._wake.clear()
            backend = self.backend
            if backend is None or not self.health.connected:
                await self._wake.wait()             # set again once a probe finds the modem up
                continue
            rows = await store.call(self._due, time.time())
            for row_id, number, text, attempts in rows:
                if self.backend is not backend:
                    break
                try:
                    await backend.transmit(number, text, self.settings.smsc)
                except ModemError as exc:
                    await store.call(self._failed, row_id, attempts + 1, str(exc))
                    self._probe_now.set()
                    break
                except Exception as exc:        # this message cannot be encoded or sent at all
                    log.exception("%s: SMS %d to %s cannot be sent", self.name, row_id, number)
                    await store.call(self._failed, row_id, MAX_ATTEMPTS, f"{type(exc).__name__}: {exc}")
                    continue
                await store.call(self._sent, row_id)
            self._pending, upcoming = await store.call(self._backlog)
            if len(rows) == 50 and self.backend is backend:
                continue
            timeout = None if upcoming is None else max(0.05, upcoming - time.time())
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                pass

    # Outbox statements, run on the store's thread.

    @property
    def _db(self) -> sqlite3.Connection:
        assert self._hub is not None
        return self._hub.store.db

    def _due(self, now: float) -> list[tuple[int, str, str, int]]:
        return self._db.execute(
            "SELECT id, number, text, attempts FROM sms_outbox WHERE adapter = ? AND sent_at IS NULL "
            "AND failed_at IS NULL AND next_try <= ? ORDER BY id LIMIT 50", (self.name, now)).fetchall()

    def _sent(self, row_id: int) -> None:
        self._db.execute("UPDATE sms_outbox SET sent_at = ?, attempts = attempts + 1 WHERE id = ?",
                         (time.time(), row_id))

    def _backlog(self) -> tuple[int, float | None]:
        count, upcoming = self._db.execute(
            "SELECT COUNT(*), MIN(next_try) FROM sms_outbox WHERE adapter = ? AND sent_at IS NULL "
            "AND failed_at IS NULL", (self.name,)).fetchone()
        return int(count), upcoming

    def _retry_now(self) -> None:
        """The modem is back: what waited for it goes now, not at its backed-off time."""
        self._db.execute("UPDATE sms_outbox SET next_try = ? WHERE adapter = ? AND sent_at IS NULL "
                         "AND failed_at IS NULL", (time.time(), self.name))

    def _failed(self, row_id: int, attempts: int, error: str) -> None:
        now = time.time()
        if attempts >= MAX_ATTEMPTS:
            log.error("%s: giving up SMS %d after %d attempts: %s", self.name, row_id, attempts, error)
            self._db.execute("UPDATE sms_outbox SET attempts = ?, failed_at = ?, last_error = ? WHERE id = ?",
                             (attempts, now, error[:300], row_id))
            return
        log.warning("%s: SMS %d not sent (attempt %d): %s", self.name, row_id, attempts, error)
        self._db.execute("UPDATE sms_outbox SET attempts = ?, next_try = ?, last_error = ? WHERE id = ?",
                         (attempts, now + Backoff.delay_after(attempts, 5.0, 300.0), error[:300], row_id))

    # ---- status --------------------------------------------------------------------------------

    def status_note(self) -> str | None:
        """What !status adds for SMS: messages held back by the cap, messages waiting for the modem."""
        while self._held and time.time() - self._held[0] > HOUR:
            self._held.popleft()
        notes = []
        if self._held:
            notes.append(f"{len(self._held)} SMS held back in the last hour "
                         f"(hourly cap: {self.settings.hourly_cap} per number)")
        if self._pending:
            notes.append(f"{self._pending} SMS waiting for the modem")
        return "; ".join(notes) or None


__all__ = ["Adapter", "BackendKind", "ConfigError", "Settings"]
