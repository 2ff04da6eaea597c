"""The automations index (chatops.watchers): a reading wakes every automation it could change,
so judging only those gives the same states as judging all (issue 18's figure, bench/timers.py)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from chatops.conditions import Condition, Trigger
from chatops.watchers import Watchers


@dataclass(eq=False)
class FakeSettings:
    hysteresis: float = 0.0


@dataclass(eq=False)
class Auto:
    """The fields the index reads, and a judge that follows Automations._observe's state rules."""

    trigger: Trigger
    settings: FakeSettings = field(default_factory=FakeSettings)
    known: bool = False
    holding: bool = False
    fired: bool = False
    due: float | None = None
    judged: int = 0

    def observe(self, value: Any) -> None:
        self.judged += 1
        condition = self.trigger.condition
        holds = condition.still_holds(value, self.settings.hysteresis) if self.holding \
            else condition.holds(value, None)
        self.known, self.holding, self.fired = True, holds, holds


def autos(seed: int) -> list[Auto]:
    rng = random.Random(seed)
    made = []
    for _ in range(60):
        op = rng.choice([">", ">=", "<", "<=", "=", "on", "changed"])
        text = op if op in ("on", "changed") else f"{op} {rng.randint(10, 30)}"
        made.append(Auto(Trigger("salon", Condition.parse(text)), FakeSettings(rng.choice([0.0, 0.5, 2.0]))))
    return made


def test_judging_the_woken_gives_the_states_of_judging_all() -> None:
    for seed in range(20):
        indexed, every = autos(seed), autos(seed)
        watchers = Watchers(indexed)
        rng = random.Random(seed + 1000)
        for _ in range(300):
            value: Any = rng.choice([rng.uniform(5, 35), float(rng.randint(5, 35)), True, False, "unavailable"])
            watchers.judge(value, lambda auto: auto.observe(value))
            for auto in every:
                auto.observe(value)
            assert [(a.known, a.holding) for a in indexed] == [(a.known, a.holding) for a in every], seed


def test_a_reading_between_thresholds_judges_none_of_them() -> None:
    """1,000 `> N` automations that never cross: a reading looks at none (was: all 1,000)."""
    many = [Auto(Trigger("salon", Condition.parse(f"> {100 + n}"))) for n in range(1000)]
    watchers = Watchers(many)
    watchers.judge(20.0, lambda auto: auto.observe(20.0))         # first sight: each judged once
    assert sum(a.judged for a in many) == 1000
    for value in (21.0, 22.5, 19.0, 50.0):
        watchers.judge(value, lambda auto: auto.observe(value))
    assert sum(a.judged for a in many) == 1000
    watchers.judge(100.5, lambda auto: auto.observe(100.5))        # crosses `> 100` only
    assert [a.holding for a in many[:3]] == [True, False, False]
    assert sum(a.judged for a in many) == 1001


def test_a_value_that_is_not_a_number_judges_every_one() -> None:
    many = [Auto(Trigger("salon", Condition.parse(f"< {n}"))) for n in range(10)]
    watchers = Watchers(many)
    watchers.judge(5.0, lambda auto: auto.observe(5.0))
    watchers.judge("unavailable", lambda auto: auto.observe("unavailable"))
    assert [a.judged for a in many] == [2] * 10
    assert not any(a.holding for a in many)


def test_an_automation_that_fails_to_be_judged_leaves_the_others_indexed() -> None:
    many = [Auto(Trigger("salon", Condition.parse(f"> {n}")), FakeSettings()) for n in range(3)]
    for auto in many:
        auto.settings.name = f"a{many.index(auto)}"      # type: ignore[attr-defined]
    watchers = Watchers(many)

    def observe(auto: Auto) -> None:
        if auto is many[0]:
            raise RuntimeError("broken")
        auto.observe(5.0)
    watchers.judge(5.0, observe)
    assert len(watchers) == 3 and [a.known for a in many] == [False, True, True]
    watchers.judge(0.5, lambda auto: auto.observe(0.5))     # still indexed: the broken one is judged again
    assert many[0].known and many[0].holding
