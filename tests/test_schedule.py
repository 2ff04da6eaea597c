"""Schedule phrases, DST, conditions of automations and their config checks (pure logic, no server)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from chatops.conditions import Condition, Trigger
from chatops.i18n import speaking
from chatops.config import ConfigError
from chatops.schedule import ScheduleError, in_window, local_time, parse_phrase, parse_plan, zone
from chatops.testing import settings_for

PARIS = ZoneInfo("Europe/Paris")


def at(*parts: int) -> float:
    return datetime(*parts, tzinfo=PARIS).timestamp()


def local(moment: float) -> str:
    return datetime.fromtimestamp(moment, PARIS).strftime("%Y-%m-%d %H:%M %z")


NOW = at(2026, 12, 4, 10, 0)        # a Friday


@pytest.mark.parametrize(("verb", "words", "first", "label"), [
    ("in", ["10m", "snap", "entree"], "2026-12-04 10:10 +0100", "once, set for in 10m"),
    ("at", ["06:30", "chauffage", "on"], "2026-12-05 06:30 +0100", "once"),
    ("at", ["18:00", "chauffage", "on"], "2026-12-04 18:00 +0100", "once"),
    ("at", ["2026-12-24", "18:00", "chauffage", "on"], "2026-12-24 18:00 +0100", "once"),
    ("every", ["day", "at", "06:30", "chauffage", "on"], "2026-12-05 06:30 +0100", "every day at 06:30"),
    ("every", ["weekday", "at", "06:30", "chauffage", "on"], "2026-12-07 06:30 +0100", "every weekday at 06:30"),
    ("every", ["monday,friday", "at", "7:00", "chauffage", "on"], "2026-12-07 07:00 +0100",
     "every monday,friday at 07:00"),
    ("every", ["Monday", "Friday", "at", "7:00", "chauffage", "on"], "2026-12-07 07:00 +0100",
     "every monday,friday at 07:00"),                     # `Monday, Friday`: the router took the comma
    ("every", ["15m", "read", "salon"], "2026-12-04 10:15 +0100", "every 15m"),
    ("every", ["15", "minutes", "read", "salon"], "2026-12-04 10:15 +0100", "every 15m"),
    ("every", ["hour", "read", "salon"], "2026-12-04 11:00 +0100", "every hour"),
    ("in", ["an", "hour", "snap", "entree"], "2026-12-04 11:00 +0100", "once, set for in 1h"),
    ("at", ["7am", "chauffage", "on"], "2026-12-05 07:00 +0100", "once"),
    ("every", ["day", "at", "7:30pm", "chauffage", "on"], "2026-12-04 19:30 +0100", "every day at 19:30"),
    ("at", ["midnight", "chauffage", "on"], "2026-12-05 00:00 +0100", "once"),
    ("every", ["monday", "and", "friday", "at", "noon", "x", "on"], "2026-12-04 12:00 +0100",
     "every monday and friday at 12:00"),
    ("cron", ["30 6 * * 1-5", "chauffage", "on"], "2026-12-07 06:30 +0100", 'cron "30 6 * * 1-5"'),
    ("à", ["19", "h", "x", "on"], "2026-12-04 19:00 +0100", "once"),          # French typography: 19 h
    ("à", ["7", "h", "30", "x", "on"], "2026-12-05 07:30 +0100", "once"),
    ("every", ["sat-sun", "at", "9:00", "x", "on"], "2026-12-05 09:00 +0100", "every sat-sun at 09:00"),   # across the week's end
    ("every", ["sunday-monday", "at", "9:00", "x", "on"], "2026-12-06 09:00 +0100", "every sunday-monday at 09:00"),
    ("every", ["fri-mon", "at", "9:00", "x", "on"], "2026-12-05 09:00 +0100", "every fri-mon at 09:00"),
    ("at", ["7", "pm", "chauffage", "on"], "2026-12-04 19:00 +0100", "once"),
    ("at", ["2026-12-24", "7", "pm", "chauffage", "on"], "2026-12-24 19:00 +0100", "once"),
    ("every", ["day", "at", "7", "a.m.", "chauffage", "on"], "2026-12-05 07:00 +0100", "every day at 07:00"),
    ("tomorrow", ["at", "7:00", "chauffage", "on"], "2026-12-05 07:00 +0100", "once"),
    ("tomorrow", ["18:00", "chauffage", "on"], "2026-12-05 18:00 +0100", "once"),   # not today's 18:00
    ("at", ["18:00", "tomorrow", "chauffage", "on"], "2026-12-05 18:00 +0100", "once"),
    ("in", ["1h", "30m", "snap", "entree"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    ("in", ["1h", "30", "snap", "entree"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    ("in", ["1", "hour", "15", "minutes", "snap", "entree"], "2026-12-04 11:15 +0100", "once, set for in 1h15m"),
    # An hour alone (24-hour clock), a half hour written out.
    ("every", ["day", "at", "7", "read", "salon"], "2026-12-05 07:00 +0100", "every day at 07:00"),
    # The time without its `at` (was "every day at what time?").
    ("every", ["day", "06:30", "read", "salon"], "2026-12-05 06:30 +0100", "every day at 06:30"),
    ("every", ["weekday", "7h30", "read", "salon"], "2026-12-07 07:30 +0100", "every weekday at 07:30"),
    ("chaque", ["lundi", "7h", "allume", "chauffage"], "2026-12-07 07:00 +0100", "chaque lundi à 07:00"),
    ("at", ["19", "read", "salon"], "2026-12-04 19:00 +0100", "once"),
    ("in", ["half", "an", "hour", "read", "salon"], "2026-12-04 10:30 +0100", "once, set for in 30m"),
    ("in", ["an", "hour", "and", "a", "half", "read", "salon"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    # What French speakers say: a half hour, the part of the day.
    ("dans", ["une", "demi-heure", "lire", "salon"], "2026-12-04 10:30 +0100", "once, set for in 30m"),
    ("dans", ["1", "heure", "et", "demie", "lire", "salon"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    ("dans", ["une", "heure", "et", "demie", "lire", "salon"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    ("à", ["8h", "du", "soir", "lire", "salon"], "2026-12-04 20:00 +0100", "once"),
    ("à", ["7h", "du", "matin", "lire", "salon"], "2026-12-05 07:00 +0100", "once"),
    ("à", ["3h", "de", "l'après-midi", "lire", "salon"], "2026-12-04 15:00 +0100", "once"),
    ("tous", ["les", "jours", "à", "7", "heures", "du", "soir", "lire", "salon"], "2026-12-04 19:00 +0100",
     "tous les jours à 19:00"),
])
def test_every_phrase_of_the_issue(verb: str, words: list[str], first: str, label: str) -> None:
    assert_plan(verb, words, first, label)


def assert_plan(verb: str, words: list[str], first: str, label: str) -> None:
    """The phrase runs first at `first` (local time), is listed as `label`, and leaves the command."""
    plan = parse_plan(verb, words, NOW, PARIS)
    assert local(plan.first) == first
    assert plan.recurrence.label == label
    assert plan.rest[-1] in ("entree", "on", "salon", "chauffage", "volet")


@pytest.mark.parametrize(("verb", "words"), [("in", ["10", "snap", "entree"]), ("every", ["15", "read", "salon"])])
def test_a_number_without_a_unit_is_refused_with_the_spellings(verb: str, words: list[str]) -> None:
    # `in 10 snap entree` could mean seconds or minutes: the user chooses.
    with pytest.raises(ScheduleError, match=f'give a unit: "{words[0]}s", "{words[0]}m" or "{words[0]}h"'):
        parse_plan(verb, words, NOW, PARIS)


def test_recurrences_continue_on_the_calendar() -> None:
    weekdays = parse_plan("every", ["weekday", "at", "06:30", "x"], NOW, PARIS)
    runs = [weekdays.first]
    for _ in range(5):
        runs.append(weekdays.recurrence.after(runs[-1], runs[-1], PARIS) or 0)
    assert [local(r)[:10] for r in runs] == ["2026-12-07", "2026-12-08", "2026-12-09", "2026-12-10",
                                              "2026-12-11", "2026-12-14"]
    interval = parse_plan("every", ["15m", "x"], NOW, PARIS).recurrence
    # a run made 20 minutes late does not shift the next ones: the phase is kept
    assert interval.after(NOW + 900 + 1200, NOW + 900, PARIS) == NOW + 900 * 3


@pytest.mark.parametrize(("start", "day", "expected"), [
    ((2026, 3, 28, 12, 0), "2026-03-29", ["2026-03-29 03:00 +0200"]),         # spring forward: 02:30 does not exist
    ((2026, 10, 24, 12, 0), "2026-10-25", ["2026-10-25 02:30 +0200"]),        # fall back: 02:30 happens twice
])
def test_a_daily_0230_runs_once_on_both_dst_days(start: tuple[int, ...], day: str, expected: list[str]) -> None:
    plan = parse_plan("every", ["day", "at", "02:30", "x"], at(*start), PARIS)
    runs = [plan.first]
    while len(runs) < 4:
        runs.append(plan.recurrence.after(runs[-1], runs[-1], PARIS) or 0)
    assert [local(r) for r in runs if local(r).startswith(day)] == expected
    assert len({local(r)[:10] for r in runs}) == 4, "one run a day, every day"


def test_an_hourly_cron_runs_in_both_0230s_of_the_fall_back_day() -> None:
    """Real time, not wall time: the repeated hour is a real hour, so an hourly job runs in it."""
    plan = parse_plan("cron", ["30 * * * *", "x"], at(2026, 10, 25, 1, 0), PARIS)
    runs = [plan.first]
    while len(runs) < 3:
        runs.append(plan.recurrence.after(runs[-1], runs[-1], PARIS) or 0)
    assert [local(r) for r in runs] == ["2026-10-25 01:30 +0200", "2026-10-25 02:30 +0200", "2026-10-25 02:30 +0100"]


@pytest.mark.parametrize(("verb", "words", "says"), [
    ("in", ["soon", "x"], "not a duration"),
    ("at", ["25:00", "x"], "not a time of day"),
    ("at", ["24", "x"], "not a time of day"),
    ("at", ["9999-12-31", "23:59", "x"], "is more than a hundred years"),
    ("at", ["2020-01-01", "10:00", "x"], "in the past"),
    ("at", ["0001-01-01", "06:30", "x"], "in the past"),                 # not an OverflowError
    ("every", ["someday", "at", "10:00", "x"], "not a day"),
    ("every", ["monady", "at", "7:00", "x"], "'monady' is not a day: did you mean monday"),
    ("chaque", ["mecredi", "à", "7h", "x"], "'mecredi' is not a day: did you mean mercredi"),
    ("every", ["day", "x"], "at what time"),
    ("every", ["0.5s", "x"], "0.5s is no interval to repeat at: give a duration such as 1m"),
    ("every", ["0m", "x"], "0m is no interval to repeat at"),
    ("at", ["7:", "x"], "not a time of day"),
    ("at", ["13", "pm", "x"], "not a time of day"),
    ("à", ["19h", "du", "matin", "x"], "19h du matin is not a time of day; write e.g. 7h du soir or 19h"),
    ("tomorrow", ["at"], "tomorrow at what time"),
    ("cron", ["61 * * * *", "x"], "its minute is out of range or not a number. Its 5 fields are minute 0-59, hour 0-23"),
    ("cron", ["0 25 * * *", "x"], "its hour is out of range"),
    ("cron", ["30 6 30 2 *", "x"], "day 30 never comes in month 2. Its 5 fields"),
    ("cron", ["0 6 * *", "x"], "it has 4 fields, not 5. Its 5 fields are minute 0-59"),
    ("cron", ["30", "6", "*", "*", "1-5", "chauffage", "on"], r'put the 5 fields in double quotes: cron "30 6 \* \* 1-5" chauffage on'),
    ("every", ["2", "days", "at", "7:00", "x"], "every 2 days counts from now and takes no time of day"),
    ("cron", ["* * * * * *", "x"], "it has 6 fields, not 5"),     # no seconds: every second from chat
    ("cron", [], "double quotes"),
])
def test_wrong_phrases_say_what_to_write(verb: str, words: list[str], says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_plan(verb, words, NOW, PARIS)


def test_config_phrases_and_windows() -> None:
    assert parse_phrase("every weekday at 06:30", NOW, PARIS).recurrence.cron == "30 6 * * 1-5"
    assert parse_phrase('cron "0 7 * * 6"', NOW, PARIS).recurrence.cron == "0 7 * * 6"
    with pytest.raises(ScheduleError, match="unexpected"):
        parse_phrase("every day at 06:30 chauffage on", NOW, PARIS)
    assert in_window("between 22:00 and 06:00", at(2026, 12, 4, 23, 30), PARIS)
    assert in_window("between 22:00 and 06:00", at(2026, 12, 5, 5, 59), PARIS)
    assert not in_window("between 22:00 and 06:00", at(2026, 12, 5, 6, 0), PARIS)
    assert in_window("entre 22h et 6h", at(2026, 12, 4, 23, 30), PARIS), "French, as only_if = [\"entre 22h et 6h\"]"
    assert in_window("between 05:00 and 09:00", at(2026, 12, 5, 6, 30), PARIS)
    assert zone("Europe/Paris") == PARIS
    with pytest.raises(ScheduleError, match="IANA"):
        zone("Mars/Olympus")


def test_triggers_are_alert_conditions_plus_for() -> None:
    assert Trigger.parse("hall_motion on") == Trigger("hall_motion", Condition("on"))
    assert Trigger.parse("hall_motion off for 10m") == Trigger("hall_motion", Condition("off"), 600.0)
    assert Trigger.parse("living room < 19") == Trigger("living room", Condition("<", 19.0))
    assert Trigger.parse("salon offline 10m") == Trigger("salon", Condition("offline", 600.0))
    # Written out, as configuration.md allows any duration to be (once refused in `when` alone).
    assert Trigger.parse("hall_motion off for 10 minutes") == Trigger("hall_motion", Condition("off"), 600.0)
    assert Trigger.parse("living room < 19 for 1h 30m") == Trigger("living room", Condition("<", 19.0), 5400.0)
    assert Trigger.parse("salon offline 10 minutes") == Trigger("salon", Condition("offline", 600.0))
    assert Condition.parse("offline 2 hours") == Condition("offline", 7200.0)
    with pytest.raises(ValueError, match="DEVICE CONDITION"):
        Trigger.parse("hall_motion")
    with pytest.raises(ValueError, match="not to changed"):
        Trigger.parse("salon changed for 5m")


def test_hysteresis_holds_until_the_band_is_left() -> None:
    cold = Condition.parse("< 19")
    assert cold.holds(18.9, None) and not cold.holds(19.2, None)
    assert cold.still_holds(19.4, 0.5) and not cold.still_holds(19.5, 0.5)
    hot = Condition.parse("> 30")
    assert hot.still_holds(29.6, 0.5) and not hot.still_holds(29.5, 0.5)


def _automation(tmp_path: Path, **fields: object) -> None:
    body = {"name": "a", "when": "hall_motion on", "do": ["switch hall_light on"], **fields}
    settings_for(tmp_path, automations=[{k: v for k, v in body.items() if v is not None}])


@pytest.mark.parametrize(("fields", "says"), [
    ({"when": "hall_motion sideways"}, "DEVICE CONDITION"),
    ({"when": None}, "exactly one of when"),
    ({"at": "every day at 06:30"}, "exactly one of when"),
    ({"when": None, "at": "at 06:30"}, "runs once"),
    ({"when": "cellar_door on"}, "no device named 'cellar_door'"),
    ({"owner": "nobody"}, "no user named 'nobody'"),
    ({"only_if": ["between 25:00 and 06:00"]}, "only_if 'between 25:00 and 06:00': '25:00' is not a time of day"),
    ({"when": None, "at": "every day at 25:00"}, "at = 'every day at 25:00': '25:00' is not a time of day"),
    ({"when": "chambre < abc"}, "when = 'chambre < abc': < compares numbers, not 'abc'"),
    ({"when": "hall_motion off for 10"}, "give a unit"),
    ({"only_if": ["between 22:00 and 22:00"]}, "is an empty window: it would never hold"),
    # All of an automation's problems at once: one per `chatops check` took four runs to see them.
    ({"when": "chambre < abc", "only_if": ["heater changed", "between 25:00 and 06:00"]},
     "when = 'chambre < abc': < compares numbers, not 'abc'; write e.g. \"< 19\" or \"= open\"; only_if 'heater "
     "changed': write a state to check now, "
     "e.g. \"presence on\" or \"salon > 20\"; only_if 'between 25:00 and 06:00': '25:00' is not a time of day"),
])
def test_config_refuses_automations_that_cannot_work(tmp_path: Path, fields: dict[str, object], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        _automation(tmp_path, **fields)


def test_the_shipped_automations_validate(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert [a.name for a in settings.automations] == ["hall light", "hall light off", "frost guard"]
    assert settings.automations_defaults.owner == "owner"


@pytest.mark.parametrize(("verb", "words", "first", "label"), [
    ("dans", ["10m", "photo", "entree"], "2026-12-04 10:10 +0100", "once, set for in 10m"),
    ("à", ["6h30", "allume", "chauffage"], "2026-12-05 06:30 +0100", "once"),
    ("a", ["2026-12-24", "18h", "allume", "chauffage"], "2026-12-24 18:00 +0100", "once"),
    ("tous", ["les", "jours", "à", "06:30", "allume", "chauffage"], "2026-12-05 06:30 +0100",
     "tous les jours à 06:30"),
    ("Chaque", ["jour", "a", "7h", "allume", "chauffage"], "2026-12-05 07:00 +0100", "chaque jour a 07:00"),
    ("tous", ["les", "jours", "ouvrés", "à", "06:30", "allume", "chauffage"], "2026-12-07 06:30 +0100",
     "tous les jours ouvrés à 06:30"),
    ("chaque", ["lundi,vendredi", "à", "7h", "allume", "chauffage"], "2026-12-07 07:00 +0100",
     "chaque lundi,vendredi à 07:00"),
    ("tous", ["les", "samedis", "à", "9h", "ouvre", "volet"], "2026-12-05 09:00 +0100", "tous les samedis à 09:00"),
    ("chaque", ["week-end", "à", "9h", "ouvre", "volet"], "2026-12-05 09:00 +0100", "chaque week-end à 09:00"),
    ("toutes", ["les", "15m", "lire", "salon"], "2026-12-04 10:15 +0100", "toutes les 15m"),
    ("toutes", ["les", "15", "minutes", "lire", "salon"], "2026-12-04 10:15 +0100", "toutes les 15m"),
    ("toutes", ["les", "heures", "lire", "salon"], "2026-12-04 11:00 +0100", "toutes les heures"),   # not "toutes les 1h"
    ("dans", ["10", "minutes", "photo", "entree"], "2026-12-04 10:10 +0100", "once, set for in 10m"),
    ("dans", ["une", "heure", "photo", "entree"], "2026-12-04 11:00 +0100", "once, set for in 1h"),
    ("dans", ["1h30", "photo", "entree"], "2026-12-04 11:30 +0100", "once, set for in 1h30m"),
    ("dans", ["2j", "photo", "entree"], "2026-12-06 10:00 +0100", "once, set for in 2d"),
    ("à", ["midi", "allume", "chauffage"], "2026-12-04 12:00 +0100", "once"),
    ("chaque", ["lundi", "et", "vendredi", "à", "7h", "allume", "chauffage"], "2026-12-07 07:00 +0100",
     "chaque lundi et vendredi à 07:00"),
    ("chaque", ["lundi,", "vendredi", "à", "7h", "allume", "chauffage"], "2026-12-07 07:00 +0100",
     "chaque lundi,vendredi à 07:00"),
    ("demain", ["à", "7h", "allume", "chauffage"], "2026-12-05 07:00 +0100", "once"),
    ("demain", ["6h30", "allume", "chauffage"], "2026-12-05 06:30 +0100", "once"),
    ("à", ["7h", "demain", "allume", "chauffage"], "2026-12-05 07:00 +0100", "once"),
    ("dans", ["2", "heures", "30", "minutes", "photo", "entree"], "2026-12-04 12:30 +0100", "once, set for in 2h30m"),
])
def test_the_french_phrases(verb: str, words: list[str], first: str, label: str) -> None:
    # A French speaker schedules in French; a repeating schedule is listed as it was written.
    assert_plan(verb, words, first, label)
    weekdays = parse_phrase("tous les jours ouvrés à 06:30", NOW, PARIS)
    assert weekdays.recurrence.cron == "30 6 * * 1-5"


def test_a_french_phrase_without_its_time_says_what_to_write() -> None:
    with pytest.raises(ScheduleError, match="tous les jours at what time"):
        parse_plan("tous", ["les", "jours", "allume", "chauffage"], NOW, PARIS)
    with speaking("fr"), pytest.raises(ScheduleError, match="tous les jours à quelle heure .* tous les jours à 6h30"):
        parse_plan("tous", ["les", "jours", "allume", "chauffage"], NOW, PARIS)
    with speaking("fr"), pytest.raises(ScheduleError, match="'25:00' n'est pas une heure"):
        parse_plan("à", ["25:00", "allume", "chauffage"], NOW, PARIS)


def test_tomorrow_across_the_spring_forward_night() -> None:
    # 02:30 does not exist in Paris on 2027-03-28: the timer runs when the clock reaches it after the gap.
    plan = parse_plan("tomorrow", ["02:30", "x"], at(2027, 3, 27, 12, 0), PARIS)
    assert local(plan.first).startswith("2027-03-28 03:")


def test_a_command_word_after_a_duration_is_not_glued_to_it() -> None:
    # `in 10m s...`: "s" would read as seconds glued onto 10m; only a bare number takes the next word.
    from chatops.durations import leading_duration
    assert leading_duration(["10m", "s"]) == (600.0, 1)
    assert leading_duration(["10", "minutes", "x"]) == (600.0, 2)


def test_duration_pieces_written_apart_add_up_each_read_alone() -> None:
    from chatops.durations import leading_duration, trailing_duration
    assert leading_duration(["1h30", "15s", "x"]) == (5415.0, 2)          # 1h30m + 15s, not 1h50m15s
    assert leading_duration(["1h", "30", "x"]) == (5400.0, 2)             # a bare number after hours: minutes
    assert leading_duration(["1h", "30", "15s"]) == (5400.0, 2)           # ... and only as the last piece
    assert leading_duration(["10m", "5", "x"]) == (600.0, 1)              # 10m then 5 what? left to the command
    assert trailing_duration(["salon", "1h30", "15s"]) == (5415.0, 2)
    assert trailing_duration(["salon", "7", "jours"]) == (604800.0, 2)



def test_a_timer_reads_the_same_time_in_its_answer_and_its_listings() -> None:
    """`in 10m` said at 04:38:17 is due 04:48:17: the answer and every later `timers` say so (the
    seconds once showed only in the last ten minutes); a whole-minute time stays `06:30`."""
    paris = ZoneInfo("Europe/Paris")
    said = datetime(2026, 12, 4, 4, 38, 17, tzinfo=paris).timestamp()
    due = said + 600
    assert {local_time(due, paris, now) for now in (said, said + 120, due - 1)} == {"04:48:17"}
    assert local_time(datetime(2026, 12, 4, 6, 30, tzinfo=paris).timestamp(), paris, said) == "06:30"
    assert local_time(due + 2 * 86400, paris, said) == "Sun 04:48:17"


def test_a_wrong_cron_is_explained_in_the_readers_language() -> None:
    from chatops.i18n import speaking
    with speaking("fr"), pytest.raises(ScheduleError) as wrong:
        parse_plan("cron", ["30 25 * * *", "x"], NOW, PARIS)
    assert str(wrong.value).startswith("cron '30 25 * * *' : l'heure est hors limites ou n'est pas un nombre. Ses 5 champs ")
    assert "Bad" not in str(wrong.value)
