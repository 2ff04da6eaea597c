"""[[alerts]] and [[automations]]: the rules the house follows, checked when the config is read."""

from __future__ import annotations

import contextlib
import re
import string
from collections.abc import Iterator
from enum import Enum
from typing import Any

from .i18n import N_
from .schema import Field, field_validator, model_validator

from .config_base import Duration, Section
from .durations import parse_duration

AT_FORMS = ('every day at 06:30, every weekday at 06:30, every monday,friday at 7:00, every 15m, '
            'cron "30 6 * * 1-5"')


class Severity(str, Enum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


TEMPLATE_FIELDS = ("device", "value", "unit", "time", "rule", "severity")


def template_problem(template: str | None) -> str | None:
    """Why an alert message template cannot be rendered, or None when it can."""
    if template is None:
        return None
    try:
        names = [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError as exc:
        return f"{exc} (write {{{{ and }}}} for literal braces)"
    unknown = [n for n in names if n not in TEMPLATE_FIELDS]
    if unknown:
        return (f"unknown field {{{unknown[0]}}}; the fields are "
                + ", ".join("{" + f + "}" for f in TEMPLATE_FIELDS))
    return None


_CONDITION = re.compile(r"^(on|off|changed|[<>]=?\s*-?\d+(\.\d+)?|==?\s*\S+|offline\s+\S.*)$", re.I)


# A rule's own words are said as written; these defaults, the hub's, in each reader's language.
DEFAULT_MESSAGE = N_("{device} is {value}{unit}")
DEFAULT_CLEARED = N_("{device} is back to normal ({value}{unit})")


class AlertSettings(Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$", examples=['"smoke"'])
    device: str = Field(examples=['"kitchen_smoke"'])
    when: str = Field("on", examples=['"on"', '"> 30"', '"offline 10m"'])
    message: str = Field(DEFAULT_MESSAGE, examples=['"Smoke detected in the kitchen!"'])
    cleared: str | None = Field(DEFAULT_CLEARED, examples=['"No more smoke in the kitchen"'])
    severity: Severity = Severity.WARNING
    notify: list[str] = Field(min_length=1, examples=['["alice", "NETWORK:ADDRESS"]'])
    repeat: Duration | None = Field(None, examples=['"5m"'])
    cooldown: Duration = Field(60.0, ge=0, examples=['"1m"'])
    snapshot: str | None = Field(None, examples=['"entree"'])

    @model_validator(mode="after")
    def _check_when(self) -> AlertSettings:
        for key in ("message", "cleared"):
            problem = template_problem(getattr(self, key))
            if problem:
                raise ValueError(f"{key} = {getattr(self, key)!r}: {problem}")
        if not _CONDITION.match(self.when.strip()):
            raise ValueError(f"when = {self.when!r} is not a condition; write \"on\", \"off\", "
                             "\"> 30\", \"< 5\", \"changed\" or \"offline 10m\"")
        if self.when.strip().lower().startswith("offline"):
            try:
                parse_duration(self.when.split(None, 1)[1])
            except ValueError as exc:
                raise ValueError(f"when = {self.when!r}: {exc}") from None
        return self

    @property
    def repeat_every(self) -> float | None:
        """Repeat interval: as configured, else 5 min for critical alerts, else none."""
        if self.repeat is not None:
            return self.repeat or None
        return 300.0 if self.severity is Severity.CRITICAL else None


class AutomationSettings(Section):
    """[[automations]]: `when` a device condition holds (or `at` a schedule), run `do` as `owner`."""

    name: str = Field(min_length=1, max_length=60, pattern=r"^[\w][\w .-]*$", examples=['"hall light"'])
    when: str | None = Field(None, examples=['"hall_motion on"', '"chambre < 19"', '"hall_motion off for 10m"'])
    at: str | None = Field(None, examples=['"every weekday at 06:30"'])
    do: list[str] = Field(min_length=1, examples=['["switch hall_light on"]'])
    only_if: list[str] = Field(default_factory=list, examples=['["presence on", "between 05:00 and 09:00"]'])
    hysteresis: float = Field(0.0, ge=0, examples=["0.5"])
    notify: list[str] = Field(default_factory=list, examples=['["owner"]'],
                              description="told what was done: users, addresses, or \"owner\"")
    owner: str | None = Field(None, examples=['"alice"'])
    enabled: bool = True
    max_runs_per_minute: int | None = Field(None, ge=1, examples=["10"])

    @field_validator("at", mode="before")
    @classmethod
    def _bare_cron(cls, at: Any) -> Any:
        """`at = "30 6 * * 1-5"`, five cron fields as crontab writes them: taken as cron "…"."""
        fields = at.split() if isinstance(at, str) else []
        if len(fields) == 5 and all(re.fullmatch(r"[\d*/,\-]+", f) for f in fields[:2]) and \
                all(re.fullmatch(r"[\dA-Za-z*/,\-]+", f) for f in fields[2:]):     # `mon,wed,fri`, `jan-mar`
            return f'cron "{at.strip()}"'
        return at

    @model_validator(mode="after")
    def _check_trigger(self) -> AutomationSettings:
        from .conditions import Trigger
        from .schedule import is_window, parse_phrase, window, zone

        if (self.when is None) == (self.at is None):
            raise ValueError("give exactly one of when = \"DEVICE CONDITION\" or at = \"every day at 06:30\"")
        # Each problem names its key and what was written (two keys can hold the same mistake:
        # a 25:00 in `at` and in `only_if`); all of them at once, not one per `chatops check`.
        problems: list[str] = []
        if self.when is not None:
            with _noting(problems, f"when = {self.when!r}"):
                Trigger.parse(self.when)
        if self.at is not None:
            try:
                plan = parse_phrase(self.at, 0.0, zone("UTC"))
                if plan.recurrence.kind == "once":
                    problems.append(f"at = {self.at!r} runs once; an automation repeats: write "
                                    "\"every day at 06:30\", \"every 15m\" or cron \"...\"")
            except ValueError as exc:
                # The chat's advice (`… CMD`, and forms that run once) followed as written was refused again.
                said = str(exc).replace(" CMD", "").split("; forms:")[0]
                problems.append(f"at = {self.at!r}: {said}; an automation's forms: {AT_FORMS}")
        for entry in self.only_if:
            with _noting(problems, f"only_if {entry!r}"):
                if is_window(entry):
                    window(entry)
                    continue
                trigger = Trigger.parse(entry)
                if trigger.hold or trigger.condition.kind in ("changed", "offline"):
                    raise ValueError("write a state to check now, e.g. \"presence on\" or \"salon > 20\"")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@contextlib.contextmanager
def _noting(problems: list[str], key: str) -> Iterator[None]:
    """A ValueError raised inside, noted in `problems` with `key` (what the config says) in front."""
    try:
        yield
    except ValueError as exc:
        problems.append(f"{key}: {exc}")


class AutomationDefaults(Section):
    """[automations_defaults]: what every automation has unless it says otherwise."""

    owner: str | None = Field(None, examples=['"owner"'])
    max_runs_per_minute: int = Field(10, ge=1, examples=["10"])
