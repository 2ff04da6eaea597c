"""The `automations` table: what each automation remembers across a restart (enabled or
disabled by chat, stopped by the loop guard, its condition's state, its last run).

Every function runs on the store's thread (`db`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

DB = sqlite3.Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS automations (
    name TEXT PRIMARY KEY, enabled INTEGER, stopped TEXT, trigger TEXT NOT NULL DEFAULT '',
    holding INTEGER NOT NULL DEFAULT 0, since REAL, fired INTEGER NOT NULL DEFAULT 0,
    last_run REAL, last_result TEXT);
"""
# (name, enabled, stopped, trigger, holding, since, fired, last_run, last_result)
Row = tuple[str, int | None, str | None, str, int, float | None, int, float | None, str]


def load(db: DB) -> list[Any]:
    """The table (created when missing): one Row per automation ever saved."""
    db.executescript(SCHEMA)
    return db.execute("SELECT name, enabled, stopped, trigger, holding, since, fired, last_run, last_result "
                      "FROM automations").fetchall()


def save(db: DB, rows: Sequence[Row]) -> None:
    db.executemany("INSERT OR REPLACE INTO automations(name, enabled, stopped, trigger, holding, since, fired, "
                   "last_run, last_result) VALUES (?,?,?,?,?,?,?,?,?)", rows)
