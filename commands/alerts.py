"""alerts, ack and mute: what is going on, I've got it, be quiet for a while."""

from __future__ import annotations

import re
from typing import Any

from chatops.command import CommandError, Context, command
from chatops.i18n import _
from chatops.mutes import muted_note
from chatops.reminders import shown_rule
from chatops.durations import format_duration, leading_duration
from chatops.schedule import local_time

MAX_MUTE = 30 * 86400.0


@command("alerts", aliases=["alarms"], french=["alertes"])
async def alerts(ctx: Context) -> str:
    """Active alerts with their id, age, who was told and who acknowledged."""
    active = await ctx.hub.alerts.active()
    if not active:
        return _("No active alerts.") + muted_note(ctx.hub)
    now = ctx.hub.clock.time()
    lines = []
    for a in active:
        acked = _("acknowledged by {who}").format(who=a["acked_by"]) if a["acked_by"] else _("NOT acknowledged")
        # "console:*" is everyone on the console: shown as the network's name alone.
        # An alert to a person on a network where names change hands (IRC's `user:owner`) reads `irc:owner`.
        told = ", ".join(address.removesuffix(":*").replace(":user:", ":", 1) for address in a["told"])
        # Given up (a network that refused it for good): said, or "nobody yet" would promise it.
        # The reason is stored in English; one the catalogue knows (N_) is said in the reader's.
        separator = _("; ")                            # French puts a space before it
        missed = separator.join(_("{address} not reached ({why})").format(
            address=address.removesuffix(":*"), why=_(re.sub(r"^refused: (\w+: )?", "", why)))
            for address, why in a.get("given_up", ()))
        told = told or (_("nobody") if missed else _("nobody yet"))
        pending = _(", {count} pending").format(count=a["pending"]) if a["pending"] else ""
        pending += separator + missed if missed else ""
        # The condition is over and the cooldown keeps it open: "NOT acknowledged" alone read as
        # if the smoke were still there.
        rule = ctx.hub.alerts.rules.get(a.get("rule") or "")
        left = rule.quiet_left(ctx.hub.clock.monotonic()) if rule is not None and rule.active_id == a["id"] else None
        if left is not None:
            pending += separator + _("condition over, ends at {when} unless it comes back").format(
                when=local_time(now + left, ctx.hub.timers.tz, now))
        number = f"#{a['id']}" if a["id"] is not None else _("(NOT STORED: storage is failing)")
        lines.append(_("{number} [{severity}] {message} — {age} ago, {acked}; told: {told}{pending}").format(
            number=number, severity=_(a["severity"]), message=a["message"],
            age=format_duration(max(0.0, now - a["raised_at"])),    # raised by a clock ahead, read by one behind
            acked=acked, told=told, pending=pending))
    if note := muted_note(ctx.hub):
        lines.append(note.strip())
    return "\n".join(lines)


@command("ack", aliases=["ok"], french=["acquitter", "acquitte"], usage="ack [ID]", unmetered=True, overtakes=lambda _args: True)
async def ack(ctx: Context, alert_id: str | None = None) -> str:
    """Acknowledge an alert (the latest when no id): repeats stop, the others are told."""
    number = None
    if alert_id is not None:
        digits = alert_id.lstrip("#")
        if not digits.isdigit() or len(digits) > 12:
            raise CommandError(_("{word!r} is not an alert id; say ack or ack 12.").format(word=alert_id[:20]))
        number = int(digits)
    acked_id, rule = await ctx.hub.alerts.ack(number, ctx.who, ctx.user.name if ctx.user else None, ctx.address)
    return _("Alert #{id} ({rule}) acknowledged; reminders stopped.").format(id=acked_id, rule=shown_rule(rule))


def _no_rule(hub: Any, word: str) -> str:
    return _("No alert rule named {rule!r}; rules: {rules}.").format(rule=word, rules=", ".join(hub.alerts.rules) or _("none"))


def _rule_named(hub: Any, word: str) -> str:
    """The alert rule `word` names: its name in any case, or a device only one rule watches by
    any of the device's names (`mute fumée 30m`: the detector's alias, for the rule `smoke`).
    `word` itself when it names none (the caller says which rules there are)."""
    rules = hub.alerts.rules
    if word in rules:
        return word
    named = [name for name in rules if name.casefold() == word.casefold()]
    device = hub.home.find(word) if not named else None
    if device is not None:
        named = [name for name, state in rules.items() if state.rule.device == device.name]
    return named[0] if len(named) == 1 else word


def _mute_seconds(hub: Any, rule: str, words: list[str], usage: str = "") -> float:
    """How long `mute RULE WORDS` mutes; CommandError naming what is wrong (the rule, the duration,
    as a sentence, then `usage`: the usage line, as a wrong duration in `switch` gets)."""
    if rule not in hub.alerts.rules:
        raise CommandError(_no_rule(hub, rule))
    try:
        seconds, taken = leading_duration(words)
        if taken < len(words):
            raise ValueError(_("{words!r} is not a duration").format(words=" ".join(words)[:40]))
    except ValueError as exc:       # `mute smoke 30`: "give a unit: …" from the duration's parser
        said = str(exc)
        raise CommandError(f"{said[:1].upper()}{said[1:]}." + usage) from None
    if seconds > MAX_MUTE:
        raise CommandError(_("A mute lasts at most {most}; edit config.toml to drop a rule.").format(
            most=format_duration(MAX_MUTE)))
    return seconds


def _mute_half(hub: Any, word: str) -> str:
    """What `mute WORD` lacks: the duration after a rule, or the rule before a duration
    (`mute 1h` was told "Missing duration", the one thing it had)."""
    rules = list(hub.alerts.rules)
    if _rule_named(hub, word) in rules:
        return _("For how long? e.g. mute {rule} 30m (mute {rule} 0 unmutes).").format(rule=word)
    try:
        leading_duration([word])
    except ValueError:
        return _no_rule(hub, word)
    return _("Which rule? e.g. mute {rule} {duration}; rules: {rules}.").format(
        rule=rules[0] if rules else "smoke", duration=word, rules=", ".join(rules) or _("none"))


def _mute_problem(hub: Any, args: list[str]) -> str | None:
    """What `mute RULE DURATION` would answer, muting nothing (a timer's check)."""
    if len(args) == 1:
        return _mute_half(hub, args[0])
    try:
        if len(args) >= 2:
            _mute_seconds(hub, _rule_named(hub, args[0]), args[1:])
    except CommandError as exc:
        return str(exc)
    return None


@command("mute", french=["silence", "muet"], usage="mute RULE DURATION", needs_user=True, precheck=_mute_problem)
async def mute(ctx: Context, rule: str, duration: str | None = None, *more: str) -> str:
    """Silence an alert rule for a while (e.g. mute smoke 30m, mute smoke 2 hours; 0 to unmute)."""
    if duration is None:
        raise CommandError(_mute_half(ctx.hub, rule))
    rule = _rule_named(ctx.hub, rule)
    seconds = _mute_seconds(ctx.hub, rule, [duration, *more], ctx.usage())
    await ctx.hub.alerts.mute(rule, seconds, ctx.who)
    if seconds == 0:
        return _("Alert rule {rule} unmuted.").format(rule=rule)
    answer = _("Alert rule {rule} muted for {duration}.").format(rule=rule, duration=format_duration(seconds))
    open_id = ctx.hub.alerts.rules[rule].active_id
    if open_id is not None and ctx.hub.alerts.rules[rule].rule.repeat_every and not any(
            a["id"] == open_id and a["acked_by"] for a in await ctx.hub.alerts.active()):
        # A mute holds back new alerts: the one already open goes on until acknowledged.
        answer += " " + _("Alert #{id}, open before, is not silenced: ack {id} stops its reminders.").format(id=open_id)
    return answer
