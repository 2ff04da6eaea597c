"""Timers and schedules from chat (in, at, every, cron, timers, cancel, pause, resume) and the
automations of config.toml (automations, enable, disable)."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

from chatops.auth import fold
from chatops.command import CommandError, Context, command
from chatops.i18n import _, mid_sentence
from chatops.durations import format_duration
from chatops.home import format_value
from chatops.schedule import (DAYS, FORMS, FRENCH_DAYS, Recurrence, ScheduleError, local_time, next_day_named,
                              other_words, parse_clock, parse_plan)
from chatops.timers import ACTIVE, CANCELLED, PAUSED, Timer, line_problem

SCHEDULING = ("in", "at", "tomorrow", "every", "cron")
# Each run of a timer answers in the conversation that set it: faster than this is a flood there
# (and in the outbox when that network is down). An automation in config.toml may run faster.
SHORTEST_REPEAT = 60.0
MOST_TIMERS = 50        # per person: a few dozen schedules is a busy house; thousands would be a flood
# What people put before a timer's number: `cancel timer 3`, `annule la minuterie n°3`, `pause #3`.
_TIMER_WORDS = re.compile(r"^(?:(?:the|la) )?(?:timer|minuterie)? ?(?:#|n°|no\.?|nº)? *", re.IGNORECASE)


def _line(words: list[str]) -> str:
    """The command words as one line again (a word holding spaces keeps its quotes)."""
    return " ".join(f'"{w}"' if " " in w else w for w in words)


def _repeat_first(at: str, phrase: list[str], rest: list[str], now: float, tz: Any) -> list[str] | None:
    """`at 06:30 every day chauffage on`: the repeat said after the time it belongs to, as the
    words of `every day at 06:30 chauffage on`; None when `rest` starts no repeat taking a time."""
    for cut in range(min(len(rest) - 1, 6), 1, -1):      # the longest days first: `monday and friday`
        words = [*rest[1:cut], at, *phrase, *rest[cut:]]
        try:
            plan = parse_plan(rest[0], words, now, tz)
        except ScheduleError:
            continue
        if plan.recurrence.kind == "cron" and plan.rest == rest[cut:]:
            return [rest[0], *words]
    return None


async def _schedule(ctx: Context, verb: str, words: tuple[str, ...], said: str = "") -> str:
    """Parse the schedule, check the command as its author now, and store the timer."""
    timers = ctx.hub.timers
    now = ctx.hub.clock.time()
    said = said or ctx.word or verb
    try:
        plan = parse_plan(said, list(words), now, timers.tz)
    except ScheduleError as exc:
        raise CommandError(_("{problem}. Forms: {forms}.").format(
            problem=str(exc)[0].upper() + str(exc)[1:], forms=_(FORMS))) from None
    if plan.recurrence.kind == "every" and (plan.recurrence.every or 0) < SHORTEST_REPEAT:
        raise CommandError(_("A timer repeats at most once a minute (each run answers here): write {prefix}every 1m "
                             "or more; an automation in config.toml may run more often.").format(prefix=ctx.prefix))
    if not plan.rest:
        raise CommandError(_('{verb} {names}: then what? Add the command, e.g. {prefix}{verb} {names} chauffage on').format(
            verb=said, names=_line(list(words)), prefix=ctx.prefix))
    phrase = list(words)[:len(words) - len(plan.rest)]
    if fold(plan.rest[0]) in ("and", "et", "&") and len(plan.rest) > 1:
        # `every day at 7:00 and 19:00 chauffage on`: two times are two timers.
        second = _line([said, *phrase[:-1], plan.rest[1], *plan.rest[2:]])
        raise CommandError(_("A timer has one time: set a second one for {other} ({example}).").format(
            other=plan.rest[1], example=ctx.prefix + second))
    line = _line(plan.rest)
    spec = ctx.hub.router.resolve(line)
    if spec is not None and spec.name in SCHEDULING:
        if verb == "at" and (repeat := _repeat_first(said, phrase, plan.rest, now, timers.tz)) is not None:
            return await _schedule(ctx, "every", tuple(repeat[1:]), repeat[0])     # `at 06:30 every day …`
        raise CommandError(_("A timer cannot set timers; write the schedule once."))
    problem = line_problem(ctx.hub, ctx.user, line, sender=str(ctx.sender))
    if problem:
        # `No device called…` continues the sentence: `Non programmé : aucun appareil…`.
        labels = [d.label for d in ctx.home.devices.values()]
        raise CommandError(_('Not scheduled: {problem}').format(problem=mid_sentence(problem, labels)))
    assert ctx.user is not None                 # needs_user
    owned = [t for t in await timers.listed(("chat",)) if t.owner == ctx.user.name]
    if len(owned) >= MOST_TIMERS:
        raise CommandError(_("You have {count} timers, the most one person may have: cancel one first "
                             "({prefix}timers lists them).").format(count=len(owned), prefix=ctx.prefix))
    try:
        timer_id = await timers.add(ctx.user.name, ctx.address, line, plan.recurrence, plan.first)
    except sqlite3.DatabaseError as exc:
        # A timer only in memory would silently vanish at the next restart: say so instead.
        raise CommandError(_("Cannot store the timer ({why}): it was not set. Free disk space (or make the "
                             "data folder writable) and say it again.").format(why=exc)) from None
    repeat = "" if plan.recurrence.kind == "once" else f", {plan.recurrence.label}"
    answer = _('Timer #{timer_id}: {line} at {when} (in {duration}){repeat}.').format(
        timer_id=timer_id, line=line, when=local_time(plan.first, timers.tz, now), duration=format_duration(round(plan.first - now, 3)), repeat=repeat)
    # The same line said twice (a message sent again, two people agreeing): both run; said, so
    # that the heater is not switched twice every morning without anyone knowing why.
    said = _said_as(ctx, line)
    same = [t.id for t in owned if _said_as(ctx, t.command) == said and fold(t.recurrence.label) ==
            fold(plan.recurrence.label) and t.state == ACTIVE and (plan.recurrence.kind != "once" or abs((t.next_run or 0) - plan.first) < 1)]
    if same:
        answer += " " + _("Timer #{same} does the same already: {prefix}cancel {same} or {prefix}cancel {id} if one "
                          "is enough.").format(same=same[0], id=timer_id, prefix=ctx.prefix)
    return answer + timers.unreachable_note(ctx.address, ctx.user.name)


@command("in", french=other_words("in"), permission="schedule", needs_user=True, usage="in DURATION COMMAND")
async def in_(ctx: Context, *words: str) -> str:
    """Run a command once after a delay: in 10m snap entree (French: dans 10m photo entree)."""
    return await _schedule(ctx, "in", words)


@command("at", french=other_words("at"), permission="schedule", needs_user=True, usage="at [YYYY-MM-DD] HH:MM COMMAND")
async def at(ctx: Context, *words: str) -> str:
    """Run a command once at a time of day or a date: at 06:30 chauffage on (French: à 6h30 allume chauffage)."""
    return await _schedule(ctx, "at", words)


@command("tomorrow", french=other_words("tomorrow"), permission="schedule", needs_user=True,
         usage="tomorrow [at] HH:MM COMMAND")
async def tomorrow(ctx: Context, *words: str) -> str:
    """Run a command once tomorrow at a time of day: tomorrow at 7:00 chauffage on (French: demain à 7h allume chauffage)."""
    return await _schedule(ctx, "tomorrow", words)


@command("every", french=other_words("every"), permission="schedule", needs_user=True,
         usage="every day|weekday|weekend|monday,friday at HH:MM COMMAND | every DURATION COMMAND")
async def every(ctx: Context, *words: str) -> str:
    """Run a command on a schedule: every weekday at 06:30 chauffage on, every 15m read salon (French: tous les jours ouvrés à 6h30, toutes les 15m)."""
    return await _schedule(ctx, "every", words)


# Named `everyday`, `daily` an alias: a plugin's `daily` (a digest, the kind of command plugins
# add) takes that word from it, where a built-in command of that name stopped the hub as a clash.
@command("everyday", aliases=["daily", *DAYS], french=["quotidien", *FRENCH_DAYS], permission="schedule",
         needs_user=True, hidden=True, usage="every DAY at HH:MM COMMAND")
async def day_first(ctx: Context, *words: str) -> str:
    """A schedule said from its day (daily at 06:30 chauffage on: every day at 06:30).

    A day alone (`lundi à 7h allume chauffage`) is once or each week: not guessed, the answer
    gives both ways to say it. It was "Unknown command 'lundi'. Did you mean allume?"."""
    if fold(ctx.word) in ("everyday", "daily", "quotidien"):
        return await _schedule(ctx, "every", ("day", *words), "every")
    rest = list(words[1:] if words and fold(words[0]) in ("at", "a") else words)
    time, command_words = "07:00", rest
    try:
        if rest:
            time, command_words = "{:02d}:{:02d}".format(*parse_clock(rest[0])), rest[1:]
    except ScheduleError:
        pass
    return _("A day alone is no schedule: say {prefix}every {day} at {time} {command} (each week), or {prefix}at "
             "{date} {time} {command} (once).").format(
        prefix=ctx.prefix, day=ctx.word, time=time, command=" ".join(command_words) or "read salon",
        date=next_day_named(ctx.word, ctx.hub.clock.time(), ctx.hub.timers.tz))


@command("cron", permission="schedule", needs_user=True, usage='cron "MIN HOUR DAY MONTH WEEKDAY" COMMAND')
async def cron(ctx: Context, *words: str) -> str:
    """Run a command on a cron schedule: cron "30 6 * * 1-5" chauffage on."""
    return await _schedule(ctx, "cron", words)


def _said_as(ctx: Context, line: str) -> tuple[str, ...]:
    """A command line as it acts, for telling two timers alike: its command's name and its
    words, folded (`Read Salon` and `lire salon` are `read salon`)."""
    words = fold(line).split()
    spec = ctx.hub.commands.find(words[0]) if words else None
    return (spec.name, *words[1:]) if spec is not None else tuple(words)


def _repeat(recurrence: Recurrence) -> str:
    """How a timer repeats, in the reader's language. A schedule phrase (`every weekday at 06:30`,
    `cron "..."`) is shown as it was written: it is the command's own syntax."""
    if recurrence.kind != "once":
        return recurrence.label
    delay = re.fullmatch(r"once, set for in (\S+)", recurrence.label)
    return _("once, set for in {duration}").format(duration=delay.group(1)) if delay else _("once")


def _what(timer: Timer) -> str:
    """What a timer does, as `timers` lists it: a switch-back is not the command that set it."""
    if timer.kind != "restore":
        return timer.command
    return _("switch {device} back {state} (after {command})").format(
        device=timer.data.get("device"), state=format_value(bool(timer.data.get("back"))), command=timer.command)


def _describe(ctx: Context, timer: Timer, now: float) -> str:
    tz = ctx.hub.timers.tz
    when = _("paused") if timer.state == PAUSED else \
        local_time(timer.next_run, tz, now) if timer.next_run is not None else "-"
    if timer.kind == "restore":
        what = _what(timer)
        if timer.data.get("superseded_by"):
            what += _("; switched since by {who}, will be left").format(who=timer.data["superseded_by"])
    else:
        what = f"{timer.command} ({_repeat(timer.recurrence)})"
    # `#12` in English, `n°12` in French, as the hub's other answers write a timer's number.
    return _("{number} {when} {owner}: {what}").format(number=_("#{id}").format(id=timer.id), when=when,
                                                       owner=timer.owner, what=what)


@command("timers", aliases=["timer"], french=["minuteries", "minuterie"], permission="schedule", usage="timers")
async def timers(ctx: Context) -> str:
    """List the timers: next run, owner, command, repeat."""
    now = ctx.hub.clock.time()
    listed = await ctx.hub.timers.listed()
    if not listed:
        return _('No timers. Set one with e.g. {prefix}in 10m snap entree or {prefix}every day at 06:30 chauffage on.').format(
            prefix=ctx.prefix)
    return "\n".join(_describe(ctx, t, now) for t in listed)


async def _own_timer(ctx: Context, ident: str) -> Timer:
    try:
        timer_id = int(_TIMER_WORDS.sub("", ident.strip()))     # `3`, `#3` as timers shows it, `la minuterie n°3`
    except ValueError:
        raise CommandError(_('{ident!r} is not a timer number; {prefix}timers lists them.').format(
            ident=ident, prefix=ctx.prefix)) from None
    if timer_id <= 0:               # `cancel -1`: no number a timer has ("No timer #-1")
        raise CommandError(_('{ident!r} is not a timer number; {prefix}timers lists them.').format(
            ident=ident, prefix=ctx.prefix))
    timer = await ctx.hub.timers.get(timer_id) if timer_id < 2**63 else None     # SQLite's integers
    if timer is None or timer.kind == "automation" or timer.state not in (ACTIVE, PAUSED):
        raise CommandError(_('No timer #{timer_id}; {prefix}timers lists them.').format(
            timer_id=timer_id, prefix=ctx.prefix))
    if ctx.user is None or (timer.owner != ctx.user.name and not ctx.may("*")):
        raise CommandError(_("Timer #{timer_id} is {owner}'s; only they (or an admin) can change it.").format(
            timer_id=timer_id, owner=timer.owner))
    return timer


@command("cancel", french=["annule", "annuler"], permission="schedule", needs_user=True, usage="cancel ID")
async def cancel(ctx: Context, id: str) -> str:  # noqa: A002 (named as in the usage line: cancel ID)
    """Cancel a timer for good."""
    timer = await _own_timer(ctx, id)
    await ctx.hub.timers.set_state(timer.id, CANCELLED)
    if timer.kind == "restore" and not timer.data.get("superseded_by"):
        # What is left is a device that stays as the `for` line put it, which nothing else says.
        device = ctx.home.find(str(timer.data.get("device")))
        now = format_value(device.reading.value) if device is not None and device.reading is not None else \
            _("as it is")
        return _("Timer #{id} cancelled: {device} will not be switched back {state} (after {command}); it stays "
                 "{now}.").format(id=timer.id, device=timer.data.get("device"),
                                  state=format_value(bool(timer.data.get("back"))), command=timer.command, now=now)
    return _('Timer #{id} cancelled ({command}).').format(id=timer.id, command=_what(timer))


@command("pause", permission="schedule", needs_user=True, usage="pause ID")
async def pause(ctx: Context, id: str) -> str:  # noqa: A002 (named as in the usage line: pause ID)
    """Pause a timer; resume ID starts it again."""
    timer = await _own_timer(ctx, id)
    if timer.state == PAUSED:
        return _('Timer #{id} is already paused.').format(id=timer.id)
    await ctx.hub.timers.set_state(timer.id, PAUSED)
    return _('Timer #{id} paused ({command}); {prefix}resume {id} starts it again.').format(
        id=timer.id, command=_what(timer), prefix=ctx.prefix)


@command("resume", french=["reprends", "reprendre"], permission="schedule", needs_user=True, usage="resume ID")
async def resume(ctx: Context, id: str) -> str:  # noqa: A002 (named as in the usage line: resume ID)
    """Resume a paused timer."""
    timer = await _own_timer(ctx, id)
    if timer.state == ACTIVE:
        return _('Timer #{id} is not paused.').format(id=timer.id)
    hub_timers = ctx.hub.timers
    if timer.kind != "restore" and hub_timers.owner_refusal(timer) is not None:
        # Resumed, it would pause again at its next run, after an answer that said "resumed".
        raise CommandError(_("Timer #{id} runs as {owner}, who may no longer set timers (it needs the schedule "
                             "permission): resumed, it would pause again. Give {owner} that permission in "
                             "config.toml, or cancel it.").format(id=timer.id, owner=timer.owner))
    when = hub_timers.resume_at(timer)
    await hub_timers.set_state(timer.id, ACTIVE, when)
    now = ctx.hub.clock.time()
    return _('Timer #{id} resumed: {command} at {when}.').format(
        id=timer.id, command=timer.command, when=local_time(when or now, hub_timers.tz, now))


@command("automations", french=["automatismes"], usage="automations")
async def automations(ctx: Context) -> str:
    """List the automations with their last and next run."""
    lines = await ctx.hub.automations.describe()
    return "\n".join(lines) or _("No automations; add [[automations]] to config.toml.")


def _no_automation(hub: Any, args: list[str]) -> str | None:
    """What `enable|disable NAME` would answer about the name (a timer's check), or None."""
    name = _unquoted(" ".join(args))
    if not args or hub.automations.find(name) is not None:
        return None
    known = ", ".join(hub.automations.by_name) or _("none")
    return _('No automation called {name!r}; automations: {known}.').format(name=name, known=known)


def _unquoted(name: str) -> str:
    """A name in the single quotes answers show it in (`désactive 'hall light'`): double quotes
    group words already; single ones are apostrophes to the parser."""
    return name[1:-1] if len(name) > 2 and name[0] in "'‘’" and name[-1] in "'‘’" else name


async def _toggle(ctx: Context, name: str, enabled: bool) -> str:
    name = _unquoted(name)
    auto = await ctx.hub.automations.set_enabled(name, enabled)
    if auto is None:
        raise CommandError(_no_automation(ctx.hub, [name]) or name)
    if enabled and auto.stopped:
        return _('Automation {name!r} cannot run: {stopped}.').format(name=auto.name, stopped=auto.stopped.rstrip("."))
    return _('Automation {name!r} {value}.').format(name=auto.name, value=_("enabled") if enabled else _("disabled"))


@command("enable", aliases=["active"], french=["activer"], permission="automations", needs_user=True, usage="enable NAME",
         precheck=_no_automation)
async def enable(ctx: Context, name: str) -> str:
    """Enable an automation (also one the loop guard stopped)."""
    return await _toggle(ctx, name, True)


@command("disable", french=["desactive", "désactive", "desactiver", "désactiver"], permission="automations",
         needs_user=True, usage="disable NAME", precheck=_no_automation)
async def disable(ctx: Context, name: str) -> str:
    """Disable an automation until enable NAME (kept across restarts)."""
    return await _toggle(ctx, name, False)
