"""Pictures: time to draw a 24 h graph, and how big the history gets.

1. Render one 24 h chart of 1,440 points (800 × 400 PNG, Pillow, 2× supersampled), beside
   the floor of encoding an empty 800 × 400 PNG (what any chart costs at least).
2. A simulated week of 20 sensors reporting every 10 s (1,209,600 readings) written through
   the history writer in its real batches, with roll-up and retention run every simulated
   hour; then the steady state a year on (7 d raw + 365 d of 5-minute averages).

Prints a markdown table; never fails on time.

    .venv/bin/python -m bench.pictures [--sensors 20] [--days 7] [--no-year]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

from chatops.config import HistorySettings
from chatops.graph import Series, render
from chatops.history import History
from chatops.store import Store


def time_it(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def bench_render(repeat: int) -> list[tuple[str, str, str]]:
    from PIL import Image

    now = time.time()
    rng = random.Random(1)
    points = [(now - 86400 + 60 * i, 20 + 1.5 * math.sin(i / 229) + rng.uniform(-0.2, 0.2)) for i in range(1440)]
    other = [(t, v - 2) for t, v in points]
    one = time_it(lambda: render([Series("salon", "°C", points)], now - 86400, now), repeat)
    three = time_it(lambda: render([Series("salon", "°C", points), Series("chambre", "°C", other),
                                    Series("heater", "", [(t, float(i // 120 % 2)) for i, (t, _) in
                                                          enumerate(points)], True)], now - 86400, now), repeat)

    def floor() -> None:
        Image.new("RGB", (800, 400), "white").save(io.BytesIO(), "PNG")
    empty = time_it(floor, repeat)
    ms = lambda xs: f"{statistics.median(xs) * 1000:.1f} ms (min {min(xs) * 1000:.1f})"  # noqa: E731
    return [("render 24 h, 1 series, 1,440 points, 800×400", ms(one), ms(empty)),
            ("render 24 h, 3 series, 4,320 points, 800×400", ms(three), ms(empty))]


async def bench_history(sensors: int, days: int, year: bool) -> list[tuple[str, str, str]]:
    rows_out: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "chatops.db"
        store = Store(path)
        await store.open()
        settings = HistorySettings()
        history = History(store, settings)
        await history.open()
        start = time.time() - days * 86400
        every, hour = 10, 3600
        names = [f"sensor_{i:02d}" for i in range(sensors)]
        rng = random.Random(2)
        total = 0
        write_time = 0.0
        for h in range(days * 24):
            batch = []
            for k in range(hour // every):
                at = start + h * hour + k * every
                ms = int(at * 1000)
                for index, name in enumerate(names):
                    batch.append((name, ms + index, round(20 + 3 * math.sin(at / 13751 + index)
                                                          + rng.uniform(-0.2, 0.2), 1)))
            started = time.perf_counter()
            for i in range(0, len(batch), settings.flush_batch):     # the writer's own batches
                chunk = batch[i:i + settings.flush_batch]
                await store.call(store.transaction, lambda db, chunk=chunk: history.write(db, chunk))
            await history.maintain(start + (h + 1) * hour)
            write_time += time.perf_counter() - started
            total += len(batch)

        def size() -> int:
            store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return path.stat().st_size

        def counts() -> tuple[int, int]:
            return (store.db.execute("SELECT COUNT(*) FROM history_raw").fetchone()[0],
                    store.db.execute("SELECT COUNT(*) FROM history_rollup").fetchone()[0])

        week_size = await store.call(size)
        raw, rollups = await store.call(counts)
        now = start + days * 86400
        started = time.perf_counter()
        points = await history.series("sensor_00", now - 86400, now, 1440)
        day_query = time.perf_counter() - started
        started = time.perf_counter()
        week_points = await history.series("sensor_00", now - 7 * 86400, now, 1440)
        week_query = time.perf_counter() - started
        rows_out += [
            (f"history: {days} d × {sensors} sensors every {every} s written", f"{total:,} readings in "
             f"{write_time:.1f} s ({total / write_time:,.0f}/s)", "batches of 500, roll-up hourly"),
            ("database after the week", f"{week_size / 1048576:.1f} MB ({week_size / total:.1f} B/reading)",
             f"{raw:,} raw rows, {rollups:,} 5-min rows"),
            ("series query 24 h → 1,440 points", f"{day_query * 1000:.0f} ms ({len(points)} points)", ""),
            ("series query 7 d → 1,440 points", f"{week_query * 1000:.0f} ms ({len(week_points)} points)", ""),
        ]
        if year:
            interval = int(settings.rollup_interval)
            first = int(start) // interval * interval - 365 * 86400

            def add_year() -> None:
                ids = [history._ids[n] for n in names]
                for day in range(365 - days):
                    base = first + day * 86400
                    store.db.executemany(
                        "INSERT OR REPLACE INTO history_rollup(device, bucket, avg, min, max, count) "
                        "VALUES (?,?,?,?,?,30)",
                        [(d, base + k * interval, 20.1, 19.8, 20.4) for d in ids for k in range(86400 // interval)])
            await store.call(store.transaction, lambda db: add_year())
            year_size = await store.call(size)
            _, year_rollups = await store.call(counts)
            rows_out.append(("steady state: 7 d raw + 365 d of 5-min averages",
                             f"{year_size / 1048576:.1f} MB", f"{raw:,} raw + {year_rollups:,} 5-min rows; "
                             "retention deletes as much as arrives"))
        await store.close()
    return rows_out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sensors", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-year", action="store_true", help="skip the year-long steady state")
    args = parser.parse_args()
    rows = bench_render(args.repeat)
    rows += asyncio.run(bench_history(args.sensors, args.days, not args.no_year))
    print("| measure | result | floor / detail |")
    print("|---|---|---|")
    for name, value, floor in rows:
        print(f"| {name} | {value} | {floor} |")


if __name__ == "__main__":
    main()
