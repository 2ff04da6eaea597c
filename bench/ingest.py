"""Ingest: sensor readings per second the hub absorbs (state cache, alert rules, history), by fleet size.

Readings are handed to the MQTT layer's delivery function in-process (what the network loop
does for every message), for 10, 1,000 and 10,000 configured devices, with one alert rule per
device. Floor: json.loads of the same payloads plus a dict store, in the same run.
Run: `python -m bench.ingest [--quick]`.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from pathlib import Path

from bench.common import arguments, machine, table
from chatops.hub import Hub, running
from chatops.testing import settings_for


def payloads(devices: int, count: int) -> list[tuple[str, bytes]]:
    return [(f"sensors/s{i % devices}", json.dumps({"temperature": 15 + (i % 100) / 10, "battery": 90}).encode())
            for i in range(count)]


def floor(items: list[tuple[str, bytes]]) -> float:
    state: dict[str, float] = {}
    start = time.process_time()
    for topic, payload in items:
        state[topic] = float(json.loads(payload)["temperature"])
    return time.process_time() - start


async def measure(devices: int, count: int) -> list[object]:
    with tempfile.TemporaryDirectory() as tmp:
        overrides = {
            "simulator": {"enabled": False}, "alerts": [], "devices": None, "automations": None,
        }
        settings = settings_for(Path(tmp), **overrides)
        raw_devices = {f"s{i}": {"type": "sensor", "topic": f"sensors/s{i}", "value": "temperature", "unit": "°C"}
                       for i in range(devices)}
        alerts = [{"name": f"hot{i}", "device": f"s{i}", "when": "> 40", "notify": ["web:*"]}
                  for i in range(devices)]
        settings = settings_for(Path(tmp), simulator={"enabled": False}, devices=raw_devices, alerts=alerts,
                              automations=None)
        hub = Hub(settings, tty=False)
        async with running(hub, timeout=120):
            items = payloads(devices, count)
            history = getattr(hub, "history", None)
            wall = time.perf_counter()
            cpu = time.process_time()
            for index, (topic, payload) in enumerate(items):
                hub.mqtt.deliver(topic, payload, False)
                if index % 1000 == 999:
                    await asyncio.sleep(0)          # let the rule engine and history writer run
            while not hub.alerts._events.empty():
                await asyncio.sleep(0.001)
            if history is not None and hasattr(history, "flush"):
                await history.flush()
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            base = floor(items)
    return [devices, count / wall, cpu / count * 1000 * 1000, base / count * 1000 * 1000,
            f"{cpu / base:.1f}", "yes" if history is not None else "no"]


async def main(quick: bool) -> None:
    sizes = [10, 100] if quick else [10, 1000, 10000]
    count = 2000 if quick else 50000
    rows = [await measure(size, count) for size in sizes]
    print(f"Ingest, {count} readings per fleet size ({machine()})\n")
    print(table(["devices", "readings/s (wall)", "CPU ms per 1,000 readings", "floor CPU ms per 1,000",
                 "ratio to floor", "history on"], rows))


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__ or "").quick))
