"""Admin commands: trigger the simulated smoke detector (the whole alert path) or the hall's
motion sensor (the hall-light automations)."""

from __future__ import annotations

import asyncio
import json
from typing import Literal

from chatops.command import CommandError, Context, command
from chatops.controls import Publish
from chatops.durations import format_duration
from chatops.mqtt import MqttUnavailable

REPORT_WAIT = 5.0          # seconds for the detector to report its new state, then for the rules to run


@command("simulate", aliases=["sim"], usage="simulate smoke on|off | simulate motion [on|off]", needs_user=True)
async def simulate(ctx: Context, what: Literal["smoke", "motion"], state: Literal["on", "off"] | None = None) -> str:
    """Fire or clear the simulated kitchen smoke detector, or walk into the hall (motion).

    The answer comes once the detector reported the new state and the alert rules have seen it,
    so it can name the alert raised, and an `ack` or `alerts` typed next finds it."""
    hub = ctx.hub
    settings = hub.settings.simulator
    if not settings.enabled:
        raise CommandError("The simulator is off ([simulator] enabled = false).")
    if what == "motion":
        return await _motion(ctx, state != "off")
    if state is None:
        raise CommandError(f"Say {ctx.prefix}simulate smoke on or {ctx.prefix}simulate smoke off.")
    on = state == "on"
    done = f"Simulated smoke {'detected' if on else 'cleared'} in the kitchen"
    state_topic = f"{settings.base_topic}/kitchen_smoke"
    detector = next((d for d in hub.home.devices.values() if d.settings.topic == state_topic), None)
    try:
        if detector is None:                   # no device of the config listens to it: nothing to wait for
            await hub.mqtt.publish(f"{state_topic}/set", json.dumps({"smoke": on}))
            return f"{done}."
        # Who acknowledged the alerts already open, read before the detector fires: an alert this
        # run raises is new (not acknowledged), and reading the store after it would let the
        # alert's own delivery overtake this answer.
        acked_by = {a["id"]: a["acked_by"] for a in await hub.alerts.active() if a["acked_by"]}
        reading = await hub.home.publish_and_wait(detector, [Publish(f"{state_topic}/set", json.dumps({"smoke": on}))],
                                                  lambda r: r.value == on, REPORT_WAIT)
    except MqttUnavailable as exc:
        raise CommandError(f"Cannot reach the simulator: {exc}.") from None
    if reading is None:
        raise CommandError(f"{done}, but {detector.label} did not report it within {REPORT_WAIT:g} s.")
    try:
        async with asyncio.timeout(REPORT_WAIT):
            await hub.alerts.settled()
    except TimeoutError:
        return f"{done}; {detector.label} reports it (the alert rules are still busy)."
    raised = {rule.active_id: name for name, rule in hub.alerts.rules.items()
              if rule.rule.device == detector.name and rule.active_id is not None}
    if not (on and raised):
        return f"{done}; {detector.label} reports it."
    states = [f"Alert #{alert_id} ({name}) is active, acknowledged by {acked_by[alert_id]}."
              if acked_by.get(alert_id) else f"Alert #{alert_id} ({name}) is active: `ack` stops it."
              for alert_id, name in raised.items()]
    return f"{done}; {detector.label} reports it. " + " ".join(states)


async def _motion(ctx: Context, on: bool) -> str:
    """Movement in the hall (or none): the sensor reports it, and clears by itself later."""
    hub = ctx.hub
    settings = hub.settings.simulator
    state_topic = f"{settings.base_topic}/hall_motion"
    sensor = next((d for d in hub.home.devices.values() if d.settings.topic == state_topic), None)
    done = "Simulated motion in the hall" if on else "Simulated an empty hall"
    payload = json.dumps({"occupancy": on})
    try:
        if sensor is None:
            await hub.mqtt.publish(f"{state_topic}/set", payload)
            return f"{done}."
        reading = await hub.home.publish_and_wait(sensor, [Publish(f"{state_topic}/set", payload)],
                                                  lambda r: r.value == on, REPORT_WAIT)
    except MqttUnavailable as exc:
        raise CommandError(f"Cannot reach the simulator: {exc}.") from None
    if reading is None:
        raise CommandError(f"{done}, but {sensor.label} did not report it within {REPORT_WAIT:g} s.")
    clears = f" (it clears by itself after {format_duration(settings.motion_clear)})" if on else ""
    return f"{done}; {sensor.label} reports it{clears}."
