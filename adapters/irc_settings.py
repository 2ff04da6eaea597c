"""The [adapters.irc] config section: its keys, their defaults and the checks that refuse a
config which could never connect, so start-up fails with the key named.

Kept apart from the adapter so the schema reads as one page; `adapters.irc` re-exports
`Settings`, where the hub's config loader looks for it.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from chatops.schema import Field, field_validator, model_validator

from adapters.irc_lines import NICK_PATTERN
from chatops.config import AdapterSettings, Duration, HubSettings, Section


class Channel(Section):
    """A channel to sit in, with its key given as `key_env` or `key_file` when it has one."""

    name: str = Field(examples=['"#maison"'], description="the channel")
    key_env: str | None = Field(None, examples=['"IRC_MAISON_KEY"'],
                                description="environment variable holding the channel key (+k)")
    key_file: str | None = Field(None, description="file holding the channel key (+k)")

    @field_validator("name")
    @classmethod
    def _a_channel_name(cls, name: str) -> str:
        return channel_name(name)


def channel_name(name: str) -> str:
    """`name` when it is an IRC channel's; ValueError with the likely one (`maison`: `#maison`)."""
    if not re.fullmatch(r"[#&+!][^\s,\x00-\x1f]{1,49}", name):
        suggestion = "#" + re.sub(r"[\s,\x00-\x1f]+", "", name)[:49] if name.strip() else "#maison"
        raise ValueError(f"{name!r} is no IRC channel: a channel starts with # (or &, +, !) and has no space "
                         f"or comma, e.g. \"{suggestion}\"")
    return name


class Settings(AdapterSettings):
    """[adapters.irc], or [[adapters.irc]] with `name = "libera"` per network."""

    host: str = Field(min_length=1, examples=['"irc.libera.chat"'], description="server name")
    port: int | None = Field(None, ge=1, le=65535, examples=["6697"],
                             description="server port; default 6697 with `tls`, 6667 without")
    tls: bool = Field(True, description="TLS, certificate verified")
    tls_verify: bool = Field(True, description="`false` skips verification (logged as a warning)")
    ca_file: str | None = Field(None, examples=['"/etc/chatops/irc-ca.pem"'],
                                description="extra CA to trust (self-signed servers)")
    nick: str | None = Field(None, pattern=NICK_PATTERN, max_length=30, examples=['"maison"'],
                             description="default: the hub's name without spaces or accents (`Maison Dupré`: `MaisonDupre`)")
    alt_nicks: list[str] = Field(default_factory=list, examples=['["maison_", "maisonbot"]'],
                                 description="tried in order when the nick is taken, then `nick_1`, `nick_2`...")
    username: str = Field("chatops", pattern=r"^[A-Za-z0-9_.~-]{1,16}$", examples=['"chatops"'],
                          description="the ident part of the hostmask")
    realname: str = Field("chatops home hub", min_length=1, max_length=100, examples=['"chatops home hub"'],
                          description="shown by WHOIS")
    channels: list[Channel] = Field(default_factory=list, examples=['["#maison"]'],
                                    description="`\"#chan\"` or a table with a key")
    sasl_username: str | None = Field(None, examples=['"maison"'], description="default: nick")
    sasl_password_env: str | None = Field(None, examples=['"IRC_SASL_PASSWORD"'],
                                          description="environment variable holding the SASL password: enables SASL PLAIN")
    sasl_password_file: str | None = Field(None, examples=['"/etc/chatops/irc.pass"'],
                                           description="file holding the SASL password: enables SASL PLAIN")
    server_password_env: str | None = Field(None, examples=['"IRC_SERVER_PASSWORD"'],
                                            description="PASS sent first: a bouncer (ZNC) or a private server")
    server_password_file: str | None = Field(None, examples=['"/etc/chatops/znc.pass"'],
                                             description="file holding the server (PASS) password")
    password_env: str | None = Field(None, examples=['"IRC_NICKSERV_PASSWORD"'],
                                     description="NickServ IDENTIFY password")
    password_file: str | None = Field(None, examples=['"/etc/chatops/nickserv.pass"'],
                                      description="file holding the NickServ password")
    nickserv: str = Field("NickServ", pattern=NICK_PATTERN, examples=['"NickServ"'],
                          description="nick of the services bot")
    nickserv_account: str | None = Field(None, examples=['"maison"'], description="default: nick")
    burst: int = Field(5, ge=1, le=1000, examples=["5"], description="lines sent at once")
    rate: float = Field(1.0, gt=0, le=100000, examples=["1.0"], description="lines per second after the burst")
    ping_interval: Duration = Field(60.0, gt=0, examples=['"60s"'],
                                    description="a PING after this long without a line")
    ping_timeout: Duration = Field(180.0, gt=0, examples=['"3m"'],
                                   description="reconnect after this long without an answer")
    connect_timeout: Duration = Field(30.0, gt=0, examples=['"30s"'], description="connect and register")
    rejoin_delay: Duration = Field(5.0, ge=0, examples=['"5s"'], description="wait after a kick")
    ack_timeout: Duration = Field(10.0, gt=0, examples=['"10s"'],
                                  description="how long an alert waits for the server to show it read it")
    backoff_min: Duration = Field(1.0, gt=0, examples=['"1s"'], description="first reconnect delay")
    backoff_max: Duration = Field(300.0, gt=0, examples=['"5m"'], description="longest reconnect delay")

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_names(cls, value: Any) -> Any:
        if isinstance(value, list):         # the short form, checked here to be named as written
            return [{"name": channel_name(item)} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("alt_nicks")
    @classmethod
    def _alt_nicks(cls, value: list[str]) -> list[str]:
        for nick in value:
            if not re.match(NICK_PATTERN, nick):
                raise ValueError(f"{nick!r} is not a valid IRC nick")
        return value

    @field_validator("ca_file", "sasl_username", "nickserv_account", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    def primary_nick(self, hub: HubSettings) -> str | None:
        """`nick`, or the hub's name made a nick (`Maison Dupré` is `MaisonDupre`); None when that
        cannot be one."""
        ascii_name = unicodedata.normalize("NFKD", hub.name).encode("ascii", "ignore").decode()
        nick = self.nick or re.sub(r"[^A-Za-z0-9_-]", "", ascii_name)[:30]
        return nick if re.match(NICK_PATTERN, nick or "-") else None

    def problems_with(self, hub: HubSettings) -> list[str]:
        if self.primary_nick(hub) is None:
            return [f"nick: the hub's name {hub.name!r} cannot be an IRC nick (a letter first, then letters, "
                    f"digits, - or _); set nick = \"maison\""]
        return []

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.ping_timeout <= self.ping_interval:
            raise ValueError("ping_timeout must be longer than ping_interval, e.g. ping_interval = \"60s\", "
                             "ping_timeout = \"3m\"")
        if self.port is None:       # `tls = false` alone meant a TLS port spoken to in plain text
            return self.model_copy(update={"port": 6697 if self.tls else 6667})
        return self
