"""The simulated house's first moments: readings on the broker before the hub says it is ready,
and, on a first start, a simulated past day so charts, `graph` and `history` have something to
show. Every simulated past reading is marked as such (table simulated_history), and the replies
that show them say so: nobody should mistake the demo's yesterday for a real one.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from .i18n import _
from .config import DeviceType
from .home import PayloadError, Reading
from .store import history as history_rows

if TYPE_CHECKING:
    from .home import Device
    from .hub import Hub
    from .sim import SimulatedHome

log = logging.getLogger(__name__)

FIRST_READINGS_WAIT = 5.0     # seconds the hub waits for the simulated devices before it says it is ready
PAST = 86400.0                # a first start gets this much simulated history...
PAST_STEP = 60.0              # ...one reading a minute per device
HEATING = ((6.5, 8.0), (18.0, 22.0))     # the simulated past day's heater: mornings and evenings


def simulated_devices(hub: Hub) -> list[Device]:
    """The configured devices the simulator feeds (state topic under its base topic)."""
    base = hub.settings.simulator.base_topic.rstrip("/") + "/"
    return [d for d in hub.home.devices.values() if d.type is not DeviceType.CAMERA
            and (d.settings.topic or "").startswith(base) and "/" not in d.settings.topic[len(base):]]


async def first_readings(hub: Hub, timeout: float = FIRST_READINGS_WAIT) -> None:
    """Return once every simulated device has a reading (at most `timeout`): `devices` right
    after start then shows values, not "no reading yet"."""
    waiting = {d.name for d in simulated_devices(hub) if d.reading is None}
    if not waiting:
        return
    seen = asyncio.Event()

    def heard(device: Device, _reading: Reading, _previous: Reading | None) -> None:
        if waiting:                       # the Home keeps its listeners: after the wait, this costs a test
            waiting.discard(device.name)
            if not waiting:
                seen.set()

    hub.home.listen(heard)
    try:
        async with asyncio.timeout(timeout):
            await seen.wait()
    except TimeoutError:
        log.warning("simulator: no reading yet from %s after %g s", ", ".join(sorted(waiting)), timeout)


def _hours(at: float) -> float:
    local = time.localtime(at)
    return local.tm_hour + local.tm_min / 60


def _heating(at: float) -> bool:
    return any(start <= _hours(at) < end for start, end in HEATING)


def _warmth(at: float) -> float:
    """How much the heater has warmed the room, 0 to 1: half an hour to warm, 90 min to cool."""
    hours = _hours(at)
    for start, end in HEATING:
        if start <= hours < end:
            return min(1.0, (hours - start) / 0.5)
        if end <= hours < end + 1.5:
            return max(0.0, 1 - (hours - end) / 1.5)
    return 0.0


def past_state(sim: SimulatedHome, name: str, at: float) -> dict[str, object] | None:
    """The JSON state simulated device `name` had at time `at` of the simulated past day."""
    if name in ("salon", "chambre"):
        warmth = (1.2 if name == "salon" else 0.4) * _warmth(at)
        return {"temperature": round(sim.temperature(name, at) + warmth, 1), "humidity": sim.humidity(name)}
    if name == "heater":
        return {"state": "ON" if _heating(at) else "OFF"}
    if name == "kitchen_smoke":
        return {"smoke": False}
    return None


async def simulate_past_day(hub: Hub, now: float | None = None) -> int:
    """On an empty history, record a simulated past day of the simulated devices and mark it;
    how many readings (0: the history already holds something, or is off)."""
    history = hub.history
    if not history.enabled or not await history.empty():
        return 0
    now = time.time() if now is None else now
    from .sim import SimulatedHome         # only a hub with the simulator on loads it
    sim = SimulatedHome(hub.settings.simulator, hub.mqtt, seed=int(now))
    base = hub.settings.simulator.base_topic.rstrip("/") + "/"
    count, marked = 0, []
    for device in simulated_devices(hub):
        at, any_kept = now - PAST, False
        while at < now:
            state = past_state(sim, device.settings.topic[len(base):], at)   # type: ignore[index]
            if state is None:
                break
            try:
                value = device.parse(json.dumps(state).encode())
            except PayloadError:
                break
            history.record(device, Reading(value, at, "simulated"))
            count, any_kept = count + 1, True
            at += PAST_STEP
        if any_kept:
            marked.append((device.name, now))
    store = hub.store

    try:
        await store.call(store.transaction, lambda db: history_rows.mark_simulated(db, marked))
    except sqlite3.Error as exc:          # the demo starts anyway; history keeps trying to write them
        log.warning("simulator: the simulated past day cannot be marked as simulated: %s", exc)
    await history.flush()
    log.info("simulator: an empty history starts with a simulated past day (%d readings)", count)
    return count


async def simulated_until(hub: Hub, names: list[str]) -> float | None:
    """When the simulated past of these devices ends (None: none of them has one)."""
    store = hub.store
    return await store.call(history_rows.simulated_until, store.db, names)


def simulated_note(until: float | None, since: float, tz: tzinfo) -> str:
    """"simulated before 14:05" (on the `[hub] timezone` clock, as timers) when the period shown
    reaches into a simulated past, else ""."""
    if until is None or until <= since:
        return ""
    return _("simulated before {time}").format(time=datetime.fromtimestamp(until, tz).strftime("%H:%M"))
