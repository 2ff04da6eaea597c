"""Fitting a reply to a network: long text cut into messages, pictures as links where needed.

Every adapter has a size limit and some carry no pictures; the cutting and the links are done
here, once (`fit`, called by the hub on every way out), so that a long `history` or a graph reads
the same on IRC, XMPP, Slack, Matrix and SMS. An adapter that measures a message otherwise
(UTF-8 bytes, characters after its own escaping) cuts finer with `split_text` and its measure.
"""

from __future__ import annotations

import dataclasses
import unicodedata
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .message import Attachment, Reply

if TYPE_CHECKING:
    from .adapter import Capabilities

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
        url = attachment.url
    elif web is not None and attachment.path.exists():
        url = str(web.links.publish(attachment.path, attachment.mime))
    else:
        return None
    if web is not None:
        web.links.sent_away(url)           # a link phones cannot open is said, once
    return url


NO_LINK = "(a picture: this network cannot carry it and the hub's web server is off)"


def fit(reply: Reply, capabilities: Capabilities, web: Any) -> list[Reply]:
    """`reply` as a network with `capabilities` can take it: pictures it cannot carry become
    links at the end of the text; text longer than `max_text` goes as several messages, the
    pictures with the first and the buttons with the last, or, where each message costs
    (`cut_long_text`), as one message cut short and saying so."""
    if reply.attachments and not capabilities.images:
        links = [f"{a.name or a.path.name}: {image_link(web, a) or NO_LINK}" for a in reply.attachments]
        reply = dataclasses.replace(reply, text="\n".join(filter(None, [reply.text, *links])), attachments=())
    if reply.attachments and reply.text and capabilities.pictures_apart:
        return [dataclasses.replace(reply, text="", buttons=()),
                *fit(dataclasses.replace(reply, attachments=()), capabilities, web)]
    limit = capabilities.max_text
    if capabilities.size(reply.text) <= limit:
        return [reply]
    if capabilities.cut_long_text:
        return [dataclasses.replace(reply, text=_longest_head(reply.text, limit, capabilities.size) + CUT)]
    pieces = split_text(reply.text, limit, capabilities.size) or [""]     # only blanks: pictures, buttons still go
    last = len(pieces) - 1
    return [dataclasses.replace(reply, text=piece, attachments=reply.attachments if index == 0 else (),
                                buttons=reply.buttons if index == last else ())
            for index, piece in enumerate(pieces)]


CUT = " …"


def _longest_head(text: str, limit: int, size: Callable[[str], int]) -> str:
    """The longest start of `text` that leaves room for CUT within `limit`, measured as the
    network measures (bytes, escaped characters): every character an SMS can still carry."""
    room = limit - size(CUT)
    low, high = 1, len(text)                # size grows with the length: the longest that fits
    while low < high:
        middle = (low + high + 1) // 2
        if size(text[:middle]) <= room:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip()
