"""Timers and schedules from chat (in, at, every, cron, timers, cancel, pause, resume) and the
automations of config.toml (automations, enable, disable)."""

from __future__ import annotations

from chatops.command import CommandError, Context, command
from chatops.durations import format_duration
from chatops.schedule import FORMS, ScheduleError, local_time, parse_plan
from chatops.timers import ACTIVE, CANCELLED, PAUSED, Timer, line_problem

SCHEDULING = ("in", "at", "every", "cron")


def _line(words: list[str]) -> str:
    """The command words as one line again (a word holding spaces keeps its quotes)."""
    return " ".join(f'"{w}"' if " " in w else w for w in words)


async def _schedule(ctx: Context, verb: str, words: tuple[str, ...]) -> str:
    """Parse the schedule, check the command as its author now, and store the timer."""
    timers = ctx.hub.timers
    now = ctx.hub.clock.time()
    try:
        plan = parse_plan(verb, list(words), now, timers.tz)
    except ScheduleError as exc:
        raise CommandError(f"{str(exc)[0].upper()}{str(exc)[1:]}. Forms: {FORMS}.") from None
    if not plan.rest:
        raise CommandError(f"{verb} {' '.join(words)}: then what? Add the command, e.g. {ctx.prefix}{verb} "
                           f"{' '.join(words)} chauffage on")
    line = _line(plan.rest)
    spec = ctx.hub.router.resolve(line)
    if spec is not None and spec.name in SCHEDULING:
        raise CommandError("A timer cannot set timers; write the schedule once.")
    problem = line_problem(ctx.hub, ctx.user, line, sender=str(ctx.sender))
    if problem:
        raise CommandError(f"Not scheduled: {problem}")
    assert ctx.user is not None                 # needs_user
    timer_id = await timers.add(ctx.user.name, ctx.address, line, plan.recurrence, plan.first)
    repeat = "" if plan.recurrence.kind == "once" else f", {plan.recurrence.label}"
    return (f"Timer #{timer_id}: {line} at {local_time(plan.first, timers.tz, now)} "
            f"(in {format_duration(plan.first - now)}){repeat}.")


@command("in", permission="schedule", needs_user=True, usage="in DURATION COMMAND")
async def in_(ctx: Context, *words: str) -> str:
    """Run a command once after a delay: in 10m snap entree."""
    return await _schedule(ctx, "in", words)


@command("at", permission="schedule", needs_user=True, usage="at [YYYY-MM-DD] HH:MM COMMAND")
async def at(ctx: Context, *words: str) -> str:
    """Run a command once at a time of day or a date: at 06:30 chauffage on."""
    return await _schedule(ctx, "at", words)


@command("every", permission="schedule", needs_user=True,
         usage="every day|weekday|weekend|monday,friday at HH:MM COMMAND | every DURATION COMMAND")
async def every(ctx: Context, *words: str) -> str:
    """Run a command on a schedule: every weekday at 06:30 chauffage on, every 15m read salon."""
    return await _schedule(ctx, "every", words)


@command("cron", permission="schedule", needs_user=True, usage='cron "MIN HOUR DAY MONTH WEEKDAY" COMMAND')
async def cron(ctx: Context, *words: str) -> str:
    """Run a command on a cron schedule: cron "30 6 * * 1-5" chauffage on."""
    return await _schedule(ctx, "cron", words)


def _describe(ctx: Context, timer: Timer, now: float) -> str:
    tz = ctx.hub.timers.tz
    when = "paused" if timer.state == PAUSED else \
        local_time(timer.next_run, tz, now) if timer.next_run is not None else "-"
    if timer.kind == "restore":
        back = "ON" if timer.data.get("back") else "OFF"
        what = f"switch {timer.data.get('device')} back {back} (after {timer.command})"
        if timer.data.get("superseded_by"):
            what += f"; switched since by {timer.data['superseded_by']}, will be left"
        return f"#{timer.id} {when} {timer.owner}: {what}"
    return f"#{timer.id} {when} {timer.owner}: {timer.command} ({timer.recurrence.label})"


@command("timers", permission="schedule", usage="timers")
async def timers(ctx: Context) -> str:
    """List the timers: next run, owner, command, repeat."""
    now = ctx.hub.clock.time()
    listed = await ctx.hub.timers.listed()
    if not listed:
        return f"No timers. Set one with e.g. {ctx.prefix}in 10m snap entree or {ctx.prefix}every day at 06:30 " \
               "chauffage on."
    return "\n".join(_describe(ctx, t, now) for t in listed)


async def _own_timer(ctx: Context, ident: str) -> Timer:
    try:
        timer_id = int(ident.lstrip("#"))
    except ValueError:
        raise CommandError(f"{ident!r} is not a timer number; {ctx.prefix}timers lists them.") from None
    timer = await ctx.hub.timers.get(timer_id)
    if timer is None or timer.kind == "automation" or timer.state not in (ACTIVE, PAUSED):
        raise CommandError(f"No timer #{timer_id}; {ctx.prefix}timers lists them.")
    if ctx.user is None or (timer.owner != ctx.user.name and not ctx.may("*")):
        raise CommandError(f"Timer #{timer_id} is {timer.owner}'s; only they (or an admin) can change it.")
    return timer


@command("cancel", permission="schedule", needs_user=True, usage="cancel ID")
async def cancel(ctx: Context, ident: str) -> str:
    """Cancel a timer for good."""
    timer = await _own_timer(ctx, ident)
    await ctx.hub.timers.set_state(timer.id, CANCELLED)
    return f"Timer #{timer.id} cancelled ({timer.command})."


@command("pause", permission="schedule", needs_user=True, usage="pause ID")
async def pause(ctx: Context, ident: str) -> str:
    """Pause a timer; resume ID starts it again."""
    timer = await _own_timer(ctx, ident)
    if timer.state == PAUSED:
        return f"Timer #{timer.id} is already paused."
    await ctx.hub.timers.set_state(timer.id, PAUSED)
    return f"Timer #{timer.id} paused ({timer.command}); {ctx.prefix}resume {timer.id} starts it again."


@command("resume", permission="schedule", needs_user=True, usage="resume ID")
async def resume(ctx: Context, ident: str) -> str:
    """Resume a paused timer."""
    timer = await _own_timer(ctx, ident)
    if timer.state == ACTIVE:
        return f"Timer #{timer.id} is not paused."
    hub_timers = ctx.hub.timers
    when = hub_timers.resume_at(timer)
    await hub_timers.set_state(timer.id, ACTIVE, when)
    now = ctx.hub.clock.time()
    return f"Timer #{timer.id} resumed: {timer.command} at {local_time(when or now, hub_timers.tz, now)}."


@command("automations", usage="automations")
async def automations(ctx: Context) -> str:
    """List the automations with their last and next run."""
    lines = await ctx.hub.automations.describe()
    return "\n".join(lines) or "No automations; add [[automations]] to config.toml."


async def _toggle(ctx: Context, name: str, enabled: bool) -> str:
    auto = await ctx.hub.automations.set_enabled(name, enabled)
    if auto is None:
        known = ", ".join(ctx.hub.automations.by_name) or "none"
        raise CommandError(f"No automation called {name!r}; automations: {known}.")
    if enabled and auto.stopped:
        return f"Automation {auto.name!r} cannot run: {auto.stopped}."
    return f"Automation {auto.name!r} {'enabled' if enabled else 'disabled'}."


@command("enable", permission="automations", needs_user=True, usage="enable NAME")
async def enable(ctx: Context, name: str) -> str:
    """Enable an automation (also one the loop guard stopped)."""
    return await _toggle(ctx, name, True)


@command("disable", permission="automations", needs_user=True, usage="disable NAME")
async def disable(ctx: Context, name: str) -> str:
    """Disable an automation until enable NAME (kept across restarts)."""
    return await _toggle(ctx, name, False)
