"""The router as a user meets it: prefixes, mentions, aliases, bad arguments, permissions, failures."""

from __future__ import annotations

import asyncio
import datetime
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Literal

import pytest

from chatops.command import CommandSet, Context, command
from chatops.hub import Hub, running
from chatops.message import Reply
from chatops.config_base import Duration
from chatops.command_line import BindError, bind
from chatops.router import Router
from chatops.testing import exec_command, message, settings_for, wait_for


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = settings_for(tmp_path, hub={"rate_limit": 5},
                            users={"bob": {"roles": ["family"], "irc": ["bob!*@home.example.org"]}})
    async with running(Hub(settings, tty=False)) as started:
        yield started


async def test_prefix_in_a_room_and_plain_text_ignored(hub: Hub) -> None:
    assert (await exec_command(hub, "!temp salon", direct=False)).startswith("salon: ")
    assert await exec_command(hub, "temp salon", direct=False) == ""
    assert (await exec_command(hub, "maison: temp salon", direct=False)).startswith("salon: ")
    assert (await exec_command(hub, "temp salon")).endswith("°C")


async def test_aliases_in_any_language_and_case(hub: Hub) -> None:
    assert (await exec_command(hub, "Température  SÉJOUR")).startswith("salon: ")
    assert await exec_command(hub, "Chauffage ON") == "heater is ON"
    assert await exec_command(hub, "switch chauffage off") == "heater is OFF"
    assert (await exec_command(hub, "living room")).startswith("salon: ")


async def test_wrong_argument_gets_the_usage_line(hub: Hub) -> None:
    reply = await exec_command(hub, "switch heater sideways")
    assert reply.startswith("The state is on, off or toggle, not 'sideways'. Usage: switch DEVICE"), reply
    assert (await exec_command(hub, "chauffage of")).startswith(
        "The state is on, off or toggle, not 'of': did you mean off? Usage: ")
    assert await exec_command(hub, "help swich") == "No command 'swich'. Did you mean help switch?"
    assert "Usage: switch DEVICE on|off|toggle" in reply, "a direct chat has no prefix"
    assert "Missing device. Usage: read DEVICE" == await exec_command(hub, "read")
    assert "Usage: !switch DEVICE" in await exec_command(hub, "!switch heater sideways", direct=False)


async def test_unknown_command_suggests_the_closest(hub: Hub) -> None:
    # The prefix belongs to rooms: a direct chat, the console and SMS take commands without it.
    assert await exec_command(hub, "tmep salon") == "Unknown command 'tmep'. Did you mean temp?"
    assert "Say help for the list" in await exec_command(hub, "xyzzy")
    assert await exec_command(hub, "!tmep salon", direct=False) == "Unknown command 'tmep'. Did you mean !temp?"
    assert "Say !help" in await exec_command(hub, "!xyzzy", direct=False)
    assert await exec_command(hub, "temp garage") == "No room called 'garage'. Temperature sensors: chambre, salon, thermostat."
    assert await exec_command(hub, "temp salom") == "No device called 'salom'. Did you mean salon?"
    # A mistyped device is a mistyped shorthand: the answer gives the line it meant.
    assert await exec_command(hub, "heatr on") == "Unknown command 'heatr'. Did you mean heater on?"
    assert await exec_command(hub, "!heatre off", direct=False) == "Unknown command 'heatre'. Did you mean !heater off?"
    # Another language's word only when it is plainly the one typed: `lever` raises, and an
    # English speaker who typed `lower` must not be sent there; `alume` is allume misspelt.
    assert await exec_command(hub, "lower thermostat") == "Unknown command 'lower'. Say help for the list."
    assert await exec_command(hub, "alume lampe") == "Unknown command 'alume'. Did you mean allume?"
    # The device named right, with words it does not take: no suggestion of the same line back.
    assert await exec_command(hub, "salon right now") == \
        "salon does not take 'right now'. Say help salon for what it does."


async def test_temp_reads_several_rooms_listed(hub: Hub) -> None:
    """`temp salon, chambre` answers both rooms, in the order asked; one unknown room among them
    is named as any unknown room is, after the rooms that are (it was "No room called 'salon
    garage'", and `salon, chambr` had no did-you-mean)."""
    for line in ("temp salon, chambre", "temp salon et chambre", "!temp salon chambre salon"):
        lines = (await exec_command(hub, line, direct=not line.startswith("!"))).splitlines()
        assert [text.split(":")[0] for text in lines] == ["salon", "chambre"], (line, lines)
        assert all(text.endswith("°C") for text in lines), lines
    salon, garage = (await exec_command(hub, "temp salon garage")).splitlines()
    assert salon.startswith("salon: ") and garage == \
        "No room called 'garage'. Temperature sensors: chambre, salon, thermostat."
    assert (await exec_command(hub, "temp salon, chambr")).splitlines()[1] == \
        "No device called 'chambr'. Did you mean chambre?"
    assert await exec_command(hub, "temp garage cellier") == \
        "No room called 'garage cellier'. Temperature sensors: chambre, salon, thermostat."


async def test_an_empty_quoted_word_is_answered_not_a_traceback(hub: Hub) -> None:
    """`temp ""` (and the dashboard's button without a value, sent as `""`) ended in IndexError:
    a 500 from the API, silence in the chat."""
    assert await exec_command(hub, 'ack ""') == "'' is not an alert id; say ack or ack 12."
    assert await exec_command(hub, 'switch heater ""') == \
        "The state is on, off or toggle, not ''. Usage: switch DEVICE on|off|toggle [for DURATION]"
    assert (await exec_command(hub, 'temp "" salon')).startswith("salon: ")
    assert await exec_command(hub, '""') == "Unknown command ''. Say help for the list."


async def test_the_quotes_a_phone_types_group_words_as_straight_ones_do(hub: Hub) -> None:
    """A phone's keyboard turns `"` into `“`/`”`: `cron “30 6 * * 1-5” chauffage on` was "Cron
    '“30': it has 1 field, not 5", a message the sender could not see the fault in."""
    for line in ('cron “30 6 * * 1-5” read salon', 'cron „30 6 * * 1-5“ read salon', 'cron « 30 6 * * 1-5 » read salon'):
        answer = await exec_command(hub, line)
        assert answer.startswith("Timer #") and ', cron "30 6 * * 1-5".' in answer, (line, answer)
    assert (await exec_command(hub, "read “living room”")).startswith("salon: ")
    assert (await exec_command(hub, "read l’entrée")) == "entrée is a camera; try snap entree."    # an apostrophe stays


async def test_a_repeat_said_after_its_time_is_the_repeat_at_that_time(hub: Hub) -> None:
    """`at 06:30 every day read salon` was "A timer cannot set timers; write the schedule once.",
    though nothing but the order differs from `every day at 06:30 read salon`."""
    assert (await exec_command(hub, "at 06:30 every day read salon")).endswith(", every day at 06:30.")
    assert (await exec_command(hub, "at 7pm every monday and friday read salon")).endswith(
        ", every monday and friday at 19:00.")
    assert (await exec_command(hub, "at 7:00 every weekday read chambre")).endswith(", every weekday at 07:00.")
    assert await exec_command(hub, "at 06:30 every 15m read salon") == \
        "A timer cannot set timers; write the schedule once."           # a count from now takes no time
    assert (await exec_command(hub, "à 6h30 tous les jours lire salon")).endswith(", tous les jours à 06:30.")
    assert "owner: read salon (every monday and friday at 19:00)" in await exec_command(hub, "timers")


async def test_help_shows_the_prefix_only_where_one_is_needed(hub: Hub) -> None:
    """The console and other direct chats take `temp salon` as is; a room needs `!temp salon`."""
    direct = (await exec_command(hub, "help")).splitlines()
    assert direct[0] == "Commands:"
    assert "temp [ROOM] — Temperature of a room, or of every room." in direct
    assert direct[-1] == "DEVICE on|off — Shorthand for switch (e.g. chauffage on)."
    assert not [line for line in direct if line.startswith("!")]
    # The listing goes behind other answers on a paced network (36 IRC lines at a line a second).
    assert all(reply.low_priority for reply in await hub.execute(message("help")))
    # In a room, one line: 30 of them held everyone's answers behind them on a paced IRC channel.
    room = await exec_command(hub, "!help", direct=False)
    assert room.startswith("Commands: ack, alerts, ") and "temp" in room and "\n" not in room, room
    assert room.endswith("!help NAME tells how to use one; help in a direct chat lists them all with their use.")
    assert (await exec_command(hub, "help temp")).startswith("temp [ROOM] — ")
    assert (await exec_command(hub, "!help !temp", direct=False)).startswith("!temp [ROOM] — ")
    assert await exec_command(hub, "help nope") == "No command 'nope'. Say help for the list."
    assert await exec_command(hub, "!help nope", direct=False) == "No command 'nope'. Say !help for the list."


async def test_strangers_read_but_cannot_switch_and_are_audited(hub: Hub) -> None:
    stranger = {"network": "irc", "sender": "eve!e@evil.example", "adapter": "irc"}
    assert (await exec_command(hub, "temp salon", **stranger)).startswith("salon:")
    assert (await exec_command(hub, "help switch", **stranger)).endswith("(not for you: it needs the switch permission)")
    assert not (await exec_command(hub, "help temp", **stranger)).endswith("permission)")
    refused = await exec_command(hub, "switch heater on", **stranger)
    assert refused.startswith("Sorry, you may not use switch.")
    assert hub.home.devices["heater"].reading is None or hub.home.devices["heater"].reading.value is False
    bob = {"network": "irc", "sender": "bob!b@home.example.org", "adapter": "irc"}
    assert await exec_command(hub, "chauffage on", **bob) == "heater is ON"
    # a nick alone (untrusted identity) never maps to a user
    spoof = {"network": "irc", "sender": "bob!b@home.example.org", "adapter": "irc", "trusted": False}
    assert (await exec_command(hub, "chauffage off", **spoof)).startswith("Sorry")
    entries = await hub.store.audit_entries("refused")
    assert [e["sender"] for e in entries] == ["irc:eve!e@evil.example", "irc:bob!b@home.example.org"]


async def test_rate_limit_per_sender(hub: Hub) -> None:
    flood = {"network": "irc", "sender": "f!f@x", "adapter": "irc"}
    replies = [await exec_command(hub, "whoami", **flood) for _ in range(7)]
    assert replies[4].startswith("You are")
    assert replies[5] == "Too many commands; wait a minute and try again."
    other = {"network": "irc", "sender": "o!o@x", "adapter": "irc"}
    assert (await exec_command(hub, "whoami", **other)).startswith("You are")


async def test_a_stranger_changing_nick_on_irc_keeps_their_bucket(hub: Hub) -> None:
    # The nick is the sender's to change at will; the host is not: a /nick starts no fresh bucket.
    from irc3.utils import IrcString

    from adapters.irc_identity import Roster
    from chatops.message import Address, Message

    roster = Roster(str.lower, set())

    async def say(mask: str) -> str:
        line = Message(roster.identity(IrcString(mask), None), Address("irc", "#maison", False), "!whoami")
        return "\n".join(r.text for r in await hub.execute(line))
    replies = [await say(f"eve{n}!e@evil.example") for n in range(7)]
    assert replies[4].startswith("You are") and replies[5] == "Too many commands; wait a minute and try again."
    assert (await say("bob!b@elsewhere.example")).startswith("You are")


async def test_a_strangers_ack_costs_the_bucket_as_any_line(hub: Hub) -> None:
    # `ack` is unmetered for users (a storm of alerts must not lock them out); a stranger's refused
    # `ack` lines would otherwise be answered and audited without limit.
    flood = {"network": "irc", "sender": "m!m@evil.example", "adapter": "irc"}
    replies = [await exec_command(hub, "ack", **flood) for _ in range(8)]
    assert all(r.startswith("Sorry, you may not use ack.") for r in replies[:5]), replies
    assert replies[5] == "Too many commands; wait a minute and try again."
    assert replies[6:] == ["", ""]
    bob = {"network": "irc", "sender": "bob!b@home.example.org", "adapter": "irc"}
    assert [await exec_command(hub, "ack", **bob) for _ in range(7)][-1] == "Nothing to acknowledge."


async def test_oversized_and_empty_lines_cost_the_bucket_as_any_line(hub: Hub) -> None:
    # Answered before any command is looked up, they were once answered without limit and
    # without a trace: a stranger could make the hub talk for ever (1,001 characters, or `!`).
    for line, answer in (("x" * 1001, "That message is 1001 characters long"), ("!", "Say help for the list")):
        sender = {"network": "irc", "sender": f"e{len(line)}!e@evil{len(line)}.example", "adapter": "irc"}
        replies = [await exec_command(hub, line, **sender) for _ in range(8)]
        assert all(r.startswith(answer) for r in replies[:5]), replies
        assert replies[5:] == ["Too many commands; wait a minute and try again.", "", ""], replies
        assert (await exec_command(hub, "whoami", **sender)) == "", "the bucket is empty for commands too"
    audited = await hub.store.audit_entries("too-long")
    assert len(audited) == 1 and audited[0]["detail"] == "1001 characters" and len(audited[0]["text"]) <= 1000
    assert len(await hub.store.audit_entries("rate-limited")) == 2


async def test_a_late_line_is_not_run_and_costs_the_bucket_as_any_line(hub: Hub) -> None:
    # A network may deliver lines queued while the hub was offline; on XMPP and Matrix anyone may
    # also stamp a line as old. Not run, answered, audited, and metered: no side door.
    import dataclasses
    late = [dataclasses.replace(message("chauffage on", sender="e!e@x", network="irc", adapter="irc"), late=3600.0)
            for _ in range(8)]
    replies = ["\n".join(r.text for r in await hub.execute(line)) for line in late]
    assert replies[:5] == ["Not run: 'chauffage on' reached the hub 1h late (it was offline). Send it again if it "
                           "still matters."] * 5
    assert replies[5:] == ["Too many commands; wait a minute and try again.", "", ""]
    assert len(await hub.store.audit_entries("late")) >= 1
    assert hub.home.devices["heater"].reading is None or hub.home.devices["heater"].reading.value is not True


async def test_a_stranger_who_may_not_read_learns_no_device_name(tmp_path: Path) -> None:
    # With a default role that may not read, suggestions and refusals must not tell which
    # devices exist: a device's name gets the answer any unknown word gets.
    settings = settings_for(tmp_path, hub={"default_role": "nobody"}, roles={"nobody": ["help"]})
    async with running(Hub(settings, tty=False)) as hub:
        eve = {"network": "irc", "sender": "eve!e@evil.example", "adapter": "irc"}
        answers = {line: await exec_command(hub, line, **eve) for line in ("chauffag on", "heater", "kitchen_smoke x",
                                                                         "salon", "xyzzy")}
        for line, answer in answers.items():
            assert answer.startswith(f"Unknown command '{line.split()[0]}'."), answers
            told = answer.replace(f"'{line.split()[0]}'", "").lower()     # beyond the word they typed
            assert not any(name in told for name in ("chauffage", "heater", "salon", "kitchen")), answers
        assert (await exec_command(hub, "read heater", **eve)).startswith("Sorry, you may not use read.")
        assert any(e["kind"] == "refused" and e["text"] == "heater" for e in await hub.store.audit_entries())
        assert "Did you mean chauffage" in await exec_command(hub, "chauffag on"), "the owner still gets help"
    # Nor from commands that may show something else than what `read` guards: `temp DEVICE`,
    # `help DEVICE`, `devices`, the names in `status`.
    settings = settings_for(tmp_path / "c", hub={"default_role": "nobody"},
                            roles={"nobody": ["help", "temp", "status", "devices"]})
    async with running(Hub(settings, tty=False)) as hub:
        eve = {"network": "irc", "sender": "eve!e@evil.example", "adapter": "irc"}
        rooms = "Temperature sensors: "
        assert (await exec_command(hub, "temp salon", **eve)).startswith("salon: "), "temperatures are temp's"
        for line in ("temp heater", "temp kitchen_smoke", "temp heatr"):
            answer = await exec_command(hub, line, **eve)
            assert answer.startswith(f"No room called '{line.split()[1]}'. {rooms}"), answer
            assert "heater" not in answer.replace("'heater'", "") and "kitchen" not in answer.replace(
                "'kitchen_smoke'", ""), answer
        assert await exec_command(hub, "help heater", **eve) == "No command 'heater'. Say help for the list."
        assert (await exec_command(hub, "devices", **eve)).startswith("Sorry, ")
        await hub.alerts.mute("smoke", 3600, "owner")
        status = await exec_command(hub, "status", **eve)
        assert status.startswith("maison up") and "heater" not in status and "kitchen_smoke" not in status, status
        assert "Muted" not in status, "which alarm is silenced, and until when, is alerts' to show"
        assert "Muted: smoke until" in await exec_command(hub, "status"), "the owner is told"
        assert (await exec_command(hub, "temp heater")).startswith("heater is a switch, not a temperature: read "
                                                                  "heater shows it."), "who may read is told what it is"
    # Setting a timer asks the same question of the line: no device name there either.
    settings = settings_for(tmp_path / "b", hub={"default_role": "nobody"}, roles={"nobody": ["help"], "planner": ["schedule"]},
                            users={"kid": {"roles": ["planner"], "irc": ["kid!k@home.example.org"]}})
    async with running(Hub(settings, tty=False)) as hub:
        kid = {"network": "irc", "sender": "kid!k@home.example.org", "adapter": "irc"}
        for line, word in (("in 1m chaufage on", "chaufage"), ("in 1m chauffage", "chauffage")):
            answer = await exec_command(hub, line, **kid)
            assert answer.startswith(f"Not scheduled: '{word}' is not a command"), answer
            assert "chauffage" not in answer.replace(f"'{word}'", ""), answer


async def test_oversized_and_control_characters(hub: Hub) -> None:
    assert "characters long" in await exec_command(hub, "temp " + "x" * 5000)
    assert (await exec_command(hub, "temp\x00 sa\u202elon\x07")).startswith("No device called")
    assert (await exec_command(hub, 'read "living room')).startswith("salon:")
    assert await exec_command(hub, "read l'entrée") == "entrée is a camera; try snap entree."    # the article skipped


@command("boom", permission="help")
async def boom(ctx: Context) -> str:
    """Always fails."""
    raise RuntimeError("kaboom")


@command("pick", permission="help")
async def pick(ctx: Context, count: int, colour: Literal["red", "blue"] = "red") -> str:
    """Typed arguments."""
    return f"{count} {colour}"


@command("quit", permission="help")
async def quit_(ctx: Context) -> str:
    """A plugin's handler calling sys.exit (argparse's --help does)."""
    raise SystemExit(3)


@command("orphan", permission="help")
async def orphan(ctx: Context) -> str:
    """Awaits a task someone else cancelled."""
    task = asyncio.get_running_loop().create_task(asyncio.sleep(10))
    task.cancel()
    return str(await task)


async def test_a_handler_exiting_or_cancelled_from_within_is_answered_and_the_hub_lives(
        hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    """`sys.exit(3)` in a plugin's handler stopped the whole hub (exit 3); a CancelledError it
    raised itself left its conversation without an answer (and killed the console's reader)."""
    router = Router(hub, CommandSet([quit_.__chatops_command__, orphan.__chatops_command__]), hub.access,
                    lambda *a: None, hub.home.find)
    for line in ("quit", "orphan"):
        outcome, replies = await router.run(message(line))
        assert outcome == "error" and replies[0].text.startswith(f"Sorry, {line} failed (incident "), replies
    assert "SystemExit: 3" in caplog.text and "CancelledError" in caplog.text


async def test_handler_exception_becomes_an_apology(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    router = Router(hub, CommandSet([boom.__chatops_command__, pick.__chatops_command__]), hub.access,
                    lambda *a: None, hub.home.find)
    replies = [r.text for r in await router.replies(message("boom"))]
    assert replies[0].startswith("Sorry, boom failed (incident ")
    assert "kaboom" in caplog.text
    assert [r.text for r in await router.replies(message("pick 3 BLUE"))] == ["3 blue"]
    bad = (await router.replies(message("pick many")))[0].text
    assert bad == "count must be a number, not 'many'. Usage: pick COUNT [red|blue]"


def test_bind_joins_extra_words_into_the_first_text_parameter() -> None:
    spec = command("switch")(_switch).__chatops_command__
    assert bind(spec, ["living", "room", "on"]) == ["living room", "on"]


async def _switch(ctx: Context, device: str, state: Literal["on", "off"]) -> str:
    return ""


async def _typed(ctx: Context, loud: bool, wait: Duration = 0.0) -> str:
    return ""


async def _annotated(ctx: Context, mode: Annotated[Literal["on", "off"], "the mode"]) -> str:
    return ""


def test_an_annotated_choice_keeps_its_choices() -> None:
    spec = command("annotated")(_annotated).__chatops_command__
    assert bind(spec, ["ON"]) == ["on"]
    with pytest.raises(BindError, match=r"^Say on or off, not 'up'\.$"):
        bind(spec, ["up"])


def test_bool_and_duration_arguments_are_converted_or_explained() -> None:
    """A plugin's `loud: bool` takes yes/no words (`false` is False, not a true string), a
    `Duration` takes "5m" as 300 seconds; anything else is answered with what it must be."""
    spec = command("typed")(_typed).__chatops_command__
    assert bind(spec, ["false", "5m"]) == [False, 300.0]
    assert bind(spec, ["OUI"]) == [True]
    with pytest.raises(BindError, match=r"^loud must be yes or no, not 'maybe'\.$"):
        bind(spec, ["maybe"])
    with pytest.raises(BindError, match=r"^wait must be a duration such as 30s, 5m or 2h, not 'soon'\.$"):
        bind(spec, ["no", "soon"])
    with pytest.raises(BindError, match=r"^Too many arguments\.$"):
        bind(spec, ["no", "5m", "extra"])


async def test_a_command_past_the_handler_timeout_is_stopped(tmp_path: Path,
                                                             caplog: pytest.LogCaptureFixture) -> None:
    hub = Hub(settings_for(tmp_path, hub={"handler_timeout": "200ms"}), tty=False)
    stopped = asyncio.Event()

    @command("slow", permission="help")
    async def slow(ctx: Context) -> str:
        """Waits for something that never comes."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            stopped.set()
            raise
        return "finished"

    router = Router(hub, CommandSet([slow.__chatops_command__]), hub.access, lambda *a: None, hub.home.find)
    assert [r.text for r in await router.replies(message("slow"))] == ["slow took longer than 0.2s and was stopped."]
    assert stopped.is_set()                                  # cancelled, not left running behind the answer
    assert "command slow timed out after 0.2s" in caplog.text


async def test_a_handler_that_waits_answers_or_fails_like_one_that_does_not(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The handler's first step runs at once (no timer for an answer from memory); one that
    waits goes on with what it waited for, and its later failure is still an apology."""
    hub = Hub(settings_for(tmp_path), tty=False)

    @command("later", permission="help")
    async def later(ctx: Context, what: Literal["answer", "fail"]) -> str:
        """Answers after two waits."""
        got = await asyncio.get_running_loop().run_in_executor(None, lambda: 21)
        await asyncio.sleep(0)
        if what == "fail":
            raise RuntimeError("late kaboom")
        return f"waited for {got * 2}"

    router = Router(hub, CommandSet([later.__chatops_command__]), hub.access, lambda *a: None, hub.home.find)
    assert await router.run(message("later answer")) == ("ok", [Reply("waited for 42")])
    outcome, replies = await router.run(message("later fail"))
    assert outcome == "error" and replies[0].text.startswith("Sorry, later failed (incident ")
    assert "late kaboom" in caplog.text


async def test_a_slow_send_between_progress_replies_is_not_the_handlers_time(tmp_path: Path) -> None:
    """The handler timeout runs while a progress handler works, not while its last reply is
    being sent: a slow network then cancelled the send itself, outside any timeout's reach."""
    hub = Hub(settings_for(tmp_path, hub={"handler_timeout": "200ms"}), tty=False)

    @command("shutter", permission="help")
    async def shutter(ctx: Context) -> AsyncIterator[str]:
        """Says closing, then closed."""
        yield "closing…"
        yield "closed"

    router = Router(hub, CommandSet([shutter.__chatops_command__]), hub.access, lambda *a: None, hub.home.find)
    seen = []

    async def slow_send(reply: Reply) -> None:
        seen.append(reply.text)
        if len(seen) == 1:                      # a send slower than the whole handler timeout
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.Event().wait(), 0.4)
    await router.answer(message("shutter"), slow_send)
    assert seen == ["closing…", "closed"]


async def test_a_progress_handler_that_never_waits_is_stopped_at_the_timeout(tmp_path: Path) -> None:
    hub = Hub(settings_for(tmp_path, hub={"handler_timeout": "100ms"}), tty=False)

    @command("chatter", permission="help")
    async def chatter(ctx: Context) -> AsyncIterator[str]:
        """Talks for ever without waiting for anything."""
        while True:
            yield "more"

    router = Router(hub, CommandSet([chatter.__chatops_command__]), hub.access, lambda *a: None, hub.home.find)
    outcome, replies = await router.run(message("chatter"))
    assert outcome == "timeout"
    assert replies[-1].text == "chatter took longer than 0.1s and was stopped."


# Devices that never answer: simulator off, so nothing on the (embedded) broker echoes or reports.
QUIET_DEVICES = {
    "lamp": {"type": "switch", "state_topic": "test/lamp/state", "command_topic": "test/lamp/set",
             "confirm_timeout": "1s"},
    "cellar": {"type": "sensor", "topic": "test/cellar/temperature", "unit": "°C"},   # no get request possible
}


@pytest.fixture
async def quiet_hub(tmp_path: Path) -> AsyncIterator[Hub]:
    settings = settings_for(tmp_path, simulator={"enabled": False}, devices=QUIET_DEVICES)
    async with running(Hub(settings, tty=False)) as started:
        yield started


async def test_a_switch_that_never_confirms_says_so(quiet_hub: Hub) -> None:
    assert await exec_command(quiet_hub, "switch lamp on") == \
        "No confirmation from lamp after 1s (asked ON, last state unknown)."
    await quiet_hub.mqtt.publish("test/lamp/state", "OFF")
    await wait_for(lambda: quiet_hub.home.devices["lamp"].reading is not None)
    assert await exec_command(quiet_hub, "lamp on") == "No confirmation from lamp after 1s (asked ON, last state OFF)."


async def test_a_sensor_without_a_reading_and_no_way_to_ask(quiet_hub: Hub) -> None:
    assert await exec_command(quiet_hub, "temp cellar") == "cellar: no reading yet"
    await quiet_hub.mqtt.publish("test/cellar/temperature", "12.5")
    await wait_for(lambda: quiet_hub.home.devices["cellar"].reading is not None)
    assert await exec_command(quiet_hub, "temp cellar") == "cellar: 12.5 °C"


async def test_a_device_that_never_answers_is_given_up_at_the_handler_timeout(tmp_path: Path) -> None:
    """chambre (zigbee2mqtt/chambre) has no reading; temp asks zigbee2mqtt/chambre/get and nobody answers."""
    settings = settings_for(tmp_path, simulator={"enabled": False}, hub={"handler_timeout": "200ms"})
    async with running(Hub(settings, tty=False)) as hub:
        assert await exec_command(hub, "temp chambre") == "temp took longer than 0.2s and was stopped."
        assert (await exec_command(hub, "whoami")).startswith("You are")      # and answers on


async def test_an_alias_does_not_swallow_a_device_named_with_it(tmp_path: Path) -> None:
    # "tous"/"toutes" schedule and "à" is `at`, but a device whose name starts with such a word
    # is still switched by its name; and an article that is part of a name is not dropped.
    settings = settings_for(tmp_path, devices={"hall_light": {"aliases": ["toutes les lampes"]},
                                               "volet_salon": {"aliases": ["les volets"]}})
    async with running(Hub(settings, tty=False)) as hub:
        assert await exec_command(hub, "toutes les lampes on") == "hall light is ON"
        assert (await exec_command(hub, "toutes les 15m read salon")).startswith("Timer #1: read salon at ")
        assert (await exec_command(hub, "in 5m read les volets")).startswith("Timer #2: read les volets at ")


async def test_unknown_device_lists_only_what_the_command_takes(hub: Hub) -> None:
    """`switch nope on` lists the devices that switch, not cameras and sensors; `set` the ones that
    take a value; `history` every device but the cameras; `read` every device."""
    switches = sorted(d.name for d in hub.home.devices.values() if d.switchable)
    settable = sorted(d.name for d in hub.home.devices.values() if d.settable)
    cameras = [d.name for d in hub.home.devices.values() if d.type.value == "camera"]
    assert switches and cameras
    assert await exec_command(hub, "switch nope on") == \
        f"No device called 'nope'. Devices that switch: {', '.join(switches)}."
    assert await exec_command(hub, "set nope 3") == \
        f"No device called 'nope'. Devices that take a value: {', '.join(settable) or 'none'}."
    listed = (await exec_command(hub, "history nope")).split(": ", 1)[1]
    assert not set(cameras) & set(listed.rstrip(".").split(", "))
    assert set(cameras) <= set((await exec_command(hub, "read nope")).split(": ", 1)[1].rstrip(".").split(", "))


async def test_temp_of_a_word_in_one_rooms_name_suggests_that_room(tmp_path: Path) -> None:
    """A discovered "Garage Temperature" is garage_temperature: `temp garage` suggests it."""
    devices = {"garage_temperature": {"type": "sensor", "topic": "t/garage", "unit": "°C",
                                      "label": "Garage Temperature"}}
    settings = settings_for(tmp_path, simulator={"enabled": False}, devices=devices)
    async with running(Hub(settings, tty=False)) as hub:
        assert await exec_command(hub, "temp garage") == \
            "No device called 'garage'. Did you mean garage_temperature?"


async def test_a_house_of_many_devices_is_listed_by_type_or_name_never_cut(tmp_path: Path) -> None:
    """150 discovered sensors: `devices` says how many more there are and how to see them rather
    than cutting the answer mid-line; `devices TYPE` and `devices PART-OF-A-NAME` pick some."""
    many = {f"room{i:03}_temperature": {"type": "sensor", "topic": f"t/{i}", "unit": "°C"} for i in range(150)}
    settings = settings_for(tmp_path, simulator={"enabled": False}, devices=many)
    async with running(Hub(settings, tty=False)) as hub:
        listed = await exec_command(hub, "devices")
        assert len(listed) <= hub.router.max_reply and "cut:" not in listed
        shown, total = listed.count("\n"), len(hub.home.devices)
        assert listed.splitlines()[-1] == f"… and {total - shown} more: say devices TYPE or part of a name " \
            "(types: camera, detector, light, sensor, shutter, switch, thermostat)."
        assert (await exec_command(hub, "devices room149")) == "room149_temperature [sensor]: no reading yet"
        assert len((await exec_command(hub, "devices room14")).splitlines()) == 10      # room140 … room149
        assert "\nroom000_temperature [sensor]" in await exec_command(hub, "devices sensor")
        assert await exec_command(hub, "devices garage") == "No device is a 'garage' or has it in its name. " \
            "Types: camera, detector, light, sensor, shutter, switch, thermostat."


async def test_whoami_lists_the_commands_the_sender_may_use_as_help_does(hub: Hub) -> None:
    """whoami listed permission words: `read` (which grants `devices` and a plugin's commands
    too) where help listed commands; a guest reads commands, not [roles]."""
    stranger = await exec_command(hub, "whoami", network="irc", sender="s!s@x", adapter="irc")
    help_names = (await exec_command(hub, "!help", network="irc", sender="s!s@x", adapter="irc", direct=False))
    listed = stranger.partition("you may use: ")[2].rstrip(".").split(", ")
    assert sorted(listed) == sorted(help_names.partition("Commands: ")[2].partition(".")[0].split(", ")), \
        (stranger, help_names)
    assert "devices" in listed and "switch" not in listed, listed


async def test_temp_asks_every_silent_room_at_once(tmp_path: Path) -> None:
    """Each room not heard since the start was asked for its reading one after the other, 2 s
    each: 15 silent battery sensors went past the handler's timeout, and `temp` said nothing."""
    silent = {f"room{i}": {"type": "sensor", "topic": f"t/room{i}", "unit": "°C"} for i in range(6)}
    settings = settings_for(tmp_path, simulator={"enabled": False}, devices=silent)
    async with running(Hub(settings, tty=False)) as hub:
        started = time.monotonic()
        answer = await exec_command(hub, "temp")
        assert answer.count("\n") >= 5 and "room5: " in answer, answer
        assert time.monotonic() - started < 2.0 * 6 / 2, "asked at once, not 6 x 2 s one after the other"


async def test_did_you_mean_guesses_only_what_is_close_or_said_later(tmp_path: Path) -> None:
    """`what is the temperature` was offered chart, `light on` list, `please show the history`
    pause: a short word is close to too much at 0.6, and people ask in sentences."""
    hub = Hub(settings_for(tmp_path, users={"owner": {"roles": ["admin"], "console": ["owner"]}}), tty=False)
    answers = {line: await exec_command(hub, line, sender="owner") for line in (
        "what is the temperature", "light on", "tmep salon", "hlep", "please show the history of salon", "swich heater on")}
    assert answers == {
        "what is the temperature": "Unknown command 'what'. Did you mean temperature?",
        "light on": "Unknown command 'light'. Say help for the list.",
        "tmep salon": "Unknown command 'tmep'. Did you mean temp?",
        "hlep": "Unknown command 'hlep'. Did you mean help?",
        "please show the history of salon": "Unknown command 'please'. Did you mean history?",
        "swich heater on": "Unknown command 'swich'. Did you mean switch?"}


def test_a_parameter_of_a_type_the_router_cannot_convert_is_refused_at_import() -> None:
    """`day: datetime.date` reached the handler as the text typed, a str."""
    with pytest.raises(TypeError, match="parameter 'day' is a <class 'datetime.date'>; a command takes str, int"):
        @command("when", permission="help")
        async def when(ctx: Context, day: datetime.date) -> str:
            """When."""
            return str(day)
