"""Who an alert goes to and how it reads to them: a recipient (an address, and the user it stands
for), whether it is a person or a room, and the end of an alert's message that says how to
acknowledge it, and its severity tag at the start. Shared by the alert engine, its reminders and
notifications."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .i18n import _
from .networks import networks

if TYPE_CHECKING:
    from .config import Settings


@dataclass(frozen=True, slots=True)
class Recipient:
    """One address an alert goes to, and the user it stands for ('' for a bare address)."""

    network: str
    target: str
    user: str

    @property
    def row_name(self) -> str:
        """As a delivery row names it: the user, or for a bare address `network:target` (a name
        with `:` is an address: `in_their_words` reads such a one in the hub's language)."""
        return self.user or f"{self.network}:{self.target}"


def parse_address(text: str) -> tuple[str, str]:
    """`xmpp:alice@example.org` -> ('xmpp', 'alice@example.org')."""
    network, _, target = text.partition(":")
    return network.strip().lower(), target.strip()


def headed(severity: str, text: str) -> str:
    """`text` as an alert or a notification opens, for the reader (in their language): warning and
    critical lead with their tag, `[WARNING] Backup failed`, `[CRITICAL] Smoke!`; info is said
    plainly, `Washing machine done`. One rule whether or not it waits for an ack: `chatops notify
    --ack` read `[INFO] x` where the same notification without it read `x`. Rule alerts,
    notifications and webhooks, stored or sent from memory, all say it here."""
    if severity == "info":
        return text
    return f"[{_(severity).upper()}] {text}"


def how_to_ack(alert_id: int, prefix: str | None) -> str:
    """The end of an alert's message: its id and how to acknowledge it, as the reader types it
    (`prefix`), or, where the hub reads no answer (`None`: email), where to do it instead."""
    if prefix is None:
        return _("(alert #{id}; acknowledge it in a chat or on the dashboard: ack {id})").format(id=alert_id)
    return _("(alert #{id}; answer {prefix}ack {id})").format(id=alert_id, prefix=prefix)


def is_direct(recipient: Recipient) -> bool:
    """A person (True) or a room: the network's own rule (no rule: a person)."""
    network = networks().get(recipient.network)
    return network.is_direct(recipient.target) if network is not None else True


def one_each(recipients: list[Recipient]) -> list[Recipient]:
    """One recipient per address, in order: `owner` and `email:owner@example.org` in one list
    are one mail (the user's, who reads it in their language), not two."""
    unique: dict[tuple[str, str], Recipient] = {}
    for recipient in recipients:
        if (kept := unique.get((recipient.network, recipient.target))) is None or not kept.user:
            unique[recipient.network, recipient.target] = recipient
    return list(unique.values())


def notify_default_to(settings: Settings) -> list[str]:
    """Who a notification that names nobody goes to: `[notify] default_to`, else the admins
    (the users whose roles grant everything). A script's `Dishwasher done`, published without
    a recipient on a fresh install, reached only the log; the people who run the hub are the
    ones such a message is for, and the storage alarm goes to them already."""
    return list(settings.notify.default_to) or admin_names(settings)


def admin_names(settings: Settings) -> list[str]:
    """The users whose roles grant everything: the ones told of what names nobody (a storage
    failure, a notification without recipients)."""
    from .auth import expand_roles
    return [name for name, user in settings.users.items() if "*" in expand_roles(settings.roles, user.roles)]
