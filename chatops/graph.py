"""PNG charts of device history with Pillow: several series, local time axis, units, on/off bands.

Pure CPU work: call `render` through `asyncio.to_thread`. Drawn at twice the size and scaled
down, which gives smooth lines without an anti-aliasing library (no matplotlib on a Pi).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import lru_cache
from typing import Any

from .i18n import N_, _, format_number
from .schedule import WEEKDAYS

SCALE = 2                       # supersampling factor
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")
BACKGROUND, GRID, AXIS, TEXT = "#ffffff", "#e6e9ef", "#8a94a6", "#24364b"
_TIME_STEPS = (60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 2 * 86400, 7 * 86400,
               14 * 86400, 30 * 86400)


@dataclass(frozen=True, slots=True)
class Series:
    """One line (or on/off band) of a chart: (unix time, value) points in time order."""

    label: str
    unit: str
    points: Sequence[tuple[float, float]]
    boolean: bool = False


@dataclass(frozen=True, slots=True)
class Chart:
    """A rendered PNG and what went into it (tests and replies say how many points)."""

    png: bytes
    width: int
    height: int
    points: int


@lru_cache(maxsize=16)
def font(size: int) -> Any:
    """A scalable font: DejaVu when installed (accents, dashes), else Pillow's bundled one."""
    from PIL import ImageFont
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        pass
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                   # Pillow 10.0: bitmap font only
        return ImageFont.load_default()


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values (1, 2, 5 × 10^n steps) covering [low, high]."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(1, count)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + 1e-9 * step:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _local(t: float, tz: tzinfo | None) -> datetime:
    """`t` on the hub's clock face (`[hub] timezone`; the system's when None)."""
    return datetime.fromtimestamp(t, tz) if tz is not None else datetime.fromtimestamp(t).astimezone()


def _offset(t: float, tz: tzinfo | None) -> float:
    offset = _local(t, tz).utcoffset()
    return offset.total_seconds() if offset is not None else 0.0


def time_ticks(since: float, until: float, wanted: int = 7, tz: tzinfo | None = None) -> tuple[list[float], float]:
    """Tick times aligned on local clock boundaries (xx:00, midnight), and the step."""
    span = until - since
    step = next((s for s in _TIME_STEPS if span / s <= wanted), _TIME_STEPS[-1])
    ticks = []
    offset = _offset(since, tz)
    t = math.ceil((since + offset) / step) * step - offset
    while t <= until:
        shift = _offset(t, tz) - offset                  # DST change inside the range
        ticks.append(t - shift)
        t += step
    return ticks, step


MONTHS = (N_("Jan"), N_("Feb"), N_("Mar"), N_("Apr"), N_("May"), N_("Jun"), N_("Jul"), N_("Aug"),
          N_("Sep"), N_("Oct"), N_("Nov"), N_("Dec"))          # not the C locale's, as WEEKDAYS


def _time_label(t: float, step: float, tz: tzinfo | None = None) -> str:
    """`Tue 01 Dec` (a day's tick), `Tue 01` (midnight), `14:00`, in the asker's language."""
    local = _local(t, tz)
    if step >= 86400:
        return f"{_(WEEKDAYS[local.weekday()])} {local.day:02d} {_(MONTHS[local.month - 1])}"
    if local.hour == 0 and local.minute == 0:
        return f"{_(WEEKDAYS[local.weekday()])} {local.day:02d}"
    return local.strftime("%H:%M")


def _format(value: float) -> str:
    """An axis mark: as few digits as tell it apart, with the asker's decimal separator."""
    if value == 0:
        return "0"
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:.0f}"
    if abs(value) < 1:
        return format_number(value, 2).rstrip("0").rstrip(".,")
    return format_number(value)


def _segments(points: Sequence[tuple[float, float]], gap: float) -> list[list[tuple[float, float]]]:
    """Split a series where readings stop for longer than `gap` seconds (no line across an outage)."""
    segments: list[list[tuple[float, float]]] = []
    previous = None
    for t, v in points:
        if previous is None or t - previous > gap:
            segments.append([])
        segments[-1].append((t, v))
        previous = t
    return segments


def _gap(points: Sequence[tuple[float, float]], span: float) -> float:
    if len(points) < 3:
        return span
    steps = sorted(b[0] - a[0] for a, b in zip(points, points[1:]))
    return max(steps[len(steps) // 2] * 4, span / 200)


def render(series: Sequence[Series], since: float, until: float, *, width: int = 800, height: int = 400,
           title: str = "", tz: tzinfo | None = None) -> Chart:
    """Draw `series` between `since` and `until` (unix times) as a PNG of width × height pixels.

    Numeric series share a left axis for the first unit and a right axis for the second; a
    third unit is refused. On/off series become shaded bands along the bottom.
    """
    from PIL import Image, ImageDraw

    lines = [s for s in series if not s.boolean]
    bands = [s for s in series if s.boolean]
    units = list(dict.fromkeys(s.unit for s in lines))
    if len(units) > 2:
        raise ValueError(f"a chart has at most two units, not {len(units)} ({', '.join(u or '-' for u in units)})")
    if until <= since:
        until = since + 1
    k = SCALE
    W, H = width * k, height * k
    image = Image.new("RGB", (W, H), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, normal = font(11 * k), font(13 * k)
    left = 58 * k
    right = W - (58 if len(units) == 2 else 16) * k
    top = (30 if title else 12) * k + 18 * k
    bottom = H - 28 * k
    band_height = 12 * k
    lines_bottom = bottom - (len(bands) * (band_height + 3 * k) + (4 * k if bands else 0))

    if title:
        draw.text((left, 6 * k), title, fill=TEXT, font=normal)
    # Legend, one entry per series, colour-coded.
    x = left
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        label = f"{s.label} ({s.unit})" if s.unit and not s.boolean else s.label
        draw.rectangle((x, top - 14 * k, x + 10 * k, top - 6 * k), fill=colour)
        draw.text((x + 14 * k, top - 17 * k), label, fill=TEXT, font=small)
        x += 14 * k + int(draw.textlength(label, font=small)) + 14 * k

    def x_of(t: float) -> float:
        return left + (t - since) / (until - since) * (right - left)

    # Time grid and labels.
    ticks, step = time_ticks(since, until, tz=tz)
    for t in ticks:
        px = x_of(t)
        draw.line((px, top, px, bottom), fill=GRID, width=k)
        label = _time_label(t, step, tz)
        w = draw.textlength(label, font=small)
        draw.text((max(left, min(right - w, px - w / 2)), bottom + 6 * k), label, fill=AXIS, font=small)
    zone = _local(until, tz).tzname() or ""
    draw.text((right - draw.textlength(zone, font=small), H - 14 * k), zone, fill=AXIS, font=small)

    # Value axes.
    scales: dict[str, tuple[float, float]] = {}
    for side, unit in enumerate(units):
        values = [v for s in lines if s.unit == unit for _, v in s.points]
        low, high = (min(values), max(values)) if values else (0.0, 1.0)
        pad = (high - low) * 0.08 or max(abs(high) * 0.05, 0.5)
        low, high = low - pad, high + pad
        marks = nice_ticks(low, high)
        low, high = min(low, marks[0]), max(high, marks[-1])
        scales[unit] = (low, high)
        for mark in marks:
            py = lines_bottom - (mark - low) / (high - low) * (lines_bottom - top)
            if side == 0:
                draw.line((left, py, right, py), fill=GRID, width=k)
            text = _format(mark)
            w = draw.textlength(text, font=small)
            tx = left - w - 6 * k if side == 0 else right + 6 * k
            draw.text((tx, py - 7 * k), text, fill=AXIS, font=small)
        if unit:
            w = draw.textlength(unit, font=small)
            draw.text((4 * k if side == 0 else W - w - 4 * k, H - 14 * k), unit, fill=AXIS, font=small)
    draw.rectangle((left, top, right, bottom), outline=AXIS, width=k)

    total = 0
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        total += len(s.points)
        if s.boolean:
            row = bands.index(s)
            y1 = bottom - 2 * k - row * (band_height + 3 * k)
            y0 = y1 - band_height
            draw.rectangle((left, y0, right, y1), fill="#f2f4f7")
            points = list(s.points)
            for (t, v), nxt in zip(points, [*points[1:], (until, 0.0)]):
                if v >= 0.5:
                    draw.rectangle((x_of(max(t, since)), y0, x_of(min(nxt[0], until)), y1), fill=colour)
            continue
        low, high = scales[s.unit]

        def y_of(v: float, low: float = low, high: float = high) -> float:
            return lines_bottom - (v - low) / (high - low) * (lines_bottom - top)

        for segment in _segments(s.points, _gap(s.points, until - since)):
            xy = [(x_of(t), y_of(v)) for t, v in segment]
            if len(xy) == 1:
                cx, cy = xy[0]
                draw.ellipse((cx - 2 * k, cy - 2 * k, cx + 2 * k, cy + 2 * k), fill=colour)
            else:
                draw.line(xy, fill=colour, width=2 * k, joint="curve")
    if total == 0:
        message = "no readings in this period"
        w = draw.textlength(message, font=normal)
        draw.text(((left + right - w) / 2, (top + bottom) / 2), message, fill=AXIS, font=normal)

    image = image.resize((width, height), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=False, compress_level=6)
    return Chart(buffer.getvalue(), width, height, total)
