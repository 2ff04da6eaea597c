"""Commands are typed async functions marked with @command; this module holds their metadata.

The decorator stores one frozen `CommandSpec` on the function; a `CommandSet` collects the
specs of the modules the hub loads. Nothing is registered globally.
"""

from __future__ import annotations

import functools
import importlib
import logging
import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from enum import Enum
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .auth import User, fold
from .durations import parse_duration
from .entry_points import entry_points
from .i18n import N_, _
from .message import Address, Identity, Message, Reply
from .plugins import Plugin

if TYPE_CHECKING:
    from .hub import Hub

BUILTIN_COMMAND_MODULES = ("commands.help", "commands.devices", "commands.controls", "commands.alerts",
                           "commands.admin", "commands.camera", "commands.history", "commands.timers")
SPEC_ATTRIBUTE = "__chatops_command__"
log = logging.getLogger(__name__)


class Shorthand(Enum):
    """How a line that starts with a device name maps onto a command."""

    DEVICE = "device"              # "salon" alone: the command with the device as its argument
    DEVICE_STATE = "device-state"  # "chauffage on [for 2h]": the command with the device, then the rest
    DEVICE_VALUE = "device-value"  # "lampe 40%", "volet close": the command with the device and the value


class CommandError(Exception):
    """An error the user should read verbatim (wrong device name, nothing to acknowledge...)."""


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str
    kind: type | tuple[str, ...]       # a type to convert to, or the allowed words
    optional: bool
    rest: bool                         # *args: takes every remaining word


class DURATION:
    """The kind of a `Duration` argument (`in 5m`): converted with parse_duration, to seconds."""


@dataclass(frozen=True, slots=True)
class CommandSpec:
    name: str
    func: Callable[..., Awaitable[Any]]
    aliases: tuple[str, ...]
    permission: str
    usage: str
    help: str
    parameters: tuple[Parameter, ...]
    hidden: bool = False
    needs_user: bool = False
    unmetered: bool = False            # never costs the sender's rate-limit bucket (`ack`)
    shorthand: Shorthand | None = None  # the router runs "DEVICE on" / "DEVICE" as this command
    precheck: Callable[[Any, list[str]], str | None] | None = None   # (hub, args): a problem, before a timer is set
    also_needs: Callable[[list[str]], str | None] | None = None      # (args): a command whose access rule applies too
    spoken_in: str | None = None       # a verb of one language (`allume`): listed by help to its speakers only
    overtakes: Callable[[list[str]], bool] | None = None   # (args): answered ahead of a line still being handled
    french: tuple[str, ...] = ()       # the aliases that are French words (`ouvre`), also in `aliases`
    # (fixed parameters, whether one takes the rest, index of the first text one): what binding
    # the words asks of the parameters, worked out once (chatops.router.bind, on every line).
    shape: tuple[int, bool, int | None] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        fixed = [p for p in self.parameters if not p.rest]
        first_text = next((i for i, p in enumerate(fixed) if p.kind is str), None)
        object.__setattr__(self, "shape", (len(fixed), len(fixed) < len(self.parameters), first_text))

    def offered_to(self, language: str) -> tuple[str, ...]:
        """The name and aliases a did-you-mean or `help` offers a speaker of `language`: every
        word works for everyone, but an English speaker offered `lever` for `lower` would raise
        the thermostat they meant to lower."""
        if self.spoken_in not in (None, language):
            return ()
        others = tuple(w for w in self.aliases if w not in self.french)
        return (self.name, *self.french, *others) if language == "fr" else (self.name, *others)


@dataclass(slots=True)
class Context:
    """What a handler gets: who asked, from where, and the hub's services."""

    message: Message
    user: User | None
    hub: Hub
    spec: CommandSpec
    grants: frozenset[str] = field(default_factory=frozenset)
    word: str = ""            # the command word as written (an alias: `dans` for `in`), to echo a phrasing back

    @property
    def sender(self) -> Identity:
        return self.message.sender

    @property
    def address(self) -> Address:
        return self.message.address

    @property
    def home(self) -> Any:
        return self.hub.home

    @property
    def who(self) -> str:
        """A short name for the sender, for messages others read."""
        if self.user:
            return self.user.name
        return self.sender.display or str(self.sender)

    @property
    def prefix(self) -> str:
        """The command prefix as this conversation needs it: none in a direct chat, where
        every line is for the hub, the configured one (`!`) in a room or channel."""
        return "" if self.address.direct else self.hub.settings.hub.prefix

    @property
    def messages_cost(self) -> bool:
        """Whether each message costs the asker (SMS): a long answer is then cut to one, so a
        handler gives the short form of what it has to say (the network's `cut_long_text`)."""
        adapter = self.hub.adapters.get(self.address.adapter)
        return adapter is not None and adapter.capabilities.cut_long_text

    def usage(self) -> str:
        """" Usage: …" for an answer that refuses the arguments, with the command word as typed
        (`historique APPAREIL`, not `history DEVICE`, for a French asker)."""
        typed = self.hub.router.alias_typed(self.spec, self.word)
        return " " + _("Usage: {usage}").format(usage=self.prefix + shown_usage(self.spec.usage, typed))

    def may(self, permission: str) -> bool:
        return "*" in self.grants or permission in self.grants

    def may_use(self, command: str) -> bool:
        """Whether this sender may use the command named `command`: the router's one access rule,
        asked without spending a rate token. A command that would show what another guards (a
        device's value or name: `read`'s) asks it, so that no command is a side door."""
        return self.hub.router.refusal(self.user, command, str(self.sender)) is None

    @property
    def plugin(self) -> Plugin:
        """The command's plugin: its `[plugins.NAME]` settings and its own storage."""
        return self.hub.plugin_of(self.spec)


def command(name: str, *, aliases: list[str] | tuple[str, ...] = (), permission: str | None = None,
            usage: str | None = None, hidden: bool = False, needs_user: bool = False,
            unmetered: bool = False, shorthand: Shorthand | None = None,
            precheck: Callable[[Any, list[str]], str | None] | None = None,
            also_needs: Callable[[list[str]], str | None] | None = None, spoken_in: str | None = None,
            overtakes: Callable[[list[str]], bool] | None = None, french: list[str] | tuple[str, ...] = (),
            ) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[Any]]]:
    """Mark `func(ctx, ...)` as the command `name`; usage and help come from its signature and docstring.

    `needs_user=True` refuses senders no [users] entry matches, whatever the default role
    grants: device control is never given to strangers by accident. `unmetered=True` keeps the
    command out of the rate limit. `shorthand` lets a line that starts with a device name run
    this command (see `Shorthand`). `precheck(hub, args)` says what is wrong with the arguments
    (an unknown device) without running the command: a timer or automation that would fail when
    it runs is refused when it is set. `also_needs(args)` names another command whose access rule
    these arguments need as well (`switch heater on for 2h` sets a timer: `in`'s), so that
    `chatops check` refuses an automation whose owner could not run it. `spoken_in` marks a
    verb of one language (`allume`, `fr`): it works for everyone, and `help` lists it to those
    who speak it; `french` lists the aliases that are French words, likewise offered (by help and
    did-you-mean) to French speakers only. `overtakes(args)` says the line must not wait behind an earlier line of the
    same conversation still being handled (`volet stop` while `volet close` waits for a silent
    motor): it runs beside it, through the same access path.
    """

    def mark(func: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        if not (inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func)):
            # A plain `def` would run on the event loop, holding up every network while it
            # runs, and its result cannot be awaited: said where it is written, not at each call.
            raise TypeError(f"command {name!r}: {getattr(func, '__qualname__', func)!r} must be `async def` "
                            "(blocking work goes in `await asyncio.to_thread(...)`)")
        parameters = _parameters(func)
        spec = CommandSpec(
            name=name, func=func, aliases=(*aliases, *french), french=tuple(french), permission=permission or name,
            usage=usage or _usage(name, parameters), help=_first_line(func.__doc__),
            parameters=parameters, hidden=hidden, needs_user=needs_user,
            unmetered=unmetered, shorthand=shorthand, precheck=precheck, also_needs=also_needs, spoken_in=spoken_in,
            overtakes=overtakes,
        )
        setattr(func, SPEC_ATTRIBUTE, spec)
        return func

    return mark


def _first_line(doc: str | None) -> str:
    return (inspect.cleandoc(doc).splitlines() or [""])[0] if doc else ""


def _parameters(func: Callable[..., Any]) -> tuple[Parameter, ...]:
    hints = typing.get_type_hints(func, include_extras=True)
    result = []
    for index, (pname, param) in enumerate(inspect.signature(func).parameters.items()):
        if index == 0:
            continue                    # ctx
        hint = hints.get(pname, str)
        optional = param.default is not inspect.Parameter.empty
        args = typing.get_args(hint)
        if type(None) in args:
            hint = next(a for a in args if a is not type(None))
            args = typing.get_args(hint)
        if typing.get_origin(hint) is typing.Annotated:     # `Duration`: "5m", given as seconds
            base, *metadata = typing.get_args(hint)
            hint = DURATION if any(getattr(m, "func", None) is parse_duration for m in metadata) else base
            args = typing.get_args(hint)                    # `Annotated[Literal[...], ...]`: its choices
        kind: type | tuple[str, ...] = tuple(args) if typing.get_origin(hint) is typing.Literal else hint
        if not isinstance(kind, tuple) and kind not in (str, int, float, bool, DURATION):
            # `day: datetime.date` reached the handler as the text typed: said at import instead.
            raise TypeError(f"{getattr(func, '__qualname__', func)!r}: parameter {pname!r} is a {hint!r}; a command "
                            "takes str, int, float, bool, Duration or Literal[...] arguments (convert others in "
                            "the handler from a str)")
        rest = param.kind is inspect.Parameter.VAR_POSITIONAL
        result.append(Parameter(pname, kind, optional or rest, rest))
    return tuple(result)


PLUGIN_GROUP = "chatops.commands"      # the entry-point group of command plugins


# The placeholders of the usage lines, translated when shown (a plugin's own stay as written).
PLACEHOLDERS = (N_("DEVICE"), N_("DURATION"), N_("COMMAND"), N_("CAMERA"), N_("COVER"), N_("LIGHT"),
                N_("PERCENT"), N_("ROOM"), N_("RULE"), N_("VALUE"), N_("NAME"), N_("ID"), N_("DAY"),
                N_("MONTH"), N_("HOUR"), N_("MIN"), N_("WEEKDAY"), N_("YYYY"), N_("DD"), N_("TYPE"))
_PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]*[A-Z]\b")


def shown_usage(usage: str, typed: str = "") -> str:
    """A usage line for its reader: the placeholders (DEVICE, DURATION) in their language; the
    command words and choices (`switch`, `on|off`, `for`) stay, since they are what is typed,
    and the command's own word is the one `typed` when given (`règle APPAREIL VALEUR`)."""
    if typed:
        usage = typed + usage[len(usage.split(" ", 1)[0]):]
    return _PLACEHOLDER.sub(lambda match: _(match.group()), usage)


def _usage(name: str, parameters: tuple[Parameter, ...]) -> str:
    parts = [name]
    for p in parameters:
        label = "|".join(p.kind) if isinstance(p.kind, tuple) else p.name.upper()
        label += "..." if p.rest else ""
        parts.append(f"[{label}]" if p.optional else label)
    return " ".join(parts)


class CommandClash(Exception):
    """Two commands claim one word; start-up stops and names both."""

    def __init__(self, clashes: list[str]) -> None:
        super().__init__("commands clash: " + "; ".join(clashes) + ". Rename or remove one of them.")
        self.clashes = clashes


def _origin(spec: CommandSpec) -> str:
    return f"the command {spec.name!r} of {spec.func.__module__}"


class CommandSet:
    """The commands one hub knows, by folded name and alias."""

    def __init__(self, specs: list[CommandSpec]) -> None:
        # A command's name beats another's alias, and a plugin's word (name or alias) a built-in
        # command's alias, which is dropped (`hello`, a plugin's command, over the built-in
        # greeting's alias): a word the core adds to its aliases must not stop a hub whose plugin
        # already had it. Two names, or two aliases of plugins, on one word still clash.
        def builtin(spec: CommandSpec) -> bool:
            return spec.func.__module__ in BUILTIN_COMMAND_MODULES

        names = {fold(spec.name): spec for spec in specs}
        plugins = {fold(word): spec for spec in specs if not builtin(spec) for word in (spec.name, *spec.aliases)}

        def holder(spec: CommandSpec, alias: str) -> CommandSpec | None:
            """The other command that takes `alias` from `spec`, if any (between two built-in
            commands none: that is the core's own mistake, a clash its tests catch)."""
            other = names.get(fold(alias))
            if (other is None or other is spec) and builtin(spec):
                other = plugins.get(fold(alias))
            return None if other is None or other is spec or (builtin(spec) and builtin(other)) else other

        self.yielded: list[str] = []           # said at start: the alias a plugin's command took
        kept = []
        for spec in specs:
            holders = {a: other for a in spec.aliases if (other := holder(spec, a)) is not None}
            taken = list(holders)
            self.yielded += [f"{a!r} is {_origin(other)}; {_origin(spec)} keeps its other words"
                             for a, other in holders.items()]
            if not taken:
                kept.append(spec)
                continue
            aliases = tuple(a for a in spec.aliases if a not in taken)
            french = tuple(a for a in spec.french if a not in taken)
            said, _sep, rest = spec.usage.partition(" ")
            if fold(said) in map(fold, taken):  # the greeting's `hello`: its usage names another word it keeps
                said = next((a for a in aliases if a not in french), spec.name)
            kept.append(replace(spec, aliases=aliases, french=french, usage=f"{said} {rest}".rstrip()))
        self.specs = sorted(kept, key=lambda s: s.name)
        self._by_word: dict[str, CommandSpec] = {}
        clashes = []
        for spec in self.specs:
            for word in (spec.name, *spec.aliases):
                other = self._by_word.get(fold(word))
                if other is not None and other is not spec:
                    clashes.append(f"{word!r} is both {_origin(other)} and {_origin(spec)}")
                self._by_word[fold(word)] = spec
        if clashes:
            raise CommandClash(clashes)
        self.broken: dict[str, str] = {}
        self.modules: list[ModuleType] = []
        # DEVICE_STATE, then DEVICE_VALUE, then DEVICE: "lampe on" switches, "lampe 40%" sets,
        # and neither reads a device called "lampe on".
        order = (Shorthand.DEVICE_STATE, Shorthand.DEVICE_VALUE, Shorthand.DEVICE)
        self.shorthands = sorted((s for s in self.specs if s.shorthand is not None),
                                 key=lambda s: order.index(s.shorthand))  # type: ignore[arg-type]

    def find(self, word: str) -> CommandSpec | None:
        return self._by_word.get(fold(word))

    @property
    def words(self) -> list[str]:
        return list(self._by_word)

    def offered_to(self, language: str) -> list[str]:
        """The folded command words a speaker of `language` is offered as a did-you-mean
        (CommandSpec.offered_to). Not a hidden command's: a day's name (`lundi`, which only
        explains how to schedule) is no guess for `lunch`."""
        return list(dict.fromkeys(fold(w) for spec in self.specs if not spec.hidden for w in spec.offered_to(language)))

    def written(self, word: str) -> str:
        """A command word (folded, as `words` gives it) as its command writes it, accents and
        all (`eteins`: éteins), for a did-you-mean: the unaccented spellings are there for
        keyboards without accents, not to be shown."""
        spec = self.find(word)
        spellings = [w for w in (spec.name, *spec.aliases) if fold(w) == fold(word)] if spec is not None else []
        return max(spellings, key=lambda w: w != fold(w), default=word)

    @classmethod
    def from_modules(cls, names: tuple[str, ...] = BUILTIN_COMMAND_MODULES) -> CommandSet:
        """Collect the commands of the command modules (see `command_modules`)."""
        modules, broken = command_modules(names)
        specs = [getattr(obj, SPEC_ATTRIBUTE) for module in modules
                 for obj in vars(module).values() if hasattr(obj, SPEC_ATTRIBUTE)]
        commands = cls(list({id(spec): spec for spec in specs}.values()))
        commands.broken = broken
        commands.modules = modules
        return commands


def command_modules(names: tuple[str, ...] = BUILTIN_COMMAND_MODULES) -> tuple[list[ModuleType], dict[str, str]]:
    """The modules of the `chatops.commands` entry points (built-in modules register there too;
    `names` stands in for them when the package metadata is missing), and those that failed to
    import with why: a broken plugin is logged and left out, the hub starts without it."""
    modules, broken = _imported(names)
    return list(modules), dict(broken)


@functools.cache
def _imported(names: tuple[str, ...]) -> tuple[list[ModuleType], dict[str, str]]:
    """Imported once per process: the config, `check` and the hub ask in turn, and a plugin that
    fails would fail, and be logged, each time."""
    found = {path: name for name, path in entry_points(PLUGIN_GROUP)}
    wanted = {**{n: n.rpartition(".")[2] for n in names if n not in found}, **found}
    modules: list[ModuleType] = []
    broken: dict[str, str] = {}
    for path, name in wanted.items():
        try:
            modules.append(importlib.import_module(path.partition(":")[0]))
        except Exception as exc:
            log.error("command plugin %s (%s) cannot be loaded: %s: %s", name, path, type(exc).__name__, exc)
            broken[name] = f"{type(exc).__name__}: {exc}"
    return modules, broken


def as_reply(value: Any, low_priority: bool = False) -> Reply | None:
    """A handler's return value as a Reply (str, Reply or None), marked as an answer to a
    stranger when `low_priority`."""
    if value is None:
        return None
    if isinstance(value, Reply):
        return replace(value, low_priority=True) if low_priority and not value.low_priority else value
    return Reply(str(value), low_priority=low_priority)
