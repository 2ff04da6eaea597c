"""The embedded MQTT broker (amqtt, in-process, loopback only) for the zero-setup demo.

amqtt facts we work around (../shared/notes/servers.md): anonymous sessions never queue
offline messages, so clients must log in with any username (`allow_anonymous: False` with
the anonymous plugin still accepts them); it replays other clients' retained topics on
connect, which MqttLink tolerates because it routes by its own topic filters.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

log = logging.getLogger(__name__)
EMBEDDED_USERNAME = "chatops"


def _config(host: str, port: int) -> dict[str, object]:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}},
    }


@asynccontextmanager
async def embedded_broker(listen: str) -> AsyncIterator[tuple[str, int]]:
    """Run an amqtt broker on `listen` (HOST:PORT, port 0 = any) and yield its (host, port).

    When the configured port is taken (a mosquitto already running), fall back to a free
    port and say so, rather than refusing to start the demo.
    """
    for noisy in ("amqtt", "transitions", "passlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from amqtt.broker import Broker

    host, _, port_text = listen.rpartition(":")
    port = int(port_text)
    broker = Broker(_config(host, port))
    try:
        await broker.start()
    except Exception as exc:  # amqtt wraps the OSError in its own BrokerError
        if port == 0:
            raise
        log.warning("embedded broker: %s:%d is taken (%s); using a free port instead", host, port, exc)
        broker = Broker(_config(host, 0))
        await broker.start()
    bound = broker._servers["default"].instance.sockets[0].getsockname()[1]
    log.info("embedded MQTT broker listening on %s:%d", host, bound)
    try:
        yield host, bound
    finally:
        await broker.shutdown()
