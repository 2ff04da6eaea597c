"""The hub's web server: /health, expiring file links, the web chat (an adapter like any other).

Bound to loopback it is open to local users; anywhere else it needs the configured token,
given once as `?token=` (then kept in an HttpOnly cookie) or as `Authorization: Bearer`.
The access log is off so the token never lands in a log line.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import mimetypes
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from .adapter import Capabilities
from .config import read_secret
from .health import Health
from .message import Address, Identity, Message, Reply

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
COOKIE = "chatops_token"


@dataclass(frozen=True, slots=True)
class Link:
    path: Path
    mime: str
    expires: float


class LinkStore:
    """Unguessable, expiring URLs for snapshots and graphs (IRC and SMS get these)."""

    def __init__(self, base_url: str, ttl: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self._links: dict[str, Link] = {}

    def publish(self, path: Path, mime: str | None = None, ttl: float | None = None) -> str:
        now = time.time()
        self._links = {k: v for k, v in self._links.items() if v.expires > now}
        token = secrets.token_urlsafe(24)
        guessed = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._links[token] = Link(path, guessed, now + (ttl or self.ttl))
        return f"{self.base_url}/files/{token}/{path.name}"

    def get(self, token: str) -> Link | None:
        link = self._links.get(token)
        if link is None or link.expires <= time.time() or not link.path.exists():
            return None
        return link


class WebChat:
    """The web chat as an adapter: each open page is a direct conversation."""

    network = "web"
    capabilities = Capabilities(max_text=20000, images=True)

    def __init__(self, name: str = "web") -> None:
        self.name = name
        self.health = Health()
        self.sockets: dict[str, web.WebSocketResponse] = {}

    async def run(self, hub: Hub) -> None:   # served by WebServer; nothing to connect
        self.health.up("serving")

    async def send(self, address: Address, reply: Reply) -> None:
        targets = list(self.sockets.values()) if address.target == "*" else \
            [s for k, s in self.sockets.items() if k == address.target]
        if not targets and address.target != "*":
            raise ConnectionError(f"web session {address.target} is closed")
        payload = json.dumps({"type": "reply", "text": reply.text, "notice": reply.notice,
                              "images": [a.url for a in reply.attachments if a.url]})
        for socket in targets:
            await socket.send_str(payload)


class WebServer:
    """aiohttp application bound to `[web] listen`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings.web
        host, port = self.settings.host_port
        self.chat = WebChat()
        base = self.settings.public_url or f"http://{host if host not in ('0.0.0.0', '::') else '127.0.0.1'}:{port}"
        self.links = LinkStore(base, self.settings.link_ttl)
        self._token: str | None = None
        self._runner: web.AppRunner | None = None
        self.port = port

    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/health", self._health)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_post("/api/command", self._api_command)
        app.router.add_get("/files/{token}/{name}", self._file)
        app.router.add_get("/files/{token}", self._file)
        if STATIC.exists():
            app.router.add_static("/static/", STATIC)
        return app

    async def start(self) -> None:
        self._token = read_secret(self.settings, "token", self.hub.settings.base_dir)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        host, port = self.settings.host_port
        site = web.TCPSite(self._runner, host, port, reuse_address=True)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        if port == 0:
            self.links.base_url = self.settings.public_url or f"http://{host}:{self.port}"
        self.chat.health.up("serving")
        log.info("web chat on http://%s:%d/", host, self.port)

    async def stop(self) -> None:
        for socket in list(self.chat.sockets.values()):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def _authorised(self, request: web.Request) -> bool:
        if self._token is None:
            return self.settings.loopback
        offered = request.query.get("token") or request.cookies.get(COOKIE) or \
            request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        return bool(offered) and hmac.compare_digest(offered.encode(), self._token.encode())

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response(self.hub.health())

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.Response(status=401, text="This hub needs its token: open /?token=YOUR_TOKEN once.")
        if "token" in request.query:      # keep the token out of the address bar and history
            response = web.HTTPFound("/")
            response.set_cookie(COOKIE, request.query["token"], httponly=True, samesite="Strict")
            raise response
        return web.FileResponse(STATIC / "index.html")

    def _identity(self, session: str) -> Identity:
        return Identity("web", self.settings.user or "web", display=f"web-{session[:6]}")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self._authorised(request):
            return web.Response(status=401, text="token required")
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=16 * 1024)
        await socket.prepare(request)
        session = secrets.token_hex(8)
        self.chat.sockets[session] = socket
        await socket.send_str(json.dumps({"type": "hello", "name": self.hub.settings.hub.name,
                                          "prefix": self.hub.settings.hub.prefix}))
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    text = str(json.loads(frame.data).get("text", ""))
                except (ValueError, AttributeError):
                    text = frame.data
                message = Message(self._identity(session), Address(self.chat.name, session, True), text,
                                  addressed=True)
                self.hub.dispatch(message)
        finally:
            self.chat.sockets.pop(session, None)
        return socket

    async def _api_command(self, request: web.Request) -> web.Response:
        """POST {"text": "..."}: run a command as the web user and return the replies (scripts, CLI)."""
        if not self._authorised(request):
            return web.json_response({"error": "token required"}, status=401)
        try:
            text = str((await request.json())["text"])
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'send JSON like {"text": "temp salon"}'}, status=400)
        message = Message(self._identity("api"), Address(self.chat.name, "api", True), text, addressed=True)
        replies = await asyncio.wait_for(self.hub.execute(message), self.hub.settings.hub.handler_timeout + 5)
        return web.json_response({"replies": [r.text for r in replies]})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        link = self.links.get(request.match_info["token"])
        if link is None:
            raise web.HTTPNotFound()
        return web.FileResponse(link.path, headers={"Content-Type": link.mime, "Cache-Control": "private"})
