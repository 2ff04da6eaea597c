"""[adapters.matrix]: the hub's Matrix account, checked before anything connects."""

from __future__ import annotations

from urllib.parse import urlsplit

from chatops.schema import Field, field_validator, model_validator

from chatops.config import AdapterSettings, Duration, is_loopback
from adapters.matrix_network import ROOM, USER_ID


class Settings(AdapterSettings):
    """[adapters.matrix]: homeserver, account, secret (an access token or a password), rooms."""

    homeserver: str = Field(examples=['"https://matrix.example.org"'],
                            description="the homeserver's URL (https; http only on a loopback address)")
    user_id: str = Field(examples=['"@maison:example.org"'], description="the hub's own Matrix account")
    access_token_env: str | None = Field(None, examples=['"MATRIX_TOKEN"'],
                                         description="environment variable holding the account's access token")
    access_token_file: str | None = Field(None, examples=['"/etc/chatops/matrix.token"'],
                                          description="file holding the access token")
    password_env: str | None = Field(None, examples=['"MATRIX_PASSWORD"'],
                                     description="environment variable holding the account password (used when there is no token)")
    password_file: str | None = Field(None, examples=['"/etc/chatops/matrix.pass"'],
                                      description="file holding the account password")
    device_name: str = Field("chatops", min_length=1, max_length=100,
                             description="the device name the hub logs in as")
    rooms: list[str] = Field(default_factory=list, examples=['["#maison:example.org"]'],
                             description="rooms joined at start (invitations from configured users are accepted too)")
    max_text: int = Field(4000, ge=200, le=60000, examples=["4000"],
                          description="longer replies are split at line ends (after [hub] max_reply_chars cut them)")
    sync_timeout: Duration = Field(30.0, gt=0, le=300, examples=['"30s"'],
                                   description="longest wait of one /sync long poll")
    stale_after: Duration = Field(300.0, gt=0, examples=['"5m"'],
                                  description="commands that reach the hub later than this are not run")
    reconnect_max: Duration = Field(60.0, gt=0, examples=['"60s"'], description="longest reconnect delay")

    @field_validator("user_id")
    @classmethod
    def _check_user(cls, value: str) -> str:
        if not USER_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a Matrix user id such as \"@maison:example.org\"")
        return value

    @field_validator("rooms")
    @classmethod
    def _check_rooms(cls, value: list[str]) -> list[str]:
        for room in value:
            if not ROOM.fullmatch(room):
                raise ValueError(f"{room!r} is not a room such as \"!abc:example.org\" or \"#maison:example.org\"")
        return value

    @model_validator(mode="after")
    def _check(self) -> Settings:
        url = urlsplit(self.homeserver)
        if url.scheme not in ("https", "http") or not url.hostname:
            raise ValueError(f"homeserver {self.homeserver!r} is not a URL such as \"https://matrix.example.org\"")
        if url.scheme == "http" and not is_loopback(url.hostname):
            raise ValueError("an http:// homeserver sends the token unencrypted; use https:// "
                             "(plain http is only accepted on a loopback address, e.g. a local test server)")
        if not (self.access_token_env or self.access_token_file or self.password_env or self.password_file):
            raise ValueError("the account needs a secret: access_token_env = \"MATRIX_TOKEN\" (or _file), "
                             "or password_env = \"MATRIX_PASSWORD\" (or _file)")
        return self
