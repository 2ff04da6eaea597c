"""Email out over a real SMTP server: aiosmtpd on a free loopback port, with STARTTLS or SMTPS
under a private CA, and a login. Mail is sent by a real hub through its durable outbox."""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller          # the test extra brings it: missing, the file fails
from aiosmtpd.smtp import AuthResult, LoginPassword

from adapters.email import subject
from adapters.email_network import identity_problem
from chatops.hub import Hub, running
from chatops.message import AlertRef
from chatops.notice import Notice, Refused
from chatops.testing import Mosquitto, free_port, settings_for, tiny_png, wait_for

PASSWORD = "pw-Zq8!never-in-logs"


class Mailbox:
    """What the SMTP server received, handed to the test's loop; answers the test can script."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.mails: asyncio.Queue[EmailMessage] = asyncio.Queue()
        self.rcpt_answers: list[str] = []       # the next RCPT TO answers, then 250
        self.mail_answers: list[str] = []       # the next MAIL FROM answers, then 250
        self.logins: list[tuple[bytes, bytes]] = []

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 no such mailbox"
        if self.rcpt_answers:
            return self.rcpt_answers.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.mail_answers:
            return self.mail_answers.pop(0)
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=policy.default)
        assert self.loop is not None
        self.loop.call_soon_threadsafe(self.mails.put_nowait, mail)
        return "250 Message accepted"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if isinstance(data, LoginPassword):
            self.logins.append((data.login, data.password))
            return AuthResult(success=data.login == b"maison" and data.password == PASSWORD.encode())
        return AuthResult(success=False)


class SmtpServer:
    """aiosmtpd on a fixed free port, which a test may stop and start again."""

    def __init__(self, workdir: Path, mailbox: Mailbox, security: str) -> None:
        self.port = free_port()
        self.mailbox, self.security = mailbox, security
        self.ca_file = workdir / "smtp.crt"
        key = workdir / "smtp.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(self.ca_file), "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(self.ca_file, key)
        self.controller: Controller | None = None

    def start(self) -> None:
        options: dict[str, Any] = {"authenticator": self.mailbox.authenticate, "auth_require_tls": True}
        if self.security == "tls":      # aiosmtpd cannot tell that its socket is TLS: offer AUTH anyway
            options.update(ssl_context=self.tls, auth_require_tls=False)
        else:
            options.update(tls_context=self.tls, require_starttls=True)
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port,
                                     server_hostname="127.0.0.1", ready_timeout=10, **options)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture(params=["starttls", "tls"])
def smtp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, Mailbox(), request.param)
    yield server
    server.stop()


@pytest.fixture
async def smtp_server(smtp: SmtpServer) -> AsyncIterator[SmtpServer]:
    smtp.mailbox.loop = asyncio.get_running_loop()
    smtp.start()
    yield smtp
    smtp.stop()


def email_settings(tmp_path: Path, url: str, server: SmtpServer) -> Any:
    return settings_for(
        tmp_path / "data", url, simulator={"enabled": False}, web={"user": None},
        adapters={"email": {"host": "127.0.0.1", "port": server.port, "security": server.security,
                            "ca_file": str(server.ca_file), "username": "maison", "password_env": "T_SMTP_PW",
                            "sender": "maison@example.org", "reconnect_max": "0.5s", "timeout": "5s"}},
        users={"owner": {"roles": ["admin"], "email": ["owner@example.org"]}})


async def status_of(hub: Hub, notice_id: int, state: str) -> dict[str, Any]:
    """The notification's email recipient once it is in `state` (the mark follows the send)."""
    async with asyncio.timeout(10):
        while True:
            status = await hub.notifications.status(notice_id)
            assert status is not None
            mine = [r for r in status["recipients"] if r["address"].startswith("email:")]
            if mine and mine[0]["state"] == state:
                return mine[0]
            await asyncio.sleep(0.05)


pytestmark = pytest.mark.servers


async def test_an_alert_mail_with_its_picture(tmp_path: Path, mosquitto: Mosquitto, smtp_server: SmtpServer,
                                              monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
                                              ) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("T_SMTP_PW", PASSWORD)
    picture = tiny_png(tmp_path / "door.png").read_bytes()
    async with running(Hub(email_settings(tmp_path, mosquitto.url, smtp_server), tty=False)) as hub:
        notice_id = await hub.notifications.submit(
            Notice(("owner",), "Person at the front door", "critical", image=picture, ack=True), "test")
        mail = await asyncio.wait_for(smtp_server.mailbox.mails.get(), 10)
        assert mail["To"] == "owner@example.org" and mail["From"] == "maison@example.org"
        assert mail["Subject"] == f"[maison] CRITICAL #{notice_id}: Person at the front door"
        # The hub reads no mail: the body says where to acknowledge, not "answer ack".
        assert mail.get_body(("plain",)).get_content().strip() == (
            f"[CRITICAL] Person at the front door (alert #{notice_id}; acknowledge it in a chat or on the "
            f"dashboard: ack {notice_id})")
        html = mail.get_body(("html",))
        images = [p for p in mail.walk() if p.get_content_maintype() == "image"]
        assert len(images) == 1 and images[0].get_content() == picture
        assert images[0].get_content_disposition() == "inline"
        assert f'cid:{images[0]["Content-ID"].strip("<>")}' in html.get_content()
        assert set(smtp_server.mailbox.logins) == {(b"maison", PASSWORD.encode())}, "a check at start, the send"
        await status_of(hub, notice_id, "delivered")
        assert hub.health()["adapters"]["email"]["connected"]
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("mail.log"))  # not the server's
    assert f"notification #{notice_id}" in ours, "the hub's logs were captured"
    assert PASSWORD not in ours and base64.b64encode(PASSWORD.encode()).decode() not in ours
    assert base64.b64encode(f"\0maison\0{PASSWORD}".encode()).decode() not in ours


async def test_a_4xx_is_retried_and_a_5xx_given_up(tmp_path: Path, mosquitto: Mosquitto, smtp_server: SmtpServer,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("T_SMTP_PW", PASSWORD)
    smtp_server.mailbox.rcpt_answers = ["451 4.7.1 greylisted, try again later"]
    async with running(Hub(email_settings(tmp_path, mosquitto.url, smtp_server), tty=False)) as hub:
        first = await hub.notifications.submit(Notice(("owner",), "Washing machine done"), "test")
        mail = await asyncio.wait_for(smtp_server.mailbox.mails.get(), 10)
        assert mail["Subject"] == f"[maison] INFO #{first}: Washing machine done"
        delivered = await status_of(hub, first, "delivered")
        assert delivered["attempts"] == 2, "refused once with 451, then accepted"
        with pytest.raises(Refused, match="not an email address"):
            await hub.notifications.submit(Notice(("email:nobody",), "Lost"), "test")
        refused = await hub.notifications.submit(Notice(("email:nobody@example.org",), "Lost"), "test")
        failed = await status_of(hub, refused, "failed")
        assert failed["attempts"] == 1 and "550" in failed["error"]
        assert "given up" in caplog.text and "nobody@example.org" in caplog.text
        assert smtp_server.mailbox.mails.empty()


async def test_a_server_down_and_back_gets_the_mail_later(tmp_path: Path, mosquitto: Mosquitto,
                                                          smtp_server: SmtpServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("T_SMTP_PW", PASSWORD)
    async with running(Hub(email_settings(tmp_path, mosquitto.url, smtp_server), tty=False)) as hub:
        smtp_server.stop()
        notice_id = await hub.notifications.submit(Notice(("owner",), "Freezer open", "warning"), "test")
        await status_of(hub, notice_id, "pending")
        async with asyncio.timeout(10):
            while hub.adapters["email"].health.connected:
                await asyncio.sleep(0.05)
        assert "127.0.0.1" in hub.adapters["email"].health.detail
        smtp_server.start()
        mail = await asyncio.wait_for(smtp_server.mailbox.mails.get(), 15)
        assert mail["Subject"] == f"[maison] WARNING #{notice_id}: Freezer open"
        await status_of(hub, notice_id, "delivered")


async def test_a_refused_sender_is_the_adapter_down_with_the_fix_and_the_mail_waits(
        tmp_path: Path, mosquitto: Mosquitto, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A server refusing `sender` (553 at MAIL FROM) lost every mail as the recipient's fault while
    /health said email was fine; a refusal the start-up check cannot see had the outbox retry at
    once, 190 times a second. Now: down, saying the fix, retried with backoff, sent once fixed."""
    monkeypatch.setenv("T_SMTP_PW", PASSWORD)
    smtp_server.mailbox.mail_answers = ["553 5.7.1 Sender address rejected: not owned by user"] * 3
    async with running(Hub(email_settings(tmp_path, mosquitto.url, smtp_server), tty=False)) as hub:
        notice_id = await hub.notifications.submit(Notice(("owner",), "Freezer open", "warning"), "test")
        email = hub.adapters["email"]
        await wait_for(lambda: "refuses the sender" in email.health.detail)
        assert "the server refuses the sender maison@example.org (553 5.7.1 Sender address rejected: not owned by " \
               "user); set [adapters.email] sender to an address your login may send as" in email.health.detail
        mail = await asyncio.wait_for(smtp_server.mailbox.mails.get(), 15)
        assert mail["Subject"] == f"[maison] WARNING #{notice_id}: Freezer open"
        delivered = await status_of(hub, notice_id, "delivered")
        assert delivered["attempts"] == 4, "three refusals, with backoff between them, then the mail"


async def test_a_login_wanted_at_mail_from_names_the_login_not_the_sender(
        tmp_path: Path, mosquitto: Mosquitto, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """530 "Authentication required" at MAIL FROM (a provider that wants a login there) said to
    change `sender`; the fix is the login."""
    monkeypatch.setenv("T_SMTP_PW", PASSWORD)
    smtp_server.mailbox.mail_answers = ["530 5.7.0 Authentication required"]
    async with running(Hub(email_settings(tmp_path, mosquitto.url, smtp_server), tty=False)) as hub:
        notice_id = await hub.notifications.submit(Notice(("owner",), "Freezer open", "warning"), "test")
        email = hub.adapters["email"]
        await wait_for(lambda: "login refused" in email.health.detail)
        assert "login refused: 530 5.7.0 Authentication required" in email.health.detail
        assert "refuses the sender" not in email.health.detail
        await status_of(hub, notice_id, "delivered")      # answered once: the mail goes after the backoff


def test_a_user_email_must_be_an_address(tmp_path: Path) -> None:
    from chatops.config import ConfigError
    with pytest.raises(ConfigError, match=r"users.bob.email: 'bob' is not an email address"):
        settings_for(tmp_path, users={"bob": {"roles": ["guest"], "email": ["bob"]}})
    with pytest.raises(ConfigError, match="a password needs the login it goes with: username = "):
        settings_for(tmp_path, adapters={"email": {"host": "127.0.0.1", "password_env": "T_SMTP_PW",
                                                   "sender": "maison@example.org"}})
    with pytest.raises(ConfigError, match="only accepted for a loopback host"):
        settings_for(tmp_path, adapters={"email": {"host": "smtp.example.org", "security": "none",
                                                   "sender": "maison@example.org"}})


def test_addresses_and_subjects() -> None:
    assert identity_problem("alice@example.org") is None
    assert identity_problem("alice") and identity_problem("a@b") and identity_problem("a b@example.org")
    reminder = AlertRef(7, "critical", "repeat")
    assert subject("[REMINDER 2] Smoke! (alert #7; answer !ack 7)", "maison", reminder) == "[maison] REMINDER 2 #7: Smoke!"
    assert subject("[RAPPEL 2] Fumée ! (alerte n°7 ; répondez !ack 7)", "maison", reminder) == \
        "[maison] RAPPEL 2 #7: Fumée !", "the marker and the mention of the id in any language"
    assert subject("[CLEARED] Smoke gone (alert #7)", "m", AlertRef(7, "critical", "clear")) == "[m] CLEARED #7: Smoke gone"
    assert subject("Alert #7 (smoke) acknowledged by alice.", "m", AlertRef(7, "critical", "ack")) == \
        "[m] #7: Alert #7 (smoke) acknowledged by alice.", "an acknowledgement is not tagged CRITICAL"
    assert len(subject("x" * 500, "m")) == 120
    assert subject("Washing machine done", "m", AlertRef(8, "info")) == "[m] INFO #8: Washing machine done"
    assert subject("[RESOLVED] Disk full (alert #9)", "m", AlertRef(9, "critical", "clear")) == \
        "[m] RESOLVED #9: Disk full", "the text's marker says more than the severity"
    assert subject("[CRITICAL] Smoke (NOT STORED: disk full)", "m") == "[m] CRITICAL: Smoke (NOT STORED: disk full)"
    assert subject("Shopping list", "m") == "[m] Shopping list", "a reply of no alert has no heading"
    # The id in a text of its own is not the hub's note: it stays.
    assert subject("rsync to backup failed (exit code 89)", "m", AlertRef(89, "warning")) == \
        "[m] WARNING #89: rsync to backup failed (exit code 89)"
    assert subject("Node down (192.168.1.12:9100)", "m", AlertRef(12, "critical")) == \
        "[m] CRITICAL #12: Node down (192.168.1.12:9100)"
    assert subject("Alerte finie (alerte n°12)", "m", AlertRef(12, "critical", "clear")) == "[m] #12: Alerte finie"
    # A sender's own brackets are their text; the hub's markers are in capitals.
    assert subject("[backup] nightly done", "m", AlertRef(74, "info")) == "[m] INFO #74: [backup] nightly done"
    assert subject("[1,2]", "m", AlertRef(20, "info")) == "[m] INFO #20: [1,2]"


def test_subjects_with_accents_signs_and_emoji_come_out_whole() -> None:
    """Folded at 78 columns, `1.2 kWh é€ 🎉` lost a space and `-10 °C` became `=?utf-8?q??=`
    (an empty encoded word), for about a quarter of French subjects, whatever their length."""
    from email import message_from_bytes, policy
    from email.message import EmailMessage
    from adapters.email import MAIL_POLICY
    for width in range(0, 120):
        for tail in ("kWh é€ 🎉", "above -10 °C", "température élevée € à 21,5 °C"):
            text = f"[INFO] maison: {'x' * width} 1.2 {tail}"
            mail = EmailMessage(policy=MAIL_POLICY)
            mail["Subject"] = text
            raw = mail.as_bytes()
            assert b"?q??=" not in raw and str(message_from_bytes(raw, policy=policy.default)["Subject"]) == text


async def test_a_server_that_answers_too_slowly_is_down_not_connected_for_ever(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """aiosmtplib's timeout is per step: a server answering each step just in time (or stuck at
    AUTH for 30 s) ran past the outbox's own wait, which gave up first; the adapter said
    "connected" while every mail failed. The session as a whole now has `timeout`."""
    async def slow_smtp(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            await asyncio.sleep(0.8)
            writer.write(f"{line}\r\n".encode())
            await writer.drain()
        try:
            await say("220 slow.example ESMTP")
            while line := await reader.readline():
                word = line.decode(errors="replace").split(" ", 1)[0].strip().upper()
                await say("221 bye" if word == "QUIT" else "354 go on" if word == "DATA" else
                          "250-slow.example\r\n250 8BITMIME" if word in ("EHLO", "HELO") else "250 ok")
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
    server = await asyncio.start_server(slow_smtp, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, web={"user": None},
                            adapters={"email": {"host": "127.0.0.1", "port": port, "security": "none",
                                                "sender": "maison@example.org", "timeout": "2s",
                                                "reconnect_max": "30s"}},
                            users={"owner": {"roles": ["admin"], "email": ["owner@example.org"]}})
    try:
        async with running(Hub(settings, tty=False)) as hub:
            email = hub.adapters["email"]
            await hub.notifications.submit(Notice(("owner",), "Freezer open", "warning"), "test")
            async with asyncio.timeout(15):
                while email.health.connected:
                    await asyncio.sleep(0.05)
            assert "the server did not answer in time" in email.health.detail, email.health.detail
    finally:
        server.close()
