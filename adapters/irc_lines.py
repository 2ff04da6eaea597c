"""Pure helpers of the IRC adapter: line framing, splitting, sanitising, names, pacing.

No I/O and no irc3 here, so all of it is unit-tested on raw strings and bytes.
"""

from __future__ import annotations

import re

from chatops import render

LINE_BYTES = 512                 # RFC 1459/2812: a line with its CRLF, as any client receives it
USERLEN, HOSTLEN = 10, 63        # assumed for our own prefix until the server shows the real one
WANTED_CAPS = ("account-tag", "extended-join", "account-notify", "chghost")
WHOX_TOKEN = "174"
NICK_PATTERN = r"^[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}-]*$"
_TARGET = re.compile(r"[^\s,\x00-\x1f:][^\s,\x00-\x1f]*")
_NEWLINES = re.compile(r"\r\n|[\r\n\x85\u2028\u2029]")
_UNSAFE = re.compile(r"[\x00\x01\x05-\x0e\x10\x12-\x15\x17-\x1c\x7f]")   # C0 controls except formatting
_NEEDS_CARE = re.compile(f"{_UNSAFE.pattern}|{_NEWLINES.pattern}")    # what sanitise() would change
_FORMATTING = re.compile(r"\x03(\d\d?(,\d\d?)?)?|\x04([0-9a-fA-F]{6}(,[0-9a-fA-F]{6})?)?|[\x02\x0f\x11\x16\x1d\x1e\x1f]")
JOIN_ERRORS = {"403", "405", "471", "473", "474", "475", "477", "489"}
NICK_ERRORS = {"431", "432", "433", "436", "437"}


def sanitise(text: str) -> str:
    """One line of text that cannot carry a command: NUL and CTCP markers dropped, other
    controls (CR, LF included) turned into spaces; IRC formatting codes are kept."""
    return _UNSAFE.sub(lambda m: "" if m.group() in "\x00\x01" else " ", _NEWLINES.sub(" ", text))


def strip_formatting(text: str) -> str:
    """Text without mIRC colours, bold, italics... (what a user typed, for the command parser)."""
    return _FORMATTING.sub("", text)


def split_text(text: str, limit: int) -> list[str]:
    """Lines of at most `limit` UTF-8 bytes: one per line of `text`, long ones cut as
    chatops.render cuts everything (at spaces, never inside a character)."""
    if limit < 8:
        raise ValueError(f"no room for text in an IRC line ({limit} bytes)")
    if not _NEEDS_CARE.search(text):            # the common answer: one short, clean line
        line = text.rstrip()
        if not line:
            return []
        if len(line.encode("utf-8")) <= limit:
            return [line]
    return _split_carefully(text, limit)


def _split_carefully(text: str, limit: int) -> list[str]:
    lines: list[str] = []
    for paragraph in _NEWLINES.split(text):
        lines += render.split_text(sanitise(paragraph).rstrip(), limit, render.utf8_size)
    return lines


def privmsg_parts(line: str) -> tuple[str, str, str] | None:
    """(source, target, text) of an untagged `:source PRIVMSG target :text` line, else None.

    The line most often read, taken apart with string methods: irc3's dispatch (a regular
    expression per event, an `IrcString` per group) cost more than the rest of the way to
    the router. Anything else (tags, NOTICE, odd spacing) goes to irc3, which reads the same
    lines the same way (tests/irc/test_irc_unit.py compares the two)."""
    if not line.startswith(":"):
        return None
    space = line.find(" ")
    if space < 2:
        return None
    source, rest = line[1:space], line[space + 1:].lstrip(" ")
    if not rest.startswith("PRIVMSG "):
        return None
    target, separator, text = rest[8:].lstrip(" ").partition(" ")
    if not separator or source.split() != [source] or target.split() != [target]:
        return None                              # irc3's \S+ refuses any whitespace in them
    text = text.lstrip(" ")
    return source, target, text[1:] if text.startswith(":") else text


def split_params(text: str) -> list[str]:
    """IRC parameters: space-separated words, the last one after ' :' may hold spaces."""
    text = text.lstrip(" ")
    params: list[str] = []
    while text:
        if text.startswith(":"):
            params.append(text[1:])
            break
        word, _, text = text.partition(" ")
        params.append(word)
        text = text.lstrip(" ")
    return params


_STRICT_RFC1459_PAIRS = {"[": "{", "]": "}", "\\": "|"}
_STRICT_RFC1459 = str.maketrans(_STRICT_RFC1459_PAIRS)
_RFC1459 = str.maketrans(_STRICT_RFC1459_PAIRS | {"~": "^"})


def casefold(name: str, mapping: str = "rfc1459") -> str:
    """IRC case folding of a nick or channel name (`CASEMAPPING` from the server)."""
    name = name.lower()
    if mapping == "ascii":
        return name
    return name.translate(_RFC1459 if mapping == "rfc1459" else _STRICT_RFC1459)


def strip_mention(text: str, nick: str, mapping: str = "rfc1459") -> str | None:
    """The command after `nick: ` or `nick, ` at the start of `text`, or None when not mentioned."""
    match = re.match(r"([^\s:,]+)[:,](.*)$", text, re.S)
    if match and casefold(match.group(1), mapping) == casefold(nick, mapping):
        return match.group(2).strip()
    return None


def decode_line(raw: bytes) -> str:
    """A received line as text: UTF-8, or Latin-1 for the odd legacy client. A UTF-8 line with a
    stray byte in it (`!temp séjour` and a \\xff) stays UTF-8 without that byte: read as Latin-1
    whole, its `é` became `Ã©` and the room was not found."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        lenient = raw.decode("utf-8", "replace")
        if any(ord(c) > 0x7F and c != "\ufffd" for c in lenient):
            return lenient.replace("\ufffd", "")
        return raw.decode("latin-1")
