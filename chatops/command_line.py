"""How a chat line becomes words, and words a handler's arguments: control characters out,
quotes grouping words, the punctuation a chat line ends with dropped, a unit written apart from
its number joined to it; then each word converted to what the handler's signature asks for,
or a BindError that says which argument does not fit. Pure functions: the router, the SMS
adapter and commands that read words use them alike."""

from __future__ import annotations

import re
import shlex
from typing import Any

from .auth import fold
from .command import DURATION, CommandSpec, Parameter
from .durations import parse_duration
from .i18n import _

# A `bool` argument of a command (a plugin's `verbose: bool`): these words, in either language.
YES_WORDS = frozenset({"yes", "y", "true", "on", "1", "oui", "vrai"})
NO_WORDS = frozenset({"no", "n", "false", "off", "0", "non", "faux"})
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class BindError(Exception):
    """Arguments that do not fit the command's parameters."""


_LINE_END = "?!.…"           # what may close a chat line without being part of the command
_PLAIN_WORDS = re.compile(r"[^\W\d_]+(?: [^\W\d_]+)*")     # letters, single spaces: no digit, no unit


def clean_text(text: str) -> str:
    """Text without control characters or bidi overrides, whitespace collapsed to single spaces."""
    return " ".join(_CONTROL.sub(" ", text).split())


# `21 °C`, `40 %`, `19 degrés` (as the hub itself writes them, French typography): a unit written
# apart from its number is read as one word with it (`19°`), as the devices' parsers read it.
_SPACED_UNIT = re.compile(r"(?<=\d) (%|°[CcFf]?|[Kk]|(?i:d[eé]gr[eé]s?|degrees?))(?= |$)")
# The double quotes a phone's keyboard types (“…”, „…“) and French guillemets (« … », their
# inner spaces included): the straight quotes that group words (`cron “30 6 * * 1-5” …`).
_CURLY_QUOTES = re.compile(r"«\s*|\s*»|[“”„]")


def command_words(line: str) -> list[str]:
    """The words of a command line as the router reads them: cleaned, split, and without the
    punctuation people end a chat line with (`temp salon ?`, `allume la lampe.`) or put after a
    word (`dans 10 min, ferme les volets`). A decimal comma inside a number stays (20,5).
    Letters alone between single spaces (`temp salon`, most lines) have nothing to clean."""
    if _PLAIN_WORDS.fullmatch(line):
        return line.split(" ")
    words = _split(clean_text(line))
    if not words:
        return words
    if any(word[-1:] in (",", ";") for word in words):     # (`""` is an empty word: no [-1])
        words = [word.rstrip(",;") or word for word in words]
    if words == ["?"]:
        return words                                # `?` alone: help's own word
    while words and words[-1] and not words[-1].rstrip(_LINE_END):
        words.pop()                                 # a `?` or `!` on its own, French style
    if words and words[-1][-1:] and words[-1][-1] in _LINE_END:
        words[-1] = words[-1].rstrip(_LINE_END)
    return words


def _split(line: str) -> list[str]:
    """Words of a command line; double quotes group words, apostrophes stay text (l'entrée)."""
    if " " in line and _SPACED_UNIT.search(line):
        line = _SPACED_UNIT.sub(lambda unit: "°" if unit[1][0] in "dD" else unit[1], line)
    if not line.isascii():
        line = _CURLY_QUOTES.sub('"', line)
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
    params = spec.parameters
    fixed, has_rest, first_text = spec.shape
    words = list(words)
    if len(words) > fixed and not has_rest:
        if first_text is None:
            raise BindError(_("Too many arguments."))
        extra = len(words) - fixed
        words[first_text:first_text + extra + 1] = [" ".join(words[first_text:first_text + extra + 1])]
    values: list[Any] = []
    for index, param in enumerate(params):
        if param.rest:
            values.extend(_convert(param, w) for w in words[index:])
            break
        if index >= len(words):
            if not param.optional:
                # A choice names its words (`smoke|motion`), anything else its placeholder (`device`).
                wanted = "|".join(param.kind) if isinstance(param.kind, tuple) else _(param.name.upper()).lower()
                raise BindError(_("Missing {name}.").format(name=wanted))
            break
        values.append(_convert(param, words[index]))
    return values


def _convert(param: Parameter, word: str) -> Any:
    kind = param.kind
    if isinstance(kind, tuple):
        for choice in kind:
            if fold(word) == fold(choice):
                return choice
        raise BindError(_("Say {choices}, not {word!r}.").format(     # (no Python name said: `what`)
            choices=_(" or ").join(kind), word=clean_text(word)[:30]))
    if kind is int or kind is float:
        try:
            return kind(word.replace(",", ".") if kind is float else word)
        except ValueError:
            raise BindError(_("{name} must be a number, not {word!r}.").format(
                name=_(param.name.upper()).lower(), word=clean_text(word)[:30])) from None
    if kind is DURATION:
        try:
            return parse_duration(word)
        except ValueError:
            raise BindError(_("{name} must be a duration such as 30s, 5m or 2h, not {word!r}.").format(
                name=_(param.name.upper()).lower(), word=clean_text(word)[:30])) from None
    if kind is bool:
        folded = fold(word)
        if folded in YES_WORDS or folded in NO_WORDS:
            return folded in YES_WORDS
        raise BindError(_("{name} must be yes or no, not {word!r}.").format(
            name=_(param.name.upper()).lower(), word=clean_text(word)[:30]))
    return word
