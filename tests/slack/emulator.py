"""A local Slack: the Web API methods, Socket Mode and RTM websockets that slack_sdk really calls.

The real SDK points at it through `api_url` (its `base_url`). It records what the bot did
(calls, posts, acks, uploads) and exposes queues and conditions so tests wait on events,
never on sleeps. Knobs: `rate_limit()` answers 429 with Retry-After, `disconnect()` sends a
`disconnect` envelope, `silent` makes every socket say nothing and answer no ping, `greet`
False opens sockets without their `hello`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-emulator"
APP_TOKEN = "xapp-emulator"
TEAM = "T0HOME"
BOT_USER = "UBOT"
BOT_ID = "BBOT"


@dataclass
class Call:
    """One Web API call as the emulator received it."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float
    status: int = 200


@dataclass
class Socket:
    ws: web.WebSocketResponse
    number: int
    kind: str                                   # "socket" or "rtm"
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class SlackEmulator:
    """An aiohttp server on a free loopback port; `url` is the `api_url` to configure."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, Any]] = {
            BOT_USER: {"id": BOT_USER, "name": "maison", "real_name": "Maison", "profile": {"display_name": ""}},
            "U0ALICE": {"id": "U0ALICE", "name": "alice", "real_name": "Alice Martin",
                        "profile": {"display_name": "alice"}},
            "U0BOB": {"id": "U0BOB", "name": "bob", "real_name": "Bob", "profile": {"display_name": "bob"}},
        }
        self.channels: dict[str, str] = {"C0HOME": "maison", "C0OTHER": "general", "G0PRIV": "famille",
                                         "G0MPIM": "mpdm-alice--bob-1", "C0NOTIN": "garden"}
        self.not_member = {"C0NOTIN"}           # chat.postMessage there: not_in_channel
        self.calls: list[Call] = []
        self.posts: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.posted: list[dict[str, Any]] = []
        self.uploads: dict[str, bytes] = {}
        self.completed: list[dict[str, Any]] = []
        self.acks: list[str] = []
        self.silent = False
        self.greet = True                       # False: new sockets get no hello (a half-open Slack socket)
        self.sockets: list[Socket] = []
        self.changed = asyncio.Condition()      # notified on every connection, ack, post
        self._rate_limits: dict[str, list[float]] = {}
        self._limit_after: dict[str, int] = {}      # calls of a method answered before its 429s
        self.refuse: dict[str, str] = {}        # method -> the error Slack answers it with (missing_scope...)
        self._slash_channels: dict[str, str] = {}
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/rtm", self._rtm)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{trigger}", self._response)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def stop(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.ws.close(), 1)
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    # ---- knobs and waits for tests ----------------------------------------------------

    def rate_limit(self, method: str, retry_after: float = 1, times: int = 1, after: int = 0) -> None:
        """The next `times` calls of `method` get HTTP 429 with this Retry-After, once `after`
        more calls of it were answered (the second part of a long message)."""
        self._rate_limits.setdefault(method, []).extend([retry_after] * times)
        self._limit_after[method] = after

    def connections(self, kind: str = "socket") -> int:
        return sum(1 for s in self.sockets if s.kind == kind)

    def open_sockets(self, kind: str = "socket") -> list[Socket]:
        return [s for s in self.sockets if s.kind == kind and not s.closed.is_set()]

    def calls_of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait(self, predicate: Any, timeout: float = 10.0) -> None:
        """Wait until `predicate()` holds; re-checked on every change the emulator sees."""
        async with asyncio.timeout(timeout):
            async with self.changed:
                await self.changed.wait_for(predicate)

    async def next_post(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next chat.postMessage the bot made."""
        async with asyncio.timeout(timeout):
            return await self.posts.get()

    async def push_event(self, event: dict[str, Any], event_id: str | None = None,
                         timeout: float = 10.0) -> str:
        """Deliver an Events API envelope as Slack does: to the newest socket, again until acked.

        Returns the event_id. Slack redelivers an envelope nobody acked (retry_attempt + 1),
        which also keeps tests robust while the bot swaps its connection.
        """
        event_id = event_id or f"Ev{next(self._ids):06d}"
        event = {"ts": f"{time.time():.6f}", "event_ts": f"{time.time():.6f}", **event}
        payload = {"token": "verification", "team_id": TEAM, "api_app_id": "A0HOME", "type": "event_callback",
                   "event_id": event_id, "event_time": int(time.time()), "event": event}
        await self._deliver("events_api", payload, timeout)
        return event_id

    async def push_slash(self, text: str, channel: str = "C0HOME", user: str = "U0ALICE",
                         command: str = "/home", timeout: float = 10.0) -> None:
        trigger = f"{next(self._ids)}.trigger"
        self._slash_channels[trigger] = channel
        payload = {"token": "verification", "team_id": TEAM, "team_domain": "home", "channel_id": channel,
                   "channel_name": self.channels.get(channel, "directmessage"), "user_id": user,
                   "user_name": self.users.get(user, {}).get("name", user), "command": command, "text": text,
                   "api_app_id": "A0HOME", "is_enterprise_install": "false",
                   "response_url": f"http://127.0.0.1:{self.port}/response/{trigger}", "trigger_id": trigger}
        await self._deliver("slash_commands", payload, timeout)

    async def _deliver(self, kind: str, payload: dict[str, Any], timeout: float) -> None:
        async with asyncio.timeout(timeout):
            for attempt in itertools.count():
                envelope_id = f"env-{next(self._ids)}"
                envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                            "accepts_response_payload": kind != "events_api", "retry_attempt": attempt,
                            "retry_reason": "timeout" if attempt else ""}
                await self.wait(lambda: bool(self.open_sockets()) and not self.silent)
                with contextlib.suppress(Exception):
                    await self.open_sockets()[-1].ws.send_json(envelope)
                try:
                    await self.wait(lambda: envelope_id in self.acks, timeout=2.0)
                    return
                except TimeoutError:
                    continue

    async def disconnect(self, reason: str = "refresh_requested") -> None:
        """What Slack sends before it drops a socket (refresh_requested, warning, too_many_websockets)."""
        for sock in self.open_sockets():
            await sock.ws.send_json({"type": "disconnect", "reason": reason,
                                     "debug_info": {"host": "emulator"}})

    async def push_rtm(self, event: dict[str, Any]) -> None:
        """An RTM event on the newest RTM socket."""
        await self.wait(lambda: bool(self.open_sockets("rtm")))
        event = {"ts": f"{time.time():.6f}", **event}
        await self.open_sockets("rtm")[-1].ws.send_json(event)

    async def _notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()

    # ---- Web API -----------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        """JSON, form or multipart bodies, or none at all (the sync WebClient posts JSON with an empty body)."""
        params: dict[str, Any] = dict(request.query)
        if request.content_type.startswith("multipart/"):
            form = await request.post()
            params.update({k: (v if isinstance(v, str) else v.file.read()) for k, v in form.items()})
            return params
        body = (await request.read()).decode("utf-8")
        if not body.strip():
            return params
        if request.content_type == "application/json":
            params.update(json.loads(body))
        else:
            params.update(parse_qsl(body, keep_blank_values=True))
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or params.get("token")
        call = Call(method, params, token, time.monotonic())
        self.calls.append(call)
        pending = self._rate_limits.get(method)
        if pending and self._limit_after.get(method, 0) > 0:
            self._limit_after[method] -= 1
        elif pending:
            call.status = 429
            delay = pending.pop(0)
            await self._notify()
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": f"{delay:g}"})
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if method in self.refuse:
            result: dict[str, Any] = {"ok": False, "error": self.refuse[method]}
        elif token != wanted:
            result = {"ok": False, "error": "invalid_auth" if token else "not_authed"}
        else:
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            result = handler(params) if handler else {"ok": False, "error": "unknown_method"}
        await self._notify()
        return web.json_response(result)

    def _m_auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://home.slack.com/", "team": "Home", "user": "maison", "team_id": TEAM,
                "user_id": BOT_USER, "bot_id": BOT_ID, "is_enterprise_install": False}

    def _m_apps_connections_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={next(self._ids)}"}

    def _m_rtm_connect(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/rtm",
                "self": {"id": BOT_USER, "name": "maison"}, "team": {"id": TEAM, "name": "Home", "domain": "home"}}

    def _known_channel(self, channel: str) -> bool:
        return channel in self.channels or channel.startswith("D")

    def _m_chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel", ""))
        if not self._known_channel(channel):
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.not_member:
            return {"ok": False, "error": "not_in_channel"}
        ts = f"{time.time():.6f}"
        post = {"channel": channel, "text": params.get("text"), "thread_ts": params.get("thread_ts"), "ts": ts}
        self.posted.append(post)
        self.posts.put_nowait(post)
        return {"ok": True, "channel": channel, "ts": ts, "message": {"text": params.get("text"), "user": BOT_USER}}

    def _m_users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(params.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _m_conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = str(params.get("channel"))
        name = self.channels.get(channel)
        return {"ok": True, "channel": {"id": channel, "name": name}} if name else \
            {"ok": False, "error": "channel_not_found"}

    def _m_conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        user = str(params.get("users", ""))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": "D" + user[1:]}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._ids):06d}"
        return {"ok": True, "file_id": file_id, "upload_url": f"http://127.0.0.1:{self.port}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files")
        files = json.loads(files) if isinstance(files, str) else files
        if not all(f.get("id") in self.uploads for f in files or []):
            return {"ok": False, "error": "file_not_found"}
        self.completed.append({**params, "files": files})
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        self.uploads[file_id] = await request.read()
        self.calls.append(Call("upload", {"file_id": file_id}, None, time.monotonic()))
        await self._notify()
        return web.Response(text=f"OK - {len(self.uploads[file_id])}", content_type="text/plain")

    async def _response(self, request: web.Request) -> web.Response:
        """A slash command's response_url: posts into the command's channel, member or not."""
        trigger = request.match_info["trigger"]
        body = await request.json()
        post = {"channel": self._slash_channels.get(trigger), "text": body.get("text"), "thread_ts": None,
                "via": "response_url", "response_type": body.get("response_type")}
        self.posted.append(post)
        self.posts.put_nowait(post)
        await self._notify()
        return web.json_response({"ok": True})

    # ---- websockets --------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: hello, then envelopes pushed by tests; acks recorded; pings answered unless silent."""
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        sock = Socket(ws, self.connections() + 1, "socket")
        self.sockets.append(sock)
        try:
            if self.greet and not self.silent:
                await ws.send_json({"type": "hello", "num_connections": len(self.open_sockets()),
                                    "debug_info": {"host": "emulator", "approximate_connection_time": 3600},
                                    "connection_info": {"app_id": "A0HOME"}})
            await self._notify()
            async for msg in ws:
                if msg.type == WSMsgType.PING:
                    if not self.silent:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.TEXT and not self.silent:
                    data = json.loads(msg.data)
                    if "envelope_id" in data:
                        self.acks.append(data["envelope_id"])
                        await self._notify()
        finally:
            sock.closed.set()
            await self._notify()
        return ws

    async def _rtm(self, request: web.Request) -> web.WebSocketResponse:
        """RTM: hello, then events pushed by tests; the SDK's ws pings are answered by aiohttp."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        sock = Socket(ws, self.connections("rtm") + 1, "rtm")
        self.sockets.append(sock)
        try:
            await ws.send_json({"type": "hello"})
            await self._notify()
            async for _msg in ws:
                pass
        finally:
            sock.closed.set()
            await self._notify()
        return ws
