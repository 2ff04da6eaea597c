"""History while the database refuses writes: at most 10,000 readings wait in memory, the oldest
dropped with one log line however long it lasts, and all that waited is written once writes
work again (real SQLite, made read-only with its own `query_only`)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from chatops.config import DeviceType, HistorySettings
from chatops import history as history_module
from chatops.history import MAX_BUFFERED, History
from chatops.store import Store
from chatops.testing import wait_for


async def test_readings_wait_in_a_bounded_buffer_with_one_line_for_the_drops(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = Store(tmp_path / "chatops.db")
    await store.open()
    try:
        history = History(store, HistorySettings(min_interval="0s"))
        await history.open()
        salon = SimpleNamespace(name="salon", type=DeviceType.SENSOR)
        await store.call(lambda: store.db.execute("PRAGMA query_only = ON"))
        start = 1_790_000_000.0
        for batch in range(3):                               # three failed flushes, 4,000 readings each
            for i in range(4000):
                moment = start + batch * 4000 + i
                history.record(salon, SimpleNamespace(value=20.0 + i % 10, at=moment))   # type: ignore[arg-type]
            assert await history.flush() == 0
        assert history.waiting == MAX_BUFFERED and history.dropped == 12000 - MAX_BUFFERED
        assert caplog.text.count("the oldest are dropped") == 1
        assert caplog.text.count("readings cannot be written") == 1
        await store.call(lambda: store.db.execute("PRAGMA query_only = OFF"))
        assert await history.flush() == MAX_BUFFERED
        assert history.failing is None and history.waiting == 0
        oldest, count = await store.call(lambda: store.db.execute(
            "SELECT MIN(at), COUNT(*) FROM history_raw").fetchone())
        assert count == MAX_BUFFERED and oldest == int((start + 12000 - MAX_BUFFERED) * 1000)   # the newest kept
        assert "storage is back; 10000 readings kept in memory written (2000 dropped)" in caplog.text
    finally:
        await store.close()


async def test_while_writes_fail_they_are_tried_again_every_few_seconds_not_at_every_reading(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Once a write failed, the buffer is over a batch: a reading must not set off a write each."""
    monkeypatch.setattr(history_module, "RETRY_WHILE_FAILING", 60.0)
    store = Store(tmp_path / "chatops.db")
    await store.open()
    try:
        history = History(store, HistorySettings(min_interval="0s", flush_batch=10, flush_interval="0.05s"))
        await history.open()
        tries = 0
        flush = history.flush

        async def counted() -> int:
            nonlocal tries
            tries += 1
            return await flush()
        history.flush = counted                                # type: ignore[method-assign]
        salon = SimpleNamespace(name="salon", type=DeviceType.SENSOR)
        await store.call(lambda: store.db.execute("PRAGMA query_only = ON"))
        writer = asyncio.create_task(history.run())
        for i in range(20):
            history.record(salon, SimpleNamespace(value=20.0, at=1_790_000_000.0 + i))   # type: ignore[arg-type]
        await wait_for(lambda: history.failing is not None)
        failed_at = tries
        for i in range(300):                                  # a busy house, for a while
            history.record(salon, SimpleNamespace(value=20.0, at=1_790_000_100.0 + i))   # type: ignore[arg-type]
            await asyncio.sleep(0.002)
        assert tries == failed_at, f"{tries - failed_at} more writes tried before the retry was due"
        assert history.waiting == 320
        writer.cancel()
        with pytest.raises(asyncio.CancelledError):
            await writer
    finally:
        await store.close()
