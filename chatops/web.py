"""The hub's web server: /health, expiring file links, the dashboard and its web chat.

Bound to loopback without a token it answers this machine's browser run by the hub's own
account (root and `[web] local_users` too: chatops.peer_account); anywhere else it needs the configured token,
given once as `?token=` (then kept in an HttpOnly cookie) or as `Authorization: Bearer`.
The access log is off so the token never lands in a log line.

One websocket per open page carries both the chat and the dashboard. Server to page:
`hello`, `reply` (chat), `result` (of an action), `error` (a message of an unknown type), and after the page sent `{"type": "watch"}`:
`state` (devices, alerts, health, what the web user may do), `reading` (one device), `alerts`,
`health`. Page to server: `{"text": ...}` or a frame that is not JSON (a chat line, for `websocat`), `{"type": "watch"}`,
`{"type": "switch", "device", "state"}`, `{"type": "set", "device", "value"}` (a slider, + and −, open/close/stop),
`{"type": "ack", "id"}`, `{"type": "snap", "camera"}`. Actions run as chat commands of the `[web] user`, so the same
permissions, rate limits and audit apply as in the chat.
"""

from __future__ import annotations

import asyncio
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

from . import json_input
from .adapter import AdapterBase, Capabilities
from .api_errors import ApiErrors
from .durations import parse_duration
from .history import period_range
from .config import DeviceType
from .health import Health
from .controls import modes_of
from .home import SWITCH_STATES, Device, Reading
from .alerts import SEVERITY_WORDS
from .access import RATE_LIMITED
from .i18n import N_, _, ngettext, pgettext, speaking
from .message import Address, Attachment, Identity, Message, Reply
from .sim_past import simulated_until
from .notify_web import ROUTE_HINTS, NotifyApi
from .outbox import Unread
from .web_feed import Feed
from .web_access import BEYOND, COOKIE, WebAccess, not_its_own
from .web_gate import IDLE_TIMEOUT, Gate
from .web_guard import RequestGuard

if TYPE_CHECKING:
    from .hub import Hub

PAGE_LABELS = (N_("On"), N_("Off"), N_("Take a picture"), N_("no reading yet"), N_("stale"), N_("{span} ago"),
               N_("No device to show (the web user may not read devices)."), N_("not connected"),
               N_("switching…"), N_("taking a picture…"), N_("acknowledged by {who}"), N_("NOT acknowledged"),
               N_("Acknowledged"), N_("Acknowledge"), N_("Alerts"), N_("Chat"), N_("Send"),
               N_("Type a command: temp, chauffage on, snap entree, graph salon 7d… (help lists them all)"),
               N_("temp salon, chauffage on, graph salon 7d, help"),
               N_("Storage is failing ({why}): alerts are sent from memory, readings kept in memory."),
               N_("Open"), N_("Stop"), N_("Close"), N_("no history yet"), N_("history is not for the web user"),
               N_("simulated"),
               N_("connecting…"), N_("live"), N_("reconnecting…"), N_("{label}, last 24 hours"),
               N_("connections"), N_("the house"), N_("chat"), N_("storage"), N_("max {value}"), N_("min {value}"),
               N_("brightness"), N_("colour temperature"), N_("value"), N_("lower the target"),
               N_("raise the target"), N_("NOT STORED: storage is failing"),
               N_("Not stored yet: answer ack in the chat to acknowledge it."))
# The severities as alerts say them; days as durations write them (`2j` in French: a context of
# its own in the catalogue, as one letter means many things).
PAGE_LABELS += SEVERITY_WORDS
PAGE_CONTEXT_LABELS = {"d": "the unit of days in 2d, 1d4h"}
log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
HEALTH_EVERY = 2.0              # seconds between health comparisons per page, until the hub is ready
CHART_POINTS = 288              # dashboard charts: one point per 5 minutes over a day
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"    # Prometheus's text format


def served_at(host: str, port: int) -> str:
    """The address links point at without a `public_url`: the listen address (IPv6 in brackets),
    or 127.0.0.1 for a wildcard one (`chatops check` warns: that link opens on this machine only)."""
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True, slots=True)
class Link:
    path: Path
    mime: str
    expires: float


def _json(data: object, status: int = 200) -> web.Response:
    """A JSON answer as people read it with curl: `20.9 °C`, `entrée`, not `\\u00b0` escapes."""
    return web.json_response(data, status=status, dumps=_readable_json)


def _readable_json(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


def _significant(value: float | None) -> float | None:
    """An average as a chart needs it: 21.64, not 21.639999999999997 (the sum's float noise)."""
    return None if value is None else float(f"{value:.6g}")


class LinkStore:
    """Unguessable, expiring URLs for snapshots and graphs (IRC and SMS get these)."""

    def __init__(self, base_url: str, ttl: float, monotonic: Callable[[], float] = time.monotonic,
                 local_only: bool = False) -> None:
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl
        self._links: dict[str, Link] = {}
        self._monotonic = monotonic
        # No public_url, a loopback listen: a link sent to a phone (SMS, IRC) opens nowhere but
        # here. Said once, at the first link, where the owner looks when a picture will not open.
        self._untold_local = local_only

    def sent_away(self, url: str) -> None:
        """`url` went to a chat network, to be opened on a phone (chatops.render.image_link)."""
        if self._untold_local and url.startswith(self.base_url + "/"):
            self._untold_local = False
            log.warning("a picture went to a chat network as a link to %s, which opens on this machine only: set "
                        "[web] public_url to the address phones reach the hub by, e.g. \"http://hub.lan:8080\", "
                        "and listen on it", self.base_url)

    def publish(self, path: Path, mime: str | None = None, ttl: float | None = None) -> str:
        now = self._monotonic()                    # a link lives `ttl` seconds, whatever the wall clock does
        self._links = {k: v for k, v in self._links.items() if v.expires > now}
        token = secrets.token_urlsafe(24)
        guessed = mime or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        self._links[token] = Link(path, guessed, now + (ttl or self.ttl))
        return f"{self.base_url}/files/{token}/{path.name}"

    def get(self, token: str) -> Link | None:
        link = self._links.get(token)
        if link is None or link.expires <= self._monotonic() or not link.path.exists():
            return None
        return link


class WebChat(AdapterBase):
    """The web chat as an adapter: each open page is a direct conversation."""

    network = "web"
    capabilities = Capabilities(max_text=20000, images=True, keeps_messages=False)

    def __init__(self, name: str = "web", links: LinkStore | None = None) -> None:
        self.name = name
        self.health = Health()
        self.links = links
        self.sockets: dict[str, web.WebSocketResponse] = {}

    async def run(self, hub: Hub) -> None:
        """Served by WebServer: nothing to connect; runs until cancelled, as every adapter does."""
        self.health.up("serving")
        await asyncio.Event().wait()

    def status_note(self) -> str | None:
        """How many chat pages are open: `web: connected` alone read as if messages to the web
        chat were read, while alerts to it said "no web chat page was open"."""
        count = len(self.sockets)
        return ngettext("{count} chat page open", "{count} chat pages open", count).format(count=count) if count \
            else _("no chat page open: messages to the web chat go unread")

    async def send(self, address: Address, reply: Reply) -> None:
        """To one page, or every open page (`*`). A page closed since (a timer's result, set from
        it) hands its message to the pages open now: they are the same web user's. With no page
        open nobody reads it, and the web chat keeps no history: given up (Unread), so
        `/api/notify/ID` says `failed: … no web chat page was open` instead of `delivered`, and
        the person's other networks carry it. (A closed page's messages were once retried every
        second, as if a connection had dropped.)"""
        targets = [s for k, s in self.sockets.items() if k == address.target] or list(self.sockets.values())
        if not targets:
            raise Unread(N_("no web chat page was open"))      # stored as is, said in the reader's language
        payload = json.dumps({"type": "reply", "text": reply.text, "notice": reply.notice,
                              "images": self.image_urls(reply.attachments, "")})
        for socket in targets:
            await socket.send_str(payload)

    def image_urls(self, attachments: tuple[Attachment, ...], origin: str) -> list[str]:
        """Links to show: the attachment's own, or a fresh one (alert snapshots have none), on
        `origin` (the address the request came to; "" for the page: a link relative to the site,
        right whatever name or address the browser reached the hub by)."""
        urls = []
        for attachment in attachments:
            url = attachment.url
            if url is None and self.links is not None and attachment.path.exists():
                url = self.links.publish(attachment.path, attachment.mime)
            if url and self.links is not None and url.startswith(self.links.base_url + "/files/"):
                url = origin + url[len(self.links.base_url):]
            if url:
                urls.append(url)
        return urls


class WebServer:
    """aiohttp application bound to `[web] listen`."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings.web
        host, port = self.settings.host_port
        self.links = LinkStore(self.settings.public_url or served_at(host, port), self.settings.link_ttl,
                               hub.clock.monotonic, local_only=self.settings.links_stay_here)
        self.chat = WebChat(links=self.links)
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self.port = port
        self._feeds: dict[str, Feed] = {}
        self.guard = RequestGuard(host, self.settings.public_url, self.settings.allowed_hosts)
        self.access = WebAccess(self.settings, self.guard, hub.clock.monotonic)

    def app(self) -> web.Application:
        # The guard first: a request it refuses never reaches ApiErrors, which names the API's endpoints.
        app = web.Application(client_max_size=64 * 1024,
                              middlewares=[self.guard.middleware(), ApiErrors(ROUTE_HINTS).middleware()])
        app.on_response_prepare.append(self.guard.unframed)
        app.router.add_get("/health", self._health)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        app.router.add_get("/ws", self._websocket)
        app.router.add_post("/api/command", self._api_command)
        app.router.add_get("/api/state", self._api_state)
        app.router.add_get("/api/history", self._api_history)
        NotifyApi(self.hub.notifications, self.access).add_routes(app)
        app.router.add_get("/files/{token}/{name}", self._file)
        app.router.add_get("/files/{token}", self._file)
        if STATIC.exists():
            app.router.add_static("/static/", STATIC)
        return app

    async def start(self) -> None:
        self.access.read_tokens(self.hub.settings.base_dir)
        self.hub.home.listen(self._on_reading)
        for health in self._healths():
            health.watchers.append(self._on_health)
        await self.hub.mqtt.subscribe(self.hub.alerts.state_topic("#"), self._on_alert_state)
        self._runner = web.AppRunner(self.app(), access_log=None, handle_signals=False, keepalive_timeout=IDLE_TIMEOUT)
        await self._runner.setup()
        host, port = self.settings.host_port
        # `::` alone is IPv6 only (asyncio sets IPV6_V6ONLY): 127.0.0.1 and IPv4 phones were refused.
        # No host binds every address of both families (one port for all: not with port 0).
        everywhere = host in ("::", "0.0.0.0") and port != 0
        assert self._runner.server is not None
        # Not aiohttp's TCPSite: its connections come through the Gate, which bounds how many stay open.
        self._gate = Gate(self._runner.server)
        self._listener = await asyncio.get_running_loop().create_server(
            self._gate, None if everywhere else host, port, reuse_address=True)
        self.port = self._listener.sockets[0].getsockname()[1]
        if port == 0:
            self.links.base_url = self.settings.public_url or served_at(host, self.port)
        self.chat.health.up("serving")
        log.info("web chat on http://%s:%d/", f"[{host}]" if ":" in host else host, self.port)

    async def stop(self) -> None:
        for health in self._healths():
            if self._on_health in health.watchers:
                health.watchers.remove(self._on_health)
        for socket in list(self.chat.sockets.values()):
            await socket.close()
        if self._listener is not None:
            self._listener.close()             # no new connection; cleanup closes the open ones
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, request: web.Request) -> web.Response:
        """The hub's state; 503 until ready, since probes (Docker, Kubernetes, systemd) read the status only.
        Without the web server's access (a token beyond loopback), only that: the details name
        servers, rooms and addresses, nobody's business on the LAN."""
        health = self.hub.health()
        status = 200 if health["ready"] else 503
        if not self.access.authorised(request):
            return _json({"ready": health["ready"], "status": health["status"]}, status=status)
        return _json(health, status=status)

    async def _metrics(self, request: web.Request) -> web.Response:
        """Prometheus's scrape (chatops.web_access.WebAccess.metrics_allowed)."""
        if not self.access.metrics_allowed(request):
            access = self.access
            if access.status(request) == 429:
                text = access.refusal(request)
            elif access.token is not None or access.metrics_token is not None:
                text = "token required: Authorization: Bearer TOKEN"
            else:
                text = not_its_own(access.tokenless_refusal(request) or BEYOND, _("this scraper"),
                                   "metrics_token_file (it opens /metrics only; docs/metrics.md)", local_users=False)
            return web.Response(status=self.access.status(request), text=text,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            body = await self.hub.metrics.exposition()
        except ImportError as exc:          # a venv made before the dependency came
            log.error("/metrics needs %s: pip install prometheus-client", exc.name)
            return web.Response(status=503, text="metrics need prometheus-client: pip install prometheus-client")
        return web.Response(body=body, headers={"Content-Type": METRICS_TYPE})

    async def _index(self, request: web.Request) -> web.StreamResponse:
        if not self.access.authorised(request):
            if self.access.status(request) == 429:
                return web.Response(status=429, text=self.access.refusal(request))
            with speaking(self.hub.settings.hub.language):
                if self.access.token is not None:
                    return web.Response(status=401, text=_("This hub needs its token: open /?token=YOUR_TOKEN once."))
                return web.Response(status=401, text=self.access.refusal(request, _("this browser")))
        if "token" in request.query:      # keep the token out of the address bar and history
            response = web.HTTPFound("/")
            if self.access.token is not None:    # (a hub without one: an old bookmark, nothing to keep)
                # Lax: a link to the dashboard from another site (webmail, a Home Assistant panel)
                # opens it; what changes things (POST, WebSocket) is held to the hub's own Origin.
                response.set_cookie(COOKIE, self.access.session(), httponly=True, samesite="Lax",
                                    secure=self.access.secure_cookie(request))
            raise response
        return web.FileResponse(STATIC / "index.html")

    def _identity(self, session: str) -> Identity:
        return Identity("web", self.settings.user or "web", display=f"web-{session[:6]}")

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if not self.access.authorised(request):
            return web.Response(status=self.access.status(request), text=self.access.refusal(request))
        # A chat line may be MAX_INPUT_CHARS characters, answered by the router as too long; a
        # frame beyond what aiohttp takes closed the page's connection without a word.
        socket = web.WebSocketResponse(heartbeat=30, max_msg_size=256 * 1024)
        await socket.prepare(request)
        session = secrets.token_hex(8)
        await socket.send_str(json.dumps({"type": "hello", "name": self.hub.settings.hub.name,
                                          "prefix": self.hub.settings.hub.prefix}))
        feed = Feed(session)
        self.chat.sockets[session] = socket
        writer: asyncio.Task[None] | None = None
        try:
            async for frame in socket:
                if frame.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json_input.loads(frame.data)
                except ValueError:
                    data = {"text": frame.data}
                if not isinstance(data, dict):        # `42`, `"temp"`: a line typed into websocat
                    data = {"text": data if isinstance(data, str) else frame.data}
                kind = data.get("type", "chat")
                if kind == "watch":                               # the dashboard wants the live feed
                    if writer is None:
                        self._feeds[session] = feed
                        writer = asyncio.create_task(self._push(socket, feed), name=f"web-push-{session}")
                elif kind in ("switch", "set", "ack", "snap"):
                    feed.spawn(self._action(socket, session, data), f"web-{kind}")
                elif kind != "chat":
                    await socket.send_str(json.dumps({"type": "error", "text": (
                        f"unknown message type {str(kind)[:40]!r}: expected chat, watch, switch, set, ack or snap")}))
                elif not isinstance(data.get("text", ""), str):
                    await socket.send_str(json.dumps({"type": "error", "text": (
                        'a chat line is {"text": "temp salon"}, its text a string')}))
                else:
                    message = Message(self._identity(session), Address(self.chat.name, session, True),
                                      data.get("text") or "", addressed=True)
                    self.hub.dispatch(message)
        finally:
            self.chat.sockets.pop(session, None)
            self._feeds.pop(session, None)
            feed.cancel()
            if writer is not None:
                writer.cancel()
                await asyncio.wait([writer])
        return socket

    # ---- the dashboard -------------------------------------------------------------------

    def _may(self, command: str) -> bool:
        """Whether the web user may use `command`, asked of the one access rule (chatops.access)
        without spending a rate token: the page's own reads (state, charts, the live feed)."""
        identity = self._identity("dashboard")
        return self.hub.router.refusal(self.hub.auth.user_for(identity), command, str(identity)) is None

    def device_json(self, device: Device, now: float) -> dict[str, object]:
        """A device as the page shows it, in the web user's language (`20,5 °C`, `allumé`)."""
        with speaking(self.language):
            return self._device_json(device, now)

    @property
    def language(self) -> str:
        return self.hub.auth.language_of(self.hub.auth.user_for(self._identity("dashboard")))

    @staticmethod
    def _device_json(device: Device, now: float) -> dict[str, object]:
        reading = device.reading
        value = reading.value if reading else None
        shown = (device.show(now) if device.control else device.value_text()) if reading else None
        found: dict[str, object] = {
            "name": device.name, "label": device.label, "type": device.type.value, "unit": device.unit,
            "value": value, "shown": shown, "at": reading.at if reading else None,
            "stale_after": device.settings.stale_after, "stale": device.is_stale(now),
            "chart": device.type is not DeviceType.CAMERA and not isinstance(value, str)}
        if device.control is not None:          # what the card's controls need: fields, limits, choices
            low, high, step = device.settings.limits
            modes = modes_of(device.settings)   # the ones it takes: a button for another is refused
            found.update(attrs=dict(reading.attrs) if reading else {}, options=device.settings.options,
                         modes=modes, color_temp=device.settings.color_temp,
                         kelvin={"min": device.settings.min_kelvin, "max": device.settings.max_kelvin},
                         mode_labels={mode: pgettext("thermostat mode", mode) for mode in modes},
                         limits={"min": low, "max": high, "step": step} if step else None)
        return found

    def _health_json(self) -> dict[str, object]:
        health = self.hub.health()
        store = self.hub.store.health
        return {"ready": health["ready"], "mqtt": health["mqtt"], "adapters": health["adapters"],
                "storage": {"connected": store.connected, "detail": store.detail}}

    def labels(self) -> dict[str, str]:
        """The page's own words in the web user's language (the dashboard asks for no other file)."""
        language = self.language
        with speaking(language):
            return {"language": language, **{text: _(text) for text in PAGE_LABELS},
                    **{key: pgettext(context, key) for key, context in PAGE_CONTEXT_LABELS.items()}}

    async def state(self) -> dict[str, object]:
        """Everything the dashboard shows, as the web user may see it."""
        may = self._may           # what the buttons may do is what the commands behind them may
        now = self.hub.clock.time()
        devices = [self.device_json(d, now) for d in sorted(self.hub.home.devices.values(), key=lambda d: d.name)]
        alerts = await self.hub.alerts.active() if may("alerts") else []
        return {"type": "state", "now": now, "name": self.hub.settings.hub.name, "labels": self.labels(),
                "devices": devices if may("read") else [], "alerts": alerts, "health": self._health_json(),
                "may": {"switch": may("switch"), "ack": may("ack"), "snap": may("snap"),
                        "history": may("history") or may("graph"), "chat": True}}

    def _on_reading(self, device: Device, reading: Reading, previous: Reading | None) -> None:
        if not self._feeds:
            return
        payload = json.dumps({"type": "reading", "device": self.device_json(device, self.hub.clock.time())})
        for feed in list(self._feeds.values()):
            feed.put(payload)

    def _healths(self) -> list[Health]:
        """What the dashboard's connection pills and storage banner show."""
        return [self.hub.store.health, self.hub.mqtt.health, *(a.health for a in self.hub.adapters.values())]

    def _on_health(self, _health: Health) -> None:
        # Pushed at once: a storage failure that lasts a second (one refused write before the
        # next succeeds) is still shown, and nothing is polled once the hub is ready.
        for feed in list(self._feeds.values()):
            feed.put(Feed.HEALTH)

    def _on_alert_state(self, _topic: str, _payload: bytes, _retained: bool) -> None:
        for feed in list(self._feeds.values()):
            feed.put(Feed.ALERTS)

    async def _push(self, socket: web.WebSocketResponse, feed: Feed) -> None:
        """Send this page its state, then every push; health is sent when it changes (and, until
        the hub is ready, compared every few seconds: readiness has no watchers)."""
        try:
            await socket.send_str(json.dumps(await self.state()))
            health = self._health_json()
            while not socket.closed:
                try:
                    async with asyncio.timeout(None if self.hub.ready.is_set() else HEALTH_EVERY):
                        item = await feed.get()
                except TimeoutError:
                    item = None
                if item is Feed.RESYNC:
                    await socket.send_str(json.dumps(await self.state()))
                elif item is Feed.ALERTS:
                    alerts = await self.hub.alerts.active() if self._may("alerts") else []
                    await socket.send_str(json.dumps({"type": "alerts", "alerts": alerts}))
                elif isinstance(item, str):
                    if self._may("read"):
                        await socket.send_str(item)
                now = self._health_json()
                if now != health:
                    health = now
                    await socket.send_str(json.dumps({"type": "health", "health": now}))
        except (ConnectionError, RuntimeError) as exc:     # the page went away mid-send
            log.debug("dashboard push stopped: %s", exc)
        except Exception:
            log.exception("dashboard push failed; the page will reconnect")
            await socket.close()

    async def _action(self, socket: web.WebSocketResponse, session: str, data: dict[str, object]) -> None:
        """A dashboard button: run it as the chat command it stands for and report the outcome."""
        kind = str(data.get("type"))
        result: dict[str, object] = {"type": "result", "action": kind, "request": data.get("request")}
        if kind == "switch":
            name, state = str(data.get("device", "")), str(data.get("state", "")).lower()
            if state not in SWITCH_STATES:
                state = _quoteless(state)[:20].replace(" ", "_") or '""'    # the router explains the choices
            text = f'switch "{_quoteless(name)}" {state}'
            result["device"], result["asked"] = name, state
        elif kind == "set":
            name = str(data.get("device", ""))
            value = _quoteless(str(data.get("value", "")))[:20].replace(" ", "") or '""'   # `set` explains the choices
            text = f'set "{_quoteless(name)}" {value}'
            result["device"] = name
        elif kind == "ack":
            wanted = str(data.get("id") or "")
            text = f"ack {wanted}" if wanted else "ack"      # a bad id is refused by ack, never widened
            result["id"] = data.get("id")
        else:
            name = str(data.get("camera", ""))
            text = f'snap "{_quoteless(name)}"'
            result["camera"] = name
        message = Message(self._identity(session), Address(self.chat.name, session, True), text, addressed=True)
        outcome: list[str] = []
        replies = await self.hub.execute(message, outcome=outcome)
        result["text"] = "\n".join(r.text for r in replies)
        if not replies and "rate-limited" in outcome:
            # The rate limit answers a chat once, then keeps quiet; a button is told each time,
            # or its card's note went blank and the thermostat's + stopped without a word.
            with speaking(self.hub.auth.language_of(self.settings.user)):
                result["text"] = _(RATE_LIMITED)
        result["images"] = [u for r in replies for u in self.chat.image_urls(r.attachments, "")]
        if kind in ("switch", "set"):
            device = self.hub.home.find(str(data.get("device", "")))
            if device is not None:
                result["state"] = self.device_json(device, self.hub.clock.time())
        if not socket.closed:
            await socket.send_str(json.dumps(result))
        if kind == "ack":
            for feed in list(self._feeds.values()):
                feed.put(Feed.ALERTS)

    def _refused(self, request: web.Request) -> web.Response:
        return _json({"error": self.access.refusal(request)}, status=self.access.status(request))

    async def _api_state(self, request: web.Request) -> web.Response:
        if not self.access.authorised(request):
            return self._refused(request)
        return _json(await self.state())

    async def _api_history(self, request: web.Request) -> web.Response:
        """GET ?device=NAME&period=24h&points=288: a device's history for the dashboard's charts."""
        if not self.access.authorised(request):
            return self._refused(request)
        if not self._may("history") and not self._may("graph"):
            return _json({"error": "the web user may not read history"}, status=403)
        asked = request.query.get("device", "")
        device = self.hub.home.find(asked)
        if device is None:
            known = ", ".join(sorted(self.hub.home.devices))
            why = f"no device called {asked[:40]!r}" if asked else "say which device: ?device=NAME"
            return _json({"error": f"{why}; devices: {known}"}, status=400 if not asked else 404)
        try:
            period = parse_duration(request.query.get("period", "24h"))
        except ValueError as exc:
            return _json({"error": f"period: {exc}"}, status=400)
        points_text = request.query.get("points", str(CHART_POINTS))
        if not re.fullmatch(r"[0-9]{1,6}", points_text):        # not isdigit(): `²` is a digit to it
            return _json({"error": f"points: a whole number from 10 to 2000, not {points_text[:20]!r}"}, status=400)
        points = max(10, min(2000, int(points_text)))
        shortest, longest = period_range(self.hub.settings.history)
        period = min(max(period, shortest), longest)    # the dashboard asks 24h even of 12h of history
        until = self.hub.clock.time()
        series = await self.hub.history.series(device.name, until - period, until, points) \
            if self.hub.history.enabled else []
        simulated = await simulated_until(self.hub, [device.name]) if series else None
        return _json({"device": device.name, "unit": device.unit, "since": until - period, "until": until,
                      "points": [[round(p.at, 1), _significant(p.avg)] for p in series], "simulated_until": simulated})

    async def _api_command(self, request: web.Request) -> web.Response:
        """POST {"text": "..."}: run a command as the web user and return the replies (scripts, CLI)."""
        if not self.access.authorised(request):
            return self._refused(request)
        try:
            text = (await request.json(loads=json_input.loads))["text"]
        except web.HTTPRequestEntityTooLarge:
            return _json({"error": 'a command is short: send JSON like {"text": "temp salon"}'}, status=413)
        except (ValueError, KeyError, TypeError):
            text = None
        if not isinstance(text, str):
            return _json({"error": 'send JSON like {"text": "temp salon"}: text is a string'}, status=400)
        message = Message(self._identity("api"), Address(self.chat.name, "api", True), text, addressed=True)
        replies = await asyncio.wait_for(self.hub.execute(message), self.hub.settings.hub.handler_timeout + 5)
        # public_url when set (a proxy's own Host may be 127.0.0.1); else the address the script
        # reached, by https if it came so (a Host the guard let through).
        scheme = "https" if self.access.secure_cookie(request) else request.scheme
        origin = (self.settings.public_url or f"{scheme}://{request.host}").rstrip("/")
        return _json({"replies": [r.text for r in replies],
                      "images": [u for r in replies for u in self.chat.image_urls(r.attachments, origin)]})

    async def _file(self, request: web.Request) -> web.StreamResponse:
        link = self.links.get(request.match_info["token"])
        if link is None:
            raise web.HTTPNotFound()
        return web.FileResponse(link.path, headers={"Content-Type": link.mime, "Cache-Control": "private"})


def _quoteless(name: str) -> str:
    return name.replace('"', "")
