"""SQLite behind one worker thread: audit log, alert outbox, processed ids, readings history.

sqlite3 blocks, so every statement runs on the store's single thread (`Store.call`) and the
loop never waits on the disk. WAL journaling and a commit per call make each write durable
before the caller goes on: an alert row exists before anything is sent.

A full disk or a read-only file does not stop the hub: the failing call raises to its caller
(the alert engine retries), `health` turns not-ok with SQLite's reason (shown in /health)
and the first failure is logged as an error; the next write that goes through clears it.
A database the hub finds it cannot write at start (a worn SD card turned read-only, a file
made read-only) is opened read-only: the hub starts, says storage fails, sends alarms from
memory, and tries the file for writing again every REOPEN_EVERY seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..health import Health
from ..private import private_dir, private_file
from . import processed

log = logging.getLogger(__name__)
# Errors about a statement (a constraint, a misuse), not about the database: they say nothing
# of the disk, and a command that meets one has a bug.
STATEMENT_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.DataError)
# What a file write says of a full or failing card.
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EROFS, errno.EDQUOT, errno.EIO})
audit_log = logging.getLogger("chatops.audit")
T = TypeVar("T")
REOPEN_EVERY = 10.0         # seconds between tries to open for writing a database found read-only
PROCESSED_KEPT = 30 * 86400  # seconds a handled message's key is kept: no network redelivers later
PROCESSED_PRUNE_EVERY = 3600.0

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at REAL NOT NULL, kind TEXT NOT NULL, sender TEXT NOT NULL,
    address TEXT NOT NULL, text TEXT NOT NULL, detail TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY, rule TEXT NOT NULL, device TEXT NOT NULL, severity TEXT NOT NULL,
    message TEXT NOT NULL, value TEXT NOT NULL, raised_at REAL NOT NULL,
    acked_by TEXT, acked_at REAL, cleared_at REAL, next_repeat REAL, repeats INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, alert_id INTEGER NOT NULL REFERENCES alerts(id), adapter TEXT NOT NULL,
    target TEXT NOT NULL, direct INTEGER NOT NULL, recipient TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL,
    attachment TEXT, created REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL, delivered_at REAL, last_error TEXT);
CREATE INDEX IF NOT EXISTS deliveries_pending ON deliveries(adapter, delivered_at, next_try);
CREATE TABLE IF NOT EXISTS processed (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS plugin_kv (
    plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (plugin, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mutes (rule TEXT PRIMARY KEY, until REAL NOT NULL, by TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alert_quiet (alert_id INTEGER PRIMARY KEY, since REAL NOT NULL);
"""


def _why(exc: Exception) -> str:
    """Why a file could not be opened for writing: the system's words (`Operation not
    permitted`) or SQLite's."""
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


class Store:
    """The hub's database file; open() before use, close() at shutdown."""

    def __init__(self, path: Path) -> None:
        self.before_audit_read: Callable[[], Awaitable[None]] | None = None   # set by chatops.audit
        self.path = path
        self.health = Health()          # connected: the database takes writes; else detail says why not
        self.write_errors = 0
        self._executor: ThreadPoolExecutor | None = None
        self._db: sqlite3.Connection | None = None
        self._unsaved_keys: OrderedDict[str, None] = OrderedDict()   # mark_processed while writes fail
        self._read_only: str | None = None      # why the database, found read-only at start, is not written
        self._next_reopen = 0.0
        self.reopen_every = REOPEN_EVERY
        self._next_prune = 0.0                  # monotonic: when mark_processed next forgets old keys

    async def open(self) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        await self.call(self._connect)
        if self._read_only is None:
            self.health.up("ok")
            return
        self.write_errors += 1
        log.error("the database %s cannot be written (%s): the hub runs on, alerts are sent from memory and "
                  "nothing is stored; make the file and its folder writable (it is tried every %.0fs)",
                  self.path, self._read_only, self.reopen_every)
        self.health.down(f"read-only: {self._read_only}")

    def _connect(self) -> None:
        try:
            self._db = self._writable()
            return
        except (OSError, sqlite3.OperationalError) as exc:
            if not self.path.is_file():
                raise                               # nothing to read either (the preflight said why)
            reason = _why(exc)
        self._db = self._readable()
        self._read_only, self._next_reopen = reason, time.monotonic() + self.reopen_every

    def _writable(self) -> sqlite3.Connection:
        private_dir(self.path.parent)
        private_file(self.path)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _readable(self) -> sqlite3.Connection:
        """The database opened read-only: alerts, history and timers can still be read. On a
        folder where SQLite cannot make its WAL index either, the file is read as it stands."""
        uri = self.path.resolve().as_uri().replace("file://", "file:", 1)
        for options in ("mode=ro", "mode=ro&immutable=1"):
            try:
                db = sqlite3.connect(f"{uri}?{options}", uri=True, isolation_level=None, check_same_thread=False)
            except sqlite3.Error:
                continue
            try:
                tables = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0]
            except sqlite3.Error:
                db.close()
                continue
            if tables:
                return db
            db.close()
            return _empty_read_only()
        raise sqlite3.OperationalError(f"cannot read {self.path} either")

    def _reopen(self) -> bool:
        """Try the database for writing again (on the store's thread); True once it takes writes."""
        self._next_reopen = time.monotonic() + self.reopen_every
        try:
            db = self._writable()
        except (OSError, sqlite3.Error) as exc:
            self._read_only = _why(exc)
            return False
        old, self._db, self._read_only = self._db, db, None
        if old is not None:
            old.close()
        return True

    async def close(self) -> None:
        if self._executor is None:
            return
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)
        self._executor = None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` on the store's thread (fn may use `self.db`).

        An SQLite error other than a constraint (disk full, read-only, I/O) marks the store
        unhealthy and is raised; a call that wrote something marks it healthy again.
        """
        if self._executor is None:
            raise RuntimeError("the store is not open")
        try:
            result, wrote = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, fn, args)
        except STATEMENT_ERRORS:
            raise                                   # about the statement, not the database
        except sqlite3.DatabaseError as exc:        # full, read-only, I/O error, locked, corrupt
            self._failed(exc)
            raise
        if wrote and not self.health.connected:
            log.warning("the database %s takes writes again (after %d failed)", self.path, self.write_errors)
            self.health.up("ok")
            self.write_errors = 0
        return result

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> tuple[T, bool]:
        # Found read-only at start: reads answer from the read-only connection, writes raise
        # "attempt to write a readonly database"; every REOPEN_EVERY s the file is tried again.
        old = self._db
        reopened = self._read_only is not None and time.monotonic() >= self._next_reopen and self._reopen()
        if reopened:              # callers pass `store.db`, taken before the swap: give them the new one
            args = tuple(self._db if arg is old else arg for arg in args)
        before = self._db.total_changes if self._db is not None else 0
        result = fn(*args)
        return result, reopened or (self._db is not None and self._db.total_changes != before)

    def _failed(self, exc: sqlite3.Error) -> None:
        self.write_errors += 1
        # Opened read-only at start: that reason (the file system's word: "Read-only file system",
        # "No space left on device") says more than SQLite's "attempt to write a readonly database".
        reason = f"read-only: {self._read_only}" if self._read_only is not None else f"{type(exc).__name__}: {exc}"
        if self.health.connected or not self.health.started:
            log.error("the database %s fails (%s): alerts wait in memory and are retried; free disk space "
                      "or make the file writable", self.path, reason)
        self.health.down(reason)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the store is not open")
        return self._db

    def transaction(self, statements: Callable[[sqlite3.Connection], T]) -> T:
        """Run `statements(db)` in one transaction (call from the store's thread)."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            result = statements(db)
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:                   # a failed COMMIT may leave it open (SQLITE_BUSY)
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise
        return result

    async def audit(self, kind: str, sender: str, address: str, text: str, detail: str = "") -> None:
        """Record a refusal or a security-relevant event (also logged as chatops.audit)."""
        audit_log.info("%s sender=%s at=%s detail=%s text=%r", kind, sender, address, detail, text[:200])
        await self.call(lambda: self.db.execute(
            "INSERT INTO audit(at, kind, sender, address, text, detail) VALUES (?,?,?,?,?,?)",
            (time.time(), kind, sender, address, text[:500], detail[:500])))

    async def plugin_value(self, plugin: str, key: str) -> str | None:
        """A plugin's stored value (JSON text), or None."""
        def read() -> str | None:
            row = self.db.execute("SELECT value FROM plugin_kv WHERE plugin = ? AND key = ?", (plugin, key)).fetchone()
            return None if row is None else str(row[0])
        return await self.call(read)

    async def set_plugin_value(self, plugin: str, key: str, value: str | None) -> None:
        """Store (None: delete) a plugin's value."""
        if value is None:
            await self.call(lambda: self.db.execute("DELETE FROM plugin_kv WHERE plugin = ? AND key = ?",
                                                    (plugin, key)))
            return
        await self.call(lambda: self.db.execute(
            "INSERT INTO plugin_kv(plugin, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(plugin, key) DO UPDATE SET value = excluded.value", (plugin, key, value)))

    async def audit_rows(self, rows: list[tuple[float, str, str, str, str, str]]) -> None:
        """Write audit rows (at, kind, sender, address, text, detail) in one transaction."""
        await self.call(self.transaction, lambda db: db.executemany(
            "INSERT INTO audit(at, kind, sender, address, text, detail) VALUES (?,?,?,?,?,?)",
            [(at, kind, sender, address, text[:500], detail[:500])
             for at, kind, sender, address, text, detail in rows]))

    async def prune_audit(self, before: float) -> int:
        """Delete audit rows older than `before` (unix time); how many went."""
        return await self.call(lambda: self.db.execute("DELETE FROM audit WHERE at < ?", (before,)).rowcount)

    async def audit_entries(self, kind: str | None = None) -> list[dict[str, Any]]:
        """The audit rows (of one kind), oldest first, including those still waiting to be written."""
        if self.before_audit_read is not None:
            await self.before_audit_read()
        def query() -> list[dict[str, Any]]:
            cursor = self.db.execute(
                "SELECT at, kind, sender, address, text, detail FROM audit"
                + (" WHERE kind = ?" if kind else "") + " ORDER BY id", (kind,) if kind else ())
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
        return await self.call(query)

    async def mark_processed(self, key: str) -> bool:
        """Remember `key` (an SMS id, a Slack event id); False when it was already seen.

        While the database refuses writes, keys are remembered in memory (and saved later), so
        commands keep running once each instead of not at all.
        """
        if key in self._unsaved_keys:
            return False
        unsaved = list(self._unsaved_keys)

        prune = time.monotonic() >= self._next_prune
        if prune:
            self._next_prune = time.monotonic() + PROCESSED_PRUNE_EVERY

        def insert() -> bool:
            if prune:
                # Kept for a month, whatever the network and however long the hub runs: keys
                # were forgotten only at an adapter's start (Telegram's never), so a hub up for
                # a year, or a member's slow flood on Slack, grew the table without end.
                processed.forget(self.db, "", time.time() - PROCESSED_KEPT)
            if unsaved:
                self.db.executemany("INSERT OR IGNORE INTO processed(key, at) VALUES (?, ?)",
                                    [(k, time.time()) for k in unsaved])
            try:
                self.db.execute("INSERT INTO processed(key, at) VALUES (?, ?)", (key, time.time()))
            except sqlite3.IntegrityError:
                return False
            return True

        try:
            first = await self.call(insert)
        except sqlite3.OperationalError as exc:
            with contextlib.suppress(sqlite3.Error):
                if await self.was_processed(key):
                    return False
            log.warning("cannot record %s as processed (%s); remembered in memory", key, exc)
            self._unsaved_keys[key] = None
            while len(self._unsaved_keys) > 10000:
                self._unsaved_keys.popitem(last=False)
            return True
        for saved in unsaved:
            self._unsaved_keys.pop(saved, None)
        return first

    async def was_processed(self, key: str) -> bool:
        if key in self._unsaved_keys:
            return True
        return await self.call(lambda: self.db.execute(
            "SELECT 1 FROM processed WHERE key = ?", (key,)).fetchone() is not None)


def _empty_read_only() -> sqlite3.Connection:
    """A database file with no tables yet (never written, or emptied by a file system check)
    that cannot be written: nothing to read in it, so an empty database in memory with every
    table stands in, refusing writes as the file does, until the file takes them (`_reopen`)."""
    from . import automations, history, timers

    db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    for module_schema in (SCHEMA, history.SCHEMA, timers.SCHEMA, automations.SCHEMA):
        db.executescript(module_schema)
    db.execute("PRAGMA query_only = ON")
    return db
