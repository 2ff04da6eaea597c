"""The durable outbox: one worker per adapter sends the alert deliveries that SQLite holds.

Rows are written by the alert engine before anything is sent; a worker sends what is due
while its adapter is connected, marks each row delivered, and retries failures (soon after a
reconnect when the connection was lost, with backoff when the network refused). Something
sent but not yet marked is remembered in memory and never sent again by this process.
"""

from __future__ import annotations

import asyncio
import logging
import mimetypes
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backoff import Backoff, pause_after_failure
from .clock import until
from .i18n import _, speaking
from .message import AlertRef, Address, Attachment, Button, Reply
from .store import deliveries

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

SEND_TIMEOUT = 30.0
RETRY_CAP = 120.0
RECONNECT_RETRY = 1.0           # a send that failed on the connection is tried again this soon (once it is up)
STORE_RETRY_CAP = 5.0           # longest wait before retrying a write the database refused
GIVE_UP_AFTER = 86400.0         # a delivery its network keeps refusing (not a lost connection) this long is dropped,
GIVE_UP_ATTEMPTS = 720          # once refused this often too: a wall clock stepped forward cannot cut the day short
                                # (720 retries at the 60-120 s ceiling are 12 h at the very least)
NEVER = float("inf")            # retry delay of a delivery its network refused for good (Undeliverable)


class Undeliverable(Exception):
    """Raised by an adapter's `send` when the network refused for good (an SMTP 5xx answer, an
    address that cannot exist): the delivery is given up at once with a log line, not retried."""


class Unread(Undeliverable):
    """Nobody was there to read it, and the network keeps nothing for later (the web chat with no
    page open): given up like Undeliverable, but an everyday event, logged as information."""


class RetryLater(Exception):
    """Raised by an adapter's `send` when the network asked to wait (Telegram's 429 with
    `retry_after`, Matrix's M_LIMIT_EXCEEDED): the delivery is tried again after `after`
    seconds, not sooner, instead of the send sleeping past the outbox's send timeout."""

    def __init__(self, message: str, after: float) -> None:
        super().__init__(message)
        self.after = after


def queue_message(db: Any, address: Address, recipient: str, kind: str, text: str,
                  attachment: str | None, now: float) -> None:
    """Queue a plain message (a timer's result, an automation's report) for `address` in the
    store's transaction `db`: it is sent, retried and kept across restarts as an alert's
    deliveries are. alert_id 0 marks a delivery that belongs to no alert."""
    deliveries.insert(db, [(0, address.adapter, address.target, int(address.direct), recipient, kind, text,
                            attachment, now, now)])


class Outbox:
    """Delivery workers of one hub, started on demand per adapter name."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self._changed: dict[str, asyncio.Event] = {}
        self._pass_done: dict[str, asyncio.Event] = {}
        self._any_pass = asyncio.Event()        # set (and replaced) after every network's pass
        self.sent_count = 0
        self.shown: set[int] = set()    # deliveries sent whose delivered mark is not written yet
        # Pieces of a delivery sent before a later one failed (a long text in two messages, a
        # picture then its words): its retry starts after them. In memory: a restart sends it whole.
        self._pieces_sent: dict[int, list[int]] = {}
        self._queued: list[tuple[list[tuple[Address, str, str, str, str | None, float]], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[object] | None = None

    async def queue(self, address: Address, recipient: str, kind: str, replies: list[Reply], now: float) -> None:
        """Queue `replies` for `address` (a timer's result): returns once they are committed.

        Messages queued in the same loop turn share one transaction (10,000 timers due in the
        same second were 10,000 commits, bench/timers.py); a database that refuses it raises
        to every caller of that batch, as their own write would have."""
        rows = [(address, recipient, kind, reply.text,
                 str(reply.attachments[0].path) if reply.attachments else None, now) for reply in replies]
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.append((rows, future))
        if self._writer is None:
            self._writer = self.hub.spawn(self._write_queued(), "outbox-queue")
        await future

    async def _write_queued(self) -> None:
        store = self.hub.store
        try:
            while self._queued:
                await asyncio.sleep(0)                   # the rest of this turn's messages join
                batch, self._queued = self._queued, []

                def write(db: Any) -> None:
                    for rows, _future in batch:
                        for address, recipient, kind, text, attachment, now in rows:
                            queue_message(db, address, recipient, kind, text, attachment, now)
                try:
                    await store.call(store.transaction, write)
                except Exception as exc:
                    for _rows, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for rows, future in batch:
                    if not future.done():
                        future.set_result(None)
                for adapter in {address.adapter for rows, _future in batch for address, *_ in rows}:
                    self.wake(adapter).set()
        finally:
            self._writer = None

    def wake_all(self) -> None:
        """Every running worker looks at its due deliveries now (the wall clock stepped: retry
        times are stored on it)."""
        for event in self._changed.values():
            event.set()

    def wake(self, adapter_name: str) -> asyncio.Event:
        """Wake (starting it if needed) the worker of `adapter_name`; returns its event."""
        event = self._changed.get(adapter_name)
        if event is None:
            event = self._changed[adapter_name] = asyncio.Event()
            event.set()
            self.hub.spawn(self._deliver_forever(adapter_name, event), f"outbox-{adapter_name}")
        return event

    async def _deliver_forever(self, adapter_name: str, changed: asyncio.Event) -> None:
        """Send due deliveries for one adapter whenever it is connected; retry with backoff."""
        unrecorded: set[int] = set()        # sent, but not yet marked in the database: never sent again
        store_backoff = Backoff(base=0.2, cap=STORE_RETRY_CAP)
        said_missing = False
        while True:
            adapter = self.hub.adapters.get(adapter_name)
            if adapter is None:
                if not said_missing:        # once: it is a state (a network turned off), not an event
                    log.warning("messages for %r wait until that network is enabled again ([adapters.%s] in the "
                                "config; for the console, a terminal or chatops run --console); nothing is lost",
                                adapter_name, adapter_name.split(".")[0])
                    said_missing = True
                await changed.wait()
                changed.clear()
                continue
            reconnected = not adapter.health.connected
            if reconnected:
                await adapter.health.up_event.wait()
            changed.clear()
            try:
                upcoming, more = await self._deliver_due(adapter, adapter_name, unrecorded, reconnected)
            except Exception as exc:        # a bug must never end alert delivery for a network either
                await pause_after_failure(store_backoff, exc, f"alert deliveries through {adapter_name}", log)
                continue
            store_backoff.reset()
            if passed := self._pass_done.pop(adapter_name, None):
                passed.set()
            self._any_pass.set()
            self._any_pass = asyncio.Event()
            if more or not adapter.health.connected:    # down: resend the moment it is back
                continue
            await until(self.hub.clock, upcoming, changed)

    def next_pass(self) -> asyncio.Event:
        """Set after the next delivery pass of any network (rows sent, failed or given up): taken
        before reading a state, so that a pass between the read and the wait is not missed."""
        return self._any_pass

    async def waiting(self) -> dict[str, int]:
        """Adapter name -> deliveries not sent yet (a network that is down, a modem that fails)."""
        store = self.hub.store
        return await store.call(deliveries.waiting_per_adapter, store.db)

    async def settled(self, adapter_name: str) -> None:
        """Return once nothing is due or new through `adapter_name`: what is recorded has been
        sent, or has failed and waits for its retry (a row never tried yet, e.g. held a moment for
        an alert's picture, still counts). The caller bounds the wait (a network may be down)."""
        store = self.hub.store
        while True:
            passed = self._pass_done.setdefault(adapter_name, asyncio.Event())   # before the count: no lost pass
            due, new = await store.call(deliveries.due_and_new, store.db, adapter_name, self.hub.clock.time())
            if not new:
                return
            if due:
                self.wake(adapter_name).set()
            await passed.wait()           # held rows: the worker's own timer (or the picture) brings the pass

    async def _deliver_due(self, adapter: Any, adapter_name: str, unrecorded: set[int],
                           reconnected: bool = False) -> tuple[float | None, bool]:
        """One pass: send what is due (after a reconnect: also every failed one waiting for its
        retry, but never a row held for an alert's picture), record the outcome; returns (next
        due time, more due now)."""
        store = self.hub.store
        now = self.hub.clock.time()
        due = await store.call(deliveries.due, store.db, adapter_name, now, reconnected, sorted(unrecorded))
        delivered: list[int] = []
        failed: list[tuple[int, int, str, float]] = []
        expired: list[tuple[int, int, str]] = []

        async def send_in_order(rows: list[Any]) -> None:
            for delivery_id, target, direct, text, attachment, attempts, created, alert_id, kind, recipient, \
                    open_, severity in rows:
                buttons = self._ack_button(alert_id, recipient) if open_ and kind in ("raise", "repeat") else ()
                alert = AlertRef(alert_id, severity, kind) if severity is not None else None
                sent = self._pieces_sent.setdefault(delivery_id, [0])
                outcome = await self._send_one(adapter, adapter_name, target, bool(direct), text, attachment,
                                               attempts, buttons, alert, answer=kind == "reply", sent=sent)
                if outcome is None or outcome[1] == NEVER or not sent[0]:
                    self._pieces_sent.pop(delivery_id, None)
                if outcome is None:
                    delivered.append(delivery_id)
                    self.shown.add(delivery_id)      # `alerts` lists the recipient as told at once
                elif outcome[1] == NEVER:
                    log.log(logging.INFO if outcome[0].startswith(f"{Unread.__name__}:") else logging.ERROR,
                            "delivery to %s:%s given up: the network refused it for good: %s", adapter_name,
                            target, outcome[0])
                    expired.append((delivery_id, attempts + 1, f"refused: {outcome[0]}"[:300]))
                elif outcome[1] > RECONNECT_RETRY and self._refused_for_a_day(attempts + 1, created):
                    # Refused for a day (a person never online as themselves, an address that
                    # does not exist): stop, rather than deliver a day-old alarm some day.
                    log.error("delivery to %s:%s given up after %d attempts over %s: %s", adapter_name, target,
                              attempts + 1, "24 h", outcome[0])
                    expired.append((delivery_id, attempts + 1, f"given up after 24 h: {outcome[0]}"[:300]))
                else:
                    failed.append((delivery_id, attempts + 1, *outcome))

        # Each recipient gets its messages in order; recipients are served at once (a fan-out
        # to 100 people costs one round trip, not 100: measured with bench.fanout).
        by_target: dict[str, list[Any]] = {}
        for row in due:
            by_target.setdefault(row[1], []).append(row)
        await asyncio.gather(*(send_in_order(rows) for rows in by_target.values()))
        unrecorded.update(delivered)
        if unrecorded or failed or expired:
            done = sorted(unrecorded)
            try:
                await store.call(store.transaction, lambda db: deliveries.record(db, self.hub.clock.time(), done, failed,
                                                                                  expired))
            except sqlite3.DatabaseError as exc:
                if delivered:
                    log.error("deliveries %s through %s were sent but cannot be marked delivered (%s); "
                              "they are not sent again, the write is retried", delivered, adapter_name, exc)
                raise
            unrecorded.difference_update(done)
            self.shown.difference_update(done)
        upcoming = await store.call(deliveries.next_try, store.db, adapter_name)
        return upcoming, len(due) == deliveries.DUE_BATCH and not failed

    def _refused_for_a_day(self, attempts: int, created: float) -> bool:
        """A delivery refused `attempts` times since the wall time `created` is given up: a day by
        the wall clock and GIVE_UP_ATTEMPTS refusals, so that NTP stepping the clock forward by
        months after a boot does not drop an alarm after its first refusal."""
        return attempts >= GIVE_UP_ATTEMPTS and self.hub.clock.time() - created > GIVE_UP_AFTER

    def _ack_button(self, alert_id: int, recipient: str) -> tuple[Button, ...]:
        """An open alert's one-tap acknowledgement, labelled in the recipient's language."""
        with speaking(self.hub.auth.language_of(recipient)):
            return (Button(_("Acknowledge"), f"ack {alert_id}"),)

    async def _send_one(self, adapter: Any, adapter_name: str, target: str, direct: bool, text: str,
                        attachment: str | None, attempts: int, buttons: tuple[Button, ...] = (),
                        alert: AlertRef | None = None, answer: bool = False,
                        sent: list[int] | None = None) -> tuple[str, float] | None:
        """Send one delivery; None when sent, else (error, retry delay)."""
        attachments = ()
        if attachment:
            mime = mimetypes.guess_type(attachment)[0] or "image/jpeg"
            attachments = (Attachment(path=Path(attachment), mime=mime),)
        reply = Reply(text, attachments, notice=True, buttons=buttons, alert=alert, answer=answer)
        epoch = adapter.health.since                # changes when the connection goes down or up
        try:
            async with asyncio.timeout(SEND_TIMEOUT):
                await self.hub.send_through(adapter, Address(adapter_name, target, direct), reply, sent)
                await adapter.confirm_delivery()    # a network without acks (IRC): the server read it
            self.sent_count += 1
            self.hub.metrics.message_out(adapter_name)
            return None
        except asyncio.CancelledError:
            raise
        except Undeliverable as exc:
            return f"{type(exc).__name__}: {exc}"[:300], NEVER
        except RetryLater as exc:
            log.info("delivery to %s:%s waits %.0fs, as the network asked: %s", adapter_name, target, exc.after, exc)
            return f"{type(exc).__name__}: {exc}"[:300], exc.after
        except Exception as exc:
            # Lost with the old connection while a new one is up: again now. Lost with the
            # connection (the adapter says it is down): as soon as it is back. Anything else,
            # an OSError on a connection still up included (a person offline, a file that cannot
            # be written): refused, with backoff, and given up after a day. (An OSError once
            # counted as a lost connection: a plugin raising ConnectionError for a person offline
            # was retried every second for ever.)
            renewed = adapter.health.connected and adapter.health.since != epoch
            lost = not adapter.health.connected
            if sent is not None and (renewed or lost or isinstance(exc, (ConnectionError, TimeoutError))):
                # The connection went with it: what was written before may have died in the
                # kernel too (IRC has no acknowledgement but `confirm_delivery`): all of it again.
                sent[0] = 0
            delay = 0.0 if renewed else RECONNECT_RETRY if lost else Backoff.delay_after(attempts + 1, 1.0, RETRY_CAP)
            if isinstance(exc, TimeoutError) and not str(exc):
                exc = TimeoutError(f"{adapter_name} did not take it within {SEND_TIMEOUT:g}s")
            log.warning("delivery to %s:%s failed (attempt %d): %s", adapter_name, target, attempts + 1, exc)
            return f"{type(exc).__name__}: {exc}"[:300], delay
