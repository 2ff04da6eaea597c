"""What is wrong with the automations' commands, for `chatops check` and for the start of a
running hub (which leaves such an automation off and says why)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .device_kinds import UnknownDevice

if TYPE_CHECKING:
    from .hub import Hub


def command_problems(hub: Hub) -> tuple[list[str], list[str]]:
    """(problems, warnings) of the automations' commands, "NAME: do 'LINE': why" each.

    Problems: a line that does not parse, or that its owner may not run; `chatops check`
    refuses them, a running hub leaves the automation off. Warnings: a line naming a device
    the config does not have (a typo, or a device Home Assistant discovery brings later, which
    only the running hub can know)."""
    from .timers import line_problem

    problems, warnings = [], []
    for item in hub.settings.automations:
        owner = item.owner or hub.settings.automations_defaults.owner or ""
        user = hub.auth.users.get(owner)
        for line in item.do:
            sender = f"automation:{item.name}"
            problem = line_problem(hub, user, line, sender=sender, precheck=False)
            if problem:
                problems.append(f"{item.name}: do {line!r}: {problem}")
            elif unknown := line_problem(hub, user, line, sender=sender):
                if isinstance(unknown, UnknownDevice):
                    warnings.append(f"{item.name}: do {line!r}: {unknown} (fine if MQTT discovery brings it)")
                else:               # a value the device does not take (`thermostat 45`): no discovery fixes it
                    problems.append(f"{item.name}: do {line!r}: {unknown}")
    return problems, warnings
