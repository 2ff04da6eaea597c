"""Driving lights, thermostats, covers, numbers and selects: set, dim, open, close.

`set DEVICE VALUE` is the one way in; `dim`, `open`, `close` and the router's `DEVICE VALUE`
shorthand (`lampe 40%`, `thermostat 21°`, `volet close`) end up in it. What a value means for a
device is its Control's business (chatops.controls): this module only talks and waits.

A cover takes tens of seconds to move: the answer says "closing…" at once and the hub tells the
asker "closed" (or where it stopped) later, through the durable outbox, so the conversation is
free meanwhile (`volet stop` must get through while it moves). `monte|baisse le thermostat` moves
a thermostat's target one step, as the dashboard's + and − do; said of a switch, they answer with
what it is and the line that does what was meant (`baisse le chauffage`: `éteins chauffage`).

All four need the `switch` permission, the one that drives devices: a role that may switch the
heater may dim a lamp, and no role config needs a new word.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable

from chatops.auth import fold
from chatops.availability import offline_problem
from chatops.command import CommandError, Context, Shorthand, command, shown_usage
from chatops.config import DeviceType
from chatops.controls import STOP_WORDS, Action, ActionError, Control
from chatops.device_names import ARTICLES, called
from chatops.device_values import decimals, takes
from chatops.device_settings import type_word
from chatops.durations import format_duration
from chatops.device_kinds import DeviceKind
from chatops.home import Device, Reading
from chatops.i18n import N_, _, format_number
from chatops.message import Reply
from chatops.mqtt import MqttUnavailable

log = logging.getLogger(__name__)


DIM_USAGE = "dim LIGHT PERCENT"
TAKES_A_VALUE = DeviceKind(lambda device: device.settable, N_("Devices that take a value"))


def _cannot_set(device: Device, prefix: str = "", name: str = "") -> str | None:
    """Why `device` takes no value (it only switches, or it is a sensor), or None; a hint names it
    `name`, the word the asker used for it (`tamise chauffage 40`: `allume chauffage`)."""
    if device.settable:
        return None
    if device.switchable:
        return _("{label} only switches: say {prefix}{name} on or {prefix}{name} off.").format(
            label=device.label, prefix=prefix, name=name or device.name)
    return _("{label} is a {kind}, it cannot be set.").format(label=device.label, kind=type_word(device.type))


def _value_problem(device: Device, rest: list[str], said: str = "") -> str | None:
    """What `set DEVICE VALUE` would answer about the value, without driving anything."""
    if (problem := _cannot_set(device, name=called(device, said))) is not None:
        return problem
    if device.type is DeviceType.CLIMATE and _NUDGE.fullmatch(fold(" ".join(rest))):
        return None         # `in 30m thermostat down`: from its target then, as `baisse le thermostat`
    try:
        device.action(" ".join(rest))
    except ActionError as exc:
        return str(exc)
    return None


SET_VALUE = DeviceKind(TAKES_A_VALUE.takes, TAKES_A_VALUE.listing, _value_problem)


def _dim_problem(device: Device, rest: list[str], said: str = "") -> str | None:
    """What `dim LIGHT PERCENT` would answer, driving nothing (a timer's or automation's check)."""
    if device.type is not DeviceType.LIGHT:
        return _("{label} is not a light.").format(label=device.label)
    percent = " ".join(rest)
    if not percent:                 # `dans 1m tamise la lampe`
        return _missing("PERCENT") + " " + _("Usage: {usage}").format(usage=shown_usage(DIM_USAGE))
    return _value_problem(device, [percent if percent.endswith("%") else f"{percent}%"], said)


def _missing(placeholder: str) -> str:
    """`dim the lamp`, `mets le chauffage`: what is missing is the percent, the value, as for
    `dim lamp`, `mets chauffage` (the router's words; chatops.command marks the placeholders)."""
    return _("Missing {name}.").format(name=_(placeholder).lower())


DIMS = DeviceKind(lambda device: device.type is DeviceType.LIGHT, N_("Lights"), _dim_problem)
_HALF = ("moitie", "half", "halfway", "mi-hauteur")
_POSITION = re.compile(r"\d+(?:[.,]\d+)? ?%?")


def _after_to(rest: list[str]) -> str:
    """The value in `ouvre le volet à 50%`, `baisse le thermostat à 19`: the words without their `à`."""
    return " ".join(w for w in rest if fold(w) not in ("a", "to", "at"))


def _position(device: Device, word: str, rest: list[str]) -> str:
    """The position `ouvre le volet à 50%`, `ferme le volet à moitié` asks, as `set` takes it;
    CommandError when the words after the cover's name are none."""
    said = fold(_after_to(rest))
    if word != "stop" and said in _HALF:
        return "50%"
    if word != "stop" and _POSITION.fullmatch(said):
        return said.replace(" ", "") if said.endswith("%") else f"{said}%"
    if word == "stop":
        raise CommandError(_("stop takes the cover's name alone, not {words!r}.").format(words=" ".join(rest)))
    raise CommandError(_("{label}: {words!r} is no position; give one as 50% (or half), or none.").format(
        label=device.label, words=" ".join(rest)))


def _not_a_cover(device: Device, word: str, name: str = "", prefix: str = "") -> str:
    """What `baisse|monte|arrête DEVICE` answers for a device that is no cover (and no thermostat
    these nudge): what it is and what to say instead, in the words the asker used for it
    (`baisse le chauffage`, a switch: `éteins chauffage`)."""
    kind, name = type_word(device.type), name or device.name
    if device.switchable:                       # a light too: `ouvre la lampe` meant `allume lampe`
        said = _("{label} is a {kind}, not a cover: say {prefix}{name} on.") if word == "open" else \
            _("{label} is a {kind}, not a cover: say {prefix}{name} off.")
    elif device.settable:
        said = _("{label} is a {kind}, not a cover: say {prefix}set {name} VALUE.")
    else:
        said = _("{label} is a {kind}, not a cover (a shutter or blind).")
    return said.format(label=device.label, kind=kind, prefix=prefix, name=name)


_NUDGE = re.compile(r"([+-])(\d+(?:[.,]\d+)?)?°?|(up|down|plus|moins)")


def _nudges(device: Device, word: str) -> bool:
    """`monte|baisse le thermostat`: its target, a step up or down, as the dashboard's + and −."""
    return device.type is DeviceType.CLIMATE and word != "stop"


def _nudged(ctx: Context, device: Device, word: str, name: str, rest: list[str], by: float | None = None) -> str:
    """The target `monte|baisse le thermostat [à 19]` asks, as `set` takes it: the one said, or
    one step (or `by`) from the current target, kept within the thermostat's range (the
    dashboard's + and −)."""
    if rest:
        return _after_to(rest)
    target = device.reading.attrs.get("target") if device.reading is not None else None
    if not isinstance(target, (int, float)) or isinstance(target, bool):
        raise CommandError(_("{label} has not said its target yet: say {prefix}set {name} VALUE.").format(
            label=device.label, prefix=ctx.prefix, name=name))
    low, high, step = device.settings.limits
    goal = min(high, max(low, target + (by or step or 0.5) * (1 if word == "open" else -1)))
    if goal == target:              # at its limit: the unchanged target was answered without a word why
        limit = _("{label} is already at its highest target, {target}{unit} (it takes {low} to {high}{unit}).") \
            if word == "open" else _("{label} is already at its lowest target, {target}{unit} (it takes {low} to "
                                     "{high}{unit}).")
        raise CommandError(limit.format(label=device.label, unit=f" {device.unit}" if device.unit else "",
                                        **{k: format_number(v, decimals(v)) for k, v in
                                           (("target", target), ("low", low), ("high", high))}))
    return f"{round(goal, 2):g}"


def _cover_problem(word: str) -> Callable[[Device, list[str]], str | None]:
    """What `open|close|stop COVER [POSITION]` would answer, driving nothing (a timer's check)."""
    def problem(device: Device, rest: list[str], said: str = "") -> str | None:
        if _nudges(device, word):
            return _value_problem(device, [_after_to(rest)], said) if rest else None
        if device.type is not DeviceType.COVER:
            return _not_a_cover(device, word, called(device, said))
        try:
            _position(device, word, rest) if rest else None
        except CommandError as exc:
            return str(exc)
        return None
    return problem


def _covers(word: str) -> DeviceKind:
    return DeviceKind(lambda device: device.type is DeviceType.COVER, N_("Covers"), _cover_problem(word))


def _settable(ctx: Context, name: str) -> Device:
    device, said = ctx.home.find(name), name
    if device is None:
        # `mets le chauffage pendant 2 heures`: a device that only switches, more words after it.
        found, said, _rest = ctx.home.find_leading(name.split())
        if found is None or found.settable:
            raise CommandError(ctx.home.unknown(name, TAKES_A_VALUE))
        device = found
    if not device.settable and (problem := _cannot_set(device, ctx.prefix, called(device, said))) is not None:
        raise CommandError(problem)
    return device


def _refuse_a_name_alone(ctx: Context, first: str, second: str) -> None:
    """`mets le chauffage` bound the article as the device and the name as the value, and answered
    "no device called 'le'": it is answered as `mets chauffage` (the value is missing), and
    `mets le chaufage` as the typo it is. Words that are no such name and article pass."""
    whole = f"{first} {second}"
    if ctx.home.find(whole) is not None:
        raise CommandError(_missing("VALUE") + ctx.usage())
    if fold(first) in ARTICLES:
        raise CommandError(ctx.home.unknown(whole, TAKES_A_VALUE))


def _stops(args: list[str]) -> bool:
    """`volet stop`, `set volet stop`: never behind the asker's `volet close` still waiting for a
    motor that reports only at rest (`CommandSpec.overtakes`)."""
    return bool(args) and args[-1].casefold() in STOP_WORDS


@command("set", french=["règle", "regle", "mets"], precheck=SET_VALUE.precheck, usage="set DEVICE VALUE", needs_user=True, permission="switch",
         shorthand=Shorthand.DEVICE_VALUE, overtakes=_stops)
async def set_value(ctx: Context, device: str, value: str) -> str:
    """Set a light's brightness, a thermostat's target or mode, a cover's position, a number or a select."""
    if ctx.home.find(device) is None:
        _refuse_a_name_alone(ctx, device, value)
        # `set sonnette Fur Elise`: the device is the longest run of words naming one, the value
        # the rest (a select's option may hold spaces), not all words but the last.
        found, said, rest = ctx.home.find_leading([*device.split(), value])
        if found is not None and found.settable and rest and takes(found, " ".join(rest)):
            device, value = said, " ".join(rest)      # (`set lampe cuisine 40`: no such device, said so)
    target = _settable(ctx, device)
    if target.type is DeviceType.CLIMATE and (nudge := _NUDGE.fullmatch(fold(value))):
        # `thermostat up`, `thermostat +1`, `set thermostat -0.5`: from its target, as `monte` does.
        sign, amount = nudge.group(1) or nudge.group(3), nudge.group(2)
        value = _nudged(ctx, target, "open" if sign in ("+", "up", "plus") else "close", device, [],
                        float(amount.replace(",", ".")) if amount else None)
    try:
        action = target.action(value)
    except ActionError as exc:
        raise CommandError(str(exc)) from None
    return await _drive(ctx, target, action, value)


@command("dim", french=["tamise", "variateur"], precheck=DIMS.precheck, usage=DIM_USAGE, needs_user=True, permission="switch")
async def dim(ctx: Context, light: str, percent: str) -> str:
    """Set a light's brightness (dim lampe 40)."""
    if ctx.home.find(light) is None and (ctx.home.find(f"{light} {percent}") is not None or (
            fold(light) in ARTICLES and not _POSITION.fullmatch(percent))):
        light, percent = f"{light} {percent}", ""       # `dim the lamp`: the article took the light's place
    target = _settable(ctx, light)
    if target.type is not DeviceType.LIGHT:
        raise CommandError(_dim_problem(target, [percent]))
    if not percent:
        raise CommandError(_missing("PERCENT") + ctx.usage())
    return await set_value(ctx, target.name, percent if percent.endswith("%") else f"{percent}%")


@command("open", french=["ouvre", "ouvrir", "monte", "monter", "remonte", "lève", "lever"], precheck=_covers("open").precheck, usage="open COVER", needs_user=True, permission="switch")
async def open_cover(ctx: Context, cover: str) -> str:
    """Open a shutter or blind."""
    return await _cover_word(ctx, cover, "open")


@command("close", french=["ferme", "fermer", "baisse", "baisser", "descends", "descend", "descendre"], precheck=_covers("close").precheck, usage="close COVER", needs_user=True, permission="switch")
async def close_cover(ctx: Context, cover: str) -> str:
    """Close a shutter or blind."""
    return await _cover_word(ctx, cover, "close")


@command("stop", french=["arrête", "arrete", "stoppe", "stopper"], precheck=_covers("stop").precheck, usage="stop COVER", needs_user=True,
         permission="switch", overtakes=lambda _args: True)
async def stop_cover(ctx: Context, cover: str) -> str:
    """Stop a shutter or blind where it is."""
    return await _cover_word(ctx, cover, "stop")


async def _cover_word(ctx: Context, name: str, word: str) -> str:
    """`open COVER`, and `ouvre le volet à 50%` / `à moitié`: to that position."""
    device, said, rest = ctx.home.find_leading(name.split())
    if device is None:              # `said`: the first word, its article dropped (`le volot`: volot)
        raise CommandError(ctx.home.unknown(said, _covers(word)))
    if _nudges(device, word):
        return await set_value(ctx, device.name, _nudged(ctx, device, word, called(device, said), rest))
    if device.type is not DeviceType.COVER:
        raise CommandError(_not_a_cover(device, word, called(device, said), ctx.prefix))
    position = _position(device, word, rest) if rest else word
    now = device.reading.value if device.reading is not None else None
    # `ferme le volet à moitié` is the middle, whichever way the cover must go to it (Home
    # Assistant's "halfway"); a number the verb goes against is refused: `ferme le volet à 80%`
    # on a closed shutter would open it, which the asker may not have meant.
    if rest and fold(_after_to(rest)) not in _HALF and isinstance(now, (int, float)) and not isinstance(now, bool):
        goal = float(position.rstrip("%").replace(",", "."))
        if (word == "close" and goal > now) or (word == "open" and goal < now):
            wrong_way = _("{label} is {state}: to go to {goal} it would open; say {name} {goal} for that.") \
                if word == "close" else _("{label} is {state}: to go to {goal} it would close; say {name} {goal} "
                                          "for that.")
            raise CommandError(wrong_way.format(label=device.label, state=device.show(), goal=position,
                                                name=called(device, said)))
    return await set_value(ctx, device.name, position)


async def _drive(ctx: Context, device: Device, action: Action, asked: str) -> str:
    control = device.control
    assert control is not None
    if (offline := offline_problem(device)) is not None:
        raise CommandError(offline)
    # Whoever drives a device overrides a pending "for" on it (`lampe on for 10m`, then `lampe 40%`):
    # that switch-back leaves it alone, as after a switch.
    _pending, note = await ctx.hub.timers.overridden(device.name, ctx.who)
    try:
        if device.type is DeviceType.COVER:
            return await _move(ctx, device, action, asked) + note
        confirmed, reading = await ctx.home.drive(device, action)
    except ActionError as exc:          # a payload its settings cannot make (a number on a Tasmota topic)
        raise CommandError(f"{device.label}: {exc}") from None
    except MqttUnavailable as exc:
        raise CommandError(_("Cannot drive {label}: {why}.").format(label=device.label, why=exc)) from None
    if not confirmed:       # raised: an automation running it learns it failed (chatops.automations)
        raise CommandError(_no_confirmation(device, asked, device.settings.confirm_timeout) + note)
    if action.field == "color_temp" and reading is not None and not reading.value:
        # An off bulb keeps the colour for later: shown as "off" alone, it looked ignored.
        note = " " + _("(colour {asked} when it comes on)").format(asked=asked) + note
    return f"{device.label}: {device.show()}" + note


def _no_confirmation(device: Device, asked: str, waited: float) -> str:
    last = device.show() if device.reading is not None else _("unknown")
    return _("No confirmation from {label} after {waited} (asked {asked}, last state {last}).").format(
        label=device.label, waited=format_duration(waited), asked=asked, last=last)


async def _move(ctx: Context, cover: Device, action: Action, asked: str) -> str:
    """Start the cover; answer at once with where it goes, and report its arrival later."""
    control = cover.control
    assert control is not None
    # Any command now (`stop` included) supersedes the report of an earlier movement: its own
    # answer says where the cover is, so no "stopped before reaching" follows a wanted stop.
    move = cover.last_move = object()

    def started_or_done(reading: Reading) -> bool:
        # A stop is done once the cover no longer moves: the report it sends while still coasting
        # ("moving": "DOWN" at 80 %) is no answer to it (it answered "closing…", then "80 % open").
        moving = bool(reading.attrs.get("motion")) and action.field != "motion"
        return moving or control.reached(action, reading.value, reading.attrs)

    reading = await ctx.home.publish_and_wait(cover, control.publishes(cover.settings, action), started_or_done,
                                              cover.settings.confirm_timeout)
    if reading is None and action.field != "motion":
        # A cover silent until it arrives (many report only at rest): its arrival was never said.
        ctx.hub.spawn(_report_late_start(ctx, cover, action, move, started_or_done), f"cover-{cover.name}")
        return _no_confirmation(cover, asked, cover.settings.confirm_timeout) + " " + _(
            "Where it gets to within {travel} is told here.").format(
            travel=format_duration(cover.settings.travel_timeout))
    if reading is None:
        raise CommandError(_no_confirmation(cover, asked, cover.settings.confirm_timeout))
    if _arrived(control, action, reading):      # there already (or a jump to it)
        return f"{cover.label}: {control.show(cover.settings, reading.value, {})}"
    if not reading.attrs.get("motion"):
        return f"{cover.label}: {cover.show()}"
    ctx.hub.spawn(_report_arrival(ctx, cover, action, move), f"cover-{cover.name}")
    return f"{cover.label}: {cover.show()}"


async def _report_late_start(ctx: Context, cover: Device, action: Action, move: object,
                             started_or_done: Callable[[Reading], bool]) -> None:
    """After "no confirmation": the first report within `travel_timeout`, if any, is said (there),
    or the movement it shows is followed to its end, as for a cover that answered at once."""
    reading = await ctx.home.wait_for(cover, started_or_done, cover.settings.travel_timeout)
    if reading is None or cover.last_move is not move:
        return
    await _report_arrival(ctx, cover, action, move)


def _arrived(control: Control, action: Action, reading: Reading) -> bool:
    """At the asked position: within the cover's tolerance at rest, exactly while it still moves
    (31 % on its way to the 30 % asked is not there yet: said arrived, it then stopped at 30 %)."""
    return control.reached(action, reading.value, reading.attrs) and (
        action.field != "position" or not reading.attrs.get("motion") or float(reading.value) == float(action.value))


def _goal(cover: Device, action: Action) -> str:
    """Where `action` sends the cover, in the words its state is shown in (`closed`, `30 % open`)."""
    control = cover.control
    assert control is not None
    if action.field == "position":
        return control.show(cover.settings, float(action.value), {})
    if action.field == "state":
        return control.show(cover.settings, 100.0 if action.value else 0.0, {})
    return str(action.value)


async def _report_arrival(ctx: Context, cover: Device, action: Action, move: object) -> None:
    """Wait until the cover stops moving, then tell the asker where it is (durably). A command
    given meanwhile (`ferme` then `ouvre`) reports instead: this one was not stopped, it was changed."""
    control = cover.control
    assert control is not None
    reading = cover.reading
    def at_rest(r: Reading) -> bool:
        return not r.attrs.get("motion") or _arrived(control, action, r)
    if reading is None or not at_rest(reading):
        reading = await ctx.home.wait_for(cover, at_rest, cover.settings.travel_timeout)
    if cover.last_move is not move:
        return
    if reading is None:
        text = _("{label} is still moving after {waited} ({state}).").format(
            label=cover.label, waited=format_duration(cover.settings.travel_timeout), state=cover.show())
    elif control.reached(action, reading.value, reading.attrs):
        text = f"{cover.label}: {control.show(cover.settings, reading.value, {})}"     # there: at rest
    else:
        text = _("{label} stopped before reaching {asked}: {state}.").format(label=cover.label,
                                                                            asked=_goal(cover, action),
                                                                            state=cover.show())
    recipient = ctx.user.name if ctx.user else str(ctx.sender)
    try:
        await ctx.hub.timers.deliver(ctx.address, recipient, "device", [Reply(text, notice=True)])
    except sqlite3.DatabaseError as exc:
        # Storage failing: said now, from memory, to whoever moved it (not kept for a network
        # that is down), rather than only logged.
        log.warning("the arrival report of %s could not be stored (%s); sent from memory", cover.name, exc)
        await ctx.hub.send(ctx.address, Reply(text, notice=True))
    except Exception:
        log.exception("could not queue the arrival report of %s", cover.name)
