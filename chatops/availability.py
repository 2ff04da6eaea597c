"""Whether a device says it is there: its availability topic (Zigbee2MQTT's
`<device>/availability`, Tasmota's `tele/<topic>/LWT`, Home Assistant discovery's
`availability_topic`). A device that said `offline` is shown so in `read`, `devices` and
`status`, and a command to it is answered at once instead of publishing into the void and
waiting out its confirmation time.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .home import Device

log = logging.getLogger(__name__)


def said_available(payload: bytes, available: str, not_available: str) -> bool | None:
    """True (`online`), False (`offline`), None (neither: left as it was). Zigbee2MQTT's newer
    payload is JSON, `{"state": "online"}`; the words are compared ignoring case."""
    text = payload.decode("utf-8", "replace").strip()
    if text.startswith("{"):
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        text = str(data.get("state", "")) if isinstance(data, dict) else ""
    word = text.casefold()
    if word == available.casefold():
        return True
    if word == not_available.casefold():
        return False
    return None


def heard(device: Device, payload: bytes, now: float) -> bool:
    """An availability message for `device` at monotonic time `now`: remembered, and a change
    logged. Whether it changed (offline rules follow it: chatops.offline_rules)."""
    s = device.settings
    available = said_available(payload, s.payload_available, s.payload_not_available)
    if available is None:
        log.debug("%s: %r on %s is neither %r nor %r", device.name, payload[:40], s.availability_topic,
                  s.payload_available, s.payload_not_available)
        return False
    was_offline = device.offline_since is not None
    if available and was_offline:
        device.offline_since = None
        log.info("%s is available again", device.name)
        return True
    if not available and not was_offline:
        device.offline_since = now
        log.warning("%s says it is offline (%s)", device.name, s.availability_topic)
        return True
    return False


def offline_problem(device: Device) -> str | None:
    """The answer to a command for a device that said it is offline, or None."""
    if device.offline_since is None:
        return None
    from .i18n import _

    return _("{label} says it is offline; nothing was sent (it is shown online again once it says so).").format(
        label=device.label)
