"""help and whoami: what the hub can do, and who it thinks you are."""

from __future__ import annotations

import difflib
from collections.abc import AsyncIterator

from chatops.auth import fold
from chatops.command import CommandError, CommandSpec, Context, command, shown_usage
from chatops.config import DeviceType
from chatops.device_settings import type_word
from chatops.i18n import _, current_language, translator
from chatops.message import Reply


@command("help", aliases=["?"], french=["aide"])
async def help_(ctx: Context, name: str | None = None) -> AsyncIterator[str | Reply]:
    """List the commands you may use, or show how to use one."""
    if name:
        yield _about(ctx, name)
        return
    prefix = ctx.prefix                          # shown only where it is needed: rooms and channels
    usable = _usable(ctx)
    names = ", ".join(_names(usable))
    if not ctx.address.direct:
        # A room reads everything said there, and a paced network (IRC: a line a second) would
        # hold everyone's answers behind 30 lines: the names in one line, the rest in private.
        yield _("Commands: {names}. {prefix}help NAME tells how to use one; help in a direct chat lists "
                "them all with their use.").format(names=names, prefix=prefix)
        return
    if ctx.messages_cost:
        # 36 lines are 20 SMS, cut to the first few commands: the names, and help NAME for the rest.
        yield _("Commands: {names}. help NAME tells how to use one.").format(names=names)
        return
    # In another language than English, the command's other words (`acquitter` for ack) are what
    # its speakers look for: listed on each line, as `help NAME` lists them.
    also = current_language() != "en"
    lines = [_line(s, prefix, with_aliases=also) for s in usable]
    if ctx.may("switch") and ctx.user:
        lines.append(_("{prefix}DEVICE on|off — Shorthand for switch (e.g. {prefix}chauffage on).").format(prefix=prefix))
    # Longer than one answer may be (plugins add lines, French adds each command's other words):
    # in several answers, cut between lines, rather than one cut short. Low priority: on a paced
    # network (IRC, a line a second) 36 lines of help must not hold up the channels' answers.
    part = _("Commands:")
    for line in lines:
        if len(part) + 1 + len(line) > ctx.hub.router.max_reply:
            yield Reply(part, low_priority=True)
            part = line
        else:
            part += "\n" + line
    yield Reply(part, low_priority=True)


def _about(ctx: Context, name: str) -> str:
    """`help NAME`: a command's usage and help, or what a device is and takes."""
    prefix = ctx.prefix
    spec = ctx.hub.commands.find(name.lstrip(ctx.hub.settings.hub.prefix))
    if spec is not None:
        line = _line(spec, prefix, with_aliases=True)
        if not ctx.may_use(spec.name):            # said, rather than a guest trying it to learn so
            line += " " + _("(not for you: it needs the {permission} permission)").format(permission=spec.permission)
        return line
    device = ctx.home.find(name) if ctx.may_use("read") else None     # no name to whoever may not read
    if device is None:
        close = difflib.get_close_matches(fold(name), ctx.hub.commands.words, n=1, cutoff=0.8)
        meant = ctx.hub.commands.find(close[0]) if close else None
        if meant is not None:               # `help swich`, as a line `swich heater on` is answered
            raise CommandError(_("No command {name!r}. Did you mean {prefix}help {command}?").format(
                name=name, prefix=prefix, command=ctx.hub.commands.written(close[0])))  # the word it is close to, as written
        raise CommandError(_("No command {name!r}. Say {prefix}help for the list.").format(name=name, prefix=prefix))
    if device.type is DeviceType.CAMERA:     # `read entree` refuses a camera: not what help points to
        return _("{label} is a camera; try snap {name}.").format(label=device.label, name=name)
    # `help chauffage`: the shorthand the listing mentions
    said = _("{name} is a {kind}: {prefix}read {name} shows it.").format(
        name=name, kind=type_word(device.type), prefix=prefix)
    if getattr(device, "switchable", False):
        said += " " + _("Switch it with {prefix}{name} on or {prefix}{name} off.").format(name=name, prefix=prefix)
    if takes := device.takes():                   # `thermostat 21°`, `volet 30%`: what the value may be
        said += " " + takes + " " + _("Set it with {prefix}{name} VALUE.").format(name=name, prefix=prefix)
    return said


# Named so that no plugin has its name: a plugin's `hello` (the first plugin people write) takes
# that word from this command's aliases instead of stopping the hub (chatops.command.CommandSet).
@command("greeting", aliases=["hello", "hi", "hey"], french=["bonjour", "bonsoir", "salut", "coucou"],
         permission="help", usage="hello", hidden=True)
async def greeting(ctx: Context, _words: str | None = None) -> str:
    """Say hello; the hub answers with where to start.

    A first message is often `bonjour`, which would otherwise be an unknown command, or a
    did-you-mean of a device whose name sounds like it (`séjour`)."""
    if ctx.user is None:
        return _("Hello! Say {prefix}help for what I can do.").format(prefix=ctx.prefix)
    return _("Hello {name}! Say {prefix}help for what I can do.").format(name=ctx.user.name, prefix=ctx.prefix)


# `who am i`, `qui suis-je`: the question as people ask it, answered whatever follows the word.
@command("whoami", aliases=["who"], french=["moi", "qui"], usage="whoami")
async def whoami(ctx: Context, _words: str | None = None) -> str:
    """Show how the hub identifies you and what you may do."""
    shared_by = ctx.hub.auth.shared_by(ctx.sender) if ctx.user is None else ()
    who = ctx.user.name if ctx.user else _("an unknown sender") if len(shared_by) < 2 else \
        _("taken for none of [users] {names}: each of them takes you; give each person patterns of their "
          "own").format(names=", ".join(shared_by))
    # The commands, as help lists them: a permission word (`read`) also grants commands of
    # other names (a plugin's, `devices`), and a guest reads commands, not [roles].
    grants = _("everything") if "*" in ctx.grants else ", ".join(sorted(_names(_usable(ctx)))) or _("nothing")
    return _("You are {sender} ({who}); you may use: {grants}.").format(sender=ctx.sender, who=who, grants=grants)


def _usable(ctx: Context) -> list[CommandSpec]:
    """The commands the sender may run, in the language they are answered in."""
    return [s for s in ctx.hub.commands.specs if not s.hidden and ctx.may(s.permission)
            and not (s.needs_user and ctx.user is None) and s.spoken_in in (None, current_language())]


def _names(specs: list[CommandSpec]) -> list[str]:
    """Each command's word as its usage shows it (`aide` in French), once."""
    return list(dict.fromkeys(shown_usage(s.usage).split(" ", 1)[0] for s in specs))


def _line(spec: CommandSpec, prefix: str, with_aliases: bool) -> str:
    """`usage — help (also: aliases)`: one command as `help` shows it."""
    usage = shown_usage(spec.usage)
    others = [alias for alias in spec.offered_to(current_language())[1:]     # French words to French speakers
              if alias != usage.split(" ", 1)[0]]                                # `éteins` is shown first
    aliases = " " + _("(also: {names})").format(names=", ".join(others)) if with_aliases and others else ""
    return f"{prefix}{usage} — {_help(spec)}{aliases}"


def _help(spec: CommandSpec) -> str:
    """A command's help line in the reader's language: from the hub's catalogue, or from its
    plugin's own (chatops.i18n.translator)."""
    return translator(spec.func.__module__)(spec.help)
