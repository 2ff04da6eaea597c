"""One reconnect policy for every network: exponential backoff with jitter, reset after calm;
and the one way a loop that must never end (deliveries, timers, reminders) waits after a failed pass."""

from __future__ import annotations

import asyncio
import logging
import random
import sqlite3
import time


SAY_FAILURES_EVERY = 60.0   # seconds between log lines of one loop's failing passes


class Backoff:
    """Delays between reconnect attempts.

    Each failure doubles the ceiling up to `cap`; the delay is drawn in [ceiling/2, ceiling]
    so a fleet of hubs never reconnects in lockstep. A connection that stayed up for
    `reset_after` seconds starts the next outage from `base` again.
    """

    def __init__(self, base: float = 0.5, cap: float = 30.0, reset_after: float = 60.0) -> None:
        self.base = base
        self.cap = cap
        self.reset_after = reset_after
        self.attempts = 0
        self._up_since: float | None = None
        self.said_at: float | None = None       # monotonic time a failing streak was last logged
        self.said_kind = ""                     # of which exception (another one is logged at once)
        self.unsaid = 0                         # failures since

    def up(self) -> None:
        """The connection is established."""
        self._up_since = time.monotonic()

    def reset(self) -> None:
        """The operation succeeded: the next failure starts from `base` again."""
        self.attempts = 0
        self._up_since = None
        self.said_at, self.said_kind, self.unsaid = None, "", 0

    @staticmethod
    def delay_after(attempts: int, base: float, cap: float) -> float:
        """The delay before retry number `attempts + 1` of a durable row (deliveries, SMS) whose
        attempt count is stored rather than held in a Backoff: the same doubling and jitter."""
        ceiling = min(cap, base * (2 ** min(attempts, 32)))
        return random.uniform(ceiling / 2, ceiling)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt."""
        if self._up_since is not None and time.monotonic() - self._up_since >= self.reset_after:
            self.attempts = 0
        self._up_since = None
        ceiling = min(self.cap, self.base * (2 ** self.attempts))
        self.attempts += 1
        return random.uniform(ceiling / 2, ceiling)


async def pause_after_failure(backoff: Backoff, exc: Exception, what: str, log: logging.Logger) -> None:
    """A pass of `what` failed: say why, in `log` (the loop's own logger), then wait the backoff's
    next delay before the next pass. A database error (a full card, a read-only file system) is
    said as such; anything else is a bug, logged with its traceback, which must not end the loop."""
    delay = backoff.next_delay()
    now = time.monotonic()
    kind = type(exc).__name__
    if backoff.said_at is not None and now - backoff.said_at < SAY_FAILURES_EVERY and kind == backoff.said_kind:
        backoff.unsaid += 1         # a full card fails every pass: once a minute says it (issue 23)
    elif isinstance(exc, sqlite3.DatabaseError):
        again = f" ({backoff.unsaid} more failed passes since the last line)" if backoff.unsaid else ""
        log.error("%s: the database fails (%s); retrying every few seconds%s", what, exc, again)
        backoff.said_at, backoff.said_kind, backoff.unsaid = now, kind, 0
    else:
        log.error("%s failed; retrying in %.1fs", what, delay, exc_info=exc)
        backoff.said_at, backoff.said_kind, backoff.unsaid = now, kind, 0
    await asyncio.sleep(delay)
