"""Scrape: what `GET /metrics` costs the hub, and what counting a command costs.

The demo hub (simulated house, a simulated past day in history) answers sequential scrapes over
loopback HTTP; the floor is the same round trip to `/health`, in the same run. Also shown: the
resident memory the first scrape adds (prometheus_client is loaded then), and the time
`observe_command` takes per call (the router calls it once per command line).
Run: `python -m bench.scrape [--quick]`.
"""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp

from bench.common import arguments, machine, rss_mb, scratch_dir, table
from chatops.hub import Hub, running
from chatops.testing import exec_command, settings_for


async def timed(http: aiohttp.ClientSession, url: str, count: int) -> float:
    start = time.perf_counter()
    for _ in range(count):
        async with http.get(url) as response:
            await response.read()
    return (time.perf_counter() - start) / count


async def main(quick: bool) -> None:
    count = 20 if quick else 500
    with scratch_dir() as folder:
        async with running(Hub(settings_for(folder / "data"), tty=False), timeout=60) as hub:
            assert hub.web is not None
            for _ in range(20):
                await exec_command(hub, "temp salon")
            base = f"http://127.0.0.1:{hub.web.port}"
            async with aiohttp.ClientSession() as http:
                loaded_before = "prometheus_client" in sys.modules
                before = rss_mb()
                async with http.get(f"{base}/metrics") as response:
                    size = len(await response.read())
                added = rss_mb() - before
                scrape = await timed(http, f"{base}/metrics", count)
                health = await timed(http, f"{base}/health", count)
            calls = 10_000 if quick else 200_000
            start = time.perf_counter()
            for _ in range(calls):
                hub.observe_command("temp", "ok", 0.01)
            observe = (time.perf_counter() - start) / calls
    print(f"Scrape, {count} sequential requests over loopback ({machine()})\n")
    print(table(["what", "value", "floor"], [
        ["GET /metrics, ms per scrape", scrape * 1000, f"{health * 1000:.2f} (GET /health)"],
        ["exposition size, bytes", size, "-"],
        ["RSS added by the first scrape, MB", added, "-"],
        ["prometheus_client loaded before the first scrape", "yes" if loaded_before else "no", "-"],
        ["observe_command, µs per call", observe * 1e6, "-"],
    ]))


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__ or "").quick))
