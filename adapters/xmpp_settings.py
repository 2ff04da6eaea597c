"""[adapters.xmpp]: the schema of the XMPP adapter's section (the hub finds it as
`adapters.xmpp.Settings`), checked before anything connects.
"""

from __future__ import annotations

import re

from chatops.schema import Field, field_validator, model_validator

from chatops.config import AdapterSettings, Duration, Section, is_loopback
from adapters.xmpp_rpc_client import DEFAULT_RESOURCE

_JID = re.compile(r"^[^@/\s]+@[^@/\s]+(/\S.*)?$")
_ROOM_JID = re.compile(r"^[^@/\s]+@[^@/\s]+$")


class RoomSettings(Section):
    """One room: `{jid = "maison@conference.example.org", nick = "maison", password_env = "ROOM_PW"}`."""

    jid: str = Field(examples=['"maison@conference.example.org"'], description="the room")
    nick: str | None = Field(None, min_length=1, max_length=64, examples=['"maison"'],
                             description="nick in this room")
    password_env: str | None = Field(None, examples=['"XMPP_ROOM_PASSWORD"'],
                                     description="environment variable holding the room password")
    password_file: str | None = Field(None, examples=['"/etc/chatops/room.pass"'],
                                      description="file holding the room password")

    @field_validator("jid")
    @classmethod
    def _bare_room(cls, value: str) -> str:
        if not _ROOM_JID.match(value):
            raise ValueError(f"{value!r} is not a room JID such as \"maison@conference.example.org\"")
        return value.lower()


class Settings(AdapterSettings):
    """[adapters.xmpp]: the hub's account, where to connect, which rooms to sit in."""

    jid: str = Field(examples=['"maison@example.org/chatops"'],
                     description="the hub's account; the resource is fixed (default `/chatops`) so scripts can address it")
    password_env: str | None = Field(None, examples=['"XMPP_PASSWORD"'],
                                     description="environment variable holding the account password")
    password_file: str | None = Field(None, examples=['"/etc/chatops/xmpp.pass"'],
                                      description="file holding the account password")
    host: str = Field("", examples=['""', '"xmpp.example.org"'], description="else DNS SRV of the JID's domain")
    port: int = Field(5222, ge=1, le=65535, examples=["5222"], description="server port")
    direct_tls: bool = Field(False, description="TLS from the first byte (port 5223) instead of STARTTLS")
    ca_file: str = Field("", examples=['"/etc/ssl/my-ca.pem"'],
                         description="extra CA for a private or self-signed server certificate")
    allow_plaintext: bool = Field(False, description="log in without TLS; only for a loopback host (tests)")
    nick: str | None = Field(None, min_length=1, max_length=64, examples=['"maison"'],
                             description="nick in rooms (default: `[hub] name`)")
    rooms: list[str | RoomSettings] = Field(default_factory=list,
                                            examples=['["maison@conference.example.org"]'],
                                            description="room JIDs, or tables with a nick and password")
    max_text: int = Field(4000, ge=200, le=100000, examples=["4000"],
                          description="longer replies are split at line ends (after [hub] max_reply_chars cut them)")
    stale_after: Duration = Field(120.0, gt=0, examples=['"2m"'],
                                  description="commands delivered later than this (offline storage) are not run")
    ping_interval: Duration = Field(60.0, gt=0, examples=['"60s"'], description="server keepalive")
    ping_timeout: Duration = Field(20.0, gt=0, examples=['"20s"'], description="no answer within this: reconnect")
    self_ping_interval: Duration = Field(300.0, gt=0, examples=['"5m"'],
                                         description="XEP-0410: check that a quiet room still knows the hub")
    connect_timeout: Duration = Field(30.0, gt=0, examples=['"30s"'], description="connect and log in")
    reconnect_max: Duration = Field(60.0, gt=0, examples=['"60s"'], description="longest reconnect delay")
    ack_timeout: Duration = Field(5.0, gt=0, examples=['"5s"'],
                                  description="how long send() waits for the server to acknowledge (XEP-0198)")
    http_upload: bool = Field(True, description="images by XEP-0363 when the server offers it")
    rpc: bool = Field(True, description="answer Jabber-RPC (XEP-0009, `chatops rpc`)")
    adhoc: bool = Field(True, description="offer ad-hoc commands (XEP-0050)")
    rpc_timeout: Duration = Field(30.0, gt=0, examples=['"30s"'], description="longest Jabber-RPC call")

    @field_validator("jid")
    @classmethod
    def _check_jid(cls, value: str) -> str:
        if not _JID.match(value):
            raise ValueError(f"{value!r} is not a JID such as \"maison@example.org/chatops\"")
        return value

    @field_validator("rooms")
    @classmethod
    def _room_jids(cls, rooms: list[str | RoomSettings]) -> list[str | RoomSettings]:
        # A bare string is a room's JID: checked here, or its error came out as a raw validation dump.
        for index, room in enumerate(rooms):
            if isinstance(room, str) and not _ROOM_JID.match(room):
                raise ValueError(f"rooms[{index}]: {room!r} is not a room JID such as \"maison@conference.example.org\"")
        return rooms

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if not (self.password_env or self.password_file):
            raise ValueError("the account needs a password: password_env = \"XMPP_PASSWORD\" "
                             "or password_file = \"/etc/chatops/xmpp.pass\"")
        if self.allow_plaintext and not is_loopback(self.host):
            raise ValueError("allow_plaintext sends the login unencrypted; it is only accepted with a loopback "
                             "host such as host = \"127.0.0.1\" (a local test server)")
        rooms = [r.jid for r in self.room_list("x")]
        for duplicate in {r for r in rooms if rooms.count(r) > 1}:
            raise ValueError(f"room {duplicate!r} is listed twice")
        return self

    @property
    def full_jid(self) -> str:
        """The account with its fixed resource, so scripts can address the hub."""
        return self.jid if "/" in self.jid else f"{self.jid}/{DEFAULT_RESOURCE}"

    def room_list(self, default_nick: str) -> list[RoomSettings]:
        return [RoomSettings(jid=r, nick=self.nick or default_nick) if isinstance(r, str)
                else r.model_copy(update={"nick": r.nick or self.nick or default_nick}) for r in self.rooms]

