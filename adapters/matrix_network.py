"""Matrix as the core sees it: `@alice:example.org` in `[users]`; alert addresses are a person
(`@alice:example.org`, reached in a direct room) or a room (`!id:server`, `#alias:server`).
Light to import: nio is imported only by adapters/matrix.py, when the section is enabled."""

from __future__ import annotations

import re

from typing import Any

from chatops.message import Identity
from chatops.networks import Network, wildcard

# Historical user ids (matrix.org's oldest accounts) may have capitals; room ids of room version
# 12 (Synapse's default since 2025) are opaque, `!rl_4xBF…`, with no `:server` part.
USER_ID = re.compile(r"@[A-Za-z0-9._=\-/+]+:[A-Za-z0-9.\-\[\]:]+")
ROOM = re.compile(r"#[^:\s]+:[A-Za-z0-9.\-\[\]:]+|![^:\s]+(:[A-Za-z0-9.\-\[\]:]+)?")


def identity_problem(pattern: str) -> str | None:
    if USER_ID.fullmatch(pattern.replace("*", "x").replace("?", "x")):
        return None
    return f"{pattern!r} is not a Matrix user id; write \"@alice:example.org\""


def address_problem(target: str) -> str | None:
    if USER_ID.fullmatch(target) or ROOM.fullmatch(target):
        return None
    return "not a Matrix user or room; write matrix:@alice:example.org, matrix:!id:example.org or " \
           "matrix:#maison:example.org"


def same_user(identity: Identity, pattern: str, _settings: Any = None) -> bool:
    """A Matrix user id against a `[users]` pattern: the server name in any case (it is a DNS
    name), the localpart as written: matrix.org's oldest accounts may hold capitals, and
    `@Alice:example.org` is then another account than `@alice:example.org`."""
    local, _, server = pattern.partition(":")
    id_local, _, id_server = identity.id.partition(":")
    return wildcard(local, ignore_case=False).fullmatch(id_local) is not None and wildcard(server).fullmatch(id_server.casefold()) is not None


def _canonical(pattern: str, _settings: Any) -> str:
    local, _, server = pattern.partition(":")
    return f"{local}:{server.casefold()}"


NETWORK = Network(name="matrix", adapter="adapters.matrix:Adapter", settings="adapters.matrix_settings:Settings",
                  extra="matrix", requires=("nio",),
                  example="matrix:@alice:example.org", identity_problem=identity_problem,
                  address_problem=address_problem, is_direct=lambda target: target.startswith("@"),
                  matches=same_user, canonical=_canonical,
                  identities="Matrix user ids, `@alice:example.org` (see [networks/matrix.md](networks/matrix.md))",
                  about="See [networks/matrix.md](networks/matrix.md).")
