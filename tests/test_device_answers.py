"""What a new user reads when a device command goes slightly wrong: the word they left out is
named (not the article they said), the line to say instead is theirs (their verb, their name for
the device), and the demo's French words work. Most answers need no server: a hub never started
refuses before it would drive anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.device_names import unspoken
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

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


@pytest.mark.servers
async def test_the_french_demo_simulates_smoke_by_the_detectors_alias(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`simule fumée` was an unknown command, then `simulate fumée on` "Say smoke or motion": fumée
    is the detector's alias."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, web={"user": None},
                            simulator={"enabled": True, "cover_travel": "1s", "interval": "1s"}, alerts=[])
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["volet_salon"].reading is not None)
        assert await alice(hub, "simule fumée") == "Dites simule fumée on ou simule fumée off."
        assert (await alice(hub, "simule fumée on")).startswith("Fumée simulée détectée dans la cuisine ;")
        assert (await alice(hub, "simulate fumée off")).startswith("Fumée simulée dissipée dans la cuisine ;")
        assert await alice(hub, "simule toto on") == \
            "Dites smoke ou motion, pas 'toto'. Utilisation : simule smoke on|off | simulate motion [on|off]"
