"""One clock for the hub: wall time for what people read, monotonic time for every delay.

A Raspberry Pi without a real-time clock boots with the wrong date until NTP steps it, forward
by months or back by minutes. Cooldowns, repeats, rate limits and backoffs therefore measure
durations on `monotonic()`, which never jumps; timestamps people see (history, alerts, picture
names, link expiry) and schedules use `time()`. Tests hand the hub a `ManualClock` and jump it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """What the hub asks of time."""

    def time(self) -> float:
        """Wall-clock seconds since the epoch (may jump when NTP steps the clock)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of monotonic time."""
        ...


class SystemClock:
    """The machine's clocks."""

    __slots__ = ()

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class ManualClock:
    """A clock tests move by hand: `jump()` steps wall time only (as NTP does), `advance()`
    moves both and wakes the sleepers whose time has come."""

    def __init__(self, wall: float = 1_780_000_000.0, monotonic: float = 1000.0) -> None:
        self._wall = wall
        self._mono = monotonic
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []

    def time(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def jump(self, seconds: float) -> None:
        """Step the wall clock (forward or back) without any time passing."""
        self._wall += seconds

    def advance(self, seconds: float) -> None:
        """Let `seconds` pass on both clocks."""
        self._wall += seconds
        self._mono += seconds
        due = [(at, fut) for at, fut in self._sleepers if at <= self._mono]
        self._sleepers = [(at, fut) for at, fut in self._sleepers if at > self._mono]
        for _, fut in due:
            if not fut.done():
                fut.set_result(None)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self._mono + seconds, fut))
        await fut


async def nap(clock: Clock, seconds: float, wake: asyncio.Event, passed: asyncio.Event | None = None) -> None:
    """Sleep `seconds` on `clock`, or less when `wake` is set; `passed`, when given, is set once
    the sleep is in place, so a test that moves a ManualClock then knows the sleeper will see it.
    What waits for a stored wall-clock time (a timer, a reminder, a delivery's retry) naps on the
    hub's clock rather than on the event loop's, so that tests can step it."""
    passed = passed or asyncio.Event()
    if wake.is_set():
        passed.set()
        return
    sleep = asyncio.ensure_future(clock.sleep(seconds))
    woken = asyncio.ensure_future(wake.wait())
    await asyncio.sleep(0)
    passed.set()
    try:
        await asyncio.wait({sleep, woken}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in (sleep, woken):
            future.cancel()


async def until(clock: Clock, when: float | None, wake: asyncio.Event) -> None:
    """Return at the wall time `when` on `clock` (None: not before `wake`), or sooner when `wake`
    is set. A wall-clock step is seen by `watch_jumps`, whose callers set `wake`."""
    if when is None:
        await wake.wait()
    else:
        await nap(clock, max(0.05, when - clock.time()), wake)


JUMP_CHECK_EVERY = 5.0          # seconds of monotonic time between two looks at the wall clock
JUMP_TOLERANCE = 2.0            # a drift smaller than this is not a jump (a slow loop, a suspend of a moment)


async def watch_jumps(clock: Clock, on_jump: Callable[[float], None], every: float = JUMP_CHECK_EVERY) -> None:
    """Call `on_jump(seconds)` whenever the wall clock steps (NTP after a boot without a real-time
    clock: forward by months, or back by minutes), so that what waits on wall time (timers,
    alert reminders) looks again at once instead of after its sleep. Costs one wake-up every
    `every` seconds; until cancelled."""
    offset = clock.time() - clock.monotonic()
    while True:
        await clock.sleep(every)
        now = clock.time() - clock.monotonic()
        if abs(now - offset) > JUMP_TOLERANCE:
            on_jump(now - offset)
        offset = now


SYSTEM_CLOCK = SystemClock()
