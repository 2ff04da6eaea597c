"""Email as the core sees it: addresses in `[users.X] email = [...]` and alert addresses
`email:alice@example.org`. Email only goes out (an answer by email is not read), so a pattern is
just an address to write to. Light: nothing here imports an SMTP library."""

from __future__ import annotations

import re

from chatops.networks import Network

ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")


def identity_problem(pattern: str) -> str | None:
    """Why `pattern` is no email address, or None."""
    if not ADDRESS.fullmatch(pattern):
        return f"{pattern!r} is not an email address; write \"alice@example.org\""
    return None


def address_problem(target: str) -> str | None:
    return None if ADDRESS.fullmatch(target) else "not an email address; write email:alice@example.org"


NETWORK = Network(name="email", adapter="adapters.email:Adapter", settings="adapters.email_settings:Settings",
                  extra="email", requires=("aiosmtplib",),
                  example="email:alice@example.org", identity_problem=identity_problem,
                  address_problem=address_problem,
                  identities="email addresses (mail goes out only; see [networks/email.md](networks/email.md))",
                  about="Mail out through an SMTP server. See [networks/email.md](networks/email.md).")
