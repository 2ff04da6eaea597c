"""The `deliveries` table: every message the hub owes someone (an alert, its reminders and
clear, an acknowledgement, a notification, a timer's result, an SMS reply), one row per
recipient, kept until sent and marked.

Every function runs on the store's thread, most inside the caller's transaction (`db`).
`alert_id` 0 marks a message that belongs to no alert; `delivered_at` -1 one that was given up
or cancelled (`last_error` says which).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

DB = sqlite3.Connection
# (alert_id, adapter, target, direct, recipient, kind, text, attachment, created, next_try)
Row = tuple[int, str, str, int, str, str, str, str | None, float, float]
DUE_BATCH = 200


def insert(db: DB, rows: Iterable[Row]) -> None:
    """New deliveries, sent by the outbox from `next_try` on."""
    db.executemany("INSERT INTO deliveries(alert_id, adapter, target, direct, recipient, kind, text, attachment, "
                   "created, next_try) VALUES (?,?,?,?,?,?,?,?,?,?)", rows)


def copy_to_first_recipients(db: DB, alert_id: int, kind: str, text: Callable[[str, str, bool], str],
                             now: float) -> None:
    """A message of `kind` for everyone an alert's first message went to (a notification's
    reminder or resolution: it has no rule naming its recipients). `text(recipient, adapter,
    direct)` writes it for each, in their language."""
    insert(db, [(alert_id, adapter, target, direct, recipient, kind, text(recipient, adapter, bool(direct)), None,
                 now, now)
                for adapter, target, direct, recipient in first_recipients(db, alert_id)])


def mark_told(db: DB, alert_id: int, told: Iterable[tuple[str, str]], now: float) -> None:
    """The alert's first message already reached these (adapter, target): sent from memory
    while the database refused writes, so it must not go out again."""
    db.executemany("UPDATE deliveries SET delivered_at = ? WHERE alert_id = ? AND adapter = ? AND "
                   "target = ? AND kind = 'raise'", [(now, alert_id, a, t) for a, t in told])


def cancel_pending(db: DB, alert_id: int, kind: str) -> None:
    """Messages of `kind` not sent yet for an alert are dropped (a reminder after an ack)."""
    db.execute("UPDATE deliveries SET delivered_at = -1, last_error = 'cancelled' "
               "WHERE alert_id = ? AND kind = ? AND delivered_at IS NULL", (alert_id, kind))


def release_held(db: DB, alert_id: int, now: float, attachment: str | None = None, attach: bool = False) -> None:
    """The alert's first messages held for its picture go now (with `attachment` when `attach`)."""
    held = "WHERE alert_id = ? AND kind = 'raise' AND delivered_at IS NULL AND attempts = 0 AND next_try > ?"
    if attach:
        db.execute(f"UPDATE deliveries SET attachment = ?, next_try = ? {held}", (attachment, now, alert_id, now))
    else:
        db.execute(f"UPDATE deliveries SET next_try = ? {held}", (now, alert_id, now))


def first_recipients(db: DB, alert_id: int, without_picture: bool = False) -> list[tuple[str, str, int, str]]:
    """(adapter, target, direct, recipient) an alert's first message went to (those that got it
    without a picture)."""
    return db.execute("SELECT DISTINCT adapter, target, direct, recipient FROM deliveries WHERE alert_id = ? "
                      "AND kind = 'raise'" + (" AND attachment IS NULL" if without_picture else ""),
                      (alert_id,)).fetchall()


def adapters_waiting(db: DB, alert_id: int | None = None, kind: str | None = None) -> list[str]:
    """Adapters with messages not sent yet (for one alert, of one kind): their workers to wake."""
    where, args = "delivered_at IS NULL", []
    if alert_id is not None:
        where, args = where + " AND alert_id = ?", [alert_id]
    if kind is not None:
        where, args = where + " AND kind = ?", [*args, kind]
    return [r[0] for r in db.execute(f"SELECT DISTINCT adapter FROM deliveries WHERE {where}", args).fetchall()]


def adapters_of(db: DB, alert_id: int) -> list[str]:
    """Every adapter an alert's messages go through, sent or not."""
    return [r[0] for r in db.execute("SELECT DISTINCT adapter FROM deliveries WHERE alert_id = ?",
                                     (alert_id,)).fetchall()]


def waiting_per_adapter(db: DB) -> dict[str, int]:
    """Adapter name -> messages not sent yet."""
    return dict(db.execute("SELECT adapter, COUNT(*) FROM deliveries WHERE delivered_at IS NULL "
                           "GROUP BY adapter").fetchall())


def due_and_new(db: DB, adapter: str, now: float) -> tuple[int, int]:
    """(rows due now, rows due now or never tried) through `adapter`: what a settled outbox has none of."""
    return db.execute("SELECT COALESCE(SUM(next_try <= ?), 0), COUNT(*) FROM deliveries WHERE adapter = ? "
                      "AND delivered_at IS NULL AND (next_try <= ? OR attempts = 0)",
                      (now, adapter, now)).fetchone()


def due(db: DB, adapter: str, now: float, retry_failed: bool, skip: Sequence[int]) -> list[Any]:
    """Up to DUE_BATCH rows to send through `adapter`, oldest first (after a reconnect: also
    the failed ones waiting for their retry), each with whether its alert is still open and its
    severity (None for a delivery of no alert):
    (id, target, direct, text, attachment, attempts, created, alert_id, kind, recipient, open, severity)."""
    exclude = f" AND id NOT IN ({','.join('?' * len(skip))})" if skip else ""
    return db.execute(
        "SELECT id, target, direct, text, attachment, attempts, created, alert_id, kind, recipient, "
        "(SELECT a.acked_by IS NULL AND a.cleared_at IS NULL FROM alerts a WHERE a.id = deliveries.alert_id), "
        "(SELECT a.severity FROM alerts a WHERE a.id = deliveries.alert_id) "
        "FROM deliveries WHERE adapter = ? "
        f"AND delivered_at IS NULL AND (next_try <= ? OR (? AND attempts > 0)){exclude} "
        # An alert's later messages to one address wait for its earlier ones (sent or given up):
        # a nick offline while the alarm was raised got the [CLEARED] first, the alarm 48 s later.
        "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE deliveries.alert_id > 0 "
        "AND e.alert_id = deliveries.alert_id AND e.adapter = deliveries.adapter AND e.target = deliveries.target "
        "AND e.id < deliveries.id AND e.delivered_at IS NULL AND (e.attempts > 0 OR e.next_try <= ?) "
        "AND e.id NOT IN (SELECT value FROM json_each(?))) "      # (not a reminder scheduled for later)
        "ORDER BY id LIMIT ?",
        (adapter, now, int(retry_failed), *skip, now, json.dumps(list(skip)), DUE_BATCH)).fetchall()


def record(db: DB, now: float, delivered: list[int], failed: list[tuple[int, int, str, float]],
           expired: list[tuple[int, int, str]]) -> None:
    """The outcome of a pass: sent; failed (attempts, error, retry delay); given up (attempts, why)."""
    db.executemany("UPDATE deliveries SET delivered_at = ?, attempts = attempts + 1 "
                   "WHERE id = ? AND delivered_at IS NULL", [(now, d) for d in delivered])
    db.executemany("UPDATE deliveries SET attempts = ?, last_error = ?, next_try = ? WHERE id = ?",
                   [(attempts, error, now + delay, d) for d, attempts, error, delay in failed])
    db.executemany("UPDATE deliveries SET attempts = ?, last_error = ?, delivered_at = -1 WHERE id = ?",
                   [(attempts, error, d) for d, attempts, error in expired])


def next_try(db: DB, adapter: str) -> float | None:
    """When the next message through `adapter` is due (None: nothing waits)."""
    return db.execute("SELECT MIN(next_try) FROM deliveries WHERE adapter = ? AND delivered_at IS NULL",
                      (adapter,)).fetchone()[0]


def told_and_pending(db: DB, alert_id: int, shown: Sequence[int]) -> tuple[list[str], list[tuple[str, str]], int]:
    """Who an alert's first message reached (`adapter:target`; `shown`: sent, mark on its way),
    whom it was given up for, with why (`adapter:target`, last error), and how many of its
    messages still wait."""
    among = ",".join("?" * len(shown))      # SQLite takes an empty IN ()
    told = [r[0] for r in db.execute(
        "SELECT DISTINCT adapter || ':' || target FROM deliveries WHERE alert_id = ? AND kind = 'raise' "
        f"AND (delivered_at > 0 OR id IN ({among}))", (alert_id, *shown)).fetchall()]
    given_up = [(r[0], r[1] or "") for r in db.execute(
        "SELECT adapter || ':' || target, MAX(last_error) FROM deliveries WHERE alert_id = ? AND kind = 'raise' "
        f"AND delivered_at = -1 AND id NOT IN ({among}) GROUP BY adapter, target", (alert_id, *shown)).fetchall()]
    pending = db.execute(f"SELECT COUNT(*) FROM deliveries WHERE alert_id = ? AND delivered_at IS NULL "
                         f"AND id NOT IN ({among})", (alert_id, *shown)).fetchone()[0]
    return told, given_up, pending


def of_alert(db: DB, alert_id: int) -> list[tuple[int, str, str, str, str, int, float | None, str | None]]:
    """(id, adapter, target, recipient, kind, attempts, delivered_at, last_error) of an alert's messages."""
    return db.execute("SELECT id, adapter, target, recipient, kind, attempts, delivered_at, last_error "
                      "FROM deliveries WHERE alert_id = ? ORDER BY id", (alert_id,)).fetchall()


def counts(db: DB) -> list[tuple[str, int, int, int, int]]:
    """(adapter, is an alert's, delivered, waiting, given up) for the metrics."""
    return db.execute("SELECT adapter, alert_id > 0, SUM(delivered_at > 0), SUM(delivered_at IS NULL), "
                      "SUM(delivered_at = -1) FROM deliveries GROUP BY adapter, alert_id > 0").fetchall()


def sent_since(db: DB, adapter: str, since: float) -> list[tuple[str, str, str, float]]:
    """(target, kind, text, delivered_at) of what `adapter` delivered since `since`, oldest first."""
    return db.execute("SELECT target, kind, text, delivered_at FROM deliveries WHERE adapter = ? AND "
                      "delivered_at > ? ORDER BY delivered_at", (adapter, since)).fetchall()


def record_sent(db: DB, adapter: str, target: str, recipient: str, kind: str, text: str, now: float) -> None:
    """A message an adapter sent by itself, outside the outbox (the SMS cap's "limit reached"
    note), recorded as delivered: counted wherever what was sent is counted, after a restart too."""
    db.execute("INSERT INTO deliveries(alert_id, adapter, target, direct, recipient, kind, text, attachment, created, "
               "attempts, next_try, delivered_at) VALUES (0, ?, ?, 1, ?, ?, ?, NULL, ?, 1, ?, ?)",
               (adapter, target, recipient, kind, text, now, now, now))
