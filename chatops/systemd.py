"""systemd's notify protocol, for a unit with `Type=notify` and `WatchdogSec=`.

systemd hands the service a unix datagram socket in `$NOTIFY_SOCKET` (a leading `@` is the
abstract namespace) and, with a watchdog, `$WATCHDOG_USEC`. The hub sends `READY=1` once it is
ready (MQTT up, every adapter started), then `WATCHDOG=1` from the event loop at half the
watchdog period: a loop stuck on something blocking stops the pings, and systemd restarts
the hub. `STATUS=` carries a one-line health summary shown by `systemctl status`, and
`STOPPING=1` is sent on the way out. Without `$NOTIFY_SOCKET` nothing here runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

STATUS_EVERY = 30.0             # seconds between status refreshes when there is no watchdog
STARTING_EVERY = 5.0            # seconds between start-up extensions when there is no watchdog
# Seconds of start-up extensions before READY all the same (a broker refusing the hub's login is
# never reached): `systemctl enable --now` hung with no output, and every unit ordered after the
# hub waited with it, for ever. The hub goes on trying; STATUS and /health say what is missing.
READY_AT_MOST = 300.0


class Notifier:
    """One connection to systemd's notify socket."""

    def __init__(self, address: str, watchdog: float | None) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.watchdog = watchdog             # seconds; systemd restarts us past it without a ping
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._socket.setblocking(False)
        self._status = ""
        self._failing: str | None = None     # the error of the last failed send, until one works

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Notifier | None:
        """The notifier systemd asked for, or None when the hub is not run by systemd with Type=notify."""
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET", "")
        if not address or not (address.startswith(("/", "@"))):
            return None
        watchdog = None
        pid = env.get("WATCHDOG_PID")
        usec = env.get("WATCHDOG_USEC", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            watchdog = int(usec) / 1_000_000
        return cls(address, watchdog)

    def notify(self, *fields: str) -> bool:
        """Send `fields` (`READY=1`, ...) as one datagram; False when it fails. A failure is logged
        when it starts (or its error changes) and once when sends work again, not at every
        watchdog ping: a socket that is gone would otherwise write a warning every few seconds.

        A full socket buffer (systemd busy) drops this one message: the next ping follows soon."""
        try:
            self._socket.sendto("\n".join(fields).encode(), self.address)
        except OSError as exc:
            if str(exc) != self._failing:
                log.warning("systemd notify (%s) failed: %s; said again only if the error changes",
                            fields[0] if fields else "", exc)
                self._failing = str(exc)
            return False
        if self._failing is not None:
            log.info("systemd notify works again")
            self._failing = None
        return True

    def close(self) -> None:
        self._socket.close()

    async def run(self, hub: Hub) -> None:
        """READY once the hub is, then watchdog pings and status lines until cancelled (STOPPING).

        Until then (a broker that is down at boot), the start-up timeout is extended from the
        loop, with the reason in STATUS: the chat networks already answer, so the hub is not
        killed for a broker it will reach later, but a loop stuck during start-up still is; after
        READY_AT_MOST seconds, READY all the same."""
        try:
            self.notify("STATUS=starting")
            waiting = self.watchdog / 2 if self.watchdog else STARTING_EVERY
            started = asyncio.get_running_loop().time()
            while not hub.ready.is_set():
                if asyncio.get_running_loop().time() - started >= READY_AT_MOST:
                    log.warning("systemd: READY after %.0fs without being ready (%s); the hub goes on trying",
                                READY_AT_MOST, status_line(hub))
                    break
                try:
                    async with asyncio.timeout(waiting):
                        await hub.ready.wait()
                except TimeoutError:
                    self.notify(f"EXTEND_TIMEOUT_USEC={int(waiting * 3 * 1_000_000)}", f"STATUS={status_line(hub)}")
            self._status = status_line(hub)
            self.notify("READY=1", f"STATUS={self._status}", f"MAINPID={os.getpid()}")
            every = self.watchdog / 2 if self.watchdog else STATUS_EVERY
            while True:
                await asyncio.sleep(every)
                fields = ["WATCHDOG=1"] if self.watchdog else []
                status = status_line(hub)
                if status != self._status:
                    self._status = status
                    fields.append(f"STATUS={status}")
                if fields:
                    self.notify(*fields)
        finally:
            self.notify("STOPPING=1", "STATUS=stopping")
            self.close()


def status_line(hub: Hub) -> str:
    """`ready; mqtt up; irc up, xmpp down (connection refused); 1 alert active` in one line."""
    parts = ["ready" if hub.ready.is_set() else "starting"]
    mqtt = hub.mqtt.health
    parts.append("mqtt up" if mqtt.connected else f"mqtt down ({mqtt.detail[:60]})")
    adapters = []
    for name, adapter in sorted(hub.adapters.items()):
        health = adapter.health
        adapters.append(f"{name} up" if health.connected else f"{name} down ({health.detail[:60]})")
    if adapters:
        parts.append(", ".join(adapters))
    if not hub.store.health.connected and hub.store.health.started:
        parts.append(f"database failing ({hub.store.health.detail[:60]})")
    # Alarms sent from memory are active all the same (notifications, stored or not, are not counted).
    unstored = sum(1 for alert in hub.alerts.unstored.alerts.values() if alert.device)
    active = sum(1 for state in hub.alerts.rules.values() if state.active_id is not None) + unstored
    parts.append(f"{active} alert{'s' if active != 1 else ''} active" + (f" ({unstored} not stored)" if unstored else ""))
    return "; ".join(parts).replace("\n", " ")
