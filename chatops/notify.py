"""Messages in from anything: scripts (POST /api/notify), MQTT topics, monitoring webhooks.

A notification is recorded as an alert row (rule `notify/SOURCE`) with one delivery row per
recipient, in one transaction, so it goes through the same durable outbox as alerts: at least
once, across restarts, and `GET /api/notify/ID` reads each recipient's state from those rows.
Without `ack` the row is closed at once (it never shows among active alerts); with `ack` it stays
open and the alert engine repeats it every `[notify] repeat` until someone acknowledges it.
Recipients are resolved by the alert engine (`AlertEngine.recipients`): there is one resolution.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import sqlite3
import string
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from . import json_input
from .recipients import Recipient, headed, how_to_ack, notify_default_to, parse_address
from .reminders import NOTICE_PREFIX
from .config import ConfigError, NotifyTopic, read_secret
from .i18n import _
from .config_checks import address_problem
from .rate import TokenBucket
from .store import alerts as alert_rows, deliveries
from .notice import MAX_BODY, MAX_IMAGE, MAX_TEXT, Notice, Refused, image_kind, is_web_url, parse_notice
from .url_secrets import masked

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

FETCH_TIMEOUT = 10.0                # seconds to fetch an `image_url`


WEBHOOKS = ("alertmanager", "grafana")        # their notifications' source: WEBHOOK/TOKEN, and a key each


def source_family(source: str) -> str:
    """A notification's source without a webhook's own key: `TOKEN`, or `WEBHOOK/TOKEN` for
    `WEBHOOK/TOKEN/FINGERPRINT` (the shape `submit` stores: the webhook and its token, then the key)."""
    parts = source.split("/")
    return "/".join(parts[:2]) if parts[0] in WEBHOOKS and len(parts) > 2 else source


def ends_when_acknowledged(rule: str) -> bool:
    """Whether the alert of `rule` is over once acknowledged: any notification's. One sent with
    `ack` has nothing else to end it; a webhook's (Alertmanager, Grafana) also ends when its
    sender says resolved, but a sender may never say it (Grafana's test button, `send_resolved:
    false`), and while it is open every new firing of its key is taken as a repeat: after an
    acknowledgement, the next firing is news again."""
    return rule.startswith(NOTICE_PREFIX)


def rule_family(rule: str) -> str:
    """`rule` without a webhook notification's own key (`notify/alertmanager/TOKEN/FINGERPRINT` ->
    `notify/alertmanager/TOKEN`): what metrics count by, so their labels stay as few as the
    config's rules and tokens, however many alerts a monitoring system sends."""
    if rule.startswith(NOTICE_PREFIX):
        return NOTICE_PREFIX + source_family(rule[len(NOTICE_PREFIX):])
    return rule


class NotStored(Exception):
    """A notification the database refused (a full or read-only card): `told` are the addresses
    it reached from memory anyway, `why` the storage's complaint. Told to someone, it is recorded
    once the database takes it (chatops.unstored), under an id the sender never learns."""

    def __init__(self, why: str, told: list[str]) -> None:
        super().__init__(why)
        self.why, self.told = why, told

    def as_json(self) -> dict[str, Any]:
        """The answer when it reached someone (202): sent again, they would read it twice."""
        return {"id": None, "stored": False, "told": self.told,
                "warning": f"the hub's storage is failing ({self.why}): sent from memory to those reachable now; "
                           "it is recorded once storage is back (the others told then, repeated if it asks an "
                           "ack), under an id this answer cannot give"}

    @property
    def refusal(self) -> str:
        """Why it is refused when it reached nobody (503): the sender's retry is its only chance."""
        return f"the hub's storage is failing ({self.why}) and nobody could be told from memory; send it again later"


class _Missing(str):
    """A field the payload lacks: written back as it was in the template, format and all."""


class _Fields(string.Formatter):
    """`{after.label}` reads a dotted path into the payload's JSON (not attributes); a missing
    field is left as written, so a template never fails on a payload that lacks one. Values
    read as JSON spells them (`true`, `null`; a list as `porch, yard`), not as Python prints."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> tuple[Any, str]:
        value: Any = kwargs
        for part in field_name.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _Missing(field_name), field_name
        return value, field_name

    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, _Missing):         # `{after.top_score:.0%}` with no top_score
            return "{" + value + (":" + format_spec if format_spec else "") + "}"
        if isinstance(value, list):
            return ", ".join(json_text(item) for item in value)
        if value is None or isinstance(value, bool) or isinstance(value, dict):
            return json_text(value)
        try:
            return super().format_field(value, format_spec)
        except ValueError:                      # a spec the value does not take (`:.0%` of a word)
            return str(value)


def fill(template: str, payload: dict[str, Any], extra: dict[str, Any]) -> str:
    """`template` with `{field}` taken from the payload, then from the alert placeholders in `extra`."""
    try:
        return _Fields().vformat(template, (), {**extra, **payload})
    except (ValueError, IndexError):
        return template


def field_value(payload: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(payload, dict) or part not in payload:
            return None
        payload = payload[part]
    return payload


def json_text(value: Any) -> str:
    """A JSON scalar as JSON spells it (`true`, `false`, `null`, `3`, `person`): what a
    `[[notify.topics]] match` value is written as, whatever Python would print."""
    return value if isinstance(value, str) else json.dumps(value)


class Notifications:
    """Takes notifications for one hub: checks, records, and answers their status."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.settings = hub.settings.notify
        self.default_to = notify_default_to(hub.settings)      # [notify] default_to, else the admins
        self._tokens: dict[str, str] = {}
        self._buckets: dict[str, TokenBucket] = {}        # a token's name, or an MQTT source -> its rate
        self._mqtt_dropped: dict[str, int] = {}            # MQTT source -> notifications dropped over the rate

    def read_tokens(self) -> None:
        """Read the tokens: a missing one, or two with one secret, stops start-up, named (the hub
        calls this before anything runs, so nothing is left half-started)."""
        from .config_report import token_clashes
        if clashes := token_clashes(self.hub.settings):
            raise ConfigError(clashes)
        web = self.hub.settings.web
        for name, token in web.notify_tokens.items():
            secret = read_secret(token, "token", self.hub.settings.base_dir)
            if secret:
                self._tokens[name] = secret
                self._buckets[name] = TokenBucket(token.per_minute, token.per_minute / 60, self.hub.clock.monotonic)

    async def start(self) -> None:
        """Listen on the MQTT topics."""
        name = self.hub.settings.hub.name
        await self.hub.mqtt.subscribe(f"chatops/{name}/notify", self._on_own_topic, max_payload=MAX_BODY)
        for topic in self.settings.topics:
            await self.hub.mqtt.subscribe(topic.topic, self._topic_listener(topic), max_payload=MAX_BODY)

    def _mqtt_bucket(self, source: str) -> TokenBucket:
        """The rate of one MQTT source (a topic filter), as a token's: whoever may publish on the
        broker (a script in a loop, a device gone mad) cannot flood phones and mailboxes."""
        bucket = self._buckets.get(source)
        if bucket is None:
            per_minute = self.settings.mqtt_per_minute
            bucket = self._buckets[source] = TokenBucket(per_minute, per_minute / 60, self.hub.clock.monotonic)
        return bucket

    # ---- who may send ---------------------------------------------------------------------

    def token_name(self, authorization: str) -> str | None:
        """The notify token's name `Authorization: Bearer TOKEN` carries, or None."""
        scheme, _, credentials = authorization.strip().partition(" ")
        offered = (credentials if scheme.casefold() == "bearer" else authorization).strip().encode()   # any case
        if not offered:
            return None
        found = None
        for name, secret in self._tokens.items():     # compare with all: no timing hint of which
            if hmac.compare_digest(offered, secret.encode()):
                found = name
        return found

    def check(self, token: str, notice: Notice) -> None:
        """The token's `to` limit, its recipients, its rate; Refused(403/422/429) when one says no.
        A request refused for what it says costs none of the rate (a script's typo would lock it out)."""
        self.check_recipients(token, notice.to)
        self.resolve(notice.to)
        self.take(token)

    def check_recipients(self, token: str, to: tuple[str, ...]) -> None:
        """Refused(403) when the token's `to` does not allow every one of `to`."""
        allowed = self.canonical(tuple(self.hub.settings.web.notify_tokens[token].to))
        if allowed:
            outside = [t for t in self.canonical(to) if t not in allowed]
            if outside:
                raise Refused(403, f"token {token!r} may not address {', '.join(outside)}", allowed=allowed)

    def take(self, token: str, **extra: Any) -> None:
        """One notification from the token's rate; Refused(429, with `extra`) when it is spent."""
        bucket = self._buckets[token]
        if not bucket.take():
            wait = max(1, round(bucket.delay()))
            raise Refused(429, f"token {token!r} sends more than {bucket.burst:g} notifications a minute; "
                               f"try again in {wait} s", retry_after=wait, **extra)

    # ---- recording ------------------------------------------------------------------------

    def known_recipients(self) -> list[str]:
        """What may be written in `to`: user names and the networks enabled for addresses."""
        networks = sorted({a.network for a in self.hub.adapters.values()} - {"web", "console"})
        return sorted(self.hub.auth.users) + [f"{n}:ADDRESS" for n in networks]

    def resolve(self, to: tuple[str, ...]) -> list[Recipient]:
        """Addresses of `to`, by the alert engine's own resolution; Refused(422) for what is unknown."""
        unknown = []
        enabled = {a.network for a in self.hub.adapters.values()} | set(self.hub.adapters)
        to = self.canonical(to)
        for entry in to:
            if ":" in entry:
                network, target = parse_address(entry)
                adapters = self.hub.adapters_for(network)
                problem = address_problem(adapters[0].network if adapters else network, target, enabled)
                if problem:
                    unknown.append(f"{entry} ({problem})")
            elif entry not in self.hub.auth.users:
                unknown.append(entry)
            elif not self.hub.alerts.recipients([entry]):
                unknown.append(f"{entry} (no identity on an enabled network)")
        if unknown:
            raise Refused(422, f"unknown recipient(s): {', '.join(unknown)}", recipients=self.known_recipients())
        return self.hub.alerts.recipients(list(to))

    def canonical(self, to: tuple[str, ...]) -> tuple[str, ...]:
        """`to` with each user name spelt as in [users] (`Owner` is owner: people, like devices and
        commands, are named without minding case); addresses are left as written."""
        users = {name.casefold(): name for name in self.hub.auth.users}
        return tuple(entry if ":" in entry else users.get(entry.casefold(), entry) for entry in to)

    async def submit(self, notice: Notice, source: str, key: str | None = None,
                     left_out: list[str] | None = None) -> int:
        """Record `notice` and wake the outbox; its id. `key` (a webhook's fingerprint) names the
        rule, so the same source can clear it later. `left_out`, when given, receives why its
        picture is not sent (a fetch that failed), which the sender's answer carries."""
        recipients = self.resolve(notice.to)
        attachment, warning = await self._picture(notice)
        if warning and left_out is not None:
            left_out.append(warning)
        engine = self.hub.alerts
        now = self.hub.clock.time()
        rule = f"{NOTICE_PREFIX}{source}" + (f"/{key}" if key else "")
        open_ = notice.ack or key is not None

        def told(notice_id: int) -> Callable[[str | None], str]:
            """The notification as one recipient reads it (their language for the fixed words, the
            command prefix where they need one)."""
            def text(prefix: str | None) -> str:
                return f"{plain()} {how_to_ack(notice_id, prefix)}" if notice.ack else plain()
            return text

        def plain() -> str:
            return headed(notice.severity, notice.text)
        store = self.hub.store

        def write(db: Any) -> int:
            notice_id = alert_rows.insert(db, rule, "", notice.severity, notice.text, "", now,
                                          now + self.settings.repeat if notice.ack else None, None if open_ else now)
            engine._insert_deliveries(db, notice_id, recipients, "raise", told(notice_id), attachment, now)
            return notice_id

        try:
            notice_id = await store.call(store.transaction, write)
        except sqlite3.DatabaseError as exc:
            # A full card: what can be told is told now, from memory, as alarms are (chatops.unstored);
            # the sender hears it was not recorded, and a sender told of no delivery sends it again.
            why = str(exc)
            earlier = engine.unstored.told_pending(rule) if key is not None else None
            if earlier is not None:             # the same alert, told from memory already: not again
                raise NotStored(why, sorted(f"{network}:{target}" for network, target in earlier)) from None

            def unstored(_prefix: str | None) -> str:
                return _("{text} (NOT STORED: the hub's storage is failing: {why})").format(text=plain(), why=why)
            reached = await engine.unstored.send(recipients, unstored)
            log.error("notification from %s could not be recorded (%s): sent from memory to %d of %d recipients",
                      source, why, len(reached), len(recipients))
            if reached:
                # Told to some (the sender will not send it again): recorded once the database takes
                # it, those told marked told, the others sent it then, repeated when it asks an ack.
                async def record() -> int:
                    def write_told(db: Any) -> int:
                        if key is not None and (open_id := alert_rows.open_by_rule(db, rule)) is not None:
                            return open_id       # the same alert, recorded meanwhile by another way
                        notice_id = write(db)
                        deliveries.mark_told(db, notice_id, reached, now)
                        return notice_id
                    notice_id = await store.call(store.transaction, write_told)
                    log.info("notification from %s, sent from memory, recorded as #%d", source, notice_id)
                    if notice.ack:
                        engine.reminders.wake()
                    return notice_id
                engine.unstored.notification(rule, notice.severity, notice.text, why, notice.ack, key is not None,
                                             record, recipients, reached)
            raise NotStored(why, sorted(f"{network}:{target}" for network, target in reached)) from None
        log.info("notification #%d from %s -> %d recipients%s", notice_id, source, len(recipients),
                 f" (picture: {warning})" if warning else "")
        engine._wake(recipients)
        if notice.ack:
            engine.reminders.wake()
        return notice_id

    async def resolve_key(self, source: str, key: str, text: str) -> int | None:
        """Close the open notification `source`/`key` (a webhook's `resolved`), telling the same
        recipients; its id, or None when none is open."""
        rule = f"{NOTICE_PREFIX}{source}/{key}"
        now = self.hub.clock.time()
        store = self.hub.store
        if await self.hub.alerts.unstored.resolve(rule, lambda _prefix: _("[RESOLVED] {text}").format(text=text)):
            log.info("notification %s, told from memory and never recorded, resolved", rule)
            return None

        def write(db: Any) -> tuple[int, list[str]] | None:
            notice_id = alert_rows.open_by_rule(db, rule)
            if notice_id is None:
                return None
            alert_rows.clear_rule(db, rule, now)
            deliveries.cancel_pending(db, notice_id, "repeat")
            resolved = self.hub.alerts.in_their_words(
                lambda _prefix: _("[RESOLVED] {text} (alert #{id})").format(text=text, id=notice_id))
            deliveries.copy_to_first_recipients(db, notice_id, "clear", resolved, now)
            return notice_id, deliveries.adapters_of(db, notice_id)

        result = await store.call(store.transaction, write)
        if result is None:
            return None
        for adapter_name in result[1]:
            self.hub.alerts.outbox.wake(adapter_name).set()
        return result[0]

    async def open_key(self, source: str, key: str) -> int | None:
        """The id of the open notification `source`/`key`; 0 for one told from memory that waits
        for the database (open all the same); None when none is open."""
        rule = f"{NOTICE_PREFIX}{source}/{key}"
        if self.hub.alerts.unstored.told_pending(rule) is not None:
            return 0
        store = self.hub.store
        return await store.call(alert_rows.open_by_rule, store.db, rule)

    async def status_within(self, notice_id: int, seconds: float,
                            released: asyncio.Event | None = None) -> dict[str, Any] | None:
        """`status`, once each recipient has it on one of their addresses (or none of theirs is
        still being tried), or `seconds` have passed, or `released` is set (the web server stops:
        no pass comes any more, and a held request held the hub's stop): the long poll of
        `GET /api/notify/ID?wait=S`, woken by the outbox's passes, not polled. (A user's web chat
        left unread does not hold it once their phone has it.)"""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            passed = self.hub.alerts.outbox.next_pass()
            status = await self.status(notice_id)
            if status is None or _settled(status["recipients"]) or released is not None and released.is_set():
                return status
            woken = [asyncio.ensure_future(event.wait()) for event in (passed, released) if event is not None]
            try:
                async with asyncio.timeout_at(deadline):
                    await asyncio.wait(woken, return_when=asyncio.FIRST_COMPLETED)
            except TimeoutError:
                return status
            finally:
                for waiter in woken:
                    waiter.cancel()

    async def status(self, notice_id: int) -> dict[str, Any] | None:
        """A notification's state and each recipient's: delivered, pending (with the last error), failed."""
        store = self.hub.store
        shown = set(self.hub.alerts.outbox.shown)

        def query() -> dict[str, Any] | None:
            row = alert_rows.notice(store.db, notice_id, NOTICE_PREFIX)
            if row is None:
                return None
            recipients = []
            for did, adapter, target, recipient, kind, attempts, delivered, error in \
                    deliveries.of_alert(store.db, notice_id):
                state = "delivered" if (delivered or 0) > 0 or did in shown else \
                    ("failed" if delivered == -1 and error != "cancelled" else
                     ("cancelled" if delivered == -1 else "pending"))
                recipients.append({"recipient": recipient, "address": f"{adapter}:{target}", "kind": kind,
                                   "state": state, "attempts": attempts,
                                   "error": None if state == "delivered" else error})   # not the error it got over
            return {"id": notice_id, "source": row[0].removeprefix(NOTICE_PREFIX), "severity": row[1],
                    "text": row[2], "at": row[3], "acked_by": row[4], "open": row[5] is None,
                    "recipients": recipients}

        status = await store.call(query)
        for entry in (status or {}).get("recipients", []):
            network = self.hub.adapters.get(entry["address"].partition(":")[0])
            if entry["state"] == "pending" and not entry["error"] and network is not None \
                    and not network.health.connected:
                # Not tried yet: its network is down (a login refused), which a script polling
                # here must learn, not only /health.
                entry["error"] = f"waiting: {entry['address'].partition(':')[0]} is down ({network.health.detail})"
        return status

    async def _picture(self, notice: Notice) -> tuple[str | None, str | None]:
        """(file of the picture, why there is none): a fetch that fails sends the text without it."""
        data = notice.image
        if data is None and notice.image_url:
            try:
                data = await self._fetch(notice.image_url)
                image_kind(data)
            except Refused as exc:
                return None, exc.error
            except Exception as exc:
                # Why to the log only: told to the caller, which ports of the LAN answer, and what
                # their servers say, was a scanner for any token (even one limited to `owner`).
                log.warning("notification picture %s could not be fetched: %s: %s", masked(notice.image_url)[:200],
                            type(exc).__name__, masked(str(exc))[:300])
                return None, "the picture at image_url could not be fetched (the hub's log says why)"
        if data is None:
            return None, None
        # Kept as camera snapshots are: the oldest go past 500 files, 256 MB or 7 days, or a
        # doorbell's picture a ring would fill the card in the end.
        from .cameras import ImageFolder
        folder = ImageFolder.linked(self.hub.settings.data_dir / "notify", self.hub.settings.web.link_ttl)
        try:
            path = await asyncio.to_thread(folder.save, "notify", data, image_kind(data))
        except OSError as exc:              # a full card: the text still goes
            log.warning("a notification's picture could not be saved (%s): sent without it", exc)
            return None, f"the picture could not be saved: {exc.strerror or exc}"
        return str(path), None

    @staticmethod
    async def _fetch(url: str) -> bytes:
        import aiohttp          # the web server's library; only when a picture is asked for by URL

        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT)
        # No redirect followed: the picture is where the sender said, not wherever that points.
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(url, allow_redirects=False) as response:
            if 300 <= response.status < 400:
                log.warning("notification picture %s: a redirect to %s, not followed", masked(url)[:200],
                            masked(response.headers.get("Location", "?"))[:200])
                raise Refused(422, "image_url answered a redirect; give the picture's own URL")
            response.raise_for_status()
            # `read(n)` gives what has arrived so far, up to n: read until the end or past the cap
            # (a 1 MB camera picture once went out cut to its first 128 kB).
            body = bytearray()
            while len(body) <= MAX_IMAGE and (chunk := await response.content.read(MAX_IMAGE + 1 - len(body))):
                body += chunk
            if len(body) > MAX_IMAGE:
                raise Refused(413, f"the picture at image_url is larger than {MAX_IMAGE // 1024 // 1024} MB")
            return bytes(body)

    # ---- MQTT ------------------------------------------------------------------------------

    def _on_own_topic(self, topic: str, payload: bytes, retained: bool) -> None:
        if retained:
            log.warning("notify: a retained message on %s is ignored (it would be sent at every start); "
                        "publish notifications without the retain flag", topic)
            return
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            log.warning("notify: dropped a payload on %s that is not UTF-8 text", topic)
            return
        data: Any
        try:
            data = json_input.loads(text)
        except ValueError as exc:
            if text.lstrip().startswith("{"):
                # Meant as JSON: sent as text, the recipients would read braces and keys.
                log.warning("notify: dropped a payload on %s: it starts like a JSON object but is not one (%s); "
                            "fix the JSON, or send plain text", topic, exc)
                return
            data = None
        if not isinstance(data, dict):
            data = {"text": text}         # plain text (or a bare JSON value): to [notify] default_to
        try:
            notice = parse_notice(data, self.default_to)
        except Refused as exc:
            log.warning("notify: dropped a message on %s: %s", topic, exc.error)
            return
        self._submit_metered(notice, topic, topic)

    def _topic_listener(self, mapping: NotifyTopic) -> Any:
        def listener(topic: str, payload: bytes, retained: bool) -> None:
            if retained:
                return
            try:
                data = json_input.loads(payload)
            except ValueError:
                log.warning("notify: dropped a payload on %s: not JSON (the template of %s needs JSON fields)",
                            topic, mapping.topic)
                return
            if not isinstance(data, dict):
                log.warning("notify: dropped a payload on %s: a JSON object is expected", topic)
                return
            if any(json_text(field_value(data, k)) != v for k, v in mapping.match.items()):
                return
            extra = {"topic": topic, "time": self.hub.timers.clock_time(), "severity": mapping.severity,
                     "rule": mapping.topic, "device": topic, "value": "", "unit": ""}
            text = fill(mapping.message, data, extra)[:MAX_TEXT]
            url = fill(mapping.image_url, data, extra) if mapping.image_url else None
            if url is not None and not is_web_url(url):
                log.warning("notify: a message on %s names a picture at %r, not an http:// or https:// URL: "
                            "sent without it", topic, url[:200])
                url = None
            notice = Notice(tuple(mapping.to or self.default_to), text, mapping.severity,
                            image_url=url, ack=mapping.ack)
            if not notice.to:
                log.warning("notify: dropped a message on %s: no recipient ([[notify.topics]] to, or "
                            "[notify] default_to; no user is an admin to fall back on)", topic)
                return
            self._submit_metered(notice, mapping.topic, topic)
        return listener

    def _submit_metered(self, notice: Notice, topic_filter: str, topic: str) -> None:
        """Submit a notification taken from MQTT, within its topic filter's rate. Its source is
        `mqtt:FILTER`: no token's name (no colon in those), so no token reads its status, and
        as few metric labels as the config has topics. Past the rate, a burst's first drop is
        logged, and how many were dropped once one is taken again."""
        source = f"mqtt:{topic_filter}"
        bucket = self._mqtt_bucket(source)
        if not bucket.take():
            dropped = self._mqtt_dropped[source] = self._mqtt_dropped.get(source, 0) + 1
            if dropped == 1:
                log.warning("notify: more than %g notifications a minute on %s: dropping them "
                            "([notify] mqtt_per_minute)", bucket.burst, topic_filter)
            return
        dropped = self._mqtt_dropped.pop(source, 0)
        if dropped:
            log.warning("notify: dropped %d notification(s) on %s over the rate", dropped, topic_filter)
        self.hub.spawn(self._submit_logged(notice, source, topic), "notify-mqtt")

    async def _submit_logged(self, notice: Notice, source: str, topic: str) -> None:
        try:
            await self.submit(notice, source)
        except Refused as exc:
            log.warning("notify: dropped a message on %s: %s", topic, exc.error)
        except NotStored as exc:            # submit logged it; MQTT has no sender to answer
            if not exc.told:
                log.warning("notify: a message on %s is lost: storage fails and nobody could be told", topic)


def _settled(recipients: list[dict[str, Any]]) -> bool:
    """Whether every recipient has it on one address (or no longer needs it: cancelled by the
    acknowledgement), or has none still being tried, as `chatops notify --wait` reads it."""
    by_recipient: dict[str, list[str]] = {}
    for entry in recipients:
        by_recipient.setdefault(entry["recipient"] or entry["address"], []).append(entry["state"])
    return all("delivered" in states or "cancelled" in states or "pending" not in states
               for states in by_recipient.values())
