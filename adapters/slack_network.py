"""Slack as the core sees it: user ids in `[users]`; channel ids (C…, G…) are rooms, user and
DM ids (U…, W…, D…) are people."""

from __future__ import annotations

from chatops.networks import Network

NETWORK = Network(name="slack", adapter="adapters.slack:Adapter", settings="adapters.slack:Settings",
                  extra="slack", requires=("slack_sdk",), example="slack:C0123ABC",
                  is_direct=lambda target: target.startswith(("U", "W", "D")),
                  identities="Slack member IDs",
                  about="See [networks/slack.md](networks/slack.md).")
