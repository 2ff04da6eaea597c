"""The history tables: devices by id, raw readings (unix ms), roll-ups per bucket (unix s), and
which devices' early history the demo simulated.

Every function runs on the store's thread (`db`); writers inside the caller's transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

DB = sqlite3.Connection

SCHEMA = """
CREATE TABLE IF NOT EXISTS history_devices (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS history_raw (
    device INTEGER NOT NULL, at INTEGER NOT NULL, value REAL NOT NULL,
    PRIMARY KEY (device, at)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS history_rollup (
    device INTEGER NOT NULL, bucket INTEGER NOT NULL, avg REAL NOT NULL, min REAL NOT NULL,
    max REAL NOT NULL, count INTEGER NOT NULL, PRIMARY KEY (device, bucket)) WITHOUT ROWID;
"""
SIMULATED = "CREATE TABLE IF NOT EXISTS simulated_history (device TEXT PRIMARY KEY, until REAL NOT NULL)"

# Raw readings where they are kept, roll-ups (time = middle of the bucket) before the oldest raw one.
_UNION = (
    "SELECT bucket + ? AS t, avg AS v, min AS lo, max AS hi, count AS n FROM history_rollup "
    "WHERE device = ? AND bucket >= ? AND bucket <= ? AND bucket * 1000 < "
    "IFNULL((SELECT MIN(at) FROM history_raw WHERE device = ?), 1e18) "
    "UNION ALL SELECT at / 1000.0, value, value, value, 1 FROM history_raw "
    "WHERE device = ? AND at >= ? AND at <= ?")


def create(db: DB) -> dict[str, int]:
    """The tables; device name -> id of those known."""
    db.executescript(SCHEMA)
    return {name: i for i, name in db.execute("SELECT id, name FROM history_devices")}


def empty(db: DB) -> bool:
    """No reading was ever recorded."""
    return not db.execute("SELECT EXISTS(SELECT 1 FROM history_raw) OR EXISTS(SELECT 1 FROM history_rollup)"
                          ).fetchone()[0]


def device_id(db: DB, name: str) -> int:
    """The id of device `name`, added when new."""
    db.execute("INSERT OR IGNORE INTO history_devices(name) VALUES (?)", (name,))
    return int(db.execute("SELECT id FROM history_devices WHERE name = ?", (name,)).fetchone()[0])


def insert_raw(db: DB, rows: Sequence[tuple[int, int, float]]) -> None:
    """(device id, unix ms, value) readings; a second reading at the same ms replaces the first."""
    db.executemany("INSERT OR REPLACE INTO history_raw(device, at, value) VALUES (?,?,?)", rows)


def maintain(db: DB, interval: int, done_until: int, raw_cutoff_ms: int, rollup_cutoff: int | None) -> None:
    """Roll raw readings up into `interval`-second buckets ending before `done_until`, then
    delete raw readings before `raw_cutoff_ms` and roll-ups before `rollup_cutoff` (None: no
    roll-ups are kept)."""
    for (device,) in db.execute("SELECT id FROM history_devices").fetchall():
        if rollup_cutoff is not None:
            last = db.execute("SELECT MAX(bucket) FROM history_rollup WHERE device = ?", (device,)).fetchone()[0]
            start = (last + interval) * 1000 if last is not None else 0
            db.execute(
                "INSERT OR REPLACE INTO history_rollup(device, bucket, avg, min, max, count) "
                "SELECT device, (at / 1000 / ?) * ?, AVG(value), MIN(value), MAX(value), COUNT(*) "
                "FROM history_raw WHERE device = ? AND at >= ? AND at < ? GROUP BY at / 1000 / ?",
                (interval, interval, device, start, done_until * 1000, interval))
            db.execute("DELETE FROM history_rollup WHERE device = ? AND bucket < ?", (device, rollup_cutoff))
        db.execute("DELETE FROM history_raw WHERE device = ? AND at < ?", (device, raw_cutoff_ms))


def _union_args(device: int, since: float, until: float, half: float) -> tuple[object, ...]:
    return (half, device, int(since - half), int(until), device, device, int(since * 1000), int(until * 1000))


def series(db: DB, device: int, since: float, until: float, step: float, half: float) -> list[Any]:
    """(time, avg, min, max, count) per `step` seconds; `half` is half a roll-up bucket."""
    return db.execute(
        f"SELECT SUM(t * n) / SUM(n), SUM(v * n) / SUM(n), MIN(lo), MAX(hi), SUM(n) FROM ({_UNION}) "
        "GROUP BY CAST((t - ?) / ? AS INTEGER) ORDER BY 1",
        (*_union_args(device, since, until, half), since, step)).fetchall()


def summary(db: DB, device: int, since: float, until: float, half: float) -> tuple[Any, float | None]:
    """((count, min, avg, max, first time, last time), the last value up to `until`)."""
    row = db.execute(f"SELECT SUM(n), MIN(lo), SUM(v * n) / SUM(n), MAX(hi), MIN(t), MAX(t) FROM ({_UNION})",
                     _union_args(device, since, until, half)).fetchone()
    last = db.execute("SELECT value FROM history_raw WHERE device = ? AND at <= ? ORDER BY at DESC LIMIT 1",
                      (device, int(until * 1000))).fetchone()
    if last is None:
        last = db.execute("SELECT avg FROM history_rollup WHERE device = ? AND bucket <= ? "
                          "ORDER BY bucket DESC LIMIT 1", (device, int(until))).fetchone()
    return row, (last[0] if last else None)


def counts(db: DB) -> dict[str, int]:
    """Rows kept, raw and rolled up (for the metrics)."""
    return {"raw": db.execute("SELECT COUNT(*) FROM history_raw").fetchone()[0],
            "rollup": db.execute("SELECT COUNT(*) FROM history_rollup").fetchone()[0]}


def mark_simulated(db: DB, marked: Sequence[tuple[str, float]]) -> None:
    """(device, until): these devices' history before `until` was simulated (the demo)."""
    db.execute(SIMULATED)
    db.executemany("INSERT OR REPLACE INTO simulated_history(device, until) VALUES (?,?)", marked)


def simulated_until(db: DB, names: Sequence[str]) -> float | None:
    """When the simulated past of these devices ends (None: none has one)."""
    if not db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'simulated_history'").fetchone():
        return None
    marks = ",".join("?" * len(names))
    row = db.execute(f"SELECT MAX(until) FROM simulated_history WHERE device IN ({marks})", tuple(names)).fetchone()
    return row[0] if row else None
