"""From a chat line to replies: is it for us, which command, which arguments, who may, run it.

Every way a line can go wrong ends in a short answer the user can act on (usage line,
did-you-mean, refusal) and, for refusals, an audit entry. A handler's exception becomes an
apology with an incident id; the traceback goes to the log, the adapter lives on.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import logging
import re
import secrets
import shlex
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from .auth import Auth, User, fold
from .command import CommandError, CommandSet, CommandSpec, Context, Parameter, as_reply
from .message import Message, Reply

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 1000
STATE_WORDS = ("on", "off", "toggle")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
AuditFn = Callable[[str, Message, str], None]


class BindError(Exception):
    """Arguments that do not fit the command's parameters."""


def clean_text(text: str) -> str:
    """Text without control characters or bidi overrides, whitespace collapsed to single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


class Router:
    """Parses messages into commands and runs them for one hub."""

    def __init__(self, hub: Hub, commands: CommandSet, auth: Auth, audit: AuditFn,
                 find_device: Callable[[str], Any | None]) -> None:
        self.hub = hub
        self.commands = commands
        self.auth = auth
        self._audit = audit
        self._find_device = find_device
        settings = hub.settings.hub
        self.prefix = settings.prefix
        self.name = settings.name
        self.timeout = settings.handler_timeout
        self.max_reply = settings.max_reply_chars

    def command_text(self, message: Message) -> str | None:
        """The command line inside `message`, or None when the line is not for the hub."""
        text = message.text.strip()
        if text.startswith(self.prefix):
            return text[len(self.prefix):].strip()
        mention = re.match(rf"@?{re.escape(self.name)}\s*[:,]\s*|@{re.escape(self.name)}\s+", text, re.I)
        if mention:
            return text[mention.end():].strip()
        return text if message.addressed else None

    async def replies(self, message: Message, *, as_user: User | None = None) -> AsyncIterator[Reply]:
        """Every reply to `message` (none when it is not for the hub).

        `as_user` runs the line as that configured user whatever the sender (timers and
        automations act as their owner): the same permission, rate limit and audit apply."""
        line = self.command_text(message)
        if line is None:
            return
        if len(line) > MAX_INPUT_CHARS:
            yield Reply(f"That message is {len(line)} characters long; commands are short "
                        f"(at most {MAX_INPUT_CHARS}), e.g. {self.prefix}temp salon")
            return
        words = _split(clean_text(line))
        if not words:
            if message.addressed:
                yield Reply(f"Say {self.prefix}help for the list of commands.")
            return
        spec, args = self._resolve(words)
        if spec is None:
            yield Reply(self._unknown(words[0]))
            return
        user = as_user if as_user is not None else self.auth.user_for(message.sender)
        grants = self.auth.grants_for(user)
        allowed = "*" in grants or spec.permission in grants
        if allowed and spec.needs_user and user is None:
            allowed = False
        if not allowed:
            self._audit("refused", message, f"{spec.name}: not permitted")
            who = "you" if user is None else user.name
            hint = " Ask the hub's owner to add you to [users] in config.toml." if user is None else ""
            yield Reply(f"Sorry, {who} may not use {spec.name}.{hint}")
            return
        # Admins and `ack` are never throttled: nobody may be locked out of silencing an alarm.
        exempt = "*" in grants or spec.name == "ack"
        if not exempt and not self.auth.allow_rate(user.name if user else str(message.sender)):
            self._audit("rate-limited", message, spec.name)
            yield Reply("Too many commands; wait a minute and try again.")
            return
        try:
            bound = bind(spec, args)
        except BindError as exc:
            yield Reply(f"{exc} Usage: {self.prefix}{spec.usage}")
            return
        ctx = Context(message=message, user=user, hub=self.hub, spec=spec, grants=grants)
        async for reply in self._run(ctx, bound):
            yield self._bounded(reply)

    def _resolve(self, words: list[str]) -> tuple[CommandSpec | None, list[str]]:
        spec = self.commands.find(words[0])
        if spec is not None:
            return spec, words[1:]
        # Shorthand: "chauffage on" is "switch chauffage on"; "salon" alone reads it.
        if len(words) >= 2 and self.commands.find("switch"):
            device = self._find_device(" ".join(words[:-1]))
            # "chauffage on" switches; "chauffage blah" gets the switch usage line back.
            if device is not None and (fold(words[-1]) in STATE_WORDS or getattr(device.type, "value", "") == "switch"):
                return self.commands.find("switch"), [" ".join(words[:-1]), words[-1]]
        if self._find_device(" ".join(words)) is not None and self.commands.find("read"):
            return self.commands.find("read"), [" ".join(words)]
        return None, words

    def _unknown(self, word: str) -> str:
        shown = clean_text(word)[:40]
        close = difflib.get_close_matches(fold(word), self.commands.words, n=1, cutoff=0.6)
        spec = self.commands.find(close[0]) if close else None
        if spec is not None:
            return f"Unknown command {shown!r}. Did you mean {self.prefix}{spec.name}?"
        return f"Unknown command {shown!r}. Say {self.prefix}help for the list."

    async def _run(self, ctx: Context, args: list[Any]) -> AsyncIterator[Reply]:
        try:
            async with asyncio.timeout(self.timeout):
                result = ctx.spec.func(ctx, *args)
                if inspect.isasyncgen(result):
                    async for item in result:
                        reply = as_reply(item)
                        if reply:
                            yield reply
                    return
                reply = as_reply(await result)
            if reply:
                yield reply
        except CommandError as exc:
            yield Reply(str(exc))
        except TimeoutError:
            log.warning("command %s timed out after %ss", ctx.spec.name, self.timeout)
            yield Reply(f"{ctx.spec.name} took longer than {self.timeout:g}s and was stopped.")
        except Exception:
            incident = secrets.token_hex(3)
            log.exception("command %s failed (incident %s) for %s", ctx.spec.name, incident, ctx.sender)
            yield Reply(f"Sorry, {ctx.spec.name} failed (incident {incident}); the details are in the hub's log.")

    def _bounded(self, reply: Reply) -> Reply:
        if len(reply.text) <= self.max_reply:
            return reply
        return Reply(reply.text[: self.max_reply - 14] + " … (truncated)", reply.attachments, reply.notice)


def _split(line: str) -> list[str]:
    """Words of a command line; double quotes group words, apostrophes stay text (l'entrée)."""
    if '"' not in line:
        return line.split()       # the common case, 10x cheaper than shlex (profiled)
    lexer = shlex.shlex(line, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.escape = ""
    lexer.commenters = ""
    try:
        return list(lexer)
    except ValueError:
        return line.replace('"', " ").split()


def bind(spec: CommandSpec, words: list[str]) -> list[Any]:
    """Convert `words` to the handler's parameters; extra words join the first text parameter."""
    params = list(spec.parameters)
    fixed = [p for p in params if not p.rest]
    has_rest = any(p.rest for p in params)
    words = list(words)
    if len(words) > len(fixed) and not has_rest:
        first_text = next((i for i, p in enumerate(fixed) if p.kind is str), None)
        if first_text is None:
            raise BindError("Too many arguments.")
        extra = len(words) - len(fixed)
        words[first_text:first_text + extra + 1] = [" ".join(words[first_text:first_text + extra + 1])]
    values: list[Any] = []
    for index, param in enumerate(params):
        if param.rest:
            values.extend(_convert(param, w) for w in words[index:])
            break
        if index >= len(words):
            if not param.optional:
                raise BindError(f"Missing {param.name}.")
            break
        values.append(_convert(param, words[index]))
    return values


def _convert(param: Parameter, word: str) -> Any:
    kind = param.kind
    if isinstance(kind, tuple):
        for choice in kind:
            if fold(word) == fold(choice):
                return choice
        raise BindError(f"{param.name} must be one of {', '.join(kind)}, not {clean_text(word)[:30]!r}.")
    if kind is int or kind is float:
        try:
            return kind(word.replace(",", ".") if kind is float else word)
        except ValueError:
            raise BindError(f"{param.name} must be a number, not {clean_text(word)[:30]!r}.") from None
    return word
