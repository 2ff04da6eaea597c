"""The normalised shapes every adapter builds and every handler reads.

Adapters turn what their network delivers into a `Message`; handlers answer with `Reply`
objects that travel back to an `Address`. Only the adapter that built `raw` may read it.
"""

from __future__ import annotations

import re
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
    # What a stranger's rate limit counts by, when the network lets them change part of `id` at
    # will (an IRC nick: counted by the host, or every /nick would start a fresh bucket).
    flood_key: str | None = None

    def __str__(self) -> str:
        return f"{self.network}:{self.account or self.id}"

    @property
    def rate_key(self) -> str:
        """The name a stranger's lines are metered under."""
        return self.flood_key if self.flood_key and not self.account else str(self)


AUTOMATION = "automation"      # the adapter name of an automation's own address: no network, no conversation


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
class Button:
    """A one-tap answer a reply offers: pressing it sends `line` as the presser, through the same
    path as typed text (networks with buttons draw it; the others leave it out, the text says how)."""

    label: str
    line: str


# What must never reach a chat client: C0 controls but tab and line feed, DEL and C1 controls,
# bidirectional embeddings, overrides and isolates, lone surrogates and the two non-characters
# XML 1.0 forbids (one of those in a stanza makes the XMPP server drop the stream).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def safe_text(text: str) -> str:
    """`text` without the characters of `_UNSAFE`: a device name from MQTT discovery or a raw
    sensor value cannot garble a reply, reverse its reading order or break a network's framing.
    A carriage return (alone or before a line feed) stays a line break."""
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


@dataclass(frozen=True, slots=True)
class AlertRef:
    """The alert or notification a delivery belongs to, for networks that show a heading (an
    email's subject names the severity and the id, whatever the text says)."""

    id: int
    severity: str
    kind: str = "raise"             # the delivery: raise, repeat (a reminder), clear, ack, picture...


@dataclass(frozen=True, slots=True)
class Reply:
    """What a handler answers. `notice` asks IRC for a NOTICE (alerts never trigger bots).

    The text is made safe here, once, for every network: whatever a handler or an alert
    template put in it (device names, values from MQTT) goes through `safe_text`."""

    text: str
    attachments: tuple[Attachment, ...] = ()
    notice: bool = False
    low_priority: bool = False      # an answer to a stranger: paced networks send it after the rest
    buttons: tuple[Button, ...] = ()
    alert: AlertRef | None = None
    answer: bool = False            # the answer to a line its reader sent (a paying network sends it past its cap)

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", safe_text(self.text))


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
    # Seconds the network delivered it late (queued while the hub was offline, or a stamp the
    # sender wrote): the router answers "not run" instead of running it, through the same rate
    # limit and audit as any line. 0: live.
    late: float = 0.0
