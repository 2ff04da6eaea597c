"""When things happen: the schedule phrases of chat and config, as recurrences in the hub's timezone.

`at 06:30`, `every weekday at 06:30`, `every monday,friday at 7:00`, `every 15m`, `in 10m`,
`at 2026-12-24 18:00` and `cron "30 6 * * 1-5"` all become one `Recurrence`; so do their French
forms (`dans 10m`, `à 6h30`, `tous les jours à 06:30`, `chaque lundi,vendredi à 7h`, `toutes les
15m`, `tous les jours ouvrés à 06:30`). Calendar
recurrences are cron expressions evaluated by cronsim (a kept library) on zoneinfo datetimes,
so a daily 02:30 runs once on the day the clocks spring forward (at 03:00) and once on the day
they fall back; fixed intervals are counted in real seconds and ignore the calendar.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError

from .auth import fold
from .durations import format_duration, leading_duration, unit_of
from .i18n import N_, _, ngettext

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
FRENCH_DAYS = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
_DAY_WORDS = {**{d: i for i, d in enumerate(DAYS)}, **{d[:3]: i for i, d in enumerate(DAYS)},
              **{d: i for i, d in enumerate(FRENCH_DAYS)}}
_GROUPS = {"day": "*", "weekday": "1-5", "weekdays": "1-5", "weekend": "0,6", "weekends": "0,6",
           "jour": "*", "jours": "*", "week-end": "0,6", "week-ends": "0,6"}
_WORKING = ("ouvre", "ouvres", "ouvrable", "ouvrables")   # `jours ouvrés`: Monday to Friday
# The verbs of the phrases, French ones beside English. The
# timer commands take their aliases from here (`other_words`), so the grammar is written once.
VERBS = {"in": "in", "dans": "in", "at": "at", "à": "at", "every": "every", "chaque": "every",
         "tous": "every", "toutes": "every", "cron": "cron", "tomorrow": "tomorrow", "demain": "tomorrow"}
_MEANING = {fold(word): verb for word, verb in VERBS.items()}      # what a typed word means: `a` is `à`


def other_words(verb: str) -> list[str]:
    """The other words that mean `verb` (`every`: chaque, tous, toutes)."""
    return [word for word, meaning in VERBS.items() if meaning == verb and word != verb]
_SPOKEN = {"midi": "12:00", "noon": "12:00", "minuit": "00:00", "midnight": "00:00"}
_CLOCK = re.compile(r"(\d{1,2})(?::(\d{2})|h(\d{2})?)$")
_TWELVE = re.compile(r"(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?")         # 7am, 7:30pm, 12 a.m.
FORMS = N_('in 10m CMD, at 06:30 CMD, tomorrow at 07:00 CMD, at 2026-12-24 18:00 CMD, every day at 06:30 CMD, '
           'every weekday at 06:30 CMD, every monday,friday at 7:00 CMD, every 15m CMD, cron "30 6 * * 1-5" CMD')


class ScheduleError(ValueError):
    """A schedule phrase that cannot be understood; the message says what to write."""


def _zone_meant(name: str) -> str | None:
    """The IANA zone `name` was probably meant to be (`europe/paris`: Europe/Paris), or None."""
    from zoneinfo import available_timezones

    known = sorted(available_timezones())
    folded = {z.casefold(): z for z in known}
    if name.strip().casefold() in folded:
        return folded[name.strip().casefold()]
    close = difflib.get_close_matches(name.strip(), known, n=1, cutoff=0.8)
    return close[0] if close else None


def zone(name: str | None) -> tzinfo:
    """The timezone `name` (IANA, e.g. Europe/Paris), or the system's when None.

    The system's zone is read as a zoneinfo zone (TZ, then /etc/localtime), never as a fixed
    offset, so daylight-saving changes are known ahead of time."""
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            meant = _zone_meant(name)
            if meant:
                raise ScheduleError(_("unknown timezone {name!r}; did you mean \"{meant}\"?").format(
                    name=name, meant=meant)) from None
            # The config's error adds its example (`timezone = "Europe/Paris"`): not said twice.
            raise ScheduleError(_("unknown timezone {name!r}; write an IANA name, Region/City").format(name=name)) from None
    env = os.environ.get("TZ", "").lstrip(":")
    if env:
        try:
            return ZoneInfo(env)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    localtime = Path("/etc/localtime")
    try:
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            return ZoneInfo(target.split("zoneinfo/", 1)[1])
        with localtime.open("rb") as handle:
            return ZoneInfo.from_file(handle, key="localtime")
    except (OSError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Recurrence:
    """How a timer repeats: `once` (no repeat), `every` N seconds, or a `cron` expression."""

    kind: str                       # once | every | cron
    every: float = 0.0
    cron: str = ""
    label: str = ""                 # the phrase people wrote, shown by `timers`
    relative: bool = False          # a `once` counted from when it was set (`in 10m`), not a calendar time

    def encode(self) -> str:
        """The form stored in SQLite."""
        if self.kind == "every":
            return f"every:{self.every:g}"
        if self.kind == "cron":
            return f"cron:{self.cron}"
        return "once:in" if self.relative else "once"

    @classmethod
    def decode(cls, text: str, label: str = "") -> Recurrence:
        kind, _, rest = text.partition(":")
        if kind == "every":
            return cls("every", every=float(rest), label=label)
        if kind == "cron":
            return cls("cron", cron=rest, label=label)
        return cls("once", label=label, relative=rest == "in")

    def after(self, moment: float, due: float, tz: tzinfo) -> float | None:
        """The first run strictly after `moment` (epoch seconds); None for a one-off.

        An interval keeps its phase from `due` (the run just made), so a late run does not
        shift the ones after it."""
        if self.kind == "every":
            steps = max(1, int((moment - due) // self.every) + 1)
            return due + steps * self.every
        if self.kind == "cron":
            start = datetime.fromtimestamp(moment, tz)
            return next(CronSim(self.cron, start)).timestamp()
        return None


@dataclass(frozen=True, slots=True)
class Plan:
    """A parsed schedule phrase: the first run, the recurrence, and the words left (the command)."""

    first: float
    recurrence: Recurrence
    rest: list[str]


def parse_clock(word: str) -> tuple[int, int]:
    """`06:30`, `6:30`, `7h`, `7h30`, `7am`, `7:30pm`, `midi`, `noon` as (hour, minute)."""
    word = _SPOKEN.get(fold(word.strip()), word)
    twelve = _TWELVE.fullmatch(word.strip().lower())
    if twelve and 1 <= int(twelve.group(1)) <= 12:
        hour = int(twelve.group(1)) % 12 + (12 if twelve.group(3) == "p" else 0)
        word = f"{hour}:{twelve.group(2) or '00'}"
    if re.fullmatch(r"\d{1,2}", word.strip()) and int(word) <= 23:
        return int(word), 0                 # `every day at 7`: the hour, on a 24-hour clock (the answer says when)
    match = _CLOCK.fullmatch(word.strip().lower())
    if not match:
        raise ScheduleError(_("{word!r} is not a time of day; write e.g. 06:30 or 7h30").format(word=word))
    hour = int(match.group(1))
    minute = int(match.group(2) or match.group(3) or 0)
    if hour > 23 or minute > 59:
        raise ScheduleError(_("{word!r} is not a time of day (00:00 to 23:59)").format(word=word))
    return hour, minute


def _is_clock(word: str) -> bool:
    try:
        parse_clock(word)
    except ScheduleError:
        return False
    return True


def _clock_words(words: list[str], at: int) -> tuple[int, int, int]:
    """The time of day at `words[at]`, written in one word (`19:00`, `7pm`) or two (`7 pm`), and
    the part of the day a French speaker adds (`7h du matin`, `8h du soir`, `3h de l'après-midi`):
    (hour, minute, the index of the word after it)."""
    hour, minute, after = _clock_at(words, at)
    part = " ".join(fold(word) for word in words[after:after + 2])
    if part in ("du matin", "du soir", "de l'apres-midi", "de l’apres-midi", "de l'aprem"):
        if not 1 <= hour <= 12:             # `19h du matin`: which one?
            raise ScheduleError(_("{when} is not a time of day; write e.g. 7h du soir or 19h").format(
                when=" ".join(words[at:after + 2])))
        if part != "du matin" and hour < 12:
            hour += 12
        elif part == "du matin" and hour == 12:
            hour = 0
        after += 2
    return hour, minute, after


def _clock_at(words: list[str], at: int) -> tuple[int, int, int]:
    """`_clock_words` without the part of the day."""
    if at + 1 < len(words) and words[at + 1].lower().replace(".", "") in ("am", "pm"):
        hour, minute = parse_clock(words[at] + words[at + 1])
        return hour, minute, at + 2
    if at + 1 < len(words) and words[at].isdigit() and fold(words[at + 1]) in ("heure", "heures"):   # `7 heures`
        words = [*words[:at + 1], "h", *words[at + 2:]]
    if at + 1 < len(words) and words[at].isdigit() and words[at + 1].lower() == "h":    # `19 h`, `7 h 30`
        taken = 3 if at + 2 < len(words) and re.fullmatch(r"\d{2}", words[at + 2]) else 2
        hour, minute = parse_clock("".join(words[at:at + taken]))
        return hour, minute, at + taken
    hour, minute = parse_clock(words[at])
    return hour, minute, at + 1


def next_day_named(day: str, now: float, tz: tzinfo) -> str:
    """The date (YYYY-MM-DD) of the next `day` (`monday`, `lundi`) after today, in `tz`."""
    today = _local(now, tz).date()
    ahead = (_DAY_WORDS[fold(day)] - today.weekday()) % 7 or 7
    return (today + timedelta(days=ahead)).isoformat()


def _tomorrow(hour: int, minute: int, now: float, tz: tzinfo) -> float:
    """The first `hour:minute` from tomorrow's start, local time (cronsim moves it past a DST gap)."""
    day = _local(now, tz) + timedelta(days=1)
    start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(seconds=1)
    return next(CronSim(f"{minute} {hour} * * *", start)).timestamp()


_CRON_FIELDS = {"minute": N_("minute"), "hour": N_("hour"), "day-of-month": N_("day"), "month": N_("month"),
                "day-of-week": N_("weekday")}


def cron_expression(text: str) -> str:
    """`text` checked as a cron expression (cronsim's syntax); ScheduleError says why not."""
    expression = " ".join(text.split())
    try:
        if len(expression.split()) != 5:       # cronsim also takes a sixth field, seconds: not here
            raise ValueError("not 5 fields")
        CronSim(expression, datetime(2026, 1, 1))
    except (CronSimError, ValueError) as exc:
        fields = len(expression.split())
        field = str(exc).lower().removeprefix("bad ").strip(" .")     # cronsim: "Bad minute", "Bad day-of-week"
        problem = ngettext("it has {count} field, not 5", "it has {count} fields, not 5", fields).format(
            count=fields) if fields != 5 else \
            _("its {field} is out of range or not a number").format(field=_(_CRON_FIELDS.get(field, field)))
        if fields == 5 and _day_not_in_month(expression):
            minute, hour, day, month, _weekday = expression.split()
            problem = _("day {day} never comes in month {month}").format(day=day, month=month)
        raise ScheduleError(_("cron {expression!r}: {problem}. Its 5 fields are minute 0-59, hour 0-23, day 1-31, "
                              "month 1-12 and weekday 0-6, e.g. \"30 6 * * 1-5\"").format(
            expression=expression, problem=problem)) from None
    return expression


def _day_not_in_month(expression: str) -> bool:
    """`30 6 30 2 *`: each field right by itself, the day never in the month (cronsim refuses it
    as a bad day, which would send the user looking at a day within 1-31)."""
    fields = expression.split()
    try:
        CronSim(" ".join([*fields[:3], "*", fields[4]]), datetime(2026, 1, 1))
        CronSim(" ".join([*fields[:2], "*", *fields[3:]]), datetime(2026, 1, 1))
    except (CronSimError, ValueError):
        return False
    return True


def _day(word: str) -> str:
    """One day's name (`lundis` as `lundi`: `tous les lundis`)."""
    return word[:-1] if word not in _DAY_WORDS and word.endswith("s") and word[:-1] in _DAY_WORDS else word


def _days(word: str) -> str:
    """`day`, `weekday`, `monday,friday`, `mon-fri`, `jours`, `lundis` as a cron day-of-week field."""
    word = fold(word).strip(",")
    if word in _GROUPS:
        return _GROUPS[word]
    parts = []
    for part in word.split(","):
        ends = [_day(e) for e in part.split("-")]
        if len(ends) > 2 or any(e not in _DAY_WORDS for e in ends):
            wrong = next((e for e in ends if e not in _DAY_WORDS), part)
            if len(ends) <= 2 and (close := difflib.get_close_matches(wrong, [*_DAY_WORDS, *_GROUPS], 1, 0.75)):
                raise ScheduleError(_("{part!r} is not a day: did you mean {day}?").format(part=wrong, day=close[0]))
            raise ScheduleError(_("{part!r} is not a day; write day, weekday, weekend, monday or monday,friday").format(part=part))
        numbers = [(_DAY_WORDS[e] + 1) % 7 for e in ends]   # cron counts from Sunday = 0
        if len(numbers) == 2 and numbers[0] > numbers[1]:  # sat-sun, fri-mon: across the week's end
            parts += [f"{numbers[0]}-6", f"0-{numbers[1]}" if numbers[1] else "0"]
            continue
        parts.append("-".join(str(n) for n in numbers))
    return ",".join(parts)


def _local(moment: float, tz: tzinfo) -> datetime:
    return datetime.fromtimestamp(moment, tz)


def parse_plan(said: str, words: list[str], now: float, tz: tzinfo) -> Plan:
    """The schedule at the head of `words` for the verb `said` (in, at, every, cron, or a French
    one: dans, à, chaque, tous, toutes), and the words after it. A repeating schedule's label is
    the phrase as written (`tous les jours à 06:30`), since it is what people type back.

    Raises ScheduleError with the forms to use."""
    verb = _MEANING.get(fold(said), fold(said))
    if verb == "in":
        if not words:
            raise ScheduleError(_("in what? write e.g. in 10m snap entree"))
        try:
            delay, taken = leading_duration(words)
        except ValueError as exc:
            raise ScheduleError(str(exc)) from None
        if delay <= 0:
            raise ScheduleError(_("the delay must be more than 0"))
        return Plan(now + delay, Recurrence("once", label=f"once, set for in {format_duration(delay)}", relative=True), words[taken:])
    if verb == "at":
        if words and re.fullmatch(r"\d{4}-\d{2}-\d{2}", words[0]):
            if len(words) < 2:
                raise ScheduleError(_("at which time? write e.g. at 2026-12-24 18:00 chauffage on"))
            hour, minute, after = _clock_words(words, 1)
            try:
                day = datetime.strptime(words[0], "%Y-%m-%d")
            except ValueError:
                raise ScheduleError(_("{word!r} is not a date (YYYY-MM-DD)").format(word=words[0])) from None
            expression = f"{minute} {hour} {day.day} {day.month} *"
            first = _first_on(expression, day, tz)
            if first is None and day.year > _local(now, tz).year:         # year 9999: past the calendar's end
                raise ScheduleError(_("{text!r} is more than a hundred years").format(text=" ".join(words[:after])))
            if first is None or first <= now:
                raise ScheduleError(_("{when} is in the past").format(when=" ".join(words[:after])))
            if first - now > 100 * 365.25 * 86400:          # as far as `in` goes
                raise ScheduleError(_("{text!r} is more than a hundred years").format(text=" ".join(words[:after])))
            return Plan(first, Recurrence("once", label="once"), words[after:])
        if not words:
            raise ScheduleError(_("at what time? write e.g. at 06:30 chauffage on"))
        hour, minute, after = _clock_words(words, 0)
        if after < len(words) and _MEANING.get(fold(words[after])) == "tomorrow":     # at 7:00 tomorrow
            return Plan(_tomorrow(hour, minute, now, tz), Recurrence("once", label="once"), words[after + 1:])
        first = next(CronSim(f"{minute} {hour} * * *", _local(now, tz))).timestamp()
        return Plan(first, Recurrence("once", label="once"), words[after:])
    if verb == "tomorrow":                                      # tomorrow [at] 7:00, demain [à] 7h
        if words and _MEANING.get(fold(words[0])) == "at":
            words = words[1:]
        if not words:
            raise ScheduleError(_("{said} at what time? write e.g. {said} {at} 07:00 chauffage on").format(
                said=said, at="at" if fold(said) == "tomorrow" else "à"))
        hour, minute, after = _clock_words(words, 0)
        return Plan(_tomorrow(hour, minute, now, tz), Recurrence("once", label="once"), words[after:])
    if verb == "every":
        said = said.lower()
        if words and fold(words[0]) == "les":           # tous les jours, toutes les 15m
            said, words = f"{said} {words[0]}", words[1:]
        if not words:
            raise ScheduleError(_("every what? write e.g. every day at 06:30 CMD or every 15m CMD"))
        first = fold(words[0])
        bare = words[0].lower() if unit_of(first) in ("s", "m", "h") else None
        if bare is not None:                               # toutes les heures, every minute
            words = ["1" + first, *words[1:]]
        if first[:1].isdigit() or unit_of(first) in ("s", "m", "h") or first in ("un", "une", "a", "an"):
            try:
                every, taken = leading_duration(words)
            except ValueError as exc:
                raise ScheduleError(str(exc)) from None
            if every < 1:                                  # `every 0m`: the limits are the callers' (timers: 1m)
                raise ScheduleError(_("{every} is no interval to repeat at: give a duration such as 1m").format(
                    every=" ".join(words[:taken])))
            if taken < len(words) and _MEANING.get(fold(words[taken])) == "at":     # every 2 days at 7:00
                raise ScheduleError(_("{said} {every} counts from now and takes no time of day; write {said} day at "
                                      "07:00, or cron \"0 7 */2 * *\" for every other day").format(
                    said=said, every=" ".join(words[:taken])))
            label = f"{said} {bare or format_duration(every)}"      # not "toutes les 1h"
            return Plan(now + every, Recurrence("every", every=every, label=label), words[taken:])
        at = next((i for i, word in enumerate(words) if _MEANING.get(fold(word)) == "at"), None)
        if at != 1 and len(words) > 1 and not words[1].isdigit() and _is_clock(words[1]):
            # `every day 06:30 chauffage on`: the time said without its `at`.
            words, at = [words[0], "at" if said.startswith("every") else "à", *words[1:]], 1
        named = [w.strip(",") for w in words[:1 if at is None else at] if fold(w) not in ("et", "and") and w.strip(",")]
        when = " ".join(words[:at]).lower() if at else words[0].lower()
        if not named:
            raise ScheduleError(_("{said} which days? write e.g. every weekday at 06:30 CMD").format(said=said))
        if len(named) == 2 and _days(named[0]) == "*" and fold(named[1]) in _WORKING:
            days = "1-5"                                     # tous les jours ouvrés
        else:
            days = _days(",".join(named))
            if len(named) > 1 and at is not None and len(named) == at:     # `Monday, Friday` (the router took the comma)
                when = ",".join(n.lower() for n in named)
        if at is None or at + 1 >= len(words):
            at_word = "at" if said.startswith("every") else "à"
            raise ScheduleError(_("{said} {when} at what time? write e.g. {said} {when} {at} 06:30 CMD").format(
                said=said, when=when, at=at_word))
        hour, minute, after = _clock_words(words, at + 1)
        expression = f"{minute} {hour} * * {days}"
        label = f"{said} {when} {words[at].lower()} {hour:02d}:{minute:02d}"
        try:
            first_run = next(CronSim(expression, _local(now, tz))).timestamp()
        except (CronSimError, ValueError, StopIteration):      # a day list no check above foresaw
            raise ScheduleError(_("{part!r} is not a day; write day, weekday, weekend, monday or monday,friday").format(
                part=when)) from None
        return Plan(first_run, Recurrence("cron", cron=expression, label=label), words[after:])
    if verb == "cron":
        if not words:
            raise ScheduleError(_('write cron "30 6 * * 1-5" CMD (the expression in double quotes)'))
        if len(words) >= 6 and len(words[0].split()) == 1:
            unquoted = " ".join(words[:5])            # `cron 30 6 * * 1-5 chauffage on`: the quotes forgotten
            try:
                cron_expression(unquoted)
            except ScheduleError:
                pass
            else:
                raise ScheduleError(_('put the 5 fields in double quotes: cron "{expression}" {command}').format(
                    expression=unquoted, command=" ".join(words[5:])))
        expression = cron_expression(words[0])
        first = next(CronSim(expression, _local(now, tz))).timestamp()
        return Plan(first, Recurrence("cron", cron=expression, label=f'cron "{expression}"'), words[1:])
    raise ScheduleError(_("unknown schedule {verb!r}; forms: {forms}").format(verb=verb, forms=_(FORMS)))


def _first_on(expression: str, day: datetime, tz: tzinfo) -> float | None:
    """The first run of `expression` on `day` (the date only), DST gaps included."""
    try:
        start = datetime(day.year, day.month, day.day, tzinfo=tz) - timedelta(seconds=1)
        run = next(CronSim(expression, start), None)
        return run.timestamp() if run is not None else None
    except (OverflowError, ValueError):      # 0001-01-01 (before the calendar's start), 9999-12-31
        return None


def parse_phrase(text: str, now: float, tz: tzinfo) -> Plan:
    """A whole config phrase (`every weekday at 06:30`, `cron "..."`) with nothing after it."""
    words = split_phrase(text)
    if not words:
        raise ScheduleError(_("empty schedule; forms: {forms}").format(forms=_(FORMS)))
    plan = parse_plan(words[0], words[1:], now, tz)
    if plan.rest:
        raise ScheduleError(_("unexpected {words!r} after the schedule").format(words=" ".join(plan.rest)))
    return plan


def split_phrase(text: str) -> list[str]:
    """Words of a phrase; a double-quoted part (a cron expression) is one word."""
    return [a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', text)]


def in_window(text: str, moment: float, tz: tzinfo) -> bool:
    """Whether `moment` is inside `between HH:MM and HH:MM` (which may span midnight)."""
    start, end = window(text)
    local = _local(moment, tz)
    minutes = local.hour * 60 + local.minute
    return start <= minutes < end if start <= end else minutes >= start or minutes < end


def is_window(entry: str) -> bool:
    """Whether an `only_if` entry is a time window (`between …`, `entre …`), not a device's state."""
    words = entry.split(maxsplit=1)
    return bool(words) and fold(words[0]) in ("between", "entre")


def window(text: str) -> tuple[int, int]:
    """`between 22:00 and 06:00` (`entre 22h et 6h`) as (start, end) minutes of the day;
    ScheduleError when it is not one."""
    match = re.fullmatch(r"(?:between|entre)\s+(\S+)\s+(?:and|et)\s+(\S+)", text.strip().lower())
    if not match:
        raise ScheduleError(_("{text!r} is not a time window; write \"between 22:00 and 06:00\"").format(text=text))
    (h1, m1), (h2, m2) = parse_clock(match.group(1)), parse_clock(match.group(2))
    if (h1, m1) == (h2, m2):
        raise ScheduleError(_("{text!r} is an empty window: it would never hold; give two different times, "
                              "e.g. \"between 22:00 and 06:00\"").format(text=text))
    return h1 * 60 + m1, h2 * 60 + m2


WEEKDAYS = (N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))   # not the C locale's


def local_time(moment: float, tz: tzinfo, now: float | None = None) -> str:
    """`06:30` today, `Sat 06:30` within a week, `2026-12-24 18:00` further away. A moment off the
    whole minute (`in 10m`, `every 15m`, `for 2h` count from when they were said) shows its
    seconds, `04:48:17`: a timer reads the same in its answer and in every listing after."""
    try:
        local = _local(moment, tz)
    except (ValueError, OverflowError, OSError):    # a row stored before durations were bounded
        return _("after the year 9999")
    clock = "%H:%M:%S" if local.second or local.microsecond else "%H:%M"
    if now is not None:
        today = _local(now, tz).date()
        if local.date() == today:
            return local.strftime(clock)
        if 0 < (local.date() - today).days < 7:
            return f"{_(WEEKDAYS[local.weekday()])} {local.strftime(clock)}"
    return local.strftime(f"%Y-%m-%d {clock}")
