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
import contextlib
import json
import logging
import sqlite3
import time
from datetime import datetime
from collections import deque
from typing import TYPE_CHECKING, Any

from chatops import render
from chatops.adapter import AdapterBase, Capabilities
from chatops.auth import User
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.i18n import _ as gettext
from chatops.i18n import speaking
from chatops.message import Address, Identity, Message, Reply
from chatops.rate import SenderLimits
from chatops.outbox import Undeliverable, queue_message
from chatops.store import deliveries, plugin_kv, processed
from chatops.command_line import clean_text

from .sms_network import E164, NETWORK, e164
from .sms_settings import BackendKind, Settings
from .sms_gammu import GammuModem, ModemError
from .sms_text import Encoder, Incoming

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)
READY_GRACE = 5.0             # seconds SMS waits for the hub to be ready before it reads messages anyway

HOUR = 3600.0

LEGACY_OUTBOX = "sms_outbox"   # the SMS adapter's own queue before replies joined the hub's deliveries
SPENT = "sms-spent:"            # plugin_kv: what each number was sent this hour, per adapter (`_count_sent`)
CAP_NOTE = "sms-cap-note"      # the deliveries kind of the "limit reached" note, which the adapter sends itself


# The hourly cap, from the top: the last SMS of the hour is kept for a critical alarm's first
# message, the one before it for one "limit reached" note, then ANSWER_RESERVE for answers,
# clears and acknowledgements; what the hub sends unasked (reminders, timers, notifications,
# other alerts) stops below those. Answers once used the whole cap, and the smoke alarm that
# came next was held back.
CRITICAL_RESERVE = 1
ANSWER_RESERVE = 2

# Typography outside the GSM alphabet, which would make the whole SMS UCS-2 (70 characters, not
# 160): `help`'s dashes, French quotes and spaces, an ellipsis. `°` has no stand-in and stays.
GSM_FRIENDLY = str.maketrans({"\u2014": "-", "\u2013": "-", "\u2019": "'", "\u2018": "'", "\u201c": '"',
                              "\u201d": '"', "\u00ab": '"', "\u00bb": '"', "\u2026": "...", "\u202f": " ",
                              "\u00a0": " "})


class Adapter(AdapterBase):
    """The SMS adapter. Replies and alerts wait in the hub's one delivery outbox (chatops.outbox);
    `send` hands one message to the modem, and raises when it is down so the outbox retries."""

    network = "sms"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        # A sender number can be forged: users with a PIN word must give it (the router checks).
        self.capabilities = Capabilities(max_text=153 * settings.max_parts, images=NETWORK.pictures, forgeable_sender=True,
                                         cut_long_text=True)
        self.encoder = Encoder()
        self.backend: Any = None               # the open backend while the modem is usable
        self._identity = ""                    # what the open modem says it is
        self._hub: Hub | None = None
        self._probe_now = asyncio.Event()      # a transmit failed: is the modem still there?
        self._inflight: set[str] = set()
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._handlers: set[asyncio.Task[None]] = set()
        self._held: deque[float] = deque()
        self._told_capped: set[str] = set()     # numbers told this hour that answers stop
        self._spent: dict[str, deque[tuple[float, int]]] = {}    # number -> (sent at, monotonic; parts) in the last hour
        self._unkept: dict[str, int] = {}      # number -> SMS counted but not yet written to plugin_kv
        self._keeper: asyncio.Task[None] | None = None     # writes them, in the background (`_keep_spent`)

    # ---- lifecycle ------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        sim_pin = read_secret(self.settings, "pin", hub.settings.base_dir)
        try:
            await hub.store.call(hub.store.transaction, self._prepare_store)
        except sqlite3.DatabaseError as exc:
            # A full or read-only card at boot: housekeeping waits for the next start; the modem
            # is opened all the same, or no alarm would go out by SMS (they go from memory).
            log.warning("%s: the SMS tables' housekeeping is skipped (storage fails: %s)", self.name, exc)
        with contextlib.suppress(sqlite3.DatabaseError):
            self._spent, self._told_capped = await hub.store.call(self._count_spent, hub.store.db)
        for warning in self.settings.warnings_with(hub.settings):     # `chatops check` says them too
            log.warning("%s: %s", self.name, warning)
        try:
            await self._connect_forever(sim_pin)
        finally:
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            if self._keeper is not None:        # the last counts written before the store closes
                await asyncio.wait([self._keeper], timeout=5.0)
                self._keeper.cancel()           # a store stuck past that: nothing is left running

    def _new_backend(self, sim_pin: str | None) -> Any:
        base = self._hub.settings.base_dir if self._hub else None
        if self.settings.backend is BackendKind.SMSD:
            from .sms_smsd import SmsdSpool
            return SmsdSpool(self.name, self.settings, self.encoder, base)
        return GammuModem(self.name, self.settings, sim_pin, self.encoder, base)

    async def _connect_forever(self, sim_pin: str | None) -> None:
        """Open the modem, serve it until it fails, close it, retry with backoff; forever."""
        assert self._hub is not None
        backoff = Backoff(base=2.0, cap=300.0, reset_after=120.0)
        while True:
            backend = self._new_backend(sim_pin)
            if not self.health.connected:
                self.health.down(f"opening the modem ({self.health.detail})"
                                 if self.health.started else "opening the modem")
            try:
                self._identity = await backend.open()
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
        # The first readings are worth a few seconds; a network still connecting elsewhere (an IRC
        # server that does not answer holds "ready" up to 30 s) is not worth an SMS left unread.
        await self._hub.wait_ready(READY_GRACE)
        next_probe = time.monotonic() + self.settings.probe_interval
        while True:
            # In the order they were sent, not their SIM slots: `off` sent after `on` must win.
            for incoming in sorted(await backend.receive(), key=lambda i: i.sent_at or 0.0):
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
            self.health.up(f"{self._identity}, {await backend.probe()}")   # the outbox resumes
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
            user, _identity = self.identify(number)
            with speaking(hub.auth.language_of(user)):
                texts = [gettext("The hub was interrupted while handling \"{line}\"; to be safe it was not run "
                                 "again. Send it again if needed.").format(
                    line=hub.access.mask(user, clean_text(incoming.text))[:40])] if user else []
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
        if user is None or incoming.binary:
            # Each costs the number's rate bucket as any line would: past it, one row a minute
            # with a count, so a flood from a number (or a spoofed one) cannot fill the disk.
            flood = hub.access.limits.take(f"sms:{number}") != SenderLimits.ALLOWED
            kind, why = ("sms-not-text", "8-bit data (an MMS notice?), not text; deleted") if incoming.binary else \
                ("sms-unknown-sender", "no [users] entry has this number; not answered")
            hub.audit.record(kind, f"sms:{number}", str(address), hub.access.mask(None, incoming.text), why, fold=flood)
            return []
        late = time.time() - incoming.sent_at if incoming.sent_at is not None else 0.0
        message = Message(identity, address, incoming.text, addressed=True, raw=incoming,
                          late=late if late > self.settings.stale_after else 0.0)
        replies = await hub.execute(message, queued=True)     # _finish queues them
        rendered = self.render(replies)
        return [rendered] if rendered else []

    async def _finish(self, number: str, texts: list[str], done: str) -> None:
        """Queue the replies in the hub's outbox and record the message as done, in one
        transaction: a reply is sent once even if the hub dies right after."""
        hub = self._hub
        assert hub is not None
        texts = texts if E164.match(number) else []
        address = Address(self.name, number, True)

        def write(db: sqlite3.Connection) -> None:
            now = time.time()
            processed.mark(db, done, now)
            for text in texts:
                queue_message(db, address, number, "reply", text, None, now)
        try:
            await hub.store.call(hub.store.transaction, write)
        except sqlite3.DatabaseError as exc:
            # A full or read-only card: the command ran, so its answer goes out now, from memory
            # (at most once: the store remembers the message as done until it can write it),
            # instead of the message being taken next poll for one interrupted by a crash.
            await hub.store.mark_processed(done)
            log.warning("%s: the reply to %s cannot be queued (%s): sent from memory", self.name, number, exc)
            for text in texts:
                try:
                    await hub.send_through(self, address, Reply(text))
                except Exception as send_error:
                    log.error("%s: the reply to %s is lost: storage fails and sending failed too (%s)",
                              self.name, number, send_error)
            return
        if texts:
            hub.alerts.outbox.wake(self.name).set()

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
        return e164(number, self.country)

    def identify(self, number: str) -> tuple[User | None, Identity]:
        """The configured user owning `number` (E.164), and the identity to route with: the
        number itself, judged by the hub's one rule (chatops.auth, users' numbers read in
        `users_country`). Not this modem's own reading of the patterns: with two modems of
        different countries, `06 12 34 56 78` is another number to each, and a sender routed
        under the pattern it matched here was taken for a user the rule says it is not."""
        hub = self._hub
        assert hub is not None
        user = hub.auth.user_for(Identity("sms", number))
        return user, Identity("sms", number, display=user.name if user is not None else number)

    # ---- sending -----------------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        """Hand `reply` to the modem now. Raises ConnectionError while it is down and ModemError
        when it fails (the outbox retries both), Undeliverable when it never can be sent."""
        backend = self.backend
        if self._hub is None or backend is None or not self.health.connected:
            raise ConnectionError(f"SMS modem is down: {self.health.detail}")
        number = self.e164(address.target)
        if number is None:
            raise Undeliverable(f"{address.target!r} is not a phone number")
        text = self.render([reply])
        if not text:
            return
        parts = self.encoder.count(text)
        # Nothing goes past the cap, whoever asks: a forged sender must not make the hub send
        # without limit. Below it, the tiers of CRITICAL_RESERVE.
        alarm = reply.alert is not None and reply.alert.kind == "raise" and reply.alert.severity == "critical"
        wanted = reply.answer or (reply.alert is not None and reply.alert.kind in ("clear", "ack"))
        cap = self.settings.hourly_cap
        answers = max(1, cap - CRITICAL_RESERVE - 1)
        limit = cap if alarm else answers if wanted else max(1, answers - ANSWER_RESERVE)
        if alarm and not self._within_cap(number, parts, limit) and (room := limit - self._spent_now(number)) > 0:
            # A smoke alarm with its picture's link is two SMS: with one left, the words alone
            # (cut to it) rather than nothing until the hour is over.
            text, parts = self.encoder.fit(text, room), min(parts, room)
        if not self._within_cap(number, parts, limit):
            self._note_held(number, [text])
            note = self._capped_note(number) if wanted and number not in self._told_capped else ""
            note_parts = self.encoder.count(note) if note else 0
            if note and self._within_cap(number, note_parts, answers + 1):
                # Said once an hour, or they cannot tell whether their `chauffage off` ran.
                self._told_capped.add(number)
                try:
                    note_parts = await backend.transmit(number, note, self.settings.smsc)
                except Exception as exc:            # the answer it stands for is given up either way
                    log.info("%s: the note that answers stop could not be sent to %s: %s", self.name, number, exc)
                    note_parts = exc.sent_parts if isinstance(exc, ModemError) else 0
                if note_parts:                  # counted, and kept for the count after a restart
                    self._count_sent(number, note_parts)
                    await self._record_note(address, number, note)
            raise Undeliverable(f"held back by the hourly cap ({self.settings.hourly_cap} SMS per number per hour)")
        try:
            sent = await backend.transmit(number, text, self.settings.smsc)
        except ModemError as exc:
            if exc.sent_parts:                  # billed all the same: the cap counts them
                self._count_sent(number, exc.sent_parts)
            self._probe_now.set()               # is the modem still there?
            raise
        except Exception as exc:                # this message cannot be encoded or sent at all
            log.exception("%s: SMS to %s cannot be sent", self.name, number)
            raise Undeliverable(f"{type(exc).__name__}: {exc}") from exc
        self._count_sent(number, sent)

    def _within_cap(self, number: str, parts: int, cap: int | None = None) -> bool:
        """Whether `parts` more SMS to `number` stay within `cap` (the hourly cap) this hour."""
        cap = self.settings.hourly_cap if cap is None else cap
        return self._spent_now(number) + parts <= cap

    def _count_sent(self, number: str, parts: int) -> None:
        """`parts` SMS to `number` went out now: the hourly cap counts them, after a restart too.
        Kept as sent, not as the outbox has the message: a picture's link is added here, and the
        parts of a message the modem gave up halfway are billed though it is not delivered.

        Written in the background: the SMS is gone, and `send` must not wait for the store (its
        thread busy, a locked or failing card): past the outbox's SEND_TIMEOUT the delivery would
        count as failed and the SMS be sent, and paid for, again."""
        self._spent.setdefault(number, deque()).append((time.monotonic(), parts))
        self._unkept[number] = self._unkept.get(number, 0) + parts
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep_spent())

    async def _keep_spent(self) -> None:
        """Write each number's count this hour to plugin_kv, the latest as it is when written
        (sends made meanwhile are written together)."""
        hub = self._hub
        assert hub is not None
        while self._unkept:
            number, parts = self._unkept.popitem()
            self._spent_now(number)                     # this hour's only
            ago = time.time() - time.monotonic()        # the monotonic times, on the wall clock
            kept = json.dumps([[round(at + ago, 3), count] for at, count in self._spent.get(number, ())])
            try:
                await hub.store.set_plugin_value(f"{SPENT}{self.name}", number, kept)
            except (sqlite3.DatabaseError, RuntimeError) as exc:     # RuntimeError: the store is closed
                log.warning("%s: %d SMS sent to %s are not recorded (storage fails: %s); a restart within the "
                            "hour would count them from the messages delivered", self.name, parts, number, exc)

    async def _record_note(self, address: Address, number: str, note: str) -> None:
        """Keep the "limit reached" note with what the outbox sent: after a restart its parts still
        count toward the cap, and it is not said a second time this hour (`_count_spent`)."""
        hub = self._hub
        assert hub is not None
        user, _identity = self.identify(number)

        def write(db: sqlite3.Connection) -> None:
            deliveries.record_sent(db, self.name, number, user.name if user else address.target, CAP_NOTE, note,
                                   time.time())
        try:
            await hub.store.call(hub.store.transaction, write)
        except sqlite3.DatabaseError as exc:
            log.warning("%s: the note that answers stop, sent to %s, is not recorded (storage fails: %s); a restart "
                        "within the hour would not count it", self.name, number, exc)

    def _spent_now(self, number: str) -> int:
        """The SMS sent to `number` in the last hour."""
        spent = self._spent.setdefault(number, deque())
        while spent and time.monotonic() - spent[0][0] > HOUR:      # monotonic: NTP's steps move no window
            spent.popleft()
        if not spent:
            self._told_capped.discard(number)       # a new hour: a new note when it fills again
        return sum(p for _, p in spent)

    def _capped_note(self, number: str) -> str:
        """The one SMS that says answers stop for a while, and until when (the hub's time zone)."""
        assert self._hub is not None
        spent = self._spent.get(number) or deque([(time.monotonic(), 0)])
        back = time.time() + max(60.0, HOUR - (time.monotonic() - spent[0][0]))
        user, _identity = self.identify(number)
        with speaking(self._hub.auth.language_of(user)):
            note = gettext("SMS limit reached ({cap} an hour): no more answers until {time}; alarms still come.")
        return note.format(cap=self.settings.hourly_cap, time=datetime.fromtimestamp(back, self._hub.timers.tz)
                           .strftime("%H:%M")).translate(GSM_FRIENDLY)

    def render(self, replies: list[Reply]) -> str:
        """One SMS text for `replies` (images as links, by the core's `fit`), cut to `max_parts`
        SMS as the encoder counts them (GSM 7-bit or UCS-2)."""
        web = getattr(self._hub, "web", None)
        lines = [piece.text for reply in replies for piece in render.fit(reply, self.capabilities, web) if piece.text]
        text = "\n".join(lines).translate(GSM_FRIENDLY)
        return self.encoder.fit(text, self.settings.max_parts) if lines else ""

    def _note_held(self, number: str, held: list[str]) -> None:
        for text in held:
            self._held.append(time.monotonic())
            log.warning("%s: SMS to %s held back by the hourly cap (%d SMS per number per hour): %r",
                        self.name, number, self.settings.hourly_cap, text[:80])

    def _prepare_store(self, db: sqlite3.Connection) -> None:
        """Forget old processed keys; carry messages an older version left in its own SMS queue
        over to the hub's outbox (once: the table goes)."""
        now = time.time()
        processed.forget(db, "sms:", now - 30 * 86400)
        rows = processed.take_table(db, LEGACY_OUTBOX, "adapter, number, text, queued_at",
                                    "sent_at IS NULL AND failed_at IS NULL")
        for adapter, number, text, queued_at in rows:
            queue_message(db, Address(str(adapter), str(number), True), str(number), "reply", str(text), None,
                          float(queued_at))  # type: ignore[arg-type]
        if rows:
            log.info("%s: %d SMS waiting in the old SMS queue moved to the outbox", self.name, len(rows))

    def _count_spent(self, db: sqlite3.Connection) -> tuple[dict[str, deque[tuple[float, int]]], set[str]]:
        """This hour's sent SMS per number (the "limit reached" notes among them), counted toward
        the cap again from the database (a read: works on a read-only card too), and the numbers
        already told that answers stop. Both replace what is in memory, so a restart of the
        adapter neither counts them twice nor forgets them: the cap holds and the note is not
        said again."""
        now = time.time()
        ago = time.monotonic() - now                 # the stored wall times, on the monotonic clock
        spent: dict[str, deque[tuple[float, int]]] = {}
        told: set[str] = set()
        for target, kind, text, at in deliveries.sent_since(db, self.name, now - HOUR):
            # Keyed as a send keys it: the stored target may be a user's number as written (national).
            number = self.e164(target) or target
            spent.setdefault(number, deque()).append((at + ago, self.encoder.count(text)))
            if kind == CAP_NOTE:
                told.add(number)
        # What was sent, as counted when it was (`_count_sent`), where it was recorded: it knows
        # the links and the parts of a message given up halfway, which the outbox's text does not.
        # Unless it counts less: then its row missed this hour's sends (its writes failed while
        # the deliveries' did not; a row left from an earlier hour counts none), and the
        # deliveries say more of what went out.
        for number, kept in plugin_kv.values(db, f"{SPENT}{self.name}"):
            with contextlib.suppress(ValueError, TypeError):
                sent = deque((at + ago, int(count)) for at, count in json.loads(kept) if at > now - HOUR)
                if sum(p for _, p in sent) >= sum(p for _, p in spent.get(number, ())):
                    spent[number] = sent
        return spent, told

    # ---- status --------------------------------------------------------------------------------

    def status_note(self) -> str | None:
        """What !status adds for SMS: messages held back by the cap (those waiting for the modem
        are the outbox's, shown for every network)."""
        while self._held and time.monotonic() - self._held[0] > HOUR:
            self._held.popleft()
        notes = []
        if self._held:
            notes.append(f"{len(self._held)} SMS held back in the last hour "
                         f"(hourly cap: {self.settings.hourly_cap} per number)")
        return "; ".join(notes) or None


__all__ = ["Adapter", "BackendKind", "ConfigError", "Settings"]
