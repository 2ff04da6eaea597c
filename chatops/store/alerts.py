"""The `alerts` and `mutes` tables: raised alerts (and notifications, whose rule starts with
`notify/`), their acknowledgement, clearing and reminders; rules muted until a time.

Every function runs on the store's thread, most inside the caller's transaction (`db`).
"""

from __future__ import annotations

import sqlite3
from typing import Any

DB = sqlite3.Connection


def insert(db: DB, rule: str, device: str, severity: str, message: str, value: str, raised_at: float,
           next_repeat: float | None, cleared_at: float | None = None) -> int:
    """A new alert; its id."""
    cursor = db.execute(
        "INSERT INTO alerts(rule, device, severity, message, value, raised_at, next_repeat, cleared_at) "
        "VALUES (?,?,?,?,?,?,?,?)", (rule, device, severity, message, value, raised_at, next_repeat, cleared_at))
    return int(cursor.lastrowid or 0)


def open_alerts(db: DB) -> list[tuple[int, str, float, float | None]]:
    """(id, rule, raised_at, quiet since) of the alerts not cleared, oldest first."""
    return db.execute("SELECT id, rule, raised_at, (SELECT since FROM alert_quiet WHERE alert_id = alerts.id) "
                      "FROM alerts WHERE cleared_at IS NULL ORDER BY id").fetchall()


def set_quiet(db: DB, alert_id: int, since: float | None) -> None:
    """Since when alert `alert_id`'s condition has not held (None: it holds again), so that a
    cooldown the hub did not see the end of is still counted after a restart."""
    if since is None:
        db.execute("DELETE FROM alert_quiet WHERE alert_id = ?", (alert_id,))
    else:
        db.execute("INSERT OR REPLACE INTO alert_quiet(alert_id, since) VALUES (?,?)", (alert_id, since))


def open_by_rule(db: DB, rule: str) -> int | None:
    """The newest alert of `rule` not cleared yet."""
    row = db.execute("SELECT id FROM alerts WHERE rule = ? AND cleared_at IS NULL ORDER BY id DESC LIMIT 1",
                     (rule,)).fetchone()
    return None if row is None else int(row[0])


def clear(db: DB, alert_id: int, now: float) -> None:
    db.execute("UPDATE alerts SET cleared_at = ?, next_repeat = NULL WHERE id = ?", (now, alert_id))
    db.execute("DELETE FROM alert_quiet WHERE alert_id = ?", (alert_id,))


def clear_rule(db: DB, rule: str, now: float) -> None:
    """Every open alert of `rule` is over."""
    db.execute("UPDATE alerts SET cleared_at = ?, next_repeat = NULL WHERE rule = ? AND cleared_at IS NULL",
               (now, rule))


def to_acknowledge(db: DB, alert_id: int | None) -> tuple[int, str, str | None, float | None] | None:
    """(id, rule, acked_by, cleared_at) of alert `alert_id`, or of the newest open one not acknowledged."""
    if alert_id is None:
        return db.execute("SELECT id, rule, acked_by, cleared_at FROM alerts WHERE acked_by IS NULL AND cleared_at "
                          "IS NULL ORDER BY id DESC LIMIT 1").fetchone()
    return db.execute("SELECT id, rule, acked_by, cleared_at FROM alerts WHERE id = ?", (alert_id,)).fetchone()


def acknowledge(db: DB, alert_id: int, by: str, now: float) -> None:
    db.execute("UPDATE alerts SET acked_by = ?, acked_at = ?, next_repeat = NULL WHERE id = ?", (by, now, alert_id))


def listed(db: DB, limit: int = 20) -> list[tuple[int, str, str, str, str, float, str | None]]:
    """(id, rule, device, severity, message, raised_at, acked_by) of open alerts, newest first."""
    return db.execute("SELECT id, rule, device, severity, message, raised_at, acked_by FROM alerts "
                      "WHERE cleared_at IS NULL ORDER BY id DESC LIMIT ?", (limit,)).fetchall()


def state(db: DB, alert_id: int) -> Any:
    """(id, device, severity, message, value, raised_at, acked_by, cleared_at), or None."""
    return db.execute("SELECT id, device, severity, message, value, raised_at, acked_by, cleared_at FROM alerts "
                      "WHERE id = ?", (alert_id,)).fetchone()


def notice(db: DB, alert_id: int, prefix: str) -> Any:
    """(rule, severity, message, raised_at, acked_by, cleared_at) of an alert whose rule starts
    with `prefix`, or None."""
    return db.execute("SELECT rule, severity, message, raised_at, acked_by, cleared_at FROM alerts "
                      "WHERE id = ? AND rule LIKE ?", (alert_id, prefix + "%")).fetchone()


def latest_per_rule(db: DB) -> dict[str, int]:
    return dict(db.execute("SELECT rule, MAX(id) FROM alerts GROUP BY rule").fetchall())


def reminders_due(db: DB, now: float) -> list[tuple[int, str, str, int]]:
    """(id, rule, message, repeats) of open, unacknowledged alerts whose reminder is due."""
    return db.execute("SELECT id, rule, message, repeats FROM alerts WHERE next_repeat IS NOT NULL "
                      "AND next_repeat <= ? AND acked_by IS NULL AND cleared_at IS NULL", (now,)).fetchall()


def next_reminder(db: DB, besides: tuple[int, ...] = ()) -> float | None:
    """When the next reminder is due, of the alerts other than `besides` (held in memory)."""
    skip = f" AND id NOT IN ({','.join('?' * len(besides))})" if besides else ""
    return db.execute("SELECT MIN(next_repeat) FROM alerts WHERE next_repeat IS NOT NULL AND acked_by IS NULL "
                      "AND cleared_at IS NULL" + skip, besides).fetchone()[0]


def shift_reminders(db: DB, seconds: float) -> int:
    """Move every pending reminder by `seconds` (the wall clock stepped back: a reminder due in
    5 min must not wait the step out). The rows moved."""
    return db.execute("UPDATE alerts SET next_repeat = next_repeat + ? WHERE next_repeat IS NOT NULL "
                      "AND acked_by IS NULL AND cleared_at IS NULL", (seconds,)).rowcount


def cap_reminders(db: DB, rule: str, latest: float, prefix: bool = False) -> int:
    """Bring the pending reminders of `rule` (of every rule starting so, with `prefix`) due after
    `latest` to it: a hub started with its clock behind (a Pi without a real-time clock, before
    NTP) found them months away and said nothing. The rows moved."""
    return db.execute("UPDATE alerts SET next_repeat = ? WHERE rule GLOB ? AND next_repeat > ? AND acked_by IS NULL "
                      "AND cleared_at IS NULL", (latest, _glob_literal(rule) + ("*" if prefix else ""), latest)).rowcount


def _glob_literal(text: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def reminded(db: DB, alert_id: int, next_repeat: float | None, repeats: int) -> None:
    """Reminder number `repeats` went out; the next is due at `next_repeat` (None: no more)."""
    db.execute("UPDATE alerts SET next_repeat = ?, repeats = ? WHERE id = ?", (next_repeat, repeats, alert_id))


def counts(db: DB) -> list[tuple[str, int, int, int, int]]:
    """(rule, raised, acknowledged, open, open and not acknowledged) for the metrics."""
    return db.execute("SELECT rule, COUNT(*), COUNT(acked_by), SUM(cleared_at IS NULL), "
                      "SUM(cleared_at IS NULL AND acked_by IS NULL) FROM alerts GROUP BY rule").fetchall()


def mute(db: DB, rule: str, until: float, by: str) -> None:
    db.execute("INSERT OR REPLACE INTO mutes(rule, until, by) VALUES (?,?,?)", (rule, until, by))


def mutes(db: DB, now: float) -> dict[str, float]:
    """Rule -> end of its mute, for mutes not over."""
    return dict(db.execute("SELECT rule, until FROM mutes WHERE until > ?", (now,)).fetchall())
