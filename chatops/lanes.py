"""Lanes: what one conversation (or one network's low-priority replies) waits for, in order.

Each lane has one worker task that takes its items one at a time. A worker whose lane runs
dry does not end: it waits for the next item, since creating a task per chat line (its start,
its two done-callbacks) cost more than the rest of a `!temp` answer's dispatch
(bench/throughput.py). At most `keep_idle` workers wait so; past that the longest idle one
ends, so a stream of strangers each writing once leaves no more than that many behind.

An item put on an idle lane is not even handed to its worker: it is started at once, as a step
of the worker's task (chatops.eager), and is most often done there (a `!temp` answer written
before the line's read callback returns: no wake-up, no loop turn). One that has to wait goes
on in the worker, ahead of anything put after it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from .eager import Started, can_start_now, first_step, rest_of

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class _Lane(Generic[Item]):
    __slots__ = ("items", "dropped", "waiter", "worker", "context")

    def __init__(self) -> None:
        self.items: deque[Item | Started] = deque()
        self.dropped = 0
        self.waiter: asyncio.Future[bool] | None = None      # set while the worker waits idle
        self.worker: asyncio.Task[Any] | None = None
        # The worker's own context: what an item started at once sets (its asker's language)
        # is what the rest of it reads in the worker.
        self.context = contextvars.Context()


class Lanes(Generic[Item]):
    """Items of each key handled in order by `work`, keys independently of each other.

    A lane holds at most `bound` waiting items: past that, the oldest item `droppable` accepts
    is dropped (and counted in one log line once the lane runs dry), so a flood cannot push a
    user's command minutes back."""

    def __init__(self, what: str, work: Callable[[Item], Awaitable[None]],
                 spawn: Callable[..., object], *, bound: int,
                 droppable: Callable[[Item], bool], dropped_what: str = "items", keep_idle: int = 32) -> None:
        self.what = what                  # names the workers' tasks and the log lines
        self.dropped_what = dropped_what
        self._work = work
        self._spawn = spawn               # (coroutine, name, context=): the worker's task
        self.bound = bound
        self._droppable = droppable
        self.keep_idle = keep_idle
        self._lanes: dict[str, _Lane[Item]] = {}
        self._idle: dict[str, _Lane[Item]] = {}        # insertion order: longest idle first

    def __len__(self) -> int:
        """Lanes with a worker, busy or idle."""
        return len(self._lanes)

    def busy(self, key: str) -> bool:
        """Whether an item put on `key` now would wait for another one to be handled first."""
        lane = self._lanes.get(key)
        return lane is not None and (lane.waiter is None or bool(lane.items))

    def put(self, key: str, item: Item) -> None:
        lane = self._lanes.get(key)
        if lane is not None and lane.waiter is not None and lane.waiter.done():
            lane = None                   # its worker was cancelled while idle (shutdown): not there any more
        if lane is None:
            lane = _Lane()
            # A fresh context: what the line that starts a worker set (its asker's language)
            # must not stick to the worker's later items.
            worker = self._drain(key, lane)
            try:
                task = self._spawn(worker, f"{self.what}-{key[:40]}", context=lane.context)
            except RuntimeError:          # the hub is stopping: nothing new starts
                worker.close()
                log.info("%s %s: not handled, the hub is stopping", self.what, key)
                return
            lane.worker = task if isinstance(task, asyncio.Task) else None
            self._idle.pop(key, None)
            self._lanes[key] = lane
        elif lane.waiter is not None and not lane.items and self._at_once(key, lane, item):
            return
        lane.items.append(item)
        self._wake(key, lane)
        if len(lane.items) > self.bound:
            oldest = next((i for i in lane.items if not isinstance(i, Started) and self._droppable(i)), None)
            if oldest is not None:
                lane.items.remove(oldest)
                lane.dropped += 1

    def _wake(self, key: str, lane: _Lane[Item]) -> None:
        if lane.waiter is not None:
            del self._idle[key]
            if not lane.waiter.done():    # cancelled (by an item's first step): the worker hears it
                lane.waiter.set_result(True)
            lane.waiter = None

    def _at_once(self, key: str, lane: _Lane[Item], item: Item) -> bool:
        """Handle `item` now, as a step of its idle worker; False when it cannot start here (put
        from inside a task: a lane's own, the web chat's), and the worker takes it as usual."""
        if lane.worker is None or not can_start_now(lane.worker):
            return False
        try:
            started = first_step(self._work(item), lane.worker, lane.context)
        except (Exception, asyncio.CancelledError):     # as the worker does: one failure, not the lane's
            log.exception("%s %s: handling an item failed", self.what, key)
            return True
        if started is not None:           # it waits for something: the worker awaits the rest,
            lane.items.appendleft(started)  # before any line its first step put on its lane
            self._wake(key, lane)
        return True

    async def _drain(self, key: str, lane: _Lane[Item]) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while lane.items:
                    item = lane.items.popleft()
                    try:
                        if isinstance(item, Started):
                            await rest_of(item.coro, item.waiting_on, item.thrown)
                        else:
                            await self._work(item)
                    except Exception:                # one item's failure must not silence the lane
                        log.exception("%s %s: handling an item failed", self.what, key)
                if lane.dropped:
                    log.warning("%s: dropped %d %s (more than %d waiting)",
                                key, lane.dropped, self.dropped_what, self.bound)
                    lane.dropped = 0
                waiter = lane.waiter = loop.create_future()
                self._idle[key] = lane
                if len(self._idle) > self.keep_idle:
                    self._retire(next(iter(self._idle)))
                try:
                    if not await waiter:
                        return
                except asyncio.CancelledError as exc:
                    # Cancelled once an item started at once was put (its own asyncio.timeout
                    # run out, the hub stopping) but before the rest of it was awaited here:
                    # the cancellation is that item's, as it would be had the worker awaited it.
                    first = lane.items[0] if lane.items else None
                    if not isinstance(first, Started):
                        raise
                    first.thrown = exc
        finally:
            if self._lanes.get(key) is lane:
                del self._lanes[key]
                self._idle.pop(key, None)

    def _retire(self, key: str) -> None:
        """End an idle worker: its next item will start a new one."""
        lane = self._idle.pop(key)
        del self._lanes[key]
        if lane.waiter is not None and not lane.waiter.done():
            lane.waiter.set_result(False)
        lane.waiter = None
