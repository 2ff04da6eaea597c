"""XMPP (slixmpp): one-to-one chat, rooms (MUC), alerts, images over HTTP upload, RPC for scripts.

One slixmpp client lives for the adapter's whole life, so stream management (XEP-0198) can
resume the stream after a short network drop: stanzas the server did not acknowledge are sent
again, and what the server queued meanwhile arrives. `run` owns the reconnect loop (the
hub's Backoff, not slixmpp's own) and, per connection, the tasks that keep rooms joined
(rejoin after a new session, self-ping XEP-0410 to notice a room that forgot the bot) and
ping the server. Every slixmpp callback is wrapped: slixmpp drops task exceptions silently.

Jabber-RPC and ad-hoc commands for scripts live in adapters/xmpp_rpc.py, rooms in
adapters/xmpp_rooms.py, the [adapters.xmpp] schema in adapters/xmpp_settings.py.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import logging
import re
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chatops import render
from chatops.outbox import Undeliverable
from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.message import Address, Attachment, Identity, Message, Reply
from adapters.xmpp_rpc_client import import_slixmpp
from adapters.xmpp_roster import forget_strangers
from adapters.xmpp_rooms import Room, RoomKeeper, register_muc
from adapters.xmpp_settings import Settings

if TYPE_CHECKING:
    from chatops.hub import Hub

__all__ = ["Adapter", "Settings"]

log = logging.getLogger(__name__)
# slixmpp logs every stanza it sends and receives at DEBUG ("SEND: <presence ...>"): a room's
# password and a SASL payload (PLAIN carries the password in base64) are masked in those lines.
_STANZA_SECRETS = (
    (re.compile(r"(<password(?:\s[^>]*)?>)[^<]*(</password>)"), r"\1****\2"),
    (re.compile(r"(<(auth|response)\b[^>]*>)[^<]+(</\2>)"), r"\1****\3"),
)


class StanzaSecrets(logging.Filter):
    """Masks secrets in slixmpp's stanza debug lines, as IRC's PASS and AUTHENTICATE are masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            text = record.getMessage()
            masked = text
            for pattern, replacement in _STANZA_SECRETS:
                masked = pattern.sub(replacement, masked)
            if masked != text:
                record.msg, record.args = masked, ()
        return True


def mask_stanza_secrets() -> None:
    """Put the filter on the loggers that print stanzas (once, whatever the adapter count)."""
    for name in ("slixmpp.xmlstream.xmlstream", "slixmpp.basexmpp"):
        target = logging.getLogger(name)
        if not any(isinstance(f, StanzaSecrets) for f in target.filters):
            target.addFilter(StanzaSecrets())

# ---- state ------------------------------------------------------------------------------------

class _Fatal(Exception):
    """A login the server will refuse again (bad password, no secure mechanism)."""


class _ConnectFailed(Exception):
    """This attempt failed; try again later."""


@dataclass(frozen=True, slots=True)
class Delay:
    """XEP-0203 stamp of a message: who delayed it (a room replaying history, the server) and when."""

    by: str
    age: float


def delay_of(msg: Any, now: float | None = None) -> Delay | None:
    """The delay stamp of a slixmpp message, or None for a live message."""
    delay = msg.get_plugin("delay", check=True)
    if delay is None:
        return None
    stamp = delay["stamp"]
    age = 0.0 if stamp is None else max(0.0, (now or time.time()) - stamp.timestamp())
    return Delay(str(delay["from"].bare) if delay["from"] else "", age)


def strip_mention(text: str, nick: str) -> str | None:
    """`nick: temp salon` -> `temp salon`; None when the line does not start with the nick."""
    match = re.match(rf"@?{re.escape(nick)}\s*[:,]\s*", text, re.I)
    return text[match.end():] if match else None


# ---- the adapter ------------------------------------------------------------------------------

class Adapter(AdapterBase):
    """The hub on one XMPP account."""

    network = "xmpp"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        mask_stanza_secrets()
        self.capabilities = Capabilities(max_text=settings.max_text, images=True, threads=False)
        self.health = Health()
        self.muc = RoomKeeper(self)
        self.rooms = self.muc.rooms         # bare room JID -> Room
        self.sessions_started = 0           # fresh sessions (not resumptions); for /status and tests
        self.resumed = 0
        self.xmpp: Any = None
        self._hub: Hub | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._session_tasks: set[asyncio.Task[Any]] = set()
        self._outcome: asyncio.Future[str] | None = None
        self._lost = asyncio.Event()
        self._changed = asyncio.Event()
        self._acks: dict[str, asyncio.Future[None]] = {}
        self._sent_to: dict[str, str] = {}      # stanza id -> where it went (recent ones), to name a bounce
        self._auth_failure = ""                 # the last SASL failure's condition
        self._upload_available: bool | None = None
        self._last_error = ""
        self._rpc: Any = None

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        password = read_secret(self.settings, "password", hub.settings.base_dir)
        if not password:
            raise ConfigError([f"adapters.{self.name}.password_env: the XMPP password is empty"])
        for room in self.settings.room_list(hub.settings.hub.name):
            key = room.jid.lower()
            if key not in self.rooms:
                self.rooms[key] = Room(key, room.nick or hub.settings.hub.name,
                                       read_secret(room, "password", hub.settings.base_dir))
        self.xmpp = self._client(password)
        backoff = Backoff(base=0.5, cap=self.settings.reconnect_max)
        try:
            while True:
                try:
                    resumed = await self._connect()
                except _Fatal as exc:
                    fatal = str(exc)
                    self.changed(lambda f=fatal: self.health.down(f))
                    raise ConfigError([f"adapters.{self.name}: {fatal}"]) from None
                except _ConnectFailed as exc:
                    failure = f"cannot connect: {exc}"
                    self.changed(lambda f=failure: self.health.down(f))
                    log.warning("%s: %s", self.name, failure)
                else:
                    backoff.up()
                    await self._online(resumed)
                delay = backoff.next_delay()
                log.info("%s: reconnecting in %.1fs", self.name, delay)
                await asyncio.sleep(delay)
        finally:
            await self._close()

    def _client(self, password: str) -> Any:
        slixmpp = import_slixmpp()
        # Our own context: slixmpp's default one loads the system CA store twice (create_default_context,
        # then set_default_verify_paths again): 0.3 MB of idle RSS in bench.footprint.
        xmpp = slixmpp.ClientXMPP(self.settings.full_jid, password, ssl_context=ssl.create_default_context())
        register_muc()
        plugins = ["xep_0030", "xep_0004", "xep_0045", "xep_0199", "xep_0198", "xep_0203", "xep_0066"]
        plugins += ["xep_0009"] if self.settings.rpc else []     # else calls would be swallowed unanswered
        plugins += ["xep_0050"] if self.settings.adhoc else []
        for plugin in plugins:
            xmpp.register_plugin(plugin)
        # Ask for XEP-0198 acks only when an answer matters (send(), keepalive), not every 5 stanzas:
        # prosody's <a/> to each request leaves a segment our kernel ACKs late, and with Nagle on the
        # server side the next stanza to us then waits ~40 ms (bench/xmpp_rpc.py: p99 50 ms -> 6 ms).
        sm = xmpp.plugin["xep_0198"]
        sm.window = sm.window_counter = 2**31
        xmpp.exception = lambda exc: log.error("%s: error in slixmpp", self.name, exc_info=exc)
        xmpp.enable_direct_tls = self.settings.direct_tls
        xmpp.enable_starttls = not self.settings.direct_tls
        xmpp.enable_plaintext = False
        if self.settings.ca_file:
            from pathlib import Path
            path = Path(self.settings.ca_file)
            xmpp.ca_certs = path if path.is_absolute() or self._hub is None else self._hub.settings.base_dir / path
        if self.settings.allow_plaintext:
            xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
        xmpp.auto_authorize = None          # subscriptions are decided in _on_subscribe
        xmpp.auto_subscribe = False
        forget_strangers(xmpp, self)        # a stranger's presence leaves no roster entry (unbounded memory)
        on = self._on
        on(xmpp, "session_start", lambda _e: self._settle("start"))
        on(xmpp, "session_resumed", self._on_resumed)
        on(xmpp, "failed_auth", lambda failure: setattr(self, "_auth_failure", str(failure["condition"] or "")))
        on(xmpp, "failed_all_auth", self._on_failed_auth)
        on(xmpp, "ssl_invalid_chain", self._on_untrusted)
        on(xmpp, "connection_failed", lambda e: self._note(str(e)))
        on(xmpp, "stream_error", lambda e: self._note(f"stream error: {e['condition']} {e['text']}".strip()))
        on(xmpp, "disconnected", self._on_disconnected)
        on(xmpp, "session_end", self._on_session_end)
        on(xmpp, "stanza_acked", self._on_acked)
        on(xmpp, "message", self._on_message)
        on(xmpp, "message_error", self._on_bounce)
        on(xmpp, "groupchat_message", self._on_groupchat)
        on(xmpp, "groupchat_presence", self.muc.on_presence)
        on(xmpp, "roster_subscription_request", self._on_subscribe)
        if self.settings.rpc or self.settings.adhoc:
            from adapters.xmpp_rpc import HubService, install

            assert self._hub is not None
            self._rpc = install(xmpp, HubService(self._hub, self.name), self.settings, self.spawn, on,
                                lambda: self.rooms)
        return xmpp

    def _on(self, xmpp: Any, event: str, handler: Callable[[Any], Any]) -> None:
        """Register a sync handler that logs its exceptions instead of handing them to slixmpp."""
        def guarded(data: Any) -> None:
            try:
                handler(data)
            except Exception:
                log.exception("%s: %s handler failed", self.name, event)
        xmpp.add_event_handler(event, guarded)

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str, session: bool = False) -> asyncio.Task[Any]:
        """A tracked task: its exception is logged; session tasks end with the connection."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.name}-{name}")
        group = self._session_tasks if session else self._tasks
        group.add(task)
        def done(t: asyncio.Task[Any]) -> None:
            group.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("%s: task %s failed", self.name, name, exc_info=t.exception())
        task.add_done_callback(done)
        return task

    def changed(self, change: Callable[[], Any] | None = None) -> None:
        """Apply `change` and wake whoever waits in wait_until()."""
        if change is not None:
            change()
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout: float) -> None:
        """Wait until `predicate()` holds, re-checked at every connection or room change."""
        async with asyncio.timeout(timeout):
            while not predicate():
                await self._changed.wait()

    def _address(self) -> tuple[str | None, int | None]:
        if self.settings.host:
            return self.settings.host, self.settings.port
        if self.settings.port != 5222:
            return self.xmpp.boundjid.domain, self.settings.port
        return None, None                  # DNS SRV records of the JID's domain

    async def _connect(self) -> bool:
        """One connection attempt up to a session; True when the old session was resumed."""
        loop = asyncio.get_running_loop()
        self._outcome = loop.create_future()
        self._lost.clear()
        self._last_error = ""
        self.changed(lambda: setattr(self.health, "detail", "connecting"))
        attempt = self.xmpp.connect(*self._address())
        attempt.add_done_callback(lambda f: None if f.cancelled() or f.exception() or f.result() is None
                                  else self._settle("failed"))
        try:
            async with asyncio.timeout(self.settings.connect_timeout):
                outcome = await self._outcome
        except TimeoutError:
            outcome = "failed"
            self._last_error = self._last_error or f"no session after {self.settings.connect_timeout:g}s"
        if outcome in ("start", "resumed"):
            return outcome == "resumed"
        self.xmpp.cancel_connection_attempt()
        self.xmpp.abort()
        if outcome.startswith("fatal:"):
            raise _Fatal(outcome[6:])
        raise _ConnectFailed(self._last_error or outcome)

    def _settle(self, outcome: str) -> None:
        if self._outcome is not None and not self._outcome.done():
            self._outcome.set_result(outcome)

    def _note(self, error: str) -> None:
        self._last_error = error
        log.info("%s: %s", self.name, error)

    def _on_untrusted(self, error: Any) -> None:
        """The certificate refused, with the reason (a name that does not match is no CA problem)."""
        reason = getattr(error, "verify_message", None) or str(error)
        hint = "" if self.settings.ca_file or "hostname" in reason.casefold() else " (set ca_file for a private CA)"
        self._note(f"the server's TLS certificate is not trusted: {reason}{hint}")

    def _on_failed_auth(self, _event: Any) -> None:
        if self._auth_failure == "temporary-auth-failure":
            # The server could not check (its account store down): retried with backoff, not fatal.
            self._settle("the server could not check the password just now (temporary-auth-failure)")
        elif self.xmpp.plugin["feature_mechanisms"].attempted_mechs:
            self._settle(f"fatal:the server refused the password of {self.settings.jid}")
        else:
            self._settle("fatal:the server offers no login this client accepts over this connection "
                         "(no TLS? allow_plaintext is only for loopback test servers)")

    def _on_disconnected(self, reason: Any) -> None:
        self._note(f"disconnected{': ' + str(reason) if reason else ''}")
        self._settle("disconnected")
        self._lost.set()

    def _on_resumed(self, _event: Any) -> None:
        self._settle("resumed")
        if self._acks:                          # stanzas resent on resumption: ask for their ack now
            from slixmpp.plugins.xep_0198.stanza import RequestAck
            self.xmpp.send(RequestAck(self.xmpp))

    def _on_session_end(self, _event: Any) -> None:
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("the XMPP session ended before the server "
                                                     "acknowledged the message"))

    async def _online(self, resumed: bool) -> None:
        """Serve one connection: rooms, keepalive; return when the stream is lost."""
        xmpp = self.xmpp
        if resumed:
            self.resumed += 1
        else:
            self.sessions_started += 1
            self._upload_available = None
            self.spawn(self._start_session(), "session", session=True)
        self.changed(lambda: self.health.up(f"connected as {xmpp.boundjid}" + (" (resumed)" if resumed else "")))
        log.info("%s: %s as %s", self.name, "resumed" if resumed else "online", xmpp.boundjid)
        self.spawn(self._keepalive(), "keepalive", session=True)
        self.muc.start(resumed)
        try:
            await self._lost.wait()
        finally:
            await self._end_session_tasks()
        self.changed(lambda: self.health.down(f"connection lost ({self._last_error or 'disconnected'})"))
        log.warning("%s: connection lost: %s", self.name, self._last_error or "disconnected")

    async def _end_session_tasks(self) -> None:
        tasks = list(self._session_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=0.3)

    async def _start_session(self) -> None:
        xmpp = self.xmpp
        if self._rpc is not None:
            self._rpc.session_started()         # ad-hoc commands are listed only if added after session_start
        try:
            await xmpp.get_roster(timeout=self.settings.ping_timeout)
        finally:
            xmpp.send_presence(pstatus=f"{self._hub.settings.hub.name if self._hub else 'chatops'}: say help")

    async def _keepalive(self) -> None:
        """Ping the server; a silent server means a dead connection (slixmpp would reconnect on its own)."""
        from slixmpp.exceptions import IqError, IqTimeout

        while True:
            await asyncio.sleep(self.settings.ping_interval)
            try:
                await self.xmpp.plugin["xep_0199"].send_ping(self.xmpp.boundjid.domain,
                                                             timeout=self.settings.ping_timeout)
            except IqTimeout:
                self._note(f"no answer to a ping within {self.settings.ping_timeout:g}s")
                self.xmpp.abort()
                return
            except IqError as exc:          # an error answer still proves the stream is alive
                log.debug("%s: the server answered the keepalive ping with %s", self.name, exc.condition)
            if self.xmpp.plugin["xep_0198"].unacked_queue:
                from slixmpp.plugins.xep_0198.stanza import RequestAck
                self.xmpp.send(RequestAck(self.xmpp))   # lets slixmpp forget what the server has

    async def _close(self) -> None:
        """Leave within a second: close the stream, cancel everything we started."""
        await self._end_session_tasks()
        for task in list(self._tasks):
            task.cancel()
        xmpp = self.xmpp
        if xmpp is not None:
            if xmpp.transport is not None:
                closing = xmpp.disconnect(wait=0.5, reason="hub stopping")
                await asyncio.wait({closing}, timeout=0.8)
            xmpp.cancel_connection_attempt()
            xmpp.abort()
            sender = getattr(xmpp, "_run_out_filters", None)   # slixmpp's send loop outlives the stream
            if sender is not None:
                sender.cancel()
        self.changed(lambda: self.health.down("stopped"))

    def status_note(self) -> str:
        """An extra line for `!status`: the rooms and whether the hub sits in them."""
        return self.muc.status_note()

    # ---- inbound ------------------------------------------------------------------------------

    def _on_message(self, msg: Any) -> None:
        """One-to-one chat (and private messages from room occupants): any text is a command."""
        if msg["type"] not in ("chat", "normal") or not msg["body"].strip() or self._hub is None or _corrects(msg):
            return
        sender = msg["from"]
        if not sender.user or sender == self.xmpp.boundjid:
            return                              # server announcements, our own echo
        room = self.rooms.get(str(sender.bare))
        if room is not None and not sender.resource:
            return                              # the room itself (configuration notices)
        if room is not None:
            identity = self._occupant(room, sender.resource)
            address = Address(self.name, str(sender), True, msg["thread"] or None)
        else:
            identity = Identity("xmpp", str(sender.bare), display=sender.user)
            address = Address(self.name, str(sender.bare), True, msg["thread"] or None)
        delay = delay_of(msg)
        late = delay.age if delay is not None and delay.age > self.settings.stale_after else 0.0
        # A late line (a stamp anyone can write) is answered "not run" by the router, metered.
        self._hub.dispatch(Message(identity, address, msg["body"], addressed=True, raw=msg, late=late))

    def _on_groupchat(self, msg: Any) -> None:
        """A room line: for the hub only with the prefix or a mention; never our echo or old history."""
        room = self.rooms.get(str(msg["from"].bare))
        if room is None or self._hub is None:
            return
        room.wake.set()
        nick = msg["from"].resource
        if not nick or nick == room.nick or not msg["body"].strip() or _corrects(msg):
            return
        delay = delay_of(msg)
        if delay is not None and (delay.by == room.jid or delay.age > self.settings.stale_after):
            log.debug("%s: ignored %s line of %s in %s: %r", self.name,
                      "replayed history" if delay.by == room.jid else "stale", nick, room.jid, msg["body"][:60])
            return
        text = msg["body"]
        addressed = False
        stripped = strip_mention(text, room.nick)
        if stripped is not None:
            text, addressed = stripped, True
        self._hub.dispatch(Message(self._occupant(room, nick), Address(self.name, room.jid, False),
                                   text, addressed=addressed, raw=msg))

    def _occupant(self, room: Room, nick: str) -> Identity:
        """The real JID when the room shows it to us; else the occupant JID, which proves nothing."""
        from slixmpp import JID

        real = self.xmpp.plugin["xep_0045"].get_jid_property(JID(room.jid), nick, "jid")
        if real:
            return Identity("xmpp", str(JID(real).bare), display=nick)
        return Identity("xmpp", f"{room.jid}/{nick}", display=nick, trusted=False)

    def _on_subscribe(self, presence: Any) -> None:
        """Roster: configured users may see the hub's presence; everybody else is refused."""
        who = str(presence["from"].bare)
        item = self.xmpp.client_roster[who]
        hub = self._hub
        if hub is not None and hub.auth.user_for(Identity("xmpp", who)) is not None:
            item.authorize()
            if not item["to"]:
                item.subscribe()
            log.info("%s: %s may now see the hub's presence", self.name, who)
            return
        item.unauthorize()
        if hub is not None:
            hub.audit.record("refused", f"xmpp:{who}", f"{self.name}:{who}", "presence subscription",
                             "not a configured user", fold=True)       # a flood of them: one row a minute

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        """Deliver `reply`; raises when not connected or when the server does not acknowledge it."""
        from slixmpp import JID
        from slixmpp.jid import InvalidJID

        xmpp = self.xmpp
        if xmpp is None or not self.health.connected or xmpp.transport is None:
            raise ConnectionError(f"{self.name}: not connected to the XMPP server ({self.health.detail})")
        try:
            target = JID(address.target)
        except InvalidJID:
            raise ValueError(f"{address.target!r} is not a JID") from None
        bare = str(target.bare)
        room = self.rooms.get(bare)
        if room is None and not target.resource and not address.direct and await self.muc.is_room(bare):
            nick = self.settings.nick or (self._hub.settings.hub.name if self._hub else "chatops")
            room = await self.muc.join_on_demand(bare, nick)
        elif room is None and not target.resource and not address.direct and await self.muc.missing_room(bare):
            raise Undeliverable(f"xmpp:{bare}: there is no such room on {target.domain}: create it (and invite "
                                f"the hub), or check the address")
        if room is not None and not target.resource:
            if not room.joined:
                raise ConnectionError(f"{self.name}: not in {room.jid} ({room.detail})")
            to, kind = room.jid, "groupchat"
        else:
            to, kind = str(target), "chat"
        sent: list[str] = []
        try:
            if reply.text:                      # within max_text already: the core's fit cut it
                sent.append(self._message(to, kind, reply.text, address.thread))
            for attachment in reply.attachments:
                url, uploaded = await self._publish(attachment)
                # No HTTP upload and no web server: said, as on networks that carry no picture.
                shown = url or f"{attachment.name or attachment.path.name}: {render.NO_LINK}"
                sent.append(self._message(to, kind, shown, address.thread, oob=url if uploaded else None))
            await self._acknowledged(sent)
        finally:
            for stanza_id in sent:
                future = self._acks.pop(stanza_id, None)
                if future is not None and not future.done():
                    future.cancel()
                elif future is not None and not future.cancelled():
                    future.exception()              # retrieved: no "never retrieved" warning

    def _message(self, to: str, kind: str, body: str, thread: str | None, oob: str | None = None) -> str:
        """Queue one message; its acknowledgement is awaited by _acknowledged()."""
        msg = self.xmpp.make_message(mto=to, mbody=body, mtype=kind)
        msg["id"] = stanza_id = self.xmpp.new_id()
        if thread:
            msg["thread"] = thread
        if oob:
            msg["oob"]["url"] = oob             # XEP-0066: clients show the image inline when body == url
        self._acks[stanza_id] = asyncio.get_running_loop().create_future()
        self._sent_to[stanza_id] = to
        while len(self._sent_to) > 200:              # the recent ones: a bounce comes within seconds
            del self._sent_to[next(iter(self._sent_to))]
        msg.send()
        return stanza_id

    def _on_bounce(self, msg: Any) -> None:
        """The server returned one of our messages (no such user, no such room): never silent. Before
        its acknowledgement (a local user: the server bounces before it answers our ack request)
        the send fails for good, and the outbox says why; later (a remote server) it is logged."""
        to = self._sent_to.pop(str(msg["id"]), None) if msg["id"] else None
        if to is None:
            return
        why = f"{self.name}: the server returned the message to {to} ({msg['error']['condition']}" \
              f"{': ' + msg['error']['text'] if msg['error']['text'] else ''})"
        log.warning("%s", why)
        future = self._acks.get(str(msg["id"]))
        if future is not None and not future.done():
            future.set_exception(Undeliverable(why))

    async def _acknowledged(self, ids: list[str]) -> None:
        """Wait until the server acknowledged (XEP-0198) these stanzas, so an alert is never lost."""
        from slixmpp.plugins.xep_0198.stanza import RequestAck

        futures = [self._acks[i] for i in ids if i in self._acks]
        if not futures or not self.xmpp.plugin["xep_0198"].enabled_out:
            return
        try:
            self.xmpp.send(RequestAck(self.xmpp))   # queued behind the messages, unlike sm.request_ack()
            async with asyncio.timeout(self.settings.ack_timeout):
                await asyncio.gather(*futures)
        except TimeoutError:
            raise ConnectionError(f"{self.name}: the server did not acknowledge the message within "
                                  f"{self.settings.ack_timeout:g}s") from None

    def _on_acked(self, stanza: Any) -> None:
        future = self._acks.get(str(stanza["id"])) if stanza.get("id") else None
        if future is not None and not future.done():
            future.set_result(None)

    async def _publish(self, attachment: Attachment) -> tuple[str | None, bool]:
        """(url, uploaded): an XEP-0363 upload when the server offers one, else a link of the hub's web."""
        if self.settings.http_upload and self._upload_available is not False:
            try:
                if not self.xmpp.plugin.enabled("xep_0363"):    # at the first upload: it imports aiohttp (10 MB)
                    await asyncio.to_thread(importlib.import_module, "slixmpp.plugins.xep_0363")
                    self.xmpp.register_plugin("xep_0363")
                data = await asyncio.to_thread(attachment.path.read_bytes)
                url = await self.xmpp.plugin["xep_0363"].upload_file(
                    attachment.name or attachment.path.name, size=len(data), content_type=attachment.mime,
                    input_file=io.BytesIO(data), timeout=self.settings.ping_timeout)
                self._upload_available = True
                return str(url), True
            except Exception as exc:
                if type(exc).__name__ == "UploadServiceNotFound":
                    self._upload_available = False
                    log.info("%s: the server offers no HTTP upload; images go as links", self.name)
                else:
                    log.warning("%s: HTTP upload of %s failed: %s", self.name, attachment.path.name, exc)
        return render.image_link(getattr(self._hub, "web", None), attachment), False


def _corrects(msg: Any) -> bool:
    """Whether `msg` corrects an earlier one (XEP-0308, a client's "edit"): not a new command,
    or correcting `chauffage on` would switch again (Slack's and Matrix's edits are ignored too)."""
    return msg.xml.find("{urn:xmpp:message-correct:0}replace") is not None
