"""Email as a network that only speaks: alerts and notifications go out over SMTP (aiosmtplib).

There is no connection to keep: each delivery is one SMTP session (STARTTLS or SMTPS, with a
private CA if given). What the server answers decides what the outbox does:
- the server cannot be reached, or refuses our login: the adapter is down, says why in /health,
  and tries the server again with backoff; deliveries wait and go out once it is back;
- a 4xx answer (greylisting, a full mailbox for now): raised as a plain error, retried with backoff;
- a 5xx answer (no such mailbox, message refused): `Undeliverable`, given up at once with a log line.
Pictures ride inline in an HTML part (the text part carries the same words). The password is read
once at start and never formatted into a message or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import re
import ssl
from email import policy
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from html import escape
from typing import TYPE_CHECKING

import aiosmtplib

from chatops.adapter import AdapterBase, Capabilities
from chatops.backoff import Backoff
from chatops.config import read_secret
from chatops.health import Health
from chatops.message import Address, AlertRef, Reply
from chatops.outbox import SEND_TIMEOUT, Undeliverable

from .email_settings import Security, Settings

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)
# Python folds a header at 78 columns and, where the fold meets non-ASCII text, loses a space
# between encoded words or writes an empty one (`=?utf-8?q??=`): 97 of 360 French and emoji
# subjects came out wrong. Folded only past 998 (RFC 5322's limit), every one comes out whole.
MAIL_POLICY = policy.default.clone(max_line_length=998)

SUBJECT_MAX = 120
_MARKER = re.compile(r"^\[([^\]\n]{1,40})\]\s*")      # [CRITICAL], [REMINDER 2], [TERMINÉ]: any language


def subject(text: str, hub_name: str, alert: AlertRef | None = None) -> str:
    """`[maison] CRITICAL #12: Smoke in the kitchen!`: the severity (or the hub's own marker in
    capitals, `REMINDER 2`, `CLEARED`, in the reader's language) and the alert's id lead, so a
    mail client's list and filters show them. The id comes from the delivery's alert; the hub's
    own note of it (`(alert #12; answer !ack 12)`, in whatever language) is dropped."""
    first = text.strip().splitlines()[0] if text.strip() else "(no text)"
    marker = _MARKER.match(first)
    if marker and not (marker.group(1).isupper() and any(c.isalpha() for c in marker.group(1))):
        marker = None           # the hub writes its markers in capitals: `[backup] done` is the sender's text
    first = first[marker.end():] if marker else first
    head = marker.group(1) if marker else ""
    if alert is not None:
        # Only the hub's own note: `(alert #12; answer !ack 12)`, ending "ack 12)" in every
        # language, or `(alert #12)`, `(alerte n°12)`. An exit code or an address that holds
        # the number (`(exit code 89)`, `(192.168.1.12:9100)`) stays.
        mention = list(re.finditer(rf"\s*\((?:[^()]*\back {alert.id}|[^\W\d_]+ (?:#|n°){alert.id})\)", first))
        if mention:
            first = first[:mention[-1].start()] + first[mention[-1].end():]
        if not head and alert.kind in ("raise", "repeat"):
            head = alert.severity.upper()
        head = f"{head} #{alert.id}".strip()
    line = f"[{hub_name}] {head + ': ' if head else ''}{first.strip()}"
    return line if len(line) <= SUBJECT_MAX else line[:SUBJECT_MAX - 1] + "…"


class ServerDown(ConnectionError):
    """The SMTP server cannot be reached or refused our login: the adapter is down until it is back."""


class Adapter(AdapterBase):
    """Sends each reply as one mail to `address.target`; receives nothing."""

    network = "email"
    capabilities = Capabilities(max_text=100_000, images=True, reads_answers=False)   # mail only goes out

    def __init__(self, name: str = "email", settings: Settings | None = None) -> None:
        if settings is None:
            raise ValueError("the email adapter needs its [adapters.email] settings")
        self.name = name
        self.settings = settings
        self.health = Health()
        self._password: str | None = None
        self._tls: ssl.SSLContext | None = None
        self._hub_name = "chatops"
        self._lost = asyncio.Event()
        self._backoff = Backoff(base=1.0, cap=settings.reconnect_max)

    async def run(self, hub: Hub) -> None:
        """Check the server (connect, TLS, login) until it answers; again whenever a send finds it gone."""
        self._hub_name = hub.settings.hub.name
        self._password = read_secret(self.settings, "password", hub.settings.base_dir)
        self._tls = await asyncio.to_thread(self._tls_context)
        backoff = self._backoff
        where = f"{self.settings.host}:{self.settings.real_port}"
        while True:
            try:
                async with self._session():
                    pass
            except Exception as exc:
                delay = backoff.next_delay()
                reason = self._why(exc)
                self.health.down(f"{where}: {reason}; next try in {delay:.0f}s")
                log.warning("email: cannot send through %s (%s); next try in %.1fs", where, reason, delay)
                await asyncio.sleep(delay)
                continue
            self._lost.clear()
            backoff.reset()                 # the server answers: a later fault starts from 1 s, not the cap
            self.health.up(f"sending through {where}")
            await self._lost.wait()
            # A send failed where the check passes (a login the server wants only at MAIL FROM, a
            # sender it refuses): without this wait the outbox tried again at once, 190 times a second.
            delay = backoff.next_delay()
            self.health.down(f"{self.health.detail}; next try in {delay:.0f}s")
            await asyncio.sleep(delay)

    async def send(self, address: Address, reply: Reply) -> None:
        """One mail; raises so the outbox retries (or gives up on a 5xx: Undeliverable)."""
        mail = await asyncio.to_thread(self._compose, address.target, reply)
        try:
            # The whole session within the outbox's own wait, less a margin: aiosmtplib's timeout is
            # per step, so a server that stopped answering mid-session never raised before the
            # outbox gave up, and the adapter stayed "connected" while every mail failed.
            async with asyncio.timeout(min(self.settings.timeout, SEND_TIMEOUT - 5)):
                async with self._session() as smtp:
                    await smtp.send_message(mail)
            self._backoff.reset()
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            if refusal is not None and refusal.code >= 500:
                raise Undeliverable(f"{address.target}: {refusal.code} {refusal.message}") from None
            raise RuntimeError(f"{address.target}: {refusal.code if refusal else ''} "
                               f"{refusal.message if refusal else exc}") from None
        except aiosmtplib.SMTPSenderRefused as exc:
            # Every mail would be refused the same: the adapter is down (status says why), the mails wait.
            if exc.code in (530, 534, 535, 538):     # refused at MAIL FROM for want of a login, not the sender
                why = f"login refused: {exc.code} {exc.message}" + ("" if self.settings.username else
                      f"; the server wants a login: set [adapters.{self.name}] username and password_env")
                self._went_down(why)
                raise ServerDown(why) from None
            why = (f"the server refuses the sender {self.settings.sender} ({exc.code} {exc.message}); set "
                   f"[adapters.{self.name}] sender to an address your login may send as")
            self._went_down(why)
            raise ServerDown(why) from None
        except aiosmtplib.SMTPResponseException as exc:
            if isinstance(exc, aiosmtplib.SMTPAuthenticationError) or exc.code in (530, 534, 535, 538):
                hint = "" if self.settings.username else \
                    f"; the server wants a login: set [adapters.{self.name}] username and password_env"
                self._went_down(f"login refused: {exc.code} {exc.message}{hint}")
                raise ServerDown(f"login refused: {exc.code} {exc.message}{hint}") from None
            if exc.code >= 500:
                raise Undeliverable(f"{address.target}: {exc.code} {exc.message}") from None
            raise RuntimeError(f"{address.target}: {exc.code} {exc.message}") from None
        except aiosmtplib.SMTPNotSupported as exc:
            # An address with accents to a server without SMTPUTF8: this mail never goes, others do.
            raise Undeliverable(f"{address.target}: the mail server cannot take it ({exc})") from None
        except (OSError, aiosmtplib.SMTPException) as exc:
            reason = self._why(exc)
            self._went_down(reason)
            raise ServerDown(reason) from None

    def _went_down(self, reason: str) -> None:
        self.health.down(f"{self.settings.host}:{self.settings.real_port}: {reason}")
        self._lost.set()

    def _session(self) -> _Session:
        """A connected, logged-in SMTP client as an async context manager (it quits on exit)."""
        settings = self.settings
        return _Session(aiosmtplib.SMTP(
            hostname=settings.host, port=settings.real_port, timeout=settings.timeout,
            use_tls=settings.security is Security.TLS,
            start_tls=True if settings.security is Security.STARTTLS else False,
            tls_context=self._tls if settings.security is not Security.NONE else None),
            settings.username, self._password)

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.settings.ca_file:
            context.load_verify_locations(self.settings.ca_file)
        return context

    def _compose(self, to: str, reply: Reply) -> EmailMessage:
        """The mail: plain text, and with pictures an HTML part showing them inline (blocking: files)."""
        mail = EmailMessage(policy=MAIL_POLICY)
        mail["From"] = self.settings.sender
        mail["To"] = to
        mail["Subject"] = subject(reply.text, self._hub_name, reply.alert)
        mail["Date"] = formatdate(localtime=True)
        mail["Message-ID"] = make_msgid(domain=self.settings.sender.rpartition("@")[2])
        mail["Auto-Submitted"] = "auto-generated"       # RFC 3834: no vacation replies to the hub
        mail.set_content(reply.text)
        pictures = [a for a in reply.attachments if a.path.exists() and a.mime.startswith("image/")]
        if not pictures:
            return mail
        ids = [make_msgid() for _ in pictures]
        images = "".join(f'<p><img src="cid:{i[1:-1]}" alt="{escape(a.name or a.path.name)}"></p>'
                         for i, a in zip(ids, pictures))
        mail.add_alternative(f"<html><body><pre>{escape(reply.text)}</pre>{images}</body></html>", subtype="html")
        html = mail.get_payload()[1]
        for cid, attachment in zip(ids, pictures):
            maintype, _, subtype = attachment.mime.partition("/")
            html.add_related(attachment.path.read_bytes(), maintype=maintype, subtype=subtype, cid=cid,
                             filename=attachment.name or attachment.path.name, disposition="inline")
        return mail

    @staticmethod
    def _why(exc: BaseException) -> str:
        """A short reason for logs and /health (never the settings, so never the password)."""
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            return f"{exc.code} {exc.message}"
        if isinstance(exc, TimeoutError) and not str(exc):
            return "the server did not answer in time"
        return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Session:
    """Connect (TLS as configured) and log in on entry, QUIT on exit."""

    def __init__(self, smtp: aiosmtplib.SMTP, username: str | None, password: str | None) -> None:
        self.smtp, self._username, self._password = smtp, username, password

    async def __aenter__(self) -> aiosmtplib.SMTP:
        await self.smtp.connect()
        try:
            if self._username:
                await self.smtp.login(self._username, self._password or "")
        except BaseException:
            self.smtp.close()
            raise
        return self.smtp

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.smtp.quit()
        except (OSError, aiosmtplib.SMTPException):
            self.smtp.close()
