"""Reading and driving devices: temp, read, switch, devices, status."""

from __future__ import annotations

import time
from typing import Literal

from chatops.command import CommandError, Context, Shorthand, command
from chatops.config import DeviceType
from chatops.durations import format_duration
from chatops.home import Device, format_value
from chatops.mqtt import MqttUnavailable


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


@command("switch", aliases=["turn", "allume"], usage="switch DEVICE on|off|toggle", needs_user=True,
         shorthand=Shorthand.DEVICE_STATE)
async def switch(ctx: Context, device: str, state: Literal["on", "off", "toggle"]) -> str:
    """Switch a device and wait until it confirms."""
    target = _device(ctx, device)
    if target.type is not DeviceType.SWITCH:
        raise CommandError(f"{target.label} is a {target.type.value}, it cannot be switched.")
    if state == "toggle":
        if target.reading is None:
            raise CommandError(f"The state of {target.label} is unknown; say on or off.")
        wanted = not bool(target.reading.value)
    else:
        wanted = state == "on"
    try:
        confirmed, reading = await ctx.home.switch(target, wanted)
    except MqttUnavailable as exc:
        raise CommandError(f"Cannot switch {target.label}: {exc}.") from None
    shown = "ON" if wanted else "OFF"
    if confirmed:
        return f"{target.label} is {shown}"
    timeout = format_duration(target.settings.confirm_timeout)
    now = format_value(reading.value) if reading else "unknown"
    return f"No confirmation from {target.label} after {timeout} (asked {shown}, last state {now})."


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
    for plugin, problem in sorted(hub.plugin_problems.items()):
        lines.append(f"plugin {plugin}: NOT LOADED ({problem})")
    stale = [d.name for d in hub.home.devices.values() if d.is_stale(now)]
    silent = [d.name for d in hub.home.devices.values() if d.reading is None and d.type is not DeviceType.CAMERA]
    lines.append(f"devices: {len(hub.home.devices)}" + (f", stale: {', '.join(stale)}" if stale else "")
                 + (f", no reading yet: {', '.join(silent)}" if silent else ""))
    active = await hub.alerts.active()
    lines.append(f"alerts: {len(active)} active" if active else "alerts: none active")
    return "\n".join(lines)
