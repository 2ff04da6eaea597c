"""[web] and [notify]: the web server (listen address, tokens, who it acts as) and the
notifications it and MQTT take in (tokens per script, topics turned into notifications)."""

from __future__ import annotations

import json
import pwd
import re
import string
from typing import Any

from .config_base import Duration, Section, is_loopback, port_too_high, split_listen, topic_filter
from .schema import Field, field_validator, model_validator
from .url_secrets import without_password


class NotifyToken(Section):
    """[web.notify_tokens] NAME = {token_env | token_file, to}: one script's key to POST /api/notify."""

    SHORTEST_SECRETS = {"token": 16}

    token_env: str | None = Field(None, examples=['"CRON_NOTIFY_TOKEN"'])
    token_file: str | None = Field(None, examples=['"/etc/chatops/cron.token"'])
    to: list[str] = Field(default_factory=list, examples=['["owner"]'],
                          description="recipients this token may address (empty: any user, and any address on an "
                                      "enabled network)")
    per_minute: float = Field(30.0, gt=0, examples=["30"], description="notifications per minute (burst the same)")

    @model_validator(mode="after")
    def _has_secret(self) -> NotifyToken:
        if not (self.token_env or self.token_file):
            raise ValueError('a notify token needs token_env = "VAR" or token_file = "/path"')
        return self


class NotifyTopic(Section):
    """[[notify.topics]]: an MQTT topic whose messages become notifications, through a template."""

    topic: str = Field(examples=['"frigate/events"'])
    message: str = Field(examples=['"{after.label} at {after.camera}"'])
    to: list[str] = Field(default_factory=list, examples=['["owner"]'])
    severity: str = Field("info", pattern=r"^(info|warning|critical)$", examples=['"warning"'])
    image_url: str | None = Field(None, examples=['"http://frigate:5000/api/events/{after.id}/snapshot.jpg"'])
    match: dict[str, str] = Field(default_factory=dict, examples=['{ type = "new", "after.label" = "person" }'],
                                  description="payload fields that must have these values")
    ack: bool = False

    @field_validator("topic")
    @classmethod
    def _a_filter(cls, topic: str) -> str:
        return topic_filter(topic)

    @field_validator("match", mode="before")
    @classmethod
    def _as_json_writes_them(cls, match: Any) -> Any:
        # `"after.has_snapshot" = true` is what anyone writes first: taken as JSON spells it ("true").
        if isinstance(match, dict):
            return {k: json.dumps(v) if isinstance(v, (bool, int, float)) else v for k, v in match.items()}
        return match

    @field_validator("message", "image_url")
    @classmethod
    def _a_template(cls, template: str | None) -> str | None:
        if template is not None:
            try:
                list(string.Formatter().parse(template))
            except ValueError as exc:     # `{after.label` was sent as written, braces and all
                raise ValueError(f"{exc}; a field is written {{after.label}}, a brace itself {{{{ or }}}}") from None
        return template

    @field_validator("image_url")
    @classmethod
    def _no_password_in_url(cls, url: str | None) -> str | None:
        # A template may start with a field (`{after.snapshot}`): only a written scheme is judged.
        if url is not None and not url.startswith("{") and not re.match(r"https?://", url, re.IGNORECASE):
            raise ValueError("the hub fetches pictures over http:// or https:// only")
        return without_password(url, "use an address that answers without a login (Frigate's API on port 5000 needs "
                                     "none)")


class NotifySettings(Section):
    """[notify]: messages in from scripts and MQTT (chatops.notify)."""

    default_to: list[str] = Field(default_factory=list, examples=['["owner"]'],
                                  description="recipients of a notification that names none (empty: the admins, the "
                                              "users whose roles grant everything)")
    repeat: Duration = Field(300.0, gt=0, examples=['"5m"'],
                             description="how often a notification sent with ack repeats until acknowledged")
    mqtt_per_minute: float = Field(30.0, gt=0, examples=["30"],
                                   description="notifications per minute taken from each MQTT topic (the hub's "
                                               "own and each of [[notify.topics]]; burst the same)")
    topics: list[NotifyTopic] = Field(default_factory=list)


class WebSettings(Section):
    SHORTEST_SECRETS = {"token": 16, "metrics_token": 16}

    enabled: bool = True
    listen: str = Field("127.0.0.1:8080", examples=['"127.0.0.1:8080"', '"0.0.0.0:8080"'])
    token_env: str | None = Field(None, examples=['"CHATOPS_WEB_TOKEN"'])
    token_file: str | None = Field(None, examples=['"/etc/chatops/web.token"'])
    metrics_token_env: str | None = Field(None, examples=['"CHATOPS_METRICS_TOKEN"'])
    metrics_token_file: str | None = Field(None, examples=['"/etc/chatops/metrics.token"'])
    public_url: str | None = Field(None, examples=['"https://home.example.org/"'])
    user: str | None = Field(None, examples=['"alice"'],
                             description="configured user the web chat acts as")
    link_ttl: Duration = Field(86400.0, gt=0, examples=['"24h"'])
    allowed_hosts: list[str] = Field(default_factory=list, examples=['["home.lan", "pi.local"]'],
                                     description="extra Host names the web server answers to")
    local_users: list[str] = Field(default_factory=list, examples=['["pi"]'],
                                   description="accounts of this machine whose browser (or ssh tunnel) may use a "
                                               "loopback web server without a token, beside the hub's own and root")
    proxy_user: str | None = Field(None, examples=['"www-data"'],
                                   description="the account a reverse proxy on this machine runs as: the "
                                               "X-Forwarded-For of its connections names the client (one guesser "
                                               "behind it does not lock out the others); nobody else's is believed")
    notify_tokens: dict[str, NotifyToken] = Field(default_factory=dict,
                                                  description="one token per script that may POST /api/notify")

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = split_listen(self.listen)
        return host or "127.0.0.1", port

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host_port[0])

    @property
    def links_stay_here(self) -> bool:
        """Whether picture links sent on chat name a loopback address (no public_url, a loopback
        listen): they open on this machine only, not on a phone."""
        return not self.public_url and self.loopback

    @field_validator("local_users", "proxy_user")
    @classmethod
    def _accounts_exist(cls, accounts: list[str] | str | None) -> list[str] | str | None:
        for account in [accounts] if isinstance(accounts, str) else accounts or []:
            try:
                pwd.getpwnam(account)
            except KeyError:
                raise ValueError(f"this machine has no account {account!r}; name an account of this machine "
                                 f"(see `getent passwd`)") from None
        return accounts

    @field_validator("public_url")
    @classmethod
    def _a_url(cls, url: str | None) -> str | None:
        # `hub.lan:8080` was taken as is: every picture link sent on chat became `hub.lan:8080/files/…`,
        # which no client opens.
        if url is not None and not re.fullmatch(r"https?://[^/\s?#]+(/[^\s?#]*)?", url):
            raise ValueError("not a web address the hub is reached by; write it whole, with http:// or https://")
        return url

    @field_validator("listen")
    @classmethod
    def _host_port(cls, listen: str) -> str:
        if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}", listen):
            raise ValueError("must be HOST:PORT")
        if port_too_high(listen):
            raise ValueError("a port is at most 65535")
        return listen

    @model_validator(mode="after")
    def _check_listen(self) -> WebSettings:
        if not self.loopback and not (self.token_env or self.token_file):
            raise ValueError(f"listen = {self.listen!r} is beyond loopback: a web server there needs a token: set "
                             "token_env = \"CHATOPS_WEB_TOKEN\" or token_file = \"/path\"")
        for name in self.notify_tokens:
            # A name is part of each notification's source (`alertmanager/NAME/KEY`): a "/" in it
            # would let one token pass for another's webhook family.
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
                raise ValueError(f"notify_tokens: the name {name!r} may hold letters, digits, '_', '.' and '-' only, "
                                 f"e.g. [web.notify_tokens] grafana = {{ token_env = \"GRAFANA_TOKEN\" }}")
        return self
