"""Reading and driving devices: temp, read, switch, devices, status."""

from __future__ import annotations

import sqlite3
import time

from chatops.auth import fold
from chatops.command import CommandError, Context, Shorthand, command
from chatops.config import DeviceType
from chatops.durations import format_duration, parse_duration
from chatops.home import SWITCH_STATES, Device, format_value
from chatops.i18n import _
from chatops.mqtt import MqttUnavailable
from chatops.router import clean_text
from chatops.schedule import Recurrence, local_time


def _device(ctx: Context, name: str) -> Device:
    device = ctx.home.find(name)
    if device is None:
        known = ", ".join(sorted(ctx.home.devices)) or "none"
        raise CommandError(f"No device called {name!r}. Devices: {known}.")
    return device


async def _reading(ctx: Context, device: Device) -> str:
    if device.reading is None:
        await ctx.home.request_reading(device)
    return f"{device.label}: {device.show()}"


def _is_temperature(device: Device) -> bool:
    if device.type is DeviceType.CLIMATE:
        return True
    return device.type is DeviceType.SENSOR and (device.unit.endswith("C") or device.unit.endswith("F")
                                                 or "temp" in (device.settings.value or ""))


@command("temp", aliases=["temperature", "température"], usage="temp [ROOM]")
async def temp(ctx: Context, room: str | None = None) -> str:
    """Temperature of a room, or of every room."""
    if room:
        device = _device(ctx, room)
        if device.type is DeviceType.CAMERA:
            raise CommandError(f"{device.label} is a camera; try snap {device.name}.")
        return await _reading(ctx, device)
    sensors = [d for d in ctx.home.devices.values() if _is_temperature(d)]
    if not sensors:
        raise CommandError("No temperature sensor is configured.")
    return "\n".join([await _reading(ctx, d) for d in sensors])


@command("read", aliases=["get", "lire"], usage="read DEVICE", shorthand=Shorthand.DEVICE)
async def read(ctx: Context, device: str) -> str:
    """Current value of any device."""
    target = _device(ctx, device)
    if target.type is DeviceType.CAMERA:
        raise CommandError(f"{target.label} is a camera; try snap {target.name}.")
    return await _reading(ctx, target)


@command("switch", aliases=["turn", "allume"], usage="switch DEVICE on|off|toggle [for DURATION]", needs_user=True,
         shorthand=Shorthand.DEVICE_STATE)
async def switch(ctx: Context, device: str, *words: str) -> str:
    """Switch a device and wait until it confirms; with a duration, switch it back afterwards."""
    name, state, hold = _switch_words(ctx, [device, *words])
    target = _device(ctx, name)
    if not target.switchable:
        if target.settable:
            raise CommandError(_("{label} is a {kind}: say {prefix}set {name} VALUE.").format(
                label=target.label, kind=target.type.value, prefix=ctx.prefix, name=target.name))
        raise CommandError(_("{label} is a {kind}, it cannot be switched.").format(label=target.label,
                                                                                   kind=target.type.value))
    before = target.reading.value if target.reading is not None else None
    if state == "toggle":
        if target.reading is None:
            raise CommandError(f"The state of {target.label} is unknown; say on or off.")
        wanted = not bool(target.reading.value)
    else:
        wanted = state == "on"
    # Whoever switches a device overrides a pending "for" on it: that switch-back will leave it alone.
    pending = await ctx.hub.timers.supersede_restores(target.name, ctx.who)
    try:
        confirmed, reading = await ctx.home.switch(target, wanted)
    except MqttUnavailable as exc:
        raise CommandError(f"Cannot switch {target.label}: {exc}.") from None
    shown = "ON" if wanted else "OFF"
    if not confirmed:
        timeout = format_duration(target.settings.confirm_timeout)
        now = format_value(reading.value) if reading else "unknown"
        later = " Nothing will be switched back." if hold else ""
        return f"No confirmation from {target.label} after {timeout} (asked {shown}, last state {now}).{later}"
    if hold is None:
        return f"{target.label} is {shown}"
    return await _switch_back_later(ctx, target, wanted, before, hold, pending, f"{name} {state} for "
                                    f"{format_duration(hold)}")


def _switch_words(ctx: Context, words: list[str]) -> tuple[str, str, float | None]:
    """(device, on|off|toggle, seconds or None) from `DEVICE STATE [[for] DURATION]`."""
    usage = f" Usage: {ctx.prefix}switch DEVICE on|off|toggle [for DURATION]"
    cut = next((i for i in range(len(words) - 1, 0, -1) if fold(words[i]) in SWITCH_STATES), None)
    if cut is None:
        if len(words) == 1:
            raise CommandError("Missing state." + usage)
        shown = clean_text(words[-1])[:30]
        raise CommandError(f"state must be one of on, off, toggle, not {shown!r}." + usage)
    tail = words[cut + 1:]
    if tail and fold(tail[0]) in ("for", "pour", "pendant"):
        tail = tail[1:]
    hold = None
    if tail:
        try:
            hold = parse_duration("".join(tail))
        except ValueError:
            raise CommandError(f"{' '.join(tail)[:30]!r} is not a duration (e.g. 2h, 30m)." + usage) from None
        if hold <= 0:
            raise CommandError("The duration must be more than 0." + usage)
    return " ".join(words[:cut]), fold(words[cut]), hold


async def _switch_back_later(ctx: Context, target: Device, wanted: bool, before: object, hold: float,
                             pending: dict[str, object] | None, said: str) -> str:
    """Schedule the switch back to the state before (a durable timer) and say when."""
    shown = "ON" if wanted else "OFF"
    back = (not wanted) if before is None else bool(before)
    if pending and pending.get("set") == before:        # `on for 1h` then `on for 3h`: back as it was first
        back = bool(pending.get("back"))
    if back == wanted:
        return f"{target.label} is {shown} (it already was, so nothing will be switched back)"
    timers = ctx.hub.timers
    now = ctx.hub.clock.time()
    assert ctx.user is not None                           # needs_user
    timer_id = await timers.add(ctx.user.name, ctx.address, said, Recurrence("once", label="once"), now + hold,
                                kind="restore", data={"device": target.name, "set": wanted, "back": back})
    return (f"{target.label} is {shown} until {local_time(now + hold, timers.tz, now)}, then back "
            f"{'ON' if back else 'OFF'} (timer #{timer_id})")


@command("devices", aliases=["appareils", "list"])
async def devices(ctx: Context) -> str:
    """List the devices the hub knows."""
    lines = []
    for device in sorted(ctx.home.devices.values(), key=lambda d: d.name):
        aliases = f" (aka {', '.join(device.settings.aliases)})" if device.settings.aliases else ""
        value = "" if device.type is DeviceType.CAMERA else f": {device.show()}"
        lines.append(f"{device.name} [{device.type.value}]{aliases}{value}")
    return "\n".join(lines) or "No devices configured."


@command("status", aliases=["etat", "état"])
async def status(ctx: Context) -> str:
    """Health of the hub: MQTT, each network, devices, active alerts."""
    hub = ctx.hub
    now = time.time()

    def line(name: str, health: object) -> str:
        state = "connected" if health.connected else f"DOWN ({health.detail})"  # type: ignore[attr-defined]
        return f"{name}: {state} for {format_duration(now - health.since)}"  # type: ignore[attr-defined]

    lines = [f"{hub.settings.hub.name} up {format_duration(now - hub.started_at)}", line("mqtt", hub.mqtt.health)]
    lines += [line(name, a.health) for name, a in sorted(hub.adapters.items())]
    for name, adapter in sorted(hub.adapters.items()):
        if note := adapter.status_note():
            lines.append(f"{name}: {note}")
    if hub.store.health.connected:
        try:
            waiting = await hub.alerts.outbox.waiting()
        except sqlite3.DatabaseError:
            waiting = {}                    # the storage line below says why
        for name, count in sorted(waiting.items()):
            lines.append(f"{name}: {count} message{'s' if count > 1 else ''} waiting to be sent")
    for plugin, problem in sorted(hub.plugin_problems.items()):
        lines.append(f"plugin {plugin}: NOT LOADED ({problem})")
    stale = [d.name for d in hub.home.devices.values() if d.is_stale(now)]
    silent = [d.name for d in hub.home.devices.values() if d.reading is None and d.type is not DeviceType.CAMERA]
    lines.append(f"devices: {len(hub.home.devices)}" + (f", stale: {', '.join(stale)}" if stale else "")
                 + (f", no reading yet: {', '.join(silent)}" if silent else ""))
    if not hub.store.health.connected:
        lines.append(f"storage: FAILING ({hub.store.health.detail}); alerts are sent from memory")
    active = await hub.alerts.active()
    lines.append(f"alerts: {len(active)} active" if active else "alerts: none active")
    return "\n".join(lines)
