"""Round-trip time of Jabber-RPC `hub.read salon` through a real prosody, beside two floors.

Floors, on the same prosody and the same caller: an XMPP ping (XEP-0199) to the hub's own
full JID, answered by slixmpp inside the hub without touching it (what the stream costs), and
a bare slixmpp responder that answers `hub.read` from memory with the same wire format (what
any Jabber-RPC service costs). What is left above them is the hub: permission check, device
lookup, encoding the struct. Also timed: the one-shot `chatops rpc read salon` a shell script
runs (Python start-up, login, call). Prints a markdown table; never fails on time.

    .venv/bin/python -m bench.xmpp_rpc [--count 200] [--cli 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import scratch_dir
from chatops.hub import Hub, running
from adapters.xmpp_rpc_client import RpcClient, parse_call, result_query
from chatops.testing import Mosquitto, settings_for
from tests.xmpp.conftest import PASSWORD, Prosody, XmppClient

HUB_JID = "maison@localhost/chatops"
FLOOR_JID = "floor@localhost/rpc"
CHATOPS = Path(sys.executable).parent / "chatops"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def timed(call: Callable[[], Awaitable[Any]], count: int, warmup: int = 10) -> list[float]:
    """Milliseconds of `count` sequential calls after `warmup` unrecorded ones."""
    times = []
    for index in range(count + warmup):
        started = time.perf_counter()
        await call()
        if index >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    return times


async def floor_responder(port: int) -> XmppClient:
    """The least a Jabber-RPC service can do: decode the call, answer a constant struct."""
    floor = XmppClient(FLOOR_JID, port=port)
    answer = {"device": "salon", "label": "salon", "value": 20.7, "unit": "°C", "timestamp": time.time(),
              "time": "2026-11-21T10:00:00+00:00", "stale": False}

    def on_call(iq: Any) -> None:
        parse_call(iq.xml.find("{jabber:iq:rpc}query"))
        reply = iq.reply(clear=True)
        reply.append(result_query(answer))
        reply.send()
    floor.xmpp.add_event_handler("jabber_rpc_method_call", on_call)
    await floor.connect()
    return floor


async def cli_runs(port: int, count: int) -> list[float]:
    env = dict(os.environ, XMPP_PASSWORD=PASSWORD)
    args = [str(CHATOPS), "rpc", "--jid", "bench@localhost", "--to", HUB_JID, "--server", "127.0.0.1",
            "--port", str(port), "--plaintext", "read", "salon"]
    times = []
    for _ in range(count):
        started = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(*args, env=env, stdout=asyncio.subprocess.DEVNULL,
                                                    stderr=asyncio.subprocess.PIPE)
        _out, err = await proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"chatops rpc failed: {err.decode(errors='replace').strip()[-300:]}")
        times.append((time.perf_counter() - started) * 1000)
    return times


async def main(count: int, cli: int) -> None:
    os.environ["HUB_XMPP_PASSWORD"] = PASSWORD
    with scratch_dir() as workdir:
        prosody, mosquitto = Prosody(workdir / "prosody"), Mosquitto(workdir / "mosquitto")
        for user in ("maison", "bench", "floor"):
            prosody.register(user)
        await asyncio.to_thread(prosody.start)        # their waits for a port, off the loop
        await asyncio.to_thread(mosquitto.start)
        try:
            section = {"jid": HUB_JID, "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
                       "port": prosody.c2s_port, "allow_plaintext": True}
            # Rate limit opened, as in the other benchmarks: they measure calls, not the limiter.
            settings = settings_for(workdir / "hub", mqtt_url=mosquitto.url, adapters={"xmpp": section},
                                    hub={"rate_limit": 10**7},
                                    users={"bench": {"roles": ["guest"], "xmpp": ["bench@localhost"]}})
            async with running(Hub(settings)) as hub:
                adapter: Any = hub.adapters["xmpp"]
                await adapter.wait_until(lambda: adapter.health.connected, 15)
                floor = await floor_responder(prosody.c2s_port)
                async with RpcClient("bench@localhost", PASSWORD, HUB_JID, server="127.0.0.1",
                                     port=prosody.c2s_port, plaintext=True) as client:
                    xmpp = client.xmpp
                    assert xmpp is not None

                    async def ping(to: str) -> None:
                        iq = xmpp.make_iq_get(ito=to)
                        iq.append(ET.Element("{urn:xmpp:ping}ping"))
                        await iq.send(timeout=10)
                    hub_ms = await timed(lambda: client.call("hub.read", "salon"), count)
                    ping_ms = await timed(lambda: ping(HUB_JID), count)
                async with RpcClient("bench@localhost", PASSWORD, FLOOR_JID, server="127.0.0.1",
                                     port=prosody.c2s_port, plaintext=True) as floor_client:
                    floor_ms = await timed(lambda: floor_client.call("hub.read", "salon"), count)
                cli_ms = await cli_runs(prosody.c2s_port, cli) if cli else []
                await floor.close()
        finally:
            mosquitto.stop()
            prosody.stop()
    rows = [("chatops hub: RPC hub.read salon", hub_ms),
            ("floor: bare slixmpp RPC responder, answer from memory", floor_ms),
            ("floor: XMPP ping to the hub's JID (answered by slixmpp)", ping_ms)]
    print(f"Jabber-RPC round trip through prosody 0.12 on loopback, {count} sequential calls per callee "
          "on an open stream; hub and floor responder run in this process\n")
    print("| callee | p50 ms | p99 ms | mean ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for name, values in rows:
        print(f"| {name} | {percentile(values, 0.5):.3f} | {percentile(values, 0.99):.3f} | "
              f"{statistics.fmean(values):.3f} | {max(values):.3f} |")
    print(f"\nratio hub/RPC floor: p50 x{percentile(hub_ms, 0.5) / percentile(floor_ms, 0.5):.2f}, "
          f"p99 x{percentile(hub_ms, 0.99) / percentile(floor_ms, 0.99):.2f}")
    if cli_ms:
        print(f"\n`chatops rpc read salon` as a shell script runs it (process start, login, call, logout), "
              f"{len(cli_ms)} runs: p50 {percentile(cli_ms, 0.5):.0f} ms, max {max(cli_ms):.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--cli", type=int, default=20, help="one-shot CLI runs to time (0: skip)")
    options = parser.parse_args()
    asyncio.run(main(options.count, options.cli))
