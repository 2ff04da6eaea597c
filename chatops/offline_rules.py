"""The `offline` alert rules (`when = "offline 30m"`): a device the hub has not heard from for
that long raises its rule. Silence is measured on monotonic time, never the wall clock: NTP
stepping the clock forward after a boot must not make every device look months silent."""

from __future__ import annotations

import logging
import sqlite3
from typing import TYPE_CHECKING

from .outbox import STORE_RETRY_CAP

if TYPE_CHECKING:
    from .alerts import AlertEngine

log = logging.getLogger(__name__)


async def watch_offline(engine: AlertEngine) -> None:
    """Raise the `offline` rules of `engine` for devices silent too long, for ever (a hub task)."""
    hub = engine.hub
    clock = hub.clock
    link = hub.mqtt
    heard_from, link_since = clock.monotonic(), link.health.since
    while True:
        if not link.connected.is_set():
            # Blind, not silent: while the broker is unreachable no device can be heard, so
            # none is called offline; each gets a full period once the link is back.
            await link.connected.wait()
            continue
        now = clock.monotonic()
        if link.health.since != link_since:       # the link came back since the last look
            heard_from, link_since = now, link.health.since
        next_check = now + 60
        for state in engine.rules.values():
            if state.condition.kind != "offline":
                continue
            device = hub.home.devices.get(state.rule.device)
            if device is None:
                continue
            # When the hub heard it, on monotonic time (Reading.seen), never the wall clock.
            seen = max(device.reading.seen, heard_from) if device.reading is not None else heard_from
            limit = float(state.condition.threshold or 0)
            if now - seen >= limit and state.active_id is None:
                try:
                    await engine.maybe_raise(state, device, "offline")
                except sqlite3.DatabaseError as exc:
                    # Said from memory now (once), recorded when the database takes it.
                    if (state.rule.name, device.name) not in engine.unstored.alerts:
                        log.error("alert rule %s could not be recorded (%s); retrying every %.0fs",
                                  state.rule.name, exc, STORE_RETRY_CAP)
                        if not engine.muted(state.rule.name):
                            engine.unstored.deliver(state.rule, device, "offline", str(exc))
                    next_check = min(next_check, now + STORE_RETRY_CAP)
            elif state.active_id is None:
                next_check = min(next_check, seen + limit)
        await clock.sleep(max(0.2, min(next_check - clock.monotonic(), 60)))
