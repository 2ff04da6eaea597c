"""Matrix as the core sees it: `@alice:example.org` in `[users]`; alert addresses are a person
(`@alice:example.org`, reached in a direct room) or a room (`!id:server`, `#alias:server`).
Light to import: nio is imported only by adapters/matrix.py, when the section is enabled."""

from __future__ import annotations

import re

from chatops.networks import Network

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


NETWORK = Network(name="matrix", adapter="adapters.matrix:Adapter", settings="adapters.matrix_settings:Settings",
                  extra="matrix", requires=("nio",),
                  example="matrix:@alice:example.org", identity_problem=identity_problem,
                  address_problem=address_problem, is_direct=lambda target: target.startswith("@"),
                  identities="Matrix user ids, `@alice:example.org` (see [networks/matrix.md](networks/matrix.md))",
                  about="See [networks/matrix.md](networks/matrix.md).")
