"""Human durations ("90s", "5m", "1h30m", "7d") as seconds, for config and commands."""

from __future__ import annotations

import re

from .i18n import format_number

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")


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
            raise ValueError("a duration cannot be negative")
        if bare > 0:
            number = f"{bare:g}"
            raise ValueError(f'give a unit: "{number}s", "{number}m" or "{number}h"')
        return 0.0
    if not isinstance(text, str):
        raise ValueError('expected a duration such as "30s", "5m", "1h30m" or "7d"')
    cleaned = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(cleaned):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(cleaned) or not cleaned:
        raise ValueError(f'{text!r} is not a duration; write e.g. "30s", "5m", "1h30m" or "7d"')
    return total


def format_duration(seconds: float) -> str:
    """Short human form of a duration: 300ms, 1.5s, 42s, 5m, 3h12m, 2d4h."""
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
    return f"{days}d" + (f"{hours}h" if hours else "")
