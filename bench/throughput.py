"""Throughput: 10 IRC clients firing `temp salon` as fast as the answers come, hub beside the floor bot.

Each client (its own connection to ngircd, flood penalties off) sends a direct message to the
bot, waits for the answer and sends the next one: 10 commands in flight at any time. The hub
runs as `chatops run` with the IRC adapter's pacing opened wide (burst 1000, 100,000 lines/s;
the shipped 1 line/s is meant for public networks), the per-sender rate limit lifted; the floor
is the raw-asyncio bot of bench/latency.py (its own process) under exactly the same load.
Phases alternate hub, floor, hub, floor. Figures: commands/s, p50/p99 of each command's round
trip, and the bot's CPU use (of one core) during its phases, also per command: steadier from run
to run than the rate, which a shared machine's speed moves. Prints a markdown table; never
fails on time. The router alone, in-process, is bench/router.py.

    .venv/bin/python -m bench.throughput [--quick] [--clients 10] [--count 1000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

from bench.common import TARGET_THROUGHPUT, TARGETS_LINE, machine, percentile, scratch_dir, table, verdict
from bench.latency import Child, HubProcess, hub_config, irc_section, mosquitto, profile_summary

TICKS = os.sysconf("SC_CLK_TCK")
LOAD_CPU: dict[str, float] = {}          # CPU seconds of this process (the load) per bot
SERVER_CPU: dict[str, float] = {}        # CPU seconds of ngircd per bot


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


class LoadClient:
    """A lean raw IRC client: one command, wait for the bot's answer, next command."""

    def __init__(self, nick: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.nick, self.reader, self.writer = nick, reader, writer

    @classmethod
    async def connect(cls, port: int, nick: str) -> LoadClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :load client\r\n".encode())
        async with asyncio.timeout(10):
            while b" 001 " not in (line := await reader.readline()):
                if not line:
                    raise ConnectionError(f"{nick}: ngircd closed the connection")
        return cls(nick, reader, writer)

    async def fire(self, bot: str, text: str, count: int, latencies: list[float]) -> None:
        line_out = f"PRIVMSG {bot} :{text}\r\n".encode()
        answer = f":{bot}!".encode()
        for _ in range(count):
            started = time.perf_counter()
            self.writer.write(line_out)
            while True:
                line = await self.reader.readline()
                if not line:
                    raise ConnectionError(f"{self.nick}: connection closed")
                if line.startswith(answer) and b" PRIVMSG " in line:
                    break
                if line.startswith(b"PING"):
                    self.writer.write(b"PONG" + line[4:])
            latencies.append(time.perf_counter() - started)

    async def close(self) -> None:
        self.writer.write(b"QUIT :done\r\n")
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


async def burst(clients: list[LoadClient], bot: str, count: int, pid: int,
                server: int) -> tuple[float, float, list[float]]:
    """(wall seconds, bot CPU seconds, latencies) of every client firing `count` commands at `bot`."""
    latencies: list[float] = []
    cpu = cpu_seconds(pid)
    server_cpu = cpu_seconds(server)
    own = time.process_time()
    started = time.perf_counter()
    async with asyncio.timeout(600):
        await asyncio.gather(*(c.fire(bot, "temp salon", count, latencies) for c in clients))
    wall = time.perf_counter() - started
    LOAD_CPU[bot] = LOAD_CPU.get(bot, 0.0) + time.process_time() - own
    SERVER_CPU[bot] = SERVER_CPU.get(bot, 0.0) + cpu_seconds(server) - server_cpu
    return wall, cpu_seconds(pid) - cpu, latencies


async def measure(clients_n: int, count: int, rounds: int, profile: bool, workdir: Path,
                  tuned: bool = False) -> str:
    from tests.irc.conftest import Ngircd

    ngircd = Ngircd(workdir / "ngircd")              # MaxPenaltyTime = 0: no flood penalties
    await asyncio.to_thread(ngircd.start)           # its wait for the port, off the loop
    broker = await asyncio.to_thread(mosquitto, workdir / "mosquitto", tuned)
    hub = device = floor = None
    clients: list[LoadClient] = []
    results: dict[str, list[tuple[float, float, list[float]]]] = {"maison": [], "floor": []}
    try:
        device = await Child("--device", "--mqtt-port", str(broker.port)).start()
        floor = await Child("--floor-bot", "--irc-port", str(ngircd.port), "--mqtt-port", str(broker.port)).start()
        config = hub_config(workdir / "hub", broker.port, adapters={"irc": irc_section(ngircd.port)})
        hub = HubProcess(workdir / "hub", config, profile=workdir / "hub.prof" if profile else None)
        await hub.start()
        clients = list(await asyncio.gather(*(LoadClient.connect(ngircd.port, f"load{i}")
                                              for i in range(clients_n))))
        pids = {"maison": hub.proc.pid, "floor": floor.proc.pid}  # type: ignore[union-attr]
        for bot in ("maison", "floor"):                  # warm-up, unrecorded
            await burst(clients, bot, 5, pids[bot], ngircd.proc.pid)  # type: ignore[union-attr]
        for _ in range(rounds):
            for bot in ("maison", "floor"):
                server = ngircd.proc.pid  # type: ignore[union-attr]
                results[bot].append(await burst(clients, bot, count, pids[bot], server))
        for client in clients:
            await client.close()
    finally:
        for child in (hub, floor, device):
            if child is not None:
                await child.stop()
        broker.stop()
        ngircd.stop()

    def figures(bot: str) -> tuple[float, float, float, float, int]:
        runs = results[bot]
        wall = sum(r[0] for r in runs)
        cpu = sum(r[1] for r in runs)
        latencies = [v * 1000 for r in runs for v in r[2]]
        return len(latencies) / wall, percentile(latencies, 50), percentile(latencies, 99), cpu / wall, \
            len(latencies)

    hub_rate, hub_p50, hub_p99, hub_cpu, total = figures("maison")
    floor_rate, floor_p50, floor_p99, floor_cpu, _ = figures("floor")
    rows = [
        ["chatops hub (`chatops run`, irc3 adapter, pacing open)", total, hub_rate, hub_p50, hub_p99,
         f"{hub_cpu:.0%}", hub_cpu / hub_rate * 1e6, f"x{hub_rate / floor_rate:.2f}", f"x{hub_p99 / floor_p99:.2f}"],
        ["floor: raw asyncio bot, answer from memory", total, floor_rate, floor_p50, floor_p99,
         f"{floor_cpu:.0%}", floor_cpu / floor_rate * 1e6, "x1.00", "x1.00"],
    ]
    text = (f"Throughput through ngircd 26.1 on loopback: {clients_n} clients, each sending its next "
            f"`temp salon` (direct message) as soon as the answer comes; {rounds} alternating phase(s) of "
            f"{count} commands per client per bot ({machine()})\n\n"
            + table(["bot", "commands", "commands/s", "p50 ms", "p99 ms", "bot CPU (of one core)",
                     "bot CPU µs / command", "commands/s / floor", "p99 / floor"], rows))
    load = {bot: LOAD_CPU.get(bot, 0.0) / sum(r[0] for r in results[bot]) for bot in results}
    server = {bot: SERVER_CPU.get(bot, 0.0) / sum(r[0] for r in results[bot]) for bot in results}
    text += (f"\n\nCPU of the other processes (of one core), hub phases / floor phases: the load generator "
             f"(this process) {load['maison']:.0%} / {load['floor']:.0%}, ngircd {server['maison']:.0%} / "
             f"{server['floor']:.0%}. Near 100% means that process, not the bot, set the ceiling.")
    ratio = hub_rate / floor_rate
    text += (f"\n\n{TARGETS_LINE} throughput >= x{TARGET_THROUGHPUT}: {verdict(ratio >= TARGET_THROUGHPUT)} "
             f"(x{ratio:.2f}: {hub_rate:,.0f} vs {floor_rate:,.0f} commands/s).")
    if profile:
        text += "\n" + profile_summary(workdir / "hub.prof", "Throughput run")
    return text


async def main(clients: int, count: int, rounds: int, profile: bool, tuned: bool) -> None:
    with scratch_dir() as tmp:
        print(await measure(clients, count, rounds, profile, tmp, tuned))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run that only checks the benchmark works")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--count", type=int, default=1000, help="commands per client per phase (default 1000)")
    parser.add_argument("--rounds", type=int, default=2, help="phases per bot (default 2)")
    parser.add_argument("--profile", action="store_true", help="run the hub under cProfile and print its top")
    parser.add_argument("--tuned-broker", action="store_true",
                        help="set_tcp_nodelay true on mosquitto (default: left at false, as Debian ships it)")
    options = parser.parse_args()
    if options.quick:
        options.count, options.rounds = 10, 1
    asyncio.run(main(options.clients, options.count, options.rounds, options.profile, options.tuned_broker))
