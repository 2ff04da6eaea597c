"""French: the catalogue is complete and compiled, each person reads their own language at the
same time as others read theirs, alerts go to each recipient in theirs, and the demo path reads
naturally on the console (`20,5 °C`, `allumé`, `se ferme…`)."""

from __future__ import annotations

import asyncio
import functools
import json
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import pytest

from chatops import i18n
from chatops.hub import Hub, running
from chatops.i18n_catalogue import extract, problems
from chatops.testing import Mosquitto, exec_command, message, settings_for, wait_for, write_demo_config

USERS = {"owner": None,
         "alice": {"roles": ["admin"], "language": "fr", "web": ["alice"], "loopback": ["alice"]},
         "bob": {"roles": ["admin"], "web": ["bob"], "loopback": ["bob"]}}


def as_alice(hub: Hub) -> Callable[[str], Awaitable[str]]:
    """What USERS' alice, who reads French, is answered, line by line."""
    return functools.partial(exec_command, hub, network="web", sender="alice")


def as_bob(hub: Hub) -> Callable[[str], Awaitable[str]]:
    """What USERS' bob, who reads English, is answered, line by line."""
    return functools.partial(exec_command, hub, network="web", sender="bob")


def test_every_text_is_in_the_french_catalogue_translated_and_compiled() -> None:
    assert problems("fr", extract()) == []


def test_a_text_missing_from_the_catalogue_is_reported() -> None:
    from babel.messages.catalog import Catalog
    template = Catalog()
    template.add("A text nobody translated yet {count}")
    assert problems("fr", template) == ["missing from fr: 'A text nobody translated yet {count}'"]


def test_every_text_of_the_dashboard_goes_through_the_catalogue() -> None:
    """The page translates with the labels the server sends (chatops.web.PAGE_LABELS, which the
    catalogue extracts): a `t("...")`, `data-label` or `data-aria` text missing from that list
    would stay English in a French page without a word."""
    from chatops.web import PAGE_CONTEXT_LABELS, PAGE_LABELS, STATIC

    script = (STATIC / "dashboard.js").read_text(encoding="utf-8")
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    shown = set(re.findall(r'(?<![\w.])t\("([^"]+)"\)', script)) | \
        set(re.findall(r'showConnection\("([^"]+)"\)', script)) | set(re.findall(r'data-(?:label|aria)="([^"]+)"', page))
    assert len(shown) > 30
    assert shown - set(PAGE_LABELS) - set(PAGE_CONTEXT_LABELS) == set()
    assert "aria-label\": device.label + \" \" + field" not in script        # a slider says what it sets


def test_numbers_follow_the_language() -> None:
    with i18n.speaking("fr"):
        assert i18n.format_number(20.5) == "20,5" and i18n._("closing…") == "se ferme…"
    assert i18n.format_number(20.5) == "20.5" and i18n._("closing…") == "closing…"


def test_the_simulated_hall_is_one_place_in_french() -> None:
    # help said "entrer dans l'entrée" (the entrance, where the camera `entree` is), the answer
    # "Mouvement simulé dans le couloir", and an empty hall "Entrée vide".
    with i18n.speaking("fr"):
        said = [i18n._("Fire or clear the simulated kitchen smoke detector, or walk into the hall (motion)."),
                i18n._("Simulated motion in the hall"), i18n._("Simulated an empty hall")]
    assert all("couloir" in text.lower() and "entrée" not in text.lower() for text in said), said


def test_an_unknown_language_is_refused_with_the_choices(tmp_path: Path) -> None:
    from chatops.config import ConfigError, parse_settings
    with pytest.raises(ConfigError) as refused:
        parse_settings({"hub": {"language": "de"}})
    assert "hub.language: 'de' is not one of en, fr" in str(refused.value)


@pytest.mark.servers
async def test_alice_reads_french_while_bob_reads_english(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, simulator={"enabled": True},
                            web={"user": None}, alerts=[])
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["salon"].reading is not None)
        french, english = await asyncio.gather(
            exec_command(hub, "tmep salon", network="web", sender="alice"),
            exec_command(hub, "tmep salon", network="web", sender="bob"))
        assert french == "Commande inconnue 'tmep'. Vouliez-vous dire temp ?"
        assert english == "Unknown command 'tmep'. Did you mean temp?"
        # A French word mistyped is answered with the French word it is close to, not the command's name.
        assert await exec_command(hub, "minuterie", network="web", sender="alice") == \
            "Aucune minuterie. Créez-en une, par exemple dans 10m photo entree ou tous les jours à 06:30 allume chauffage."
        assert await exec_command(hub, "minuteris", network="web", sender="alice") == \
            "Commande inconnue 'minuteris'. Vouliez-vous dire minuteries ?"
        assert await exec_command(hub, "aide minuteri", network="web", sender="alice") == \
            "Aucune commande 'minuteri'. Vouliez-vous dire aide minuterie ?"          # its French word, not timers
        # The words French speakers use: `baisse le volet`, `eteint` (as often written as éteins).
        assert await exec_command(hub, "baisse le volet", network="web", sender="alice") == "volet salon: fermé"
        assert await exec_command(hub, "eteint le chauffage", network="web", sender="alice") == "heater: éteint"
        assert await exec_command(hub, "chauffage marche", network="web", sender="alice") == "heater: allumé"
        assert await exec_command(hub, "chauffage arrêt", network="web", sender="alice") == "heater: éteint"
        assert (await exec_command(hub, "temp salon", network="web", sender="alice")).count(",") == 1
        assert await exec_command(hub, "chauffage on", network="web", sender="alice") == "heater: allumé"
        assert await exec_command(hub, "chauffage off", network="web", sender="bob") == "heater is OFF"
        assert (await exec_command(hub, "aide", network="web", sender="alice")).startswith("Commandes :\n")
        # The French verbs (`allume`, `éteins`) are listed to French speakers; they work for all.
        listed = {language: await exec_command(hub, "help", network="web", sender=who)
                  for language, who in (("fr", "alice"), ("en", "bob"))}
        starts = {language: {line.split(" ", 1)[0] for line in text.splitlines()} for language, text in listed.items()}
        assert {"allume", "éteins"} <= starts["fr"], starts["fr"]
        assert not {"allume", "éteins", "eteins"} & starts["en"], starts["en"]
        assert await exec_command(hub, "allume chauffage", network="web", sender="bob") == "heater is ON"
        # A greeting and the question as people ask it; a typo of the command's French word gets that word.
        alice, bob = as_alice(hub), as_bob(hub)
        assert await alice("bonjour") == "Bonjour alice ! Dites aide pour savoir ce que je sais faire."
        assert await bob("hello there") == "Hello bob! Say help for what I can do."
        assert (await alice("qui suis-je")).startswith("Vous êtes ")
        assert (await bob("who am i")).startswith("You are ")
        assert await alice("histori salon") == "Commande inconnue 'histori'. Vouliez-vous dire historique ?"
        # Not a French word that looks nothing like what was typed (0.67 alike: état, monte).
        assert await alice("statu") == "Commande inconnue 'statu'. Vouliez-vous dire status ?"
        assert await alice("opne volet") == "Commande inconnue 'opne'. Vouliez-vous dire open ?"
        assert await bob("histori salon") == "Unknown command 'histori'. Did you mean history?"


@pytest.mark.servers
async def test_an_alert_reaches_each_recipient_in_their_language(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Fumée : {device} ({value})",
            "severity": "critical", "notify": ["alice", "bob"], "repeat": "1h", "cooldown": "30s"}
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, alerts=[rule], web={"user": None},
                            simulator={"enabled": False}, adapters={"loopback": {"name": "loop"}})
    async with running(Hub(settings, tty=False)) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        inbox = hub.adapters["loop"]
        received = dict([await inbox.next(10), await inbox.next(10)])  # type: ignore[attr-defined]
        assert received["alice"] == "[CRITIQUE] Fumée : kitchen smoke detector (détecté) (alerte n°1 ; répondez ack 1)"
        assert received["bob"] == "[CRITICAL] Fumée : kitchen smoke detector (detected) (alert #1; answer ack 1)"
        assert await exec_command(hub, "ack", network="web", sender="bob") == \
            "Alert #1 (smoke) acknowledged; reminders stopped."
        assert await inbox.next(10) == ("alice", "Alerte n°1 (smoke) acquittée par bob.")  # type: ignore[attr-defined]


def test_the_demo_path_in_french_on_the_console(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace("[hub]\n", '[hub]\nlanguage = "fr"\n', 1),
                      encoding="utf-8")
    lines = ("temp salon\nchauffage on\nvolet ferme\nlampe 40%\nthermostat 45\nhistorique salon 7 jours\n"
             "courbe salon 7 jours\nphoto entree\n!simulate smoke on\nlire fumée\n!ack\n")
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                            input=lines, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    said = result.stdout.splitlines()
    assert said[0].startswith("salon: ") and said[0].endswith(" °C") and "," in said[0]
    assert said[1] == "heater: allumé"
    assert said[2] == "volet salon: fermé"
    assert said[3] == "lampe: allumé, 40 %, 2700 K"
    assert said[4] == "thermostat accepte de 5 à 30 °C par pas de 0,5 ; 45 est hors limites."
    assert re.fullmatch(r"salon, sur 7j : min \d+,\d °C, moy \d+,\d °C, max \d+,\d °C ; dernière \d+,\d °C "
                        r"\(\d+(\u202f\d{3})? mesures ; simulé avant \d\d:\d\d\)", said[5]), said[5]
    assert re.fullmatch(r"salon — sur 7j \(simulé avant \d\d:\d\d\) : \d+(\u202f\d{3})? points", said[6]), said[6]
    assert re.fullmatch(r"entrée à \d\d:\d\d:\d\d", said[8]), said[7:9]
    assert "Fumée simulée détectée dans la cuisine ; kitchen smoke detector le signale. " \
           "L'alerte n°1 (smoke) est en cours : dites ack pour l'arrêter." in said
    assert "Alerte n°1 (smoke) acquittée ; les rappels sont arrêtés." in said
    assert "kitchen smoke detector: détecté" in said             # a detector is not "allumé"
    assert any(line.startswith("! [CRITIQUE] Smoke detected in the kitchen! (alerte n°1 ; répondez ack 1)")
               for line in said)


async def test_timers_automations_and_durations_read_french(tmp_path: Path, mosquitto: Mosquitto) -> None:
    from chatops.clock import ManualClock
    from chatops.durations import format_duration, parse_duration
    clock = ManualClock()
    settings = settings_for(tmp_path / "data", mosquitto.url, hub={"language": "fr", "timezone": "Europe/Paris"})
    async with running(Hub(settings, tty=False, clock=clock)) as hub:
        await exec_command(hub, "in 10m lire salon")
        await exec_command(hub, "allume chauffage pendant 2h")
        await exec_command(hub, "in 3d lire salon")
        listed = (await exec_command(hub, "timers")).splitlines()
        assert listed[0].endswith(" owner : lire salon (une fois, posée pour dans 10m)"), listed
        assert listed[1].endswith(" owner : remettre heater sur éteint (après allume chauffage pendant 2h)"), listed
        # A timer's number as the other French answers write it, and the colon spaced (was `#3 … owner: …`).
        assert re.match(r"n°3 (lun|mar|mer|jeu|ven|sam|dim)\. \d\d:\d\d:\d\d owner : lire salon", listed[2]), listed
        # The schedule phrases in French: set, then listed as written.
        set_at = await exec_command(hub, "tous les jours ouvrés à 6h30 allume chauffage")
        assert re.fullmatch(r"Minuterie n°4 : allume chauffage .*, tous les jours ouvrés à 06:30\.", set_at), set_at
        assert (await exec_command(hub, "dans 5m lire salon")).startswith("Minuterie n°5 : lire salon "), "dans"
        listed = (await exec_command(hub, "minuteries")).splitlines()
        assert any(line.endswith(" owner : allume chauffage (tous les jours ouvrés à 06:30)") for line in listed), listed
        assert await exec_command(hub, "dans 5m truc") == "Non programmé : 'truc' n'est pas une commande. Dites aide pour la liste."
        assert "Formes : dans 10m COMMANDE, à 6h30 COMMANDE," in await exec_command(hub, "dans bientôt lire salon")
        assert (await exec_command(hub, "annule 5")).startswith("Minuterie n°5 annulée")
        automations = await exec_command(hub, "automatismes")
        assert "en tant que owner ; jamais lancé" in automations and "[actif]" in automations, automations
        # Days as a French speaker types them back; typos get the device meant.
        assert (await exec_command(hub, "dans 2j lire salon")).endswith("(dans 2j).")
        assert await exec_command(hub, "allume chaufage") == "Aucun appareil nommé 'chaufage'. Vouliez-vous dire chauffage ?"
        assert (await exec_command(hub, "annule 99")).endswith("minuteries les liste.")
        assert await exec_command(hub, "aide chauffage") == (
            "chauffage est de type interrupteur : lire chauffage l'affiche. "
            "Pour allumer : allume chauffage ; pour éteindre : éteins chauffage.")
    with i18n.speaking("fr"):
        assert format_duration(1.5) == "1,5s" and format_duration(2 * 86400 + 3600) == "2j1h"
        assert i18n.format_count(1447) == "1\u202f447"
    assert format_duration(1.5) == "1.5s" and format_duration(2 * 86400 + 3600) == "2d1h"
    assert i18n.format_count(1447) == "1,447"
    assert parse_duration("1,5s") == parse_duration("1.5s") == 1.5, "what is shown can be typed back"


async def test_usage_lines_name_their_placeholders_in_french(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # The words to type (switch, on|off, for) stay; what to put in their place reads French.
    settings = settings_for(tmp_path / "data", mosquitto.url, hub={"language": "fr"})
    async with running(Hub(settings, tty=False)) as hub:
        assert (await exec_command(hub, "aide switch")).startswith("switch APPAREIL on|off|toggle [for DURÉE] — ")
        assert (await exec_command(hub, "switch chauffage")).endswith(
            " Utilisation : switch APPAREIL on|off|toggle [for DURÉE]")
        # The word typed leads the usage line: a French speaker sees the French word back.
        assert (await exec_command(hub, "règle")).endswith(" Utilisation : règle APPAREIL VALEUR")
        assert (await exec_command(hub, "lire")).endswith(" Utilisation : lire APPAREIL")
        replies = await hub.execute(message("aide"))
        listing = "\n".join(r.text for r in replies)
        assert "cancel NUMÉRO — " in listing and "at [AAAA-MM-JJ] HH:MM COMMANDE — " in listing, listing
        # Longer than one answer in French: in several, each whole, none cut short.
        assert all(len(r.text) <= hub.router.max_reply for r in replies) and "coupé" not in listing
        assert listing.splitlines()[-1].startswith("APPAREIL on|off — ")
        # The French words of each command are on its line: `aide` shows what a French speaker types.
        lines = listing.splitlines()
        assert next(line for line in lines if line.startswith("ack ")).endswith(" (aussi : acquitter, acquitte, ok)")
        assert next(line for line in lines if line.startswith("allume ")).startswith("allume APPAREIL [pendant DURÉE] — ")
        assert next(line for line in lines if line.startswith("mute ")).endswith(" (aussi : silence, muet)")
        assert "inconnue" not in await exec_command(hub, "graphique salon")
    settings = settings_for(tmp_path / "data2", mosquitto.url)
    async with running(Hub(settings, tty=False)) as hub:
        assert (await exec_command(hub, "help switch")).startswith("switch DEVICE on|off|toggle [for DURATION] — ")
        assert "(also: " not in await exec_command(hub, "help"), "English lines stay short"


def english_fragments() -> set[str]:
    """The fixed words of every English text in the catalogue (what is between placeholders),
    long enough to mean something (`Cameras: ` yes, `: ` no)."""
    fragments: set[str] = set()
    for message in extract():
        if not message.id or isinstance(message.id, tuple):
            continue
        for piece in re.split(r"\{[^}]*\}", message.id):
            piece = piece.strip(" .,:;()")
            if len(piece) >= 14 and " " in piece:
                fragments.add(piece)
    return fragments


@pytest.mark.servers
async def test_answers_in_french_hold_no_english_words(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Alice reads French: the answers to what a person says and gets wrong (a camera asked of a
    sensor, a missing word, a refused value, a word too many) hold none of the English
    texts of the catalogue, the ones a translator may have missed by their not being marked."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, simulator={"enabled": True},
                            web={"user": None}, alerts=[])
    english = english_fragments()
    said = ["photo salon", "photo nulle_part", "simulate", "lire", "règle thermostat 45", "volet 130%",
            "lampe 40% pour 1h", "salon maintenant", "minuteries", "dans 10m", "annule 99", "alerts",
            "historique salon", "tamise lampe 500", "éteins", "chauffage on pour toujours", "appareils salon"]
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["salon"].reading is not None)
        answers = [await exec_command(hub, text, network="web", sender="alice") for text in said]
    assert answers[-1].startswith("salon [capteur] (alias "), answers[-1]     # the type in French too
    leaks = {text: [f for f in english if f in answer] for text, answer in zip(said, answers)}
    assert {text: found for text, found in leaks.items() if found} == {}, answers
    # A text never marked for translation is in no catalogue: its English words give it away.
    words = {"the", "is", "not", "and", "called", "yet", "an", "of", "to", "Missing", "Usage", "Unknown"}
    assert {text: answer for text, answer in zip(said, answers) if words & set(re.findall(r"\w+", answer))} == {}


@pytest.mark.servers
async def test_french_answers_say_the_words_typed_and_the_devices_own_states(tmp_path: Path,
                                                                              mosquitto: Mosquitto) -> None:
    """A French speaker's usage lines and refusals name the French word typed, not the command's
    English name; history calls a detector's state its own word, a day `j`, a position in %."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, simulator={"enabled": False},
                            web={"user": None}, alerts=[], history={"min_interval": 0}, hub={"language": "fr"})
    async with running(Hub(settings, tty=False)) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": False}), qos=1)
        await device.publish("zigbee2mqtt/volet_salon", json.dumps({"position": 30, "state": "OPEN"}), qos=1)
        await device.publish("zigbee2mqtt/heater", json.dumps({"state": "OFF"}), qos=1)
        await wait_for(lambda: all(hub.home.find(name).reading is not None for name in ("fumée", "volet", "heater")))

        alice = as_alice(hub)

        assert await alice("historique") == "Quel appareil ? Utilisation : historique APPAREIL [24h|7d]"
        assert (await alice("allume chauffage pendant xyz")).endswith(
            "Utilisation : allume APPAREIL [pendant DURÉE]")
        assert (await alice("?")).startswith("Commandes :\n")
        assert (await alice("appareils lampes")).startswith("lampe [lampe]"), "a type in the plural"
        assert (await exec_command(hub, "devices switches")).startswith("hall_light [interrupteur]")
        await hub.history.flush()
        assert (await alice("historique fumée 7d")).startswith(
            "kitchen smoke detector, sur 7j : détecté 0 % du temps ; dernier état calme (")
        assert (await alice("historique volet")).startswith("volet salon, sur 24h : min 30,0 %, ")
        # A stranger is refused the word they typed (`dans`), not `in`.
        assert await exec_command(hub, "dans 10m lire salon", network="web", sender="mallory") == \
            "Désolé, vous ne pouvez pas utiliser dans (il faut la permission schedule). " \
            "Demandez au propriétaire du hub de vous ajouter dans [users] de config.toml."
    with i18n.speaking("fr"):
        import time
        from chatops.graph import _format, _time_label
        tuesday = time.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1))
        assert _time_label(tuesday, 86400) == "mar. 01 déc." and _format(19.2) == "19,2" and _format(0.25) == "0,25"


# ---- French answers a hub gives without a broker (not started: no MQTT, no storage) ------------

def offline_hub(tmp_path: Path, **overrides: object) -> Hub:
    """A hub never started: its router answers what needs neither MQTT nor storage (a refusal,
    a typo, a timer's check), quickly and with no server."""
    return Hub(settings_for(tmp_path / "data", simulator={"enabled": False}, users=USERS, web={"user": None},
                            alerts=[], **overrides), tty=False)


async def test_a_problem_after_a_colon_goes_on_in_lower_case(tmp_path: Path) -> None:
    """`Non programmé : Aucun appareil…` read as two sentences glued by a colon: after one, French
    goes on in lower case (English may). A capitalised device label or an acronym stays as it is."""
    garage = {"type": "sensor", "topic": "zigbee2mqtt/garage", "value": "temperature", "label": "Garage Door"}
    hub = offline_hub(tmp_path, devices={"garage": garage})
    assert await exec_command(hub, "dans 1m allume chaufage", network="web", sender="alice") == \
        "Non programmé : aucun appareil nommé 'chaufage'. Vouliez-vous dire chauffage ?"
    assert await exec_command(hub, "in 1m allume chaufage", network="web", sender="bob") == \
        "Not scheduled: no device called 'chaufage'. Did you mean chauffage?"
    assert await exec_command(hub, "dans 1m thermostat 45", network="web", sender="alice") == \
        "Non programmé : thermostat accepte de 5 à 30 °C par pas de 0,5 ; 45 est hors limites."
    assert await exec_command(hub, "in 1m switch garage on", network="web", sender="bob") == \
        "Not scheduled: Garage Door is a sensor, it cannot be switched."
    assert i18n.mid_sentence("MQTT is down") == "MQTT is down" and i18n.mid_sentence("L'état") == "l'état"


async def test_lowering_what_is_no_cover_says_what_it_is_and_what_to_say(tmp_path: Path) -> None:
    """`baisse le chauffage` (a switch) was answered "heater n'est pas un volet": true, and no help.
    The answer says what the device is and the line that does what was meant, in the name said."""
    hub = offline_hub(tmp_path)

    alice = as_alice(hub)

    assert await alice("baisse le chauffage") == "heater est de type interrupteur, pas un volet : dites éteins chauffage."
    assert await alice("monte le chauffage") == "heater est de type interrupteur, pas un volet : dites allume chauffage."
    assert await alice("arrête le chauffage") == "heater est de type interrupteur, pas un volet : dites éteins chauffage."
    assert await alice("ferme la lampe") == "lampe est de type lampe, pas un volet : dites éteins lampe."
    assert await alice("ferme le salon") == "salon est de type capteur, pas un volet ni un store."
    # A thermostat's target goes a step down or up (tests/test_device_types.py); not before it told it.
    assert await alice("baisse le thermostat") == \
        "thermostat n'a pas encore donné sa consigne : dites règle thermostat VALEUR."
    assert await alice("dans 1m baisse le chauffage") == \
        "Non programmé : heater est de type interrupteur, pas un volet : dites éteins chauffage."
    assert (await alice("dans 1m baisse le thermostat à 45")).startswith("Non programmé : thermostat accepte de 5 à 30")
    assert await exec_command(hub, "close heater", network="web", sender="bob") == \
        "heater is a switch, not a cover: say heater off."


@pytest.mark.servers
async def test_lowering_or_raising_a_thermostat_moves_its_target_one_step(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`baisse le thermostat` was "thermostat n'est pas un volet": it moves the target one step, as
    the dashboard's − and + do, within its range; `baisse le thermostat à 19` sets 19."""
    settings = settings_for(tmp_path / "data", mosquitto.url, users=USERS, simulator={"enabled": True},
                            web={"user": None}, alerts=[])
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: hub.home.devices["thermostat"].reading is not None)

        alice = as_alice(hub)

        assert (await alice("thermostat 21")).endswith(", consigne 21,0 °C, arrêt")
        assert (await alice("baisse le thermostat")).endswith(", consigne 20,5 °C, arrêt")
        assert (await alice("monte le thermostat")).endswith(", consigne 21,0 °C, arrêt")
        assert (await alice("baisse le thermostat à 19")).endswith(", consigne 19,0 °C, arrêt")
        assert (await alice("thermostat 30")).endswith(", consigne 30,0 °C, arrêt")
        # At its limit: said so (the unchanged target was answered without a word why).
        assert await alice("monte le thermostat") == \
            "thermostat est déjà à sa consigne la plus haute, 30 °C (elle va de 5 à 30 °C)."


async def test_a_mistyped_french_word_gets_the_french_word_as_written(tmp_path: Path) -> None:
    """The did-you-mean compares the typed word with every command word, French ones included,
    and shows the one it is close to as the command writes it: `éteins`, not its unaccented
    spelling for keyboards without accents."""
    hub = offline_hub(tmp_path)

    alice = as_alice(hub)

    assert await alice("alume la lampe") == "Commande inconnue 'alume'. Vouliez-vous dire allume ?"
    assert await alice("étiens la lampe") == "Commande inconnue 'étiens'. Vouliez-vous dire éteins ?"
    assert await alice("etiens la lampe") == "Commande inconnue 'etiens'. Vouliez-vous dire éteins ?"
    assert await alice("aide etiens") == "Aucune commande 'etiens'. Vouliez-vous dire aide éteins ?"
    assert await alice("aide reglle") == "Aucune commande 'reglle'. Vouliez-vous dire aide règle ?"
    assert await alice("dans 1m alume chauffage") == \
        "Non programmé : 'alume' n'est pas une commande. Vouliez-vous dire allume ?"
