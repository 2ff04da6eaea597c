"""Footprint: start-up time and RSS at idle and under load, per network and with everything.

The hub is started as `chatops run --config FILE` against mosquitto (left at its defaults;
`--tuned-broker` sets set_tcp_nodelay true): IRC alone with the web server off, timed from exec
to the first correct `!temp salon` answer on ngircd (the issue's measure); then IRC, XMPP
(prosody), Slack (the local emulator), SMS (libgammu's dummy phone), Telegram (the local Bot API
emulator) and Matrix (a real Synapse, logging in with a password) each alone with the web server
on, and everything, timed from exec to `GET /health` answering ready with every adapter
connected (polled every 5 ms); IRC + Slack and everything but the web server, web off, timed to
the first answer (whether the web server or Slack holds aiohttp in memory). RSS (VmRSS) at idle is read a few seconds after that, with the
CPU used meanwhile; under load, the peak while 10 IRC clients fire commands as fast as the
answers come. Floor, same run, same servers: the raw asyncio IRC + MQTT bot of bench.latency,
timed to its first correct answer.
Errbot 6.2's figures are the issue's, printed beside ours, not measured here. Also printed:
where start-up goes (`python -X importtime`). Prints markdown tables; never fails on a figure.

    .venv/bin/python -m bench.footprint [--quick] [--starts 5] [--idle 5] [--tuned-broker]
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

from bench.common import TARGETS_LINE, machine, rss_mb, scratch_dir, table, verdict
from bench.latency import Child, HubProcess, hub_config, irc_section, mosquitto
from bench.throughput import LoadClient, cpu_seconds

# As on an installed system, where Python caches the bytecode of every module it imports: this
# environment sets PYTHONDONTWRITEBYTECODE=1, which would add ~90 ms of compiling to every start.
BYTECODE = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) /
                                                                       "chatops-bench-pycache")}
TARGET_RSS_MB = 48.0          # issue 17: everything, idle
TARGET_IRC_RSS_MB = 38.0      # issue 17: IRC only, web off, idle
TARGET_START_RATIO = 1.8      # issue 17: start-up to the first answer, to the floor bot's
ERRBOT = "Errbot 6.2, measured by the issue, not in this run"
ERRBOT_START_S = 0.40
ERRBOT_IDLE_MIB = 49.0
ANSWER_START = "salon: 20.7"
REPO = Path(__file__).resolve().parent.parent
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


async def first_answer(spawn: Any, tester: Any, channel: str, bot: str, timeout: float = 30.0) -> float:
    """Seconds from exec (`spawn()`) to `bot`'s first correct answer to `!temp salon` in `channel`."""
    started = time.perf_counter()
    await spawn()
    await tester.wait_member(channel, bot, timeout)
    while time.perf_counter() - started < timeout:
        tester.say(channel, "!temp salon")
        line = await tester.reply(bot, channel, timeout)
        if line.text.startswith(ANSWER_START):
            return time.perf_counter() - started
        await asyncio.sleep(0.005)                  # answered before the reading came: ask again
    raise TimeoutError(f"{bot} gave no correct answer within {timeout:g}s")


async def floor_bot_start(tester: Any, irc_port: int, mqtt_port: int, idle: float | None) -> tuple[float, float]:
    """(seconds to first correct answer, RSS MB after `idle` s or nan) of the raw asyncio floor bot."""
    bot = Child("--floor-bot", "--irc-port", str(irc_port), "--mqtt-port", str(mqtt_port))

    async def spawn() -> None:
        bot.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.latency", *bot.args, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, env=dict(os.environ, **BYTECODE), cwd=REPO)
    try:
        elapsed = await first_answer(spawn, tester, "#floor", "floor")
        if idle is None:
            return elapsed, float("nan")
        await asyncio.sleep(idle)
        return elapsed, bot.rss_mb()
    finally:
        await bot.stop()
        await tester.expect(lambda line: line.command in ("QUIT", "PART") and line.nick == "floor", 10,
                            what="the floor bot gone")


async def measure(starts: int, idle: float, load: int, workdir: Path, tuned: bool = False) -> str:
    from tests.irc.conftest import IrcClient, Ngircd
    from tests.matrix.conftest import Synapse
    from tests.slack.emulator import APP_TOKEN, BOT_TOKEN, SlackEmulator
    from tests.telegram.emulator import TOKEN as TELEGRAM_TOKEN
    from tests.telegram.emulator import BotApi
    from tests.xmpp.conftest import PASSWORD, Prosody

    synapse = Synapse(workdir / "synapse")           # the slowest to start (~10 s): started meanwhile
    synapse_up = asyncio.create_task(asyncio.to_thread(synapse.start))
    ngircd = Ngircd(workdir / "ngircd")
    await asyncio.to_thread(ngircd.start)           # its wait for the port, off the loop
    broker = await asyncio.to_thread(mosquitto, workdir / "mosquitto", tuned)
    prosody = Prosody(workdir / "prosody", upload=False)
    prosody.conf.write_text(prosody.conf.read_text().replace('log = { debug =', 'log = { info ='))
    prosody.register("maison")
    await asyncio.to_thread(prosody.start)
    slack = SlackEmulator()
    await slack.start()
    telegram = BotApi()
    await telegram.start()
    phone = workdir / "phone"
    (phone / "sms" / "1").mkdir(parents=True)
    device = tester = None
    await synapse_up
    await asyncio.to_thread(synapse.register, "maison", "pw-maison")
    env = {"MATRIX_PASSWORD": "pw-maison", "HUB_XMPP_PASSWORD": PASSWORD, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN,
           "TELEGRAM_TOKEN": TELEGRAM_TOKEN, **BYTECODE}
    irc = irc_section(ngircd.port)
    xmpp = {"jid": "maison@localhost/chatops", "password_env": "HUB_XMPP_PASSWORD", "host": "127.0.0.1",
            "port": prosody.c2s_port, "allow_plaintext": True}
    slack_section = {"api_url": slack.url, "bot_token_env": "SLACK_BOT_TOKEN", "app_token_env": "SLACK_APP_TOKEN"}
    sms = {"backend": "gammu", "model": "dummy", "connection": "none", "device": str(phone)}
    web_off = {"enabled": False}
    # label, adapters, web off?, load burst?   Rows with the web server off are timed to the first
    # correct IRC answer (there is no /health to poll); the others to /health all connected.
    configs: list[tuple[str, dict[str, Any], bool, bool]] = [
        ("IRC only, web off (to first answer)", {"irc": irc}, True, True),
        ("IRC only + web (to /health)", {"irc": irc}, False, True),
        ("XMPP only + web", {"xmpp": xmpp}, False, False),
        ("Slack only + web", {"slack": slack_section}, False, False),
        ("SMS only + web", {"sms": sms}, False, False),
        ("Telegram only + web (Bot API emulator)", {"telegram": {"api_url": telegram.url, "token_env": "TELEGRAM_TOKEN"}},
         False, False),
        ("Matrix only + web (Synapse)", {"matrix": {"homeserver": synapse.url, "user_id": "@maison:localhost",
                                                     "password_env": "MATRIX_PASSWORD"}}, False, False),
        # Which of the web server and Slack holds aiohttp in memory: slack_sdk's asyncio client
        # is built on it, so without the web server it is loaded all the same.
        ("IRC + Slack, web off (to first answer)", {"irc": irc, "slack": slack_section}, True, False),
        ("everything but the web server: IRC + XMPP + Slack + SMS, web off (to first answer)",
         {"irc": irc, "xmpp": xmpp, "slack": slack_section, "sms": sms}, True, False),
        ("everything: IRC + XMPP + Slack + SMS + web", {"irc": irc, "xmpp": xmpp, "slack": slack_section,
                                                        "sms": sms}, False, True),
    ]
    users = {"tester": {"roles": ["family"], "irc": ["tester!*@127.0.0.1"]}}
    rows: list[list[object]] = []
    imports: list[list[object]] = []
    figures: dict[str, float] = {}
    try:
        device = await Child("--device", "--mqtt-port", str(broker.port)).start()
        tester = await IrcClient.connect(ngircd.port, "tester")
        await tester.join("#maison")
        await tester.join("#floor")
        floor_runs = [await floor_process(broker.port, idle if run == starts - 1 else 0.0)
                      for run in range(-1, starts)][1:]         # the first one warms the bytecode cache
        floor_start, floor_rss = statistics.median(r[0] for r in floor_runs), floor_runs[-1][1]
        bot_runs = [await floor_bot_start(tester, ngircd.port, broker.port, idle if run == starts - 1 else None)
                    for run in range(-1, starts)][1:]
        bot_start, bot_rss = statistics.median(r[0] for r in bot_runs), bot_runs[-1][1]
        for index, (label, adapters, no_web, loaded) in enumerate(configs):
            folder = workdir / f"hub{index}"
            config = hub_config(folder, broker.port, adapters=adapters, users=users,
                                **({"web": web_off} if no_web else {}))
            times = []
            hub = None
            for attempt in range(-1, starts):           # -1: unrecorded warm-up (writes the bytecode cache)
                hub = HubProcess(folder, config, env=env)
                try:
                    if no_web:
                        elapsed = await first_answer(hub.spawn, tester, "#maison", "maison")
                    else:
                        elapsed = await hub.start()
                except BaseException:
                    await hub.stop()              # a failed start leaves no hub running behind the benchmark
                    raise
                if attempt >= 0:
                    times.append(elapsed)
                if attempt < starts - 1:
                    await hub.stop()
                    if "irc" in adapters:
                        await tester.expect(lambda line: line.command in ("QUIT", "PART") and line.nick == "maison",
                                            20, what="the hub gone from IRC")
            assert hub is not None
            try:
                assert hub.proc is not None
                cpu_before, idle_started = cpu_seconds(hub.proc.pid), time.monotonic()
                await asyncio.sleep(idle)
                idle_cpu = (cpu_seconds(hub.proc.pid) - cpu_before) / (time.monotonic() - idle_started)
                idle_rss = hub.rss_mb()
                peak = after = ""
                if loaded:
                    peak, _ = await load_peak(hub, ngircd.port, 10, load)
                    await asyncio.sleep(1)
                    after = hub.rss_mb()
            finally:
                await hub.stop()
                if "irc" in adapters:
                    await tester.expect(lambda line: line.command in ("QUIT", "PART") and line.nick == "maison",
                                        20, what="the hub gone from IRC")
            start = statistics.median(times)
            figures[label] = idle_rss
            figures[f"{label} start"] = start
            ratio = f"x{start / bot_start:.1f}" if no_web else ""
            rows.append([label, start * 1000, min(times) * 1000, idle_rss, f"{idle_cpu:.1%}", peak, after,
                         ratio, f"x{idle_rss / bot_rss:.1f}"])
            if index == 0:
                profiled = HubProcess(workdir / "importtime", hub_config(workdir / "importtime", broker.port,
                                                                          adapters=adapters, web=web_off),
                                      env=env, python_flags=("-X", "importtime"))    # bytecode cached too
                try:
                    await first_answer(profiled.spawn, tester, "#maison", "maison")
                finally:
                    await profiled.stop()
                    await tester.expect(lambda line: line.command in ("QUIT", "PART") and line.nick == "maison",
                                        20, what="the hub gone from IRC")
                imports = slowest_imports(profiled.log_path)
        rows.append(["floor: raw asyncio IRC + MQTT bot (bench.latency --floor-bot), to first answer",
                     bot_start * 1000, min(r[0] for r in bot_runs) * 1000, bot_rss, "", "", "", "x1.0", "x1.0"])
        rows.append(["floor: bare `python -c` asyncio + aiomqtt, connected", floor_start * 1000,
                     min(r[0] for r in floor_runs) * 1000, floor_rss, "", "", "", "", f"x{floor_rss / bot_rss:.1f}"])
        rows.append([f"{ERRBOT} (IRC only)", ERRBOT_START_S * 1000, "", ERRBOT_IDLE_MIB, "", "", "",
                     f"x{ERRBOT_START_S / bot_start:.1f}", f"x{ERRBOT_IDLE_MIB / bot_rss:.1f}"])
    finally:
        if tester is not None:
            await tester.close()
        if device is not None:
            await device.stop()
        await slack.stop()
        await telegram.stop()
        synapse.stop()
        prosody.stop()
        broker.stop()
        ngircd.stop()
    irc_rss = figures[configs[0][0]]
    all_rss = figures[configs[-1][0]]
    no_web_rss = figures[configs[-2][0]]
    irc_start = figures[f"{configs[0][0]} start"]

    broker_note = "set_tcp_nodelay true" if tuned else "at its defaults"
    text = (f"Footprint of `chatops run` against mosquitto ({broker_note}) on loopback: start-up is the median "
            f"of {starts} starts after a warm-up one (bytecode cached, as on an installed system); RSS (MiB) at "
            f"idle {idle:g} s after the last start, under load while 10 IRC clients fire "
            f"{load} commands each ({machine()})\n\n"
            + table(["process", "start-up ms (median)", "start-up ms (best)", "RSS idle MiB",
                     "CPU at idle (of one core)", "RSS peak under load MiB", "RSS after load MiB",
                     "start / floor bot", "idle RSS / floor bot"],
                    rows)
            + f"\n\n{TARGETS_LINE} idle RSS IRC only, web off <= {TARGET_IRC_RSS_MB:g} MiB: "
            f"{verdict(irc_rss <= TARGET_IRC_RSS_MB)} ({irc_rss:.1f}); idle RSS with everything <= "
            f"{TARGET_RSS_MB:g} MiB: {verdict(all_rss <= TARGET_RSS_MB)} ({all_rss:.1f}; {no_web_rss:.1f} with the web server off); start-up to the first "
            f"answer <= x{TARGET_START_RATIO:g} the floor bot's: {verdict(irc_start <= TARGET_START_RATIO * bot_start)} "
            f"(x{irc_start / bot_start:.2f}).\n\n"
            "Where the IRC-only start-up (web off) goes: slowest top-level imports "
            "(`python -X importtime`, cumulative)\n\n"
            + table(["module", "cumulative ms", "own ms"], imports))
    return text


async def main(starts: int, idle: float, load: int, tuned: bool) -> None:
    with scratch_dir() as tmp:
        print(await measure(starts, idle, load, tmp, tuned))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny run that only checks the benchmark works")
    parser.add_argument("--starts", type=int, default=5, help="starts per configuration (default 5)")
    parser.add_argument("--idle", type=float, default=5.0, help="seconds of idle before reading RSS (default 5)")
    parser.add_argument("--load", type=int, default=500, help="commands per client in the load burst")
    parser.add_argument("--tuned-broker", action="store_true",
                        help="set_tcp_nodelay true on mosquitto (default: left at false, as Debian ships it)")
    options: Any = parser.parse_args()
    if options.quick:
        options.starts, options.idle, options.load = 1, 1.0, 20
    asyncio.run(main(options.starts, options.idle, options.load, options.tuned_broker))
