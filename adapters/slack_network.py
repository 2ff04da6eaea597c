"""Slack as the core sees it: user ids in `[users]`; channel ids (C…, G…) are rooms, user and
DM ids (U…, W…, D…) are people."""

from __future__ import annotations

import re

from chatops.networks import Network

MEMBER = re.compile(r"[UWB][A-Z0-9]{2,20}")           # a member ID, as Slack writes it (B…: a bot, allow_bots)
CONVERSATION = re.compile(r"[CGDUW][A-Z0-9]{2,20}")   # a channel, a DM, or a member (a DM is opened)


def identity_problem(pattern: str) -> str | None:
    # `@alice` or a lower-cased id passed check, then alice was a stranger, told nothing.
    if MEMBER.fullmatch(pattern):
        return None
    return (f"{pattern!r} is not a Slack member ID; write it as Slack does, e.g. \"U0123ABCD\" (the person's "
            "profile, ⋮ then Copy member ID: a name can change, the ID cannot), or a bot's B… id (allow_bots)")


def address_problem(target: str) -> str | None:
    if CONVERSATION.fullmatch(target):
        return None
    return ("not a Slack channel or member ID; write slack:C0123ABCD (the channel's details, at the bottom) or "
            "slack:U0123ABCD (a person: a direct message is opened)")


NETWORK = Network(name="slack", adapter="adapters.slack:Adapter", settings="adapters.slack_settings:Settings",
                  extra="slack", requires=("slack_sdk",), example="slack:C0123ABC",
                  identity_problem=identity_problem, address_problem=address_problem,
                  is_direct=lambda target: target.startswith(("U", "W", "D")),
                  identities="Slack member IDs",
                  about="See [networks/slack.md](networks/slack.md).")
