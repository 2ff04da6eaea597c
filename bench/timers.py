"""Timers and automations: how late 10,000 timers due in the same second fire, and the CPU that
1,000 automations add to each MQTT reading, beside the ingest floor.

Timers: 10,000 rows (`whoami` as an admin, so no rate limit applies) are due at the same
second; each run's start is compared with its due time (the scheduler, the commit before the
run, the router's one path; results are queued in shared transactions and audited in batches).
Automations: readings handed to the MQTT layer in-process, as bench.ingest does, with no
automation, 1,000 watching the device being read (thresholds the readings never cross: the
index of chatops.watchers judges none of them; judged one by one, they cost 600 µs a reading),
and 1,000 on other devices. Floor: json.loads of the same payloads plus a dict store.
Run: `python -m bench.timers [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import arguments, machine, table
from chatops.hub import Hub, running
from chatops.message import Address
from chatops.schedule import Recurrence
from chatops.testing import settings_for


async def timers_late(count: int) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), simulator={"enabled": False}, alerts=[], automations=[],
                                adapters={"console": {"enabled": False}, "loopback": {"name": "loop"}})
        hub = Hub(settings, tty=False)
        async with running(hub, timeout=60):
            starts: list[tuple[str, float]] = []
            original = hub.run_as

            async def timed(user: str, text: str, address: Address, *more: Any) -> Any:
                starts.append((text, time.time()))
                return await original(user, text, address, *more)

            hub.run_as = timed  # type: ignore[method-assign]
            due = time.time() + 3.0
            recurrence = Recurrence("once", label="once")
            store = hub.store
            rows = [("chat", "owner", "loop", "bench", 1, f"whoami #{i}", recurrence.encode(), "once", due, "active",
                     "{}", time.time()) for i in range(count)]
            await store.call(lambda: store.db.executemany(
                "INSERT INTO timers(kind, owner, adapter, target, direct, command, recurrence, label, next_run, "
                "state, data, created) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows))
            hub.timers._changed.set()
            cpu = time.process_time()
            async with asyncio.timeout(600):
                while len(starts) < count or hub.tasks and any(t.get_name().startswith("timer-")
                                                               for t in hub.tasks):
                    await asyncio.sleep(0.05)
            done = time.time()
            cpu = time.process_time() - cpu
            late = sorted(at - due for _, at in starts)
    return [count, f"{late[len(late) // 2] * 1000:.0f}", f"{late[int(len(late) * 0.99)] * 1000:.0f}",
            f"{late[-1] * 1000:.0f}", f"{(done - due) * 1000:.0f}", f"{cpu:.1f}"]


def floor(items: list[tuple[str, bytes]]) -> float:
    state: dict[str, float] = {}
    start = time.process_time()
    for topic, payload in items:
        state[topic] = float(json.loads(payload)["temperature"])
    return time.process_time() - start


async def automation_cost(shape: str, automations: int, count: int) -> float:
    """CPU seconds per reading of `probe` with `automations` automations of `shape`."""
    devices: dict[str, Any] = {"probe": {"type": "sensor", "topic": "bench/probe", "value": "temperature"}}
    autos = []
    for i in range(automations):
        device = "probe" if shape == "same" else f"other{i}"
        if shape != "same":
            devices[device] = {"type": "sensor", "topic": f"bench/other{i}", "value": "temperature"}
        autos.append({"name": f"a{i}", "when": f"{device} > 1000", "do": ["whoami"], "owner": "owner"})
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), simulator={"enabled": False}, alerts=[], devices=devices,
                                automations=autos, history={"enabled": False})
        hub = Hub(settings, tty=False)
        async with running(hub, timeout=120):
            payloads = [json.dumps({"temperature": 15 + (i % 100) / 10}).encode() for i in range(count)]
            await hub.automations.settled()
            cpu = time.process_time()
            for index, payload in enumerate(payloads):
                hub.mqtt.deliver("bench/probe", payload, False)
                if index % 500 == 499:
                    await asyncio.sleep(0)
            await hub.automations.settled()
            return (time.process_time() - cpu) / count


async def main(quick: bool) -> None:
    count = 500 if quick else 10000
    readings = 500 if quick else 20000
    automations = 50 if quick else 1000
    print(f"Timers due in the same second ({machine()})\n")
    print(table(["timers", "p50 late ms", "p99 late ms", "max late ms", "all run (ms after due)", "CPU s"],
                [await timers_late(count)]))
    base = floor([("bench/probe", json.dumps({"temperature": 15 + (i % 100) / 10}).encode())
                  for i in range(readings)]) / readings
    none = await automation_cost("same", 0, readings)
    same = await automation_cost("same", automations, readings)
    other = await automation_cost("other", automations, readings)
    print(f"\nAutomations: CPU per MQTT reading, {readings} readings\n")
    print(table(["automations", "CPU µs per reading", "added by automations µs", "floor µs (json.loads + dict)"], [
        ["none", f"{none * 1e6:.1f}", "-", f"{base * 1e6:.1f}"],
        [f"{automations} on the device read", f"{same * 1e6:.1f}", f"{(same - none) * 1e6:.1f}", f"{base * 1e6:.1f}"],
        [f"{automations} on other devices", f"{other * 1e6:.1f}", f"{(other - none) * 1e6:.1f}", f"{base * 1e6:.1f}"],
    ]))


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__ or "").quick))
