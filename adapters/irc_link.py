"""One IRC connection, from connect to loss: byte-exact framing, what the server told us on
it, keepalive, and how it ends.

irc3 decodes each TCP chunk by itself and can cut a UTF-8 character in two, so `Connection`
frames bytes and hands whole lines to irc3's dispatch. A `Link` is never reused: `run`
makes a new one per connection, and closing one fails its pending sends so the alert outbox
retries them after the reconnect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import irc3

from adapters.irc_identity import Roster, Whois
from adapters.irc_lines import HOSTLEN, USERLEN, casefold, decode_line
from adapters.irc_output import SendQueue
from chatops.tcp import ack_now

if TYPE_CHECKING:
    from adapters.irc import Adapter

log = logging.getLogger(__name__)

RECLAIM_EVERY = 60.0     # seconds between two asks for the first-choice nick while on a spare one


class Connection(irc3.IrcConnection):
    """irc3's protocol with byte-level framing; it never reconnects by itself."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.closed = True                 # until connection_made
        self.encoding = "utf-8"
        self._buffer = b""
        self._socket: Any = None
        self.last_read = time.monotonic()
        self.heard = False                 # anything at all from the server (a wrong `tls` gets nothing)
        self.writes = 0                    # lines written so far (a read answered needs no ack_now)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._socket = transport.get_extra_info("socket")
        self.closed = False

    def data_received(self, data: bytes) -> None:
        self.last_read, self.heard = time.monotonic(), True
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        if len(self._buffer) > 16384:
            self.link.fail("the server sent a line longer than 16 KiB")
            return
        writes = self.writes
        for raw in lines:
            line = decode_line(raw.rstrip(b"\r"))
            if line and not self.closed:
                self.link.received(line)
        if self.writes == writes:
            # The server's next line is not held 40 ms (chatops.tcp). Asked after the lines are
            # handled, and only when none was answered: an answer carries the acknowledgement.
            ack_now(self._socket)

    def write(self, data: str) -> None:
        """Write one line; CR, LF and NUL inside it become spaces, so no text can start a second command."""
        if not self.closed:
            if "\r" in data or "\n" in data or "\0" in data:
                data = data.replace("\r", " ").replace("\n", " ").replace("\0", " ")
            self.transport.write(data.encode("utf-8") + b"\r\n")
            self.writes += 1

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.link.lost_with(str(exc) if exc else "connection closed by the server")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class Link:
    """One connection: its protocol, registration state, channels, accounts and send queue."""

    def __init__(self, adapter: Adapter, nick: str) -> None:
        loop = asyncio.get_running_loop()
        self.adapter = adapter
        self.protocol = Connection(self)
        self._own: frozenset[str] | None = None       # our nicks folded (is_own), until one changes
        self.nick = nick
        self.nick_tries = 0
        self.mask: str | None = None
        self.isupport: dict[str, str] = {}
        self._folded: dict[str, str] = {}
        self._folded_by = "rfc1459"                   # the CASEMAPPING `_folded` was folded by
        self.offered: dict[str, str] = {}
        self.caps: set[str] = set()
        self.cap_ended = False
        self.account: str | None = None
        self.registered: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.identified = asyncio.Event()
        self.fatal: str | None = None
        self.login_missing = ""           # SASL configured but not to be had on this server (status says so)
        self.join_seen = asyncio.Event()  # set at each of our JOINs (a send waits for its channel)
        self.error: str | None = None
        self.joined: dict[str, str] = {}               # folded name -> name as the server wrote it
        self.roster = Roster(self.fold, self.caps)
        self.whois = Whois(self.fold)
        self.out = SendQueue(self)
        self.tasks: list[asyncio.Task[None]] = []
        self.timers: list[asyncio.TimerHandle] = []
        self.last_ping = 0.0
        self.last_reclaim = time.monotonic()
        self.pongs: dict[str, asyncio.Future[None]] = {}   # PING tokens of confirm_delivery()
        self.ping_serial = 0

    def received(self, line: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s", self.adapter.name, line)
        self.adapter.bot.dispatch(line)

    async def keepalive(self, interval: float, timeout: float) -> None:
        """PING when the server has been quiet for `interval`; give up after `timeout` of silence."""
        step = min(max(interval / 4, 0.02), 10.0)
        while True:
            await asyncio.sleep(step)
            now = time.monotonic()
            quiet = now - self.protocol.last_read
            if quiet >= timeout:
                self.fail(f"ping timeout: nothing from the server for {quiet:.0f}s")
                return
            if quiet >= interval and now - self.last_ping >= interval:
                self.last_ping = now
                self.out.send_urgent(f"PING :{int(time.time())}")
            if now - self.last_reclaim >= RECLAIM_EVERY and self.adapter.nicks:
                # On a spare nick: its holder may have gone where we could not see it leave (in no
                # channel of ours, or our own old connection, gone after a freeze): ask for it now
                # and then; a refusal (433) after registration is taken silently.
                self.last_reclaim = now
                self.adapter.registration.reclaim(self, self.adapter.nicks[0])

    # ---- ending ----

    def lost_with(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(self.error or reason)

    def fail(self, reason: str, fatal: bool = False, quit: bool = False) -> None:
        """End this connection now (ping timeout, SASL refused...)."""
        if fatal:
            self.fatal = reason
        if quit:
            self.out.write(f"QUIT :{reason[:100]}")
        self.lost_with(reason)
        self.protocol.close()

    def close(self, reason: str) -> list[asyncio.Task[None]]:
        """Release everything; pending sends fail so their callers (the outbox) retry."""
        self.lost_with(reason)
        self.protocol.close()
        for handle in self.timers:
            handle.cancel()
        lost = ConnectionError(f"IRC connection lost ({reason})")
        self.out.fail(lost)
        self.whois.fail(lost)
        for future in self.pongs.values():
            future.cancel()
        for task in self.tasks:
            task.cancel()
        return self.tasks

    # ---- names ----

    @property
    def casemapping(self) -> str:
        return self.isupport.get("CASEMAPPING", "rfc1459")

    def fold(self, name: str) -> str:
        """`name` folded by the server's CASEMAPPING. Remembered: handling one chat line and its
        answer folds the same few names seven times (the sender, our nick, the channel), 9 % of
        the hub's CPU under bench.throughput's profile; a name seen before costs one lookup
        (`casemapping_changed` forgets them when the server's 005 changes the mapping)."""
        folded = self._folded.get(name)
        if folded is None:
            if len(self._folded) >= 1024:      # a busy channel's nicks: forget them all now and then
                self._folded.clear()
            folded = self._folded[name] = casefold(name, self.casemapping)
        return folded

    def casemapping_changed(self) -> None:
        """The server's 005 named a CASEMAPPING (or withdrew it): names folded before are
        folded again as they come."""
        if self.casemapping != self._folded_by:
            self._folded.clear()
            self._own = None
            self._folded_by = self.casemapping

    @property
    def nick(self) -> str:
        return self._nick

    @nick.setter
    def nick(self, nick: str) -> None:
        self._nick = nick
        self._own = None

    def is_own(self, name: str) -> bool:
        """Whether `name` is a nick of the hub's: the one it has, or one it would take."""
        own = self._own
        if own is None:
            own = self._own = frozenset(self.fold(n) for n in (self._nick, *self.adapter.nicks))
        return self.fold(name) in own

    def is_me(self, nick: str | None) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def is_channel(self, target: str) -> bool:
        return target[:1] in self.isupport.get("CHANTYPES", "#&")

    def prefix_bytes(self) -> int:
        """Bytes of `:nick!user@host ` the server puts before our lines (estimated until seen)."""
        mask = self.mask or f"{self.nick}!{'u' * USERLEN}@{'h' * HOSTLEN}"
        return len(mask.encode("utf-8")) + 2
