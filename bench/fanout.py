"""Alert fan-out: one MQTT event -> an alert delivered to 100 XMPP recipients on a real prosody.

100 accounts are registered on prosody 0.12 and 100 slixmpp clients are connected (in this
process). The hub runs as `chatops run` with its XMPP adapter and one rule on the smoke
detector whose notify list holds the 100 `xmpp:` addresses. Timed: from the MQTT publish of
`{"smoke": true}` to the moment the last of the 100 clients has the alert (and the first, and
the median). Between rounds the detector is cleared and the hub's retained alert state
(`chatops/maison/alerts/fanout` = cleared) is awaited, so each round raises a fresh alert.
Floor, same run, same 100 receivers: one slixmpp client sending 100 messages to the same 100
recipients, timed from its first send to the last receipt. Target: under 1 s. Prints a
markdown table; never fails on time.

    .venv/bin/python -m bench.fanout [--quick] [--recipients 100] [--rounds 10] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import machine, percentile, scratch_dir, table
from bench.latency import BASE, Child, HubProcess, RawMqtt, hub_config, mosquitto, profile_summary

TARGET_S = 1.0


class Receivers:
    """N connected slixmpp clients; `arrivals` records when each first sees a body containing `expect`."""

    def __init__(self, clients: list[Any]) -> None:
        self.clients = clients
        self.expect = "\x00"
        self.arrivals: dict[int, float] = {}
        self.all_in = asyncio.Event()
        for index, client in enumerate(clients):
            client.xmpp.add_event_handler("message", lambda msg, i=index: self._on_message(i, msg))

    def _on_message(self, index: int, msg: Any) -> None:
        if index not in self.arrivals and self.expect in str(msg["body"]):
            self.arrivals[index] = time.perf_counter()
            if len(self.arrivals) == len(self.clients):
                self.all_in.set()

    def arm(self, expect: str) -> None:
        self.expect = expect
        self.arrivals = {}
        self.all_in.clear()

    async def wait(self, started: float, timeout: float = 30.0) -> tuple[float, float, float]:
        """(first, median, last) arrival in seconds after `started`."""
        try:
            await asyncio.wait_for(self.all_in.wait(), timeout)
        except TimeoutError:
            raise TimeoutError(f"only {len(self.arrivals)} of {len(self.clients)} recipients got "
                               f"{self.expect!r} within {timeout:g}s") from None
        times = sorted(t - started for t in self.arrivals.values())
        return times[0], statistics.median(times), times[-1]


async def connect_all(port: int, jids: list[str], parallel: int = 20) -> list[Any]:
    from tests.xmpp.conftest import XmppClient

    gate = asyncio.Semaphore(parallel)

    async def one(jid: str) -> Any:
        async with gate:
            client = XmppClient(jid, port=port)
            await client.connect(timeout=30)
            return client
    return list(await asyncio.gather(*(one(jid) for jid in jids)))


async def measure(recipients: int, rounds: int, profile: bool, workdir: Path) -> str:
    from tests.xmpp.conftest import PASSWORD, Prosody, XmppClient

    prosody = Prosody(workdir / "prosody", upload=False)
    # Same server for hub and floor; info-level logging (the fixture logs every stanza at debug).
    prosody.conf.write_text(prosody.conf.read_text().replace('log = { debug =', 'log = { info ='))
    names = [f"r{i:03d}" for i in range(recipients)]
    for user in ("maison", "floor", *names):
        prosody.register(user)
    await asyncio.to_thread(prosody.start)          # its wait for the port, off the loop
    broker = await asyncio.to_thread(mosquitto, workdir / "mosquitto")
    hub = device = None
    clients: list[Any] = []
    floor: Any = None
    trigger: RawMqtt | None = None
    states: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    hub_rounds: list[tuple[float, float, float]] = []
    floor_rounds: list[tuple[float, float, float]] = []
    try:
        device = await Child("--device", "--mqtt-port", str(broker.port)).start()
        rule = {"name": "fanout", "device": "kitchen_smoke", "when": "on", "severity": "warning",
                "message": "Smoke in the kitchen!", "cleared": "", "cooldown": "0s",
                "notify": [f"xmpp:{name}@localhost" for name in names]}
        xmpp = {"jid": "maison@localhost/chatops", "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
                "port": prosody.c2s_port, "allow_plaintext": True}
        config = hub_config(workdir / "hub", broker.port, alerts=[rule], adapters={"xmpp": xmpp})
        hub = HubProcess(workdir / "hub", config, env={"HUB_XMPP_PASSWORD": PASSWORD},
                         profile=workdir / "hub.prof" if profile else None)
        hub_task = asyncio.create_task(hub.start(timeout=60))
        clients = await connect_all(prosody.c2s_port, [f"{name}@localhost/bench" for name in names])
        floor = XmppClient("floor@localhost/bench", port=prosody.c2s_port)
        await floor.connect()
        await hub_task
        receivers = Receivers(clients)

        def on_state(topic: str, payload: bytes) -> None:
            if topic == "chatops/maison/alerts/fanout":
                states.put_nowait(json.loads(payload))
        trigger = RawMqtt(on_state)
        await trigger.connect(broker.port, "bench-fanout")
        await trigger.subscribe("chatops/maison/alerts/fanout")

        async def wait_state(wanted: str) -> int:
            async with asyncio.timeout(30):
                while True:
                    state = await states.get()
                    if state["state"] == wanted:
                        return int(state["id"])

        for index in range(rounds + 1):                # round 0 is a warm-up
            # The hub: one MQTT event, 100 alerts.
            alert_id = index + 1
            receivers.arm(f"alert #{alert_id};")
            started = time.perf_counter()
            trigger.publish(f"{BASE}/kitchen_smoke/set", json.dumps({"smoke": True}).encode())
            hub_times = await receivers.wait(started)
            raised = await wait_state("active")
            if raised != alert_id:
                raise RuntimeError(f"expected alert #{alert_id}, the hub raised #{raised}")
            trigger.publish(f"{BASE}/kitchen_smoke/set", json.dumps({"smoke": False}).encode())
            await wait_state("cleared")
            # The floor: one client, 100 messages.
            marker = f"floor round {index}"
            receivers.arm(marker)
            started = time.perf_counter()
            for name in names:
                floor.xmpp.send_message(mto=f"{name}@localhost", mbody=f"[WARNING] {marker}", mtype="chat")
            floor_times = await receivers.wait(started)
            if index:
                hub_rounds.append(hub_times)
                floor_rounds.append(floor_times)
    finally:
        if trigger is not None:
            await trigger.close()
        for client in [*clients, *([floor] if floor else [])]:
            await client.close()
        for child in (hub, device):
            if child is not None:
                await child.stop()
        broker.stop()
        prosody.stop()

    def row(name: str, runs: list[tuple[float, float, float]], base: list[tuple[float, float, float]]) -> list[object]:
        last = [r[2] * 1000 for r in runs]
        floor_last = [r[2] * 1000 for r in base]
        return [name, statistics.median(r[0] * 1000 for r in runs), statistics.median(r[1] * 1000 for r in runs),
                percentile(last, 50), max(last), f"x{percentile(last, 50) / percentile(floor_last, 50):.2f}",
                "yes" if max(last) < TARGET_S * 1000 else "no"]

    rows = [row("chatops hub: MQTT event -> rule -> SQLite outbox -> XMPP (acked)", hub_rounds, floor_rounds),
            row(f"floor: one slixmpp client sends the {recipients} message{'s' if recipients != 1 else ''}",
                floor_rounds, floor_rounds)]
    text = (f"Alert fan-out to {recipients} XMPP recipients on prosody 0.12 (loopback), {rounds} rounds after a "
            f"warm-up; times from the MQTT publish (hub) or the first send (floor) ({machine()})\n\n"
            + table(["sender", "first receipt ms (median)", "median receipt ms (median)",
                     "last receipt ms (median)", "last receipt ms (worst)", "last / floor",
                     f"all under {TARGET_S:g} s"], rows))
    if profile:
        text += "\n" + profile_summary(workdir / "hub.prof", "Fan-out run")
    return text


async def main(recipients: int, rounds: int, profile: bool) -> None:
    with scratch_dir() as tmp:
        print(await measure(recipients, rounds, profile, tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run that only checks the benchmark works")
    parser.add_argument("--recipients", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="run the hub under cProfile and print its top")
    options = parser.parse_args()
    if options.quick:
        options.recipients, options.rounds = 5, 1
    asyncio.run(main(options.recipients, options.rounds, options.profile))
