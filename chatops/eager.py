"""A coroutine's first step run at once, its rest awaited later: what Python 3.12's eager tasks
do, for the two places on a chat line's way that need it on Debian 12's Python 3.11.

Most answers (a reading from memory) never wait: started at once, they are done before a task
step or a loop turn would even have begun. One that does wait goes on where it is awaited,
through `rest_of`, exactly as if it had been awaited from the start.
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from asyncio import tasks
from collections.abc import Coroutine, Generator
from typing import Any

# The C functions asyncio itself uses around each task step (and 3.12's eager tasks around the
# first one): they make `task` the current task, so that asyncio.timeout() and current_task()
# inside the first step see the task that will run the rest.
_enter_task = getattr(tasks, "_enter_task", None)
_leave_task = getattr(tasks, "_leave_task", None)


class Expired(TimeoutError):
    """`within`'s time ran out (a TimeoutError the awaited code raised itself is not this)."""


class Started:
    """A coroutine whose first step ran and which now waits on `waiting_on`: `rest_of` it.
    `thrown`: a cancellation its task got before it awaited the rest (rest_of passes it on)."""

    __slots__ = ("coro", "waiting_on", "thrown")

    def __init__(self, coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
        self.coro, self.waiting_on = coro, waiting_on
        self.thrown: BaseException | None = None


def can_start_now(task: asyncio.Task[Any]) -> bool:
    """Whether a step of `task` can run here: not from inside another task (a step of one task
    cannot run another's; the web chat's lines come so), and asyncio has the step functions."""
    return _enter_task is not None and asyncio.current_task(task.get_loop()) is None


def first_step(coro: Coroutine[Any, Any, Any], task: asyncio.Task[Any],
               context: contextvars.Context) -> Started | None:
    """Run `coro` now, as a step of `task` (waiting, and `can_start_now`) in `context` (the
    task's own): None when it finished (its exceptions propagate), else the Started for `task`
    to await."""
    loop = task.get_loop()
    _enter_task(loop, task)                       # type: ignore[misc]
    try:
        waiting_on = context.run(coro.send, None)
    except StopIteration:
        return None
    finally:
        _leave_task(loop, task)                   # type: ignore[misc]
    return Started(coro, waiting_on)


@types.coroutine
def rest_of(coro: Any, waiting_on: Any, thrown: BaseException | None = None) -> Generator[Any, Any, Any]:
    """Await the rest of `coro`, whose first step already ran and is waiting on `waiting_on`:
    what the task sends or throws in goes on to `coro`, as `await` would have passed it.
    `thrown`: a cancellation the task got before this was awaited, thrown in first (what it
    waits on is cancelled, as Task.cancel() cancels what a task waits on)."""
    while True:
        try:
            if thrown is not None:
                exc, thrown = thrown, None
                if isinstance(exc, asyncio.CancelledError) and asyncio.isfuture(waiting_on):
                    waiting_on.cancel()
                raise exc
            sent = yield waiting_on
        except GeneratorExit:
            coro.close()
            raise
        except BaseException as exc:            # CancelledError (a timeout), anything thrown in
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as done:
                return done.value
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as done:
                return done.value


async def within(coro: Coroutine[Any, Any, Any], seconds: float) -> Any:
    """`coro`'s result, its rest bounded by `seconds` (Expired when they run out). Its first step
    runs untimed: most sends and answers end there, and asyncio.timeout's timer (a heap entry
    made and cancelled) cost a tenth of the hub's time per command (bench.throughput)."""
    try:
        waiting_on = coro.send(None)
    except StopIteration as done:
        return done.value
    try:
        async with asyncio.timeout(seconds) as limit:
            return await rest_of(coro, waiting_on)
    except TimeoutError:
        if limit.expired():
            raise Expired from None
        raise
