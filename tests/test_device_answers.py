"""What a new user reads when a device command goes slightly wrong: the word they left out is
named (not the article they said), the line to say instead is theirs (their verb, their name for
the device), and the demo's French words work. Most answers need no server: a hub never started
refuses before it would drive anything."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from chatops.device_names import called, unspoken
from chatops.home import Reading
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for, wait_for
from tests.test_i18n import USERS, as_alice, as_bob, offline_hub


async def alice(hub: Hub, text: str) -> str:
    return await as_alice(hub)(text)


async def bob(hub: Hub, text: str) -> str:
    return await as_bob(hub)(text)


async def test_dim_without_a_percent_says_the_percent_is_missing_not_that_the_article_is_no_device(
        tmp_path: Path) -> None:
    """`tamise la lampe` was "Aucun appareil nommé 'la'": the article took the light's place."""
    hub = offline_hub(tmp_path)
    assert await alice(hub, "tamise la lampe") == "Argument manquant : pourcentage. Utilisation : tamise LAMPE POURCENTAGE"
    assert await bob(hub, "dim the lampe") == "Missing percent. Usage: dim LIGHT PERCENT"
    assert await bob(hub, "dim hall light") == "hall light only switches: say hall light on or hall light off."
    assert await bob(hub, "dim the lamp") == "No device called 'lamp'. Did you mean lampe?"      # a typo stays one
    assert await bob(hub, "in 1m dim the lampe") == "Not scheduled: missing percent. Usage: dim LIGHT PERCENT"


async def test_set_without_a_value_says_the_value_is_missing_not_that_the_article_is_no_device(
        tmp_path: Path) -> None:
    """`mets le chauffage` was "Aucun appareil nommé 'le'" (the article bound as the device, the
    name as the value) while `mets chauffage` asks for the value, and articles are skipped."""
    hub = offline_hub(tmp_path)
    assert await alice(hub, "mets le chauffage") == await alice(hub, "mets chauffage") == \
        "Argument manquant : valeur. Utilisation : mets APPAREIL VALEUR"
    assert await alice(hub, "règle le thermostat") == "Argument manquant : valeur. Utilisation : règle APPAREIL VALEUR"
    assert await alice(hub, "mets la lampe") == await alice(hub, "mets lampe")
    assert await bob(hub, "set the heater") == await bob(hub, "set heater") == "Missing value. Usage: set DEVICE VALUE"
    assert await alice(hub, "mets le chaufage") == \
        "Aucun appareil nommé 'chaufage'. Appareils réglables : lampe, thermostat, volet_salon."  # a typo stays one
    assert await alice(hub, "mets le chauffage pendant 2 heures") == \
        "heater ne fait que s'allumer et s'éteindre : dites allume chauffage ou éteins chauffage."


async def test_a_time_said_after_a_switch_is_answered_with_the_line_as_said_the_time_first(tmp_path: Path) -> None:
    """`éteins le chauffage dans 10 minutes` suggested `dans 10 minutes le chauffage off`, the verb
    lost and English mixed in, then a usage line glued on without a full stop."""
    hub = offline_hub(tmp_path)
    assert await alice(hub, "éteins le chauffage dans 10 minutes") == (
        "dans 10 minutes dit quand ; pour le faire à ce moment-là, dites-le d'abord : "
        "dans 10 minutes éteins le chauffage")
    assert await alice(hub, "allume le chauffage à 7h") == (
        "à 7h est une heure ; pour le faire à cette heure-là, dites l'heure d'abord : à 7h allume le chauffage")
    assert await bob(hub, "heater on at 7:00") == \
        "at 7:00 is a time of day; to do it then, say the time first: at 7:00 heater on"
    assert await bob(hub, "switch heater on in 10 minutes") == \
        "in 10 minutes says when; to do it then, say that first: in 10 minutes switch heater on"


async def test_a_position_against_the_verb_is_refused_in_the_name_said(tmp_path: Path) -> None:
    """`ferme le volet à 80%` on a closed shutter would open it: refused, with the line that does
    it in the asker's word for the shutter (was `volet_salon`), the state as other state lines."""
    hub = offline_hub(tmp_path)
    volet = hub.home.devices["volet_salon"]
    value, attrs = volet.read_state(b'{"position": 0, "state": "CLOSE"}')
    volet.reading = Reading(value, time.time(), "", attrs)
    assert await alice(hub, "ferme le volet à 80%") == \
        "volet salon: fermé ; pour aller à 80%, il s'ouvrirait ; dites volet 80% pour cela."
    assert await bob(hub, "close the shutter to 80") == \
        "volet salon is closed: to go to 80% it would open; say shutter 80% for that."
    # `du` joins the parts of its name, as French says them: was "'du salon à 80%' is no position".
    assert await alice(hub, "ferme le volet du salon à 80%") == \
        "volet salon: fermé ; pour aller à 80%, il s'ouvrirait ; dites volet salon 80% pour cela."
    assert await alice(hub, "lire le volet du salon") == "volet salon: fermé"


async def test_opening_or_closing_a_light_says_to_switch_it(tmp_path: Path) -> None:
    """`ouvre la lampe` was answered `dites règle lampe VALEUR`: a light switches."""
    hub = offline_hub(tmp_path)
    assert await bob(hub, "open lampe") == "lampe is a light, not a cover: say lampe on."
    assert await alice(hub, "ouvre la lampe") == "lampe est de type lampe, pas un volet : dites allume lampe."
    assert await alice(hub, "ferme la lampe") == "lampe est de type lampe, pas un volet : dites éteins lampe."


async def test_hints_name_the_device_as_the_asker_did(tmp_path: Path) -> None:
    """`tamise chauffage 40` answered `dites allume heater`, the config's name, not the word said."""
    hub = offline_hub(tmp_path)
    assert await alice(hub, "tamise chauffage 40") == \
        "heater ne fait que s'allumer et s'éteindre : dites allume chauffage ou éteins chauffage."
    assert await alice(hub, "dans 1m baisse le chauffage") == \
        "Non programmé : heater est de type interrupteur, pas un volet : dites éteins chauffage."
    assert await bob(hub, "switch the shutter off") == \
        "volet salon is a shutter: say open shutter, close shutter or stop shutter."
    assert await alice(hub, "lire la porte") == "entrée est une caméra ; essayez photo porte."
    assert called(hub.home.devices["volet_salon"], "le volet salon") == "volet salon"     # its label


async def test_a_level_said_to_a_switch_with_no_state_or_in_a_timer_says_it_only_switches(tmp_path: Path) -> None:
    """`heater on 40%` said "heater only switches", but `chauffage 40%` "The state is on, off or
    toggle, not '40%'", `in 1m heater on 40%` "'40%' is not a duration", and `salon on 40%`, a
    sensor, "salon only switches: say salon on" (which is refused)."""
    hub = offline_hub(tmp_path)
    assert await bob(hub, "chauffage 40%") == "chauffage only switches: say chauffage on or chauffage off."
    assert await bob(hub, "switch heater 21°") == "heater only switches: say heater on or heater off."
    assert await alice(hub, "chauffage à 40 %") == \
        "chauffage ne fait que s'allumer et s'éteindre : dites allume chauffage ou éteins chauffage."
    assert await bob(hub, "in 1m heater on 40%") == "Not scheduled: heater only switches: say heater on or heater off."
    assert await alice(hub, "dans 1m allume chauffage à 40%") == \
        "Non programmé : chauffage ne fait que s'allumer et s'éteindre : dites allume chauffage ou éteins chauffage."
    assert await bob(hub, "salon on 40%") == "salon is a sensor, it cannot be switched."
    assert await bob(hub, "in 1m salon on 40%") == "Not scheduled: salon is a sensor, it cannot be switched."
    assert await bob(hub, "chauffage of") == \
        "The state is on, off or toggle, not 'of': did you mean off? Usage: switch DEVICE on|off|toggle [for DURATION]"


async def test_help_of_a_camera_points_to_snap_not_to_read(tmp_path: Path) -> None:
    """`help entree` said "read entree shows it", and `read entree` answers that it is a camera."""
    hub = offline_hub(tmp_path)
    assert await bob(hub, "help entree") == await bob(hub, "read entree") == "entrée is a camera; try snap entree."
    assert await alice(hub, "aide porte") == "entrée est une caméra ; essayez photo porte."
    assert await bob(hub, "help salon") == "salon is a sensor: read salon shows it."


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
async def test_the_french_demo_simulates_smoke_by_the_detectors_alias_and_halfway_goes(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`simule fumée` was an unknown command, then `simulate fumée on` "Say smoke or motion": fumée
    is the detector's alias. `ferme le volet à moitié` on a closed shutter goes to the middle."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, web={"user": None},
                            simulator={"enabled": True, "cover_travel": "1s", "interval": "1s"}, alerts=[])
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["volet_salon"].reading is not None)
        assert await alice(hub, "simule fumée") == "Dites simule fumée on ou simule fumée off."
        assert (await alice(hub, "simule fumée on")).startswith("Fumée simulée détectée dans la cuisine ;")
        assert (await alice(hub, "simulate fumée off")).startswith("Fumée simulée dissipée dans la cuisine ;")
        assert await alice(hub, "simule toto on") == \
            "Dites smoke ou motion, pas 'toto'. Utilisation : simule smoke on|off | simulate motion [on|off]"
        assert hub.home.devices["volet_salon"].reading.value == 0, "the demo's shutter starts closed"
        assert (await alice(hub, "ferme le volet à moitié")).startswith("volet salon: s'ouvre…")
        await wait_for(lambda: hub.home.devices["volet_salon"].reading.value == 50)


async def test_temp_of_a_device_that_is_no_temperature_says_what_it_is(tmp_path: Path) -> None:
    """`temp heater` answered "heater: OFF", `temp salon_humidity` "46.2 %", while `temp kitchen`
    listed only the temperature sensors."""
    hub = offline_hub(tmp_path)
    assert await bob(hub, "temp heater") == (
        "heater is a switch, not a temperature: read heater shows it. Temperature sensors: chambre, salon, thermostat.")
    assert (await bob(hub, "temp salon_humidity")).startswith(
        "salon_humidity is a sensor in %, not a temperature: read salon_humidity shows it.")
    assert (await alice(hub, "température chauffage")).startswith("chauffage est de type interrupteur, pas une "
                                                                  "température : lire chauffage l'affiche.")


@pytest.mark.servers
async def test_simule_takes_the_french_word_of_each_event_whatever_the_devices_aliases(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`simule mouvement` answered "Dites smoke ou motion" while the French help says `passer dans
    le couloir (mouvement)`; `simule fumée` worked only through the demo detector's alias."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, web={"user": None}, alerts=[],
                            simulator={"enabled": True, "interval": "1s", "motion_clear": "1m"},
                            devices={"kitchen_smoke": {"aliases": []}})
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.home.find("fumée") is None, "no device is called fumée here"
        assert await alice(hub, "simule mouvement") == \
            "Mouvement simulé dans le couloir ; hall motion le signale (fin automatique au bout de 1m)."
        assert (await alice(hub, "simule Mouvement off")).startswith("Couloir vide simulé ;")
        assert await alice(hub, "simule fumée") == "Dites simule fumée on ou simule fumée off."
        assert (await alice(hub, "simule fumee on")).startswith("Fumée simulée détectée dans la cuisine ;")
        assert (await bob(hub, "simulate mouvement")).startswith("Simulated motion in the hall;")
        assert (await bob(hub, "simulate smoke off")).startswith("Simulated smoke cleared in the kitchen;")
