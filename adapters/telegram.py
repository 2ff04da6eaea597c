"""Telegram (python-telegram-bot's Bot, without its Application): private chats and groups,
answers that reply to the asking message, pictures as photos, buttons.

`run` owns one loop: long polling with getUpdates by default (a home has no public address),
or a webhook behind the user's reverse proxy. The offset of the next update is written to the
hub's store *before* the updates are handed to the hub, so a restart never runs a line twice.
A button press is a line sent by whoever pressed it: `ack 12` from the alert's "Acknowledge",
`switch heater off` from a switch's "Off", and it takes the same path as typed text (the one
access check, rate limits, audit). Telegram's 429 answers are obeyed: the send waits the
`retry_after` it was told, then goes; a longer wait goes back to the outbox (RetryLater).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chatops import json_input
from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import ConfigError, read_secret
from chatops.health import Health
from chatops.message import Address, Identity, Message, Reply
from chatops.outbox import RetryLater, Undeliverable

from adapters.telegram_settings import Settings

if TYPE_CHECKING:
    from chatops.hub import Hub

__all__ = ["Adapter", "Settings", "ChatAddress"]

log = logging.getLogger(__name__)
MAX_TEXT = 4096                 # Telegram's limit for one message
POLLED_SAVE_EVERY = 30.0        # seconds between writes of the last poll's time on a quiet chat
CALLBACK_BYTES = 64             # and for a button's data: longer lines get no button
UPDATES = ["message", "callback_query"]
WEBHOOK_CATCH_UP = 60.0        # seconds after a webhook comes back in which Telegram posts the backlog
_NAME_GOES_ON = re.compile(r"\w")      # `@maison_bot_helper` is another bot than `@maison_bot`
# The longest retry_after waited in the send itself; beyond, the outbox (an alert, a notification)
# tries again once it is over, and an answer to a command is dropped with a log line.
MAX_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class ChatAddress(Address):
    """A chat that remembers the message that asked: the answer replies to it. Same adapter,
    target and thread as the chat, so the hub keeps one lane (one order) per chat."""

    message_id: int = 0


class _Fatal(Exception):
    """Telegram refused the token: trying again will not help."""


class _TokenMask(logging.Filter):
    """Replaces the bot's token in a log line by `<token>` (it is the password of the bot)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if self.token in text:
            record.msg, record.args = text.replace(self.token, "<token>"), ()
        return True


def _seconds(value: Any) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class Adapter(AdapterBase):
    """The hub as one Telegram bot."""

    network = "telegram"

    def __init__(self, name: str, settings: Settings) -> None:
        self.name = name
        self.settings = settings
        self.capabilities = Capabilities(max_text=MAX_TEXT, images=True, pictures_apart=True)
        self.health = Health()
        self.bot: Any = None
        self.username = ""
        self.updates = 0                        # updates handled (tests, status)
        self._hub: Hub | None = None
        self._store = f"telegram:{name}"        # the plugin_kv namespace of this adapter
        self._migrated: dict[int, int] = {}     # a group's old id -> the supergroup it became
        self._polled_at = 0.0                   # wall time of the last poll answered (0: none yet)
        self._polled_saved = 0.0                # ... as last written to the store
        self._said: str | None = None           # the failure last logged, until a poll works again
        # The Bot API puts the token in every URL; python-telegram-bot logs the URL at DEBUG and
        # httpx at INFO: never below WARNING for those, and the token masked if one still shows.
        for noisy in ("httpx", "httpcore", "telegram"):
            logging.getLogger(noisy).setLevel(logging.WARNING)

    # ---- lifecycle ----------------------------------------------------------------------------

    async def run(self, hub: Hub) -> None:
        from telegram import Bot
        from telegram.error import Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter
        from telegram.request import HTTPXRequest

        self._hub = hub
        token = read_secret(self.settings, "token", hub.settings.base_dir)
        if not token:
            raise ConfigError([f"adapters.{self.name}: the bot token is empty"])
        mask = _TokenMask(token)
        for source in ("telegram.Bot", "telegram.ext", "httpx", log.name):
            logging.getLogger(source).addFilter(mask)
        base = self.settings.api_url.rstrip("/")
        wait = self.settings.poll_timeout + 15
        self.bot = Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
                       request=HTTPXRequest(connection_pool_size=8, read_timeout=20.0, media_write_timeout=30.0),
                       get_updates_request=HTTPXRequest(connection_pool_size=1, read_timeout=wait))
        backoff = Backoff(base=0.5, cap=self.settings.reconnect_max)
        secret = self._webhook_secret() if self.settings.mode == "webhook" else ""   # a config error stops here
        try:
            while True:
                try:
                    await self._connect()
                    if self.settings.mode == "webhook":
                        await self._serve_webhook(backoff, secret)
                    else:
                        await self._poll(backoff)
                except _Fatal as exc:
                    if not self.health.ups:     # never connected: the config is wrong, said at start
                        self.health.down(str(exc))
                        raise ConfigError([f"adapters.{self.name}: {exc}"]) from None
                    self._down(f"{exc}; trying again")         # revoked while it ran: it may come back
                except RetryAfter as exc:               # on getUpdates: the whole wait, or it comes again
                    delay = _seconds(exc.retry_after)
                    self.health.down(f"Telegram asks to wait {delay:.0f}s")
                    await asyncio.sleep(delay)
                    continue
                except Conflict:
                    self._down("another program polls this bot's token (HTTP 409 Conflict): stop it, or give "
                               "each its own bot")
                except (InvalidToken, Forbidden) as exc:
                    if not self.health.ups:
                        raise ConfigError([f"adapters.{self.name}: Telegram refused the token ({exc})"]) from None
                    self._down(f"Telegram refused the token ({exc}); trying again")   # revoked? it may come back
                except (NetworkError, OSError, asyncio.TimeoutError) as exc:
                    self.health.down(f"cannot reach {self.settings.api_url}: {exc}")
                    log.warning("%s: %s", self.name, self.health.detail)
                except Exception as exc:        # never end the adapter on a surprise
                    self.health.down(f"{type(exc).__name__}: {exc}")
                    log.warning("%s: polling failed", self.name, exc_info=True)
                await asyncio.sleep(backoff.next_delay())
        finally:
            self.health.down("stopped")
            try:
                if self._polled_at:             # how long the next start was away is counted from here
                    await self._set_hub_value("polled_at", str(self._polled_at))
            except Exception:
                pass
            try:
                await self.bot.shutdown()
            except Exception:
                pass

    def _down(self, why: str) -> None:
        """Down for `why`, said in the log once, not at every retry (until a poll works again)."""
        if self._said != why:
            log.warning("%s: %s", self.name, why)
            self._said = why
        self.health.down(why)

    async def _connect(self) -> None:
        from telegram.error import InvalidToken
        try:
            me = await self.bot.get_me()
        except InvalidToken as exc:
            if "not found" in str(exc).casefold():    # python-telegram-bot reads any 404 as a bad token
                raise _Fatal(f"{self.settings.api_url} answers 404 Not Found: the token is wrong, or api_url is "
                             f"no Bot API server (leave it out for Telegram's own)") from None
            raise _Fatal(f"Telegram refused the token ({exc})") from None
        self.username = me.username or ""

    async def _poll(self, backoff: Backoff) -> None:
        await self.bot.delete_webhook()            # polling and a webhook exclude each other
        stored = await self._hub_value("offset")
        offset = int(stored) if stored else None
        # Up now: the first long poll may rightly wait `poll_timeout` for a message, and a failed
        # poll takes health down again in `run`.
        if self.health.downs and not self.health.connected:
            log.info("%s: connected again", self.name)
        self.health.up(f"@{self.username}, long polling")
        first = True
        # A button press carries no date: one waiting since before the hub was away (stopped, or
        # its network down) is taken as late by as long as the hub was away, the most it can be.
        away_since = self._polled_at or float(await self._hub_value("polled_at") or 0) or time.time()
        backlog, away = False, 0.0
        while True:
            updates = await self.bot.get_updates(offset=offset, timeout=int(self.settings.poll_timeout),
                                                 allowed_updates=UPDATES)
            polled_at, self._polled_at = self._polled_at, time.time()
            if first:
                backoff.up()                            # the backoff resets once a poll worked
                self._said = None
                away = self._polled_at - away_since
                first = False
            elif self._polled_at - polled_at >= self.settings.poll_timeout + 30:
                away = self._polled_at - polled_at      # a poll that took that long: the hub was away
            elif not backlog:
                away = 0.0
            # A batch is at most 100 updates: until one comes with fewer, the backlog from while
            # the hub was away is still being read, and its presses are as late as the first.
            backlog = len(updates) >= 100
            if not updates:
                # Written now and then on quiet polls too: after a crash (no clean stop writes
                # it), a press is late by the time the hub was really away, not since the last
                # message (an alert's Acknowledge, refused as late after a quick restart).
                if self._polled_at - self._polled_saved >= POLLED_SAVE_EVERY:
                    await self._save_polled()
                continue
            offset = updates[-1].update_id + 1
            await self._set_hub_value("offset", str(offset))     # before handling: at most once
            await self._save_polled()
            for update in updates:
                self._update(update, pressed_late=away if away > self.settings.stale_after else 0.0)

    async def _save_polled(self) -> None:
        self._polled_saved = self._polled_at
        await self._set_hub_value("polled_at", str(self._polled_at))

    def _webhook_secret(self) -> str:
        """The webhook's secret token, as Telegram takes it (1-256 of A-Z, a-z, 0-9, _ and -:
        `openssl rand -base64` gives + / =, which setWebhook refuses)."""
        assert self._hub is not None
        return read_secret(self.settings, "webhook_secret", self._hub.settings.base_dir) or ""   # its form checked

    async def _serve_webhook(self, backoff: Backoff, secret: str) -> None:
        """Listen for Telegram's posts (behind the reverse proxy that has the public https URL)."""
        from aiohttp import web
        from telegram import Update
        from telegram.error import BadRequest

        assert self._hub is not None
        host, _, port = self.settings.webhook_listen.rpartition(":")

        # Telegram posts again what it could not post while the hub was away, at once when it is
        # back: a press posted in the first minute after a long absence is as late as that.
        away_since = self._polled_at or float(await self._hub_value("polled_at") or 0) or time.time()
        up_at = time.time()

        async def posted(request: web.Request) -> web.Response:
            given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
            if not hmac.compare_digest(given.encode(), secret.encode()):
                assert self._hub is not None
                # Folded (one row a minute with a count): the endpoint is public by design, and a
                # flood of wrong posts must not fill the disk.
                self._hub.audit.record("refused", f"{self.network}:webhook", f"{self.name}:{request.remote}",
                                       "(webhook post)", "wrong or missing secret token", fold=True)
                return web.Response(status=403, text="wrong secret token")
            try:
                update = Update.de_json(await request.json(loads=json_input.loads), self.bot)
            except Exception:
                return web.Response(status=400, text="not an update")
            assert self._hub is not None
            if update is not None and await self._hub.store.mark_processed(f"{self._store}:{update.update_id}"):
                away = up_at - away_since if time.time() - up_at < WEBHOOK_CATCH_UP else 0.0
                self._polled_at = time.time()
                self._update(update, pressed_late=away if away > self.settings.stale_after else 0.0)
            return web.Response(text="ok")

        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_post("/{path:.*}", posted)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, host.strip("[]") or "127.0.0.1", int(port)).start()
            try:
                await self.bot.set_webhook(self.settings.webhook_url, secret_token=secret, allowed_updates=UPDATES)
            except BadRequest as exc:                # the URL or the secret: retrying will not change it
                raise _Fatal(f"Telegram refused the webhook {self.settings.webhook_url} ({exc})") from None
            backoff.up()
            self.health.up(f"@{self.username}, webhook {self.settings.webhook_url}")
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    # ---- inbound ------------------------------------------------------------------------------

    def _update(self, update: Any, pressed_late: float = 0.0) -> None:
        self.updates += 1
        try:
            if update.callback_query is not None:
                self._pressed(update.callback_query, pressed_late)
            elif update.message is not None and update.message.text:
                self._message(update.message)
        except Exception:
            log.exception("%s: update %s could not be handled", self.name, update.update_id)

    def _message(self, message: Any) -> None:
        hub = self._hub
        assert hub is not None
        sender = message.from_user
        if sender is None or sender.is_bot:
            return                              # other bots never drive the house
        direct = message.chat.type == "private"
        replied = getattr(message.reply_to_message, "from_user", None)
        to_us = replied is not None and bool(self.username) and (replied.username or "").casefold() == \
            self.username.casefold()            # a reply to the bot's message (`ack` under an alert)
        text, addressed = self._command_text(message.text, direct or to_us)
        if text is None:
            return
        address = ChatAddress(self.name, str(message.chat.id), direct, message_id=message.message_id)
        late = time.time() - message.date.timestamp()
        hub.dispatch(Message(self._identity(sender), address, text, addressed=addressed, raw=message,
                             late=late if late > self.settings.stale_after else 0.0))

    def _command_text(self, text: str, direct: bool) -> tuple[str | None, bool]:
        """(the line for the hub, addressed) from a message: `/temp@maison_bot salon` and
        `@maison_bot temp` are for the hub anywhere; `/other@other_bot` is not; plain text in a
        group goes to the router, which wants its prefix there."""
        name = self.username.casefold()
        if text.startswith("/"):
            first, _, rest = text[1:].partition(" ")
            command, _, bot = first.partition("@")
            if bot and bot.casefold() != name:
                return None, False
            if not bot and not direct and (command.casefold() == "start" or self._hub is None
                                           or self._hub.commands.find(command) is None):
                return None, False              # a group's other bots take bare commands too: not ours
            if command.casefold() == "start":       # what every Telegram client sends first
                command = "help"
            return f"{command} {rest}".strip(), True
        if name and text.casefold().startswith(f"@{name}") and not _NAME_GOES_ON.match(text, len(name) + 1):
            return text[len(name) + 1:].lstrip(" :,"), True
        return text, direct

    def _pressed(self, query: Any, late: float = 0.0) -> None:
        """A button press: the button's line, sent by whoever pressed it, on the usual path
        (`late`: it may have waited that long, the hub being away; then it is not run)."""
        hub = self._hub
        assert hub is not None
        hub.spawn(self._answer_press(query.id), "telegram-press")
        if not query.data or query.from_user is None or query.from_user.is_bot:
            return
        chat = getattr(query.message, "chat", None)
        message_id = getattr(query.message, "message_id", 0) or 0
        target = str(chat.id) if chat is not None else str(query.from_user.id)
        direct = chat is None or chat.type == "private"
        address = ChatAddress(self.name, target, direct, message_id=message_id)
        hub.dispatch(Message(self._identity(query.from_user), address, query.data, addressed=True, raw=query,
                             late=late))

    async def _answer_press(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)      # stops the button's spinner
        except Exception as exc:
            log.info("%s: could not answer a button press: %s", self.name, exc)

    def _identity(self, user: Any) -> Identity:
        return Identity(self.network, str(user.id), display=user.username or user.first_name or str(user.id))

    # ---- outbound -----------------------------------------------------------------------------

    async def send(self, address: Address, reply: Reply) -> None:
        from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
        from telegram.error import BadRequest, ChatMigrated, Forbidden, NetworkError

        if self.bot is None or not self.health.connected:
            raise ConnectionError(f"{self.name} is not connected: {self.health.detail}")
        try:
            chat_id = int(address.target)
        except ValueError:
            raise Undeliverable(f"{address.target!r} is not a Telegram chat id") from None
        chat_id = self._migrated.get(chat_id) or int(await self._hub_value(f"migrated:{chat_id}") or chat_id)
        asked = address.message_id if isinstance(address, ChatAddress) and address.message_id else None
        replying = ReplyParameters(message_id=asked, allow_sending_without_reply=True) if asked else None
        buttons = [InlineKeyboardButton(b.label, callback_data=b.line) for b in reply.buttons
                   if len(b.line.encode()) <= CALLBACK_BYTES]
        markup = InlineKeyboardMarkup([buttons]) if buttons else None
        pieces = [reply.text] if reply.text else []        # within MAX_TEXT already: the core's fit cut it
        try:
            for attachment in reply.attachments:
                photo = await asyncio.to_thread(attachment.path.read_bytes)
                await self._obeying(self.bot.send_photo, chat_id=chat_id, photo=photo,
                                    caption=None, reply_parameters=replying,    # (not the file's name)
                                    reply_markup=None if pieces else markup)
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                await self._obeying(self.bot.send_message, chat_id=chat_id, text=piece,
                                    reply_parameters=replying if index == 0 else None,
                                    reply_markup=markup if last else None)
        except ChatMigrated as exc:
            # A group becomes a supergroup (a new id) when an admin changes some settings: what
            # was addressed to the old id goes to the new one, now and after a restart.
            new_id = int(exc.new_chat_id)
            self._migrated[int(address.target)] = new_id
            await self._set_hub_value(f"migrated:{address.target}", str(new_id))
            log.warning("%s: the group %s became the supergroup %s: messages follow it; write telegram:%s in "
                        "config.toml", self.name, address.target, new_id, new_id)
            if new_id == chat_id:
                raise RetryLater(f"the group {address.target} is now {new_id}", 0.0) from None
            await self.send(address, reply)     # there now (the answer to a line of the old group too)
        except (Forbidden, BadRequest) as exc:
            raise Undeliverable(f"Telegram refused the message to {chat_id}: {exc}") from None
        except NetworkError as exc:
            raise ConnectionError(f"{self.name}: {exc}") from None

    async def _obeying(self, call: Any, **kwargs: Any) -> Any:
        """`call`, waiting as long as Telegram's 429 answer says (`retry_after`) before again."""
        from telegram.error import RetryAfter
        for attempt in range(4):
            try:
                return await call(**kwargs)
            except RetryAfter as exc:
                delay = _seconds(exc.retry_after)
                if delay > MAX_WAIT or attempt == 3:
                    raise RetryLater(f"Telegram asks to wait {delay:.0f}s", delay) from None
                log.info("%s: Telegram asks to wait %.0fs before sending", self.name, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def status_note(self) -> str | None:
        return f"@{self.username}, {self.updates} updates" if self.username else None

    # ---- small state in the hub's store -------------------------------------------------------

    async def _hub_value(self, key: str) -> str | None:
        assert self._hub is not None
        return await self._hub.store.plugin_value(self._store, key)

    async def _set_hub_value(self, key: str, value: str) -> None:
        assert self._hub is not None
        await self._hub.store.set_plugin_value(self._store, key, value)
