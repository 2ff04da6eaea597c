"""The `timers` table: chat timers, switch-backs (`restore`) and automations' `at` schedules.

A row's `state` is active, paused, done, cancelled or missed; `next_run` is wall time. Every
function runs on the store's thread (`db`), those that change several rows in the caller's
transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

DB = sqlite3.Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS timers (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, owner TEXT NOT NULL, adapter TEXT NOT NULL,
    target TEXT NOT NULL, direct INTEGER NOT NULL, command TEXT NOT NULL, recurrence TEXT NOT NULL,
    label TEXT NOT NULL, next_run REAL, state TEXT NOT NULL, data TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL, last_run REAL, runs INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS timers_due ON timers(state, next_run);
"""
# What a Timer is read from, in this order.
COLUMNS = "id, kind, owner, adapter, target, direct, command, recurrence, label, next_run, state, data, last_run, runs"
# (kind, owner, adapter, target, direct, command, recurrence, label, next_run, state, data, created)
NewRow = tuple[str, str, str, str, int, str, str, str, float, str, str, float]
# (next_run, state, ran, now, id) of one due row once decided
Outcome = tuple[float | None, str, bool, float, int]


def create(db: DB) -> None:
    db.executescript(SCHEMA)


def insert(db: DB, row: NewRow) -> int:
    return int(db.execute("INSERT INTO timers(kind, owner, adapter, target, direct, command, recurrence, label, "
                          "next_run, state, data, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row).lastrowid or 0)


def listed(db: DB, kinds: Sequence[str]) -> list[Any]:
    """Active and paused rows of these kinds, soonest first."""
    marks = ",".join("?" * len(kinds))
    return db.execute(f"SELECT {COLUMNS} FROM timers WHERE state IN ('active','paused') AND kind IN ({marks}) "
                      "ORDER BY state, next_run", tuple(kinds)).fetchall()


def get(db: DB, timer_id: int) -> Any:
    return db.execute(f"SELECT {COLUMNS} FROM timers WHERE id = ?", (timer_id,)).fetchone()


def set_state(db: DB, timer_id: int, state: str, next_run: float | None = None) -> None:
    """A new state (and, when given, a new next run)."""
    if next_run is None:
        db.execute("UPDATE timers SET state = ? WHERE id = ?", (state, timer_id))
    else:
        db.execute("UPDATE timers SET state = ?, next_run = ? WHERE id = ?", (state, next_run, timer_id))


def sync_automation(db: DB, name: str, owner: str, recurrence: str, label: str, first: float, now: float) -> float:
    """The active row of automation `name`'s schedule, kept when its recurrence is unchanged (with
    its next run: a restart misses nothing), else replaced; its next run."""
    row = db.execute("SELECT id, recurrence, next_run FROM timers WHERE kind = 'automation' AND command = ? "
                     "AND state IN ('active','missed')", (name,)).fetchone()
    if row is not None and row[1] == recurrence and row[2] is not None:
        db.execute("UPDATE timers SET owner = ?, label = ?, state = 'active' WHERE id = ?", (owner, label, row[0]))
        return float(row[2])
    if row is not None:
        db.execute("UPDATE timers SET state = 'cancelled' WHERE id = ?", (row[0],))
    db.execute("INSERT INTO timers(kind, owner, adapter, target, direct, command, recurrence, label, "
               "next_run, state, created) VALUES ('automation',?,'automation',?,1,?,?,?,?,'active',?)",
               (owner, name, name, recurrence, label, first, now))
    return first


def cancel_automations_except(db: DB, keep: set[str]) -> None:
    """Cancel the schedule rows of automations not in `keep` (gone from the config)."""
    rows = db.execute("SELECT id, command FROM timers WHERE kind = 'automation' AND state = 'active'").fetchall()
    gone = [(tid,) for tid, name in rows if name not in keep]
    if gone:
        db.executemany("UPDATE timers SET state = 'cancelled' WHERE id = ?", gone)


def next_automation_run(db: DB, name: str) -> float | None:
    row = db.execute("SELECT next_run FROM timers WHERE kind = 'automation' AND command = ? AND state = 'active'",
                     (name,)).fetchone()
    return row[0] if row else None


def supersede_restores(db: DB, matches: Callable[[dict[str, Any]], bool], by: str) -> tuple[int, dict[str, Any] | None]:
    """Mark the pending switch-backs whose data `matches` as superseded `by` someone; (how many
    switch-backs are pending in all, the data of the latest one marked)."""
    latest = None
    rows = db.execute("SELECT id, data FROM timers WHERE kind = 'restore' AND state = 'active' ORDER BY id").fetchall()
    for tid, data in rows:
        parsed = json.loads(data)
        if not matches(parsed):
            continue
        latest = dict(parsed)
        parsed["superseded_by"] = by
        db.execute("UPDATE timers SET data = ? WHERE id = ?", (json.dumps(parsed), tid))
    return len(rows), latest


def drop_superseded(db: DB, device: str, keep: int) -> list[int]:
    """Cancel the pending switch-backs of `device` already superseded, but `keep` (the new one
    that continues from them); their ids."""
    gone = [tid for tid, data in db.execute(
        "SELECT id, data FROM timers WHERE kind = 'restore' AND state = 'active' AND id != ? ORDER BY id",
        (keep,)).fetchall() if (parsed := json.loads(data)).get("device") == device and parsed.get("superseded_by")]
    db.executemany("UPDATE timers SET state = 'cancelled' WHERE id = ?", [(tid,) for tid in gone])
    return gone


def next_run(db: DB) -> float | None:
    """When the next active timer is due."""
    return db.execute("SELECT MIN(next_run) FROM timers WHERE state = 'active'").fetchone()[0]


def due(db: DB, now: float, limit: int) -> list[Any]:
    """Up to `limit` active rows due by `now`, most overdue first."""
    return db.execute(f"SELECT {COLUMNS} FROM timers WHERE state = 'active' AND next_run <= ? ORDER BY next_run "
                      "LIMIT ?", (now, limit)).fetchall()


def decide(db: DB, outcomes: Sequence[Outcome]) -> None:
    """Record, before anything runs, what each due row does: its next run (or its end: done or
    missed), and whether it ran now. A row changed meanwhile (cancelled, paused) is left alone."""
    db.executemany("UPDATE timers SET next_run = ?, state = ?, last_run = CASE WHEN ? THEN ? ELSE last_run END, "
                   "runs = runs + ? WHERE id = ? AND state = 'active'",
                   [(following, state, int(ran), now, int(ran), tid) for following, state, ran, now, tid in outcomes])


def shift_intervals(db: DB, seconds: float) -> int:
    """Move by `seconds` the next run of the timers that count real time (`every N`, `in 10m`,
    and the switch-back of a `for`), not the calendar's (`at 06:30`, cron): the wall clock
    stepped back and they would otherwise wait the step out. The rows moved."""
    return db.execute("UPDATE timers SET next_run = next_run + ? WHERE state IN ('active', 'paused') AND next_run "
                      "IS NOT NULL AND (recurrence LIKE 'every:%' OR recurrence = 'once:in' OR kind = 'restore')",
                      (seconds,)).rowcount
