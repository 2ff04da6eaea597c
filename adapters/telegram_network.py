"""Telegram as the core sees it: a person is their numeric user id (`telegram = ["123456789"]` in
`[users]`), an alert goes to a user id (their private chat with the bot) or to a group's chat id
(negative: `telegram:-1001234567890`). Light to import: python-telegram-bot is imported only by
adapters/telegram.py, when the section is enabled."""

from __future__ import annotations

import re

from chatops.networks import Network

USER_ID = re.compile(r"[1-9]\d{0,15}")
CHAT_ID = re.compile(r"-?[1-9]\d{0,15}")


def identity_problem(pattern: str) -> str | None:
    if USER_ID.fullmatch(pattern):
        return None
    return (f"{pattern!r} is not a Telegram user id; write the number, e.g. \"123456789\" (a name can be "
            "changed by anyone, the id cannot: ask @userinfobot, or see docs/networks/telegram.md)")


def address_problem(target: str) -> str | None:
    if CHAT_ID.fullmatch(target):
        return None
    return "not a Telegram user or chat id; write telegram:123456789 (a person) or telegram:-1001234567890 (a group)"


NETWORK = Network(name="telegram", adapter="adapters.telegram:Adapter", settings="adapters.telegram_settings:Settings",
                  extra="telegram", requires=("telegram",),
                  example="telegram:123456789", identity_problem=identity_problem,
                  address_problem=address_problem, is_direct=lambda target: not target.startswith("-"),
                  identities="Telegram numeric user ids, `123456789` (see [networks/telegram.md](networks/telegram.md))",
                  about="See [networks/telegram.md](networks/telegram.md).")
