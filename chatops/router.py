"""From a chat line to replies: is it for us, which command, which arguments, who may, run it.

Every way a line can go wrong ends in a short answer the user can act on (usage line,
did-you-mean, refusal) and, for refusals, an audit entry. A handler's exception becomes an
apology with an incident id; the traceback goes to the log, the adapter lives on.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import inspect
import logging
import re
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .access import Access, Pin, Refusal
from .adapter import from_where_it_came
from .auth import User, fold
from . import i18n
from .command_line import BindError, bind, clean_text, command_words
from .durations import format_duration
from .eager import within
from .device_values import takes
from .i18n import _
from .command import CommandError, CommandSet, CommandSpec, Context, Shorthand, as_reply, shown_usage
from .home import STATE_WORDS
from .message import Message, Reply
from .store.database import DISK_ERRORS, STATEMENT_ERRORS

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 1000
AuditFn = Callable[[str, Message, str], None]


class Router:
    """Parses messages into commands and runs them for one hub."""

    def __init__(self, hub: Hub, commands: CommandSet, access: Access, audit: AuditFn,
                 find_device: Callable[[str], Any | None],
                 device_words: Callable[[], dict[str, str]] = dict) -> None:
        self.hub = hub
        self.commands = commands
        self.access = access
        self.auth = access.auth
        self._audit = audit
        self._find_device = find_device
        self._device_words = device_words
        settings = hub.settings.hub
        self.prefix = settings.prefix
        self.name = settings.name
        self.timeout = settings.handler_timeout
        self.max_reply = settings.max_reply_chars
        name = re.escape(self.name)
        self._mention = re.compile(rf"@?{name}\s*[:,]\s*|@{name}\s+", re.I)
        self._misnamed: set[str] = set()        # adapters whose senders name another network (logged once)

    def command_text(self, message: Message) -> str | None:
        """The command line inside `message`, or None when the line is not for the hub."""
        text = message.text.strip()
        if text.startswith(self.prefix):
            return text[len(self.prefix):].strip()
        mention = self._mention.match(text)
        if mention:
            return text[mention.end():].strip()
        return text if message.addressed else None

    def overtakes(self, message: Message) -> bool:
        """Whether `message` runs a command that must not wait behind an earlier line of its
        conversation (`CommandSpec.overtakes`). Only the order: `replies` may still refuse it."""
        line = self.command_text(message)
        words = self._unprefixed(command_words(line)) if line else []
        if not words:
            return False
        spec, args, _word = self._resolve(words)
        if spec is None and len(words) > 1:        # a PIN word in front (SMS)
            spec, args, _word = self._resolve(self._unprefixed(words[1:]))
        return spec is not None and spec.overtakes is not None and spec.overtakes(args)

    async def run(self, message: Message) -> tuple[str, list[Reply]]:
        """(outcome, replies) of `message`: ok, refused, unknown, error or timeout, for callers that
        answer in another shape than text (Jabber-RPC turns a refusal into a fault)."""
        outcome: list[str] = []
        replies = await self.replies(message, outcome=outcome)
        return (outcome[0] if outcome else "unknown"), replies

    async def replies(self, message: Message, *, as_user: User | None = None,
                      outcome: list[str] | None = None) -> list[Reply]:
        """Every reply to `message` (none when it is not for the hub), once all are there; the
        arguments are `answer`'s."""
        replies: list[Reply] = []

        async def keep(reply: Reply) -> None:
            replies.append(reply)
        await self.answer(message, keep, as_user=as_user, outcome=outcome)
        return replies

    async def answer(self, message: Message, emit: Callable[[Reply], Awaitable[None]], *,
                     as_user: User | None = None, outcome: list[str] | None = None) -> None:
        """Hand each reply to `message` to `emit` as it comes (none when it is not for the hub):
        a progress handler's "closing…" goes out before its "closed".

        `as_user` runs the line as that configured user whatever the sender (timers and
        automations act as their owner): the same permission, rate limit and audit apply.
        `outcome`, when given, receives the line's outcome (see `run`).

        A coroutine with a callback, not an async generator: asyncio registers each async
        generator it starts in a weak set (and drops it from there when it is collected), which
        was a tenth of the hub's time per command (bench.throughput). What decides is plain code
        in `_prepare`; the handler is awaited here."""
        message = message if as_user else from_where_it_came(message)    # hub.execute, run: from an adapter
        line = self.command_text(message)
        if line is None:
            return
        started = time.perf_counter()
        user = as_user if as_user is not None else self._user_of(message)
        low = user is None
        verdict = _Verdict()
        # Everything this line says is in the asker's language (a context variable: the
        # handler, and the tasks it starts, read it; other conversations are not affected).
        token = i18n.set_language(self.auth.language_of(user))
        try:
            prepared = self._prepare(message, line, user, as_user is not None, verdict)
            if isinstance(prepared, Reply):
                if reply := self._bounded(prepared, low):
                    await emit(reply)
            elif prepared is not None:
                ctx, args = prepared
                result: Any = None
                try:
                    produced = ctx.spec.func(ctx, *args)
                    if inspect.isasyncgen(produced):         # progress: each item as it comes
                        async for item in self._steps(produced):
                            if reply := self._bounded(item, low):
                                try:
                                    await emit(reply)
                                except Exception as exc:     # the caller's failure, not the handler's
                                    raise _EmitFailed from exc
                    else:
                        result = await self._result_of(produced)
                except _EmitFailed as failed:
                    raise failed.__cause__ from None     # type: ignore[misc]
                except (Exception, SystemExit, asyncio.CancelledError) as exc:
                    # A handler's sys.exit (argparse's --help) stopped the whole hub, and a
                    # CancelledError it raised itself (a task it awaited was cancelled) silenced
                    # its conversation: both are its failure, answered. A cancellation of this
                    # line (the hub stopping, a timeout) goes on.
                    if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                        raise
                    verdict.result, result = self._failure(ctx, exc if isinstance(exc, Exception) else
                                                           RuntimeError(f"{type(exc).__name__}: {exc}"))
                    verdict.failed = True
                if reply := self._bounded(result, low):
                    await emit(reply)
        finally:
            i18n.reset_language(token)
            self.hub.observe_command(verdict.command, verdict.result, time.perf_counter() - started)
            if outcome is not None:               # ["refused", "rate-limited"]: a script backs off
                outcome.extend([verdict.result, verdict.refusal] if verdict.refusal else [verdict.result])
                if verdict.failed:                # ["ok", "failed"]: the command said it could not
                    outcome.append("failed")

    def _user_of(self, message: Message) -> User | None:
        """The configured user who sent `message`, judged by the rules of the network it came in
        on: a sender naming another network (an adapter writing `Identity(self.name, ...)` with
        an instance named `console`) would be matched by that network's patterns, a TCP
        stranger taken for the console's owner. Such a sender is a stranger, and the log says why."""
        adapter = self.hub.adapters.get(message.address.adapter)
        if adapter is not None and message.sender.network != adapter.network:
            if adapter.name not in self._misnamed:
                self._misnamed.add(adapter.name)
                log.error("adapter %s (network %s) sent a message from %s, a sender of network %r: taken for a "
                          "stranger; the adapter must build Identity(self.network, ...)", adapter.name,
                          adapter.network, message.sender.id[:80], message.sender.network)
            return None
        return self.auth.user_for(message.sender)

    def _prepare(self, message: Message, line: str, user: User | None, acting: bool,
                 verdict: _Verdict) -> Reply | tuple[Context, list[Any]] | None:
        """The one path: parse, PIN, resolve, authorize, bind. Returns the handler's context and
        arguments, or the answer instead of running it (usage, refusal, unknown command; None
        for an empty line in a room). `verdict` receives the outcome and command name."""
        adapter = self.hub.adapters.get(message.address.adapter)
        forgeable = not acting and bool(adapter is not None and adapter.capabilities.forgeable_sender)
        if message.late:
            return self._late(message, user, forgeable, verdict)
        if len(line) > MAX_INPUT_CHARS:
            verdict.result = "refused"
            if refused := self._charged(message, user, forgeable, "too-long", f"{len(line)} characters"):
                return Reply(refused.answer) if refused.answer else None
            return Reply(_("That message is {length} characters long; commands are short (at most {most}), "
                           "e.g. {prefix}temp salon").format(length=len(line), most=MAX_INPUT_CHARS,
                                                            prefix=self._prefix(message)))
        words = command_words(line)
        if not words:
            if not message.addressed:
                return None
            if refused := self._charged(message, user, forgeable):
                return Reply(refused.answer) if refused.answer else None
            return Reply(_("Say {prefix}help for the list of commands.").format(prefix=self._prefix(message)))
        pin_word = self.access.pin_of(user, forgeable)
        guessed = words[0] if pin_word is not None else None
        words, pin = self.access.take_pin(pin_word, words, lambda w: self._resolve(self._unprefixed(w))[0] is not None)
        if pin in (Pin.GIVEN, Pin.WRONG):
            words = self._unprefixed(words)       # `SESAME !chauffage on`: the habit of a room after the PIN
        spec, args, word = self._resolve(words) if words else (None, [], "")
        if pin_word is not None and ((pin is Pin.GIVEN and not words) or (pin is Pin.ABSENT and len(words) == 1
                                                                          and spec is None)):
            # One word alone, the PIN or not, from a user who gives a PIN here: one answer for both,
            # metered, so that a phone in the wrong hands learns nothing of which word is the PIN.
            if refused := self._charged(message, user, forgeable):
                return Reply(refused.answer) if refused.answer else None
            return Reply(_("Put your PIN word in front of a command, e.g. \"PIN chauffage on\"; "
                           "{prefix}help lists the commands.").format(prefix=self._prefix(message)))
        # A device's shorthand (`lampe 40%`) is named by its words, not by the `set` it stands for:
        # `_resolve` gives the first word itself when it named the command, else the command's name.
        named = word if words and words[0] == word else ""
        refusal = self.access.authorize(message.sender.rate_key, user, spec, pin, forgeable=forgeable, word=named,
                                        said=" ".join(words), shown_as="" if message.address.direct else message.sender.display,
                                        shared_by=self.auth.shared_by(message.sender) if user is None else ())
        if refusal is None and spec is None:
            verdict.result = "unknown"
            if not words:
                return None
            unknown = self._unknown(words, message, user)
            # `SESAME.chauffage on`: the PIN glued to a word is no PIN, but it is not said back either.
            return Reply(self.access.mask(user, unknown) if pin_word is not None else unknown)
        if spec is not None:
            verdict.command = spec.name
        if refusal is not None:
            verdict.result, verdict.refusal = "refused", refusal.kind
            shown = self.access.mask(user, message.text, guessed if pin is Pin.WRONG else None)
            self._audit(refusal.kind, dataclasses.replace(message, text=shown), refusal.detail,
                        refusal.kind == "rate-limited")
            if refusal.kind == "refused" and spec is not None and self.commands.find(words[0]) is None \
                    and not self._may_see_devices(user, str(message.sender)):
                # A device's name said alone (`heater`) by someone who may not read devices:
                # answered as any unknown word, or the refusal would tell them the device exists.
                return Reply(self._unknown(words, message, user))
            return Reply(refusal.answer) if refusal.answer else None
        assert spec is not None
        try:
            bound = bind(spec, args)
        except BindError as exc:
            verdict.result = "refused"
            return Reply(_("{problem} Usage: {usage}").format(
                problem=exc, usage=self._prefix(message) + shown_usage(spec.usage, self.alias_typed(spec, word))))
        return Context(message=message, user=user, hub=self.hub, spec=spec, grants=self.auth.grants_for(user),
                       word=word), bound

    def _charged(self, message: Message, user: User | None, forgeable: bool,
                 kind: str | None = None, detail: str = "") -> Refusal | None:
        """Charge the sender's token for a line that runs no command (too long, empty, late), as
        any line costs one: the refusal when the bucket is empty, else None. Either is audited
        (folded per minute) under its own kind, or `kind` when given, so that a flood of such
        lines is neither answered without limit nor silent."""
        refusal = self.access.authorize(message.sender.rate_key, user, None, forgeable=forgeable)
        if refusal is not None or kind is not None:
            shown = dataclasses.replace(message, text=self.access.mask(user, message.text)[:MAX_INPUT_CHARS])
            if refusal is not None:
                self._audit(refusal.kind, shown, refusal.detail, True)
            else:
                self._audit(kind, shown, detail, True)
        return refusal

    def _late(self, message: Message, user: User | None, forgeable: bool, verdict: _Verdict) -> Reply | None:
        """A line its network delivered late (queued while the hub was offline, or stamped so by
        its sender): not run, since a switch an hour late does harm. It costs the sender's token
        and is audited like any line, so a forged stamp opens no side door around the limit."""
        verdict.result = "refused"
        if refusal := self._charged(message, user, forgeable, "late", f"{message.late:.0f}s late"):
            return Reply(refusal.answer) if refusal.answer else None
        log.info("not running a line of %s that reached the hub %.0fs late", message.sender, message.late)
        # Which line, as its author wrote it (a PIN masked): several may come late at once.
        said = self.access.mask(user, message.text)[:80]
        return Reply(_("Not run: {line!r} reached the hub {late} late (it was offline). Send it again if it "
                       "still matters.").format(line=said, late=format_duration(message.late)))

    async def _result_of(self, produced: Any) -> Any:
        """What a coroutine handler returns. Its first step runs at once: most answers (a
        reading from memory) end there and need no timer, which costs more than the rest of
        the step; a handler that waits goes on under the handler timeout. (Python 3.12's
        eager tasks do the same for tasks; Debian 12 has 3.11.)"""
        if not inspect.iscoroutine(produced):
            async with asyncio.timeout(self.timeout):
                return await produced
        return await within(produced, self.timeout)

    async def _steps(self, produced: AsyncIterator[Any]) -> AsyncIterator[Any]:
        """The items of a progress handler, all within the handler timeout. The timer runs only
        while the handler does: never while its last item is being sent (a timeout then would
        cancel the send, outside any timeout's reach, and end the conversation's worker)."""
        loop = asyncio.get_running_loop()
        left = self.timeout
        while True:
            if left <= 0:                   # one that yields without ever waiting is stopped too
                raise TimeoutError
            started = loop.time()
            try:
                async with asyncio.timeout(left):
                    item = await anext(produced)
            except StopAsyncIteration:
                return
            left -= loop.time() - started
            yield item

    def _failure(self, ctx: Context, exc: Exception) -> tuple[str, Reply]:
        """(outcome, answer) for a handler that raised: its own words for a CommandError, an
        apology with an incident id (the traceback to the log) for anything else."""
        if isinstance(exc, CommandError):
            return "ok", Reply(str(exc))
        if isinstance(exc, TimeoutError):
            log.warning("command %s timed out after %ss", ctx.spec.name, self.timeout)
            return "timeout", Reply(_("{command} took longer than {seconds}s and was stopped.").format(
                command=ctx.spec.name, seconds=f"{self.timeout:g}"))
        if isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, STATEMENT_ERRORS) or \
                isinstance(exc, OSError) and exc.errno in DISK_ERRORS:
            # A full disk or a read-only card (the database, or a picture being saved), not a
            # bug: say what it is and what to do.
            log.warning("command %s could not write to the database: %s", ctx.spec.name, exc)
            return "error", Reply(_("{command} could not be done: the hub's storage is failing ({why}). Free disk "
                                    "space (or make the data folder writable) and say it again.").format(
                command=ctx.spec.name, why=exc))
        incident = secrets.token_hex(3)
        log.error("command %s failed (incident %s) for %s", ctx.spec.name, incident, ctx.sender, exc_info=exc)
        return "error", Reply(_("Sorry, {command} failed (incident {incident}); the details are in the hub's log.").format(
            command=ctx.spec.name, incident=incident))

    def _resolve(self, words: list[str]) -> tuple[CommandSpec | None, list[str], str]:
        """(the command, its arguments, the word that named it: as typed, or the command's name
        for a device shorthand), or (None, words, "")."""
        spec = self.commands.find(words[0])
        if spec is not None:
            # An alias (à, tous, active...) does not swallow a device whose name starts with it:
            # "toutes les lampes on" switches that device, it is not a schedule.
            if len(words) < 2 or words[0] == spec.name or fold(words[0]) == spec.name or not any(
                    self._find_device(" ".join(words[:cut])) for cut in range(len(words), 1, -1)):
                return spec, words[1:], words[0]
        # Device shorthands: "chauffage on [for 2h]" is "switch chauffage on [for 2h]"; "salon" reads it.
        for spec in self.commands.shorthands:
            if spec.shorthand is Shorthand.DEVICE_STATE and len(words) >= 2:
                for cut in range(len(words) - 1, 0, -1):
                    device = self._find_device(" ".join(words[:cut])) if fold(words[cut]) in STATE_WORDS else None
                    # "thermostat off" is a mode, "volet on" a cover's refusal: theirs to answer.
                    if device is not None and (getattr(device, "switchable", True)
                                               or not getattr(device, "settable", False)):
                        return spec, [" ".join(words[:cut]), *words[cut:]], spec.name
                # "chauffage blah" gets the switch usage line back.
                device = self._find_device(" ".join(words[:-1]))
                if device is not None and getattr(device, "switchable", False) and not device.settable:
                    return spec, [" ".join(words[:-1]), words[-1]], spec.name
            elif spec.shorthand is Shorthand.DEVICE_VALUE and len(words) >= 2:
                # The words naming a device, the rest its value: one word, or several that the
                # device takes as one (a select's `Ding Dong`; `thermostat a bit warmer` is no value).
                for cut in range(len(words) - 1, 0, -1):
                    device = self._find_device(" ".join(words[:cut]))
                    if device is not None and getattr(device, "settable", False) and \
                            (cut == len(words) - 1 or takes(device, " ".join(words[cut:]))):
                        return spec, [" ".join(words[:cut]), " ".join(words[cut:])], spec.name
            elif spec.shorthand is Shorthand.DEVICE and self._find_device(" ".join(words)) is not None:
                return spec, [" ".join(words)], spec.name
        return None, words, ""

    def alias_typed(self, spec: CommandSpec, word: str) -> str:
        """`word` when it is one of `spec`'s own words (`règle` for set), so that its usage line
        says what was typed; "" for anything else (a device name said as a shorthand)."""
        return word if word and spec.usage.split(" ", 1)[0] == spec.name and self.commands.find(word) is spec else ""

    def problem_with(self, line: str, user: User | None, sender: str, precheck: bool = True) -> str | None:
        """Why `user` could not run `line` (it names no command, its arguments do not fit, the one
        access rule refuses, its command's precheck: an unknown device), or None: asked when a
        timer is set and by `chatops check` for automations. Costs no rate token; the full path
        decides again when the line runs."""
        words = command_words(line)
        if not words:
            return _("the command is empty")
        spec, args, word = self._resolve(words)
        sees_devices = self._may_see_devices(user, sender)
        refusal = self.access.authorize(sender, user, spec, metered=False) if spec is not None else None
        if spec is None or (refusal is not None and not sees_devices and self.commands.find(words[0]) is None):
            # (A device named alone by someone who may not read devices is no command to them.)
            meant = self._meant(words, None if sees_devices else {})
            if meant is not None:
                return _("{word!r} is not a command. Did you mean {meant}?").format(word=words[0], meant=meant)
            return _("{word!r} is not a command. Say help for the list.").format(word=words[0])
        if refusal is not None:
            return refusal.answer or refusal.detail
        other = self.commands.find(spec.also_needs(args) or "") if spec.also_needs is not None else None
        if other is not None and (refusal := self.access.authorize(sender, user, other, metered=False)):
            return _("{refusal} ({line} needs it too: it sets a timer)").format(
                refusal=refusal.answer or refusal.detail, line=line)
        try:
            bind(spec, args)
        except BindError as exc:
            return _("{problem} Usage: {usage}").format(problem=exc, usage=shown_usage(spec.usage,
                                                                                     self.alias_typed(spec, word)))
        return spec.precheck(self.hub, args) if precheck and spec.precheck is not None else None

    def refusal(self, user: User | None, command: str, sender: str) -> str | None:
        """Why `user` may not use the command named `command` now, or None: the one access rule,
        asked without spending a rate token (a timer checks its owner may still set timers)."""
        spec = self.commands.find(command)
        refused = self.access.authorize(sender, user, spec, metered=False) if spec is not None else None
        return (refused.answer or refused.detail) if refused is not None else None

    def resolve(self, line: str) -> CommandSpec | None:
        """The command a line would run (None when it names none): for timers and automations."""
        words = command_words(line)
        return self._resolve(words)[0] if words else None

    def _unprefixed(self, words: list[str]) -> list[str]:
        """`words` without the prefix on the first one (`!chauffage on` as `chauffage on`)."""
        if words and self.prefix and words[0].startswith(self.prefix) and len(words[0]) > len(self.prefix):
            return [words[0][len(self.prefix):], *words[1:]]
        return words

    def _prefix(self, message: Message) -> str:
        """The prefix as this conversation needs it: none where every line is for the hub."""
        return "" if message.address.direct else self.prefix

    def _may_see_devices(self, user: User | None, sender: str) -> bool:
        """Whether the sender may read devices, and so learn which exist from a suggestion."""
        return self.refusal(user, "read", sender) is None

    def _unknown(self, words: list[str], message: Message, user: User | None = None) -> str:
        shown = clean_text(words[0])[:40]
        prefix = self._prefix(message)
        # {folded name, label or alias: device name}; none for whoever may not read devices:
        # a did-you-mean would list, word by word, the devices the config hides from them.
        devices = self._device_words() if self._may_see_devices(user, str(message.sender)) else {}
        device = devices.get(fold(words[0]))
        if device is not None and len(words) > 1:
            # A device named right, with words none of its shorthands takes (`volet close for 1h`):
            # suggesting the same line back would help nobody; what it takes would.
            takes = getattr(self._find_device(device), "takes", lambda: None)()
            if takes:
                return _("{device} does not take {words!r}: {takes}").format(
                    device=device, words=clean_text(" ".join(words[1:]))[:40], takes=takes)
            return _("{device} does not take {words!r}. Say {prefix}help {device} for what it does.").format(
                device=device, words=clean_text(" ".join(words[1:]))[:40], prefix=prefix)
        meant = self._meant(words, devices)
        if meant is not None:
            return _("Unknown command {word!r}. Did you mean {prefix}{command}?").format(
                word=shown, prefix=prefix, command=meant)
        return _("Unknown command {word!r}. Say {prefix}help for the list.").format(word=shown, prefix=prefix)

    def _meant(self, words: list[str], devices: dict[str, str] | None = None) -> str | None:
        """What a line with a mistyped first word probably meant: the closest command word (its
        name or an alias, as the asker's language has it), or
        the closest device's name with the words that followed (`chaufage on`: `chauffage on`,
        the shorthand it was meant to be), whichever is closer; None when nothing is close."""
        devices = self._device_words() if devices is None else devices
        word = fold(words[0])
        offered = self.commands.offered_to(i18n.current_language())
        # Another language's word only when it is plainly the one typed (`alume`: allume), not
        # merely close (`lower`: lever, which raises).
        others = set(self.commands.words).difference(offered)
        score, close = max(((difflib.SequenceMatcher(None, word, candidate).ratio(), candidate) for candidate in
                            [*offered, *devices, *others]), default=(0.0, ""))
        # A short word is close to too much at 0.6 (`what`: chart, `light`: list): a typo of one
        # (`tmep`, `hlep`) is 0.75.
        if score < 0.8 and (later := self._said_later(words)) is not None:
            return later                    # `please show the history`: not `pause`
        if score < (0.8 if close in others else 0.75 if len(word) <= 5 else 0.6):
            return None
        if (spec := self.commands.find(close)) is not None:
            # A French speaker is offered the French word of the command meant, when that is close
            # too (`histori`: historique, though history is closer); the accents as it writes them.
            # Plainly close, not merely (0.6): `statu` is status, not état; `opne` open, not monte.
            french = [fold(w) for w in spec.french] if i18n.current_language() == "fr" else []
            ratio, nearest = max(((difflib.SequenceMatcher(None, word, w).ratio(), w) for w in french), default=(0.0, ""))
            return self.commands.written(nearest if ratio >= 0.75 and close not in french else close)
        rest = clean_text(" ".join(words[1:]))
        return f"{devices[close]} {rest[:40]}{'…' if len(rest) > 40 else ''}".rstrip()

    def _said_later(self, words: list[str]) -> str | None:
        """A command word further on, as said (`what is the temperature`: temperature), when the
        first word is close to none: people ask in sentences."""
        for word in words[1:6]:
            spec = self.commands.find(fold(word)) if len(word) > 2 else None
            if spec is not None and not spec.hidden:
                return word.lower()         # as typed: `temperature` in English, `température` in French
        return None

    def _bounded(self, value: Any, low_priority: bool) -> Reply | None:
        """What a handler gave (text, a Reply, None) or the router's own answer, as the Reply
        that goes out: marked low priority for a stranger, cut at `max_reply_chars`."""
        reply = as_reply(value, low_priority)
        if reply is not None and len(reply.text) > self.max_reply:
            cut = " … " + _("(cut: longer than [hub] max_reply_chars = {limit})").format(limit=self.max_reply)
            return Reply(reply.text[: self.max_reply - len(cut)] + cut, reply.attachments, reply.notice,
                         reply.low_priority, reply.buttons)
        return reply


def _being_cancelled() -> bool:
    """Whether the running task was asked to stop (Task.cancel, an asyncio.timeout running out),
    rather than a CancelledError coming up from something the handler awaited."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


class _EmitFailed(Exception):
    """Raised through a progress handler's loop when `emit` failed: told apart from the
    handler's own failure, which is answered."""


@dataclasses.dataclass(slots=True)
class _Verdict:
    """How a line ended, for metrics: ok, refused, unknown, error or timeout; and its command."""

    result: str = "ok"
    command: str = "unknown"
    refusal: str = ""                   # a refusal's kind (rate-limited, pin-missing...), for callers
    failed: bool = False                # the handler raised (its CommandError is an answer: "ok" to metrics)
