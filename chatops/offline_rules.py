"""The `offline` alert rules (`when = "offline 30m"`): a device gone that long raises its rule.

A device with an availability topic (Zigbee2MQTT, Tasmota's LWT) says itself whether it is
there: it is gone once it has said `offline` for that long, and back when it says `online`.
Quiet, it is not gone: a Zigbee2MQTT switch publishes only when it changes, and its silence
raised a false alarm every 30 minutes. Any other device is gone when the hub has not heard from
it for that long. Time is measured on the monotonic clock, never the wall clock: NTP stepping
the clock forward after a boot must not make every device look months silent."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING

from .clock import nap
from .home import Device, Reading
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
    changed = asyncio.Event()

    def said(device: Device) -> None:          # its availability changed: look again now
        if device.offline_since is None:
            back = device.reading or Reading(None, clock.time(), "", {}, clock.monotonic())
            for state in engine.rules.values():
                if state.condition.kind == "offline" and state.rule.device == device.name:
                    hub.spawn(engine.offline_over(state, device, back), f"offline-over-{state.rule.name}")
        changed.set()
    hub.home.listen_availability(said)
    while True:
        changed.clear()
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
            if device.settings.availability_topic:
                if device.offline_since is None:
                    continue                    # it says it is there (quiet or not)
                seen = max(device.offline_since, heard_from)
            else:   # when the hub heard it, on monotonic time (Reading.seen), never the wall clock
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
        await nap(clock, max(0.2, min(next_check - clock.monotonic(), 60)), changed)
