"""[adapters.telegram]: the bot's token (from the environment or a file), polling or a webhook."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from chatops.schema import Field, model_validator

from chatops.config import AdapterSettings, Duration, is_loopback, port_too_high


class Settings(AdapterSettings):
    """[adapters.telegram]: a bot made with @BotFather; long polling unless a webhook is set."""

    token_env: str | None = Field(None, examples=['"TELEGRAM_TOKEN"'],
                                  description="environment variable holding the bot token from @BotFather")
    token_file: str | None = Field(None, examples=['"/etc/chatops/telegram.token"'],
                                   description="file holding the bot token")
    SECRET_FORMATS = {"webhook_secret": (r"[A-Za-z0-9_-]{1,256}", "Telegram takes 1 to 256 letters, digits, _ and -")}

    api_url: str = Field("https://api.telegram.org", examples=['"https://api.telegram.org"'],
                         description="the Bot API server (a local telegram-bot-api, or the tests' emulator)")
    mode: Literal["polling", "webhook"] = Field("polling", examples=['"webhook"'],
                                                description="polling needs no public address; a webhook does")
    poll_timeout: Duration = Field(25.0, gt=0, le=50, examples=['"25s"'],
                                   description="longest wait of one getUpdates long poll")
    webhook_url: str | None = Field(None, examples=['"https://maison.example.org/telegram"'],
                                    description="the public https URL Telegram posts to (mode = \"webhook\")")
    webhook_listen: str = Field("127.0.0.1:8443", examples=['"127.0.0.1:8443"'],
                                description="where the hub listens for it, behind your reverse proxy")
    webhook_secret_env: str | None = Field(None, examples=['"TELEGRAM_WEBHOOK_SECRET"'],
                                           description="environment variable holding the webhook's secret token")
    webhook_secret_file: str | None = Field(None, examples=['"/etc/chatops/telegram.secret"'],
                                            description="file holding the webhook's secret token")
    stale_after: Duration = Field(300.0, gt=0, examples=['"5m"'],
                                  description="commands that reach the hub later than this are not run")
    reconnect_max: Duration = Field(60.0, gt=0, examples=['"60s"'], description="longest reconnect delay")

    def listens(self) -> list[tuple[str, str]]:
        return [("webhook_listen", self.webhook_listen)] if self.mode == "webhook" else []

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not (self.token_env or self.token_file):
            raise ValueError("the bot needs its token: token_env = \"TELEGRAM_TOKEN\" (or token_file = \"...\"); "
                             "@BotFather gives it")
        url = urlsplit(self.api_url)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"api_url {self.api_url!r} is not a URL such as \"https://api.telegram.org\"")
        if url.scheme == "http" and not is_loopback(url.hostname):
            raise ValueError("an http:// api_url sends the token unencrypted; use https:// "
                             "(plain http is only accepted on a loopback address)")
        if not re.fullmatch(r"(\[[0-9a-fA-F:]+\]|[^:\s]+):\d{1,5}", self.webhook_listen) or \
                port_too_high(self.webhook_listen):
            raise ValueError(f"webhook_listen {self.webhook_listen!r} must be HOST:PORT with a port up to 65535, "
                             "e.g. \"127.0.0.1:8443\"")
        if self.mode == "webhook":
            if not self.webhook_url or not self.webhook_url.startswith("https://") and \
                    not is_loopback(urlsplit(self.webhook_url).hostname or ""):
                raise ValueError("mode = \"webhook\" needs webhook_url = \"https://...\", the address Telegram "
                                 "posts to")
            if not (self.webhook_secret_env or self.webhook_secret_file):
                raise ValueError("a webhook needs a secret, so that nobody else can post to it: "
                                 "webhook_secret_env = \"TELEGRAM_WEBHOOK_SECRET\" (or _file)")
        return self
