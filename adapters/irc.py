"""IRC through irc3, inside the hub's one event loop.

irc3 parses and dispatches the lines (`irc3.event` regexps, `IrcString` masks, tag decoding)
and writes them (`send_line`, with `asynchronous=False`: no queue of its own). Everything
irc3 would otherwise decide by itself is taken over here: the connection is opened by this
adapter (no `create_connection`, so none of irc3's fixed-delay reconnects), the framing is
byte-exact (irc3 decodes each TCP chunk and can cut a UTF-8 character in two), keepalive,
nick fallback, SASL and pacing are ours, and irc3's `dictConfig` is made a no-op.

One `_Link` holds the state of one connection; a lost link fails its pending sends (so the
alert outbox retries) and `run` reconnects with the hub's Backoff.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import ssl
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import irc3
import irc3.tags
from irc3.utils import IrcString
from pydantic import Field, field_validator, model_validator

from adapters.irc_lines import (
    HOSTLEN,
    JOIN_ERRORS,
    LINE_BYTES,
    NICK_ERRORS,
    NICK_PATTERN,
    USERLEN,
    TokenBucket,
    WANTED_CAPS,
    WHOX_TOKEN,
    _TARGET,
    casefold,
    decode_line,
    sanitise,
    split_params,
    split_text,
    strip_formatting,
    strip_mention,
)
from chatops.adapter import Capabilities
from chatops.backoff import Backoff
from chatops.config import AdapterSettings, ConfigError, Duration, Section, read_secret
from chatops.health import Health
from chatops.message import Address, Identity, Message, Reply

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)

class Channel(Section):
    """A channel to sit in, with its key given as `key_env` or `key_file` when it has one."""

    name: str = Field(pattern=r"^[#&+!][^\s,\x00-\x1f]{1,49}$", examples=['"#maison"'])
    key_env: str | None = Field(None, examples=['"IRC_MAISON_KEY"'])
    key_file: str | None = None


class Settings(AdapterSettings):
    """[adapters.irc], or [[adapters.irc]] with `name = "libera"` per network."""

    host: str = Field(min_length=1, examples=['"irc.libera.chat"'])
    port: int = Field(6697, ge=1, le=65535, examples=["6697"])
    tls: bool = True
    tls_verify: bool = True
    ca_file: str | None = Field(None, examples=['"/etc/chatops/irc-ca.pem"'],
                                description="extra CA to trust (self-signed servers)")
    nick: str | None = Field(None, pattern=NICK_PATTERN, max_length=30, examples=['"maison"'],
                             description="default: the hub's name")
    alt_nicks: list[str] = Field(default_factory=list, examples=['["maison_", "maisonbot"]'])
    username: str = Field("chatops", pattern=r"^[A-Za-z0-9_.~-]{1,16}$", examples=['"chatops"'])
    realname: str = Field("chatops home hub", min_length=1, max_length=100, examples=['"chatops home hub"'])
    channels: list[Channel] = Field(default_factory=list, examples=['["#maison"]'])
    sasl_username: str | None = Field(None, examples=['"maison"'], description="default: nick")
    sasl_password_env: str | None = Field(None, examples=['"IRC_SASL_PASSWORD"'])
    sasl_password_file: str | None = Field(None, examples=['"/etc/chatops/irc.pass"'])
    password_env: str | None = Field(None, examples=['"IRC_NICKSERV_PASSWORD"'],
                                     description="NickServ IDENTIFY password")
    password_file: str | None = Field(None, examples=['"/etc/chatops/nickserv.pass"'])
    nickserv: str = Field("NickServ", pattern=NICK_PATTERN, examples=['"NickServ"'])
    nickserv_account: str | None = Field(None, examples=['"maison"'], description="default: nick")
    burst: int = Field(5, ge=1, le=1000, examples=["5"], description="lines sent at once")
    rate: float = Field(1.0, gt=0, le=100000, examples=["1.0"], description="lines per second after the burst")
    ping_interval: Duration = Field(60.0, gt=0, examples=['"60s"'])
    ping_timeout: Duration = Field(180.0, gt=0, examples=['"3m"'])
    connect_timeout: Duration = Field(30.0, gt=0, examples=['"30s"'])
    rejoin_delay: Duration = Field(5.0, ge=0, examples=['"5s"'])
    ack_timeout: Duration = Field(10.0, gt=0, examples=['"10s"'],
                                  description="how long an alert waits for the server to show it read it")
    backoff_min: Duration = Field(1.0, gt=0, examples=['"1s"'])
    backoff_max: Duration = Field(300.0, gt=0, examples=['"5m"'])

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": item} if isinstance(item, str) else item for item in value]
        return value

    @field_validator("alt_nicks")
    @classmethod
    def _alt_nicks(cls, value: list[str]) -> list[str]:
        for nick in value:
            if not re.match(NICK_PATTERN, nick):
                raise ValueError(f"{nick!r} is not a valid IRC nick")
        return value

    @field_validator("ca_file", "sasl_username", "nickserv_account", mode="before")
    @classmethod
    def _empty_is_none(cls, value: Any) -> Any:
        return value or None

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.ping_timeout <= self.ping_interval:
            raise ValueError("ping_timeout must be longer than ping_interval, e.g. ping_interval = \"60s\", "
                             "ping_timeout = \"3m\"")
        return self


# ---- irc3 plumbing -------------------------------------------------------------------------


class _Bot(irc3.IrcBot):
    """irc3's bot without its logging set-up (an incremental, empty dictConfig is a no-op)."""

    logging_config = {"version": 1, "incremental": True}


class _Connection(irc3.IrcConnection):
    """irc3's protocol with byte-level framing; it never reconnects by itself."""

    def __init__(self, link: _Link) -> None:
        self.link = link
        self.closed = True                 # until connection_made
        self.encoding = "utf-8"
        self._buffer = b""
        self.last_read = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.closed = False

    def data_received(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        *lines, self._buffer = (self._buffer + data).split(b"\n")
        if len(self._buffer) > 16384:
            self.link.fail("the server sent a line longer than 16 KiB")
            return
        for raw in lines:
            line = decode_line(raw.rstrip(b"\r"))
            if line and not self.closed:
                self.link.received(line)

    def write(self, data: str) -> None:
        if not self.closed:
            self.transport.write(data.encode("utf-8") + b"\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.link.lost_with(str(exc) if exc else "connection closed by the server")

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()


class _Link:
    """One connection: its protocol, registration state, channels, accounts and send queue."""

    def __init__(self, adapter: Adapter, nick: str) -> None:
        loop = asyncio.get_running_loop()
        self.adapter = adapter
        self.protocol = _Connection(self)
        self.nick = nick
        self.nick_tries = 0
        self.mask: str | None = None
        self.isupport: dict[str, str] = {}
        self.offered: dict[str, str] = {}
        self.caps: set[str] = set()
        self.cap_ended = False
        self.account: str | None = None
        self.registered: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[str] = loop.create_future()
        self.identified = asyncio.Event()
        self.fatal: str | None = None
        self.error: str | None = None
        self.joined: dict[str, str] = {}               # folded name -> name as the server wrote it
        self.seen: dict[str, set[str]] = {}             # folded nick -> folded channels shared with us
        self.accounts: dict[str, tuple[str, str]] = {}  # folded nick -> (full mask, account)
        self.queue: deque[tuple[str, asyncio.Future[None] | None]] = deque()
        self.urgent: deque[str] = deque()
        self.wake = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.timers: list[asyncio.TimerHandle] = []
        self.last_ping = 0.0
        self.pongs: dict[str, asyncio.Future[None]] = {}   # PING tokens of confirm_delivery()
        self.ping_serial = 0

    # ---- input / output ----

    def received(self, line: str) -> None:
        if log.isEnabledFor(logging.DEBUG):
            log.debug("%s <- %s", self.adapter.name, line)
        self.adapter.bot.dispatch(line)

    def write(self, line: str) -> None:
        """Write one line now (callers went through the bucket, or are quitting)."""
        bot = self.adapter.bot
        if self.protocol.closed or bot is None or getattr(bot, "protocol", None) is not self.protocol:
            return
        if log.isEnabledFor(logging.DEBUG):
            secret = line.startswith("AUTHENTICATE ") and line[13:] not in ("PLAIN", "+", "*")
            shown = "AUTHENTICATE ****" if secret else line
            shown = re.sub(r"(?i)^(PRIVMSG \S+ :IDENTIFY |JOIN \S+ ).*", r"\1****", shown)
            log.debug("%s -> %s", self.adapter.name, shown)
        bot.send_line(line, nowait=True)

    def send_urgent(self, line: str) -> None:
        """Registration, PONG, SASL: ahead of queued replies, still within the bucket."""
        if not self.urgent and self.adapter.bucket.take():
            self.write(line)
            return
        self.urgent.append(line)
        self.wake.set()

    def enqueue(self, lines: Iterable[str]) -> asyncio.Future[None] | None:
        """Queue `lines` in order; the future resolves when the last one is written."""
        lines = list(lines)
        bucket = self.adapter.bucket
        while lines and not self.queue and not self.urgent and bucket.take():
            self.write(lines.pop(0))                     # fast path: nothing waits, a token is free
        if not lines:
            return None
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for line in lines[:-1]:
            self.queue.append((line, None))
        self.queue.append((lines[-1], future))
        self.wake.set()
        return future

    async def write_forever(self) -> None:
        bucket = self.adapter.bucket
        while True:
            if not self.urgent and not self.queue:
                self.wake.clear()
                await self.wake.wait()
                continue
            if not bucket.take():
                await asyncio.sleep(bucket.delay())
                continue
            if self.urgent:
                self.write(self.urgent.popleft())
                continue
            line, future = self.queue.popleft()
            self.write(line)
            if future is not None and not future.done():
                future.set_result(None)

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
                self.send_urgent(f"PING :{int(time.time())}")

    # ---- ending ----

    def lost_with(self, reason: str) -> None:
        if not self.lost.done():
            self.lost.set_result(self.error or reason)

    def fail(self, reason: str, fatal: bool = False, quit: bool = False) -> None:
        """End this connection now (ping timeout, SASL refused...)."""
        if fatal:
            self.fatal = reason
        if quit:
            self.write(f"QUIT :{reason[:100]}")
        self.lost_with(reason)
        self.protocol.close()

    def close(self, reason: str) -> list[asyncio.Task[None]]:
        """Release everything; pending sends fail so their callers (the outbox) retry."""
        self.lost_with(reason)
        self.protocol.close()
        for handle in self.timers:
            handle.cancel()
        error = ConnectionError(f"IRC connection lost ({reason})")
        for _line, future in self.queue:
            if future is not None and not future.done():
                future.set_exception(error)
        self.queue.clear()
        self.urgent.clear()
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
        return casefold(name, self.casemapping)

    def is_me(self, nick: str | None) -> bool:
        return nick is not None and self.fold(nick) == self.fold(self.nick)

    def is_channel(self, target: str) -> bool:
        return target[:1] in self.isupport.get("CHANTYPES", "#&")

    def prefix_bytes(self) -> int:
        """Bytes of `:nick!user@host ` the server puts before our lines (estimated until seen)."""
        mask = self.mask or f"{self.nick}!{'u' * USERLEN}@{'h' * HOSTLEN}"
        return len(mask.encode("utf-8")) + 2


# ---- the adapter ---------------------------------------------------------------------------


def _guarded(handler: Callable[..., None]) -> Callable[..., None]:
    """irc3 calls handlers with call_soon and forgets them: log what they raise."""
    def call(**kwargs: Any) -> None:
        try:
            handler(**kwargs)
        except Exception:
            log.exception("IRC handler %s failed", handler.__name__)
    call.__name__ = handler.__name__
    return call


_PREFIX = r"^(@(?P<tags>\S+) +)?(:(?P<source>\S+) +)?"


class Adapter:
    """Channels and private messages on one IRC network."""

    network = "irc"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        self.capabilities = Capabilities(max_text=4000, images=False)
        self.bucket = TokenBucket(settings.burst, settings.rate)
        self.bot: _Bot | None = None
        self.connections = 0
        self._hub: Hub | None = None
        self._link: _Link | None = None
        self._nicks: list[str] = []
        self._sasl: tuple[str, str] | None = None
        self._nickserv: tuple[str, str] | None = None
        self._keys: dict[str, str] = {}

    # ---- lifecycle ----

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        s = self.settings
        self._read_secrets(hub)
        primary = s.nick or re.sub(r"[^A-Za-z0-9_-]", "", hub.settings.hub.name)[:30]
        if not re.match(NICK_PATTERN, primary or "-"):
            raise ConfigError([f"adapters.{self.name}.nick: the hub name cannot be a nick; set nick = \"maison\""])
        self._nicks = [primary, *s.alt_nicks]
        self.bot = self._make_bot(primary)
        backoff = Backoff(base=s.backoff_min, cap=s.backoff_max, reset_after=60.0)
        where = f"{s.host}:{s.port}"
        self.health.down(f"connecting to {where}")
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
        self._sasl = (s.sasl_username or s.nick or hub.settings.hub.name, password) if password else None
        password = read_secret(s, "password", base)
        self._nickserv = (s.nickserv_account or s.nick or hub.settings.hub.name, password) if password else None
        for channel in s.channels:
            key = read_secret(channel, "key", base)
            if key:
                self._keys[channel.name] = key

    def _make_bot(self, nick: str) -> _Bot:
        s = self.settings
        bot = _Bot(nick=nick, username=s.username, realname=s.realname, host=s.host, port=s.port,
                   asynchronous=False, loop=asyncio.get_running_loop(), includes=[], ssl=False)
        events = [
            (r"PING( +:?(?P<data>.*))?$", self._on_ping),
            (r"PONG( +(?P<server>[^\s:]\S*))?( +:?(?P<data>.*))?$", self._on_pong),
            (r"ERROR( +:?(?P<data>.*))?$", self._on_error),
            (r"(?P<code>[0-9][0-9][0-9]) +(?P<me>\S+)(?P<params>( .*)?)$", self._on_numeric),
            (r"CAP +(?P<me>\S+) +(?P<sub>[A-Za-z]+)(?P<params>( .*)?)$", self._on_cap),
            (r"AUTHENTICATE +:?(?P<data>\S+)", self._on_authenticate),
            (r"(?P<command>PRIVMSG|NOTICE) +(?P<target>\S+) +:?(?P<data>.*)$", self._on_message),
            (r"JOIN +:?(?P<channel>[^\s,]+)( +(?P<account>\S+))?", self._on_join),
            (r"PART +:?(?P<channel>[^\s,]+)", self._on_part),
            (r"KICK +(?P<channel>\S+) +(?P<target>\S+)( +:?(?P<data>.*))?$", self._on_kick),
            (r"QUIT( +:?(?P<data>.*))?$", self._on_quit),
            (r"NICK +:?(?P<new>\S+)", self._on_nick),
            (r"ACCOUNT +:?(?P<account>\S+)", self._on_account),
            (r"CHGHOST +(?P<user>\S+) +:?(?P<host>\S+)", self._on_chghost),
        ]
        bot.attach_events(*(irc3.event(_PREFIX + regexp, _guarded(handler)) for regexp, handler in events))
        return bot

    def _tls_context(self) -> ssl.SSLContext | None:
        s = self.settings
        if not s.tls:
            return None
        context = ssl.create_default_context()
        if s.ca_file:
            context.load_verify_locations(s.ca_file)
        if not s.tls_verify:
            log.warning("IRC %s: TLS certificate verification is off (tls_verify = false)", self.name)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _connect_once(self, backoff: Backoff) -> str:
        """One connection from connect to loss; returns (or raises) why it ended."""
        s = self.settings
        link = _Link(self, self._nicks[0])
        self._link = link
        reason = "stopped"
        try:
            context = self._tls_context()
            loop = asyncio.get_running_loop()
            async with asyncio.timeout(s.connect_timeout):
                await loop.create_connection(lambda: link.protocol, s.host, s.port, ssl=context,
                                             server_hostname=s.host if context else None)
            assert self.bot is not None
            link.protocol.factory = self.bot
            self.bot.protocol = link.protocol   # irc3's send_line writes through it
            self.bot.config["nick"] = link.nick
            self.connections += 1
            link.tasks = [asyncio.create_task(link.write_forever(), name=f"{self.name}-writer"),
                          asyncio.create_task(link.keepalive(s.ping_interval, s.ping_timeout),
                                              name=f"{self.name}-keepalive")]
            link.send_urgent("CAP LS 302")
            link.send_urgent(f"NICK {link.nick}")
            link.send_urgent(f"USER {s.username} 0 * :{sanitise(s.realname)}")
            await self._wait(link, link.registered, s.connect_timeout, "no welcome (001) from the server")
            backoff.up()
            log.info("IRC %s registered on %s:%d as %s", self.name, s.host, s.port, link.nick)
            if self._nickserv and not link.account:
                account, password = self._nickserv
                link.enqueue([f"PRIVMSG {s.nickserv} :IDENTIFY {account} {password}"])
                identified = asyncio.ensure_future(link.identified.wait())
                try:
                    await self._wait(link, identified, 10.0, "")
                except TimeoutError:
                    log.warning("IRC %s: no login confirmation from %s; joining anyway", self.name, s.nickserv)
                finally:
                    identified.cancel()
            for channel in s.channels:
                self._join(link, channel.name)
            self._show_health(link)
            reason = await link.lost
            if link.fatal:
                raise _Fatal(link.fatal)
            return reason
        except asyncio.CancelledError:
            reason = "hub stopping"
            link.write("QUIT :chatops is stopping")
            raise
        finally:
            tasks = link.close(reason)
            if self._link is link:
                self._link = None
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _wait(self, link: _Link, wanted: asyncio.Future[Any], timeout: float, what: str) -> None:
        """Wait for `wanted`; raise if the link is lost first, TimeoutError after `timeout`."""
        done, _ = await asyncio.wait({wanted, link.lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if link.lost.done():
            if link.fatal:
                raise _Fatal(link.fatal)
            raise ConnectionError(link.lost.result())
        if not done:
            raise TimeoutError(what)

    def _show_health(self, link: _Link) -> None:
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
        if link.nick != self._nicks[0]:
            notes.append(f"using nick {link.nick} ({self._nicks[0]} is taken)")
        missing = [c.name for c in self.settings.channels if link.fold(c.name) not in link.joined]
        if missing:
            notes.append(f"not in {', '.join(missing)}")
        return "; ".join(notes) or None

    # ---- sending ----

    async def send(self, address: Address, reply: Reply) -> None:
        """Send `reply` as PRIVMSG (NOTICE when `reply.notice`), split and paced; raises when
        not connected, so the alert outbox retries later."""
        link = self._link
        if link is None or not link.registered.done() or link.lost.done():
            raise ConnectionError(f"IRC {self.name} is not connected ({self.health.detail})")
        target = address.target
        if not _TARGET.fullmatch(target):
            raise ValueError(f"{target!r} is not an IRC channel or nick")
        command = "NOTICE" if reply.notice else "PRIVMSG"
        text = reply.text
        for attachment in reply.attachments:
            text += "\n" + self._link_for(attachment)
        head = f"{command} {target} :"
        room = LINE_BYTES - 2 - link.prefix_bytes() - len(head.encode("utf-8"))
        lines = [head + chunk for chunk in split_text(text, room)]
        if not lines:
            return
        future = link.enqueue(lines)
        if future is not None:
            await future

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
            link.enqueue([f"PING :{token}"])
            await self._wait(link, pong, self.settings.ack_timeout,
                             f"the server did not confirm within {self.settings.ack_timeout:g}s")
        finally:
            link.pongs.pop(token, None)
            pong.cancel()

    def _link_for(self, attachment: Any) -> str:
        label = attachment.name or attachment.path.name
        if attachment.url:
            return f"{label}: {attachment.url}"
        web = getattr(self._hub, "web", None)
        if web is None:
            return f"{label}: (no link: the hub's web server is disabled)"
        return f"{label}: {web.links.publish(attachment.path, attachment.mime)}"

    def _join(self, link: _Link, channel: str) -> None:
        if link.lost.done():
            return
        key = self._keys.get(channel)
        link.enqueue([f"JOIN {channel} {key}" if key else f"JOIN {channel}"])

    def _later(self, link: _Link, delay: float, action: Callable[[], None]) -> None:
        def fire() -> None:
            try:
                if not link.lost.done():
                    action()
            except Exception:
                log.exception("IRC %s: timer failed", self.name)
        link.timers.append(asyncio.get_running_loop().call_later(delay, fire))

    # ---- handlers (irc3 events; one link at a time) ----

    def _on_ping(self, data: str | None = None, **_: Any) -> None:
        if self._link:
            self._link.send_urgent(f"PONG :{data}" if data else "PONG")

    def _on_pong(self, data: str | None = None, server: str | None = None, **_: Any) -> None:
        link = self._link
        token = (data or server or "").strip()
        future = link.pongs.get(token) if link else None
        if future is not None and not future.done():
            future.set_result(None)

    def _on_error(self, data: str | None = None, **_: Any) -> None:
        if self._link:
            self._link.error = f"server said: {data}"
            log.warning("IRC %s: server error: %s", self.name, data)

    def _on_numeric(self, code: str, me: str, params: str = "", **_: Any) -> None:
        link = self._link
        if link is None:
            return
        args = split_params(params or "")
        if code == "001":
            link.nick = str(me)
            assert self.bot is not None
            self.bot.config["nick"] = link.nick
            last = args[-1].split()[-1] if args and args[-1].split() else ""
            if "!" in last and "@" in last and link.is_me(IrcString(last).nick):
                link.mask = last
            if not link.registered.done():
                link.registered.set_result(None)
        elif code == "005":
            for token in args[:-1]:
                name, _, value = token.partition("=")
                if name.startswith("-"):
                    link.isupport.pop(name[1:], None)
                else:
                    link.isupport[name] = value
        elif code in NICK_ERRORS and not link.registered.done():
            self._next_nick(link, code, args)
        elif code in ("900", "903", "907"):
            if code == "900" and len(args) >= 2:
                link.mask, link.account = args[0], args[1]
                link.identified.set()
            if code != "900":
                self._cap_end(link)
        elif code in ("902", "904", "905", "906"):
            detail = args[-1] if args else code
            link.fail(f"SASL login as {self._sasl[0] if self._sasl else '?'} refused ({code} {detail}); "
                      "check sasl_username and the password", fatal=True, quit=True)
        elif code == "396" and args and link.mask:
            link.mask = link.mask.split("@")[0] + "@" + args[0]
        elif code == "353" and len(args) >= 3:
            channel = link.fold(args[1])
            for name in args[2].split():
                nick = link.fold(name.lstrip("~&@%+!."))
                if nick:
                    link.seen.setdefault(nick, set()).add(channel)
        elif code == "354" and len(args) >= 5 and args[0] == WHOX_TOKEN:
            user, host, nick, account = args[1:5]
            if account != "0":
                link.accounts[link.fold(nick)] = (f"{nick}!{user}@{host}", account)
        elif code in JOIN_ERRORS and args:
            channel = args[0]
            log.warning("IRC %s: cannot join %s: %s", self.name, channel, args[-1])
            if any(link.fold(channel) == link.fold(c.name) for c in self.settings.channels):
                self._later(link, max(60.0, self.settings.rejoin_delay), lambda: self._join(link, channel))
        elif code == "401" and args and link.fold(args[0]) == link.fold(self.settings.nickserv):
            link.identified.set()                      # no NickServ on this network
        elif code in ("401", "404", "442") and args:
            log.warning("IRC %s: could not send to %s: %s", self.name, args[0], args[-1])

    def _next_nick(self, link: _Link, code: str, args: list[str]) -> None:
        link.nick_tries += 1
        if link.nick_tries > 20:
            link.fail(f"no usable nick after 20 tries (last: {code} {' '.join(args)})", quit=True)
            return
        if link.nick_tries < len(self._nicks):
            nick = self._nicks[link.nick_tries]
        else:
            suffix = str(link.nick_tries - len(self._nicks) + 1)
            nick = self._nicks[0][: 8 - len(suffix)] + "_" + suffix
        log.info("IRC %s: nick %s unavailable (%s), trying %s", self.name, link.nick, code, nick)
        link.nick = nick
        link.send_urgent(f"NICK {nick}")

    def _on_cap(self, me: str, sub: str, params: str = "", **_: Any) -> None:
        link = self._link
        if link is None:
            return
        args = split_params(params or "")
        sub = sub.upper()
        caps = args[-1].split() if args else []
        if sub in ("LS", "NEW"):
            for token in caps:
                name, _, value = token.partition("=")
                link.offered[name] = value
            if sub == "LS" and args and args[0] == "*":
                return                                   # more LS lines follow
            wanted = [c for c in WANTED_CAPS if c in link.offered and c not in link.caps]
            if self._sasl and "sasl" in link.offered and not link.registered.done():
                wanted.append("sasl")
            if wanted:
                link.send_urgent(f"CAP REQ :{' '.join(wanted)}")
            elif sub == "LS":
                if self._sasl:
                    log.warning("IRC %s: the server offers no SASL; continuing without login", self.name)
                self._cap_end(link)
        elif sub == "ACK":
            for name in caps:
                if name.startswith("-"):
                    link.caps.discard(name[1:])
                else:
                    link.caps.add(name)
            if "sasl" in caps and self._sasl:
                link.send_urgent("AUTHENTICATE PLAIN")
            else:
                self._cap_end(link)
        elif sub == "NAK":
            self._cap_end(link)
        elif sub == "DEL":
            for name in caps:
                link.caps.discard(name)
                link.offered.pop(name, None)

    def _cap_end(self, link: _Link) -> None:
        if not link.cap_ended and not link.registered.done():
            link.cap_ended = True
            link.send_urgent("CAP END")

    def _on_authenticate(self, data: str, **_: Any) -> None:
        link = self._link
        if link is None or self._sasl is None or data != "+":
            return
        user, password = self._sasl
        payload = base64.b64encode(f"{user}\0{user}\0{password}".encode()).decode("ascii")
        chunks = [payload[i:i + 400] for i in range(0, len(payload), 400)]
        if len(chunks[-1]) == 400:
            chunks.append("+")
        for chunk in chunks:
            link.send_urgent(f"AUTHENTICATE {chunk}")

    def _on_message(self, command: str, target: str, data: str, source: str | None = None,
                    tags: str | None = None, **_: Any) -> None:
        link, hub = self._link, self._hub
        if link is None or hub is None or command == "NOTICE" or not source or "!" not in source:
            return                                       # NOTICEs never get answers: no bot loops
        mask = IrcString(source)
        if link.is_me(mask.nick) or data.startswith("\x01"):
            return                                       # our own line, or CTCP (ACTION, VERSION...)
        message = self.message_for(link, mask, str(target), data, tags)
        router = getattr(hub, "router", None)
        if message.addressed or router is None or router.command_text(message) is not None:
            hub.dispatch(message)

    def message_for(self, link: _Link, mask: IrcString, target: str, data: str, tags: str | None) -> Message:
        """The hub's Message for a PRIVMSG from `mask` to `target` (a channel or our nick)."""
        text = strip_formatting(str(data))
        nick = str(mask.nick)
        if link.is_channel(target.lstrip(link.isupport.get("STATUSMSG", "@+"))):
            address = Address(self.name, target, direct=False)      # "@#chan" (ops only) stays so
            command = strip_mention(text, link.nick, link.casemapping)
            addressed = command is not None
            text = command if command is not None else text
        else:
            address, addressed = Address(self.name, nick, direct=True), True
        sender = Identity("irc", str(mask), display=nick, account=self._account_of(link, mask, tags))
        return Message(sender, address, text, addressed=addressed,
                       raw={"mask": str(mask), "target": target, "text": data, "tags": tags})

    def _account_of(self, link: _Link, mask: IrcString, tags: str | None) -> str | None:
        """The services account of `mask`, only from what the server vouches for now."""
        if "account-tag" in link.caps:
            account = irc3.tags.decode(tags).get("account") if tags else None
            return str(account) if account and account != "*" else None
        if "account-notify" in link.caps:
            entry = link.accounts.get(link.fold(str(mask.nick)))
            if entry and entry[0] == str(mask):
                return entry[1]
        return None

    def _on_join(self, channel: str, source: str | None = None, account: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None or not source:
            return
        mask = IrcString(source)
        nick, folded = str(mask.nick), link.fold(channel)
        if link.is_me(nick):
            link.mask = str(mask)
            link.joined[folded] = str(channel)
            log.info("IRC %s joined %s", self.name, channel)
            if "WHOX" in link.isupport and "account-notify" in link.caps:
                link.enqueue([f"WHO {channel} %tuhna,{WHOX_TOKEN}"])
            self._show_health(link)
            return
        link.seen.setdefault(link.fold(nick), set()).add(folded)
        if "extended-join" in link.caps and account:
            self._set_account(link, mask, account)

    def _on_part(self, channel: str, source: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None or not source:
            return
        nick = str(IrcString(source).nick)
        if link.is_me(nick):
            self._left(link, channel)
        else:
            self._forget(link, nick, channel)

    def _on_kick(self, channel: str, target: str, data: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None:
            return
        if link.is_me(target):
            log.warning("IRC %s: kicked from %s (%s); rejoining in %gs", self.name, channel, data,
                        self.settings.rejoin_delay)
            self._left(link, channel)
            if any(link.fold(channel) == link.fold(c.name) for c in self.settings.channels):
                self._later(link, self.settings.rejoin_delay, lambda: self._join(link, channel))
        else:
            self._forget(link, str(target), channel)

    def _left(self, link: _Link, channel: str) -> None:
        folded = link.fold(channel)
        link.joined.pop(folded, None)
        for nick in [n for n, where in link.seen.items() if folded in where]:
            self._forget(link, nick, channel)
        self._show_health(link)

    def _forget(self, link: _Link, nick: str, channel: str | None) -> None:
        folded = link.fold(nick)
        where = link.seen.get(folded, set())
        if channel is not None:
            where.discard(link.fold(channel))
        if channel is None or not where:
            link.seen.pop(folded, None)
            link.accounts.pop(folded, None)

    def _on_quit(self, source: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None or not source:
            return
        nick = str(IrcString(source).nick)
        self._forget(link, nick, None)
        self._reclaim(link, nick)

    def _on_nick(self, new: str, source: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None or not source:
            return
        mask = IrcString(source)
        old = str(mask.nick)
        if link.is_me(old):
            link.nick = str(new)
            assert self.bot is not None
            self.bot.config["nick"] = link.nick
            if link.mask:
                link.mask = f"{new}!{link.mask.split('!', 1)[1]}"
            log.info("IRC %s: now known as %s", self.name, new)
            self._show_health(link)
            return
        folded_old, folded_new = link.fold(old), link.fold(str(new))
        if folded_old in link.seen:
            link.seen[folded_new] = link.seen.pop(folded_old)
        entry = link.accounts.pop(folded_old, None)
        if entry:
            link.accounts[folded_new] = (f"{new}!{entry[0].split('!', 1)[1]}", entry[1])
        self._reclaim(link, old)

    def _reclaim(self, link: _Link, freed: str) -> None:
        """Take our first-choice nick back when its holder leaves it."""
        primary = self._nicks[0] if self._nicks else None
        if primary and link.registered.done() and link.fold(freed) == link.fold(primary) \
                and not link.is_me(primary):
            link.enqueue([f"NICK {primary}"])

    def _on_account(self, account: str, source: str | None = None, **_: Any) -> None:
        link = self._link
        if link is not None and source:
            self._set_account(link, IrcString(source), account)

    def _set_account(self, link: _Link, mask: IrcString, account: str) -> None:
        folded = link.fold(str(mask.nick))
        if account in ("*", "0"):
            link.accounts.pop(folded, None)
        else:
            link.accounts[folded] = (str(mask), str(account))

    def _on_chghost(self, user: str, host: str, source: str | None = None, **_: Any) -> None:
        link = self._link
        if link is None or not source:
            return
        mask = IrcString(source)
        nick = str(mask.nick)
        if link.is_me(nick):
            link.mask = f"{nick}!{user}@{host}"
            return
        entry = link.accounts.get(link.fold(nick))
        if entry:
            link.accounts[link.fold(nick)] = (f"{nick}!{user}@{host}", entry[1])


class _Fatal(Exception):
    """A refusal that retrying cannot fix (bad SASL credentials)."""
