"""The hub's rooms (XEP-0045): join, notice being dropped, rejoin.

Each room has a keeper task per connection. After a fresh session every room is joined
again; after a resumed stream the rooms are kept, but first verified. A room drops the bot
loudly (a self-presence of leaving: kick, ban, destruction) or silently (a MUC service that
restarted and forgot its occupants); the silent case is found by MUC self-ping (XEP-0410)
after `self_ping_interval` without activity in the room.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from chatops.backoff import Backoff

if TYPE_CHECKING:
    from adapters.xmpp import Adapter

log = logging.getLogger(__name__)

JOIN_HISTORY = 0            # history stanzas asked for on join; what a room replays anyway is ignored
MUC_USER = "{http://jabber.org/protocol/muc#user}"


def register_muc() -> None:
    """Have `register_plugin("xep_0045")` load MUC without XEP-0172 (user nickname): slixmpp's MUC
    declares it but never uses it, and it brings PEP, pubsub, entity caps, SHIM and XEP-0082
    (19 modules). Entity caps also sent a disco#info query to each occupant whose caps it did not
    know and cached every answer for the life of the process."""
    from slixmpp.plugins.base import register_plugin
    from slixmpp.plugins.xep_0045 import XEP_0045

    class Muc(XEP_0045):
        dependencies = XEP_0045.dependencies - {"xep_0172"}

    register_plugin(Muc)        # named xep_0045, like the class it replaces, in slixmpp's registry


class Ping(Enum):
    """What a MUC self-ping (XEP-0410) says about our presence in a room."""

    JOINED = "joined"
    GONE = "gone"
    UNKNOWN = "unknown"


@dataclass(slots=True, eq=False)
class Room:
    """A room the hub sits in: configured, or joined on demand for an alert."""

    jid: str
    nick: str
    password: str | None = None
    configured: bool = True
    joined: bool = False
    detail: str = "not joined yet"
    left_reason: str | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def mark_left(self, reason: str) -> None:
        self.joined, self.detail, self.left_reason = False, reason, reason
        self.wake.set()


class RoomKeeper:
    """Keeps the adapter's rooms joined for as long as its connection lasts."""

    def __init__(self, adapter: Adapter) -> None:
        self.adapter = adapter
        self.rooms: dict[str, Room] = {}
        self._kinds: dict[str, bool] = {}       # JID -> a room (True) or a person, as disco#info said

    @property
    def xmpp(self) -> Any:
        return self.adapter.xmpp

    def start(self, resumed: bool) -> None:
        """Spawn a keeper per room for this connection (fresh session: every room is joined again)."""
        if not resumed:
            for room in self.rooms.values():
                room.mark_left("new session")
        for room in list(self.rooms.values()):
            self.adapter.spawn(self.keep(room, verify=resumed), f"room-{room.jid}", session=True)

    def status_note(self) -> str:
        rooms = ", ".join(f"{r.jid} ({'joined' if r.joined else r.detail})" for r in self.rooms.values())
        return f"rooms: {rooms}" if rooms else ""

    async def keep(self, room: Room, verify: bool) -> None:
        """Join `room`, watch it, rejoin when it drops the bot; until the connection ends."""
        settings = self.adapter.settings
        backoff = Backoff(base=1.0, cap=settings.reconnect_max)
        if verify and room.joined and await self.self_ping(room) is Ping.GONE:
            self.adapter.changed(lambda: room.mark_left("the room forgot the bot while the stream was away"))
        while True:
            if not room.joined:
                try:
                    await self.join(room)
                except Exception as exc:  # PresenceError (banned, wrong password), TimeoutError
                    reason = _join_error(exc)
                    self.adapter.changed(lambda d=f"join failed: {reason}": setattr(room, "detail", d))
                    log.warning("%s: cannot join %s: %s", self.adapter.name, room.jid, reason)
                    await asyncio.sleep(backoff.next_delay())
                    continue
                backoff.up()
            reason = await self.watch(room)
            log.warning("%s: %s dropped the bot (%s); rejoining", self.adapter.name, room.jid, reason)
            await asyncio.sleep(backoff.next_delay())

    async def join(self, room: Room) -> None:
        from slixmpp import JID
        from slixmpp.exceptions import PresenceError

        muc = self.xmpp.plugin["xep_0045"]
        nick = room.nick
        for attempt in range(2):
            try:
                presence = await self._join_once(
                    room, muc.join_muc_wait(JID(room.jid), nick, password=room.password, maxstanzas=JOIN_HISTORY,
                                            timeout=self.adapter.settings.ping_timeout))
                break
            except PresenceError as exc:
                if exc.condition != "conflict" or attempt:
                    raise
                nick = f"{room.nick}_"          # someone sits on our nick: take a variant
        actual = presence["from"].resource or nick

        def joined() -> None:
            room.nick, room.joined, room.detail, room.left_reason = actual, True, "joined", None
            room.wake.clear()
        self.adapter.changed(joined)
        log.info("%s: joined %s as %s", self.adapter.name, room.jid, actual)

    async def _join_once(self, room: Room, joining: Coroutine[Any, Any, tuple[Any, ...]]) -> Any:
        """Our self-presence from `joining` (join_muc_wait), or PresenceError when the room refuses us.

        Why: prosody (0.12) refuses a join (wrong password, ban, members-only, nick in use) with a
        bare `<presence type="error">` that lacks the `<x xmlns=".../muc"/>` of the request, and
        slixmpp's join_muc_wait only recognises an error carrying it: it waited out its timeout and
        the refusal showed as "no answer from the room". Any error presence from the room counts.
        """
        from slixmpp.exceptions import PresenceError

        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def on_error(presence: Any) -> None:
            if str(presence["from"].bare).lower() == room.jid and not refused.done():
                refused.set_result(presence)

        task = asyncio.ensure_future(joining)
        with self.xmpp.event_handler("presence_error", on_error):
            try:
                await asyncio.wait({task, refused}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not task.done():
                    task.cancel()
                    await asyncio.wait({task})
        if task.cancelled() or (refused.done() and task.exception() is not None):
            raise PresenceError(refused.result())       # cancelled above only once refused
        presence, *_ = task.result()                    # or its own PresenceError / TimeoutError
        return presence

    async def watch(self, room: Room) -> str:
        """Why the room dropped the bot: a self-presence of leaving, or a failed self-ping."""
        while True:
            if room.left_reason is not None:
                return room.left_reason
            room.wake.clear()
            try:
                async with asyncio.timeout(self.adapter.settings.self_ping_interval):
                    await room.wake.wait()
            except TimeoutError:
                if await self.self_ping(room) is Ping.GONE:
                    self.adapter.changed(lambda: room.mark_left("self-ping: not in the room any more"))
                # else: still there; the timer starts again
            # woken by activity in the room: it knows us; the timer starts again

    async def self_ping(self, room: Room) -> Ping:
        """XEP-0410: ping our own occupant JID and read the answer."""
        from slixmpp import JID
        from slixmpp.exceptions import IqError, IqTimeout

        try:
            await self.xmpp.plugin["xep_0199"].send_ping(JID(f"{room.jid}/{room.nick}"),
                                                         timeout=self.adapter.settings.ping_timeout)
            return Ping.JOINED
        except IqTimeout:
            return Ping.UNKNOWN
        except IqError as exc:
            condition = exc.condition
        if condition in ("service-unavailable", "feature-not-implemented"):
            return Ping.JOINED
        if condition in ("remote-server-not-found", "remote-server-timeout"):
            return Ping.UNKNOWN
        if condition == "item-not-found":
            # XEP-0410 reads this as "joined, nick just changed"; prosody also answers it for a
            # room that no longer exists (forgotten by a restarted MUC service): ask the room.
            return Ping.JOINED if await self._exists(room.jid) else Ping.GONE
        return Ping.GONE

    async def _exists(self, room_jid: str) -> bool:
        from slixmpp.exceptions import IqError, IqTimeout

        try:
            await self.xmpp.plugin["xep_0030"].get_info(jid=room_jid, timeout=self.adapter.settings.ping_timeout)
            return True
        except IqTimeout:
            return True
        except IqError as exc:
            return exc.condition not in ("item-not-found", "gone", "remote-server-not-found")

    async def is_room(self, jid: str) -> bool:
        """Whether `jid` is a MUC room (disco#info identity category "conference"): asked once per
        JID and remembered (a slow remote server must not delay every alert to a person); a JID
        that did not answer is asked again next time."""
        from slixmpp.exceptions import IqError, IqTimeout

        known = self._kinds.get(jid)
        if known is not None:
            return known
        try:
            info = await self.xmpp.plugin["xep_0030"].get_info(jid=jid, timeout=self.adapter.settings.ping_timeout)
        except IqTimeout:
            return False
        except IqError:
            self._kinds[jid] = False
            return False
        self._kinds[jid] = any(identity[0] == "conference" for identity in info["disco_info"]["identities"])
        return self._kinds[jid]

    async def missing_room(self, jid: str) -> bool:
        """Whether `jid` names no room on a MUC service (`ghost@conference.example.org`): sent as a
        chat to a person, it came back item-not-found; the alert is better given up with why."""
        from slixmpp import JID
        from slixmpp.exceptions import IqError, IqTimeout

        if self._kinds.get(jid) is not False:
            return False                # a room, or not known (a server that did not answer: no second wait)
        service = JID(jid).domain
        if service not in self._kinds:
            try:
                info = await self.xmpp.plugin["xep_0030"].get_info(jid=service,
                                                                    timeout=self.adapter.settings.ping_timeout)
            except (IqError, IqTimeout):
                return False
            self._kinds[service] = any(identity[0] == "conference" for identity in info["disco_info"]["identities"])
        return self._kinds[service]

    async def join_on_demand(self, jid: str, nick: str) -> Room:
        """A room that is not configured (an alert names it): join it for this and later alerts."""
        room = self.rooms[jid] = Room(jid, nick, configured=False)
        self.adapter.spawn(self.keep(room, verify=False), f"room-{jid}", session=True)
        try:
            await self.adapter.wait_until(lambda: room.joined or room.detail.startswith("join failed"),
                                          self.adapter.settings.ping_timeout)
        except TimeoutError:
            pass
        return room

    def on_presence(self, presence: Any) -> None:
        """Room presences: activity resets the self-ping timer; our own leaving marks the room left."""
        room = self.rooms.get(str(presence["from"].bare))
        if room is None or presence["type"] == "error":
            return
        room.wake.set()
        codes = presence["muc"]["status_codes"]
        ours = 110 in codes or presence["from"].resource == room.nick
        if not ours or presence["type"] != "unavailable" or not room.joined:
            return
        if 303 in codes and presence["muc"]["item_nick"]:
            room.nick = presence["muc"]["item_nick"]
            return
        reason = "kicked" if 307 in codes else "banned" if 301 in codes else \
            "room destroyed" if presence["muc"].xml.find(f"{MUC_USER}destroy") is not None else \
            "the room removed the bot"
        self.adapter.changed(lambda: room.mark_left(reason))


# What a room's refusal to let us in means (XEP-0045 §7.2), for !status and the log.
JOIN_REFUSALS = {
    "not-authorized": "wrong or missing room password",
    "forbidden": "the hub is banned from the room",
    "registration-required": "members-only room and the hub is not a member",
    "service-unavailable": "the room is full",
    "item-not-found": "the room does not exist (or is locked)",
    "not-allowed": "the service does not let the hub create this room",
    "conflict": "the nick is already in use",
    "not-acceptable": "the nick is reserved for another user",
}


def _join_error(exc: BaseException) -> str:
    """`condition: meaning (server's text)` for a refused join; a short reason for anything else."""
    if type(exc).__name__ == "PresenceError":
        presence = getattr(exc, "presence", None)
        text = presence["error"]["text"] if presence is not None else ""
        condition = str(getattr(exc, "condition", "") or "error")
        meaning = JOIN_REFUSALS.get(condition)
        return condition + (f": {meaning}" if meaning else "") + (f" ({text})" if text else "")
    if isinstance(exc, TimeoutError):
        return "no answer from the room"
    return f"{type(exc).__name__}: {exc}"
