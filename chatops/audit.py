"""The audit log as it is fed: refusals and security events, folded so a flood cannot fill a disk.

Every refusal is a row, but a flood's are folded: events recorded with `fold=True` (a sender
past their rate limit) are written once, and more of the same kind from the same sender within
a minute become one row ("and N more") when the minute ends. The rate limit caps the rest, so
2,000 refused lines from a stranger make a few dozen rows, not 2,000 (on a Pi's SD card, a
growing audit table is how a flood would end in "disk full" for the alert rows that matter).
Rows older than `[hub] audit_retention` are pruned every hour.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .store import Store

log = logging.getLogger(__name__)
audit_log = logging.getLogger("chatops.audit")

WINDOW = 60.0
MAX_WINDOWS = 10000
PRUNE_EVERY = 3600.0
Row = tuple[float, str, str, str, str, str]


@dataclass(slots=True)
class _Window:
    started: float
    address: str
    detail: str
    more: int = 0


MAX_WAITING = 10_000            # audit rows kept in memory while the store refuses them


class AuditTrail:
    """Folds and writes audit rows for one hub."""

    def __init__(self, store: Store, retention: float, monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.retention = retention
        self._monotonic = monotonic
        self._wall = wall
        self._windows: OrderedDict[tuple[str, str], _Window] = OrderedDict()
        self._pending: list[Row] = []
        self.failing: str | None = None     # why rows cannot be stored, while they cannot
        self.lost = 0                       # rows dropped (the oldest) since then
        self._wake = asyncio.Event()
        store.before_audit_read = self.flush       # a reader of the audit log sees what waits here too

    def record(self, kind: str, sender: str, address: str, text: str, detail: str = "",
               fold: bool = False) -> None:
        """Note one event; written soon by `run()` (or `flush()`). `fold`: one row a minute."""
        if not fold:
            self._write(kind, sender, address, text, detail)
            return
        now = self._monotonic()
        key = (sender, kind)
        window = self._windows.get(key)
        if window is not None and now - window.started < WINDOW:
            window.more += 1
            window.detail = detail
            return
        if window is not None:
            self._close(key, window)
        while len(self._windows) >= MAX_WINDOWS:
            old_key, old = self._windows.popitem(last=False)
            self._close(old_key, old, keep=False)
        self._windows[key] = _Window(now, address, detail)
        self._write(kind, sender, address, text, detail)

    def _write(self, kind: str, sender: str, address: str, text: str, detail: str) -> None:
        audit_log.info("%s sender=%s at=%s detail=%s text=%r", kind, sender, address, detail, text[:200])
        self._pending.append((self._wall(), kind, sender, address, text, detail))
        self._wake.set()

    def _close(self, key: tuple[str, str], window: _Window, keep: bool = True) -> None:
        if window.more:
            sender, kind = key
            self._pending.append((self._wall(), kind, sender, window.address,
                                  f"(and {window.more} more like this within a minute)", window.detail))
            window.more = 0
        if not keep:
            return
        self._windows.pop(key, None)

    def _close_finished(self) -> None:
        now = self._monotonic()
        for key, window in list(self._windows.items()):
            if now - window.started >= WINDOW:
                self._close(key, window)

    async def flush(self, everything: bool = False) -> None:
        """Write what is pending: rows, and the counts of the minutes that ended (all with `everything`)."""
        if everything:
            for key, window in list(self._windows.items()):
                self._close(key, window)
        else:
            self._close_finished()
        rows, self._pending = self._pending, []
        if not rows:
            return
        try:
            await self.store.audit_rows(rows)
        except Exception as exc:           # the store says it is failing: keep them (bounded), say it once
            kept = rows + self._pending
            if self.failing is None:
                log.error("audit rows cannot be stored (%s); keeping the newest %d in memory until storage is back "
                          "(each is in the log too)", exc, MAX_WAITING)
            self.lost += max(0, len(kept) - MAX_WAITING)
            self._pending, self.failing = kept[-MAX_WAITING:], str(exc)
            return
        if self.failing is not None:
            log.warning("audit: storage is back; %d rows kept in memory stored (%d lost)", len(rows), self.lost)
            self.failing, self.lost = None, 0

    @property
    def waiting(self) -> int:
        """Rows not stored yet."""
        return len(self._pending)

    async def run(self) -> None:
        """Write rows as they come, close finished minutes, prune old rows; until cancelled."""
        pruned_at = -PRUNE_EVERY
        try:
            while True:
                try:
                    async with asyncio.timeout(WINDOW / 4):
                        await self._wake.wait()
                except TimeoutError:
                    pass
                self._wake.clear()
                await self.flush()
                if self._monotonic() - pruned_at >= PRUNE_EVERY:
                    pruned_at = self._monotonic()
                    await self._prune()
        finally:
            await asyncio.shield(self.flush(everything=True))

    async def _prune(self) -> None:
        try:
            gone = await self.store.prune_audit(self._wall() - self.retention)
        except Exception as exc:
            log.warning("old audit rows could not be pruned (%s)", exc)
            return
        if gone:
            log.info("pruned %d audit rows older than %.0f days", gone, self.retention / 86400)
