"""The IRC adapter: connects, reconnects, answers and sends, through irc3, inside the hub's
one event loop.

irc3 parses and dispatches the lines (`irc3.event` regexps, `IrcString` masks, tag decoding)
and writes them (`send_line`, with `asynchronous=False`: no queue of its own). Everything
irc3 would otherwise decide by itself is taken over: the connection is opened here (no
`create_connection`, so none of irc3's fixed-delay reconnects), and irc3's `dictConfig` is
made a no-op. The rest lives beside this module, one job each:

- `irc_settings`: the [adapters.irc] schema (`Settings`, re-exported here for the hub);
- `irc_link`: one connection (byte-exact framing, keepalive, its state, its end);
- `irc_output`: the paced send queue and PRIVMSG/NOTICE splitting;
- `irc_register`: CAP, SASL, welcome and ISUPPORT, nick fallback;
- `irc_channels`: joining, rejoining, who comes and goes;
- `irc_identity`: who sent a line (hostmask, vouched-for account);
- `irc_lines`: pure text helpers (splitting, sanitising, folding, pacing).

A lost link fails its pending sends (so the alert outbox retries) and `run` reconnects with
the hub's Backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from pathlib import Path
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import irc3
from irc3.utils import IrcString

from chatops.rate import TokenBucket

from adapters.irc_channels import Channels
from adapters.irc_lines import (
    JOIN_ERRORS,
    WHOX_TOKEN,
    _TARGET,
    privmsg_parts,
    sanitise,
    split_params,
    strip_formatting,
    strip_mention,
)
from adapters.irc_link import Link
from adapters.irc_network import NETWORK, irc_nick
from adapters.irc_register import Registration
from adapters.irc_settings import Settings
from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.message import Address, Identity, Message, Reply
from chatops.outbox import Undeliverable

if TYPE_CHECKING:
    from chatops.hub import Hub

__all__ = ["Adapter", "Settings"]

log = logging.getLogger(__name__)

_PREFIX = r"^(@(?P<tags>\S+) +)?(:(?P<source>\S+) +)?"
JOIN_WAIT = 5.0        # seconds a send waits for a configured channel being (re)joined


class _Bot(irc3.IrcBot):
    """irc3's bot without its logging set-up (an incremental, empty dictConfig is a no-op), and
    with handlers run as the line is read."""

    logging_config = {"version": 1, "incremental": True}
    on_privmsg: Callable[..., None] | None = None       # the PRIVMSG handler, for untagged lines read without irc3

    def dispatch(self, data: str, iotype: str = "in", client: Any = None) -> None:
        """irc3's dispatch, calling plain-function handlers at once instead of one loop turn later
        (irc3 schedules each with call_soon). Ours are all plain functions, each guarded against
        raising (`Adapter._guarded`): a command's answer starts a loop turn sooner
        (bench/latency.py), and lines are still handled in the order they came. Each of our
        patterns matches one command word, so the search stops at the first match, and the
        table in `_make_bot` lists the most frequent lines (PRIVMSG, PING) first. An untagged
        PRIVMSG, the most frequent, does not even go through the table (`privmsg_parts`)."""
        if iotype == "in" and self.on_privmsg is not None and (parts := privmsg_parts(data)) is not None:
            source, target, text = parts
            self.on_privmsg(command="PRIVMSG", target=target, data=text, source=source)
            return
        for match, events in self.registry.get_event_matches(data, iotype):
            kwargs = {key: None if value is None else IrcString(value) for key, value in match.groupdict().items()}
            if kwargs.get("tags", True) is None:
                del kwargs["tags"]                       # as irc3 does: handlers tell "no tags" by absence
            if client is not None:
                kwargs["client"] = client
            for event in events:
                event.callback(**kwargs)
            return                                       # our patterns are disjoint: one command word each


class _Fatal(Exception):
    """A refusal that retrying cannot fix (bad SASL credentials)."""


class Adapter(AdapterBase):
    """Channels and private messages on one IRC network."""

    network = "irc"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        self.capabilities = Capabilities(max_text=4000, images=NETWORK.pictures, names_pass_on=True)
        self.bucket = TokenBucket(settings.burst, settings.rate)
        self.bot: _Bot | None = None
        self.connections = 0
        self.registration = Registration(self)
        self.channels = Channels(self)
        self._hub: Hub | None = None
        self._link: Link | None = None
        self.nicks: list[str] = []
        self._nickserv: tuple[str, str] | None = None
        self._server_password: str | None = None

    # ---- lifecycle ----

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        s = self.settings
        self._read_secrets(hub)
        primary = s.primary_nick(hub.settings.hub)
        if primary is None:
            raise ConfigError([f"adapters.{self.name}.{p}" for p in s.problems_with(hub.settings.hub)])
        self.nicks = [primary, *s.alt_nicks]
        self.bot = self._make_bot(primary)
        backoff = Backoff(base=s.backoff_min, cap=s.backoff_max, reset_after=60.0)
        where = f"{s.host}:{s.port}"
        self.health.connecting(f"connecting to {where}")
        while True:
            try:
                reason = await self._connect_once(backoff)
            except _Fatal as exc:
                self.health.down(str(exc))
                log.error("IRC %s: %s; not reconnecting (fix the config and restart)", self.name, exc)
                return
            except (OSError, TimeoutError, ConnectionError, EOFError) as exc:
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            delay = backoff.next_delay()
            self.health.down(f"{where}: {reason}; reconnecting in {delay:.1f}s")
            log.warning("IRC %s disconnected from %s (%s); reconnecting in %.1fs", self.name, where, reason, delay)
            await asyncio.sleep(delay)

    def _read_secrets(self, hub: Hub) -> None:
        s, base = self.settings, hub.settings.base_dir
        password = read_secret(s, "sasl_password", base)
        self.registration.sasl = (s.sasl_username or s.nick or hub.settings.hub.name, password) if password else None
        password = read_secret(s, "password", base)
        self._nickserv = (s.nickserv_account or s.nick or hub.settings.hub.name, password) if password else None
        self._server_password = read_secret(s, "server_password", base)
        for channel in s.channels:
            key = read_secret(channel, "key", base)
            if key:
                self.channels.keys[channel.name] = key

    def _make_bot(self, nick: str) -> _Bot:
        s = self.settings
        bot = _Bot(nick=nick, username=s.username, realname=s.realname, host=s.host, port=s.port,
                   asynchronous=False, loop=asyncio.get_running_loop(), includes=[], ssl=False)
        registration, channels = self.registration, self.channels
        events: list[tuple[str, Callable[..., None]]] = [               # most frequent first
            (r"(?P<command>PRIVMSG|NOTICE) +(?P<target>\S+) +:?(?P<data>.*)$", self._on_message),
            (r"PING( +:?(?P<data>.*))?$", self._on_ping),
            (r"PONG( +(?P<server>[^\s:]\S*))?( +:?(?P<data>.*))?$", self._on_pong),
            (r"ERROR( +:?(?P<data>.*))?$", self._on_error),
            (r"(?P<code>[0-9][0-9][0-9]) +(?P<me>\S+)(?P<params>( .*)?)$", self._on_numeric),
            (r"CAP +(?P<me>\S+) +(?P<sub>[A-Za-z]+)(?P<params>( .*)?)$", registration.on_cap),
            (r"AUTHENTICATE +:?(?P<data>\S+)", registration.on_authenticate),
            (r"JOIN +:?(?P<channel>[^\s,]+)( +(?P<account>\S+))?", channels.on_join),
            (r"PART +:?(?P<channel>[^\s,]+)", channels.on_part),
            (r"KICK +(?P<channel>\S+) +(?P<target>\S+)( +:?(?P<data>.*))?$", channels.on_kick),
            (r"QUIT( +:?(?P<data>.*))?$", channels.on_quit),
            (r"NICK +:?(?P<new>\S+)", channels.on_nick),
            (r"ACCOUNT +:?(?P<account>\S+)", channels.on_account),
            (r"CHGHOST +(?P<user>\S+) +:?(?P<host>\S+)", channels.on_chghost),
        ]
        bot.attach_events(*(irc3.event(_PREFIX + regexp, self._guarded(handler)) for regexp, handler in events))
        bot.on_privmsg = self._guarded(self._on_message)
        return bot

    def _tls_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls:
            return None
        context = ssl.create_default_context()
        if s.ca_file:                  # beside the config file when relative, as `chatops check` reads it
            base = self._hub.settings.base_dir if self._hub is not None else Path(".")
            context.load_verify_locations(base / s.ca_file)
        if not s.tls_verify:
            log.warning("IRC %s: TLS certificate verification is off (tls_verify = false)", self.name)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect_once(self, backoff: Backoff) -> str:
        """One connection from connect to loss; returns (or raises) why it ended."""
        s = self.settings
        link = Link(self, self.nicks[0])
        self._link = link
        reason = "stopped"
        try:
            context = self._tls_context()
            loop = asyncio.get_running_loop()
            try:
                async with asyncio.timeout(s.connect_timeout):
                    await loop.create_connection(lambda: link.protocol, s.host, s.port, ssl=context,
                                                 server_hostname=s.host if context else None)
            except ssl.SSLCertVerificationError:
                raise                               # a certificate refused says why itself: never "try plain text"
            except ssl.SSLError as exc:          # a plain-text port spoken to in TLS
                raise ConnectionError(f"TLS failed ({exc.reason or exc}): {self._tls_hint(True)}") from exc
            except ConnectionResetError as exc:
                if context is None:
                    raise
                # ngircd's plain port takes the TLS greeting as garbage, waits, and hangs up.
                raise ConnectionError(f"TLS failed (the server hung up during the handshake): "
                                      f"{self._tls_hint(True)}") from exc
            assert self.bot is not None
            link.protocol.factory = self.bot
            self.bot.protocol = link.protocol   # irc3's send_line writes through it
            self.bot.config["nick"] = link.nick
            self.connections += 1
            link.tasks = [asyncio.create_task(link.out.write_forever(), name=f"{self.name}-writer"),
                          asyncio.create_task(link.keepalive(s.ping_interval, s.ping_timeout),
                                              name=f"{self.name}-keepalive")]
            if self._server_password:
                link.out.send_urgent(f"PASS {sanitise(self._server_password)}")   # must come first
            link.out.send_urgent("CAP LS 302")
            link.out.send_urgent(f"NICK {link.nick}")
            link.out.send_urgent(f"USER {s.username} 0 * :{sanitise(s.realname)}")
            try:
                await self._wait(link, link.registered, s.connect_timeout, "no welcome (001) from the server")
            except (TimeoutError, ConnectionError) as exc:
                if link.protocol.heard:
                    raise
                # Not a word from the server: a TLS port spoken to in clear says nothing, then hangs up.
                raise type(exc)(f"{exc or type(exc).__name__}, and not a word from the server: "
                                f"{self._tls_hint(False)}") from exc
            backoff.up()
            log.info("IRC %s registered on %s:%d as %s", self.name, s.host, s.port, link.nick)
            self._warn_of_blind_accounts(link)
            if self._nickserv and not link.account:
                account, password = self._nickserv
                link.out.enqueue([f"PRIVMSG {s.nickserv} :IDENTIFY {account} {password}"])
                identified = asyncio.ensure_future(link.identified.wait())
                try:
                    await self._wait(link, identified, 10.0, "")
                except TimeoutError:
                    log.warning("IRC %s: no login confirmation from %s; joining anyway", self.name, s.nickserv)
                finally:
                    identified.cancel()
            for channel in s.channels:
                self.channels.join(link, channel.name)
            self.show_health(link)
            reason = await link.lost
            if link.fatal:
                raise _Fatal(link.fatal)
            return reason
        except asyncio.CancelledError:
            reason = "hub stopping"
            link.out.write("QUIT :chatops is stopping")
            raise
        finally:
            tasks = link.close(reason)
            if self._link is link:
                self._link = None
            await asyncio.gather(*tasks, return_exceptions=True)

    def _warn_of_blind_accounts(self, link: Link) -> None:
        """`account:alice` in [users] on a server that tells nobody's account (ngircd: no
        account-tag, extended-join nor account-notify, which WHOX needs beside it here): alice can
        never be recognised, and only her `whoami` said so. Said once per connection, with the fix."""
        if {"account-tag", "extended-join", "account-notify"} & link.caps:
            return
        named = sorted(name for name, user in self._hub.auth.users.items()
                       if any(p.startswith("account:") for p in user.settings.patterns(self.network)))
        if named:
            log.warning("IRC %s: %s tells no one's services account (none of account-tag, extended-join, "
                        "account-notify): [users] %s with account: patterns are strangers here; give them a "
                        "nick!user@host pattern instead", self.name, self.settings.host, ", ".join(named))

    def _tls_hint(self, tls: bool) -> str:
        s = self.settings
        return (f"is {s.host}:{s.port} a {'TLS' if tls else 'plain-text'} port? [adapters.{self.name}] has tls = "
                f"{str(tls).lower()}; IRC servers usually take TLS on 6697 and plain text on 6667")

    async def _wait(self, link: Link, wanted: asyncio.Future[Any], timeout: float, what: str) -> None:
        """Wait for `wanted`; raise if the link is lost first, TimeoutError after `timeout`."""
        done, _ = await asyncio.wait({wanted, link.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if link.lost.done():
            if link.fatal:
                raise _Fatal(link.fatal)
            raise ConnectionError(link.lost.result())
        if not done:
            raise TimeoutError(what)

    def show_health(self, link: Link) -> None:
        """Up, with server, nick and channels, once registered; called again as they change."""
        if not link.registered.done() or link.lost.done():
            return
        s = self.settings
        channels = ", ".join(sorted(link.joined.values())) or "no channel yet"
        self.health.up(f"{s.host}:{s.port} as {link.nick}, in {channels}")

    def status_note(self) -> str | None:
        """Shown by !status when something is worth knowing (another nick, a missing channel)."""
        link = self._link
        if link is None or not link.registered.done():
            return None
        notes = []
        if link.nick != self.nicks[0]:
            notes.append(f"using nick {link.nick} ({self.nicks[0]} is taken)")
        missing = [c.name for c in self.settings.channels if link.fold(c.name) not in link.joined]
        if missing:
            notes.append(f"not in {', '.join(missing)}")
        if link.login_missing:
            notes.append(link.login_missing)
        return "; ".join(notes) or None

    # ---- sending ----

    async def send(self, address: Address, reply: Reply) -> None:
        """Send `reply` as PRIVMSG (NOTICE when `reply.notice`), split and paced; raises when
        not connected, so the alert outbox retries later."""
        link = self._link
        if link is None or not link.registered.done() or link.lost.done():
            raise ConnectionError(f"IRC {self.name} is not connected ({self.health.detail})")
        target = address.target
        if not link.is_channel(target) and (target.startswith(("user:", "account:")) or "!" in target):
            target = await self._holder_of(link, target)
        elif not _TARGET.fullmatch(target):
            raise ValueError(f"{target!r} is not an IRC channel or nick")
        elif link.is_own(target):
            # `irc:maison` for `irc:#maison`: the hub would notice itself, and count it delivered.
            channel = next((c.name for c in self.settings.channels if link.fold(c.name).lstrip("#&") == link.fold(target)),
                           None)
            hint = f"; the channel is written {self.name}:{channel}" if channel else ""
            raise Undeliverable(f"{self.name}:{target} is the hub's own nick{hint}")
        elif link.is_channel(bare := target.lstrip(link.isupport.get("STATUSMSG", "@+"))) \
                and link.fold(bare) not in link.joined and not await self._in_channel(link, bare):
            # Kicked, banned, not joined: the server would drop the line (404), and the outbox
            # would count it delivered. It waits for the rejoin instead.
            why = "kicked, banned or not joined yet; it rejoins" if self.channels.configured(link, bare) else \
                f"not one of [adapters.{self.name}] channels: add it there"
            raise ConnectionError(f"IRC {self.name} is not in {bare} ({why})")
        elif reply.notice and not link.is_channel(target):
            await self._online(link, target)          # an alert to a nick: not into the void (401)
        # Pictures came as links already (IRC carries none: the core's fit), long text in pieces.
        future = link.out.message(target, reply.text, notice=reply.notice, low_priority=reply.low_priority)
        if future is not None:
            try:
                await future
            except asyncio.CancelledError:            # the outbox gave up waiting: its retry sends it
                link.out.withdraw(future)
                raise

    async def _in_channel(self, link: Link, channel: str) -> bool:
        """Whether the bot is in `channel`; a configured one it is (re)joining right after a
        reconnect is worth a few seconds' wait, or the first send after it would fail."""
        deadline = time.monotonic() + JOIN_WAIT
        while link.fold(channel) not in link.joined:
            if not self.channels.configured(link, channel) or time.monotonic() >= deadline or link.lost.done():
                return False
            link.join_seen.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(deadline - time.monotonic()):
                    await link.join_seen.wait()
        return True

    async def _whois(self, link: Link, nick: str) -> Any:
        """Who holds `nick` now (its mask None when no one); LookupError when the server does not
        say within `ack_timeout` (the outbox tries again later)."""
        try:
            return await link.whois.ask(nick, lambda line: link.out.enqueue([line]), self.settings.ack_timeout)
        except TimeoutError:
            raise LookupError(f"no WHOIS answer for {nick} within {self.settings.ack_timeout:g}s") from None

    async def _online(self, link: Link, nick: str) -> None:
        """LookupError (the outbox tries again later) when no one holds `nick` now."""
        if (await self._whois(link, nick)).mask is None:
            raise LookupError(f"{nick} is not online; not sent")

    async def _holder_of(self, link: Link, person: str) -> str:
        """The nick to write to for a person: `user:NAME` (any of that user's `[users]` irc
        patterns) or one pattern (`account:alice`, `alice!*@home.example`), once WHOIS shows the
        nick's holder matches right now.

        An alert to a person must not reach whoever took their nick: LookupError otherwise, and
        the outbox tries again later with backoff (they may simply be offline)."""
        hub = self._hub
        if hub is None:
            raise LookupError("the IRC adapter is not running in a hub")
        if person.startswith("user:"):
            user = hub.auth.users.get(person[5:])
            patterns = list(user.settings.patterns("irc")) if user is not None else []
        else:
            patterns = [person]
        asked: set[str] = set()
        found: list[str] = []
        for pattern in patterns:
            nick = irc_nick(pattern)
            if nick is not None and pattern.startswith("account:"):
                nick = link.roster.nick_of(nick) or nick        # the nick seen logged in as the account
            if nick is None or not _TARGET.fullmatch(nick) or link.is_channel(nick):
                continue
            if link.fold(nick) in asked:
                continue
            asked.add(link.fold(nick))
            holder = await self._whois(link, nick)
            if holder.mask is None:
                found.append(f"{nick} is not online")
                continue
            if any(hub.auth.matches(Identity("irc", holder.mask, account=holder.account), p) for p in patterns):
                return nick
            found.append(f"{nick} is held by {holder.mask}, "
                         + (f"logged in as {holder.account}" if holder.account else "not logged in"))
        if not asked:
            raise ValueError(f"{person!r} names no IRC nick")
        raise LookupError(f"{'; '.join(found)}: not {person}; not sent")

    async def confirm_delivery(self) -> None:
        """Return once the server has read every line sent so far; the alert outbox calls it
        before it marks an alert delivered.

        IRC acknowledges nothing, and a line written into a connection whose server hangs and
        dies is lost without a trace. A PING queued behind the lines is answered only after the
        server processed them. Raises ConnectionError when the link is lost first (the outbox
        sends again after the reconnect), TimeoutError after `ack_timeout`.
        """
        link = self._link
        if link is None or not link.registered.done() or link.lost.done():
            raise ConnectionError(f"IRC {self.name} is not connected ({self.health.detail})")
        link.ping_serial += 1
        token = f"chatops-{link.ping_serial}"
        pong: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        link.pongs[token] = pong
        try:
            link.out.enqueue([f"PING :{token}"])
            await self._wait(link, pong, self.settings.ack_timeout,
                             f"the server did not confirm within {self.settings.ack_timeout:g}s")
        finally:
            link.pongs.pop(token, None)
            pong.cancel()

    # ---- handlers (irc3 events; one link at a time) ----

    def _guarded(self, handler: Callable[..., None]) -> Callable[..., None]:
        """`handler` as irc3 calls it: given the current link (lines between links are dropped),
        and logged when it raises, since irc3 calls it with call_soon and forgets it."""
        def call(**kwargs: Any) -> None:
            link = self._link
            if link is None:
                return
            try:
                handler(link, **kwargs)
            except Exception:
                log.exception("IRC handler %s failed", handler.__name__)
        call.__name__ = handler.__name__
        return call

    def _on_ping(self, link: Link, data: str | None = None, **_: Any) -> None:
        link.out.send_urgent(f"PONG :{data}" if data else "PONG")

    def _on_pong(self, link: Link, data: str | None = None, server: str | None = None, **_: Any) -> None:
        future = link.pongs.get((data or server or "").strip())
        if future is not None and not future.done():
            future.set_result(None)

    def _on_error(self, link: Link, data: str | None = None, **_: Any) -> None:
        link.error = f"server said: {data}"
        log.warning("IRC %s: server error: %s", self.name, data)

    def _on_numeric(self, link: Link, code: str, me: str, params: str = "", **_: Any) -> None:
        args = split_params(params or "")
        if link.whois.on_numeric(code, args):
            return
        if code == "353" and len(args) >= 3:
            link.roster.names(args[1], args[2].split())
        elif code == "354" and len(args) >= 5 and args[0] == WHOX_TOKEN:
            link.roster.whox(*args[1:5])
        elif code in JOIN_ERRORS and args:
            self.channels.join_refused(link, args[0], args[-1])
        elif code == "401" and args and link.fold(args[0]) == link.fold(self.settings.nickserv):
            link.identified.set()                      # no NickServ on this network
        elif code in ("401", "404", "442") and args:
            log.warning("IRC %s: could not send to %s: %s", self.name, args[0], args[-1])
        else:
            self.registration.on_numeric(link, code, me, args)

    def _on_message(self, link: Link, command: str, target: str, data: str, source: str | None = None,
                    tags: str | None = None, **_: Any) -> None:
        hub = self._hub
        if hub is None or command == "NOTICE" or not source or "!" not in source:
            return                                       # NOTICEs never get answers: no bot loops
        mask = IrcString(source)
        nick = source.partition("!")[0]                 # (as mask.nick reads it, each time it is asked)
        if link.is_me(nick) or data.startswith("\x01"):
            return                                       # our own line, or CTCP (ACTION, VERSION...)
        message = self.message_for(link, mask, str(target), data, tags, nick)
        router = getattr(hub, "router", None)
        if message.addressed or router is None or router.command_text(message) is not None:
            hub.dispatch(message)

    def message_for(self, link: Link, mask: IrcString, target: str, data: str, tags: str | None,
                    nick: str) -> Message:
        """The hub's Message for a PRIVMSG from `mask` (whose nick is `nick`) to `target` (a
        channel or our nick)."""
        text = strip_formatting(str(data))
        if link.is_channel(target.lstrip(link.isupport.get("STATUSMSG", "@+"))):
            address = Address(self.name, target, direct=False)      # "@#chan" (ops only) stays so
            command = strip_mention(text, link.nick, link.casemapping)
            addressed = command is not None
            text = command if command is not None else text
        else:
            address, addressed = Address(self.name, nick, direct=True), True
        return Message(link.roster.identity(mask, tags, nick), address, text, addressed=addressed,
                       raw={"mask": str(mask), "target": target, "text": data, "tags": tags})
