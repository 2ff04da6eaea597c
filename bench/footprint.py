"""Footprint: start-up time to "all adapters connected", and RSS at idle and under load.

The hub is started as `chatops run --config FILE` against mosquitto, twice over: with IRC alone
(ngircd) and with everything (IRC + XMPP on prosody + Slack on the local emulator + SMS on
libgammu's dummy phone + the web server). Start-up is the time from exec to `GET /health`
answering ready with MQTT and every adapter connected (polled every 5 ms; the web server is on
in both, since /health is what we poll). RSS (VmRSS) at idle is read a few seconds after that;
under load, the peak while 10 IRC clients fire commands as fast as the answers come.
Floor, same run, same broker: a bare `python -c "import asyncio, aiomqtt; ..."` process that
connects and says so (start time, RSS). Also printed: where start-up goes (`python -X importtime`
of the IRC-only hub, the slowest top-level imports). Targets: idle RSS < 60 MB with everything,
start-up < 1.5 s with IRC alone. Prints markdown tables; never fails on time.

    .venv/bin/python -m bench.footprint [--quick] [--starts 5] [--idle 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import machine, rss_mb, scratch_dir, table
from bench.latency import Child, HubProcess, hub_config, irc_section, mosquitto
from bench.throughput import LoadClient

# As on an installed system, where Python caches the bytecode of every module it imports: this
# environment sets PYTHONDONTWRITEBYTECODE=1, which would add ~90 ms of compiling to every start.
BYTECODE = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) /
                                                                       "chatops-bench-pycache")}
TARGET_RSS_MB = 60.0
TARGET_START_S = 1.5
FLOOR = """
import asyncio, sys, aiomqtt
async def main():
    async with aiomqtt.Client("127.0.0.1", int(sys.argv[1])) as client:
        await client.subscribe("zigbee2mqtt/#")
        print("ready", flush=True)
        await asyncio.Event().wait()
asyncio.run(main())
"""


async def floor_process(port: int, idle: float) -> tuple[float, float]:
    """(seconds from exec to connected, RSS MB after `idle` seconds) of the bare aiomqtt process."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", FLOOR, str(port),
                                                stdout=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
                                                env=dict(os.environ, **BYTECODE))
    assert proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        elapsed = time.perf_counter() - started
        if line.strip() != b"ready":
            raise RuntimeError(f"the floor process failed: {line!r}")
        await asyncio.sleep(idle)
        return elapsed, rss_mb(proc.pid)
    finally:
        proc.terminate()
        await proc.wait()


async def load_peak(hub: HubProcess, port: int, clients_n: int, count: int) -> tuple[float, int]:
    """Peak RSS (MB) of the hub while `clients_n` IRC clients fire `count` commands each."""
    clients = list(await asyncio.gather(*(LoadClient.connect(port, f"rss{i}") for i in range(clients_n))))
    peak = hub.rss_mb()
    latencies: list[float] = []
    work = asyncio.gather(*(c.fire("maison", "temp salon", count, latencies) for c in clients))
    while not work.done():
        peak = max(peak, hub.rss_mb())
        await asyncio.wait({work}, timeout=0.02)
    await work
    peak = max(peak, hub.rss_mb())
    for client in clients:
        await client.close()
    return peak, len(latencies)


def slowest_imports(log: Path, limit: int = 8) -> list[list[object]]:
    """Top-level imports by cumulative time from a `python -X importtime` log."""
    rows = []
    for line in log.read_text(errors="replace").splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)", line)
        if match and not match.group(3):                     # not indented: imported at top level
            rows.append((int(match.group(2)), int(match.group(1)), match.group(4)))
    rows.sort(reverse=True)
    return [[f"`{name}`", cumulative / 1000, own / 1000] for cumulative, own, name in rows[:limit]]


async def measure(starts: int, idle: float, load: int, workdir: Path) -> str:
    from tests.irc.conftest import Ngircd
    from tests.slack.emulator import APP_TOKEN, BOT_TOKEN, SlackEmulator
    from tests.xmpp.conftest import PASSWORD, Prosody

    ngircd = Ngircd(workdir / "ngircd")
    ngircd.start()
    broker = mosquitto(workdir / "mosquitto")
    prosody = Prosody(workdir / "prosody", upload=False)
    prosody.conf.write_text(prosody.conf.read_text().replace('log = { debug =', 'log = { info ='))
    prosody.register("maison")
    prosody.start()
    slack = SlackEmulator()
    await slack.start()
    phone = workdir / "phone"
    (phone / "sms" / "1").mkdir(parents=True)
    device = None
    env = {"HUB_XMPP_PASSWORD": PASSWORD, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, **BYTECODE}
    configs = {
        "IRC only (+ web for /health)": {"irc": irc_section(ngircd.port)},
        "everything: IRC + XMPP + Slack + SMS + web": {
            "irc": irc_section(ngircd.port),
            "xmpp": {"jid": "maison@localhost/chatops", "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
                     "port": prosody.c2s_port, "allow_plaintext": True},
            "slack": {"api_url": slack.url, "bot_token_env": "SLACK_BOT_TOKEN", "app_token_env": "SLACK_APP_TOKEN"},
            "sms": {"backend": "gammu", "model": "dummy", "connection": "none", "device": str(phone)},
        },
    }
    rows: list[list[object]] = []
    imports: list[list[object]] = []
    try:
        device = await Child("--device", "--mqtt-port", str(broker.port)).start()
        floor_runs = [await floor_process(broker.port, idle if run == starts - 1 else 0.0)
                      for run in range(-1, starts)][1:]         # the first one warms the bytecode cache
        floor_start, floor_rss = statistics.median(r[0] for r in floor_runs), floor_runs[-1][1]
        for index, (label, adapters) in enumerate(configs.items()):
            folder = workdir / f"hub{index}"
            config = hub_config(folder, broker.port, adapters=adapters)
            times = []
            hub = None
            for attempt in range(-1, starts):           # -1: unrecorded warm-up (writes the bytecode cache)
                hub = HubProcess(folder, config, env=env)
                elapsed = await hub.start()
                if attempt >= 0:
                    times.append(elapsed)
                if attempt < starts - 1:
                    await hub.stop()
            assert hub is not None
            try:
                await asyncio.sleep(idle)
                idle_rss = hub.rss_mb()
                peak, commands = await load_peak(hub, ngircd.port, 10, load)
                await asyncio.sleep(1)
                after = hub.rss_mb()
            finally:
                await hub.stop()
            start = statistics.median(times)
            rows.append([label, start * 1000, min(times) * 1000, idle_rss,
                         peak, after, f"x{start / floor_start:.1f}", f"x{idle_rss / floor_rss:.1f}"])
            if index == 0:
                profiled = HubProcess(workdir / "importtime", hub_config(workdir / "importtime", broker.port,
                                                                          adapters=adapters),
                                      env=env, python_flags=("-X", "importtime"))    # bytecode cached too
                try:
                    await profiled.start()
                finally:
                    await profiled.stop()
                imports = slowest_imports(profiled.log_path)
        rows.append(["floor: bare `python -c` asyncio + aiomqtt, connected", floor_start * 1000,
                     min(r[0] for r in floor_runs) * 1000,
                     floor_rss, "", "", "x1.0", "x1.0"])
    finally:
        if device is not None:
            await device.stop()
        await slack.stop()
        prosody.stop()
        broker.stop()
        ngircd.stop()
    irc_start = rows[0][1]
    all_rss = rows[1][3]
    text = (f"Footprint of `chatops run` against mosquitto on loopback: start-up is the median of {starts} "
            f"starts after a warm-up one (bytecode cached, as on an installed system); RSS at idle {idle:g} s "
            "after the last start, under load while 10 IRC clients fire "
            f"{load} commands each ({machine()})\n\n"
            + table(["process", "start-up ms (median)", "start-up ms (best)", "RSS idle MB", "RSS peak under load MB",
                     "RSS after load MB", "start / floor", "idle RSS / floor"], rows)
            + f"\n\nTargets: start-up with IRC alone < {TARGET_START_S:g} s: "
            f"{'met' if irc_start < TARGET_START_S * 1000 else 'MISSED'} ({irc_start / 1000:.2f} s); idle RSS "
            f"with everything < {TARGET_RSS_MB:g} MB: {'met' if all_rss < TARGET_RSS_MB else 'MISSED'} "
            f"({all_rss:.1f} MB).\n\nWhere the IRC-only start-up goes: slowest top-level imports "
            "(`python -X importtime`, cumulative)\n\n"
            + table(["module", "cumulative ms", "own ms"], imports))
    return text


async def main(starts: int, idle: float, load: int) -> None:
    with scratch_dir() as tmp:
        print(await measure(starts, idle, load, tmp))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run that only checks the benchmark works")
    parser.add_argument("--starts", type=int, default=5, help="starts per configuration (default 5)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle before reading RSS (default 5)")
    parser.add_argument("--load", type=int, default=500, help="commands per client in the load burst")
    options: Any = parser.parse_args()
    if options.quick:
        options.starts, options.idle, options.load = 1, 1.0, 20
    asyncio.run(main(options.starts, options.idle, options.load))
