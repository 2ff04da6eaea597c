"""Latency of `!temp salon` through a real ngircd: the hub's IRC adapter beside a floor bot.

The floor is a raw-asyncio bot on the same server that answers the same text from memory:
what is left is the IRC server and the sockets. The ratio shows what the hub adds (irc3
dispatch, the router, the home lookup, the token bucket). Prints a markdown table; never fails
on time. The adapter's token bucket is opened wide here (100,000 lines/s): at the shipped
pacing a bot answering 4,000 commands a second would rightly make them wait.

    .venv/bin/python -m bench.irc_latency [--count 200]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for
from tests.irc.conftest import IrcClient, Ngircd, settings_irc

ANSWER = "salon: 20.7 °C"


async def floor_bot(port: int, ready: asyncio.Event) -> None:
    """The least an IRC bot can do: read a line, match it, write the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"NICK floor\r\nUSER floor 0 * :floor bot\r\n")
    try:
        while line := await reader.readline():
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if text.startswith("PING"):
                writer.write(b"PONG" + text[4:].encode() + b"\r\n")
            elif " 001 " in text:
                writer.write(b"JOIN #floor\r\n")
            elif " 366 " in text:
                ready.set()
            elif text.endswith(" PRIVMSG #floor :!temp salon"):
                writer.write(f"PRIVMSG #floor :{ANSWER}\r\n".encode())
    finally:
        writer.close()


async def round_trip(client: IrcClient, channel: str, bot: str) -> float:
    started = time.perf_counter()
    client.say(channel, "!temp salon")
    await client.reply(bot, channel)
    return (time.perf_counter() - started) * 1000


async def measure(client: IrcClient, count: int) -> tuple[list[float], list[float]]:
    """Round trips (ms) of `count` sequential commands to each bot, interleaved so that both
    see the same machine load; 10 unrecorded warm-ups each."""
    hub_ms, floor_ms = [], []
    for index in range(count + 10):
        hub = await round_trip(client, "#maison", "maison")
        floor = await round_trip(client, "#floor", "floor")
        if index >= 10:
            hub_ms.append(hub)
            floor_ms.append(floor)
    return hub_ms, floor_ms


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp:
        workdir = Path(tmp)
        ngircd, mosquitto = Ngircd(workdir / "ngircd"), Mosquitto(workdir / "mosquitto")
        ngircd.start()
        mosquitto.start()
        try:
            settings = settings_for(workdir / "hub", mqtt_url=mosquitto.url, hub={"rate_limit": 100000},
                                    adapters={"irc": settings_irc(ngircd.port, burst=100, rate=100000.0)})
            tester = await IrcClient.connect(ngircd.port, "tester")
            await tester.join("#maison")
            await tester.join("#floor")
            floor_ready = asyncio.Event()
            floor = asyncio.create_task(floor_bot(ngircd.port, floor_ready))
            await asyncio.wait_for(floor_ready.wait(), 10)
            async with running(Hub(settings)):
                await tester.wait_member("#maison", "maison")
                hub_ms, floor_ms = await measure(tester, count)
            floor.cancel()
            await tester.close()
        finally:
            mosquitto.stop()
            ngircd.stop()
    rows = [("chatops hub (irc3 adapter)", hub_ms), ("floor: raw asyncio bot, answer from memory", floor_ms)]
    print(f"`!temp salon` round trip through ngircd 26.1 on loopback, {count} sequential commands "
          "to each bot, interleaved\n")
    print("| bot | p50 ms | p99 ms | mean ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, values in rows:
        print(f"| {name} | {percentile(values, 0.5):.3f} | {percentile(values, 0.99):.3f} | "
              f"{statistics.fmean(values):.3f} | {max(values):.3f} |")
    print(f"\nratio hub/floor: p50 x{percentile(hub_ms, 0.5) / percentile(floor_ms, 0.5):.2f}, "
          f"p99 x{percentile(hub_ms, 0.99) / percentile(floor_ms, 0.99):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    asyncio.run(main(parser.parse_args().count))
