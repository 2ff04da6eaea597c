"""Reminders: an open alert is told again every `repeat` until someone acknowledges it.

The next reminder's time is stored with the alert (on the wall clock: it survives a restart),
so a hub that was down, or a clock that NTP stepped forward, sends one reminder for the missed
ones, and the next a full period later. A notification sent with `ack` repeats too, to those its
first message went to."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from .backoff import Backoff, pause_after_failure
from .clock import until
from .i18n import _
from .outbox import STORE_RETRY_CAP
from .recipients import Recipient, how_to_ack
from .store import alerts as alert_rows, deliveries

if TYPE_CHECKING:
    from .alerts import AlertEngine

log = logging.getLogger(__name__)
NOTICE_PREFIX = "notify/"   # rule name of the alerts notifications open (chatops.notify): no rule of their own


def shown_rule(rule: str) -> str:
    """How `rule` is named to people: a notification by where it came from (`alertmanager`, the
    token `cron`), not by the key it is stored under (`notify/alertmanager/TOKEN/FINGERPRINT`)."""
    return rule[len(NOTICE_PREFIX):].split("/")[0] if rule.startswith(NOTICE_PREFIX) else rule


class Reminders:
    """The reminders of one hub's alerts: one task, woken when one is due or added."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.hub = engine.hub
        self._changed = asyncio.Event()
        # Alerts whose last reminder the database refused (a full card): id -> (reminders sent,
        # when the next is due). The reminders go on from here until it is recorded.
        self.held: dict[int, tuple[int, float | None]] = {}

    def wake(self) -> None:
        """Look at the due reminders now (one was added, the wall clock stepped)."""
        self._changed.set()

    async def run_forever(self) -> None:
        store = self.hub.store
        backoff = Backoff(base=0.2, cap=STORE_RETRY_CAP)
        await self._at_most_one_period_away()
        while True:
            self._changed.clear()
            now = self.hub.clock.time()
            try:
                unstored = self.engine.unstored
                due = await store.call(alert_rows.reminders_due, store.db, now)
                for alert_id, rule_name, message, repeats in due:
                    if unstored.quiet(alert_id):         # acknowledged or over, the database not told yet
                        continue
                    held = self.held.get(alert_id)
                    if held is not None and (held[1] is None or held[1] > now):
                        continue
                    await self._repeat(alert_id, rule_name, message, max(repeats, held[0] if held else 0))
                upcoming = await store.call(alert_rows.next_reminder, store.db,
                                            (*self.held, *unstored.acked, *unstored.ended))
                held_next = (at for alert_id, (_n, at) in self.held.items() if not unstored.quiet(alert_id))
                upcoming = min((at for at in (upcoming, *held_next) if at is not None), default=None)
            except Exception as exc:
                await pause_after_failure(backoff, exc, "alert reminders", log)
                continue
            backoff.reset()
            await until(self.hub.clock, upcoming, self._changed)

    async def _at_most_one_period_away(self) -> None:
        """At start, no reminder is due later than one period from now: stored by a clock that
        ran ahead of this one (a start before NTP), it would wait out the difference."""
        now, store = self.hub.clock.time(), self.hub.store
        periods = [(name, state.rule.repeat_every, False) for name, state in self.engine.rules.items()
                   if state.rule.repeat_every]
        periods.append((NOTICE_PREFIX, self.hub.settings.notify.repeat, True))
        try:
            moved = sum([await store.call(alert_rows.cap_reminders, store.db, rule, now + every, prefix)
                         for rule, every, prefix in periods])
        except sqlite3.DatabaseError as exc:
            log.warning("reminders stored further away than their period could not be brought in (%s)", exc)
            return
        if moved:
            log.warning("%d reminders were due further away than their period (stored by a clock ahead of this "
                        "one): due within one period now", moved)

    async def _repeat(self, alert_id: int, rule_name: str, message: str, repeats: int) -> None:
        state = self.engine.rules.get(rule_name)
        every = state.rule.repeat_every if state else None
        now = self.hub.clock.time()
        recipients = self.engine.recipients(state.rule.notify) if state else []

        def reminder(prefix: str | None) -> str:
            return _("[REMINDER {count}] {text} {how_to_ack}").format(
                count=repeats + 1, text=message, how_to_ack=how_to_ack(alert_id, prefix))
        store = self.hub.store

        if state is None and rule_name.startswith(NOTICE_PREFIX):
            every = self.hub.settings.notify.repeat      # a notification sent with ack (chatops.notify)

        next_at = now + every if every else None

        def write(db: Any) -> list[str]:
            alert_rows.reminded(db, alert_id, next_at, repeats + 1)
            deliveries.cancel_pending(db, alert_id, "repeat")
            if state is not None:
                self.engine._insert_deliveries(db, alert_id, recipients, "repeat", reminder, None, now)
                return []
            # No rule to name its recipients (a notification): those its first message went to.
            deliveries.copy_to_first_recipients(db, alert_id, "repeat", self.engine.in_their_words(reminder), now)
            return deliveries.adapters_waiting(db, alert_id, "repeat")

        try:
            waiting = await store.call(store.transaction, write)
        except sqlite3.DatabaseError as exc:
            if state is None:
                # A notification's first recipients are in the database only: read (a full card
                # still reads), its reminder goes from memory as an alarm's does. Unreadable too
                # (an I/O error), it waits for storage, looked at again in a few seconds.
                try:
                    first = await store.call(deliveries.first_recipients, store.db, alert_id)
                except sqlite3.DatabaseError:
                    log.warning("notification #%d: its reminder waits for storage (%s)", alert_id, exc)
                    self.held[alert_id] = (repeats, now + STORE_RETRY_CAP)
                    return
                recipients = [Recipient(adapter, target, "" if ":" in recipient else recipient)
                              for adapter, target, _direct, recipient in first]
                await self._from_memory(alert_id, repeats + 1, next_at, recipients, reminder, exc)
                return
            await self._from_memory(alert_id, repeats + 1, next_at, recipients, reminder, exc)
            return
        self.held.pop(alert_id, None)
        for adapter_name in waiting:
            self.engine.outbox.wake(adapter_name).set()
        self.engine._wake(recipients)

    async def _from_memory(self, alert_id: int, count: int, next_at: float | None, recipients: list[Any],
                           reminder: Any, exc: sqlite3.DatabaseError) -> None:
        """The database refuses the reminder (a full card): an alarm raised before still reminds,
        sent from memory to whoever is reachable now, and the next is counted from here. The
        reminder is recorded (not sent again) once the database takes it."""
        held = self.held[alert_id] = (count, next_at)
        store = self.hub.store
        unstored = self.engine.unstored
        told = await unstored.send(recipients, reminder)
        log.error("alert #%d: reminder %d could not be recorded (%s): sent from memory to %d recipients",
                  alert_id, count, exc, len(told))

        async def record() -> None:
            if self.held.get(alert_id) != held:
                return          # a later reminder was recorded since, or has its own record queued
            await store.call(alert_rows.reminded, store.db, alert_id, next_at, count)
            if self.held.get(alert_id) == held:
                del self.held[alert_id]
        unstored.write_later(record, [])
        await unstored.tell_admins(str(exc))
