"""Readings history in the hub's SQLite file: raw for a week, then 5-minute averages for a year.

Every numeric or on/off reading is buffered and written in batches (every `flush_interval`
or `flush_batch` readings, and at shutdown), so a busy house costs one transaction a second,
not one per reading. A maintenance pass rolls finished raw buckets up into
`history_rollup` (avg/min/max/count per `rollup_interval`) and deletes what is past its
retention, which bounds the file: about 30 MB for 20 sensors reporting every 10 s.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .config import DeviceType, HistorySettings
from .store import Store
from .store.database import STATEMENT_ERRORS
from .store import history as rows

if TYPE_CHECKING:
    from .home import Device, Reading
    from .hub import Hub

log = logging.getLogger(__name__)

def period_range(settings: HistorySettings) -> tuple[float, float]:
    """The periods a graph or chart may cover: from a minute to the longest retention (asking
    for more reads nothing more, and a year of raw rows is work a Pi should not be made to do)."""
    return 60.0, max(settings.raw_retention, settings.rollup_retention)


MAINTENANCE_EVERY = 300.0            # seconds between roll-up/retention passes (at most)
MAX_BUFFERED = 10_000                # readings kept in memory while the disk refuses writes
RETRY_WHILE_FAILING = 10.0           # seconds between write attempts while they fail (not one per reading)


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of a series: its time (unix, middle of the readings), average, min, max, count."""

    at: float
    avg: float
    min: float
    max: float
    count: int


@dataclass(frozen=True, slots=True)
class Summary:
    """min/avg/max of a device over a period, and its last recorded value."""

    count: int
    min: float
    avg: float
    max: float
    first_at: float
    last_at: float
    last: float


class History:
    """Records readings (a Home listener) and answers series and summaries for commands and the web."""

    def __init__(self, store: Store, settings: HistorySettings) -> None:
        self.store = store
        self.settings = settings
        self._buffer: list[tuple[str, int, float]] = []
        self._full = asyncio.Event()
        self._kept: dict[str, tuple[int, float]] = {}       # device -> (unix ms, value) last buffered
        self._ids: dict[str, int] = {}
        self.written = 0
        self.failing: str | None = None     # why writes fail, while they do (status shows it)
        self.dropped = 0                    # readings lost since writes began to fail (the oldest first)

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def start(self, hub: Hub) -> None:
        """Create the tables, listen to the home, and run the writer in the hub's task group."""
        await self.open()
        if self.enabled:
            hub.home.listen(self.record)
            hub.spawn(self.run(), "history")

    async def open(self) -> None:
        self._ids.update(await self.store.call(rows.create, self.store.db))

    async def empty(self) -> bool:
        """Whether no reading was ever recorded (a first start: the demo then simulates a past day)."""
        return await self.store.call(rows.empty, self.store.db)

    # ---- recording -----------------------------------------------------------------------

    def record(self, device: Device, reading: Reading, previous: Reading | None = None) -> None:
        """Buffer `reading` when it is a number or on/off (at most one per min_interval per device)."""
        if device.type is DeviceType.CAMERA or isinstance(reading.value, str):
            return
        value = float(reading.value)
        at = int(reading.at * 1000)
        kept = self._kept.get(device.name)
        if kept is not None:
            changed_state = isinstance(reading.value, bool) and kept[1] != value
            if 0 <= at - kept[0] < self.settings.min_interval * 1000 and not changed_state:
                return
            if 0 <= kept[0] - at < 1000:
                at = kept[0] + 1                 # two readings in one millisecond: both are kept
        self._kept[device.name] = (at, value)
        self._buffer.append((device.name, at, value))
        if len(self._buffer) >= self.settings.flush_batch and self.failing is None:
            self._full.set()                 # while writes fail, the buffer is over a batch: wait the retry

    async def run(self) -> None:
        """Flush every flush_interval (or when the batch is full), maintain now and then; flush at the end."""
        next_maintenance = 0.0               # monotonic: a clock stepped by NTP moves no pass
        try:
            while True:
                if time.monotonic() >= next_maintenance:
                    await self.maintain()
                    next_maintenance = time.monotonic() + min(MAINTENANCE_EVERY, self.settings.rollup_interval)
                try:
                    wait = self.settings.flush_interval
                    async with asyncio.timeout(max(wait, RETRY_WHILE_FAILING) if self.failing else wait):
                        await self._full.wait()
                except TimeoutError:
                    pass
                self._full.clear()
                await self.flush()
        except asyncio.CancelledError:
            await self.flush()
            raise

    async def flush(self) -> int:
        """Write the buffered readings in one transaction; how many."""
        rows, self._buffer = self._buffer, []
        if not rows:
            return 0
        try:
            await self.store.call(self.store.transaction, lambda db: self.write(db, rows))
        except asyncio.CancelledError:
            self._buffer = rows + self._buffer      # rewritten at the final flush (same keys: no duplicates)
            raise
        except sqlite3.Error as exc:                # a full disk: keep the newest readings, try again later
            kept = rows + self._buffer
            if self.failing is None:
                log.error("history: readings cannot be written (%s); keeping the newest %d in memory until "
                          "storage is back", exc, MAX_BUFFERED)
            if len(kept) > MAX_BUFFERED:
                if not self.dropped:
                    log.error("history: more than %d readings wait; the oldest are dropped from now on", MAX_BUFFERED)
                self.dropped += len(kept) - MAX_BUFFERED
            self._buffer, self.failing = kept[-MAX_BUFFERED:], str(exc)
            return 0
        if self.failing is not None:
            log.warning("history: storage is back; %d readings kept in memory written (%d dropped)",
                        len(rows), self.dropped)
            self.failing, self.dropped = None, 0
        self.written += len(rows)
        return len(rows)

    @property
    def waiting(self) -> int:
        """Readings buffered, not yet written."""
        return len(self._buffer)

    def write(self, db: sqlite3.Connection, readings: list[tuple[str, int, float]]) -> None:
        """Insert (device name, unix ms, value) rows (store thread, inside a transaction)."""
        for name in {r[0] for r in readings} - set(self._ids):
            self._ids[name] = rows.device_id(db, name)
        rows.insert_raw(db, [(self._ids[name], at, value) for name, at, value in readings])

    # ---- roll-up and retention -----------------------------------------------------------

    async def maintain(self, now: float | None = None) -> None:
        """Roll finished raw buckets up, then delete raw and roll-ups past their retention."""
        now = time.time() if now is None else now
        try:
            await self.store.call(self.store.transaction, lambda db: self.maintain_in(db, now))
        except STATEMENT_ERRORS:
            log.exception("history maintenance failed")
        except sqlite3.DatabaseError as exc:         # storage failing: said by the store, tried again later
            log.warning("history maintenance not done (%s); tried again later", exc)

    def maintain_in(self, db: sqlite3.Connection, now: float) -> None:
        s = self.settings
        interval = int(s.rollup_interval)
        done_until = int((now - 2 * s.flush_interval - 1) // interval * interval)    # complete buckets only
        raw_cutoff = int((now - s.raw_retention) * 1000)
        rows.maintain(db, interval, done_until, raw_cutoff,
                      int(now - s.rollup_retention) if s.rollup_retention > 0 else None)

    # ---- queries ---------------------------------------------------------------------------

    async def series(self, name: str, since: float, until: float, max_points: int = 1440) -> list[Point]:
        """Readings of `name` between since and until, averaged into at most `max_points` buckets."""
        await self.flush()
        step = max(1.0, (until - since) / max_points)
        return await self.store.call(self._series, name, since, until, step)

    def _series(self, name: str, since: float, until: float, step: float) -> list[Point]:
        device = self._ids.get(name)
        if device is None:
            return []
        return [Point(*row) for row in rows.series(self.store.db, device, since, until, step,
                                                   self.settings.rollup_interval / 2)]

    async def summary(self, name: str, since: float, until: float) -> Summary | None:
        """min/avg/max of `name` over [since, until] and its last value; None without readings."""
        await self.flush()
        return await self.store.call(self._summary, name, since, until)

    def _summary(self, name: str, since: float, until: float) -> Summary | None:
        device = self._ids.get(name)
        if device is None:
            return None
        row, last = rows.summary(self.store.db, device, since, until, self.settings.rollup_interval / 2)
        if not row or not row[0]:
            return None
        return Summary(int(row[0]), row[1], row[2], row[3], row[4], row[5], row[2] if last is None else last)
