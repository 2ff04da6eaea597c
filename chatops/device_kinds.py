"""What a command says of the devices it takes: a kind of device (the ones that switch), and
the precheck that a command's first words name one, asked when a timer or automation is set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .home import Device


class UnknownDevice(str):
    """A precheck's answer that the words name no device: a typo, or a device MQTT discovery
    brings later, which only the running hub can know (`chatops check` warns of it in an
    automation's `do`, where it refuses any other problem)."""


def names_a_device(hub: Any, args: list[str], kind: DeviceKind | None = None) -> str | None:
    """A command's precheck (`@command(precheck=...)`): its first words must name a device (of
    `kind`, for the list in the answer), and the words after it suit it (`kind.check`). Asked
    when a timer or automation is set, so that a typo is answered now, not at 06:30."""
    if not args:
        return None
    device, name, rest = hub.home.find_leading(args)
    if device is None:
        return UnknownDevice(hub.home.unknown(name, kind))
    return kind.check(device, rest, name) if kind is not None and kind.check is not None else None


@dataclass(frozen=True)
class DeviceKind:
    """The devices a command takes (`switch`: those that switch), for its answer to a name that
    names none: the list it gives, headed by `listing` (marked with N_, translated when said)."""

    takes: Callable[[Device], bool]
    listing: str
    # What is wrong with the words after the device (`thermostat 45`: out of range), or None:
    # asked when a timer or an automation is set, so that it is said now, not at 06:30. Its third
    # argument is the device's name as said (`le chauffage`), for a hint to repeat.
    check: Callable[[Device, list[str], str], str | None] | None = None

    def precheck(self, hub: Any, args: list[str]) -> str | None:
        """`names_a_device` for a command that takes this kind."""
        return names_a_device(hub, args, self)
