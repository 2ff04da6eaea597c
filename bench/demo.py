"""The demo's footprint: `chatops run` on the shipped config.toml (embedded amqtt broker, simulated
house, web chat), from exec to `GET /health` ready, and its RSS when idle. Floor: a bare Python
process importing asyncio and aiomqtt. Run: `python -m bench.demo [--quick]`.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench.common import arguments, machine, rss_mb, table
from chatops.testing import free_port, write_demo_config


def demo_config(folder: Path) -> tuple[Path, int]:
    web = free_port()
    return write_demo_config(folder, web_listen=f"127.0.0.1:{web}",
                             embedded_listen=f"127.0.0.1:{free_port()}"), web


def start_once(config: Path, web: int, idle: float) -> tuple[float, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web}/health", timeout=0.5) as answer:
                    if json.load(answer)["ready"]:
                        break
            except OSError:
                pass
            if proc.poll() is not None:
                raise RuntimeError("the demo exited before it was ready")
            time.sleep(0.005)
        ready = time.perf_counter() - started
        time.sleep(idle)
        return ready, rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def floor_once() -> tuple[float, float]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", "import asyncio, aiomqtt, os\n"
                          "print(open(f'/proc/{os.getpid()}/status').read())"],
                         capture_output=True, text=True, check=True).stdout
    rss = next(int(line.split()[1]) / 1024 for line in out.splitlines() if line.startswith("VmRSS"))
    return time.perf_counter() - started, rss


def main(quick: bool) -> None:
    starts, idle = (1, 0.5) if quick else (5, 5.0)
    with tempfile.TemporaryDirectory() as tmp:
        config, web = demo_config(Path(tmp))
        start_once(config, web, 0.0)                      # warm-up: bytecode cache, data dir
        demo = [start_once(config, web, idle) for _ in range(starts)]
    floor = [floor_once() for _ in range(starts)]
    ready, rss = statistics.median(r for r, _ in demo), statistics.median(m for _, m in demo)
    floor_ready, floor_rss = statistics.median(r for r, _ in floor), statistics.median(m for _, m in floor)
    print(f"The demo (shipped config.toml), median of {starts} starts after a warm-up ({machine()})\n")
    print(table(["process", "exec -> ready s", "idle RSS MB", "start / floor", "RSS / floor"], [
        ["chatops run (embedded broker, simulator, web)", ready, rss, f"x{ready / floor_ready:.1f}",
         f"x{rss / floor_rss:.1f}"],
        ["floor: python -c 'import asyncio, aiomqtt'", floor_ready, floor_rss, "x1.0", "x1.0"],
    ]))


if __name__ == "__main__":
    main(arguments(__doc__ or "").quick)
