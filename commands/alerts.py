"""alerts, ack and mute: what is going on, I've got it, be quiet for a while."""

from __future__ import annotations

import time

from chatops.command import CommandError, Context, command
from chatops.durations import format_duration, parse_duration

MAX_MUTE = 30 * 86400.0


@command("alerts", aliases=["alertes", "alarms"])
async def alerts(ctx: Context) -> str:
    """Active alerts with their id, age, who was told and who acknowledged."""
    active = await ctx.hub.alerts.active()
    if not active:
        return "No active alerts."
    now = time.time()
    lines = []
    for a in active:
        acked = f"acknowledged by {a['acked_by']}" if a["acked_by"] else "NOT acknowledged"
        told = ", ".join(a["told"]) or "nobody yet"
        pending = f", {a['pending']} pending" if a["pending"] else ""
        number = f"#{a['id']}" if a["id"] is not None else "(NOT STORED: storage is failing)"
        lines.append(f"{number} [{a['severity']}] {a['message']} — {format_duration(now - a['raised_at'])} ago, "
                     f"{acked}; told: {told}{pending}")
    return "\n".join(lines)


@command("ack", aliases=["acquitter", "ok"], usage="ack [ID]", unmetered=True)
async def ack(ctx: Context, alert_id: str | None = None) -> str:
    """Acknowledge an alert (the latest when no id): repeats stop, the others are told."""
    number = None
    if alert_id is not None:
        digits = alert_id.lstrip("#")
        if not digits.isdigit() or len(digits) > 12:
            raise CommandError(f"{alert_id[:20]!r} is not an alert id; say ack or ack 12.")
        number = int(digits)
    acked_id, rule = await ctx.hub.alerts.ack(number, ctx.who, ctx.user.name if ctx.user else None)
    return f"Alert #{acked_id} ({rule}) acknowledged; reminders stopped."


@command("mute", usage="mute RULE DURATION", needs_user=True)
async def mute(ctx: Context, rule: str, duration: str) -> str:
    """Silence an alert rule for a while (e.g. mute smoke 30m; 0 to unmute)."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    if seconds > MAX_MUTE:
        raise CommandError(f"A mute lasts at most {format_duration(MAX_MUTE)}; edit config.toml to drop a rule.")
    await ctx.hub.alerts.mute(rule, seconds, ctx.who)
    if seconds == 0:
        return f"Alert rule {rule} unmuted."
    return f"Alert rule {rule} muted for {format_duration(seconds)}."
