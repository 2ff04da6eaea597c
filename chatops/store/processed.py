"""The `processed` table: ids of incoming messages already handled (an SMS, a Slack event, a
Telegram update), so a restart or a network's redelivery never runs one twice.

Every function runs on the store's thread, inside the caller's transaction (`db`);
`Store.mark_processed` is the one-call form.
"""

from __future__ import annotations

import sqlite3

DB = sqlite3.Connection


def mark(db: DB, key: str, now: float) -> None:
    """Remember `key` as handled (already known: nothing changes)."""
    db.execute("INSERT OR IGNORE INTO processed(key, at) VALUES (?, ?)", (key, now))


def forget(db: DB, prefix: str, before: float) -> None:
    """Forget the keys starting with `prefix` remembered before `before` (no network redelivers that late)."""
    db.execute("DELETE FROM processed WHERE key LIKE ? AND at < ?", (prefix.replace("%", "") + "%", before))


def take_table(db: DB, table: str, columns: str, where: str) -> list[tuple[object, ...]]:
    """The rows of a table an older version kept (`columns` of those matching `where`, in id
    order), and the table dropped: carried over once. [] when there is no such table."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone():
        return []
    rows = db.execute(f"SELECT {columns} FROM {table} WHERE {where} ORDER BY id").fetchall()
    db.execute(f"DROP TABLE {table}")
    return rows
