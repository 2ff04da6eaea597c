"""What a new user reads when a device command goes slightly wrong: the word they left out is
named (not the article they said), the line to say instead is theirs (their verb, their name for
the device), and the demo's French words work. Most answers need no server: a hub never started
refuses before it would drive anything."""

from __future__ import annotations

from pathlib import Path

from chatops.device_names import unspoken
from chatops.hub import Hub
from chatops.testing import exec_command, settings_for

USERS = {"owner": None,
         "alice": {"roles": ["admin"], "language": "fr", "web": ["alice"], "loopback": ["alice"]},
         "bob": {"roles": ["admin"], "web": ["bob"], "loopback": ["bob"]}}


def offline_hub(tmp_path: Path) -> Hub:
    """The demo house, never started: no MQTT, no storage; a refusal needs neither."""
    return Hub(settings_for(tmp_path / "data", simulator={"enabled": False}, users=USERS, web={"user": None},
                            alerts=[]), tty=False)


async def alice(hub: Hub, text: str) -> str:
    return await exec_command(hub, text, network="web", sender="alice")


async def bob(hub: Hub, text: str) -> str:
    return await exec_command(hub, text, network="web", sender="bob")


async def test_an_unknown_name_is_echoed_without_its_article(tmp_path: Path) -> None:
    hub = offline_hub(tmp_path)
    assert await alice(hub, "allume la lamp") == "Aucun appareil nommé 'lamp'. Vouliez-vous dire lampe ?"
    assert await bob(hub, "turn on the lamp") == "No device called 'lamp'. Did you mean lampe?"
    assert [unspoken(name) for name in ("The lamp", "l'entrée", "la", "lampe")] == ["lamp", "entrée", "la", "lampe"]


async def test_the_temperature_list_does_not_call_a_thermostat_a_room(tmp_path: Path) -> None:
    hub = offline_hub(tmp_path)
    assert await bob(hub, "temp cuisine") == \
        "No room called 'cuisine'. Temperature sensors: chambre, salon, thermostat."
    assert await alice(hub, "temp cuisine") == \
        "Aucune pièce nommée 'cuisine'. Capteurs de température : chambre, salon, thermostat."
