"""The SMS PIN is a check on the one access path: it is judged on exactly the words the router
runs, whatever the spelling (prefix, mention, quotes, case, accents, alias, `switch` form).

The hub is built with an SMS adapter (not running: no modem is needed for the router's decision)
and lines arrive as the SMS adapter hands them over, from alice's number."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chatops.hub import Hub
from chatops.message import Address, Identity, Message
from chatops.testing import settings_for

PIN = "Sesame"
ALICE = "+33611111111"
CAROL = "+33633333333"        # an admin: unmetered on proven networks, not on SMS


@pytest.fixture
async def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hub]:
    monkeypatch.setenv("ALICE_SMS_PIN", PIN)
    settings = settings_for(tmp_path / "data", adapters={"sms": {"backend": "gammu", "model": "dummy",
                                                                 "connection": "none", "device": str(tmp_path)}},
                            users={"alice": {"roles": ["family"], "sms": [ALICE], "pin_env": "ALICE_SMS_PIN"},
                                   "bob": {"roles": ["family"], "sms": ["+33622222222"]},
                                   "carol": {"roles": ["admin"], "sms": [CAROL], "pin_env": "ALICE_SMS_PIN"}})
    hub = Hub(settings)
    await hub.store.open()
    yield hub
    await hub.store.close()


async def sms(hub: Hub, text: str, number: str = ALICE) -> str:
    message = Message(Identity("sms", number), Address("sms", number, True), text, addressed=True)
    return "\n".join(r.text for r in await hub.execute(message))


async def audited(hub: Hub) -> list[tuple[str, str]]:
    """The PIN rows of the audit log."""
    await hub.audit.flush(everything=True)
    return [(e["kind"], e["text"]) for e in await hub.store.audit_entries() if e["kind"].startswith("pin-")]


SPELLINGS = [
    "chauffage on", "!chauffage on", "maison: chauffage on", "maison:chauffage on", "maison, chauffage on",
    '"chauffage" on', "CHAUFFAGE ON", "Chauffagé on", "heater on", "switch heater on", "switch chauffage on",
    "turn heater on", "allume heater on", '!"switch" "heater" on', "@maison chauffage on",
]


async def test_every_spelling_without_the_pin_is_refused_and_audited(hub: Hub) -> None:
    hub.commands.find("switch")        # the command exists; nothing below may reach it
    for text in SPELLINGS:
        assert "needs your PIN" in await sms(hub, text), text
    assert await audited(hub) == [("pin-missing", text) for text in SPELLINGS]
    assert (await sms(hub, "temp salon")).startswith("salon")                  # read-only: no PIN
    assert (await sms(hub, "!Salon")).startswith("salon")                      # read shorthand
    assert "needs your PIN" not in await sms(hub, "chauffage on", "+33622222222")   # bob has no PIN


async def test_the_pin_works_in_every_spelling(hub: Hub) -> None:
    for text in ("Sesame chauffage on", "!sesame chauffage on", "maison: SESAME switch heater on",
                 '"sesame" heater on', "Sesame !chauffage on"):
        reply = await sms(hub, text)
        assert "PIN" not in reply and "may not" not in reply, (text, reply)
    assert await audited(hub) == []


async def test_wrong_pins_in_any_spelling_count_toward_the_lockout(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    guesses = ["1234 chauffage on", "!1234 chauffage on", "maison: 1234 heater on", '"1234" switch heater on',
               "0000 !chauffage on"]
    for text in guesses:
        assert await sms(hub, text) == "Wrong PIN; nothing was done.", text
    assert await sms(hub, "Sesame chauffage on") == "Too many wrong PINs; try again in an hour."
    assert (await sms(hub, "Sesame temp salon")).startswith("salon"), "reading stays open"
    rows = await audited(hub)
    assert rows == [("pin-wrong", "**** chauffage on"), ("pin-wrong", "!**** chauffage on"),
                    ("pin-wrong", "maison: **** heater on"), ("pin-wrong", '"****" switch heater on'),
                    ("pin-wrong", "**** !chauffage on"), ("pin-locked", "**** chauffage on")]
    assert len(hub.access._failures["alice"]) == 5
    assert PIN.lower() not in caplog.text.lower()


async def test_a_pin_anywhere_in_a_refused_line_is_masked(hub: Hub) -> None:
    # alice (family) may not simulate: refused for the permission, audited with the PIN hidden.
    assert "may not use simulate" in await sms(hub, "sesame simulate smoke on")
    assert "may not use simulate" in await sms(hub, "simulate smoke on SESAME")
    await hub.audit.flush()
    assert [e["text"] for e in await hub.store.audit_entries("refused")] == \
        ["**** simulate smoke on", "simulate smoke on ****"]
    alice = hub.auth.users["alice"]
    assert hub.access.mask(alice, "maison: sesame chauffage on") == "maison: **** chauffage on"
    # Glued to a word, the PIN is no PIN; the unknown-command answer does not say it back.
    answer = await sms(hub, "Sesame.chauffage on")
    assert "Sesame" not in answer and "sesame" not in answer.lower(), answer
    # And closing punctuation does not cost the PIN: `Sesame chauffage on.` switches.
    assert (await sms(hub, "Sesame chauffage on.")).startswith("Cannot switch heater")   # past the PIN: no broker here


async def test_the_pin_is_masked_in_every_form_it_is_accepted_in(hub: Hub) -> None:
    # take_pin folds case, accents and compatibility forms: the audit row hides the same forms.
    assert "may not use simulate" in await sms(hub, "SÉSAME simulate smoke on")
    await hub.audit.flush()
    assert [e["text"] for e in await hub.store.audit_entries("refused")] == ["**** simulate smoke on"]
    alice = hub.auth.users["alice"]
    assert hub.access.mask(alice, "Ｓｅｓａｍｅ chauffage on") == "**** chauffage on"
    assert hub.access.mask(alice, "sésame, chauffage on") == "**** chauffage on"
    assert hub.access.mask(alice, "temp salon") == "temp salon"


async def test_a_flood_of_wrong_pins_from_an_admin_number_is_rate_limited(hub: Hub) -> None:
    """Anyone can send an SMS from an admin's number: 200 guesses cost that number's bucket like
    anyone else's, so they write a handful of audit rows and answers, not 200 of each."""
    replies = [await sms(hub, f"{n:04d} chauffage on", CAROL) for n in range(200)]
    answered = [r for r in replies if r]
    assert answered[-1] == "Too many commands; wait a minute and try again."
    burst = hub.settings.hub.rate_limit           # a minute's worth at once, then one refusal, then silence
    assert set(answered[:-1]) == {"Wrong PIN; nothing was done."} and len(answered) <= burst + 1
    await hub.audit.flush(everything=True)
    entries = await hub.store.audit_entries()
    assert len([e for e in entries if e["sender"] == f"sms:{CAROL}"]) <= burst + 2


async def test_an_alarm_tells_a_pin_user_to_answer_with_the_pin_and_the_refusal_names_the_command(hub: Hub) -> None:
    """`(alert #1; answer ack 1)` sent to alice, whose SMS need her PIN: her `ack` was refused,
    with an example about the heater, an SMS each way during an alarm."""
    from chatops.alerts import AlertEngine
    shown = AlertEngine.in_their_words(hub.alerts, lambda prefix: f"(alert #1; answer {prefix}ack 1)")
    assert shown("alice", "sms", True) == "(alert #1; answer PIN ack 1)"
    assert shown("bob", "sms", True) == "(alert #1; answer ack 1)"             # no PIN: none asked
    assert await sms(hub, "ack 1") == 'This command needs your PIN first: send "PIN ack 1", your PIN word in front.'
    # What she typed, given back whole: `PIN switch` (the shorthand's command) was no command.
    assert await sms(hub, "chauffage on") == \
        'This command needs your PIN first: send "PIN chauffage on", your PIN word in front.'


async def test_the_pin_with_a_colon_is_the_pin_and_a_word_alone_tells_nothing_of_the_pin(hub: Hub) -> None:
    """The PIN alone once got silence and another word "Unknown command": an oracle for whoever
    holds the phone. Both now get the same answer, metered like any line."""
    assert await sms(hub, "Sesame: whoami") != "Wrong PIN; nothing was done."
    said = 'Put your PIN word in front of a command, e.g. "PIN chauffage on"; help lists the commands.'
    assert await sms(hub, "Sesame") == said and await sms(hub, "zzzz") == said
    assert await audited(hub) == []
    answers = [await sms(hub, "Sesame") for _ in range(40)]
    assert answers[-1] == "", "a flood of them runs dry with the sender's bucket"
