"""The normalised shapes every adapter builds and every handler reads.

Adapters turn what their network delivers into a `Message`; handlers answer with `Reply`
objects that travel back to an `Address`. Only the adapter that built `raw` may read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent a message, as their network proves it.

    `id` is the network's strongest stable name (IRC account or full hostmask, bare JID,
    Slack user id, E.164 number). `trusted` is False when the network cannot vouch for the
    sender (a MUC occupant without real JID, a bare IRC nick): such identities never match a
    configured user.
    """

    network: str
    id: str
    display: str = ""
    account: str | None = None
    trusted: bool = True

    def __str__(self) -> str:
        return f"{self.network}:{self.account or self.id}"


@dataclass(frozen=True, slots=True)
class Address:
    """Where a reply or an alert goes: a room or a person on one adapter, maybe a thread."""

    adapter: str
    target: str
    direct: bool = True
    thread: str | None = None

    def __str__(self) -> str:
        return f"{self.adapter}:{self.target}"


@dataclass(frozen=True, slots=True)
class Attachment:
    """An image (snapshot, graph) a reply carries; adapters render it their own way."""

    path: Path
    mime: str = "image/png"
    url: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers. `notice` asks IRC for a NOTICE (alerts never trigger bots)."""

    text: str
    attachments: tuple[Attachment, ...] = ()
    notice: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound chat line, normalised.

    `addressed` is True when the network already says the text is meant for the hub (a
    direct chat, an SMS, a mention the adapter stripped): then no prefix is required.
    """

    sender: Identity
    address: Address
    text: str
    addressed: bool = False
    raw: Any = field(default=None, compare=False, repr=False)
