"""The refusals aiohttp itself makes under /api/, said as the API's own are: `{"error": "..."}`.

Scripts read why from every refusal of the API (docs/notify.md), but a path no route matches
(`GET /api/notify/abc`: ids are numbers) or a method a path does not take (`GET /api/notify`)
came back as aiohttp's `404: Not Found` in text/plain, which says nothing of what would have
worked. Here the router's 404 names what the API has, its 405 the methods the path takes (the
`Allow` header stays), and any other error aiohttp raises there (413) keeps its status and words.
The middleware runs after the request guard: a request the guard refuses learns nothing of the API.
The dashboard's pages, outside /api/, keep aiohttp's answers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from aiohttp import hdrs, web

API = "/api"
SHOWN_PATH = 200            # characters of a path said back: enough to recognise, no mirror of a megabyte
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def in_api(path: str) -> bool:
    """Whether `path` is the API's (`/api` itself too: a script exploring it hears what exists)."""
    return path == API or path.startswith(f"{API}/")


def same_shape(pattern: str, path: str) -> bool:
    """Whether `path` has the segments of route `pattern` (`/api/notify/{id}`), a variable
    segment matching anything: `/api/notify/abc` is one, `/api/notify/abc/x` and `/api/notes/1` not."""
    wanted, given = pattern.split("/"), path.split("/")
    return len(wanted) == len(given) and all(w == g or w.startswith("{") for w, g in zip(wanted, given))


@dataclass(frozen=True, slots=True)
class ApiErrors:
    """Turns aiohttp's own refusals under /api/ into JSON that says what would have worked.

    `hints` maps a route's pattern to what to say of a path of its shape that it did not
    match: `{"/api/notify/{id}": "notification ids are numbers: /api/notify/ID"}`."""

    hints: Mapping[str, str]

    def middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        @web.middleware
        async def api_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
            try:
                return await handler(request)
            except web.HTTPException as exc:
                if exc.status < 400 or not in_api(request.path):
                    raise
                return self.answer(request, exc)
        return api_errors

    def answer(self, request: web.Request, exc: web.HTTPException) -> web.Response:
        """`exc` as JSON, with its status and its `Allow` header (a 405 must name the methods)."""
        from_router = getattr(request.match_info, "http_exception", None) is exc
        if from_router and isinstance(exc, web.HTTPMethodNotAllowed):
            error = self.not_allowed(request, exc.allowed_methods)
        elif from_router and isinstance(exc, web.HTTPNotFound):
            error = self.not_found(request)
        else:                   # aiohttp's words when it has some (413: the limit and the size), else the reason
            error = exc.text if exc.text and exc.text != f"{exc.status}: {exc.reason}" else exc.reason
        headers = {hdrs.ALLOW: exc.headers[hdrs.ALLOW]} if hdrs.ALLOW in exc.headers else None
        return web.json_response({"error": error}, status=exc.status, headers=headers)

    @staticmethod
    def not_allowed(request: web.Request, allowed: set[str]) -> str:
        """`GET /api/notify is not allowed; this path takes POST` (HEAD, which comes with every GET, unsaid)."""
        shown = sorted(allowed - {hdrs.METH_HEAD} if hdrs.METH_GET in allowed else allowed)
        return f"{request.method} {request.path[:SHOWN_PATH]} is not allowed; this path takes {', '.join(shown)}"

    def not_found(self, request: web.Request) -> str:
        """What a route of the same shape and method expects, else every endpoint of the API."""
        asked = f"no such API endpoint: {request.method} {request.path[:SHOWN_PATH]}"
        method = hdrs.METH_GET if request.method == hdrs.METH_HEAD else request.method
        endpoints = api_endpoints(request.app.router)
        for taken, pattern in endpoints:
            if taken == method and pattern in self.hints and same_shape(pattern, request.path):
                return f"{asked} ({self.hints[pattern]})"
        return f"{asked}; the API has {', '.join(f'{m} {p}' for m, p in endpoints)}"


def api_endpoints(router: web.UrlDispatcher) -> list[tuple[str, str]]:
    """(method, pattern) of each route under /api/, in the order they were added; HEAD left out."""
    found: dict[tuple[str, str], None] = {}
    for route in router.routes():
        pattern = route.resource.canonical if route.resource is not None else ""
        if in_api(pattern) and route.method != hdrs.METH_HEAD:
            found[route.method, pattern] = None
    return list(found)
