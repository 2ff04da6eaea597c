"""Which automations a device's new reading can change: the others are not looked at.

A threshold automation (`chambre < 19`, `salon > 26 for 10m`) changes only when the value
crosses its threshold (or, while it holds, its threshold plus hysteresis). Between two
crossings it is quiet, and a reading inside its quiet range cannot change it. So each one is
filed under the bound where it wakes, in one of two sorted lists, and a reading takes only the
automations whose bound it passed (bisect), instead of judging every automation on the device:
1,000 `> N` automations on one sensor cost a reading 600 µs when each was judged
(bench/timers.py), and two bisections when none crosses.

Everything else is judged on every reading: `on`, `off`, `changed`, `offline`, `=`, one whose
state is not known yet, one waiting to resume a `for` remembered across a restart, and every
one when a reading is not a number. The index only decides who is looked at; what a reading
does to an automation stays `Automations._observe`'s.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

ORDERED = (">", ">=", "<", "<=")


class Watched(Protocol):
    """What the index reads of an automation (chatops.automations.Automation)."""

    trigger: Any
    known: bool
    holding: bool
    fired: bool
    due: float | None
    settings: Any


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, (int, float)) else None


class Watchers:
    """The automations watching one device, filed by where a reading wakes them."""

    def __init__(self, autos: list[Any]) -> None:
        self._order = {id(auto): index for index, auto in enumerate(autos)}    # config order, kept when run
        self._always: list[Any] = []
        self._rising: list[tuple[float, int, Any]] = []     # woken by a value >= bound
        self._falling: list[tuple[float, int, Any]] = []    # woken by a value <= bound
        self._filed: dict[int, tuple[str, float]] = {}
        for auto in autos:
            self._file(auto)

    def __len__(self) -> int:
        return len(self._order)

    def judge(self, value: object, observe: Callable[[Any], None]) -> None:
        """Call `observe(auto)` for each automation `value` may change, in config order, and
        file each again by its new state."""
        number = _number(value)
        if number is None or number != number:              # not a number (NaN included): everyone
            woken = [entry[2] for entry in (*self._rising, *self._falling)]
            self._rising, self._falling = [], []
        else:
            cut = bisect.bisect_right(self._rising, (number, float("inf")))
            woken = [entry[2] for entry in self._rising[:cut]]
            del self._rising[:cut]
            cut = bisect.bisect_left(self._falling, (number, -1))
            woken += [entry[2] for entry in self._falling[cut:]]
            del self._falling[cut:]
        for auto in woken:
            self._filed.pop(id(auto), None)
        woken += self._always
        self._always = []
        woken.sort(key=lambda auto: self._order[id(auto)])
        for auto in woken:
            try:
                observe(auto)
            except Exception:                    # one broken automation never drops the others
                log.exception("automation %s: a reading could not be judged", auto.settings.name)
            self._file(auto)

    def refile(self, auto: Any) -> None:
        """`auto` changed outside a reading (start-up, its `for` ran out): file it again."""
        where = self._filed.pop(id(auto), None)
        if where is None:
            self._always = [a for a in self._always if a is not auto]
        else:
            side, bound = where
            entries = self._rising if side == "rising" else self._falling
            index = bisect.bisect_left(entries, (bound, self._order[id(auto)]))
            del entries[index]
        self._file(auto)

    def _file(self, auto: Any) -> None:
        bound = self._quiet_until(auto)
        if bound is None:
            self._always.append(auto)
            return
        side, value = bound
        entry = (value, self._order[id(auto)], auto)
        bisect.insort(self._rising if side == "rising" else self._falling, entry)
        self._filed[id(auto)] = bound

    @staticmethod
    def _quiet_until(auto: Any) -> tuple[str, float] | None:
        """("rising", b): nothing changes for it until a value >= b; ("falling", b): until a
        value <= b; None: it must see every reading. The bounds are taken inclusive, so a
        reading at the bound itself is judged (a few more judged, never one missed)."""
        trigger = auto.trigger
        condition = trigger.condition if trigger is not None else None
        if condition is None or condition.kind not in ORDERED or not isinstance(condition.threshold, float):
            return None
        if not auto.known or (auto.holding and trigger.hold and not auto.fired and auto.due is None):
            return None                       # first sight, or a `for` to take up again: judge it
        threshold = condition.threshold
        margin = max(0.0, float(auto.settings.hysteresis or 0.0))
        rises = condition.kind in (">", ">=")
        if not auto.holding:
            return ("rising", threshold) if rises else ("falling", threshold)
        return ("falling", threshold - margin) if rises else ("rising", threshold + margin)
