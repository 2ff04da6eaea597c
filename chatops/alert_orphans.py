"""Alerts whose rule left config.toml (renamed or removed while open): closed at start."""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from .i18n import _
from .store import alerts as alert_rows, deliveries

if TYPE_CHECKING:
    from .alerts import AlertEngine

log = logging.getLogger("chatops.alerts")


async def close_orphans(engine: AlertEngine, orphans: list[tuple[int, str]]) -> None:
    """Close the open alerts of rules no longer in config.toml, telling those they reached:
    no reading can end them now, and they would stay active for ever (`alerts`, `status`,
    the metrics and Home Assistant would disagree about them)."""
    if not orphans:
        return
    now = engine.hub.clock.time()

    def write(db: Any) -> None:
        for alert_id, rule in orphans:
            alert_rows.clear(db, alert_id, now)
            deliveries.cancel_pending(db, alert_id, "repeat")
            deliveries.copy_to_first_recipients(db, alert_id, "clear", engine.in_their_words(
                lambda _prefix, alert_id=alert_id, rule=rule: _(
                    "[CLEARED] Alert #{id} is over: its rule {rule!r} is no longer in the configuration.").format(
                    id=alert_id, rule=rule)), now)
    closed = ", ".join(f"#{alert_id} ({rule})" for alert_id, rule in orphans)
    try:
        await engine.hub.store.call(engine.hub.store.transaction, write)
        log.info("alerts %s closed: their rules are no longer in the configuration", closed)
    except sqlite3.DatabaseError as exc:
        log.warning("alerts %s of rules no longer configured could not be closed (%s); tried at the next start",
                    closed, exc)
