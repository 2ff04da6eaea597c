"""What is muted now, as people read it: a `simulate smoke on`, `alerts` or `status` that
shows no alert says why (a mute survives restarts, and the demo's `mute smoke 30m` was forgotten)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .i18n import _
from .schedule import local_time

if TYPE_CHECKING:
    from .hub import Hub


def muted_note(hub: Hub, device: str | None = None) -> str:
    """" Muted: smoke until 04:03." for the alert rules muted now (those watching `device`, when
    given), else ""."""
    now = hub.clock.time()
    rules = hub.alerts.rules
    muted = [(name, until) for name, until in sorted(hub.alerts.mutes.items()) if until > now
             and (device is None or (name in rules and rules[name].rule.device == device))]
    if not muted:
        return ""
    return " " + _("Muted: {rules}.").format(rules=", ".join(
        _("{rule} until {when}").format(rule=name, when=local_time(until, hub.timers.tz, now)) for name, until in muted))
