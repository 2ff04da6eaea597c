"""Connection state of one part of the hub (MQTT, an adapter), shown in /health and !status."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass(slots=True)
class Health:
    """Whether a part is connected, since when (wall clock), and why not."""

    connected: bool = False
    since: float = field(default_factory=time.time)
    detail: str = "starting"
    started: bool = False
    up_event: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def up(self, detail: str = "connected") -> None:
        if not self.connected:
            self.since = time.time()
        self.connected, self.detail, self.started = True, detail, True
        self.up_event.set()

    def down(self, detail: str) -> None:
        if self.connected:
            self.since = time.time()
        self.connected, self.detail, self.started = False, detail, True
        self.up_event.clear()

    def as_dict(self) -> dict[str, object]:
        return {"connected": self.connected, "since": round(self.since, 3), "detail": self.detail}
