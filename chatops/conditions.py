"""Conditions on a device's value, shared by alert rules (`when = "> 30"`) and automations
(`when = "chambre < 19 for 10m"`, `only_if = ["presence on"]`): one parser, one meaning."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .durations import parse_duration

if TYPE_CHECKING:
    from .home import Reading

# A duration may be written out ("10 minutes", "1h 30m"): several words, up to a `for`.
_DURATION = r"\S+(?:\s+(?!for\b)\S+)*"
_CONDITION = rf"on|off|changed|offline\s+{_DURATION}|(?:>=|<=|==|=|>|<)\s*\S+"
_TRIGGER = re.compile(rf"(?P<device>.+?)\s+(?P<condition>{_CONDITION})(?:\s+for\s+(?P<hold>{_DURATION}))?", re.I)


# `= WORD` on a device whose value is on/off or a number (a switch, a shutter's position) means
# `on` or `off`; on a text value (`= open` of a sensor that says OPEN) it is that word.
STATE_WORDS = {"on": "on", "true": "on", "yes": "on", "open": "on", "opened": "on",
               "off": "off", "false": "off", "no": "off", "closed": "off", "close": "off"}


@dataclass(frozen=True, slots=True)
class Condition:
    """A parsed `when`: kind is on, off, changed, offline, or a comparison operator."""

    kind: str
    threshold: float | str | None = None

    @classmethod
    def parse(cls, text: str) -> Condition:
        text = text.strip().lower()
        if text in ("on", "off", "changed"):
            return cls(text)
        if text.startswith("offline"):
            return cls("offline", parse_duration(text.split(None, 1)[1]))
        match = re.fullmatch(r"(>=|<=|==|=|>|<)\s*(\S+)", text)
        if not match:
            raise ValueError(f"unknown condition {text!r}")
        op, value = match.groups()
        try:
            return cls(op.replace("==", "="), float(value))
        except ValueError:
            if op not in ("=", "=="):           # `> abc` once read as `= abc`, silently
                raise ValueError(f"{op} compares numbers, not {value!r}; write e.g. \"< 19\" or \"= open\"") from None
            return cls("=", value)

    def holds(self, value: float | bool | str, previous: Reading | None) -> bool:
        if self.kind == "on":
            return value is True or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)
        if self.kind == "off":              # as `on` is any number above 0: a cover closed, a plug drawing 0 W
            return value is False or (isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0)
        if self.kind == "changed":
            return previous is not None and previous.value != value
        if self.kind == "=":
            if not isinstance(self.threshold, str):
                return _number(value) == self.threshold
            state = STATE_WORDS.get(self.threshold) if not isinstance(value, str) else None
            if state is not None:                # `heater = on`, `volet = open`: as `on` (a value is no word)
                return Condition(state).holds(value, previous)
            return str(value).casefold() == self.threshold.casefold()
        number = _number(value)
        if number is None or not isinstance(self.threshold, float):
            return False
        return {">": number > self.threshold, "<": number < self.threshold,
                ">=": number >= self.threshold, "<=": number <= self.threshold}[self.kind]

    def still_holds(self, value: float | bool | str, hysteresis: float) -> bool:
        """Whether a threshold that held keeps holding: it lets go only `hysteresis` beyond the
        threshold (`< 19` with 0.5 re-arms at 19.5), so a value wobbling around it fires once."""
        number = _number(value)
        if hysteresis <= 0 or number is None or not isinstance(self.threshold, float):
            return self.holds(value, None)
        if self.kind in ("<", "<="):
            return number < self.threshold + hysteresis
        if self.kind in (">", ">="):
            return number > self.threshold - hysteresis
        return self.holds(value, None)


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


@dataclass(frozen=True, slots=True)
class Trigger:
    """`DEVICE CONDITION [for DURATION]`, as an automation's `when` or an `only_if` entry."""

    device: str
    condition: Condition
    hold: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Trigger:
        """ValueError names the forms when `text` is not one."""
        match = _TRIGGER.fullmatch(" ".join(text.split()))
        if not match:
            raise ValueError(f"{text!r} is not DEVICE CONDITION [for DURATION]; write e.g. \"hall_motion on\", "
                             "\"chambre < 19\", \"hall_motion off for 10m\" or \"salon offline 10m\"")
        condition_text = match.group("condition")
        if condition_text.lower().startswith("offline"):
            parse_duration(condition_text.split(None, 1)[1])
        condition = Condition.parse(condition_text)
        hold = parse_duration(match.group("hold")) if match.group("hold") else 0.0
        if hold and condition.kind in ("changed", "offline"):
            raise ValueError(f"{text!r}: 'for' applies to a state that lasts (on, off, < N, > N), "
                             f"not to {condition.kind}")
        return cls(match.group("device"), condition, hold)
