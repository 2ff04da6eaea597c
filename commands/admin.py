"""Admin commands: trigger the simulated smoke detector (the whole alert path) or the hall's
motion sensor (the hall-light automations)."""

from __future__ import annotations

import asyncio
from typing import Literal

from chatops.auth import fold
from chatops.command import CommandError, Context, command
from chatops.i18n import _
from chatops.controls import Publish
from chatops.durations import format_duration
from chatops.mqtt import MqttUnavailable
from chatops.mutes import muted_note
from chatops.command_line import clean_text

REPORT_WAIT = 5.0          # seconds for the detector to report its new state, then for the rules to run
SIMULATED = ("smoke", "motion")
# Folded, what each word of either language sets off, as chatops.home.STATE_WORDS: the French help
# says `(mouvement)`, and a config need not give the devices French aliases for it to work.
SIMULATED_WORDS = {"fumee": "smoke", "mouvement": "motion", **{what: what for what in SIMULATED}}


def _simulated(ctx: Context, word: str) -> str:
    """`smoke` or `motion` from the word said: either, in English or French (`simule mouvement`),
    or a name or alias of the device it sets off (`simule kitchen_smoke on`)."""
    if (what := SIMULATED_WORDS.get(fold(word))) is not None:
        return what
    from chatops.sim import trigger          # the simulator's module: loaded only when it is used
    device = ctx.home.find(word)
    for what in SIMULATED:
        if device is not None and device.settings.topic == trigger(ctx.hub.settings.simulator.base_topic, what, True)[0]:
            return what
    raise CommandError(_("Say {choices}, not {word!r}.").format(
        choices=_(" or ").join(SIMULATED), word=clean_text(word)[:30]) + ctx.usage())


@command("simulate", aliases=["sim"], french=["simule", "simuler"], usage="simulate smoke on|off | simulate motion [on|off]",
         needs_user=True)
async def simulate(ctx: Context, device: str, state: Literal["on", "off"] | None = None) -> str:
    """Fire or clear the simulated kitchen smoke detector, or walk into the hall (motion).

    The answer comes once the detector reported the new state and the alert rules have seen it,
    so it can name the alert raised, and an `ack` or `alerts` typed next finds it."""
    hub = ctx.hub
    settings = hub.settings.simulator
    what = _simulated(ctx, device)
    if not settings.enabled:
        raise CommandError(_("The simulator is off ([simulator] enabled = false)."))
    if what == "motion":
        return await _motion(ctx, state != "off")
    if state is None:
        line = f"{ctx.prefix}{ctx.word or 'simulate'} {device}"       # as said: `simule fumée`
        raise CommandError(_("Say {line} on or {line} off.").format(line=line))
    on = state == "on"
    done = _("Simulated smoke detected in the kitchen") if on else _("Simulated smoke cleared in the kitchen")
    from chatops.sim import trigger          # the simulator's module: loaded only when it is used
    state_topic, command_topic, payload = trigger(settings.base_topic, "smoke", on)
    detector = next((d for d in hub.home.devices.values() if d.settings.topic == state_topic), None)
    try:
        if detector is None:                   # no device of the config listens to it: nothing to wait for
            await hub.mqtt.publish(command_topic, payload)
            return done + "."
        # Who acknowledged the alerts already open, read before the detector fires: an alert this
        # run raises is new (not acknowledged), and reading the store after it would let the
        # alert's own delivery overtake this answer.
        acked_by = {a["id"]: a["acked_by"] for a in await hub.alerts.active() if a["acked_by"]}
        reading = await hub.home.publish_and_wait(detector, [Publish(command_topic, payload)],
                                                  lambda r: r.value == on, REPORT_WAIT)
    except MqttUnavailable as exc:
        raise CommandError(_('Cannot reach the simulator: {exc}.').format(exc=exc)) from None
    if reading is None:
        raise CommandError(_('{done}, but {label} did not report it within {REPORT_WAIT:g} s.').format(
            done=done, label=detector.label, REPORT_WAIT=REPORT_WAIT))
    try:
        async with asyncio.timeout(REPORT_WAIT):
            await hub.alerts.settled()
    except TimeoutError:
        return _('{done}; {label} reports it (the alert rules are still busy).').format(
            done=done, label=detector.label)
    raised = {rule.active_id: name for name, rule in hub.alerts.rules.items()
              if rule.rule.device == detector.name and rule.active_id is not None}
    unstored = sorted(rule for (rule, device) in hub.alerts.unstored.alerts if device == detector.name)
    if on and unstored and not raised:      # storage failing: the alarm went from memory, not stored
        return _('{done}; {label} reports it.').format(done=done, label=detector.label) + " " + _(
            "Alert {rules} is active (NOT STORED: the hub's storage is failing): say ack to stop it.").format(
            rules=", ".join(unstored))
    if not (on and raised):
        return _('{done}; {label} reports it.').format(done=done, label=detector.label) + \
            (muted_note(hub, detector.name) if on else "")
    states = [_("Alert #{id} ({name}) is active, acknowledged by {who}.").format(id=alert_id, name=name,
                                                                                who=acked_by[alert_id])
              if acked_by.get(alert_id) else _("Alert #{id} ({name}) is active: say ack to stop it.").format(
                  id=alert_id, name=name)
              for alert_id, name in raised.items()]
    return _('{done}; {label} reports it.').format(done=done, label=detector.label) + " " + " ".join(states)


async def _motion(ctx: Context, on: bool) -> str:
    """Movement in the hall (or none): the sensor reports it, and clears by itself later."""
    hub = ctx.hub
    settings = hub.settings.simulator
    from chatops.sim import trigger
    state_topic, command_topic, payload = trigger(settings.base_topic, "motion", on)
    sensor = next((d for d in hub.home.devices.values() if d.settings.topic == state_topic), None)
    done = _("Simulated motion in the hall") if on else _("Simulated an empty hall")
    try:
        if sensor is None:
            await hub.mqtt.publish(command_topic, payload)
            return done + "."
        reading = await hub.home.publish_and_wait(sensor, [Publish(command_topic, payload)],
                                                  lambda r: r.value == on, REPORT_WAIT)
    except MqttUnavailable as exc:
        raise CommandError(_('Cannot reach the simulator: {exc}.').format(exc=exc)) from None
    if reading is None:
        raise CommandError(_('{done}, but {label} did not report it within {REPORT_WAIT:g} s.').format(
            done=done, label=sensor.label, REPORT_WAIT=REPORT_WAIT))
    clears = " " + _("(it clears by itself after {duration})").format(
        duration=format_duration(settings.motion_clear)) if on else ""
    return _('{done}; {label} reports it{clears}.').format(done=done, label=sensor.label, clears=clears)
