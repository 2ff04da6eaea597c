"""Lanes: each conversation's lines in order, workers that wait for the next line, a bounded queue."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest

from chatops.lanes import Lanes


class Recorder:
    """What a lane's work saw, with a gate that holds each item until the test opens it."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.tasks: list[asyncio.Task[None]] = []
        self.started = 0
        self.changed = asyncio.Condition()
        self.taken = asyncio.Event()          # a worker took its first item

    async def work(self, item: str) -> None:
        self.taken.set()
        await self.gate.wait()
        if item == "boom":
            raise RuntimeError("kaboom")
        async with self.changed:
            self.seen.append(item)
            self.changed.notify_all()

    def spawn(self, coro: Awaitable[None], name: str, context: contextvars.Context | None = None) -> asyncio.Task[None]:
        self.started += 1
        task = asyncio.get_running_loop().create_task(coro, context=context)  # type: ignore[arg-type]
        self.tasks.append(task)
        return task

    async def until(self, count: int) -> None:
        """Until `count` items were handled. A worker goes idle in the same step as its last
        item, so by the time this returns, it waits for its next one."""
        async with asyncio.timeout(5), self.changed:
            await self.changed.wait_for(lambda: len(self.seen) >= count)

    def lanes(self, work: Callable[[str], Awaitable[None]] | None = None, **options: Any) -> Lanes[str]:
        """Lanes whose workers this recorder starts, and whose items it records."""
        settings: dict[str, Any] = {"bound": 20, "droppable": lambda _: True} | options
        return Lanes("lane", work or self.work, self.spawn, **settings)

    async def idle_lane(self, work: Callable[[str], Awaitable[None]] | None = None) -> Lanes[str]:
        """Lanes whose lane `a` has a worker that handled "first" and now waits idle: what a
        conversation already under way looks like when its next line comes."""
        lanes = self.lanes(work)
        lanes.put("a", "first")              # from the test's task: the worker takes it
        await self.until(1)
        return lanes

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


async def test_items_of_one_key_in_order_by_one_worker_that_stays(recorder: Recorder) -> None:
    lanes = recorder.lanes()
    for item in ("a1", "a2", "a3"):
        lanes.put("a", item)
    await recorder.until(3)
    lanes.put("a", "a4")                  # the worker waited idle: no second one
    lanes.put("b", "b1")
    await recorder.until(5)
    assert recorder.seen == ["a1", "a2", "a3", "a4", "b1"]
    assert recorder.started == 2
    assert len(lanes) == 2


async def test_a_failing_item_is_logged_and_the_lane_goes_on(recorder: Recorder,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    lanes = recorder.lanes()
    for item in ("one", "boom", "two"):
        lanes.put("a", item)
    await recorder.until(2)
    assert recorder.seen == ["one", "two"]
    assert "lane a: handling an item failed" in caplog.text and "kaboom" in caplog.text


async def test_past_the_bound_the_oldest_droppable_item_goes_with_one_log_line(
        recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    recorder.gate.clear()                     # each item waits at the gate until the test opens it
    lanes = recorder.lanes(bound=3, droppable=lambda item: item.startswith("stranger"),
                           dropped_what="strangers' lines")
    lanes.put("room", "user-1")           # taken by the worker, held at the gate
    await asyncio.wait_for(recorder.taken.wait(), 5)
    for item in ("stranger-1", "user-2", "stranger-2", "user-3", "stranger-3"):
        lanes.put("room", item)
    recorder.gate.set()
    await recorder.until(4)
    assert recorder.seen == ["user-1", "user-2", "user-3", "stranger-3"]
    with caplog.at_level(logging.WARNING):
        assert "room: dropped 2 strangers' lines (more than 3 waiting)" in caplog.text


async def test_idle_workers_beyond_keep_idle_end_and_come_back_on_demand(recorder: Recorder) -> None:
    lanes = recorder.lanes(keep_idle=2)
    for count, key in enumerate(("a", "b", "c", "d"), 1):
        lanes.put(key, key)
        await recorder.until(count)
    assert len(lanes) == 2                # a and b ended, longest idle first
    _, pending = await asyncio.wait(recorder.tasks[:2], timeout=5)
    assert not pending
    lanes.put("a", "a again")
    await recorder.until(5)
    assert recorder.seen == ["a", "b", "c", "d", "a again"]
    assert recorder.started == 5
    assert len(lanes) == 2


async def test_a_worker_cancelled_while_idle_is_replaced_by_the_next_line(recorder: Recorder) -> None:
    """At shutdown the workers are cancelled while adapters may still hand over a line: it
    starts a new worker instead of failing on the old one's cancelled wait."""
    lanes = recorder.lanes()
    lanes.put("a", "first")
    await recorder.until(1)
    recorder.tasks[0].cancel()              # its idle wait is cancelled at once, its end runs later
    lanes.put("a", "second")
    await recorder.until(2)
    assert recorder.seen == ["first", "second"]
    assert recorder.started == 2


async def test_a_worker_starts_in_a_context_of_its_own(recorder: Recorder) -> None:
    """What the line that started a worker had set (its asker's language) does not stick to the
    worker's later items."""
    language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="en")
    languages: list[str] = []

    async def work(item: str) -> None:
        languages.append(language.get())
        await recorder.work(item)

    lanes = recorder.lanes(work)
    token = language.set("fr")
    lanes.put("a", "from a French speaker")
    language.reset(token)
    await recorder.until(1)
    assert languages == ["en"]


async def test_a_line_that_comes_while_the_hub_stops_is_dropped_with_a_log_line(
        recorder: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    def stopped(coro: Awaitable[None], name: str, context: contextvars.Context | None = None) -> None:
        raise RuntimeError("the hub is not running")

    lanes: Lanes[str] = Lanes("lane", recorder.work, stopped, bound=20, droppable=lambda _: True)
    with caplog.at_level(logging.INFO):
        lanes.put("a", "too late")
    assert len(lanes) == 0
    assert "lane a: not handled, the hub is stopping" in caplog.text


async def test_a_line_for_an_idle_lane_is_handled_before_the_read_callback_returns(recorder: Recorder) -> None:
    """A network's read callback (no task running) puts a line on a lane whose worker waits:
    the line is handled there and then, as a step of that worker (a `!temp` answer is written
    before the callback returns, no wake-up or loop turn later)."""
    current: list[asyncio.Task[object] | None] = []

    async def work(item: str) -> None:
        current.append(asyncio.current_task())
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)
    seen_when_put_returned: list[str] = []

    def read_callback() -> None:
        lanes.put("a", "second")
        seen_when_put_returned.extend(recorder.seen)

    asyncio.get_running_loop().call_soon(read_callback)
    await recorder.until(2)
    assert seen_when_put_returned == ["first", "second"]
    assert current == [recorder.tasks[0], recorder.tasks[0]] and recorder.started == 1


async def test_a_line_started_at_once_that_waits_goes_on_in_its_worker_ahead_of_later_lines(
        recorder: Recorder) -> None:
    """One that waits (a switch for its device's echo) goes on in the worker, within its
    timeout, in the context its first step wrote (the asker's language), and the next line of
    the conversation waits behind it."""
    language: contextvars.ContextVar[str] = contextvars.ContextVar("language", default="en")
    release = asyncio.Event()
    steps: list[tuple[str, str, object]] = []

    async def work(item: str) -> None:
        if item == "slow":
            language.set("fr")
            async with asyncio.timeout(5):     # a timeout needs a current task: the worker
                await release.wait()
        steps.append((item, language.get(), asyncio.current_task()))
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)
    loop = asyncio.get_running_loop()
    loop.call_soon(lanes.put, "a", "slow")
    loop.call_soon(lanes.put, "a", "after")
    loop.call_soon(release.set)
    await recorder.until(3)
    assert [item for item, _, _ in steps] == ["first", "slow", "after"]
    assert steps[1][1] == "fr"
    assert all(task is recorder.tasks[0] for _, _, task in steps) and recorder.started == 1


async def test_a_timeout_of_a_line_started_at_once_reaches_it_not_its_worker(recorder: Recorder) -> None:
    """The line's own asyncio.timeout may run out before the worker, woken, awaits the rest of
    it (a deadline already past fires at the next loop turn, before the worker's wake-up): the
    line gets its TimeoutError, in its worker, and the worker goes on with the next line."""
    outcomes: list[str] = []

    async def work(item: str) -> None:
        if item == "slow":
            try:
                async with asyncio.timeout(0):
                    await asyncio.Event().wait()
            except TimeoutError:
                outcomes.append(f"timed out in {asyncio.current_task() is recorder.tasks[0]}")
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)
    loop = asyncio.get_running_loop()
    loop.call_soon(lanes.put, "a", "slow")
    await recorder.until(2)
    loop.call_soon(lanes.put, "a", "after")
    await recorder.until(3)
    assert outcomes == ["timed out in True"]
    assert recorder.seen == ["first", "slow", "after"] and recorder.started == 1


async def test_a_worker_cancelled_before_it_awaits_a_line_started_at_once_cancels_that_line(
        recorder: Recorder) -> None:
    """The hub stopping in the same loop turn as the line came: the line started at once hears
    the cancellation (its cleanup runs in its task, with the loop running), as it would have
    had the worker been awaiting it."""
    heard: list[str] = []

    async def work(item: str) -> None:
        if item == "slow":
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                heard.append(f"cancelled in {asyncio.current_task() is recorder.tasks[0]}")
                raise
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)

    def read_callback() -> None:
        lanes.put("a", "slow")
        recorder.tasks[0].cancel()

    asyncio.get_running_loop().call_soon(read_callback)
    with pytest.raises(asyncio.CancelledError):
        await recorder.tasks[0]
    assert heard == ["cancelled in True"]


async def test_a_line_started_at_once_that_cancels_its_task_does_not_break_the_put(recorder: Recorder) -> None:
    """current_task().cancel() in a first step cancels the worker's idle waiter: the put still
    returns, and the line hears the cancellation at its next await."""
    heard: list[str] = []

    async def work(item: str) -> None:
        if item == "self-cancelling":
            asyncio.current_task().cancel()       # type: ignore[union-attr]
            try:
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                heard.append("cancelled")
                raise
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)
    raised: list[BaseException] = []

    def read_callback() -> None:
        try:
            lanes.put("a", "self-cancelling")
        except BaseException as exc:          # noqa: BLE001 (what the read callback would get)
            raised.append(exc)

    asyncio.get_running_loop().call_soon(read_callback)
    with pytest.raises(asyncio.CancelledError):
        await recorder.tasks[0]
    assert raised == [] and heard == ["cancelled"]


async def test_a_line_put_by_the_first_step_of_another_waits_for_all_of_it(recorder: Recorder) -> None:
    """A line put on the conversation from inside a line started at once comes after it."""
    lanes: Lanes[str]

    async def work(item: str) -> None:
        if item == "outer":
            lanes.put("a", "nested")
            await asyncio.sleep(0)
        await recorder.work(item)

    lanes = await recorder.idle_lane(work)
    asyncio.get_running_loop().call_soon(lanes.put, "a", "outer")
    await recorder.until(3)
    assert recorder.seen == ["first", "outer", "nested"]
