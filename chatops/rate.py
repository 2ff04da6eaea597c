"""One token bucket for every rate in the hub: a sender's commands and a network's output pacing.

`SenderLimits` keeps one bucket per sender and evicts the least recently used sender when the
table is full, so a flood of new names never resets the buckets of everyone else.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    """`burst` tokens at once, then `rate` tokens per second. Nothing is dropped: callers wait
    (`delay()`) or refuse (`take()` returning False)."""

    __slots__ = ("burst", "rate", "_clock", "_tokens", "_stamp")

    def __init__(self, burst: float, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst, self.rate, self._clock = float(burst), rate, clock
        self._tokens = float(burst)
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + max(0.0, now - self._stamp) * self.rate)
        self._stamp = now

    def take(self, reserve: float = 0.0) -> bool:
        """Spend one token if there is one beyond `reserve` (tokens kept for more urgent callers)."""
        self._refill()
        if self._tokens >= 1 + reserve:
            self._tokens -= 1
            return True
        return False

    @property
    def tokens(self) -> float:
        """Tokens there now."""
        self._refill()
        return self._tokens

    def delay(self, reserve: float = 0.0) -> float:
        """Seconds until a token beyond `reserve` is there."""
        self._refill()
        missing = 1 + reserve - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate


class SenderLimits:
    """`per_minute` commands per sender (a burst of the same size), for at most `max_senders`.

    `take()` answers ALLOWED, FIRST_REFUSAL (tell the sender to slow down, once) or SILENT
    (refuse without a word: answering a flood is how a flood fills a channel). A sender told
    once is not told again until their bucket has refilled, however the flood trickles on."""

    ALLOWED, FIRST_REFUSAL, SILENT = "allowed", "first-refusal", "silent"

    def __init__(self, per_minute: float, max_senders: int = 10000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.max_senders = max_senders
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[TokenBucket, list[bool]]] = OrderedDict()

    def take(self, sender: str) -> str:
        entry = self._buckets.get(sender)
        if entry is None:
            while len(self._buckets) >= self.max_senders:
                self._buckets.popitem(last=False)            # the least recently seen sender
            entry = self._buckets[sender] = (TokenBucket(self.per_minute, self.per_minute / 60, self._clock), [False])
        else:
            self._buckets.move_to_end(sender)
        bucket, told = entry
        if told[0] and bucket.tokens >= max(1.0, bucket.burst - 1):
            told[0] = False                # quiet long enough to refill: a new flood gets a new warning
        if bucket.take():
            return self.ALLOWED
        if told[0]:
            return self.SILENT
        told[0] = True
        return self.FIRST_REFUSAL

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, sender: object) -> bool:
        return sender in self._buckets
