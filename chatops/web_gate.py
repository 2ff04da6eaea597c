"""How many connections the web server holds: at most MOST_OPEN in all and MOST_PER_ADDRESS from
one address; past that a new one is closed at once (RST), with one log line a minute.

aiohttp holds a connection that sends nothing, or half a request, for an hour: about 1,100 such
connections, no token needed, used every file descriptor a systemd service has (1,024): the hub
answered nothing (not even /health) until they closed. The web server's idle time is cut too
(`IDLE_TIMEOUT`, chatops.web), so a held connection costs its holder a new one every half minute."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any

from .config import is_loopback
from .log_fold import FoldedLog

MOST_OPEN = 512             # under half of systemd's default 1,024 descriptors: the rest is the hub's
MOST_PER_ADDRESS = 64       # a browser opens 6 per host; a flood from one address leaves the others room
IDLE_TIMEOUT = 30.0         # seconds a connection may stay silent (before its request, or between two)

log = logging.getLogger(__name__)


class Gate:
    """The protocol factory the server listens with: each connection is the web server's own
    protocol (`make`, aiohttp's), behind a doorkeeper that counts them by address."""

    def __init__(self, make: Callable[[], asyncio.Protocol]) -> None:
        self._make = make
        self.open: Counter[str] = Counter()
        self._said = FoldedLog(log)

    def __call__(self) -> asyncio.Protocol:
        return _Door(self)

    def admit(self, address: str) -> bool:
        """Whether a connection from `address` (a host, or an IPv6 /64: one host holds a whole
        one) may open now (counted if so). Loopback has the total limit alone: behind a reverse
        proxy every client is 127.0.0.1, and 64 would be everyone's together."""
        if sum(self.open.values()) >= MOST_OPEN or \
                (self.open[address] >= MOST_PER_ADDRESS and not is_loopback(address.partition("/")[0])):
            self._said.warning("full", address, "web: refused a connection from %s: %d open from it, %d in all "
                               "(at most %d and %d)", address, self.open[address], sum(self.open.values()),
                               MOST_PER_ADDRESS, MOST_OPEN)
            return False
        self.open[address] += 1
        return True

    def closed(self, address: str) -> None:
        self.open[address] -= 1
        if self.open[address] <= 0:
            del self.open[address]


class _Door(asyncio.Protocol):
    """One connection: refused at once past the limits, else every event passed on to the
    server's own protocol, and counted out when it closes."""

    def __init__(self, gate: Gate) -> None:
        self._gate = gate
        self._inner: Any = None
        self._address = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        peer = transport.get_extra_info("peername")
        self._address = _holder(str(peer[0])) if isinstance(peer, tuple) and peer else "?"
        if not self._gate.admit(self._address):
            transport.abort()              # type: ignore[attr-defined]
            return
        self._inner = self._gate._make()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._inner is not None:
            self._gate.closed(self._address)
            self._inner.connection_lost(exc)


def _holder(address: str) -> str:
    """Who holds `address`, for the count: the address itself, an IPv6 one's /64."""
    if ":" not in address or address.startswith("::ffff:") or is_loopback(address):
        return address
    try:
        return str(ipaddress.ip_network(f"{address.partition('%')[0]}/64", strict=False))
    except ValueError:
        return address
