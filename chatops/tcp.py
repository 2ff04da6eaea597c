"""Acknowledge a server's bytes at once, so that its next message is not held back 40 ms.

Servers left at their defaults, as users run them (mosquitto's `set_tcp_nodelay false`,
ngircd), use Nagle's algorithm: a small message waits until the previous one is acknowledged.
Linux delays an acknowledgement up to 40 ms while the receiver has nothing to send back, so
when a server sends a silent hub two messages in a row (a channel's JOIN burst, then the first
command), the second one waited 40 ms: the first `!temp` after joining took 44 ms instead of
1 (measured from the tester's side in bench.footprint's set-up). Setting TCP_QUICKACK sends the
pending acknowledgement now; Linux drops back to delayed acknowledgements by itself, so it is
set again after every read. One system call, about a microsecond.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)      # Linux only


def ack_now(sock: Any) -> None:
    """Acknowledge what `sock` (a TCP socket, or asyncio's wrapper of one) has read; a no-op
    where the system has no TCP_QUICKACK or the socket is gone."""
    if _QUICKACK is None or sock is None:
        return
    with contextlib.suppress(OSError, ValueError):      # closed meanwhile: nothing left to acknowledge
        sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
