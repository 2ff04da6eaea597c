"""The tcplines network as the hub's core sees it: light, imports no socket code.

A person is known by the name they give when they connect (`HELLO alice`); that is no proof
of anything, which is fine for an example on loopback and says why real networks check more."""

from __future__ import annotations

import re

from chatops.networks import Network


def identity_problem(pattern: str) -> str | None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]*", pattern):
        return f"{pattern!r} is not a tcplines name; write a lower-case word such as \"alice\""
    return None


NETWORK = Network(name="tcplines", adapter="chatops_tcplines.adapter:Adapter",
                  settings="chatops_tcplines.adapter:Settings", example="tcplines:alice",
                  identity_problem=identity_problem, pictures=False)     # as its Capabilities(images=False)
