"""Shared bits of the benchmarks: percentiles, markdown tables, the --quick flag, RSS."""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


def percentile(samples: Sequence[float], p: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples: Sequence[float]) -> dict[str, float]:
    return {"p50": percentile(samples, 50) * 1000, "p90": percentile(samples, 90) * 1000,
            "p99": percentile(samples, 99) * 1000, "mean": statistics.fmean(samples) * 1000}


def table(headers: list[str], rows: list[list[object]]) -> str:
    def cell(value: object) -> str:
        return f"{value:,.2f}" if isinstance(value, float) else str(value)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def arguments(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny run that only checks the benchmark works")
    return parser.parse_args()


def rss_mb(pid: int | None = None) -> float:
    with open(f"/proc/{pid or os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


@contextmanager
def scratch_dir() -> Iterator[Path]:
    """A temporary folder for a benchmark's servers and hub, removed afterwards. World-readable:
    servers that drop to their own user (prosody) must reach their config in it."""
    with tempfile.TemporaryDirectory(prefix="chatops-bench-") as tmp:
        os.chmod(tmp, 0o755)
        yield Path(tmp)


# Issue 17's targets, each a ratio to the floor measured in the same run (or a size): every
# benchmark that judges one prints a line starting with TARGETS_LINE, and `python -m bench`
# gathers those lines at the end, so that one run gives every target's figure.
TARGETS_LINE = "Targets (issue 17):"
TARGET_SWITCH = 1.3           # `!switch` closed loop p50, to the floor bot's
TARGET_TEMP = 1.2             # `!temp` p50, to the floor bot's
TARGET_THROUGHPUT = 0.7       # commands/s, to the floor bot's


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
