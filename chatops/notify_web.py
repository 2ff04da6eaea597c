"""The HTTP side of notifications: POST /api/notify, GET /api/notify/ID, and the Prometheus
Alertmanager and Grafana webhooks. Every one needs a `[web.notify_tokens]` token, even on
loopback: any local process can reach a loopback port, and each script's own token can be
revoked alone. The request guard (chatops.web_guard) has already refused cross-site requests
and bodies that are not JSON."""

from __future__ import annotations

import asyncio
import logging
import re
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import json_input
from .notice import MAX_BODY, MAX_IMAGE, MAX_URL, Refused, is_web_url, parse_notice
from .log_fold import FoldedLog
from .notify import WEBHOOKS, NotStored, source_family
from .web_access import shown_client

if TYPE_CHECKING:
    from .web_access import WebAccess
    from .notify import Notifications

log = logging.getLogger(__name__)
TOO_LARGE = f"the request is larger than {MAX_BODY:,} bytes (a picture of {MAX_IMAGE // 1024 // 1024} MB in base64, " \
    "and the rest)"
MOST_WAIT = 60.0                  # seconds GET /api/notify/ID?wait= may hold a request (proxies cut longer ones)
MOST_ALERTS_PER_CALL = 500        # a group of alerts in one webhook call (Alertmanager's max_alerts)
_LEGACY_STATE = re.compile(r"^\[(alerting|ok|no data|pending|paused)\]\s*", re.IGNORECASE)
SEVERITY_WORDS = {"critical": "critical", "page": "critical", "error": "critical", "high": "critical",
                  "warning": "warning", "warn": "warning", "medium": "warning",
                  "info": "info", "informational": "info", "low": "info", "none": "info"}
# What a path of a route's shape that the route did not match gets told (chatops.api_errors).
ROUTE_HINTS = MappingProxyType({"/api/notify/{id}": "notification ids are numbers: /api/notify/ID"})


class NotifyApi:
    """Request handlers over one hub's Notifications."""

    def __init__(self, notifications: Notifications, access: WebAccess | None = None) -> None:
        self.notifications = notifications
        self.access = access        # the web server's brake on whoever keeps guessing tokens
        # Webhook alerts being opened now (their picture is being fetched): a sender that timed
        # out and sent again, or a second call at once, would otherwise open each twice.
        self._opening: set[str] = set()
        self.said = FoldedLog(log)          # refusals, one line a minute per status and address
        self._released = asyncio.Event()    # the server stops: held status reads are answered now

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/notify", self.post)
        app.router.add_get("/api/notify/{id:[0-9]{1,19}}", self.get)      # SQLite's ids; 5,000 digits were a 500
        app.router.add_post("/api/notify/alertmanager", self.alertmanager)
        app.router.add_post("/api/notify/grafana", self.grafana)
        app.on_shutdown.append(self._release)

    async def _release(self, _app: web.Application) -> None:
        """Before the server waits for the requests under way (up to a minute): those held by
        `?wait=` are answered, with the state as it is (the hub stops, no pass will come)."""
        self._released.set()

    async def post(self, request: web.Request) -> web.Response:
        """{"to", "text", "severity", "image" | "image_url", "ack"} -> 202 {"id"}."""
        try:
            token = self._token(request)
            notice = parse_notice(await _body(request), self.notifications.default_to)
            self.notifications.check(token, notice)
            left_out: list[str] = []
            notice_id = await self.notifications.submit(notice, token, left_out=left_out)
        except Refused as exc:
            return _refusal(request, exc, self.said)
        except NotStored as exc:
            return _not_stored(request, exc, self.said)
        answer: dict[str, object] = {"id": notice_id, "status": f"/api/notify/{notice_id}"}
        if left_out:                # the text goes; the script hears why its picture does not
            answer["picture"] = f"left out: {left_out[0]}"
        return web.json_response(answer, status=202)

    async def get(self, request: web.Request) -> web.Response:
        """The status of a notification sent with the same token (another's reads as not found:
        its text and its recipients' addresses are not this script's business)."""
        try:
            token = self._token(request)
        except Refused as exc:
            return _refusal(request, exc, self.said)
        try:
            wait = _wait_of(request)
        except Refused as exc:
            return _refusal(request, exc, self.said)
        notice_id = int(request.match_info["id"])
        status = None
        if notice_id < 2 ** 63:                 # SQLite's largest
            status = await self.notifications.status(notice_id)
            if wait and status is not None and _sent_with(status["source"], token):
                status = await self.notifications.status_within(notice_id, wait, self._released)
        if status is None or not _sent_with(status["source"], token):
            return web.json_response({"error": f"no notification #{request.match_info['id']}"}, status=404)
        return web.json_response(status)

    async def alertmanager(self, request: web.Request) -> web.Response:
        """Alertmanager's webhook: each alert opens a notification keyed by its fingerprint;
        `resolved` closes it and tells the same people. `?to=` and `?ack=true` as for /api/notify."""
        return await self._webhook(request, "alertmanager")

    async def grafana(self, request: web.Request) -> web.Response:
        """Grafana alerting's webhook: the unified shape (alerts with fingerprints, as Alertmanager)
        or the legacy one (state alerting/ok, ruleId, imageUrl)."""
        return await self._webhook(request, "grafana")

    async def _webhook(self, request: web.Request, source: str) -> web.Response:
        notifications = self.notifications
        try:
            try:
                token = self._token(request)
            except Refused as exc:
                if exc.status != 429:
                    raise
                # An address held for wrong tokens (a stale contact point beside this one, every
                # local script being 127.0.0.1): 503, which Alertmanager and Grafana retry; a 429
                # they drop, and the alert with it.
                raise Refused(503, exc.error, **exc.extra) from None
            body = await _body(request)
            if not isinstance(body, dict):
                raise Refused(400, f"this is not {_payload_of(source)} (a JSON object is expected)")
            asked = [t.strip() for t in request.query.get("to", "").split(",") if t.strip()]
            to = asked or notifications.default_to
            ack_word = request.query.get("ack", "false").lower()
            if ack_word not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                raise Refused(400, f"?ack={ack_word[:20]} is neither true nor false")
            ack = ack_word in ("1", "true", "yes", "on")
            events = _events(body, source)
            origin = f"{source}/{token}"
            if to:
                notifications.check_recipients(token, tuple(to))
            opened: list[int] = []
            resolved: list[int] = []
            already_open: list[int] = []           # repeats of an open one: not told again, said here
            told_from_memory: list[str] = []       # storage failing: sent, not recorded
            # Resolutions first: they cost nothing, and must not wait behind a rate limit.
            for key, firing, text, severity, image_url in sorted(events, key=lambda event: event[1]):
                # Two receivers of one Alertmanager (routes with `continue`) send the same alert
                # to different people: each is told, so the recipients are part of its key.
                key = f"{key}/to={','.join(sorted(set(asked)))}" if asked else key
                if firing:
                    mark = f"{origin}/{key}"
                    if mark in self._opening:
                        already_open.append(0)          # being opened by a call still running
                        continue
                    self._opening.add(mark)             # before any await: a call at the same moment sees it
                    try:
                        if (open_id := await notifications.open_key(origin, key)) is not None:
                            already_open.append(open_id)     # Alertmanager repeats a firing alert: open already
                            continue
                        # Each notification costs the token's rate, not each call: a body may carry
                        # thousands of alerts. Past the rate, 503 with Retry-After: Alertmanager and
                        # Grafana retry a 5xx (a 4xx they drop), and the ones opened already are open
                        # (skipped above) by then.
                        try:
                            notifications.take(token, opened=opened, resolved=resolved,
                                               **({"already_open": already_open} if already_open else {}))
                        except Refused as exc:
                            raise Refused(503, exc.error, **exc.extra) from None
                        # The picture URL goes through the same check as POST /api/notify's (http or
                        # https); one too long is left out, not the alert: a sender drops a 4xx for good.
                        picture = {"image_url": image_url} if is_web_url(image_url) and len(image_url) <= MAX_URL \
                            else {}
                        notice = parse_notice({"to": to, "text": text, "severity": severity, "ack": ack, **picture},
                                              notifications.default_to)
                        try:
                            opened.append(await notifications.submit(notice, origin, key))
                        except NotStored as exc:
                            if not exc.told:          # told nobody: the sender's retry is the only chance
                                raise Refused(503, exc.refusal, retry_after=10, opened=opened,
                                              resolved=resolved) from None
                            told_from_memory += exc.told
                    finally:
                        self._opening.discard(mark)
                else:
                    closed = await notifications.resolve_key(origin, key, text)
                    if closed is not None:
                        resolved.append(closed)
        except Refused as exc:
            return _refusal(request, exc, self.said)
        extra = {"told_unstored": told_from_memory} if told_from_memory else {}
        if already_open:
            extra["already_open"] = already_open
        return web.json_response({"opened": opened, "resolved": resolved, **extra}, status=202)

    def _token(self, request: web.Request) -> str:
        header = request.headers.get("Authorization", "")
        if self.access is not None and self.access.guesses.blocked(self.access.client(request)):
            raise Refused(429, "too many wrong tokens from this address; wait a minute", retry_after=60)
        if not header:
            raise Refused(401, "a notify token is required, even on loopback: "
                               "send Authorization: Bearer TOKEN (one of [web.notify_tokens])")
        name = self.notifications.token_name(header)
        if name is None and not self.notifications.hub.settings.web.notify_tokens:
            raise Refused(401, "this hub has no [web.notify_tokens] in its config: add one (docs/notify.md), "
                               "restart the hub, and send its token")
        if name is None:
            if self.access is not None:         # with `Bearer ` or without: a guess all the same
                self.access.guesses.wrong(self.access.client(request), request.path)
            raise Refused(401, "this token is not one of [web.notify_tokens]")
        return name


async def _body(request: web.Request) -> Any:
    """The JSON body, up to MAX_BODY bytes (more than the web server's usual limit: pictures)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise Refused(413, TOO_LARGE)
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):    # a chunked body has no length
        size += len(chunk)
        if size > MAX_BODY:
            raise Refused(413, TOO_LARGE)
        chunks.append(chunk)
    try:
        return json_input.loads(b"".join(chunks))
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, f"the body is not valid JSON: {exc}") from None


def _wait_of(request: web.Request) -> float:
    """`?wait=SECONDS`: how long a status read may wait for every recipient to have it (0: not)."""
    given = request.query.get("wait")
    if given is None:
        return 0.0
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MOST_WAIT:
        raise Refused(400, f"wait is a number of seconds from 0 to {MOST_WAIT:g} (?wait=30), not {given[:40]!r}")
    return seconds


def _sent_with(source: str, token: str) -> bool:
    """Whether a notification of `source` (`TOKEN`, or `WEBHOOK/TOKEN/KEY` from `_webhook`) came with `token`."""
    return source_family(source) in (token, *(f"{hook}/{token}" for hook in WEBHOOKS))


def _not_stored(request: web.Request, exc: NotStored, said: FoldedLog) -> web.Response:
    """202 when it reached someone from memory (sent again, they would read it twice); else 503
    with Retry-After, so that the script or monitoring system sends it again later."""
    if exc.told:
        return web.json_response(exc.as_json(), status=202)
    return _refusal(request, Refused(503, exc.refusal, retry_after=10), said)


def _refusal(request: web.Request, refused: Refused, said: FoldedLog) -> web.Response:
    said.warning(f"{refused.status}", request.remote or "?", "notify: refused %s %s from %s: %s", request.method,
                 request.path[:200], shown_client(request), refused.error)
    headers = {"Retry-After": str(refused.extra["retry_after"])} if "retry_after" in refused.extra else None
    if refused.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return web.json_response(refused.as_json(), status=refused.status, headers=headers)


def _events(body: dict[str, Any], source: str) -> list[tuple[str, bool, str, str, str | None]]:
    """(fingerprint, firing, text, severity, picture URL) of each alert in a webhook payload."""
    alerts = body.get("alerts")
    if isinstance(alerts, list):
        if len(alerts) > MOST_ALERTS_PER_CALL:
            # Resolutions cost no rate token, so the work of one call must be bounded otherwise.
            raise Refused(413, f"{len(alerts)} alerts in one call; at most {MOST_ALERTS_PER_CALL} (Alertmanager: "
                               f"max_alerts: {MOST_ALERTS_PER_CALL} in the webhook_config)")
        events = []
        for alert in alerts:
            if not isinstance(alert, dict):
                raise Refused(400, "each entry of \"alerts\" must be an object")
            labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
            notes = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
            key = str(alert.get("fingerprint") or "")
            if not key:
                key = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
            if not key:
                raise Refused(400, "an alert has neither a fingerprint nor labels")
            status = str(alert.get("status") or body.get("status") or "firing")
            name = labels.get("alertname") or body.get("title") or source
            # Not the body's "message": Grafana puts there the text of the whole group, every
            # alert's labels and values, which is no summary of this one.
            summary = notes.get("summary") or notes.get("description") or str(alert.get("valueString") or "").strip()
            where = labels.get("instance")
            text = f"{name}: {summary}" if summary else str(name)
            if where:
                text += f" ({where})"
            severity = SEVERITY_WORDS.get(str(labels.get("severity", "")).lower(), "warning")
            url = alert.get("imageURL") if isinstance(alert.get("imageURL"), str) else None
            events.append((key, status != "resolved", text[:1000], severity, url or None))
        return events
    if "state" in body:                       # Grafana's legacy alerting
        key = f"rule-{body.get('ruleId') or body.get('ruleName') or body.get('title')}"
        # Its title starts with the state (`[Alerting] Garage humidity`), which the hub's own
        # heading says again ([WARNING], [RESOLVED]): said once.
        text = _LEGACY_STATE.sub("", str(body.get("title") or "")) or str(body.get("ruleName") or "Grafana alert")
        if body.get("message"):
            text += f": {body['message']}"
        firing = body.get("state") not in ("ok", "paused", "pending")
        url = body.get("imageUrl") if isinstance(body.get("imageUrl"), str) and body.get("imageUrl") else None
        tags = body.get("tags") if isinstance(body.get("tags"), dict) else {}     # the rule's tags: severity=...
        severity = SEVERITY_WORDS.get(str(tags.get("severity", "")).lower(), "warning")
        return [(key, firing, text[:1000], severity, url)]
    raise Refused(400, f"this is not {_payload_of(source)}: it has no \"alerts\" list")


def _payload_of(source: str) -> str:
    """`an Alertmanager webhook payload`, `a Grafana webhook payload`: the sender as it names itself."""
    name = {"alertmanager": "Alertmanager", "grafana": "Grafana"}.get(source, source)
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name} webhook payload"
