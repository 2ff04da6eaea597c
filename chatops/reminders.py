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

from .backoff import Backoff
from .clock import until
from .i18n import _, speaking
from .outbox import STORE_RETRY_CAP
from .store import alerts as alert_rows, deliveries

if TYPE_CHECKING:
    from .alerts import AlertEngine

log = logging.getLogger(__name__)
NOTICE_PREFIX = "notify/"   # rule name of the alerts notifications open (chatops.notify): no rule of their own


class Reminders:
    """The reminders of one hub's alerts: one task, woken when one is due or added."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.hub = engine.hub
        self._changed = asyncio.Event()

    def wake(self) -> None:
        """Look at the due reminders now (one was added, the wall clock stepped)."""
        self._changed.set()

    async def run_forever(self) -> None:
        store = self.hub.store
        backoff = Backoff(base=0.2, cap=STORE_RETRY_CAP)
        while True:
            self._changed.clear()
            now = self.hub.clock.time()
            try:
                due = await store.call(alert_rows.reminders_due, store.db, now)
                for alert_id, rule_name, message, repeats in due:
                    await self._repeat(alert_id, rule_name, message, repeats)
                upcoming = await store.call(alert_rows.next_reminder, store.db)
            except sqlite3.DatabaseError as exc:
                delay = backoff.next_delay()
                log.error("alert reminders could not be recorded (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                continue
            except Exception:
                delay = backoff.next_delay()
                log.exception("alert reminders failed; retrying in %.1fs", delay)
                await asyncio.sleep(delay)
                continue
            backoff.reset()
            await until(self.hub.clock, upcoming, self._changed)

    async def _repeat(self, alert_id: int, rule_name: str, message: str, repeats: int) -> None:
        state = self.engine.rules.get(rule_name)
        every = state.rule.repeat_every if state else None
        now = self.hub.clock.time()
        recipients = self.engine.recipients(state.rule.notify) if state else []

        def reminder(prefix: str = self.hub.settings.hub.prefix) -> str:
            return _("[REMINDER {count}] {text} (alert #{id}; answer {prefix}ack {id})").format(
                count=repeats + 1, text=message, id=alert_id, prefix=prefix)
        with speaking(self.hub.settings.hub.language):
            text = reminder()               # a notification's reminder: its first recipients, the hub's language
        store = self.hub.store

        if state is None and rule_name.startswith(NOTICE_PREFIX):
            every = self.hub.settings.notify.repeat      # a notification sent with ack (chatops.notify)

        def write(db: Any) -> list[str]:
            alert_rows.reminded(db, alert_id, now + every if every else None)
            deliveries.cancel_pending(db, alert_id, "repeat")
            if state is not None:
                self.engine._insert_deliveries(db, alert_id, recipients, "repeat", reminder, None, now)
                return []
            # No rule to name its recipients (a notification): those its first message went to.
            deliveries.copy_to_first_recipients(db, alert_id, "repeat", text, now)
            return deliveries.adapters_waiting(db, alert_id, "repeat")

        for adapter_name in await store.call(store.transaction, write):
            self.engine.outbox.wake(adapter_name).set()
        self.engine._wake(recipients)
