"""What one IRC connection writes, and when: its queue of lines paced by the token bucket.

Urgent lines (registration, PONG, SASL) go ahead of queued replies but still spend tokens,
so nothing is written faster than the server's flood limit. Replies to strangers (`Reply.low_priority`)
wait behind everyone else's: a flood of refusals never delays a configured user's answer.
Waiting lines take turns by target, one line each: at the shipped pace of a line a second,
a 30-line `devices` listing to alice no longer holds the smoke alert to #maison for 30 s.
A reply's future resolves when its last line is written and fails when the connection is
lost first, so the alert outbox sends it again after the reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from adapters.irc_lines import LINE_BYTES, split_text

if TYPE_CHECKING:
    from adapters.irc_link import Link

log = logging.getLogger(__name__)

Line = tuple[str, "asyncio.Future[None] | None", bool]     # (line, its send's future, last line of that send)


class TakingTurns:
    """Waiting lines kept per target (a channel, a nick; "" for the hub's own commands), handed
    out one line per target in turn, each target's lines in their order."""

    def __init__(self) -> None:
        self._targets: dict[str, deque[Line]] = {}     # insertion order: whose turn is next

    def __len__(self) -> int:
        return sum(len(lines) for lines in self._targets.values())

    def __bool__(self) -> bool:
        return bool(self._targets)

    def __iter__(self) -> Iterator[Line]:
        for lines in list(self._targets.values()):
            yield from lines

    def append(self, target: str, item: Line) -> None:
        self._targets.setdefault(target, deque()).append(item)

    def popleft(self) -> Line:
        target, lines = next(iter(self._targets.items()))
        item = lines.popleft()
        del self._targets[target]
        if lines:
            self._targets[target] = lines           # to the back: the next target's turn
        return item

    def discard(self, future: asyncio.Future[None]) -> None:
        """Drop the lines of the send whose future is `future`."""
        for target, lines in list(self._targets.items()):
            kept = deque(item for item in lines if item[1] is not future)
            if kept:
                self._targets[target] = kept
            else:
                del self._targets[target]

    def clear(self) -> None:
        self._targets.clear()


class SendQueue:
    """The lines `link` has still to write: urgent ones first, each waiting for a token."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.queue = TakingTurns()
        self.urgent: deque[str] = deque()
        self.low = TakingTurns()
        # Strangers' lines never spend the last tokens of the burst: a configured user's answer
        # always finds one at once instead of waiting for the next refill.
        self.reserve = min(2.0, link.adapter.bucket.burst - 1)
        self.wake = asyncio.Event()

    def write(self, line: str) -> None:
        """Write one line now (callers went through the bucket, or are quitting)."""
        link = self.link
        bot = link.adapter.bot
        if link.protocol.closed or bot is None or getattr(bot, "protocol", None) is not link.protocol:
            return
        if log.isEnabledFor(logging.DEBUG):
            secret = line.startswith("AUTHENTICATE ") and line[13:] not in ("PLAIN", "+", "*")
            shown = "AUTHENTICATE ****" if secret else line
            shown = re.sub(r"(?i)^(PRIVMSG \S+ :IDENTIFY |JOIN \S+ |PASS ).*", r"\1****", shown)
            log.debug("%s -> %s", link.adapter.name, shown)
        link.protocol.write(line)                        # irc3's send_line would only add a future and a dispatch

    def send_urgent(self, line: str) -> None:
        """Registration, PONG, SASL: ahead of queued replies, still within the bucket."""
        if not self.urgent and self.link.adapter.bucket.take():
            self.write(line)
            return
        self.urgent.append(line)
        self.wake.set()

    def enqueue(self, lines: Iterable[str], low_priority: bool = False,
                target: str = "") -> asyncio.Future[None] | None:
        """Queue `lines` in order, in `target`'s turn; the future resolves when the last one is written."""
        lines = list(lines)
        bucket = self.link.adapter.bucket
        reserve = self.reserve if low_priority else 0.0
        ahead = self.queue or self.urgent or (low_priority and self.low)
        while lines and not ahead and bucket.take(reserve):
            self.write(lines.pop(0))                     # fast path: nothing waits, a token is free
        if not lines:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self.low if low_priority else self.queue
        for line in lines[:-1]:
            queue.append(target, (line, future, False))
        queue.append(target, (lines[-1], future, True))
        self.wake.set()
        return future

    def withdraw(self, future: asyncio.Future[None]) -> None:
        """Take back the lines of a send that gave up (the outbox's time ran out behind a long
        queue): left queued, they went out later anyway, and the retry queued them again."""
        self.queue.discard(future)
        self.low.discard(future)

    def message(self, target: str, text: str, notice: bool = False,
                low_priority: bool = False) -> asyncio.Future[None] | None:
        """Queue `text` to `target` as PRIVMSG (or NOTICE) lines, each cut to fit in 512 bytes
        once the server has put our `:nick!user@host` before it."""
        head = f"{'NOTICE' if notice else 'PRIVMSG'} {target} :"
        room = LINE_BYTES - 2 - self.link.prefix_bytes() - len(head.encode("utf-8"))
        return self.enqueue([head + chunk for chunk in split_text(text, room)], low_priority,
                            self.link.fold(target))

    async def write_forever(self) -> None:
        """Write queued lines as tokens come, until cancelled with the connection."""
        bucket = self.link.adapter.bucket
        while True:
            if not self.urgent and not self.queue and not self.low:
                self.wake.clear()
                await self.wake.wait()
                continue
            reserve = 0.0 if self.urgent or self.queue else self.reserve
            if not bucket.take(reserve):
                # Wait for the token, or for a more urgent line (woken by enqueue).
                self.wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(bucket.delay(reserve)):
                        await self.wake.wait()
                continue
            if self.urgent:
                self.write(self.urgent.popleft())
                continue
            line, future, last = (self.queue or self.low).popleft()
            self.write(line)
            if last and future is not None and not future.done():
                future.set_result(None)

    def fail(self, error: Exception) -> None:
        """Drop every waiting line; the senders waiting for them get `error`."""
        for _line, future, _last in (*self.queue, *self.low):
            if future is not None and not future.done():
                future.set_exception(error)
                # Lines nobody waits for (a JOIN, a PONG) are lost with the link, which is no
                # error of theirs: asyncio would log "exception was never retrieved" for each.
                future.exception()
        self.queue.clear()
        self.low.clear()
        self.urgent.clear()
