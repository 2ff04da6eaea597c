"""Reading and driving devices: temp, read, switch, devices, status."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import re
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any

from chatops.auth import fold
from chatops.availability import offline_problem
from chatops.command import CommandError, Context, Shorthand, command, shown_usage
from chatops.config import DeviceType
from chatops.controls import ActionError
from chatops.durations import format_duration, parse_duration
from chatops.device_kinds import DeviceKind, UnknownDevice, names_a_device
from chatops.device_names import called
from chatops.home import STATE_WORDS, SWITCH_STATES, Device, format_value
from chatops.device_settings import TYPE_WORDS, switched_mode, type_word
from chatops.i18n import N_, _, ngettext
from chatops.message import Button, Reply
from chatops.mqtt import MqttUnavailable
from chatops.command_line import clean_text
from chatops.url_secrets import masked
from chatops.mutes import muted_note
from chatops.schedule import Recurrence, local_time, parse_clock


def _cannot_switch(device: Device, prefix: str = "", said: str = "") -> str | None:
    """Why `device` does not switch (it takes a value instead, or it is a sensor), or None; a hint
    names it as the asker did (`said`: `le volet` gives `ouvre volet`)."""
    if device.switchable:
        return None
    name = called(device, said)
    if device.type is DeviceType.COVER:     # `off` meant closed, most likely
        return _("{label} is a {kind}: say {prefix}open {name}, {prefix}close {name} or {prefix}stop {name}.").format(
            label=device.label, kind=type_word(device.type), prefix=prefix, name=name)
    if device.settable:
        return _("{label} is a {kind}: say {prefix}set {name} VALUE.").format(
            label=device.label, kind=type_word(device.type), prefix=prefix, name=name)
    return _("{label} is a {kind}, it cannot be switched.").format(label=device.label, kind=type_word(device.type))


_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")       # a level said without its unit: `à 40`
SWITCH_USAGE = "switch DEVICE on|off|toggle [for DURATION]"
ON_USAGE, OFF_USAGE = "allume DEVICE [pendant DURATION]", "éteins DEVICE [pendant DURATION]"


def _on_at_level(words: list[str]) -> tuple[str, str] | None:
    """(the words naming a device, the level) of `lampe on 40%`, `lampe on at 40`, `on lampe at
    40%` (`turn on lampe at 40%`), or None: English says the level after the state, as French
    says `allume la lampe à 40%`, and read as a duration it was refused as one."""
    if len(words) < 3 or not (words[-1].endswith(("%", "°")) or _NUMBER.fullmatch(words[-1])):
        return None
    body = words[:-1]
    if fold(body[-1]) in ("at", "a"):
        body = body[:-1]
    if len(body) >= 2 and STATE_WORDS.get(fold(body[-1])) == "on":
        return " ".join(body[:-1]), words[-1]
    if len(body) >= 2 and STATE_WORDS.get(fold(body[0])) == "on":
        return " ".join(body[1:]), words[-1]
    return None


def _levelled(home: Any, words: list[str]) -> tuple[Device, str] | None:
    """The device with a level and the level of an `_on_at_level` line, or of `switch lampe 40%`."""
    said = _on_at_level(words) or ((words[0], words[1]) if len(words) == 2 else None)
    device = home.find(said[0]) if said is not None else None
    return (device, said[1]) if said is not None and device is not None and _is_level(device, "on", [said[1]]) \
        else None


def _only_switches(ctx: Context, words: list[str]) -> str | None:
    """`heater on 40%`, `heater 40%`: a level said to a device that only switches ("'40%' is not a duration");
    what to say instead, or None when the words name no such device."""
    said = _on_at_level(words) or ((" ".join(words[:-1]), words[-1]) if len(words) > 1 else ("", ""))
    device = ctx.home.find(said[0]) if said[1][-1:] in ("%", "°") else None
    if device is None or device.control is not None:
        return None
    if not device.switchable:               # `salon on 40%`: a sensor, which does not switch at all
        return _cannot_switch(device, ctx.prefix, said[0])
    return _switches_only(called(device, said[0]), ctx.prefix)


def _switches_only(name: str, prefix: str = "") -> str:
    return _("{label} only switches: say {prefix}{name} on or {prefix}{name} off.").format(
        label=name, prefix=prefix, name=name)


def _switch_problem(device: Device, rest: list[str], said: str = "", usage: str = SWITCH_USAGE) -> str | None:
    """What `switch DEVICE STATE [for DURATION]` would answer about `rest`, driving nothing."""
    if device.type is DeviceType.CLIMATE and len(rest) == 1 and STATE_WORDS.get(fold(rest[0]), "toggle") != "toggle":
        return _action_problem(device, switched_mode(device.settings.modes, STATE_WORDS[fold(rest[0])]))   # its mode
    if (problem := _cannot_switch(device, said=said)) is not None:
        return problem
    if device.control is None and 0 < len(rest) <= 3 and rest[-1][-1:] in ("%", "°"):     # `in 1m heater on 40%`
        return _switches_only(called(device, said))
    if len(rest) <= 3 and (level := _on_at_level(["_", *rest])) is not None and level[0] == "_" \
            and _is_level(device, "on", [level[1]]):
        return _action_problem(device, rest[-1])   # `lampe on 40%`: on at a level
    try:
        _switch_words(lambda: " " + _("Usage: {usage}").format(usage=shown_usage(usage)),
                      [called(device, said), *rest])
    except CommandError as exc:
        return str(exc)
    return None


def _verb_problem(state: str, usage: str) -> Callable[[Device, list[str]], str | None]:
    """The same for `allume DEVICE [pendant DURATION]` and `éteins DEVICE ...` (`allume la lampe
    à 40`: the level too): asked when a timer is set, so that `dans 20s allume la lampe stp` is
    refused at once, not at run time."""
    def problem(device: Device, rest: list[str], said: str = "") -> str | None:
        return _action_problem(device, rest[0]) if _is_level(device, state, rest) else \
            _switch_problem(device, [state, *rest], said, usage)
    return problem


def _action_problem(device: Device, word: str) -> str | None:
    """What `device` answers to `word` when it does not take it (out of range, no such mode), or None."""
    try:
        device.action(word)
    except ActionError as exc:
        return str(exc)
    return None


def _is_level(device: Device, state: str, rest: list[str]) -> bool:
    """`allume la lampe à 40%`, `à 40`: on at a level (a bare number is no duration: those need a unit)."""
    return state == "on" and len(rest) == 1 and device.control is not None and \
        (rest[0].endswith(("%", "°")) or _NUMBER.fullmatch(rest[0]) is not None)


def _at_a_time(verb: str, words: list[str]) -> str | None:
    """`allume le chauffage à 7h`: a time of day after the device, which the device's name took
    its `à` from (`thermostat à 21`) and the rest read as a duration: on now for 7 hours, where
    its author meant 07:00. Refused, with the line that does that; None for any other line."""
    if len(words) < 3 or fold(words[-2]) not in ("a", "at") or _NUMBER.fullmatch(words[-1]):
        return None               # `allume la lampe à 40`: a level
    return _do_it_then(words[-2:], f"{verb} {' '.join(words[:-2])}")


WHEN_WORDS = ("in", "dans", "at", "a", "tomorrow", "demain")


def _do_it_then(when: list[str], line: str) -> str | None:
    """`at 7:00` or `dans 10 minutes` said after the line it times (`line`, as its author said it):
    refused with that line, the time put first, as a timer takes it; None when `when` says no time."""
    if len(when) < 2 or fold(when[0]) not in WHEN_WORDS:
        return None
    said = " ".join(when)
    if fold(when[0]) in ("at", "a") and len(when) == 2:
        try:
            parse_clock(when[1])
        except ValueError:
            return None
        return _("{when} is a time of day; to do it then, say the time first: {line}").format(
            when=said, line=f"{said} {line}")
    return _("{when} says when; to do it then, say that first: {line}").format(when=said, line=f"{said} {line}")


def _verb_precheck(kind: DeviceKind, verb: str) -> Callable[[Any, list[str]], str | None]:
    """`allume`'s and `éteins`'s precheck: a time of day said after the device, then the kind's."""
    return lambda hub, args: _at_a_time(verb, args) or kind.precheck(hub, args)


SWITCHES = DeviceKind(lambda device: device.switchable, N_("Devices that switch"), _switch_problem)
SWITCHES_ON = DeviceKind(SWITCHES.takes, SWITCHES.listing, _verb_problem("on", ON_USAGE))
SWITCHES_OFF = DeviceKind(SWITCHES.takes, SWITCHES.listing, _verb_problem("off", OFF_USAGE))


def _device(ctx: Context, name: str, kind: DeviceKind | None = None) -> Device:
    device = ctx.home.find(name)
    if device is None:
        raise CommandError(ctx.home.unknown(name, kind))
    return device


async def _reading(ctx: Context, device: Device) -> str:
    if device.reading is None:
        await ctx.home.request_reading(device)
    return f"{device.label}: {device.show()}"


def _is_temperature(device: Device) -> bool:
    """A room's temperature: a thermostat, or a sensor in °C/°F that is no dew point (Tasmota's
    AM2301 reports one beside the temperature, in °C too)."""
    if device.type is DeviceType.CLIMATE:
        return True
    if device.type is not DeviceType.SENSOR:
        return False
    value = device.settings.value or ""
    if not (device.unit.endswith("C") or device.unit.endswith("F") or "temp" in value):
        return False
    return "dew" not in value.casefold() and "dew" not in device.name.casefold()


def _kind_of(device: Device) -> str:
    """What a device is, in a sentence: its type, or for a sensor what it measures (`%`: a
    humidity sensor, say) by its unit."""
    if device.type is DeviceType.SENSOR and device.unit:
        return _("sensor in {unit}").format(unit=device.unit)
    return type_word(device.type)


# What `temp` lists: a thermostat reports its room's temperature too, so "rooms" named it wrong.
TEMPERATURES = DeviceKind(_is_temperature, N_("Temperature sensors"))


_LIST_WORDS = frozenset({"and", "et", "&"})


def _rooms_named(home: Any, text: str) -> tuple[list[Device], list[str]]:
    """(the rooms `text` lists, the words of it that name no room) for `salon, chambre` or
    `salon et chambre` (the text names no device as a whole: `living room` was found before):
    each word a room, or some rooms and some not (`salon, chambr`: salon's reading, and
    chambr's did-you-mean). Without any room, nothing: the one-room errors explain."""
    words = [word for word in re.split(r"[\s,;]+", text) if word and fold(word) not in _LIST_WORDS]
    if len(words) < 2:
        return [], []
    found = [(word, home.find(word)) for word in words]
    rooms = [d for _word, d in found if d is not None and _is_temperature(d)]
    return list({d.name: d for d in rooms}.values()), [word for word, d in found if d not in rooms]


def _room_problem(hub: Any, args: list[str]) -> str | None:
    """What `temp ROOM` would answer about the room, reading nothing (a timer's check)."""
    room = " ".join(args)
    if not args or hub.home.find(room) is not None:
        return None
    several, others = _rooms_named(hub.home, room)
    return None if several and not others else UnknownDevice(hub.home.unknown(room, TEMPERATURES))


def _no_room(ctx: Context, name: str) -> str:
    rooms = ", ".join(sorted(d.name for d in ctx.home.devices.values() if _is_temperature(d)))
    return _("No room called {name!r}. Temperature sensors: {rooms}.").format(name=name, rooms=rooms)


@command("temp", aliases=["temperature"], french=["température"], usage="temp [ROOM]", precheck=_room_problem)
async def temp(ctx: Context, room: str | None = None) -> str:
    """Temperature of a room, or of every room."""
    if room:
        device = ctx.home.find(room)
        if device is not None and _is_temperature(device):
            return await _reading(ctx, device)          # the common line: no access question asked
        several, others = _rooms_named(ctx.home, room)
        if several:                                     # `temp salon, chambre`, `temp salon et chambre`
            return "\n".join(await _readings(ctx, several) + [
                ctx.home.unknown(word, TEMPERATURES) if ctx.home.closest(word, TEMPERATURES) else   # `chambr`
                _no_room(ctx, word) for word in others])
        # Any other device's value is `read`'s to show: whoever may not read learns of none here.
        kind = None if ctx.may_use("read") else TEMPERATURES
        if kind is not None:
            device = None
        if device is None:
            rooms = sorted(d.name for d in ctx.home.devices.values() if _is_temperature(d))
            if ctx.home.closest(room, kind) is not None or not rooms:     # `salom`: did you mean salon?
                raise CommandError(ctx.home.unknown(room, kind))
            # `temp garage` for a discovered "Garage Temperature" (garage_temperature): the one
            # room whose name holds the word is the one meant.
            holding = [d.name for d in ctx.home.devices.values() if _is_temperature(d)
                       and any(fold(room) in fold(word) for word in (d.name.replace("_", " "), d.label))]
            if len(holding) == 1:
                raise CommandError(_("No device called {name!r}. Did you mean {close}?").format(
                    name=room, close=holding[0]))
            raise CommandError(_no_room(ctx, room))
        if device.type is DeviceType.CAMERA:
            raise CommandError(_("{label} is a camera; try snap {name}.").format(label=device.label,
                                                                                  name=called(device, room)))
        if device.type is not DeviceType.SENSOR or device.unit:
            # `temp heater` answered "heater: OFF", `temp salon_humidity` "46.2 %": said for
            # what it is. A sensor without a unit may well be a temperature: its reading.
            rooms = ", ".join(sorted(d.name for d in ctx.home.devices.values() if _is_temperature(d)))
            raise CommandError(_("{label} is a {kind}, not a temperature: {prefix}read {name} shows it. Temperature "
                                 "sensors: {rooms}.").format(label=called(device, room), kind=_kind_of(device), prefix=ctx.prefix,
                                                             name=called(device, room), rooms=rooms or "-"))
        return await _reading(ctx, device)
    sensors = [d for d in ctx.home.devices.values() if _is_temperature(d)]
    if not sensors:
        raise CommandError(_("No temperature sensor is configured."))
    return "\n".join(await _readings(ctx, sensors))


async def _readings(ctx: Context, devices: list[Device]) -> list[str]:
    """Each device's reading, those not heard yet asked for all at once: one after the other,
    15 rooms silent since a restart took 2 s each, past the handler's timeout."""
    return list(await asyncio.gather(*(_reading(ctx, d) for d in devices)))


@command("read", aliases=["get"], french=["lire", "lis"], precheck=names_a_device, usage="read DEVICE", shorthand=Shorthand.DEVICE)
async def read(ctx: Context, device: str) -> str:
    """Current value of any device."""
    target = _device(ctx, device)
    if target.type is DeviceType.CAMERA:
        raise CommandError(_("{label} is a camera; try snap {name}.").format(label=target.label,
                                                                              name=called(target, device)))
    return await _reading(ctx, target)


def _held_by_a_timer(args: list[str]) -> str | None:
    """`switch heater on for 2h`: the switch back is a timer, so `in`'s access rule applies too."""
    cut = next((i for i in range(len(args) - 1, 0, -1) if fold(args[i]) in STATE_WORDS), None)
    return "in" if cut is not None and args[cut + 1:] else None


def _held_for(args: list[str]) -> str | None:
    """`allume chauffage 2h`: the last word a duration (the state is the verb's)."""
    try:
        return "in" if len(args) >= 2 and parse_duration(args[-1]) is not None else None
    except ValueError:
        return None


@command("switch", aliases=["turn"], precheck=SWITCHES.precheck, usage=SWITCH_USAGE, needs_user=True,
         shorthand=Shorthand.DEVICE_STATE, also_needs=_held_by_a_timer)
async def switch(ctx: Context, device: str, *words: str) -> str | Reply:
    """Switch a device and wait until it confirms; with a duration, switch it back afterwards."""
    setting = ctx.hub.commands.find("set")
    if setting is not None and (levelled := _levelled(ctx.home, [device, *words])) is not None:
        return await setting.func(ctx, levelled[0].name, levelled[1])      # `lampe on 40%`: on, at 40 %
    if (only := _only_switches(ctx, [device, *words])) is not None:
        raise CommandError(only)                                            # `heater on 40%`: not a duration
    name, state, hold = _switch_words(ctx.usage, [device, *words], lambda: _typed_verb(ctx))
    target = _device(ctx, name, SWITCHES)
    if target.type is DeviceType.CLIMATE and hold is None and setting is not None and state != "toggle":
        return await setting.func(ctx, target.name, switched_mode(target.settings.modes, state))   # `éteins le thermostat`
    scheduling = ctx.hub.commands.find("in")
    if hold is not None and (scheduling is None or ctx.hub.access.authorize(str(ctx.sender), ctx.user, scheduling,
                                                                            metered=False) is not None):
        # The switch back is a timer: the one access rule for setting timers decides, as for `in`.
        said = ctx.hub.router.command_text(ctx.message) or f"{name} {state} {format_duration(hold)}"
        raise CommandError(_("Sorry, {who} may not set timers, and {line} switches back by one. Without the "
                             "duration it switches and stays.").format(who=ctx.who, line=f"“{said}”"))
    if (problem := _cannot_switch(target, ctx.prefix, name) or offline_problem(target)) is not None:
        raise CommandError(problem)
    before = target.reading.value if target.reading is not None else None
    if state == "toggle":
        if target.reading is None:
            raise CommandError(_("The state of {label} is unknown; say on or off.").format(label=target.label))
        wanted = not bool(target.reading.value)
    else:
        wanted = state == "on"
    # Whoever switches a device overrides a pending "for" on it, even to the state it is in:
    # "heater on" says it must be on (the frost guard's, during an `on for 2h`: switched back off,
    # the room would stay cold, the guard firing on the way down only). The answer says so.
    pending, note = await ctx.hub.timers.overridden(target.name, ctx.who)
    if pending is not None and hold is None and before is not None and bool(before) == wanted:
        note += " " + _("(it already was; the switch back {back} set with “for” will not happen: it stays {state}.)").format(
            back=format_value(bool(pending.get("back"))), state=format_value(wanted))
    try:
        confirmed, reading = await ctx.home.switch(target, wanted)
    except MqttUnavailable as exc:
        raise CommandError(_("Cannot switch {label}: {why}.").format(label=target.label, why=exc)) from None
    shown = format_value(wanted)
    if not confirmed:
        timeout = format_duration(target.settings.confirm_timeout)
        now = format_value(reading.value) if reading else _("unknown")
        later = " " + _("Nothing will be switched back.") if hold else ""
        # Raised, not returned: the same answer, and whoever runs the line (an automation) learns it failed.
        raise CommandError(_("No confirmation from {label} after {waited} (asked {asked}, last state {last}).").format(
            label=target.label, waited=timeout, asked=shown, last=now) + later)
    if hold is None:
        # A light says its state as it reported it, as `lampe 40%` does (`lampe: on, 100 %, 2700 K`).
        said = f"{target.label}: {target.show()}" if target.control is not None and target.reading is not None \
            else _("{label} is {state}").format(label=target.label, state=shown)
        return Reply(said + note, buttons=(Button(_("On"), f"switch {target.name} on"),
                                           Button(_("Off"), f"switch {target.name} off")))
    # The line as its author wrote it (`allume chauffage pendant 2h`): what `timers` shows them.
    said = " ".join((ctx.hub.router.command_text(ctx.message) or f"{name} {state} for {format_duration(hold)}").split())
    return await _switch_back_later(ctx, target, wanted, before, hold, pending, said) + note


@command("allume", aliases=["allumer"], precheck=_verb_precheck(SWITCHES_ON, "allume"), usage=ON_USAGE, needs_user=True,
         permission="switch", also_needs=_held_for, spoken_in="fr")
async def switch_on(ctx: Context, device: str, *words: str) -> str | Reply:
    """Switch a device on (French: allume chauffage, allume chauffage 2h)."""
    return await _switch_to(ctx, "on", [device, *words])


@command("eteins", aliases=["éteins", "eteindre", "éteindre", "éteint", "eteint"], precheck=_verb_precheck(SWITCHES_OFF, "éteins"), usage=OFF_USAGE,
         needs_user=True, permission="switch", also_needs=_held_for, spoken_in="fr")
async def switch_off(ctx: Context, device: str, *words: str) -> str | Reply:
    """Switch a device off (French: éteins la lampe, éteins chauffage)."""
    return await _switch_to(ctx, "off", [device, *words])


async def _switch_to(ctx: Context, state: str, words: list[str]) -> str | Reply:
    """`switch DEVICE STATE [DURATION]` for a verb that carries the state: the longest run of
    words naming a device is the device, the rest the duration (a French article is skipped)."""
    verb = ctx.word or ("allume" if state == "on" else "éteins")
    if at_a_time := _at_a_time(verb, words):
        raise CommandError(at_a_time)
    device, name, rest = ctx.home.find_leading(words)
    if device is None:
        return await switch(ctx, " ".join(words), state)        # says there is no such device
    # `éteins le chauffage dans 10 minutes`: said back as typed, the delay first.
    if when_first := _do_it_then(rest, " ".join([verb, *words[:len(words) - len(rest)]])):
        raise CommandError(when_first)
    setting = ctx.hub.commands.find("set")
    if _is_level(device, state, rest) and setting is not None:
        return await setting.func(ctx, device.name, rest[0])     # `allume la lampe à 40`: on, at 40 %
    return await switch(ctx, name, state, *rest)


def _typed_verb(ctx: Context) -> str:
    """The command word the line began with (`switch`), or "" for a device's shorthand
    (`heater on`, which the router runs as `switch`)."""
    typed = (ctx.hub.router.command_text(ctx.message) or "").split()[:1]
    return ctx.word if typed == [ctx.word] else ""


def _switch_words(usage: Callable[[], str], words: list[str],
                  verb: Callable[[], str] = str) -> tuple[str, str, float | None]:
    """(device, on|off|toggle, seconds or None) from `DEVICE STATE [[for] DURATION]`; `usage()`
    ends each refusal (the usage line of the command as typed: `allume`, `switch`), made only
    then: a switch that goes through never words it. `verb()`: the command word typed before
    `words`, if any (`switch`; none for `heater on`), for a line said back; asked only then."""
    # The state in either language: `on`, or `chauffage marche`, `arrêt`, `éteint` (STATE_WORDS).
    cut = next((i for i in range(len(words) - 1, 0, -1) if fold(words[i]) in STATE_WORDS), None)
    if cut is None and len(words) > 1 and fold(words[0]) in STATE_WORDS:     # `turn on the lamp`
        return " ".join(words[1:]), STATE_WORDS[fold(words[0])], None
    if cut is None:
        if len(words) == 1:
            raise CommandError(_("Missing state.") + usage())
        shown = clean_text(words[-1])[:30]
        close = difflib.get_close_matches(fold(shown), SWITCH_STATES, n=1, cutoff=0.5)
        if close:                                      # `chauffage of`
            raise CommandError(_("The state is on, off or toggle, not {word!r}: did you mean {state}?").format(
                word=shown, state=close[0]) + usage())
        raise CommandError(_("The state is on, off or toggle, not {word!r}.").format(word=shown) + usage())
    tail = words[cut + 1:]
    # `heater on at 7:00`: not how long but when, which a timer says first (no usage line: the
    # answer gives the line to say, as `allume le chauffage à 7h` does).
    if tail and fold(tail[0]) in WHEN_WORDS and \
            (when_first := _do_it_then(tail, " ".join([verb(), *words[:cut + 1]]).strip())) is not None:
        raise CommandError(when_first)
    if tail and fold(tail[0]) in ("for", "pour", "pendant", "durant"):
        tail = tail[1:]
        if not tail:                                   # `chauffage on for`: not "on for ever"
            raise CommandError(_("For how long? Add a duration (e.g. 2h, 30m).") + usage())
    hold = None
    if tail:
        try:
            hold = parse_duration("".join(tail))
        except ValueError as exc:
            if len(tail) == 1 and tail[0][:1].isdigit():     # a duration, wrong: parse_duration says how
                said = str(exc)
                raise CommandError(f"{said[:1].upper()}{said[1:]}." + usage()) from None
            raise CommandError(_("{word!r} is not a duration (e.g. 2h, 30m).").format(word=" ".join(tail)[:30])
                               + usage()) from None
        if hold <= 0:
            raise CommandError(_("The duration must be more than 0.") + usage())
    return " ".join(words[:cut]), STATE_WORDS[fold(words[cut])], hold


async def _switch_back_later(ctx: Context, target: Device, wanted: bool, before: object, hold: float,
                             pending: dict[str, object] | None, said: str) -> str:
    """Schedule the switch back to the state before (a durable timer) and say when."""
    shown = format_value(wanted)
    back = (not wanted) if before is None else bool(before)
    if pending and pending.get("set") == before:        # `on for 1h` then `on for 3h`: back as it was first
        back = bool(pending.get("back"))
        if back == wanted:
            # `on for 2h` then `off for 30m`: switching back on after 30 min would leave it on for
            # good (the first switch-back is superseded), so it stays off, as the first one wanted.
            return _("{label} is {state} and stays {state}: it was {before} only for a while, so it is not "
                     "switched back {before} later (that would leave it {before} for good).").format(
                label=target.label, state=shown, before=format_value(bool(before)))
    if back == wanted:
        return _("{label} is {state} (it already was, so nothing will be switched back)").format(
            label=target.label, state=shown)
    timers = ctx.hub.timers
    now = ctx.hub.clock.time()
    assert ctx.user is not None                           # needs_user
    try:
        timer_id = await timers.add(ctx.user.name, ctx.address, said, Recurrence("once", label="once"), now + hold,
                                    kind="restore", data={"device": target.name, "set": wanted, "back": back})
    except sqlite3.DatabaseError as exc:
        # Switched already; a switch-back only in memory would vanish at a restart: say so plainly.
        return _("{label} is {state}, but it will NOT be switched back: the hub's storage is failing ({why}), "
                 "so the timer could not be stored. Switch it back yourself.").format(
            label=target.label, state=shown, why=exc)
    answer = _("{label} is {state} until {when}, then back {back} (timer #{id})").format(
        label=target.label, state=shown, when=local_time(now + hold, timers.tz, now), back=format_value(back),
        id=timer_id)
    if pending is not None:         # the switch-back it continues from (`on for 1h`, then `on for 3h`)
        with contextlib.suppress(sqlite3.DatabaseError):    # left listed, it says "left alone" at its time
            if gone := await timers.replaced(target.name, timer_id):
                answer += " " + _("(it replaces {timers})").format(timers=", ".join(_("#{id}").format(id=tid) for tid in gone))
    return answer + timers.unreachable_note(ctx.address, ctx.user.name)


@command("devices", aliases=["list"], french=["appareils"], usage="devices [TYPE|NAME]")
async def devices(ctx: Context, *words: str) -> str:
    """List the devices the hub knows; a type (light, sensor...) or part of a name picks some."""
    if not ctx.may_use("read"):
        raise CommandError(_("Sorry, {who} may not read devices, and the list shows their values.").format(who=ctx.who))
    wanted = fold(" ".join(words))
    chosen = [d for d in sorted(ctx.home.devices.values(), key=lambda d: d.name) if _picked(d, wanted)]
    if not chosen:
        if not ctx.home.devices:
            return _("No devices configured.")
        raise CommandError(_("No device is a {word!r} or has it in its name. Types: {types}.").format(
            word=" ".join(words)[:40], types=_types(ctx.home.devices.values())))
    lines: list[str] = []
    for device in chosen:
        aliases = " " + _("(aka {names})").format(names=", ".join(device.settings.aliases)) \
            if device.settings.aliases else ""
        value = "" if device.type is DeviceType.CAMERA else f": {device.show()}"
        lines.append(f"{device.name} [{type_word(device.type)}]{aliases}{value}")
    if len("\n".join(lines)) <= ctx.hub.router.max_reply:
        return "\n".join(lines)
    # A house of 300 discovered sensors: as many as fit (one at least), then how to see the rest.
    room, shown = ctx.hub.router.max_reply - 200, 1
    while shown < len(lines) and len("\n".join(lines[:shown + 1])) <= room:
        shown += 1
    lines = lines[:shown] + [_("… and {count} more: say {prefix}devices TYPE or part of a name (types: {types}).").format(
        count=len(chosen) - shown, prefix=ctx.prefix, types=_types(chosen))]
    return "\n".join(lines)


def _types(devices: Iterable[Device]) -> str:
    """The types of `devices`, in the reader's words: what `devices TYPE` takes."""
    return ", ".join(sorted({type_word(d.type) for d in devices}))


def _picked(device: Device, wanted: str) -> bool:
    """Whether `devices WORD` lists `device`: its type (as the config names it, in English words
    or the reader's: `binary_sensor`, `detector`, `détecteur`), or part of its name, label or an
    alias."""
    if not wanted:
        return True
    kind = device.type
    types = (fold(kind.value), fold(kind.value.replace("_", " ")), fold(TYPE_WORDS[kind]), fold(type_word(kind)))
    singular = {wanted[:-1], wanted[:-2]} if wanted.endswith(("s", "x")) else set()   # lights, switches, lampes
    if wanted in types or singular & set(types):
        return True
    return any(wanted in fold(word) or wanted.replace(" ", "_") in fold(word)
               for word in (device.name, device.label, *device.settings.aliases))


@command("status", french=["etat", "état"])
async def status(ctx: Context) -> str:
    """Health of the hub: MQTT, each network, devices, active alerts."""
    hub = ctx.hub
    now = hub.clock.time()

    def line(name: str, health: object) -> str:
        state = _("connected") if health.connected else _("DOWN ({why})").format(why=health.detail)  # type: ignore[attr-defined]
        return _("{name}: {state} for {duration}").format(  # type: ignore[attr-defined]
            name=name, state=state, duration=format_duration(health.lasted))  # type: ignore[attr-defined]

    lines = [_("{hub} up {duration}").format(hub=hub.settings.hub.name, duration=format_duration(hub.uptime)),
             line("mqtt", hub.mqtt.health)]
    lines += [line(name, a.health) for name, a in sorted(hub.adapters.items())]
    for name, adapter in sorted(hub.adapters.items()):
        if note := adapter.status_note():
            lines.append(_("{name}: {note}").format(name=name, note=note))
    if hub.store.health.connected:
        try:
            waiting = await hub.alerts.outbox.waiting()
        except sqlite3.DatabaseError:
            waiting = {}                    # the storage line below says why
        for name, count in sorted(waiting.items()):
            lines.append(ngettext("{name}: {count} message waiting to be sent",
                                  "{name}: {count} messages waiting to be sent", count).format(name=name, count=count))
    if hub.hub_device is not None and (namesake := hub.hub_device.namesake_note()):
        lines.append(namesake)
    for plugin, problem in sorted(hub.plugin_problems.items()):
        # Why is for admins: an exception's text may hold what a plugin read (a token, a path).
        lines.append(_("plugin {plugin}: NOT LOADED ({why})").format(plugin=plugin, why=masked(problem))
                     if ctx.may("*") else _("plugin {plugin}: NOT LOADED").format(plugin=plugin))
    offline = [d.name for d in hub.home.devices.values() if d.offline_since is not None]
    stale = [d.name for d in hub.home.devices.values() if d.is_stale(now) and d.offline_since is None]
    silent = [d.name for d in hub.home.devices.values() if d.reading is None and d.type is not DeviceType.CAMERA]
    if not ctx.may_use("read"):               # device names are `read`'s to show: counts only
        offline, stale, silent = ([str(len(names))] if names else [] for names in (offline, stale, silent))
    lines.append(_("devices: {count}").format(count=len(hub.home.devices))
                 + (_(", offline: {names}").format(names=", ".join(offline)) if offline else "")
                 + (_(", stale: {names}").format(names=", ".join(stale)) if stale else "")
                 + (_(", no reading yet: {names}").format(names=", ".join(silent)) if silent else ""))
    if not hub.store.health.connected:
        lines.append(_("storage: FAILING ({why}); alerts are sent from memory").format(why=hub.store.health.detail))
    if hub.history.failing is not None:
        lines.append(_("history: {count} readings kept in memory, not stored ({why})").format(
            count=hub.history.waiting, why=hub.history.failing)
                     + (_("; {count} dropped").format(count=hub.history.dropped) if hub.history.dropped else ""))
    if hub.audit.failing is not None:
        lines.append(_("audit: {count} rows kept in memory and in the log, not stored ({why})").format(
            count=hub.audit.waiting, why=hub.audit.failing))
    active = await hub.alerts.active()
    note = muted_note(hub) if ctx.may_use("alerts") else ""           # alert state is `alerts`' to show
    lines.append((_("alerts: {count} active").format(count=len(active)) if active else _("alerts: none active"))
                 + ("." + note if note else ""))
    return "\n".join(lines)
