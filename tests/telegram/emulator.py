"""A local Telegram Bot API, enough for the real python-telegram-bot to talk to: getMe, getUpdates
(long polling), sendMessage, sendPhoto, answerCallbackQuery, setWebhook, deleteWebhook.

Tests play the people: `say` puts a message from a user in the bot's updates, `press` a button
press on a message the bot sent. Everything the bot sends is kept in `sent`. `throttle` makes the
next calls of a method answer 429 with a `retry_after`, as Telegram does under load.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from chatops.testing import free_port

TOKEN = "123456:TEST-telegram-token-for-the-emulator"
BOT = {"id": 777000, "is_bot": True, "first_name": "Maison", "username": "maison_bot",
       "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False}


@dataclass
class Sent:
    """One message the bot sent."""

    method: str
    chat_id: int
    message_id: int
    text: str = ""
    photo_bytes: int = 0
    reply_to: int | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    at: float = 0.0


class BotApi:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.updates: list[dict[str, Any]] = []
        self.next_update = 1
        self.next_message = 100
        self.sent: list[Sent] = []
        self.calls: list[str] = []
        self.answered: list[str] = []
        self.webhook: dict[str, str] | None = None
        self._new = asyncio.Condition()
        self._throttled: dict[str, list[int]] = defaultdict(list)
        self._refused: dict[str, list[tuple[int, str]]] = defaultdict(list)   # method -> (status, description)s
        self.migrated: dict[int, int] = {}      # a group made a supergroup: its old id -> its new one
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._call)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # ---- what people do ----------------------------------------------------------------------

    async def say(self, user_id: int, text: str, chat_id: int | None = None, date: float | None = None,
                  username: str = "", reply_to: Sent | None = None) -> int:
        """A message from `user_id` (in their private chat, or in group `chat_id`; a reply to the
        bot's message `reply_to`); its message id."""
        chat = {"id": chat_id, "type": "supergroup", "title": "Maison"} if chat_id else \
            {"id": user_id, "type": "private", "first_name": f"user{user_id}"}
        message_id = self._message_id()
        message = {"message_id": message_id, "date": int(date or time.time()), "chat": chat,
                   "from": self._user(user_id, username), "text": text}
        if reply_to is not None:
            message["reply_to_message"] = {"message_id": reply_to.message_id, "date": int(time.time()),
                                           "chat": chat, "from": BOT, "text": reply_to.text}
        await self._push({"message": message})
        return message_id

    async def press(self, user_id: int, sent: Sent, data: str) -> None:
        """`user_id` presses the button with `data` under a message the bot sent."""
        chat = {"id": sent.chat_id, "type": "private" if sent.chat_id > 0 else "supergroup"}
        await self._push({"callback_query": {
            "id": f"cq{self.next_update}", "from": self._user(user_id), "chat_instance": "42", "data": data,
            "message": {"message_id": sent.message_id, "date": int(time.time()), "chat": chat, "from": BOT,
                        "text": sent.text}}})

    def throttle(self, method: str, retry_after: int, times: int = 1) -> None:
        self._throttled[method] += [retry_after] * times

    def refuse(self, method: str, description: str, times: int = 1, status: int = 400) -> None:
        """Answer the next calls of `method` with `status` `description` (a photo Telegram will not
        take; 409 Conflict: another program polls the same token)."""
        self._refused[method] += [(status, description)] * times

    def update(self, **kind: Any) -> dict[str, Any]:
        """An update as Telegram would post it to a webhook (not queued for getUpdates)."""
        update = {"update_id": self.next_update, **kind}
        self.next_update += 1
        return update

    def to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_sent(self, chat_id: int, count: int = 1, timeout: float = 10.0) -> list[Sent]:
        async with asyncio.timeout(timeout):
            async with self._new:
                await self._new.wait_for(lambda: len(self.to(chat_id)) >= count)
        return self.to(chat_id)

    # ---- the API -----------------------------------------------------------------------------

    async def _call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        method = request.match_info["method"].lower()
        self.calls.append(method)
        params = await self._params(request)
        if self._throttled.get(method):
            wait = self._throttled[method].pop(0)
            return web.json_response({"ok": False, "error_code": 429,
                                      "description": f"Too Many Requests: retry after {wait}",
                                      "parameters": {"retry_after": wait}}, status=429)
        if self._refused.get(method):
            status, description = self._refused[method].pop(0)
            return web.json_response({"ok": False, "error_code": status, "description": description}, status=status)
        chat = params.get("chat_id")
        if method.startswith("send") and chat is not None and int(chat) in self.migrated:
            return web.json_response({"ok": False, "error_code": 400, "description": "Bad Request: group chat was "
                                      "upgraded to a supergroup chat",
                                      "parameters": {"migrate_to_chat_id": self.migrated[int(chat)]}}, status=400)
        handler = getattr(self, f"_m_{method}", None)
        if handler is None:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": await handler(params)})

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if hasattr(value, "file"):
                params[key] = value.file.read()
                continue
            try:
                params[key] = json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value
            except ValueError:
                params[key] = value
        return params

    async def _m_getme(self, _params: dict[str, Any]) -> Any:
        return BOT

    async def _m_deletewebhook(self, _params: dict[str, Any]) -> Any:
        self.webhook = None
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> Any:
        self.webhook = {"url": params["url"], "secret": params.get("secret_token", "")}
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> Any:
        offset = int(params.get("offset") or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        try:
            async with asyncio.timeout(float(params.get("timeout") or 0)):
                async with self._new:
                    await self._new.wait_for(lambda: bool(self.updates))
        except TimeoutError:
            pass
        return self.updates[:100]

    async def _m_sendmessage(self, params: dict[str, Any]) -> Any:
        return await self._sent("sendMessage", params, text=str(params.get("text", "")))

    async def _m_sendphoto(self, params: dict[str, Any]) -> Any:
        photo = params.get("photo")
        result = await self._sent("sendPhoto", params, text=str(params.get("caption") or ""),
                                  photo_bytes=len(photo) if isinstance(photo, bytes) else 0)
        result["photo"] = [{"file_id": "photo1", "file_unique_id": "u1", "width": 1, "height": 1}]
        return result

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> Any:
        self.answered.append(str(params.get("callback_query_id")))
        return True

    # ---- bookkeeping -------------------------------------------------------------------------

    async def _sent(self, method: str, params: dict[str, Any], text: str = "", photo_bytes: int = 0) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        reply = params.get("reply_parameters") or {}
        markup = params.get("reply_markup") or {}
        buttons = [{"text": b["text"], "data": b.get("callback_data", "")}
                   for row in markup.get("inline_keyboard", []) for b in row]
        message_id = self._message_id()
        self.sent.append(Sent(method, chat_id, message_id, text, photo_bytes,
                              reply.get("message_id") if isinstance(reply, dict) else None, buttons, time.time()))
        async with self._new:
            self._new.notify_all()
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"}
        return {"message_id": message_id, "date": int(time.time()), "chat": chat, "from": BOT, "text": text}

    async def _push(self, content: dict[str, Any]) -> None:
        self.updates.append({"update_id": self.next_update, **content})
        self.next_update += 1
        async with self._new:
            self._new.notify_all()

    def _message_id(self) -> int:
        self.next_message += 1
        return self.next_message

    @staticmethod
    def _user(user_id: int, username: str = "") -> dict[str, Any]:
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"user{user_id}"}
        if username:
            user["username"] = username
        return user
