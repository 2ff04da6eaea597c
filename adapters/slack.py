"""Slack: Socket Mode (or the legacy RTM API) in, the Web API out, on slack_sdk's asyncio clients.

Inbound, every Socket Mode envelope is acked at once and queued; one consumer turns queued
events into `Message`s in order: Slack's redeliveries are dropped by `event_id` (and a post
seen as both `message` and `app_mention` by channel and ts) through the hub's store, so a
command never runs twice, even across restarts. Outbound, replies go through
`AsyncWebClient` with a retry handler that waits out HTTP 429 Retry-After (adapters.slack_retry).

The SDK reconnects on `disconnect` envelopes and closed sockets by itself; a watchdog
recreates the whole client when nothing (no frame, no pong) arrived for `watchdog` seconds,
the known failure of its aiohttp client that believes it is connected but hears nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp
from chatops import json_input
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack_retry import retry_handlers
from adapters.slack_settings import Mode, Settings
from chatops import render
from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.message import Address, Attachment, Identity, Message, Reply
from chatops.outbox import Undeliverable
from chatops.router import MAX_INPUT_CHARS
from chatops.store import processed

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)

MAX_TEXT = 4000                    # Slack truncates long messages; 4000 is its advice per message
# Web API refusals no retry can help, with what to do about each.
NEVER_DELIVERED = {
    "channel_not_found": "no such channel, or one the bot cannot see: check the ID, or /invite the bot there",
    "not_in_channel": "the bot is not a member of the channel: /invite it there",
    "is_archived": "the channel is archived",
    "user_not_found": "no such member: check the ID",
    "user_disabled": "that member's account is deactivated",
    "cannot_dm_bot": "a bot cannot be sent a direct message",
}
REFUSED_PAUSE = 60.0    # seconds a post Slack refused (its token, its scopes) holds the outbox
FATAL_ERRORS = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                          "token_expired", "not_allowed_token_type", "missing_scope", "no_permission"})
NEW_TEXT = frozenset({None, "thread_broadcast", "file_share", "me_message"})   # subtypes that are new text


# ---- text: Slack's escaping, its <...> tokens, and its message size ---------------------

_TOKEN = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")
LOOKUPS_PER_LINE = 5        # names of people and channels a user's line may cost (users.info, conversations.info)


def escape(text: str) -> str:
    """Text as Slack wants it in `text` fields: only &, < and > are escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def plain_text(text: str, user_name: Callable[[str], Awaitable[str]],
                     channel_name: Callable[[str], Awaitable[str]]) -> str:
    """Slack's wire text as a person reads it: `<@U1>` -> `@alice`, `<#C1|x>` -> `#x`, links bare."""
    out: list[str] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        out.append(unescape(text[pos:match.start()]))
        pos = match.end()
        sigil, ref, label = match.groups()
        label = unescape(label) if label else None
        if sigil == "@":
            out.append("@" + await user_name(ref))
        elif sigil == "#":
            out.append("#" + (label or await channel_name(ref)))
        elif sigil == "!":
            out.append(label or ("@" + ref.split("^")[0]))
        else:
            out.append(label if label and not ref.startswith("http") else unescape(ref.removeprefix("mailto:")))
    out.append(unescape(text[pos:]))
    return "".join(out)


def escaped_size(piece: str) -> int:
    """How long `piece` is once escaped (`&amp;`, `&lt;`, `&gt;`): what Slack's limit counts."""
    return len(piece) + 4 * piece.count("&") + 3 * (piece.count("<") + piece.count(">"))


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` escaped and cut into messages of at most `limit` characters once escaped (the cut
    is chatops.render's, measured after escaping, so it never falls inside an escape). The core
    cut with the same measure already (Capabilities.size): this cuts only what came otherwise."""
    return [escape(piece) for piece in render.split_text(text, limit, escaped_size)]


# ---- the adapter ------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in its workspace (auth.test)."""

    user_id: str
    bot_id: str | None
    team_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing Slack delivered: an envelope's payload (`events_api`, `slash_commands`) or an RTM event."""

    kind: str
    payload: dict[str, Any]


class Adapter(AdapterBase):
    """One Slack workspace."""

    network = "slack"
    capabilities = Capabilities(max_text=MAX_TEXT, images=True, threads=True, markup="slack", size=escaped_size)

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        self.me: BotIdentity | None = None
        self.watchdog_restarts = 0          # how often the watchdog recreated a silent connection
        self._hub: Hub | None = None
        self._web: AsyncWebClient | None = None
        self._inbound: asyncio.Queue[Inbound] = asyncio.Queue()
        self.heard_at = 0.0                 # monotonic time of the last frame from Slack
        self._names: dict[str, str] = {}
        self._channel_names: dict[str, str] = {}
        self._dm_channels: dict[str, str] = {}
        self._response_urls: dict[str, tuple[str, float]] = {}   # channel -> a slash command's response_url
        self._http: aiohttp.ClientSession | None = None

    # ---- lifecycle -------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        s = self.settings
        bot_token = read_secret(s, "bot_token", hub.settings.base_dir)
        app_token = read_secret(s, "app_token", hub.settings.base_dir) if s.mode is Mode.SOCKET else None
        if not bot_token or (s.mode is Mode.SOCKET and not app_token):
            raise ConfigError(["a bot token (and, in Socket Mode, an app token) is required"])
        self._hub = hub
        self._inbound = asyncio.Queue()
        # No event is redelivered a month late: the keys of the ones handled go (SMS keeps 30 days too).
        with contextlib.suppress(sqlite3.Error):         # a failing store is said by the hub itself
            await hub.store.call(processed.forget, hub.store.db, "slack:", time.time() - 30 * 86400)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=s.timeout)) as http:
            self._http = http
            self._web = AsyncWebClient(token=bot_token, base_url=s.base_url, session=http, timeout=int(s.timeout),
                                       retry_handlers=retry_handlers(s.max_retries))
            consumer = asyncio.create_task(self._consume(), name=f"{self.name}-inbound")
            try:
                await self._connect_forever(bot_token, app_token)
            finally:
                consumer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await consumer
                self._web = self._http = None
                self.health.down("stopped")

    async def _connect_forever(self, bot_token: str, app_token: str | None) -> None:
        """Connect, watch, and connect again with backoff; bad credentials stop the adapter."""
        backoff = Backoff(base=min(0.5, self.settings.backoff_max), cap=self.settings.backoff_max,
                          reset_after=60.0)
        while True:
            try:
                if self.me is None:
                    self.me = await self._whoami()
                if app_token is not None:
                    await self._socket_session(app_token, backoff)
                else:
                    await self._rtm_session(bot_token, backoff)
            except SlackApiError as exc:
                error = str(exc.response.get("error", "")) if exc.response is not None else ""
                if error in FATAL_ERRORS:
                    self.health.down(f"Slack refused the token: {error}")
                    raise ConfigError([self._refusal(error, str(getattr(exc.response, "api_url", "")))]) from None
                self.health.down(f"Slack API error: {error or exc}")
                log.warning("%s: Slack API error: %s", self.name, error or exc)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.health.down(f"cannot reach Slack: {type(exc).__name__}: {exc}")
                log.warning("%s: cannot reach Slack: %s: %s", self.name, type(exc).__name__, exc)
            except ConfigError:
                raise
            except Exception as exc:
                self.health.down(f"connection failed: {type(exc).__name__}: {exc}")
                log.exception("%s: connection failed", self.name)
            await asyncio.sleep(backoff.next_delay())

    def _refusal(self, error: str, url: str) -> str:
        """What Slack's refusal of a token means, naming the key to fix (which token: the call says)."""
        method = url.rstrip("/").rsplit("/", 1)[-1] or "the API"
        if method == "rtm.connect" and error == "not_allowed_token_type":
            return (f"adapters.{self.name}: this Slack app cannot use RTM (only classic apps can): set "
                    f"mode = \"socket\" and an app token (app_token_env), see docs/networks/slack.md")
        key = "app_token" if method == "apps.connections.open" else "bot_token"
        kind = "xapp-… app-level token (connections:write)" if key == "app_token" else "xoxb-… bot token"
        fix = "the app's scopes" if error in ("missing_scope", "no_permission") else f"{key}_env / {key}_file"
        return (f"adapters.{self.name}: Slack refused the {kind} ({error} from {method}): check {fix}, "
                f"see docs/networks/slack.md")

    async def _whoami(self) -> BotIdentity:
        assert self._web is not None
        me = await self._web.auth_test()
        identity = BotIdentity(str(me["user_id"]), me.get("bot_id"), str(me.get("team_id") or ""),
                               str(me.get("user") or ""))
        log.info("%s: signed in to Slack team %s as %s (%s)", self.name, identity.team_id, identity.name,
                 identity.user_id)
        return identity

    async def _socket_session(self, app_token: str, backoff: Backoff) -> None:
        """One SocketModeClient, from connect to close; returns when the watchdog wants a fresh one."""
        client = SocketModeClient(app_token=app_token, web_client=self._web, ping_interval=self.settings.ping_interval)
        retiring: list[object] = [None]      # the session Slack asked us to leave (`disconnect`)

        async def on_frame(frame: aiohttp.WSMessage) -> None:
            if self._on_frame(frame) == "disconnect":
                retiring[0] = client.current_session

        def alive() -> bool:
            session = client.current_session
            return session is not None and not session.closed and session is not retiring[0]

        client.on_message_listeners.append(on_frame)
        client.socket_mode_request_listeners.append(self._on_request)
        self.heard_at = time.monotonic()
        try:
            client.wss_uri = await client.issue_new_wss_url()     # errors surface here, not in the SDK's retry loop
            async with asyncio.timeout(self.settings.timeout):
                await client.connect()
            backoff.up()
            await self._watch(lambda: client.last_ping_pong_time, alive)
        finally:
            await close_socket_client(client)

    async def _rtm_session(self, bot_token: str, backoff: Backoff) -> None:
        from .slack_rtm import RtmConnection

        rtm = RtmConnection(self, bot_token)
        self.heard_at = time.monotonic()
        try:
            await rtm.open(self.settings.timeout)
            backoff.up()
            await self._watch(rtm.pong_time, rtm.alive)
        finally:
            await rtm.close()

    async def _watch(self, pong_time: Callable[[], float | None], alive: Callable[[], bool]) -> None:
        """Keep health true to the connection; return when the client should be recreated.

        That is when nothing came for `watchdog` seconds (no frame, no pong), or when no
        `hello` came that long after connecting: Slack greets every new socket, and health
        only turns up on that greeting.
        """
        limit = self.settings.watchdog
        # All on the monotonic clock, so that NTP stepping the wall clock neither forces a needless
        # reconnect nor hides a dead socket: a pong counts when its (wall) time changes.
        healthy_at = time.monotonic()
        pong = pong_time()
        while True:
            await asyncio.sleep(min(1.0, limit / 5))
            now = time.monotonic()
            if pong_time() != pong:
                pong, self.heard_at = pong_time(), now
            if self.health.connected:
                healthy_at = now
            silence = now - self.heard_at
            unhealthy = now - healthy_at
            if silence > limit or (not self.health.connected and unhealthy > limit):
                self.watchdog_restarts += 1
                why = f"nothing from Slack for {silence:.1f}s" if silence > limit else \
                    f"no hello from Slack for {unhealthy:.1f}s"
                log.warning("%s: %s; recreating the connection", self.name, why)
                self.health.down(f"{why}; reconnecting")
                return
            if self.health.connected and not alive():
                self.health.down("connection lost; reconnecting")

    # ---- inbound ---------------------------------------------------------------------

    def _on_frame(self, frame: aiohttp.WSMessage) -> str | None:
        """Every text frame of the Socket Mode socket: liveness, hello, disconnect. Returns its type."""
        self.heard_at = time.monotonic()
        try:
            data = json_input.loads(frame.data)
            kind = data.get("type")
            if kind == "hello":
                self.health.up("connected (socket)")
                log.info("%s: Socket Mode connected (%s connections)", self.name, data.get("num_connections"))
            elif kind == "disconnect":
                reason = data.get("reason", "unknown")
                self.health.down(f"reconnecting: Slack sent disconnect ({reason})")
                log.info("%s: Slack asked to reconnect (%s)", self.name, reason)
            return str(kind)
        except Exception:
            log.debug("%s: unreadable frame %r", self.name, frame.data, exc_info=True)
            return None

    async def _on_request(self, client: Any, request: SocketModeRequest) -> None:
        """Ack the envelope at once, then queue it for the consumer."""
        try:
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        except Exception as exc:
            log.warning("%s: could not ack envelope %s (%s); Slack will redeliver it", self.name,
                        request.envelope_id, exc)
        payload = dict(request.payload or {})
        payload.setdefault("envelope_id", request.envelope_id)
        self._inbound.put_nowait(Inbound(request.type, payload))

    def deliver_rtm(self, event: dict[str, Any]) -> None:
        """An RTM event, already back on the loop (see slack_rtm)."""
        self.heard_at = time.monotonic()
        kind = event.get("type")
        if kind == "hello":
            self.health.up("connected (rtm)")
        elif kind == "message":
            self._inbound.put_nowait(Inbound("rtm", event))

    async def _consume(self) -> None:
        while True:
            item = await self._inbound.get()
            try:
                await self._handle(item)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: could not handle a Slack %s", self.name, item.kind)

    async def _handle(self, item: Inbound) -> None:
        payload = item.payload
        if item.kind == "events_api":
            event = payload.get("event") or {}
            if event.get("type") in ("message", "app_mention"):
                await self._on_message(event, payload.get("event_id"))
        elif item.kind == "slash_commands":
            await self._on_slash(payload)
        elif item.kind == "rtm":
            await self._on_message(payload)

    async def _first_time(self, key: str) -> bool:
        assert self._hub is not None and self.me is not None
        return await self._hub.store.mark_processed(f"slack:{self.me.team_id}:{key}")

    async def _on_message(self, event: dict[str, Any], event_id: str | None = None) -> None:
        assert self._hub is not None and self.me is not None
        subtype = event.get("subtype")
        bot_id = event.get("bot_id")
        user = event.get("user")
        channel = event.get("channel")
        if event.get("hidden") or not channel:
            return
        if subtype not in NEW_TEXT and not (subtype == "bot_message" and self.settings.allow_bots):
            return
        if user == self.me.user_id or (bot_id and bot_id == self.me.bot_id):
            return
        if (bot_id or subtype == "bot_message") and not self.settings.allow_bots:
            return
        sender_id = user or bot_id
        if not sender_id:
            return
        text = str(event.get("text") or "")
        mention = re.match(rf"\s*<@{re.escape(self.me.user_id)}(?:\|[^>]*)?>[\s:,]*", text)
        if mention:
            text = text[mention.end():]
        direct = event.get("channel_type") == "im" or channel.startswith("D")
        address = Address(self.name, channel, direct, event.get("thread_ts"))
        probe = Message(Identity(self.network, sender_id), address, unescape(text), direct or bool(mention))
        if self._hub.router.command_text(probe) is None:
            return                                              # chatter: no lookups, no store writes
        if event_id and not await self._first_time(f"event:{event_id}"):
            log.info("%s: event %s delivered again; ignored", self.name, event_id)
            return
        ts = event.get("ts")
        if ts and not await self._first_time(f"post:{channel}:{ts}"):
            return                                              # the same post as `message` and `app_mention`
        plain = await plain_text(text, *self._resolvers(sender_id, text))
        sender = Identity(self.network, sender_id, display=await self._user_name(sender_id))
        # Slack redelivers an event late (the hub was away): a switch an hour late is not run.
        late = time.time() - float(ts or time.time())
        self._hub.dispatch(Message(sender, address, plain, probe.addressed, raw=event,
                                   late=late if late > self.settings.stale_after else 0.0))

    async def _on_slash(self, payload: dict[str, Any]) -> None:
        """`/home temp salon` is the command `temp salon`; another of the app's commands `/temp salon` too."""
        assert self._hub is not None
        channel, user = payload.get("channel_id"), payload.get("user_id")
        if not channel or not user:
            return
        key = payload.get("trigger_id") or payload.get("envelope_id")
        if key and not await self._first_time(f"slash:{key}"):
            return
        command = str(payload.get("command") or self.settings.slash_command)
        text = str(payload.get("text") or "")
        if command != self.settings.slash_command:
            text = f"{command.lstrip('/')} {text}"
        if payload.get("response_url"):       # Slack honours it for 30 minutes
            self._response_urls[channel] = (str(payload["response_url"]), time.monotonic() + 25 * 60)
        plain = await plain_text(text, *self._resolvers(user, text))
        sender = Identity(self.network, user, display=await self._user_name(user))
        address = Address(self.name, channel, channel.startswith("D"))
        self._hub.dispatch(Message(sender, address, plain, addressed=True, raw=payload))

    def _resolvers(self, sender_id: str, text: str) -> tuple[Callable[[str], Awaitable[str]],
                                                              Callable[[str], Awaitable[str]]]:
        """How the mentions of a line become names: every lookup is a call to Slack, made before
        the router judges the line (its rate limit, its length), one after another in the one
        consumer, 429 waits included. A stranger's line costs none (names already known, else the
        id); a configured user's at most LOOKUPS_PER_LINE, none for a line too long to be run."""
        assert self._hub is not None
        user = self._hub.auth.user_for(Identity(self.network, sender_id))
        left = [LOOKUPS_PER_LINE if user is not None and len(text) <= MAX_INPUT_CHARS else 0]

        def bounded(known: dict[str, str], look_up: Callable[[str], Awaitable[str]]) -> Callable[[str], Awaitable[str]]:
            async def name(ref: str) -> str:
                if ref in known:
                    return known[ref]
                if left[0] <= 0:
                    return ref
                left[0] -= 1
                return await look_up(ref)
            return name
        return bounded(self._names, self._user_name), bounded(self._channel_names, self._channel_name)

    async def _user_name(self, user_id: str) -> str:
        name = self._names.get(user_id)
        if name is None and self._web is not None:
            try:
                info = (await self._web.users_info(user=user_id))["user"]
                profile = info.get("profile") or {}
                name = profile.get("display_name") or info.get("real_name") or info.get("name") or user_id
                self._names[user_id] = name
            except Exception as exc:
                log.info("%s: cannot resolve user %s: %s", self.name, user_id, exc)
        return name or user_id

    async def _channel_name(self, channel_id: str) -> str:
        name = self._channel_names.get(channel_id)
        if name is None and self._web is not None:
            try:
                name = str((await self._web.conversations_info(channel=channel_id))["channel"]["name"])
                self._channel_names[channel_id] = name
            except Exception as exc:
                log.info("%s: cannot resolve channel %s: %s", self.name, channel_id, exc)
        return name or channel_id

    # ---- outbound --------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        """Post `reply` to a channel, a DM or a user (`U…`: a DM is opened); raise when Slack
        refuses: Undeliverable, with the fix, where no retry can help (a channel that does not
        exist, one the bot is not in), which was retried for a day while /health said all was well."""
        try:
            await self._send(address, reply)
        except SlackApiError as exc:
            error = str(exc.response.get("error") or "")
            if error in NEVER_DELIVERED:
                raise Undeliverable(f"slack:{address.target}: {error}: {NEVER_DELIVERED[error]}") from None
            if error in FATAL_ERRORS:       # while it runs (a token revoked, a scope taken away)
                self._refused(self._refusal(error, "chat.postMessage"))
                raise ConnectionError(self.health.detail) from None
            raise

    def _refused(self, why: str) -> None:
        """Slack refused a post although connected: /health and status say why (they said all was
        well), and the outbox holds what waits for REFUSED_PAUSE before it tries again."""
        if self.health.connected:
            log.error("%s", why)
            was = self.health.detail
            self.health.down(why)
            asyncio.get_running_loop().call_later(REFUSED_PAUSE, lambda: self.health.detail == why
                                                  and self.health.up(was))

    async def _send(self, address: Address, reply: Reply) -> None:
        web = self._web
        if web is None:
            raise ConnectionError(f"the Slack adapter {self.name} is not running")
        uploads: list[tuple[Attachment, bytes]] = []
        links: list[str] = []
        for attachment in reply.attachments:
            try:
                uploads.append((attachment, await asyncio.to_thread(attachment.path.read_bytes)))
            except OSError:
                if not attachment.url:
                    raise
                links.append(attachment.url)                 # the file is gone; its link still works
        channel = await self._conversation(web, address.target)
        chunks = split_text(reply.text)
        comment = chunks.pop() if uploads and len(chunks) == 1 else None
        for chunk in chunks + [escape(url) for url in links]:
            await self._post(web, channel, chunk, address.thread)
        for index, (attachment, data) in enumerate(uploads):
            filename = attachment.name or attachment.path.name
            try:
                # files.getUploadURLExternal, the upload POST, files.completeUploadExternal
                await web.files_upload_v2(file=data, filename=filename, title=filename, channel=channel,
                                          thread_ts=address.thread, initial_comment=comment if index == 0 else None)
            except SlackApiError as exc:
                # Refused (an app without files:write): the words still go, and what became of the picture.
                error = exc.response.get("error") or "refused"
                log.warning("slack %s: the picture %s was refused (%s)", self.name, filename, error)
                scope = " (the app needs the files:write scope)" if error in ("missing_scope", "not_allowed") else ""
                note = f"(picture {filename} not sent: Slack said {error}{scope})"
                if attachment.url:
                    note += f" {escape(attachment.url)}"
                await self._post(web, channel, f"{comment}\n{note}" if comment and index == 0 else note,
                                 address.thread)

    async def _post(self, web: AsyncWebClient, channel: str, text: str, thread: str | None) -> None:
        """chat.postMessage; where the bot is not a member, the response_url of a recent slash command there."""
        try:
            await web.chat_postMessage(channel=channel, text=text, thread_ts=thread)
        except SlackApiError as exc:
            url, until = self._response_urls.get(channel, ("", 0.0))
            if exc.response.get("error") not in ("not_in_channel", "channel_not_found") or \
                    time.monotonic() > until or self._http is None:
                raise
            async with self._http.post(url, json={"text": text, "response_type": "in_channel"}) as response:
                if response.status != 200:
                    raise ConnectionError(f"Slack refused the response_url post ({response.status})") from exc

    async def _conversation(self, web: AsyncWebClient, target: str) -> str:
        """The channel id for `target`: itself, or the DM opened with user `target`."""
        if not target.startswith(("U", "W")):
            return target
        channel = self._dm_channels.get(target)
        if channel is None:
            channel = str((await web.conversations_open(users=target))["channel"]["id"])
            self._dm_channels[target] = channel
        return channel


async def close_socket_client(client: SocketModeClient, grace: float = 1.0) -> None:
    """Close a SocketModeClient within about `grace` seconds, even on a socket that hears nothing.

    The SDK's close() waits up to 10 s for the server's close frame; a dead link never sends one.
    """
    client.closed = True
    client.auto_reconnect_enabled = False
    session = client.current_session
    if session is not None and not session.closed:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(grace):
                await session.close()
    tasks = [t for t in (client.message_processor, client.current_session_monitor, client.message_receiver)
             if t is not None]
    for task in tasks:
        task.cancel()
    with contextlib.suppress(Exception):
        async with asyncio.timeout(grace):
            await asyncio.gather(*tasks, return_exceptions=True)
    await client.aiohttp_client_session.close()
