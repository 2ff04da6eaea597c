"""Connection state of one part of the hub (MQTT, an adapter), shown in /health and !status."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Health:
    """Whether a part is connected, since when (wall clock), and why not; how often it went
    down and came back (metrics), and who wants to hear of a change (the Home Assistant sensors)."""

    connected: bool = False
    since: float = field(default_factory=time.time)
    since_monotonic: float = field(default_factory=time.monotonic)     # for how long: NTP's steps aside
    detail: str = "starting"
    up_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    started_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)   # first up or down
    ups: int = 0
    downs: int = 0
    watchers: list[Callable[[Health], None]] = field(default_factory=list, repr=False)

    @property
    def started(self) -> bool:
        """Whether it has connected or said why not, at least once."""
        return self.started_event.is_set()

    @property
    def reconnects(self) -> int:
        """Times it came back up after the first connection."""
        return max(0, self.ups - 1)

    def up(self, detail: str = "connected") -> None:
        changed = not self.connected or detail != self.detail
        if not self.connected:
            self.since, self.since_monotonic = time.time(), time.monotonic()
            self.ups += 1
        self.connected, self.detail = True, detail
        self.up_event.set()
        self.started_event.set()
        if changed:
            self._tell()

    def connecting(self, detail: str) -> None:
        """Trying for the first time, or again: down, but not yet a reason to be ready without
        it (a first attempt that is still running has not "said why not")."""
        if self.connected:
            self.down(detail)
            return
        changed = detail != self.detail
        self.detail = detail
        if changed:
            self._tell()

    def down(self, detail: str) -> None:
        changed = self.connected or detail != self.detail
        if self.connected:
            self.since, self.since_monotonic = time.time(), time.monotonic()
            self.downs += 1
        self.connected, self.detail = False, detail
        self.up_event.clear()
        self.started_event.set()
        if changed:
            self._tell()

    @property
    def lasted(self) -> float:
        """Seconds in the present state, on monotonic time (a clock stepped by months is no
        connection months old)."""
        return time.monotonic() - self.since_monotonic

    def _tell(self) -> None:
        for watcher in list(self.watchers):
            try:
                watcher(self)
            except Exception:
                log.exception("a watcher of a connection state failed")

    def as_dict(self) -> dict[str, object]:
        return {"connected": self.connected, "since": round(self.since, 3), "detail": self.detail}
