"""The admins are told when the MQTT broker stays lost, from the start or later: the hub then
hears no detector and switches nothing, and only `status` and /health said so (a full disk, by
contrast, was told at once). After `[mqtt] down_alert_after` without it, every admin reachable
on a chat network reads why; once it is back, they read that too. Sent straight to the networks that are up, as
the storage alarm is (chatops.unstored): nothing here needs the broker or the database."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from .i18n import _

if TYPE_CHECKING:
    from .alerts import AlertEngine
    from .health import Health


class BrokerWatch:
    """Watches the hub's MQTT link once the hub is ready."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.hub = engine.hub
        self._timer: asyncio.TimerHandle | None = None
        self._told = False

    def start(self) -> None:
        """Watch from now; a broker already down (a start after a power cut, the broker slower to
        come back than the hub) counts from now too."""
        self.hub.mqtt.health.watchers.append(self._changed)
        self._changed(self.hub.mqtt.health)

    def _changed(self, health: Health) -> None:
        if not health.connected:
            if self._timer is None and not self._told:
                wait = self.hub.settings.mqtt.down_alert_after
                self._timer = asyncio.get_running_loop().call_later(wait, self._still_down)
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._told:
            self._told = False
            self.hub.spawn(self._tell(lambda _prefix: _(
                "[RESOLVED] The hub reaches the MQTT broker again: detectors are heard and devices switched.")),
                "broker-back")

    def _still_down(self) -> None:
        self._timer = None
        if self.hub.mqtt.health.connected:
            return
        self._told = True
        address = self.hub.mqtt.address
        where = f"{address.host}:{address.port}" if address is not None else "?"
        lost = self.hub.settings.mqtt.down_alert_after

        def text(_prefix: str | None) -> str:
            return _("[CRITICAL] The hub has not reached the MQTT broker at {where} for {lost:g}s ({why}): no "
                     "detector can be heard and no device switched until it is back.").format(
                where=where, lost=lost, why=self.hub.mqtt.why_down())
        self.hub.spawn(self._tell(text), "broker-lost")

    async def _tell(self, text: Callable[[str | None], str]) -> None:
        unstored = self.engine.unstored
        await unstored.send(unstored.admins(), text)
