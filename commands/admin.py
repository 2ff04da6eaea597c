"""Admin commands: trigger the simulated smoke detector to try the whole alert path."""

from __future__ import annotations

import json
from typing import Literal

from chatops.command import CommandError, Context, command
from chatops.mqtt import MqttUnavailable


@command("simulate", aliases=["sim"], usage="simulate smoke on|off", needs_user=True)
async def simulate(ctx: Context, what: Literal["smoke"], state: Literal["on", "off"]) -> str:
    """Fire or clear the simulated kitchen smoke detector."""
    settings = ctx.hub.settings.simulator
    if not settings.enabled:
        raise CommandError("The simulator is off ([simulator] enabled = false).")
    try:
        await ctx.hub.mqtt.publish(f"{settings.base_topic}/kitchen_smoke/set",
                                   json.dumps({"smoke": state == "on"}))
    except MqttUnavailable as exc:
        raise CommandError(f"Cannot reach the simulator: {exc}.") from None
    return f"Simulated smoke {'detected' if state == 'on' else 'cleared'} in the kitchen."
