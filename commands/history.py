"""history and graph: how a device did over the last day or week, in words or as a chart."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from chatops.cameras import ImageFolder
from chatops.auth import fold
from chatops.command import CommandError, Context, command
from chatops.i18n import N_, _, format_count, format_number, ngettext
from chatops.config import DeviceType
from chatops.device_settings import ON_OFF_TYPES
from chatops.durations import format_duration, trailing_duration
from chatops.graph import Series, render
from chatops.history import period_range
from chatops.device_kinds import DeviceKind
from chatops.home import Device, format_value
from chatops.message import Attachment, Reply
from chatops.sim_past import simulated_note, simulated_until

DEFAULT_PERIOD = 86400.0
GRAPH_POINTS = 1440                       # one point a minute over a day
GRAPH_SIZE = (800, 400)
WITH_HISTORY = DeviceKind(lambda device: device.type is not DeviceType.CAMERA, N_("Devices with history"))


def _period(hub: Any, words: list[str]) -> tuple[list[str], float, str]:
    """Split `words` into device words and a trailing period (24h when absent), with its label."""
    if words and hub.home.find(" ".join(words)) is None:
        found = trailing_duration(words)
        if found is None:
            if re.fullmatch(r"\d+(\.\d+)?[a-z]+", words[-1].lower()) and hub.home.find(words[-1]) is None:
                raise CommandError(_('{words!r} is not a period; write e.g. 1h, 24h, 7d or 30d.').format(
                    words=words[-1])) from None
            return words, DEFAULT_PERIOD, "24h"
        seconds, taken = found
        typed = words[-1].lower()
        # `24h`, `36h` as typed (not `1d12h`); anything else as the hub writes durations, in the
        # asker's language (`7d` typed in French is answered `7j`, as its other answers say)
        label = typed if taken == 1 and re.fullmatch(r"\d+h", typed) else format_duration(seconds)
        shortest, longest = period_range(hub.settings.history)
        if not shortest <= seconds <= longest:
            raise CommandError(_('The period must be between 1m and {duration}, not {words}.').format(
                duration=format_duration(longest), words=label))
        return words[:-taken], seconds, label
    return words, DEFAULT_PERIOD, "24h"


def _devices(hub: Any, words: list[str]) -> list[Device]:
    """Device names in `words`, the longest that match first ("living room chambre" is two)."""
    found: list[Device] = []
    i = 0
    while i < len(words):
        if len(found) and fold(words[i]) in ("et", "and", "&"):      # `graph salon et chambre`
            i += 1
            continue
        for j in range(len(words), i, -1):
            device = hub.home.find(" ".join(words[i:j]))
            if device is not None:
                break
        else:
            raise CommandError(hub.home.unknown(words[i], WITH_HISTORY))
        if device.type is DeviceType.CAMERA:
            raise CommandError(_('{label} is a camera; it has pictures, not history (snap {name}).').format(
                label=device.label, name=device.name))
        if device not in found:
            found.append(device)
        i = j
    return found


def _words_problem(hub: Any, args: list[str]) -> str | None:
    """What `history`/`graph` would answer about their words (a device, a period), reading
    nothing: a timer or automation that runs them is refused when it is set, not at 06:30."""
    try:
        names, _seconds, _span = _period(hub, list(args))
        _devices(hub, names)
    except CommandError as exc:
        return str(exc)
    return None


def _history_on(ctx: Context) -> None:
    if not ctx.hub.history.enabled:
        raise CommandError(_("History is off ([history] enabled = false in config.toml)."))


def _unstored(ctx: Context) -> str:
    """What history lacks while storage fails: the newest readings wait in memory, and neither
    `history` nor `graph` reads them, so the answer says so rather than look complete."""
    waiting = ctx.hub.history.waiting
    if ctx.hub.history.failing is None or not waiting:
        return ""
    return " " + ngettext("({count} newer reading waits in memory, not shown: the hub's storage is failing.)",
                          "({count} newer readings wait in memory, not shown: the hub's storage is failing.)",
                          waiting).format(count=format_count(waiting))


def _on_share(points: list[tuple[float, float]], until: float) -> float:
    """Time-weighted share of `on` for an on/off series (each state holds until the next reading)."""
    if not points:
        return 0.0
    total = until - points[0][0]
    on = sum((nxt - t) for (t, v), (nxt, _) in zip(points, [*points[1:], (until, 0.0)]) if v >= 0.5)
    return on / total if total > 0 else float(points[-1][1] >= 0.5)


@command("history", aliases=["stats"], french=["historique"], usage="history DEVICE [24h|7d]", precheck=_words_problem)
async def history(ctx: Context, *words: str) -> str:
    """Min, average and max of a device over a period, and its last value."""
    _history_on(ctx)
    names, period, span = _period(ctx.hub, list(words))
    if not names:
        raise CommandError(_("Which device?") + ctx.usage())
    (device, *others) = _devices(ctx.hub, names)
    if others:
        raise CommandError(_("One device at a time for history; graph takes several."))
    until = ctx.hub.clock.time()
    since = until - period
    summary = await ctx.hub.history.summary(device.name, since, until)
    if summary is None:
        return _('No readings of {label} in the last {span}.').format(label=device.label, span=span) + _unstored(ctx)
    count = ngettext("{count} reading", "{count} readings", summary.count).format(count=format_count(summary.count))
    if note := simulated_note(await simulated_until(ctx.hub, [device.name]), since, ctx.hub.timers.tz):
        count = _("{count}; {note}").format(count=count, note=note)
    if device.type in ON_OFF_TYPES:
        points = [(p.at, p.avg) for p in await ctx.hub.history.series(device.name, since, until, 2000)]
        share = f"{format_number(_on_share(points, until) * 100, 0)} %"
        return (_('{label}, last {span}: {on} {share} of the time; last {value} ({count})').format(
            label=device.label, span=span, on=device.value_text(True).lower(), share=share,
            value=device.value_text(summary.last >= 0.5), count=count) + _unstored(ctx))
    unit = device.unit or ("%" if device.type is DeviceType.COVER else "")
    return (_('{label}, last {span}: min {min}, avg {avg}, max {max}; last {last} ({count})').format(
        label=device.label, span=span, min=format_value(summary.min, unit), avg=format_value(summary.avg, unit),
        max=format_value(summary.max, unit), last=format_value(summary.last, unit), count=count) + _unstored(ctx))


@command("graph", aliases=["chart"], french=["courbe", "graphe", "graphique"], usage="graph DEVICE [DEVICE...] [24h|7d]",
         precheck=_words_problem)
async def graph(ctx: Context, *words: str) -> Reply:
    """A chart of one or more devices over a period (24h unless you say 7d, 1h...)."""
    _history_on(ctx)
    names, period, span = _period(ctx.hub, list(words))
    if not names:
        raise CommandError(_("Which device?") + ctx.usage())
    devices = _devices(ctx.hub, names)
    until = ctx.hub.clock.time()
    since = until - period
    series = []
    for device in devices:
        points = await ctx.hub.history.series(device.name, since, until, GRAPH_POINTS)
        boolean = device.type in ON_OFF_TYPES
        series.append(Series(device.label, device.unit, [(p.at, p.avg) for p in points], boolean))
    if not any(s.points for s in series):
        raise CommandError(_('No readings of {names} in the last {span} yet.').format(
            names=', '.join(d.label for d in devices), span=span) + _unstored(ctx))
    title = _("{labels} — last {span}").format(labels=", ".join(d.label for d in devices), span=span)
    if note := simulated_note(await simulated_until(ctx.hub, [d.name for d in devices]), since, ctx.hub.timers.tz):
        title += f" ({note})"
    width, height = GRAPH_SIZE
    try:
        chart = await asyncio.to_thread(render, series, since, until, width=width, height=height, title=title,
                                          tz=ctx.hub.timers.tz)
    except ValueError as exc:                               # three units on one chart
        raise CommandError(_('{exc}; draw them in two graphs.').format(exc=exc)) from None
    folder = ImageFolder(ctx.hub.settings.data_dir / "graphs", keep_files=200, keep_bytes=64 * 1048576)
    stem = "-".join(d.name for d in devices)[:60]
    path = await asyncio.to_thread(folder.save, stem, chart.png, ".png")
    web = ctx.hub.web
    url = web.links.publish(path, "image/png") if web is not None else None
    count = ngettext("{count} point", "{count} points", chart.points).format(count=format_count(chart.points))
    return Reply(_("{title}: {count}").format(title=title, count=count) + _unstored(ctx),
                 (Attachment(path, "image/png", url, name=path.name),))
