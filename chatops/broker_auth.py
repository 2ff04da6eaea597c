"""The embedded broker's one login: the hub's own name and secret (amqtt loads this plugin by
its dotted path; it is imported only when the embedded broker runs, as amqtt is).

Bound to loopback is not enough: any process of any user on the machine can reach a loopback
port, and a publish on `zigbee2mqtt/heater/set` or on the notify topic would drive the house
past every permission and token. The secret lives in the data folder (0600, in a 0700 folder),
where `chatops simulate` finds it too."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin
from amqtt.session import Session


class SecretAuth(BaseAuthPlugin):
    """Lets in `username` with `password`, nobody else (anonymous included)."""

    @dataclass
    class Config:
        username: str = ""
        password: str = ""

    async def authenticate(self, *, session: Session) -> bool:
        config = self.context.config
        if not config.password:             # no secret configured: nobody, rather than everybody
            return False
        right_name = hmac.compare_digest((session.username or "").encode(), config.username.encode())
        right_secret = hmac.compare_digest((session.password or "").encode(), config.password.encode())
        return right_name and right_secret
