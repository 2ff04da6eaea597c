"""Notifications: `POST /api/notify` -> the durable outbox -> the person, timed end to end.

A hub runs in this process on a real mosquitto with the in-memory loopback network as the
person's side. Timed: from sending the POST to the moment the loopback network is asked to
send the message (the notification and its delivery row committed to SQLite in between, and
the outbox worker woken). Floor, same run, same HTTP client: `GET /health`, a request that
touches no database. Also the RSS the email adapter's import adds (aiosmtplib), measured in a
fresh interpreter. Prints a markdown table; never fails on time.

    .venv/bin/python -m bench.notify [--quick]
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from bench.common import arguments, machine, percentile, scratch_dir, table
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for, started

TOKEN = "bench-notify-token"


async def measure(folder: Path, count: int) -> tuple[list[float], list[float]]:
    os.environ["BENCH_NOTIFY_TOKEN"] = TOKEN
    with started(Mosquitto(folder / "mosquitto")) as broker:
        settings = settings_for(folder / "data", broker.url, simulator={"enabled": False},
                                adapters={"loopback": {"name": "loop"}},
                                web={"user": None, "notify_tokens": {"bench": {"token_env": "BENCH_NOTIFY_TOKEN",
                                                                               "per_minute": 100000}}},
                                users={"owner": {"roles": ["admin"], "loopback": ["owner"]}})
        async with running(Hub(settings, tty=False)) as hub, aiohttp.ClientSession() as http:
            assert hub.web is not None
            base = f"http://127.0.0.1:{hub.web.port}"
            inbox = hub.adapters["loop"]
            headers = {"Authorization": f"Bearer {TOKEN}"}
            notify, health = [], []
            for index in range(count):
                start = time.perf_counter()
                async with http.post(f"{base}/api/notify", json={"to": ["loop:owner"], "text": f"n{index}"},
                                     headers=headers) as response:
                    assert response.status == 202, await response.text()
                await inbox.next(10)
                notify.append(time.perf_counter() - start)
                start = time.perf_counter()
                async with http.get(f"{base}/health") as response:
                    await response.read()
                health.append(time.perf_counter() - start)
            return notify, health


def import_rss() -> float:
    """MB of RSS that importing the email adapter adds to a fresh interpreter."""
    code = ("import chatops.hub; from bench.common import rss_mb; a = rss_mb(); import adapters.email; "
            "print(rss_mb() - a)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return float(out.stdout.strip())


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    count = 5 if args.quick else 300
    with scratch_dir() as folder:
        notify, health = asyncio.run(measure(folder, count))
    ms = [[f"POST /api/notify -> sent ({count})", percentile(notify, 50) * 1000, percentile(notify, 90) * 1000,
           percentile(notify, 99) * 1000],
          [f"floor: GET /health ({count})", percentile(health, 50) * 1000, percentile(health, 90) * 1000,
           percentile(health, 99) * 1000]]
    print(f"notify, {machine()}")
    print(table(["what", "p50 ms", "p90 ms", "p99 ms"], ms))
    print(f"\nimport adapters.email (aiosmtplib) adds {import_rss():.1f} MB RSS")


if __name__ == "__main__":
    main()
