"""Devices with more than one value: lights, thermostats, covers, numbers and selects.

Each type reads several fields of its state payload and takes several kinds of command. What is
special about a type lives in its Control: how its state reads (Zigbee2MQTT JSON or Tasmota), what a
chat word asks of it (`40%`, `21°`, `close`), the MQTT publishes that ask it, when a reading means
the device did it, and how its state is shown. A reading keeps one primary value (a light's on/off,
a thermostat's room temperature, a cover's position) so that alerts, automations and history treat
these devices as they treat the others; the other fields ride along in `Reading.attrs`.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import json_input
from .auth import fold
from .device_settings import DeviceSettings, DeviceType
from .tasmota import sibling
from .device_values import ActionError, check_range, parse_number
from .device_values import decimals as _decimals, finite as _number, state_word as _on
from .i18n import N_, NP_, _, format_number, pgettext, reported_decimals

MAX_JSON_DEPTH = 32
OPEN_WORDS = ("open", "ouvre", "ouvrir", "up", "opened", "ouvert", "ouverte")     # its state words too (`volet ouvert`)
CLOSE_WORDS = ("close", "ferme", "fermer", "down", "closed", "fermee")
STOP_WORDS = ("stop", "arrete", "arrête", "stoppe")
# States as people read them (the French catalogue has allumé, éteint, ouvert, fermé...).
STATE_WORDS = {"on": N_("on"), "off": N_("off"), "open": N_("open"), "closed": N_("closed"),
               "opening": N_("opening…"), "closing": N_("closing…")}
MODE_CONTEXT = "thermostat mode"             # pgettext context of the mode words


def mode_word(mode: str) -> str:
    """A thermostat mode as the reader says it (French: arrêt, chauffe, auto)."""
    return pgettext(MODE_CONTEXT, mode)


MODES = (NP_("thermostat mode", "off"), NP_("thermostat mode", "heat"), NP_("thermostat mode", "auto"),
         NP_("thermostat mode", "cool"), NP_("thermostat mode", "eco"),
         NP_("thermostat mode", "manual"))     # the usual ones, in the catalogue
# Tasmota's thermostat driver (ThermostatModeSet): off, automatic operation (it heats to the
# target), manual (it follows its wall switch). Chat says off and heat; manual is only shown.
TASMOTA_MODES = {0: "off", 1: "heat", 2: "manual"}


def modes_of(s: DeviceSettings) -> list[str]:
    """The modes a thermostat takes: its `modes`, of which Tasmota's driver knows only some."""
    return [m for m in s.modes if m in TASMOTA_MODES.values()] if dialect(s) == "tasmota" else list(s.modes)


class PayloadError(ValueError):
    """A state payload that does not hold the configured value."""


@dataclass(frozen=True, slots=True)
class Action:
    """One thing asked of a device: a field (`state`, `brightness`, `target`, `position`...) and a value."""

    field: str
    value: Any


def json_object(payload: bytes) -> dict[str, Any]:
    """The JSON object in `payload`; PayloadError for anything else (binary, not JSON, too deep)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(f"{len(payload)}-byte binary payload is not text") from None
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH * 4:
        raise PayloadError("JSON too deeply nested")
    try:
        data = json_input.loads(text)
    except (ValueError, RecursionError):
        raise PayloadError(f"payload is not JSON: {text[:40]!r}") from None
    if not isinstance(data, dict):
        raise PayloadError("payload is not a JSON object")
    return data


def payload_data(s: DeviceSettings, payload: bytes, primary: str) -> dict[str, Any]:
    """The fields of a state payload: its JSON object, or for a `raw` device whose payload is a
    bare word or number (Home Assistant's default-schema light: `ON`), that as the `primary` field."""
    if dialect(s) == "raw":
        text = payload.decode("utf-8", "replace").strip()
        if not text.startswith("{"):
            return {s.fields.get(primary, primary): text}
    return json_object(payload)


def dialect(settings: DeviceSettings) -> str:
    """`tasmota`, `zigbee2mqtt` or `raw`: how this device's payloads are shaped."""
    if settings.payloads != "auto":
        return settings.payloads
    if sibling(settings.topic or "", "stat", "RESULT") is not None:      # a Tasmota topic, any full topic
        return "tasmota"
    if settings.type in (DeviceType.NUMBER, DeviceType.SELECT) and not settings.value:
        return "raw"
    return "zigbee2mqtt"


@dataclass(frozen=True, slots=True)
class Publish:
    topic: str
    payload: str


class Control(ABC):
    """Behaviour shared by the multi-value types; each type says how it reads, what a chat word
    asks of it and how it is shown, and overrides the rest where it differs."""

    primary = "value"

    @abstractmethod
    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        """(primary value, other attributes) of a state payload."""

    @abstractmethod
    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        """What a chat word (`40%`, `21°`, `close`) asks of the device."""

    @abstractmethod
    def takes(self, s: DeviceSettings, label: str) -> str:
        """What the device takes, in one sentence: a word it does not know is refused with it,
        and `help DEVICE` says it."""

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        """The Zigbee2MQTT JSON fields that ask for `action`."""
        return {s.fields.get(action.field, action.field): action.value}

    def tasmota(self, action: Action) -> tuple[str, str]:
        raise ActionError(_("This device has no Tasmota command: give it command_template = \"{{value}}\" (or "
                            "payloads = \"raw\") in config.toml.").format())

    def publishes(self, s: DeviceSettings, action: Action) -> list[Publish]:
        """The MQTT messages that ask the device for `action`."""
        if action.field in s.command_topics:           # discovery's one-topic-per-field, raw values
            return [Publish(s.command_topics[action.field], _raw(action.value))]
        kind = dialect(s)
        base = s.command_topic or ""
        if kind == "raw" or s.command_template:    # a template is what the device takes, on any topic
            text = _raw(action.value)
            return [Publish(base, s.command_template.replace("{value}", text) if s.command_template else text)]
        if kind == "tasmota":
            command, value = self.tasmota(action)
            prefix = re.sub(r"/(POWER|Power)\d*$", "", base.rstrip("/"))     # cmnd/lampe/POWER -> cmnd/lampe
            return [Publish(f"{prefix}/{command}", value)]
        return [Publish(base, json.dumps(self.fields(s, action)))]

    def reached(self, action: Action, value: Any, attrs: Mapping[str, Any]) -> bool:
        """Whether a reading shows the device did `action`."""
        current = value if action.field == self.primary else attrs.get(action.field)
        if isinstance(action.value, (int, float)) and not isinstance(action.value, bool):
            number = _number(current)
            return number is not None and abs(number - action.value) <= self.tolerance(action.field)
        if isinstance(action.value, str) and isinstance(current, str):
            return fold(current) == fold(action.value)
        return current == action.value

    def tolerance(self, field: str) -> float:
        return 0.05

    @abstractmethod
    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        """A reading as people read it; `raw`, the payload it came from, tells the precision the
        device reported its figures with."""


def _raw(value: Any) -> str:
    if isinstance(value, bool):
        return "ON" if value else "OFF"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _field(data: Mapping[str, Any], s: DeviceSettings, name: str, default: str) -> Any:
    # A field on a topic of its own is kept under its own name (chatops.home.Home._field_update:
    # its `fields` path is where it is in that topic's JSON, and two topics may use the same one).
    path = name if name in s.field_topics else s.fields.get(name, default)
    for part in path.split("."):
        if not isinstance(data, Mapping) or part not in data:
            return None
        data = data[part]
    return data


class Light(Control):
    """On/off, brightness in % (Zigbee2MQTT sends 0-254), colour temperature in mireds (shown in K)."""

    primary = "state"

    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        data = payload_data(s, payload, "state")
        attrs = dict(before)
        if dialect(s) == "tasmota":
            state = _on(next((data[k] for k in ("POWER", "POWER1") if k in data), None))
            brightness, mireds = _number(data.get("Dimmer")), _number(data.get("CT"))
        else:
            state = _on(_field(data, s, "state", "state"))
            raw = _number(_field(data, s, "brightness", "brightness"))
            brightness = None if raw is None else round(raw * 100 / s.brightness_scale)
            mireds = _number(_field(data, s, "color_temp", "color_temp"))
        if brightness is not None:        # 9999 was shown `3937 %`, -50 `-20 %`: a device's slip, kept in range
            attrs["brightness"] = int(min(100, max(0, brightness)))
        if mireds is not None:
            attrs["color_temp"] = int(mireds)
        if state is None:
            if previous is None:
                raise PayloadError("no on/off state in the payload")
            state = previous
        return state, attrs

    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        number = parse_number(word)
        if number is not None and number[1] == "k":
            if not s.color_temp:
                raise ActionError(_("{label} has no colour temperature.").format(label=label))
            kelvin = number[0]
            if not s.min_kelvin <= kelvin <= s.max_kelvin:
                raise ActionError(_("{label} takes {low} K to {high} K; {value} K is out of range.").format(
                    label=label, low=s.min_kelvin, high=s.max_kelvin, value=format_number(kelvin, 0)))
            # Within the mireds the bulb announced: its 454 mireds read as 2200 K (rounded outward),
            # and 2200 K back is 455, one past what it takes.
            mireds = min(max(round(1_000_000 / kelvin), math.ceil(1_000_000 / s.max_kelvin)),
                         math.floor(1_000_000 / s.min_kelvin))
            return Action("color_temp", mireds)
        if number is not None and number[1] in ("", "%"):
            value = check_range(s, label, number[0], "%")
            return Action("state", False) if value == 0 else Action("brightness", value)
        on = _on(fold(word))
        if on is not None:
            return Action("state", on)
        raise ActionError(self.takes(s, label))

    def takes(self, s: DeviceSettings, label: str) -> str:
        return _("{label} takes on, off, a brightness (40%){colour}.").format(
            label=label, colour=_(" or a colour temperature (2700K)") if s.color_temp else "")

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        if action.field == "state":
            return {s.fields.get("state", "state"): "ON" if action.value else "OFF"}
        if action.field == "brightness":
            return {s.fields.get("state", "state"): "ON",
                    s.fields.get("brightness", "brightness"): round(action.value * s.brightness_scale / 100)}
        return {s.fields.get("color_temp", "color_temp"): action.value}

    def publishes(self, s: DeviceSettings, action: Action) -> list[Publish]:
        if action.field == "brightness" and "brightness" in s.command_topics:   # a raw 0-scale value
            # And ON where on_command_type says, as Home Assistant does: after the level by default
            # (a light that is off takes it and lights up), before it, or not at all (a dimmer
            # that goes to full brightness on ON).
            level = Publish(s.command_topics["brightness"], str(round(action.value * s.brightness_scale / 100)))
            on = s.command_topics.get("state", s.command_topic)
            if not on or s.on_command_type == "brightness":
                return [level]
            switch_on = Publish(on, s.payload_on)
            return [switch_on, level] if s.on_command_type == "first" else [level, switch_on]
        if action.field == "state" and action.value and s.on_command_type == "brightness" \
                and "brightness" in s.command_topics:       # ON would not do: it lights up at a level
            return [Publish(s.command_topics["brightness"], str(s.brightness_scale))]
        if dialect(s) == "raw" and action.field == "state":
            return [Publish(s.command_topics.get("state", s.command_topic or ""),
                            s.payload_on if action.value else s.payload_off)]
        return super().publishes(s, action)

    def tasmota(self, action: Action) -> tuple[str, str]:
        if action.field == "state":
            return "Power", "ON" if action.value else "OFF"
        if action.field == "brightness":
            return "Dimmer", _raw(action.value)
        return "CT", _raw(action.value)

    def reached(self, action: Action, value: Any, attrs: Mapping[str, Any]) -> bool:
        if action.field == "brightness":
            return value is True and abs(float(attrs.get("brightness", -99)) - action.value) <= 1
        if action.field == "color_temp":
            return abs(float(attrs.get("color_temp", -99)) - action.value) <= 2
        return value == action.value

    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        parts = [_(STATE_WORDS["on" if value else "off"])]
        if value and "brightness" in attrs:
            parts.append(f"{attrs['brightness']} %")
        if value and s.color_temp and attrs.get("color_temp"):
            parts.append(f"{round(1_000_000 / attrs['color_temp'], -2):.0f} K")   # 6500 K: 154 mireds, 6494 K
        return ", ".join(parts)


class Climate(Control):
    """A thermostat: the room temperature (the primary value), the target and the mode."""

    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        data = payload_data(s, payload, "current")
        attrs = dict(before)
        if dialect(s) == "tasmota":
            current, target, mode = _tasmota_thermostat(s, data)
        else:
            target = _number(_field(data, s, "target", "current_heating_setpoint"))
            mode = _field(data, s, "mode", "system_mode")
            current = _number(_field(data, s, "current", "local_temperature"))
        if target is not None:
            attrs["target"] = target
        if isinstance(mode, str) and mode:
            attrs["mode"] = mode.casefold()
        if current is None:
            # A thermostat reporting no room temperature shows its target; one that reports it on
            # a topic of its own has not yet: no reading rather than the target taken for it.
            current = previous if previous is not None else None if "current" in s.field_topics else attrs.get("target")
        if current is None:
            raise PayloadError("no temperature in the payload")
        return current, attrs

    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        number = parse_number(word)
        if number is not None and number[1] in ("", "°", "°c", "c"):
            return Action("target", check_range(s, label, number[0], s.unit or "°C"))
        wanted = fold(word)
        for mode in modes_of(s):
            if wanted in (fold(mode), fold(mode_word(mode))):
                return Action("mode", mode)
        raise ActionError(self.takes(s, label))


    def takes(self, s: DeviceSettings, label: str) -> str:
        return _("{label} takes a temperature (21°) or a mode: {modes}.").format(
            label=label, modes=", ".join(mode_word(m) for m in modes_of(s)))

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        default = {"target": "current_heating_setpoint", "mode": "system_mode"}[action.field]
        return {s.fields.get(action.field, default): action.value}

    def publishes(self, s: DeviceSettings, action: Action) -> list[Publish]:
        if dialect(s) != "tasmota" or action.field in s.command_topics:
            return super().publishes(s, action)
        # TempTargetSet1 21 / ThermostatModeSet1 1: the driver numbers its controllers from 1.
        number = s.fields.get("thermostat", "1")
        prefix = (s.command_topic or "").rstrip("/")
        if action.field == "target":
            return [Publish(f"{prefix}/TempTargetSet{number}", _raw(action.value))]
        code = next(code for code, mode in TASMOTA_MODES.items() if mode == action.value)
        return [Publish(f"{prefix}/ThermostatModeSet{number}", str(code))]

    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        unit = s.unit or "°C"

        def precise(number: Any) -> str:            # 19.25 as 19.25, a setpoint of 21 as 21
            number = float(number)
            decimals = reported_decimals(raw, number)
            return format_number(number, 1 if decimals is None else decimals)

        text = f"{precise(value)} {unit}"
        if "target" in attrs:
            text += ", " + _("target {value}").format(value=f"{precise(attrs['target'])} {unit}")
        if "mode" in attrs:
            text += f", {mode_word(attrs['mode'])}"
        return text


def _tasmota_thermostat(s: DeviceSettings, data: Mapping[str, Any]) -> tuple[float | None, float | None, str | None]:
    """(room temperature, target, mode) from a Tasmota thermostat's payloads: a command's answer on
    stat/<topic>/RESULT (`{"TempTargetSet":21.0}`, `{"ThermostatModeSet":1}`) or the telemetry on
    tele/<topic>/SENSOR, where the driver's figures sit under `Thermostat0` (its first controller)
    beside the sensors (`{"DS18B20":{"Temperature":19.5}}`). `fields.current` names the sensor's
    field when there are several; `fields.thermostat` the controller (1, 2...)."""
    number = s.fields.get("thermostat", "1")
    block = data.get(f"Thermostat{int(number) - 1}") if number.isdigit() else None
    sources = [block, data] if isinstance(block, Mapping) else [data]

    def figure(name: str) -> Any:
        for source in sources:
            for key in (f"{name}{number}", name):
                if key in source:
                    return source[key]
        return None
    target, code, current = _number(figure("TempTargetSet")), _number(figure("ThermostatModeSet")), None
    if "current" in s.fields:
        current = _number(_field(data, s, "current", ""))
    else:
        current = _number(figure("TempMeasuredSet"))
        if current is None:
            current = next((_number(v["Temperature"]) for v in data.values()
                            if isinstance(v, Mapping) and "Temperature" in v), None)
    mode = None if code is None else TASMOTA_MODES.get(int(code))
    return current, target, mode


def _takes_positions(s: DeviceSettings) -> bool:
    """Whether a cover can be sent a position: one driven by its own words on per-field topics
    (Home Assistant discovery) takes one only if it announced a topic for it."""
    return not s.command_topics or "position" in s.command_topics


class Cover(Control):
    """Shutters and blinds: the position in % open (the primary value), and whether it moves."""

    primary = "position"

    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        if dialect(s) != "tasmota" and not payload.lstrip().startswith(b"{"):
            # `closed`, `opening` bare on the state topic: Home Assistant's plain cover (MQTT discovery
            # without templates), or one configured without `payloads = "raw"`.
            data: dict[str, Any] = {s.fields.get("state", "state"): payload.decode("utf-8", "replace").strip()}
        else:
            data = payload_data(s, payload, "state")
        attrs = dict(before)
        if dialect(s) == "tasmota":
            key = s.fields.get("shutter", "Shutter1")
            shutter = data.get(key) if isinstance(data.get(key), dict) else data
            position = _number(shutter.get("Position"))
            direction = _number(shutter.get("Direction"))
            motion = None if direction is None else {1: "opening", -1: "closing"}.get(int(direction))
            moving_known = direction is not None
        else:
            position = _number(_field(data, s, "position", "position"))
            state = str(_field(data, s, "state", "state") or "").casefold()
            moving = str(_field(data, s, "moving", "moving") or "").casefold()
            motion = {"up": "opening", "down": "closing"}.get(moving) or \
                (state if state in ("opening", "closing") else None)
            moving_known = bool(moving) or state in ("opening", "closing", "stop", "stopped", "open", "closed",
                                                     "close")
            if position is None and state in ("open", "closed", "close"):
                position = 100.0 if state == "open" else 0.0
            inferred = not moving and motion is None and state not in ("stop", "stopped")
            if inferred and position is not None and previous is not None:
                # Only `state` (OPEN/CLOSE, the last order) and `position`: movement is seen from
                # the position changing between reports; an end (0 or 100 %) or the same position
                # twice is at rest.
                motion = None if position in (0.0, 100.0) or abs(position - float(previous)) < 0.5 else \
                    ("closing" if position < float(previous) else "opening")
        if moving_known:
            attrs["motion"] = motion
        if position is not None:          # 250 % open was kept as is, for alerts and history
            position = min(100.0, max(0.0, position))
        if position is None:
            if previous is None:
                raise PayloadError("no position or open/closed state in the payload")
            position = previous
        return position, attrs

    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        wanted = fold(word)
        if wanted in OPEN_WORDS:
            return Action("position", 100.0)
        if wanted in CLOSE_WORDS:
            return Action("position", 0.0)
        if wanted in STOP_WORDS:
            return Action("motion", None)
        number = parse_number(word)
        if number is not None and number[1] in ("", "%"):
            position = check_range(s, label, number[0], "%")
            if position in (0.0, 100.0) or _takes_positions(s):
                return Action("position", position)
        raise ActionError(self.takes(s, label))

    def takes(self, s: DeviceSettings, label: str) -> str:
        if not _takes_positions(s):
            return _("{label} takes open, close or stop.").format(label=label)
        return _("{label} takes open, close, stop or a position (30%).").format(label=label)

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        if action.field == "motion":
            return {s.fields.get("state", "state"): "STOP"}
        if action.value in (0.0, 100.0):
            return {s.fields.get("state", "state"): "OPEN" if action.value else "CLOSE"}
        return {s.fields.get("position", "position"): round(action.value)}

    def tasmota(self, action: Action) -> tuple[str, str]:
        if action.field == "motion":
            return "ShutterStop", ""
        if action.value in (0.0, 100.0):
            return ("ShutterOpen" if action.value else "ShutterClose"), ""
        return "ShutterPosition", _raw(action.value)

    def publishes(self, s: DeviceSettings, action: Action) -> list[Publish]:
        if action.field == "motion" and "stop" in s.command_topics:
            return [Publish(s.command_topics["stop"], s.payload_stop)]
        if action.field == "position" and action.value in (0.0, 100.0) and "state" in s.command_topics:
            return [Publish(s.command_topics["state"], s.payload_open if action.value else s.payload_close)]
        if dialect(s) == "raw" and not s.command_template and (action.field == "motion" or action.value in (0.0, 100.0)):
            # Its words (OPEN, CLOSE, STOP or its own) on the command topic; a position goes raw.
            word = s.payload_stop if action.field == "motion" else s.payload_open if action.value else s.payload_close
            return [Publish(s.command_topic or "", word)]
        published = super().publishes(s, action)
        number = s.fields.get("shutter", "Shutter1").removeprefix("Shutter")
        if dialect(s) == "tasmota" and number != "1":       # ShutterOpen2 drives the second shutter
            published = [Publish(f"{published[0].topic}{number}", published[0].payload)]
        return published

    def reached(self, action: Action, value: Any, attrs: Mapping[str, Any]) -> bool:
        """At the asked position (a cover that reports no movement of its own is at rest there);
        a stop is reached once it no longer moves."""
        if action.field == "motion":
            return not attrs.get("motion")
        position, target = float(value), float(action.value)
        if {position, target} & {0.0, 100.0}:
            # Closed and open are states of their own: 1 % open is not closed, and closed is not
            # the 1 % asked (the tolerance once answered "closed" to `volet 1%`, then it moved).
            return position == target
        return abs(position - target) <= 1

    def moving(self, attrs: Mapping[str, Any]) -> str | None:
        return attrs.get("motion")

    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        motion = attrs.get("motion")
        if motion:
            return f"{_(STATE_WORDS[motion])} ({format_number(value, 0)} %)"
        if value >= 99.5:
            return _(STATE_WORDS["open"])
        if value <= 0.5:
            return _(STATE_WORDS["closed"])
        return _("{value} % open").format(value=format_number(value, 0))


class Number(Control):
    """A value in a range (a fan speed, a volume), set with `set DEVICE VALUE`."""

    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        raw: Any = payload.decode("utf-8", "replace").strip()
        if s.value:
            raw = _field(json_object(payload), s, "value", s.value)
        number = _number(raw)
        if number is None:
            raise PayloadError(f"{str(raw)[:40]!r} is not a number")
        return number, dict(before)

    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        number = parse_number(word)
        if number is None:
            raise ActionError(self.takes(s, label))
        return Action("value", check_range(s, label, number[0], s.unit))

    def takes(self, s: DeviceSettings, label: str) -> str:
        low, high, _step = s.limits
        return _("{label} takes a number from {low} to {high}.").format(
            label=label, low=format_number(low, _decimals(low)), high=format_number(high, _decimals(high)))

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        return {s.value or "value": action.value}

    def tolerance(self, field: str) -> float:
        return 1e-6

    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        step = s.limits[2]
        return f"{format_number(value, 0 if step and float(step).is_integer() else 1)} {s.unit}".strip()


class Select(Control):
    """One of a list of options (a fan mode, a scene), set with `set DEVICE OPTION`."""

    def read(self, s: DeviceSettings, payload: bytes, previous: Any, before: Mapping[str, Any]
             ) -> tuple[Any, dict[str, Any]]:
        raw: Any = payload.decode("utf-8", "replace").strip()
        if s.value:
            raw = _field(json_object(payload), s, "value", s.value)
        if raw is None or isinstance(raw, (dict, list)) or not str(raw):
            raise PayloadError("no option in the payload")
        return str(raw)[:100], dict(before)

    def action(self, s: DeviceSettings, label: str, word: str) -> Action:
        for option in s.options:
            if fold(word) == fold(option):
                return Action("value", option)
        raise ActionError(self.takes(s, label))

    def takes(self, s: DeviceSettings, label: str) -> str:
        return _("{label} takes one of: {options}.").format(label=label, options=", ".join(s.options))

    def fields(self, s: DeviceSettings, action: Action) -> dict[str, Any]:
        return {s.value or "value": action.value}

    def show(self, s: DeviceSettings, value: Any, attrs: Mapping[str, Any], raw: str = "") -> str:
        return str(value)


CONTROLS: dict[DeviceType, Control] = {DeviceType.LIGHT: Light(), DeviceType.CLIMATE: Climate(),
                                       DeviceType.COVER: Cover(), DeviceType.NUMBER: Number(),
                                       DeviceType.SELECT: Select()}
