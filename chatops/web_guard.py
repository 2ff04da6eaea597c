"""Who may talk to the web server at all: the checks every request passes before any handler.

A page open in the user's browser can send requests to the hub even when the hub is bound to
loopback: a cross-site form post (no preflight for `text/plain`), a WebSocket (browsers do not
apply the same-origin policy to it), or a DNS-rebinding page whose name now points at 127.0.0.1.
So, whatever the token says:
- the `Host` must be one the hub is reached by: an IP address, a loopback name, the host of
  `public_url`, the listen host, `[web] allowed_hosts` (and this machine's name when bound to a
  wildcard address). A rebinding page always sends its own name, which is none of these;
- a WebSocket handshake or a state-changing request that carries an `Origin` must come from the
  hub's own origin (the address it was reached by, or `public_url`). A request with no `Origin`
  (curl, a script, cron) is judged by the other rules;
- a JSON endpoint takes `application/json` only, so a plain HTML form can never reach it.
Refusals answer 403 (415 for the content type) and are logged.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import HttpVersion11, hdrs, web

from .config import is_loopback
from .log_fold import FoldedLog

# What a reverse proxy adds to the requests it passes on (nginx, Apache, Caddy, Traefik, HAProxy).
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Server",
                 "X-Forwarded-Port", "X-Forwarded-Scheme", "X-Real-IP", "Via", "X-Original-URL",
                 "X-Original-Forwarded-For", "X-Original-Host", "X-Client-IP", "CF-Connecting-IP", "True-Client-IP")

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _hostname(host: str) -> str:
    """`host` of a Host header or URL netloc, lower case, without port or IPv6 brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        close = host.find("]")
        rest = host[close + 1:] if close > 0 else "?"
        # `[::1]evil` is no address: kept whole, so that no rule takes it for ::1
        return host[1:close] if rest == "" or rest[:1] == ":" and rest[1:].isdigit() else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class RequestGuard:
    """The Host, Origin and content-type rules of one web server."""

    def __init__(self, listen_host: str, public_url: str | None, allowed_hosts: list[str]) -> None:
        names = {"localhost", _hostname(listen_host)}
        if public_url:
            names.add(_hostname(urlsplit(public_url).netloc))
        names.update(_hostname(h) for h in allowed_hosts)
        if listen_host in ("0.0.0.0", "::", ""):
            machine = socket.gethostname().lower()
            names.update({machine, f"{machine}.local", socket.getfqdn().lower()})
        self.names = frozenset(n for n in names if n)
        self.public_origin = _origin_of(public_url) if public_url else None
        self.public_host = _hostname(urlsplit(public_url).netloc) if public_url else None
        self.said = FoldedLog(log)          # refusals, folded per status and address: a flood is one line a minute

    def from_beyond(self, request: web.Request) -> bool:
        """Whether `request` came from beyond this machine although it reached a loopback listener:
        through a reverse proxy (any header a proxy adds: `PROXY_HEADERS`), or sent to a host
        that is not a loopback one (public_url's, the LAN address of a TCP forwarder such as
        socat or `ssh -g -L`, 0.0.0.0), or in HTTP/1.0: nginx's bare `proxy_pass` adds no header
        and asks for 127.0.0.1, but speaks HTTP/1.0 to the hub, where browsers, curl and Python
        speak 1.1. Loopback alone then proves nothing: such a request needs the token like any
        other from the network. (A proxy that adds none of the headers, speaks 1.1 and rewrites
        Host to a loopback name cannot be told from a local client: docs/deploy.md says to set
        a token behind one.)"""
        headers = request.headers
        if any(name in headers for name in PROXY_HEADERS) or request.version < HttpVersion11:
            return True
        host = _hostname(headers.get(hdrs.HOST, ""))
        return not (is_loopback(host) or host.endswith(".localhost"))

    def is_public_host(self, host: str) -> bool:
        """Whether `host` (a Host header) names public_url's host."""
        return self.public_host is not None and _hostname(host) == self.public_host

    def host_allowed(self, host: str) -> bool:
        name = _hostname(host)
        return _is_ip(name) or name in self.names or name.endswith(".localhost")

    def origin_allowed(self, origin: str, request_host: str) -> bool:
        """Whether `origin` is the hub's own: the scheme and address the request came to, or public_url.
        Reached by public_url's host, the scheme must be public_url's too: a page someone slipped
        into plain-HTTP traffic for that name is not the hub's page."""
        if self.public_origin is not None and _origin_of(origin) == self.public_origin:
            return True
        if _hostname(request_host) == self.public_host:
            return False
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and parts.netloc.lower() == request_host.strip().lower()

    def refusal(self, request: web.Request) -> web.Response | None:
        """The answer refusing `request`, or None when it may go on to its handler."""
        host = request.headers.get(hdrs.HOST, "")
        if not self.host_allowed(host):
            return self._refuse(request, 403, f"unknown Host {host[:80]!r}",
                                f"This hub does not answer to the host name {_hostname(host)[:80]!r}; add it to "
                                f"[web] allowed_hosts.")
        origin = request.headers.get(hdrs.ORIGIN)
        changing = request.method not in SAFE_METHODS or \
            request.headers.get(hdrs.UPGRADE, "").lower() == "websocket"
        if changing and origin is not None and not self.origin_allowed(origin, host):
            return self._refuse(request, 403, f"cross-site request from {origin[:80]!r}",
                                "Cross-site requests are refused.")
        if request.method == "POST" and request.path.startswith("/api/") and \
                request.content_type != "application/json":
            return self._refuse(request, 415, f"content type {request.content_type!r}",
                                "Send the body as JSON with Content-Type: application/json.")
        return None

    def _refuse(self, request: web.Request, status: int, why: str, text: str) -> web.Response:
        self.said.warning(f"{status}", request.remote or "?", "web: refused %s %s from %s: %s", request.method,
                          request.path[:200], request.remote, why)
        return web.json_response({"error": text}, status=status)

    @staticmethod
    async def unframed(request: web.Request, response: web.StreamResponse) -> None:
        """Every answer refuses to be framed by another site: the Origin rules cannot tell a
        click on the hub's own page inside someone else's invisible frame (clickjacking) from a
        real one. Nor is a picture's type guessed, nor the address (with a token) sent on."""
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'none'"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
            refused = self.refusal(request)
            return refused if refused is not None else await handler(request)
        return guard


def _origin_of(url: str) -> str:
    """`scheme://host[:port]` as a browser writes an Origin: lower case, without the default port."""
    parts = urlsplit(url.strip().lower())
    try:
        port = parts.port
    except ValueError:
        port = None
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")
