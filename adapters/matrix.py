"""Matrix (matrix-nio, without end-to-end encryption): rooms and direct rooms, replies that quote
the asking message, pictures through the media repository, alerts to people and rooms.

`run` owns one long-poll loop: /sync with the stored `since` token, then, for every event of the
answer, a Message for the hub. The token of a sync is written to the hub's store *before* its
events are dispatched, so a restart never hands the same line to the router twice (a crash in
between loses those lines rather than running a switch command twice). nio does the HTTP; its
own retries are limited to rate limits (it waits `retry_after_ms` on M_LIMIT_EXCEEDED), and a
lost server goes to the hub's Backoff here.

Encrypted rooms are not read: the hub cannot decrypt them, and says so once in such a room.
"""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.i18n import N_, _, speaking
from chatops.message import Address, Identity, Message, Reply
from chatops.outbox import Undeliverable

from adapters.matrix_settings import Settings

if TYPE_CHECKING:
    from chatops.hub import Hub

__all__ = ["Adapter", "Settings", "EventAddress"]

log = logging.getLogger(__name__)
# Synapse sends 10 events of a room per sync unless told: the lines written while the hub was
# down beyond those were lost without a word. A flood past this many is said in the log.
TIMELINE_LIMIT = 100
REOPEN_AFTER = 3600.0           # seconds before the hub opens another direct room for one person
SYNC_FILTER = {"room": {"timeline": {"limit": TIMELINE_LIMIT}}}
ENCRYPTED_NOTE = N_("This room is end-to-end encrypted: the hub cannot read it and will not answer here. "
                     "Talk to it in an unencrypted room or a direct chat without encryption.")


@dataclass(frozen=True, slots=True)
class EventAddress(Address):
    """A room address that remembers the event that asked: the answer is a reply to it. Same
    adapter, target and thread as the room, so the hub keeps one lane (one order) per room."""

    event_id: str = ""


def _without_quote(body: str) -> str:
    """A reply's text without the quote of the message it answers (`> <@hub:x> salon: 20.8 °C`,
    then an empty line), which clients put before it for those that show no replies."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith(">"):
        return body
    rest = list(itertools.dropwhile(lambda line: line.startswith(">"), lines))
    return "\n".join(rest[1:] if rest and not rest[0].strip() else rest)


class _Refused(ConnectionError):
    """The room refused the message (the hub is not, or no longer, a member)."""


class _Fatal(Exception):
    """The server refused the account (bad token or password): trying again will not help."""


def _error(resp: Any) -> str:
    """A refusal as the homeserver said it (`M_FORBIDDEN: ...`); an answer with no Matrix error in
    it (a web server's HTML 404: `homeserver` is the site, not its client API) says that."""
    code = getattr(resp, "status_code", None)
    if code:
        return f"{code}: {getattr(resp, 'message', resp)}"
    status = getattr(getattr(resp, "transport_response", None), "status", None)
    if status is not None and status >= 500:             # a proxy in front of a homeserver restarting
        return f"HTTP {status} from the homeserver, with no Matrix error in it"
    http = f"HTTP {status}" if status else "an answer"
    return (f"{http} that is not the Matrix client API: is homeserver the client API's URL (for "
            f"@maison:example.org often https://matrix.example.org, as example.org/.well-known/matrix/client says)?")


class Adapter(AdapterBase):
    """The hub on one Matrix account."""

    network = "matrix"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.capabilities = Capabilities(max_text=settings.max_text, images=True)
        self.health = Health()
        self.client: Any = None
        self.syncs = 0                          # completed syncs (tests, status)
        self._hub: Hub | None = None
        self._store = f"matrix:{name}"          # the plugin_kv namespace of this adapter
        self._dm: dict[str, str] = {}           # user id -> direct room id
        self._warned: set[str] = set()          # encrypted rooms already told
        self._direct_invites: set[str] = set()  # rooms joined on a direct chat's invitation, until the join is seen
        self._opened: dict[str, tuple[str, float]] = {}   # person -> (room the hub opened, when: monotonic)
        # nio logs every response it validates at DEBUG, the login's access token and every
        # message body included: never below INFO, whatever the root level (tests check it).
        logging.getLogger("nio.responses").setLevel(logging.INFO)
        logging.getLogger("nio.rooms").setLevel(logging.WARNING)     # a line per event of every room, at INFO

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        import nio
        self._hub = hub
        base = hub.settings.base_dir
        token = read_secret(self.settings, "access_token", base)
        password = None if token else read_secret(self.settings, "password", base)
        if not (token or password):
            raise ConfigError([f"adapters.{self.name}: the access token or password is empty"])
        config = nio.AsyncClientConfig(store_sync_tokens=False, encryption_enabled=False,
                                       max_limit_exceeded=3, max_timeouts=0,
                                       request_timeout=self.settings.sync_timeout + 30)
        self.client = nio.AsyncClient(self.settings.homeserver, self.settings.user_id, config=config)
        backoff = Backoff(base=0.5, cap=self.settings.reconnect_max)
        try:
            while True:
                try:
                    await self._login(token, password)
                    await self._sync_loop(backoff)
                except _Fatal as exc:
                    self.health.down(str(exc))
                    raise ConfigError([f"adapters.{self.name}: {exc}"]) from None
                except (OSError, asyncio.TimeoutError, ConnectionError, nio.ProtocolError) as exc:
                    failure = f"cannot reach {self.settings.homeserver}: {exc or type(exc).__name__}"
                    self.health.down(failure)
                    log.warning("%s: %s", self.name, failure)
                except Exception as exc:        # aiohttp errors and the like: never end the adapter
                    self.health.down(f"sync failed: {type(exc).__name__}: {exc}")
                    log.warning("%s: sync failed", self.name, exc_info=True)
                delay = backoff.next_delay()
                log.info("%s: reconnecting in %.1fs", self.name, delay)
                await asyncio.sleep(delay)
        finally:
            await self.client.close()

    async def _login(self, token: str | None, password: str | None) -> None:
        import nio
        if self.client.access_token:
            return
        if token:
            self.client.access_token = token
            who = await self.client.whoami()
            if isinstance(who, nio.WhoamiError):
                self.client.access_token = ""
                if who.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN", "M_FORBIDDEN"):
                    raise _Fatal(f"the access token was refused ({who.status_code})")
                raise ConnectionError(_error(who))
            if who.user_id != self.settings.user_id:
                self.client.access_token = ""
                raise _Fatal(f"the access token belongs to {who.user_id}, not {self.settings.user_id}")
            self.client.user_id, self.client.device_id = who.user_id, who.device_id or ""
            return
        resp = await self.client.login(password, device_name=self.settings.device_name)
        if isinstance(resp, nio.LoginError):
            if resp.status_code in ("M_FORBIDDEN", "M_USER_DEACTIVATED", "M_INVALID_USERNAME"):
                raise _Fatal(f"the login was refused ({resp.status_code})")
            raise ConnectionError(_error(resp))

    async def _sync_loop(self, backoff: Backoff) -> None:
        import nio
        since = await self._hub_value("since")
        first = True
        while True:
            resp = await self.client.sync(timeout=int(self.settings.sync_timeout * 1000), since=since,
                                          full_state=first, set_presence="offline", sync_filter=SYNC_FILTER)
            if isinstance(resp, nio.SyncError):
                if resp.status_code in ("M_UNKNOWN_TOKEN", "M_MISSING_TOKEN"):
                    if self.settings.password_env or self.settings.password_file:
                        self.client.access_token = ""       # log in again after the backoff
                        raise ConnectionError(f"the server ended the session ({resp.status_code})")
                    raise _Fatal(f"the server ended the session ({resp.status_code})")
                raise ConnectionError(_error(resp))
            if first:
                backoff.up()
                if not self.health.connected and self.health.downs:
                    log.info("%s: connected again to %s", self.name, self.settings.homeserver)
                self.health.up(f"synced with {self.settings.homeserver} as {self.settings.user_id}")
                await self._join_configured()
            # Written before handling: a line is handled at most once, even across a crash.
            await self._set_hub_value("since", resp.next_batch)
            self._handle(resp, catch_up=since is not None)
            since, first = resp.next_batch, False
            self.syncs += 1

    async def _join_configured(self) -> None:
        for room in self.settings.rooms:
            resp = await self.client.join(room)
            if not hasattr(resp, "room_id"):
                log.warning("%s: cannot join %s: %s", self.name, room, _error(resp))

    # ---- inbound ------------------------------------------------------------------------------

    def _handle(self, resp: Any, catch_up: bool) -> None:
        """Dispatch what a sync brought. The very first sync of an account (no stored token)
        only sets the starting point: history from before the hub existed is not run."""
        assert self._hub is not None
        for room_id, invite in resp.rooms.invite.items():
            self._hub.spawn(self._invited(room_id, invite), f"matrix-invite-{room_id[:20]}")
        if catch_up:
            for room_id, info in resp.rooms.join.items():
                # A room the hub has just joined comes with a window of its history, cut short
                # as a rule: missing none of the hub's lines, it is worth no warning.
                if info.timeline.limited and self._own_join(info.timeline.events) is None:
                    log.warning("%s: more than %d events in %s since the last sync (the hub was down?): the "
                                "older ones are not handled", self.name, TIMELINE_LIMIT, room_id)
                self._room_events(room_id, info.timeline.events)

    def _own_join(self, events: list[Any]) -> int | None:
        """Where in `events` the hub's own (latest) join is, or None."""
        import nio
        joined = [i for i, e in enumerate(events) if isinstance(e, nio.RoomMemberEvent)
                  and e.state_key == self.client.user_id and e.membership == "join"]
        return joined[-1] if joined else None

    def _room_events(self, room_id: str, events: list[Any]) -> None:
        import nio
        assert self._hub is not None
        room = self.client.rooms.get(room_id)
        # A room of two is a direct chat, unless it is one anybody may join or find by name
        # (a group room whose other people have not come yet: its lines need the prefix).
        direct = room is not None and room.member_count <= 2 and room.join_rule != "public" \
            and not room.canonical_alias
        encrypted = room is not None and room.encrypted
        # The sync that brings the hub's own join also brings the room's recent history: lines
        # written before the hub was there were not meant for it. A direct chat opened with the
        # hub is another matter: Element creates the room with its first line ("temp salon") and
        # invites the hub (`is_direct`) after, so its recent lines (not stale ones) are the hub's.
        joined = self._own_join(events)
        opened = joined is not None and direct and room_id in self._direct_invites
        if joined is not None:
            self._direct_invites.discard(room_id)
        before = set(map(id, events[:joined])) if opened else set()
        for event in events[joined + 1:] if joined is not None and not opened else events:
            if getattr(event, "sender", None) == self.client.user_id:
                continue
            if id(event) in before and time.time() - getattr(event, "server_timestamp", 0) / 1000 > \
                    self.settings.stale_after:
                continue                        # history of a direct room from before the hub joined
            if isinstance(event, nio.MegolmEvent) or (encrypted and isinstance(event, nio.RoomMessage)):
                # Nothing of an encrypted room is run, not even a line some client sent in clear:
                # the answer would go out in clear, and the room would become the sender's direct
                # room, where alarms would follow.
                self._hub.spawn(self._say_encrypted(room_id), f"matrix-e2e-{room_id[:20]}")
                continue
            relation = event.source.get("content", {}).get("m.relates_to", {}) \
                if isinstance(event, nio.RoomMessageText) else {}
            if not isinstance(event, nio.RoomMessageText) or relation.get("rel_type") == "m.replace":
                continue                        # pictures, notices (other bots), edits: not commands
            thread = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
            address = EventAddress(self.name, room_id, direct, thread, event_id=event.event_id)
            body = _without_quote(event.body) if "m.in_reply_to" in relation else event.body
            late = time.time() - event.server_timestamp / 1000
            if late > self.settings.stale_after:         # answered "not run" by the router, metered
                self._hub.dispatch(Message(Identity(self.network, event.sender, display=event.sender), address,
                                           body, addressed=direct, raw=event, late=late))
                continue
            if direct and self._dm.get(event.sender) != room_id:
                self._dm[event.sender] = room_id
                self._hub.spawn(self._set_hub_value(f"dm:{event.sender}", room_id), "matrix-dm")
            self._hub.dispatch(Message(Identity(self.network, event.sender, display=event.sender), address,
                                       body, addressed=direct, raw=event))

    async def _invited(self, room_id: str, invite: Any) -> None:
        """Join when a configured user invites the hub; reject (and audit) anyone else's invitation."""
        assert self._hub is not None
        # The stripped state of an invitation is written by the inviting server, unsigned: its
        # homeserver puts the invite itself last, but a stranger's own server may put before it
        # a member event "sent" by a configured user. Every one of them must be a user's.
        invitations = [e for e in invite.invite_state
                       if getattr(e, "state_key", None) == self.client.user_id
                       and getattr(e, "membership", None) == "invite"]
        if not invitations:
            return
        invitation = invitations[-1]
        strangers = [e.sender for e in invitations if self._hub.auth.user_for(Identity(self.network, e.sender)) is None]
        inviter = strangers[-1] if strangers else invitation.sender
        if strangers:
            log.warning("%s: invitation to %s from %s, who is no configured user: declined",
                        self.name, room_id, inviter)
            self._hub.audit.record("refused", f"{self.network}:{inviter}", f"{self.name}:{room_id}",
                                   "(invitation)", "invitation from a stranger declined", fold=True)
            await self.client.room_leave(room_id)
            return
        if (getattr(invitation, "content", None) or {}).get("is_direct"):
            self._direct_invites.add(room_id)   # the lines that made the room are for the hub
        resp = await self.client.join(room_id)
        if not hasattr(resp, "room_id"):
            log.warning("%s: cannot join %s on %s's invitation: %s", self.name, room_id, inviter, _error(resp))

    async def _say_encrypted(self, room_id: str) -> None:
        """Tell an encrypted room once (across restarts) that the hub cannot read it."""
        if room_id in self._warned or await self._hub_value(f"e2e:{room_id}"):
            return
        self._warned.add(room_id)
        await self._set_hub_value(f"e2e:{room_id}", "told")
        language = self._hub.settings.hub.language if self._hub is not None else None
        with speaking(language):                  # who reads the room is not known: the hub's language
            note = _(ENCRYPTED_NOTE)
        await self._send_content(room_id, {"msgtype": "m.notice", "body": note})

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        if self.client is None or not self.client.access_token:
            raise ConnectionError(f"{self.name} is not logged in")
        room_id = await self._room_for(address.target)
        relates: dict[str, Any] = {}
        if isinstance(address, EventAddress) and address.event_id:
            reply_to = {"m.in_reply_to": {"event_id": address.event_id}}
            # In a thread, the answer stays in it (a client without threads shows it as a reply).
            relates = {"m.relates_to": {"rel_type": "m.thread", "event_id": address.thread, "is_falling_back": True,
                                        **reply_to} if address.thread else reply_to}
        try:
            for attachment in reply.attachments:
                await self._send_content(room_id, await self._image(attachment) | relates)
            if reply.text:
                kind = "m.notice" if reply.notice else "m.text"
                await self._send_content(room_id, {"msgtype": kind, "body": reply.text} | relates)
        except _Refused:
            if address.target.startswith("@") and self._dm.pop(address.target, None):
                await self._hub_delete(f"dm:{address.target}")      # they left it: open a new one next time
            raise

    async def _send_content(self, room_id: str, content: dict[str, Any]) -> None:
        import nio
        resp = await self.client.room_send(room_id, "m.room.message", content)
        if isinstance(resp, nio.RoomSendError):
            kind = _Refused if resp.status_code == "M_FORBIDDEN" else ConnectionError
            raise kind(f"{self.name}: cannot send to {room_id}: {_error(resp)}")

    async def _image(self, attachment: Any) -> dict[str, Any]:
        import nio
        data = await asyncio.to_thread(attachment.path.read_bytes)
        name = attachment.name or attachment.path.name
        resp, _keys = await self.client.upload(io.BytesIO(data), content_type=attachment.mime, filename=name,
                                               filesize=len(data))
        if not isinstance(resp, nio.UploadResponse):
            raise ConnectionError(f"{self.name}: cannot upload {name}: {_error(resp)}")
        return {"msgtype": "m.image", "body": name, "url": resp.content_uri,
                "info": {"mimetype": attachment.mime, "size": len(data)}}

    async def _room_for(self, target: str) -> str:
        """The room id for an address: a room id as is, an alias resolved, a person's direct room
        (the one they talked in, else a new one that invites them)."""
        import nio
        if target.startswith("!"):
            return target
        if target.startswith("#"):
            resp = await self.client.room_resolve_alias(target)
            if not isinstance(resp, nio.RoomResolveAliasResponse):
                raise ConnectionError(f"{self.name}: cannot resolve {target}: {_error(resp)}")
            if resp.room_id not in self.client.rooms:
                joined = await self.client.join(resp.room_id)
                if isinstance(joined, nio.JoinError):
                    why = f"{self.name}: cannot join {target}: {_error(joined)}"
                    log.warning("%s", why)
                    if joined.status_code == "M_FORBIDDEN":      # invite-only: no retry changes that
                        raise Undeliverable(f"{why}; invite {self.settings.user_id} to {target}")
                    raise ConnectionError(why)
            return str(resp.room_id)
        room_id = self._dm.get(target) or await self._hub_value(f"dm:{target}")
        if room_id and self._still_direct(room_id, target):
            self._dm[target] = room_id
            return room_id
        opened = self._opened.get(target) or await self._opened_before(target)
        if opened is not None and time.monotonic() - opened[1] < REOPEN_AFTER:
            # Not a new room (and invitation) for every message: they declined the last one, or
            # the server made it encrypted. The outbox tries again later.
            room = self.client.rooms.get(opened[0])
            if room is not None and room.encrypted:
                raise Undeliverable(f"{self.name}: the homeserver makes new rooms encrypted, which the hub cannot "
                                    f"write in; turn encryption_enabled_by_default_for_room_type off, or alert a room")
            raise ConnectionError(f"{self.name}: {target} has not joined the direct room the hub opened "
                                  f"{time.monotonic() - opened[1]:.0f}s ago; not opening another yet")
        if room_id:             # they left it (or declined the invitation), others came, or it became encrypted
            log.info("%s: %s is no longer alone with the hub in %s: opening a new room", self.name, target, room_id)
            self._dm.pop(target, None)
            await self._hub_delete(f"dm:{target}")
            room = self.client.rooms.get(room_id)
            if room is not None and set(room.users) <= {self.client.user_id}:
                await self.client.room_leave(room_id)       # nobody reads it any more (status counts rooms)
        resp = await self.client.room_create(is_direct=True, invite=[target],
                                             preset=nio.RoomPreset.trusted_private_chat)
        if not isinstance(resp, nio.RoomCreateResponse):
            raise ConnectionError(f"{self.name}: cannot open a direct room with {target}: {_error(resp)}")
        self._opened[target] = (resp.room_id, time.monotonic())
        await self._set_hub_value(f"opened:{target}", f"{resp.room_id} {time.time():.0f}")
        self._dm[target] = resp.room_id
        await self._set_hub_value(f"dm:{target}", resp.room_id)
        return str(resp.room_id)

    async def _opened_before(self, person: str) -> tuple[str, float] | None:
        """The room the hub last opened for `person`, kept across restarts (once an hour is once
        an hour, restart or not), with when on this process's monotonic clock."""
        kept = (await self._hub_value(f"opened:{person}") or "").split()
        if len(kept) != 2 or not kept[1].isdigit():
            return None
        return kept[0], time.monotonic() - max(0.0, time.time() - int(kept[1]))

    def _still_direct(self, room_id: str, person: str) -> bool:
        """Whether `room_id` is still `person`'s private room with the hub: they are a member (or
        invited), nobody else is, and it is not encrypted. A room they left still accepts the
        hub's messages: the alarm would be written to nobody, and marked delivered; one where
        others joined since would show them `person`'s alarms and camera pictures."""
        room = self.client.rooms.get(room_id)
        if room is None:            # one the hub has just opened, which no sync has shown yet
            return self._opened.get(person, ("", 0.0))[0] == room_id
        present = set(room.users) | set(room.invited_users)
        return not room.encrypted and person in present and present <= {person, self.client.user_id}

    def status_note(self) -> str | None:
        return f"{len(self.client.rooms) if self.client else 0} rooms" if self.client else None

    # ---- small state in the hub's store -------------------------------------------------------

    async def _hub_value(self, key: str) -> str | None:
        assert self._hub is not None
        return await self._hub.store.plugin_value(self._store, key)

    async def _hub_delete(self, key: str) -> None:
        assert self._hub is not None
        await self._hub.store.set_plugin_value(self._store, key, None)

    async def _set_hub_value(self, key: str, value: str) -> None:
        assert self._hub is not None
        await self._hub.store.set_plugin_value(self._store, key, value)
