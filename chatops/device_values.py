"""The values people give devices in chat: a number with its unit (`21,5°`, `40 %`), a state word,
and the range a device takes, checked with an answer that gives the range."""

from __future__ import annotations

import math
import re
from typing import Any

from .device_settings import DeviceSettings
from .i18n import _, format_number

_NUMBER = re.compile(r"^(-?\d+(?:[.,]\d+)?)\s*(%|°c?|°f|c|k)?$", re.IGNORECASE)


class ActionError(ValueError):
    """A chat word the device cannot take; the text says what it takes."""


PLAUSIBLE = 1e15      # beyond it no sensor reads anything: 1e308 made a day's average `inf` in history


def finite(value: Any) -> float | None:
    """`value` as a plausible finite number, or None (a payload's `"NaN"`, a word, `true`:
    float(True) is 1.0, and a thermostat's `"local_temperature": true` read 1 °C)."""
    if isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and abs(number) < PLAUSIBLE else None


def state_word(value: Any) -> bool | None:
    """`value` as on (True) or off (False): a bool, on/off, true/false, 1/0; None otherwise."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().casefold()
    if text in ("on", "true", "1"):
        return True
    if text in ("off", "false", "0"):
        return False
    return None


_PLAIN_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")


def native_value(value: Any) -> Any:
    """A reading stored as text (`"True"`, `"45.0"`, `"open"`) as JSON would have it (true, 45,
    "open"): what Node-RED and Home Assistant templates compare against. Only a plain number
    becomes one: `"0123"` (a code) and `"1_000"` stay text."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, str):
        return value
    if value in ("True", "False"):
        return value == "True"
    if not _PLAIN_NUMBER.fullmatch(value):
        return value
    number = float(value)
    return int(number) if number.is_integer() else number


def parse_number(word: str) -> tuple[float, str] | None:
    """(`21.5`, `°`) from `21,5°`; None when the word is no number."""
    match = _NUMBER.match(word.strip())
    if match is None:
        return None
    return float(match.group(1).replace(",", ".")), (match.group(2) or "").casefold()


def check_range(settings: DeviceSettings, label: str, value: float, unit: str = "") -> float:
    """`value` snapped to the device's step; ActionError giving the range when outside it."""
    low, high, step = settings.limits
    if not low <= value <= high:
        shown_step = _(" in steps of {step}").format(step=format_number(step, decimals(step))) if step else ""
        raise ActionError(_("{label} takes {low} to {high}{unit}{step}; {value} is out of range.").format(
            label=label, low=format_number(low, decimals(low)), high=format_number(high, decimals(high)),
            unit=f" {unit}" if unit else "", step=shown_step, value=format_number(value, decimals(value))))
    if step:
        # Half up, as people round (12.5 % is 13 %): round() goes to the even step (12), 13.5 to 14.
        value = round(math.floor((value - low) / step + 0.5) * step + low, 6)
    return value


def decimals(value: float) -> int:
    return 0 if float(value).is_integer() else 1


def takes(device: Any, value: str) -> bool:
    """Whether `device` takes `value` as it is written (`Fur Elise`, a select's option with a
    space; not `a bit warmer`): what decides where a device's name ends in a line of words."""
    try:
        device.action(value)
    except Exception:           # ActionError, or anything a device's own parsing raises: not taken
        return False
    return True


def format_value(value: float | bool | str, unit: str = "", decimals: int | None = None) -> str:
    """A value as people read it; a number with `decimals` digits (one when not known)."""
    if isinstance(value, bool):
        return _("ON") if value else _("OFF")
    if isinstance(value, float):
        shown = format_number(value, 1 if decimals is None else decimals)
        return f"{shown} {unit}".strip() if unit else shown
    return f"{value} {unit}".strip()
