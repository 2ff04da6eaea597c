"""What waits to be pushed to one dashboard page, and the actions that page started."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
FEED_SIZE = 500                 # pushes queued per page before it is sent a fresh `state` instead


class Feed:
    """What waits to be pushed to one page; a page too slow to keep up gets a fresh `state` instead."""

    ALERTS = object()
    HEALTH = object()
    RESYNC = object()

    def __init__(self, session: str) -> None:
        self.session = session
        self._queue: asyncio.Queue[object] = asyncio.Queue(FEED_SIZE)
        self._tasks: set[asyncio.Task[None]] = set()

    def put(self, item: object) -> None:
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(Feed.RESYNC)

    async def get(self) -> object:
        return await self._queue.get()

    def spawn(self, coro: Any, name: str) -> None:
        """Run one page action; its failure is logged, and it ends with the page."""
        task = asyncio.create_task(coro, name=f"{name}-{self.session}")
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("dashboard action failed", exc_info=task.exception())

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
