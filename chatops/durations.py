"""Human durations ("90s", "5m", "1h30m", "7d", "10 minutes", "2 heures", "1h30") as seconds,
for config and commands."""

from __future__ import annotations

import re

from .i18n import _, format_number, pgettext

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# Units as people write them, in English and French: `10 minutes`, `2 heures`, `3 jours`, `15min`.
_UNIT_WORDS = {
    **{w: "s" for w in ("sec", "secs", "second", "seconds", "seconde", "secondes")},
    **{w: "m" for w in ("min", "mins", "mn", "minute", "minutes")},
    **{w: "h" for w in ("hr", "hrs", "hour", "hours", "heure", "heures")},
    **{w: "d" for w in ("j", "day", "days", "jour", "jours")},
    **{w: "w" for w in ("week", "weeks", "sem", "semaine", "semaines")},
}
_PART = re.compile(r"(\d+(?:\.\d+)?)([a-z]+)?")
_ONE = re.compile(r"(?:une?|an?)([a-z]{3,})")       # `une heure`, `an hour`: a unit written out
_NUMBER_OR_ONE = re.compile(r"\d+(?:[.,]\d+)?|une?|an?")
_SMALLER = {"h": "m", "m": "s"}                     # `1h30`: the unit after hours is minutes
_HALF_HOUR = re.compile(r"(?:une )?demi[- ]heure\b|(?:a )?half(?: an)?[- ]hour\b")     # and `half an hour`


def unit_of(word: str) -> str | None:
    """The unit (s, m, h, d, w) a word names (`minutes`, `heures`, `h`), or None."""
    word = word.lower()
    return word if word in _UNIT_SECONDS else _UNIT_WORDS.get(word)


def _piece(words: list[str], at: int) -> int:
    """How many words the duration piece at `words[at]` takes: 2 for a number and a unit word
    (`10 minutes`, `une heure`), else 1."""
    if at + 1 < len(words) and unit_of(words[at + 1]) and _NUMBER_OR_ONE.fullmatch(words[at].lower()):
        return 2
    return 1


def leading_duration(words: list[str]) -> tuple[float, int]:
    """The duration at the head of `words` and how many words it took: `10m`, `10 minutes`,
    `une heure`, `1h30`, and pieces written apart (`1h 30m`, `2 heures 30 minutes`, `1h 30`).
    Each piece is read on its own and they add up; a piece after the first starts with a digit,
    so a command word is never taken for one, and a bare number counts only straight after hours
    (`1h 30`: 30 minutes), as the last piece; a half said in French counts (`une demi-heure`,
    `1 heure et demie`). ValueError (as parse_duration's) when the first word is no duration."""
    half = _HALF_HOUR.match(" ".join(word.lower() for word in words[:3]))
    if half:                                            # `une demi-heure`, `demi heure`
        return 1800.0, len(half.group(0).split())
    size = _piece(words, 0)
    try:
        total = parse_duration("".join(words[:size]))
    except ValueError:
        if size == 1:
            raise
        size = 1
        total = parse_duration(words[0])
    last_unit = _last_unit(words[:size])
    taken = size
    if last_unit in ("h", "m") and [w.lower() for w in words[taken:taken + 2]] in (["et", "demie"], ["et", "demi"]):
        return total + _UNIT_SECONDS[last_unit] / 2, taken + 2      # `1 heure et demie`: 1 h 30
    if last_unit in ("h", "m") and [w.lower() for w in words[taken:taken + 3]] == ["and", "a", "half"]:
        return total + _UNIT_SECONDS[last_unit] / 2, taken + 3      # `an hour and a half`
    while taken < len(words) and words[taken][:1].isdigit():
        size = _piece(words, taken)
        piece = "".join(words[taken:taken + size])
        if re.fullmatch(r"\d+", piece):                 # `1h 30`: minutes; `10m 5` is left alone
            if last_unit == "h":
                total += int(piece) * _UNIT_SECONDS["m"]
                taken += size
            break
        try:
            total += parse_duration(piece)
        except ValueError:
            break
        last_unit = _last_unit(words[taken:taken + size])
        taken += size
    if total > LONGEST:
        raise ValueError(_("{text!r} is more than a hundred years").format(text=" ".join(words[:taken])))
    return total, taken


def _last_unit(piece: list[str]) -> str | None:
    """The unit a piece ends with (`1h` -> h, `10 minutes` -> m), None for `1h30` (it has its own)."""
    match = re.search(r"([a-z]+)$", piece[-1].lower()) if piece else None      # `une heure`: its last word
    return unit_of(match.group(1)) if match else None


def trailing_duration(words: list[str]) -> tuple[float, int] | None:
    """The duration at the end of `words` (`24h`, `7 jours`, `1h 30m`) and how many words it
    took, or None when the last words are no duration."""
    for start in range(max(0, len(words) - 4), len(words)):
        if not words[start][:1].isdigit() and words[start].lower() not in ("un", "une", "a", "an"):
            continue
        try:
            seconds, taken = leading_duration(words[start:])
        except ValueError:
            continue
        if start + taken == len(words):
            return seconds, taken
    return None


LONGEST = 100 * 365.25 * 86400      # seconds: past this, a date is beyond what a clock can show (year 9999)


def parse_duration(text: str | int | float) -> float:
    """Seconds in `text` ("90s", "5m", "1h30m", "7d"); ValueError names the forms.

    A number needs a unit, in config.toml as in chat: `repeat = 5` or `in 10 snap entree` could
    mean seconds or minutes, and the wrong guess either floods people or leaves them waiting, so
    it is refused with the spellings to choose from. Zero needs no unit (`mute smoke 0`)."""
    bare = text if isinstance(text, (int, float)) and not isinstance(text, bool) else None
    if isinstance(text, str):
        text = text.replace(",", ".")            # 1,5s: as format_duration writes it in French
        if re.fullmatch(r"\s*\d+(\.\d+)?\s*", text):
            bare = float(text)
    if bare is not None:
        if bare < 0:
            raise ValueError(_("a duration cannot be negative"))
        if bare > 0:
            number = f"{bare:g}"
            raise ValueError(_('give a unit: "{number}s", "{number}m" or "{number}h"').format(number=number))
        return 0.0
    if not isinstance(text, str):
        raise ValueError(_('expected a duration such as "30s", "5m", "1h30m" or "7d"'))
    cleaned = text.strip().lower().replace(" ", "")
    one = _ONE.fullmatch(cleaned)
    if one and unit_of(one.group(1)):
        cleaned = "1" + one.group(1)
    pos, total, previous = 0, 0.0, ""
    for match in _PART.finditer(cleaned):
        unit = unit_of(match.group(2)) if match.group(2) else _SMALLER.get(previous) if match.end() == len(cleaned) else None
        if match.start() != pos or unit is None:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[unit]
        pos, previous = match.end(), unit
    if pos != len(cleaned) or not cleaned:
        raise ValueError(_('{text!r} is not a duration; write e.g. "30s", "5m", "1h30m" or "7d"').format(text=text))
    if total > LONGEST:
        raise ValueError(_("{text!r} is more than a hundred years").format(text=text))
    return total


def format_duration(seconds: float) -> str:
    """Short human form of a duration: 300ms, 1.5s, 42s, 5m, 3h12m, 2d4h (2j4h in French: the
    day's unit is the one a French speaker types back, `dans 2j`)."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    if seconds < 10 and seconds != int(seconds):
        return format_number(seconds, 1).rstrip("0").rstrip(".,") + "s"      # 1.5s, 1,5s in French
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m" + (f"{sec:02d}s" if sec and minutes < 10 else "")
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" + (f"{minutes:02d}m" if minutes else "")
    days, hours = divmod(hours, 24)
    day = pgettext("the unit of days in 2d, 1d4h", "d")
    return f"{days}{day}" + (f"{hours}h" if hours else "")
