"""Log lines anyone who reaches a port can cause, folded: the first of a kind from one source,
then at most one a minute, saying how many came meanwhile.

A refusal logged once per request let whoever reaches the web server write the SD card full:
refused notify calls, with no token needed, wrote 23 MB of log a second."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

FOLD_EVERY = 60.0           # seconds between two lines of one kind from one source
MOST_SOURCES = 4096         # kinds and sources remembered; past that, forgotten all at once


class FoldedLog:
    """`warning(kind, source, msg, *args)`: logged, unless one of that kind from that source was
    in the last FOLD_EVERY seconds (then counted, and the count said with the next one logged)."""

    def __init__(self, logger: logging.Logger, clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._clock = clock
        self._last: dict[tuple[str, str], list[float]] = {}     # (kind, source) -> [logged at, left out]
        self.seen: Counter[str] = Counter()                       # of each kind, logged or not

    def warning(self, kind: str, source: str, msg: str, *args: object) -> None:
        self.seen[kind] += 1
        now, key = self._clock(), (kind, source)
        last = self._last.get(key)
        if last is not None and now - last[0] < FOLD_EVERY:
            last[1] += 1
            return
        if len(self._last) >= MOST_SOURCES:
            self._last.clear()
        self._last[key] = [now, 0]
        if last is not None and last[1]:
            self._log.warning(msg + " (and %d more like it since the last one logged)", *args, int(last[1]))
        else:
            self._log.warning(msg, *args)
