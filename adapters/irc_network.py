"""IRC as the core sees it: `[users]` patterns, matching senders, and whom an alert goes to.

A nick proves nothing on IRC (anyone may take it), so a pattern names a services account
(`account:alice`) or a hostmask whose host part names something (`alice!*@home.example.org`,
`*!*@192.0.2.10`); the user part is whatever the client says unless the server runs identd.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chatops.message import Identity
from chatops.networks import Network, wildcard

if TYPE_CHECKING:
    from chatops.config import Settings

CHANNEL_PREFIXES = ("#", "&", "!", "+")


def irc_nick(pattern: str) -> str | None:
    """The nick an IRC `[users]` pattern names (`account:alice` and `alice!*@home.example` both
    name `alice`), or None when its nick part has wildcards: then it names no one to write to."""
    nick = pattern[8:] if pattern.startswith("account:") else pattern.split("!", 1)[0]
    return nick if nick and not any(c in nick for c in "*?") else None


_WILDCARDS = re.compile(r"[*?]")
_ADDRESS_PREFIX = re.compile(r"^(\d{1,3}\.\d{1,3}\.|[0-9a-f]{1,4}:[0-9a-f]{1,4}:)", re.IGNORECASE)


def host_names_someone(host: str) -> bool:
    """Whether a hostmask's host part narrows who matches: a literal host (`home.example.org`,
    `192.0.2.10`, a cloak `user/alice`), a domain of two labels or more behind a wildcard
    (`*.example.org`, not `*.com`), or an address prefix of two octets or groups (`192.0.2.*`,
    `2001:db8:*`, not `1*`). `*`, `*:*` (every IPv6 user) and `*/*` (every cloak, which anyone
    can get) name no one."""
    parts = _WILDCARDS.split(host)
    if len(parts) == 1:
        return bool(host.strip("."))
    suffix_labels = [label for label in parts[-1].split(".") if label]
    return (parts[-1].startswith(".") or not parts[-1]) and len(suffix_labels) >= 2 \
        or bool(_ADDRESS_PREFIX.match(parts[0]))


def identity_problem(pattern: str) -> str | None:
    if pattern.startswith("account:"):
        return None if pattern[8:] else "\"account:\" needs the services account name, e.g. \"account:alice\""
    host = pattern.partition("!")[2].partition("@")[2]
    if "!" not in pattern or "@" not in pattern or not host_names_someone(host):
        return (f"{pattern!r} names a nick and nothing else, and anyone can take a nick (or say any user "
                "name); use \"account:NAME\" (a services account), \"nick!user@host.example\" or "
                "\"*!*@192.0.2.10\" (a host only that person connects from; a wildcard host must keep a "
                "domain of two labels or an address prefix, \"*!*@*.example.org\" or \"*!*@192.0.2.*\", "
                "not \"*.com\", \"*:*\" or \"*/*\")")
    return None


def matches(identity: Identity, pattern: str, _settings: Settings) -> bool:
    if pattern.startswith("account:"):
        return identity.account is not None and identity.account.casefold() == pattern[8:].casefold()
    return "!" in identity.id and wildcard(pattern).fullmatch(identity.id.casefold()) is not None


def targets(user: str, patterns: list[str]) -> list[str]:
    """One recipient per person, `user:NAME`: the adapter writes to a nick only once WHOIS shows
    its holder matches one of the user's patterns (two patterns must not mean two alerts)."""
    return [f"user:{user}"] if any(irc_nick(p) for p in patterns) else []


def is_direct(target: str) -> bool:
    return not target.startswith(CHANNEL_PREFIXES)


NETWORK = Network(name="irc", adapter="adapters.irc:Adapter", settings="adapters.irc_settings:Settings",
                  extra="irc", requires=("irc3",),
                  example="irc:#maison", identity_problem=identity_problem, matches=matches,
                  reach_hint="a nick is needed to write to: `alice!*@192.0.2.10` or `account:alice`",
                  targets=targets, is_direct=is_direct, pictures=False,
                  identities="`account:NAME` (services account) or full `nick!user@host` patterns",
                  about="See [networks/irc.md](networks/irc.md).")
