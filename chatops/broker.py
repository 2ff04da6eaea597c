"""The embedded MQTT broker (amqtt, in-process, loopback only) for the zero-setup demo.

amqtt facts we work around (../shared/notes/servers.md): anonymous sessions never queue
offline messages, so clients log in (here with the hub's own name and secret, the only login
the broker takes: chatops.broker_auth); on every connect it sends the new client the retained
messages of every client's subscriptions (see _own_filters_only).
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from .config import MqttSettings, missing_amqtt, split_listen
from .preflight import broker_message
from .private import private_dir, write_private

log = logging.getLogger(__name__)
EMBEDDED_USERNAME = "chatops"
MISSING_AMQTT = f"[mqtt] {missing_amqtt()}"


class BrokerMissing(Exception):
    """amqtt (the `[embedded]` extra) is not installed; the message says what to install."""


def _not_startup_failure(record: logging.LogRecord) -> bool:
    """Drop amqtt's "Broker startup failed" traceback: embedded_broker raises a clear error instead."""
    return record.getMessage() != "Broker startup failed"


# amqtt's own bookkeeping, logged as warnings though nothing is lost for the hub: messages still
# queued when the demo stops (retained states are published again at the next start) and
# acknowledgements of deliveries amqtt already forgot. Shown only with debug logging (-v).
_BOOKKEEPING = ("messages not broadcasted", "for unknown pending message", "waiter with Id")


def _not_bookkeeping(record: logging.LogRecord) -> bool:
    if any(text in record.getMessage() for text in _BOOKKEEPING):
        return log.isEnabledFor(logging.DEBUG)
    return True


def _own_filters_only(replay: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """amqtt's retained replay, for the session's own subscriptions only.

    On every connect amqtt (0.12, Broker._handle_client_session) replays the retained messages of
    every filter any client subscribed to: the hub's `homeassistant/#` discovery and states went
    to each `mosquitto_pub`. Such a publisher never reads them, so closing its socket sends a TCP
    reset instead of a FIN; the reset reaches the broker with the PUBLISH and DISCONNECT still
    unparsed in asyncio's StreamReader, which then raises ConnectionResetError before handing out
    what it holds: a QoS 0 notification was lost (QoS 1 publishers read up to their PUBACK, so
    theirs went through). A SUBSCRIBE still gets its retained messages: amqtt adds the filter to
    the session before it replays."""
    async def own(self: Any, subscription: tuple[str, int], session: Any) -> None:
        subscribers = self._subscriptions.get(subscription[0], ())
        if any(other.client_id == session.client_id for other, _qos in subscribers):
            await replay(self, subscription, session)
    return own


SECRET_FILE = "embedded-broker.secret"


def embedded_username(settings: MqttSettings) -> str:
    """The one name the embedded broker lets in: `[mqtt] username`, or `chatops`."""
    return settings.username or EMBEDDED_USERNAME


def embedded_secret(data_dir: Path, create: bool) -> str | None:
    """The embedded broker's password, kept in the data folder (made with `create` when absent,
    then the same at every start, for devices set up with it); None when absent and not made."""
    path = data_dir / SECRET_FILE
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        secret = ""
    if secret or not create:
        return secret or None
    private_dir(data_dir)
    secret = secrets.token_urlsafe(24)
    write_private(path, (secret + "\n").encode())
    return secret


def _config(host: str, port: int, username: str, password: str) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"chatops.broker_auth.SecretAuth": {"username": username, "password": password}},
    }


@asynccontextmanager
async def embedded_broker(listen: str, username: str, password: str) -> AsyncIterator[tuple[str, int]]:
    """Run an amqtt broker on `listen` (HOST:PORT, port 0 = any) and yield its (host, port). It
    lets in `username` with `password` only (chatops.broker_auth).

    A taken port is refused with a clear message: silently moving to another port would
    leave devices and `chatops simulate` talking to whatever broker holds the configured one.
    amqtt is an optional extra (it pulls typer, rich and pygments): without it, BrokerMissing.
    """
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise BrokerMissing(MISSING_AMQTT) from None
    for noisy in ("amqtt", "transitions", "passlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    amqtt_log = logging.getLogger("amqtt.broker")
    if _not_startup_failure not in amqtt_log.filters:
        amqtt_log.addFilter(_not_startup_failure)
    for name in ("amqtt.broker", "amqtt.mqtt.protocol.handler"):
        if _not_bookkeeping not in logging.getLogger(name).filters:
            logging.getLogger(name).addFilter(_not_bookkeeping)

    class _Broker(Broker):  # type: ignore[misc]
        _publish_retained_messages_for_subscription = _own_filters_only(
            Broker._publish_retained_messages_for_subscription)

    host, port = split_listen(listen)
    broker = _Broker(_config(host, port, username, password))
    try:
        await broker.start()
    except Exception as exc:  # amqtt wraps the OSError in its own BrokerError
        code = getattr(exc.__cause__, "errno", None)
        reason = os.strerror(code) if code else str(exc)
        raise OSError(broker_message(listen, reason)) from None
    bound = broker._servers["default"].instance.sockets[0].getsockname()[1]
    log.info("embedded MQTT broker listening on %s:%d", host, bound)
    try:
        yield host, bound
    finally:
        await broker.shutdown()
