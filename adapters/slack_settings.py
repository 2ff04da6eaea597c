"""[adapters.slack]: what a Slack app needs (its two tokens, or a classic app's one over RTM),
checked when the config is read; the adapter is adapters/slack.py."""

from __future__ import annotations

from enum import Enum

from chatops.config import AdapterSettings, Duration
from chatops.schema import Field, model_validator


class Mode(str, Enum):
    SOCKET = "socket"
    RTM = "rtm"


class Settings(AdapterSettings):
    """[adapters.slack]: a Slack app in Socket Mode (bot and app-level tokens), or a classic app over RTM."""

    # Swapped tokens get a bare invalid_auth from Slack: `chatops check` tells them apart by their prefixes.
    SECRET_FORMATS = {
        "bot_token": (r"xox[bp]-\S+", "the bot token starts with xoxb-",
                      "it is the Bot User OAuth Token (OAuth & Permissions); an xapp- one is the app token"),
        "app_token": (r"xapp-\S+", "the app-level token starts with xapp-",
                      "it is made under Basic Information, App-Level Tokens (connections:write); an xoxb- one "
                      "is the bot token"),
    }

    mode: Mode = Field(Mode.SOCKET, examples=['"socket"', '"rtm"'],
                       description="`socket` (Socket Mode), or `rtm` for a legacy classic app")
    bot_token_env: str | None = Field(None, examples=['"SLACK_BOT_TOKEN"'],
                                      description="environment variable holding the bot token (`xoxb-...`)")
    bot_token_file: str | None = Field(None, examples=['"/etc/chatops/slack-bot.token"'],
                                       description="file holding the bot token")
    app_token_env: str | None = Field(None, examples=['"SLACK_APP_TOKEN"'],
                                      description="environment variable holding the app-level token (`xapp-...`, Socket Mode)")
    app_token_file: str | None = Field(None, examples=['"/etc/chatops/slack-app.token"'],
                                       description="file holding the app-level token")
    api_url: str = Field("https://slack.com/api/", pattern=r"^https?://", examples=['"https://slack.com/api/"'],
                         description="only changed for tests or a proxy")
    allow_bots: bool = Field(False, description="answer messages posted by other bots")
    watchdog: Duration = Field(30.0, ge=0.5, le=600, examples=['"30s"'],
                               description="recreate the connection after this long without a frame or pong")
    slash_command: str = Field("/home", pattern=r"^/[\w-]+$", examples=['"/home"'],
                               description="the slash command whose text is a hub command")
    max_retries: int = Field(10, ge=0, le=100, description="retries of a rate-limited (429) Web API call")
    timeout: Duration = Field(30.0, gt=0, le=300, examples=['"30s"'], description="one Web API call")
    backoff_max: Duration = Field(60.0, gt=0, le=3600, examples=['"60s"'],
                                  description="longest wait between two reconnect attempts")
    stale_after: Duration = Field(300.0, gt=0, examples=['"5m"'],
                                  description="commands that reach the hub later than this are not run")

    @model_validator(mode="after")
    def _needs_tokens(self) -> Settings:
        if not (self.bot_token_env or self.bot_token_file):
            raise ValueError('a bot token is needed: bot_token_env = "SLACK_BOT_TOKEN" (xoxb-...) '
                             'or bot_token_file = "/path"')
        if self.mode is Mode.SOCKET and not (self.app_token_env or self.app_token_file):
            raise ValueError('Socket Mode needs an app-level token: app_token_env = "SLACK_APP_TOKEN" '
                             '(xapp-..., scope connections:write) or app_token_file = "/path"')
        return self

    @property
    def base_url(self) -> str:
        return self.api_url if self.api_url.endswith("/") else self.api_url + "/"

    @property
    def ping_interval(self) -> float:
        """The SDK's ping period: often enough that a healthy link always beats the watchdog."""
        return min(5.0, self.watchdog / 3)
