"""XMPP as the core sees it: bare JIDs in `[users]`, JIDs or rooms as alert addresses.

Whether a JID is a room is the server's to say: alert addresses go out undecided
(`is_direct` False) and the adapter asks once (disco#info) and remembers."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chatops.message import Identity
from chatops.networks import Network

if TYPE_CHECKING:
    from chatops.config import Settings

JID = re.compile(r"[^@/\s]+@[^@/\s]+(/\S+)?")


def identity_problem(pattern: str) -> str | None:
    # Matched whole (a bare JID, no wildcard): `xmpp:alice@…` (an alert address pasted) or
    # `*@example.org` passed and then never matched anyone.
    if pattern.casefold().startswith("xmpp:"):
        return f"{pattern!r}: write the JID without xmpp: (\"{pattern[5:]}\"); xmpp: starts an alert address only"
    if "*" in pattern or "?" in pattern:
        return f"{pattern!r}: a JID is matched whole, without wildcards; list each person's, e.g. \"alice@example.org\""
    return None if JID.fullmatch(pattern) else f"{pattern!r} is not a JID; write \"alice@example.org\""


def matches(identity: Identity, pattern: str, _settings: Settings) -> bool:
    return identity.id.casefold() == pattern.casefold().split("/")[0]


def address_problem(target: str) -> str | None:
    if not JID.fullmatch(target):
        return "not a JID; write xmpp:alice@example.org or xmpp:room@conference.example.org"
    return None


NETWORK = Network(name="xmpp", adapter="adapters.xmpp:Adapter", settings="adapters.xmpp_settings:Settings",
                  extra="xmpp", requires=("slixmpp",),
                  example="xmpp:alice@example.org", identity_problem=identity_problem,
                  matches=matches, address_problem=address_problem, is_direct=lambda target: False,
                  cli="adapters.xmpp_rpc_client:add_parser",
                  identities="bare JIDs",
                  about="See [networks/xmpp.md](networks/xmpp.md).")
