"""Fitting a reply to a network: long text cut into messages, pictures as links where needed.

Every adapter has a size limit and some carry no pictures; the cutting and the links are done
here, once, so that a long `history` or a graph reads the same on IRC, XMPP, Slack and SMS. An
adapter says how it measures a message (characters, UTF-8 bytes, characters after its own
escaping) and gets pieces that fit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from typing import Any

from .message import Attachment

Measure = Callable[[str], int]
_JOINERS = "\u200d\ufe0f"


def split_text(text: str, limit: int, size: Measure = len) -> list[str]:
    """`text` in pieces of at most `limit` (as `size` counts), cut at a line end when one is in
    the second half of the piece, else after a space, else between characters (never between a
    character and its combining marks). Empty pieces are dropped; an empty text gives []."""
    if limit < 1:
        raise ValueError(f"no room for text ({limit})")
    pieces: list[str] = []
    rest = text.strip("\n")
    while rest and size(rest) > limit:
        fit = _fitting(rest, limit, size)
        line_end = rest.rfind("\n", 0, fit + 1)
        space = rest.rfind(" ", 0, fit + 1)
        if line_end > fit // 2:                       # the lines stay exactly as written
            head, rest = rest[:line_end], rest[line_end + 1:]
        else:
            cut = space if space > fit // 3 else _whole_character(rest, fit)
            head, rest = rest[:cut].rstrip(" "), rest[cut:].lstrip(" ")
        if head.strip():
            pieces.append(head)
    if rest.strip():
        pieces.append(rest)
    return pieces


def _fitting(text: str, limit: int, size: Measure) -> int:
    """The longest prefix length of `text` whose size is within `limit` (at least 1)."""
    low, high = 1, len(text)
    while low < high:                       # size() is monotonic in the prefix length
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def _whole_character(text: str, cut: int) -> int:
    while 1 < cut < len(text) and (unicodedata.combining(text[cut]) or text[cut] in _JOINERS):
        cut -= 1
    return cut


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def image_link(web: Any, attachment: Attachment) -> str | None:
    """A URL people can open for `attachment`: its own, else an expiring link from the hub's web
    server (None when neither exists: the web server is off)."""
    if attachment.url:
        return attachment.url
    if web is not None and attachment.path.exists():
        return str(web.links.publish(attachment.path, attachment.mime))
    return None


NO_LINK = "(a picture: this network cannot carry it and the hub's web server is off)"
