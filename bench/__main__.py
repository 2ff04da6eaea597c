"""Run every benchmark and print all their tables: `python -m bench [--quick] [--only NAME,...]`.

Each benchmark runs as its own `python -m bench.NAME` process (servers, hubs and floors are
started and stopped by each one), one after the other, so that none measures another's
leftovers. `--quick` passes tiny counts: CI runs it only to check that the benchmarks still
work, never to judge time. Exit status: 0 when every benchmark ran, 1 otherwise (never
because of a figure).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.common import TARGETS_LINE, machine

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Bench:
    name: str
    what: str
    header: str | None                  # the start of its table's header row (checked by tests/test_bench_quick.py)
    quick: tuple[str, ...] = ("--quick",)
    full: tuple[str, ...] = ()


BENCHES = [
    Bench("router", "router alone, in-process", "| command | commands/s |"),
    Bench("ingest", "sensor readings absorbed, by fleet size", "| devices | readings/s"),
    Bench("discovery", "retained announcements adopted, by house size", "| announcements | adopted/s"),
    Bench("timers", "10,000 timers due in the same second; CPU of 1,000 automations per reading", "| timers | p50 late ms"),
    Bench("latency", "command latency through ngircd and mosquitto (`!temp`, `!switch`)", "| path | bot | p50 ms |"),
    Bench("throughput", "10 IRC clients as fast as the answers come", "| bot | commands | commands/s |"),
    Bench("fanout", "one MQTT event -> alert to 100 XMPP recipients", "| sender | first receipt ms"),
    Bench("footprint", "start-up time and RSS, IRC alone and everything", "| process | start-up ms"),
    Bench("demo", "the shipped demo: exec to ready, idle RSS", "| process | exec -> ready s"),
    Bench("xmpp_rpc", "Jabber-RPC round trip through prosody", "| callee | p50 ms |",
          quick=("--count", "5", "--cli", "1")),
    Bench("pictures", "graph rendering and history size", None,
          quick=("--sensors", "2", "--days", "1", "--repeat", "2", "--no-year")),
    Bench("scrape", "GET /metrics and counting a command", "| what | value | floor |"),
]


def available(bench: Bench) -> bool:
    return importlib.util.find_spec(f"bench.{bench.name}") is not None


def arguments_for(bench: Bench, quick: bool) -> list[str]:
    if not quick:
        return list(bench.full)
    if bench.quick != ("--quick",):                 # a benchmark without --quick: does it have one now?
        helptext = subprocess.run([sys.executable, "-m", f"bench.{bench.name}", "--help"], cwd=REPO,
                                  capture_output=True, text=True, timeout=60).stdout
        if "--quick" in helptext:
            return ["--quick"]
    return list(bench.quick)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every chatops benchmark and print their tables.")
    parser.add_argument("--quick", action="store_true", help="tiny counts: checks the benchmarks work, not their times")
    parser.add_argument("--only", default="", help="comma-separated benchmark names (default: all)")
    options = parser.parse_args()
    wanted = {n.strip() for n in options.only.split(",") if n.strip()}
    unknown = wanted - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}; known: {', '.join(b.name for b in BENCHES)}")
    print(f"# chatops benchmarks{' (--quick: tiny counts, figures mean nothing)' if options.quick else ''}\n")
    print(f"Machine: {machine()}\n")
    failed: list[str] = []
    targets: list[str] = []
    for bench in BENCHES:
        if wanted and bench.name not in wanted:
            continue
        if not available(bench):
            print(f"## bench.{bench.name}: not present in this checkout, skipped\n")
            continue
        args = arguments_for(bench, options.quick)
        command = " ".join(["python -m", f"bench.{bench.name}", *args])
        print(f"## bench.{bench.name}: {bench.what}\n\n`{command}`\n", flush=True)
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", f"bench.{bench.name}", *args], cwd=REPO,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        print(result.stdout.rstrip())
        targets += [f"- bench.{bench.name}: {line.removeprefix(TARGETS_LINE).strip()}"
                    for line in result.stdout.splitlines() if line.startswith(TARGETS_LINE)]
        if result.returncode != 0:
            failed.append(bench.name)
            print(f"\n**bench.{bench.name} failed (exit {result.returncode})**\n\n```\n"
                  f"{result.stderr.strip()[-3000:]}\n```")
        print(f"\n({time.perf_counter() - started:.0f} s)\n", flush=True)
    if targets:
        print(f"## {TARGETS_LINE.rstrip(':')}, from this run\n\n" + "\n".join(targets) + "\n")
    if failed:
        print(f"FAILED: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
