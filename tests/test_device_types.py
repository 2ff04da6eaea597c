"""Lights, thermostats, covers, numbers and selects: what they read, what a chat word asks of them,
and the closed loop over a real mosquitto with Zigbee2MQTT payloads (the simulator), Tasmota
payloads (its own discovery) and Home Assistant discovery (Zigbee2MQTT's announcements)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from chatops.config import ConfigError, DeviceSettings, DeviceType, parse_settings
from chatops.controls import ActionError
from chatops.hub import Hub, running
from chatops.announced import discovered_device
from chatops.home import Device, Reading
from chatops.tasmota import discovered_devices
from chatops.testing import Mosquitto, exec_command, message, settings_for, wait_for

USERS = {"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"]}}


def device(kind: str, **settings: Any) -> Device:
    base: dict[str, Any] = {"type": kind, "state_topic": f"zigbee2mqtt/{kind}", "command_topic": f"zigbee2mqtt/{kind}/set"}
    return Device(kind, DeviceSettings(**{**base, **settings}))


def read(target: Device, *payloads: dict[str, Any] | str) -> str:
    """Feed payloads as the device would send them; the state shown after the last."""
    for payload in payloads:
        raw = payload if isinstance(payload, str) else json.dumps(payload)
        value, attrs = target.read_state(raw.encode())
        target.reading = Reading(value, 0.0 + 1e12, raw, attrs)
    return target.show(now=1e12)


# ---- what they read -------------------------------------------------------------------------

def test_a_zigbee2mqtt_light_reads_on_brightness_and_colour_temperature() -> None:
    lamp = device("light", color_temp=True)
    assert read(lamp, {"state": "ON", "brightness": 102, "color_temp": 370}) == "on, 40 %, 2700 K"
    assert read(lamp, {"state": "OFF", "brightness": 102}) == "off"
    assert lamp.reading is not None and lamp.reading.value is False       # alerts and history see on/off


def test_values_beyond_their_range_are_kept_in_it_and_limits_in_order() -> None:
    """`{"brightness": 9999}` was shown `3937 %`, a position of 250 kept for alerts and history; a
    Hue bulb's 454 mireds refused the 2200 K on its box; min_kelvin above max_kelvin passed check."""
    lamp = device("light")
    assert read(lamp, {"state": "ON", "brightness": 9999}) == "on, 100 %"
    assert read(lamp, {"state": "ON", "brightness": -50}) == "on, 0 %"
    cover = device("cover")
    assert read(cover, {"position": 250, "state": "OPEN"}) == "open" and cover.reading.value == 100.0
    from chatops.ha_discovery import _kelvin_limits
    assert _kelvin_limits({"max_mireds": 454, "min_mireds": 153}) == {"min_kelvin": 2200, "max_kelvin": 6540}
    with pytest.raises(ValueError, match=r"min_kelvin \(5000\) must be below max_kelvin \(3000\)"):
        device("light", color_temp=True, min_kelvin=5000, max_kelvin=3000)


def test_a_tasmota_light_reads_power_and_dimmer_and_merges_partial_results() -> None:
    lamp = device("light", state_topic="tele/bureau/STATE", command_topic="cmnd/bureau")
    assert read(lamp, {"POWER": "ON", "Dimmer": 55}) == "on, 55 %"
    assert read(lamp, {"Dimmer": 30}) == "on, 30 %"           # stat/bureau/RESULT after `Dimmer 30`


def test_a_partial_update_keeps_each_figure_as_precise_as_reported() -> None:
    """After `{"current_heating_setpoint": 22}` the room's 26.25 °C read `26.2 °C`."""
    trv = device("climate")
    read(trv, {"local_temperature": 26.25, "current_heating_setpoint": 21, "system_mode": "heat"})
    assert read(trv, {"current_heating_setpoint": 22}).startswith("26.25 °C, target 22 °C"), trv.show(now=1e12)


def test_a_thermostat_shows_current_target_and_mode() -> None:
    thermostat = device("climate", unit="°C")
    payload = {"local_temperature": 19.5, "current_heating_setpoint": 21, "system_mode": "heat"}
    assert read(thermostat, payload) == "19.5 °C, target 21 °C, heat"
    assert thermostat.reading is not None and thermostat.reading.value == 19.5     # graphs the room
    # As precise as the device reports, as a sensor is: 19.25 stays 19.25, 21.0 stays 21.0.
    payload = {"local_temperature": 19.25, "current_heating_setpoint": 21.0, "system_mode": "heat"}
    assert read(thermostat, payload) == "19.25 °C, target 21.0 °C, heat"


def test_a_tasmota_thermostat_reads_its_driver_answers_and_telemetry() -> None:
    thermostat = device("climate", state_topic="tele/radiateur/SENSOR", command_topic="cmnd/radiateur", unit="°C")
    telemetry = {"DS18B20": {"Temperature": 19.5}, "TempUnit": "C",
                 "Thermostat0": {"ThermostatModeSet": 1, "TempTargetSet": 20.0, "CtrDutyCycleRead": 40}}
    assert read(thermostat, telemetry) == "19.5 °C, target 20.0 °C, heat"
    assert read(thermostat, {"TempTargetSet": 21.5}) == "19.5 °C, target 21.5 °C, heat"    # stat/…/RESULT
    assert read(thermostat, {"ThermostatModeSet": 0}) == "19.5 °C, target 21.5 °C, off"
    assert read(thermostat, {"ThermostatModeSet": 2}) == "19.5 °C, target 21.5 °C, manual"
    assert read(thermostat, {"TempMeasuredSet": 18.0}) == "18.0 °C, target 21.5 °C, manual"
    second = device("climate", state_topic="tele/radiateur/SENSOR", command_topic="cmnd/radiateur",
                    fields={"thermostat": "2", "current": "SHT3X.Temperature"})
    both = {"SHT3X": {"Temperature": 17.0}, "DS18B20": {"Temperature": 30.0},
            "Thermostat0": {"ThermostatModeSet": 0, "TempTargetSet": 5.0},
            "Thermostat1": {"ThermostatModeSet": 1, "TempTargetSet": 19.0}}
    assert read(second, both) == "17.0 °C, target 19.0 °C, heat"


def test_a_cover_reads_position_and_motion() -> None:
    cover = device("cover")
    assert read(cover, {"position": 100, "state": "OPEN", "moving": "STOP"}) == "open"
    assert read(cover, {"position": 60, "state": "OPEN", "moving": "DOWN"}) == "closing… (60 %)"
    assert read(cover, {"position": 0, "state": "CLOSE", "moving": "STOP"}) == "closed"
    # One that reports only `state` (the last order) and `position`: movement from the position.
    plain = device("cover")
    assert read(plain, {"position": 100, "state": "OPEN"}) == "open"
    assert read(plain, {"position": 70, "state": "CLOSE"}) == "closing… (70 %)"
    assert read(plain, {"position": 40, "state": "CLOSE"}) == "closing… (40 %)"
    assert read(plain, {"position": 40, "state": "CLOSE"}) == "40 % open"      # the same twice: at rest
    assert read(plain, {"position": 60, "state": "OPEN"}) == "opening… (60 %)"
    assert read(plain, {"position": 100, "state": "OPEN"}) == "open"            # an end is at rest
    assert read(plain, {"position": 80, "state": "STOP"}) == "80 % open"
    tasmota = device("cover", state_topic="tele/volet/SENSOR", command_topic="cmnd/volet")
    assert read(tasmota, {"Shutter1": {"Position": 30, "Direction": 1, "Target": 80}}) == "opening… (30 %)"
    assert read(tasmota, {"Shutter1": {"Position": 80, "Direction": 0, "Target": 80}}) == "80 % open"


def test_a_detector_reads_detected_or_clear_in_either_language() -> None:
    """A smoke detector read `kitchen smoke detector: OFF` in English, as if switched off, while
    French said `calme`; both now say what it senses, as Home Assistant shows it."""
    from chatops.i18n import speaking
    smoke = device("binary_sensor", value="smoke")
    assert read(smoke, {"smoke": True}) == "detected"
    assert read(smoke, {"smoke": False}) == "clear"
    assert smoke.value_text(True) == "detected"                        # history, alerts, automations
    with speaking("fr"):
        assert smoke.value_text(True) == "détecté" and smoke.value_text(False) == "calme"
    assert device("switch").value_text(True) == "ON"                   # a switch is switched on


@pytest.mark.parametrize(("kind", "english", "french", "said"), [
    ("binary_sensor", "detector", "détecteur", ("detector", "detectors", "binary_sensor", "binary sensor")),
    ("climate", "thermostat", "thermostat", ("thermostat", "thermostats", "climate")),
    ("cover", "shutter", "volet", ("shutter", "shutters", "cover", "covers")),
    ("sensor", "sensor", "capteur", ("sensor", "sensors")),
])
def test_devices_names_each_type_in_words_and_takes_the_configs_word_too(
        kind: str, english: str, french: str, said: tuple[str, ...]) -> None:
    """`devices` listed `[binary_sensor]`, `[climate]`, `[cover]` (Home Assistant's terms) in
    English while French said `[détecteur]`; `devices TYPE` takes the config's word and the
    English one in either language, and the reader's own."""
    from chatops.auth import fold
    from chatops.device_settings import type_word
    from chatops.i18n import speaking
    from commands.devices import _picked
    target = Device("thing", device(kind).settings)        # its name says nothing of its type
    assert type_word(target.type) == english
    with speaking("fr"):
        assert type_word(target.type) == french
    assert all(_picked(target, fold(word)) for word in said)
    with speaking("fr"):
        assert all(_picked(target, fold(word)) for word in (*said, french))
    assert not _picked(target, "light")


def test_a_payload_without_the_state_is_refused_not_guessed() -> None:
    from chatops.controls import PayloadError
    with pytest.raises(PayloadError):
        device("light").read_state(b'{"linkquality": 80}')
    with pytest.raises(PayloadError):
        device("cover").read_state(b"not json")


# ---- what a word asks --------------------------------------------------------------------------

def test_words_become_actions_and_publishes() -> None:
    lamp = device("light", color_temp=True)
    assert [(p.topic, json.loads(p.payload)) for p in lamp.control.publishes(lamp.settings, lamp.action("40%"))] == \
        [("zigbee2mqtt/light/set", {"state": "ON", "brightness": 102})]
    assert json.loads(lamp.control.publishes(lamp.settings, lamp.action("2700K"))[0].payload) == {"color_temp": 370}
    assert lamp.action("0%").field == "state"                            # 0 % is off
    tasmota = device("light", state_topic="tele/bureau/STATE", command_topic="cmnd/bureau")
    assert [(p.topic, p.payload) for p in tasmota.control.publishes(tasmota.settings, tasmota.action("40"))] == \
        [("cmnd/bureau/Dimmer", "40")]
    cover = device("cover", state_topic="tele/volet/SENSOR", command_topic="cmnd/volet")
    assert [(p.topic, p.payload) for p in cover.control.publishes(cover.settings, cover.action("close"))] == \
        [("cmnd/volet/ShutterClose", "")]
    assert [(p.topic, p.payload) for p in cover.control.publishes(cover.settings, cover.action("30%"))] == \
        [("cmnd/volet/ShutterPosition", "30")]


def test_a_tasmota_thermostat_is_driven_by_its_driver_commands() -> None:
    thermostat = device("climate", state_topic="tele/radiateur/SENSOR", command_topic="cmnd/radiateur/")

    def sent(word: str) -> list[tuple[str, str]]:
        action = thermostat.action(word)
        return [(p.topic, p.payload) for p in thermostat.control.publishes(thermostat.settings, action)]
    assert sent("21,5°") == [("cmnd/radiateur/TempTargetSet1", "21.5")]
    assert sent("heat") == [("cmnd/radiateur/ThermostatModeSet1", "1")]
    assert sent("off") == [("cmnd/radiateur/ThermostatModeSet1", "0")]
    with pytest.raises(ActionError) as refused:         # the driver has no "auto": say what it takes
        thermostat.action("auto")
    assert str(refused.value) == "climate takes a temperature (21°) or a mode: off, heat."


@pytest.mark.parametrize(("kind", "settings", "word", "answer"), [
    ("climate", {"unit": "°C", "min": 5, "max": 30, "step": 0.5}, "45",
     "climate takes 5 to 30 °C in steps of 0,5; 45 is out of range."),
    ("light", {}, "140%", "light takes 0 to 100 % in steps of 1; 140 is out of range."),
    ("cover", {}, "sideways", "cover takes open, close, stop or a position (30%)."),
    ("select", {"options": ["eco", "comfort"]}, "party", "select takes one of: eco, comfort."),
    ("number", {"min": 1, "max": 3}, "7", "number takes 1 to 3 in steps of 1; 7 is out of range."),
    ("light", {}, "2700K", "light has no colour temperature."),
])
def test_a_value_out_of_range_is_refused_with_the_range(kind: str, settings: dict[str, Any], word: str,
                                                        answer: str) -> None:
    with pytest.raises(ActionError) as refused:
        device(kind, **settings).action(word)
    assert str(refused.value) == answer.replace("0,5", "0.5")


def test_a_step_snaps_the_value() -> None:
    assert device("climate").action("21.3°").value == 21.5
    assert device("climate").action("21,2").value == 21.0
    # Half up, both ways alike: round() went to the even step (12.5 -> 12, 13.5 -> 14).
    assert [device("light").action(w).value for w in ("12.5%", "13.5%")] == [13, 14]


# ---- Home Assistant and Tasmota discovery ----------------------------------------------------------

Z2M = "zigbee2mqtt/0x00158d0001"


def announced(component: str, **data: Any) -> Device:
    found = discovered_device(component, json.dumps({"device": {"name": "Salon"}, **data}).encode(), component)
    assert found is not None
    return found


def test_home_assistant_discovery_maps_each_component_to_its_own_type() -> None:
    light = announced("light", name="Lampe", schema="json", state_topic=Z2M, command_topic=f"{Z2M}/set",
                      brightness=True, brightness_scale=254, supported_color_modes=["color_temp"])
    assert light.type is DeviceType.LIGHT and light.settings.color_temp and light.settings.brightness_scale == 254
    with pytest.raises(ActionError, match="takes 2000 K to 6500 K"):       # nothing announced: the defaults
        light.action("9000K")
    # A bulb that announces 2200-4000 K (as mireds, as Zigbee2MQTT does) is not sent 6500 K.
    warm = announced("light", name="Bulb", schema="json", state_topic=Z2M, command_topic=f"{Z2M}/set",
                     supported_color_modes=["color_temp"], min_mireds=250, max_mireds=454)
    assert (warm.settings.min_kelvin, warm.settings.max_kelvin) == (2200, 4000)
    with pytest.raises(ActionError, match="Bulb takes 2200 K to 4000 K; 6500 K is out of range."):
        warm.action("6500K")
    assert warm.action("2700K").value == 370
    climate = announced("climate", name="Thermostat", current_temperature_topic=Z2M,
                        current_temperature_template="{{ value_json.local_temperature }}",
                        temperature_state_topic=Z2M,
                        temperature_state_template="{{ value_json.occupied_heating_setpoint }}",
                        temperature_command_topic=f"{Z2M}/set/occupied_heating_setpoint",
                        mode_state_topic=Z2M, mode_state_template="{{ value_json.system_mode }}",
                        mode_command_topic=f"{Z2M}/set/system_mode", modes=["off", "heat"],
                        min_temp="7", max_temp="28", temp_step=0.5, temperature_unit="C")
    assert climate.type is DeviceType.CLIMATE and climate.settings.limits == (7.0, 28.0, 0.5)
    assert [(p.topic, p.payload) for p in climate.control.publishes(climate.settings, climate.action("21"))] == \
        [(f"{Z2M}/set/occupied_heating_setpoint", "21")]
    assert read(climate, {"local_temperature": 18.5, "occupied_heating_setpoint": 20, "system_mode": "heat"}) == \
        "18.5 °C, target 20 °C, heat"
    cover = announced("cover", name="Volet", state_topic=Z2M, value_template="{{ value_json.state }}",
                      command_topic=f"{Z2M}/set", position_topic=Z2M,
                      position_template="{{ value_json.position }}", set_position_topic=f"{Z2M}/set")
    assert cover.type is DeviceType.COVER
    assert json.loads(cover.control.publishes(cover.settings, cover.action("30%"))[0].payload) == {"position": 30}
    number = announced("number", name="Volume", state_topic=Z2M, value_template="{{ value_json.volume }}",
                       command_topic=f"{Z2M}/set/volume", min=0, max=10, step=1)
    assert number.type is DeviceType.NUMBER and read(number, {"volume": 4}) == "4"
    assert [(p.topic, p.payload) for p in number.control.publishes(number.settings, number.action("7"))] == \
        [(f"{Z2M}/set/volume", "7")]
    select = announced("select", name="Mode", state_topic=Z2M, value_template="{{ value_json.preset }}",
                       command_topic=f"{Z2M}/set/preset", options=["eco", "comfort"])
    assert select.type is DeviceType.SELECT and select.action("Comfort").value == "comfort"


def publishes(target: Device, word: str) -> list[tuple[str, str]]:
    assert target.control is not None
    return [(p.topic, p.payload) for p in target.control.publishes(target.settings, target.action(word))]


def test_plain_covers_are_read_and_driven_in_their_own_words() -> None:
    """A cover with plain payloads (`payloads = "raw"`) was sent 100, 0 and the text None; Home
    Assistant's plain cover (discovery without templates) read `closed` as "not JSON", forever."""
    raw = device("cover", payloads="raw", command_topic="garage/cmd")
    assert [publishes(raw, word) for word in ("open", "close", "stop")] == \
        [[("garage/cmd", "OPEN")], [("garage/cmd", "CLOSE")], [("garage/cmd", "STOP")]]
    plain = announced("cover", name="Porte", state_topic="garage/state", command_topic="garage/cmd",
                      payload_open="UP", payload_close="DOWN", payload_stop="HALT")
    assert read(plain, "closed") == "closed" and read(plain, "opening") == "opening… (0 %)"
    assert read(plain, "open") == "open"
    assert [publishes(plain, word) for word in ("close", "stop")] == [[("garage/cmd", "DOWN")], [("garage/cmd", "HALT")]]
    with pytest.raises(ActionError, match="takes open, close or stop"):     # it announced no position topic
        plain.action("30%")
    auto = device("cover")                       # configured, payloads left to auto: a bare state too
    assert read(auto, "closed") == "closed"


def test_a_template_is_what_a_device_on_a_tasmota_topic_is_sent() -> None:
    """A number on Tasmota topics with `command_template = "{value}"` failed every `set` with an
    incident (it looked for a Tasmota command first); a bulb announcing 454 mireds (2200 K,
    rounded outward) was sent 455 for 2200 K; a Tasmota thermostat offered a mode it refuses."""
    dimmer = device("number", state_topic="tele/dim/STATE", value="Dimmer", command_topic="cmnd/dim/Dimmer",
                    command_template="{value}", min=0, max=100)
    assert publishes(dimmer, "30") == [("cmnd/dim/Dimmer", "30")]
    warm = announced("light", name="Bulb", schema="json", state_topic=Z2M, command_topic=f"{Z2M}/set",
                     supported_color_modes=["color_temp"], min_mireds=250, max_mireds=454)
    assert warm.action("2200K").value == 454 and warm.action("4000K").value == 250
    from chatops.controls import modes_of
    radiator = device("climate", state_topic="tele/radiateur/SENSOR", command_topic="cmnd/radiateur")
    assert modes_of(radiator.settings) == ["off", "heat"]


def test_a_devices_main_entity_is_named_after_the_device() -> None:
    """Zigbee2MQTT announces a lamp's light with `"name": null`: Home Assistant names it after
    the device (`lampe_bureau`), so `lampe_bureau 40%` works; a named entity keeps its prefix."""
    main = discovered_device("light", json.dumps({
        "name": None, "object_id": "lampe_bureau", "device": {"name": "lampe_bureau"}, "schema": "json",
        "state_topic": Z2M, "command_topic": f"{Z2M}/set", "brightness": True}).encode(), "light")
    assert main is not None and (main.name, main.label) == ("lampe_bureau", "lampe_bureau")
    other = discovered_device("sensor", json.dumps({
        "name": "Battery", "device": {"name": "lampe_bureau"}, "state_topic": Z2M,
        "value_template": "{{ value_json.battery }}"}).encode(), "battery")
    assert other is not None and other.name == "lampe_bureau_battery"


def test_tasmota_discovery_gives_a_dimmable_light_and_a_shutter() -> None:
    base = {"dn": "Bureau", "t": "bureau", "ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat", "tele"],
            "state": ["OFF", "ON", "TOGGLE", "HOLD"], "fn": ["Lampe bureau"]}
    light = dict(discovered_devices({**base, "rl": [2, 0, 0, 0], "lt_st": 2}, None))
    assert light["lampe_bureau"].type is DeviceType.LIGHT and light["lampe_bureau"].color_temp
    assert light["lampe_bureau"].topic == "tele/bureau/STATE"
    shutter = dict(discovered_devices({**base, "dn": "Volet", "t": "volet", "fn": [], "rl": [3, 3, 0, 0]}, None))
    assert shutter["volet"].type is DeviceType.COVER and shutter["volet"].command_topic == "cmnd/volet"
    # Its telemetry sample holds Shutter1: the cover's state, not four sensors that disagree with it.
    sample = {"sn": {"Time": "2026-12-07T06:00:00", "Shutter1": {"Position": 0, "Direction": 0, "Target": 0,
                                                                  "Tilt": 0}, "ANALOG": {"Temperature": 21.5}}}
    found = dict(discovered_devices({**base, "dn": "Volet", "t": "volet", "fn": [], "rl": [3, 3, 0, 0]}, sample))
    assert sorted(found) == ["volet", "volet_analog_temperature"], sorted(found)


# ---- the closed loop over mosquitto -------------------------------------------------------------

pytest_servers = pytest.mark.servers


@contextlib.asynccontextmanager
async def home(tmp_path: Path, mosquitto: Mosquitto, **overrides: Any) -> AsyncIterator[Hub]:
    settings = settings_for(tmp_path / "data", mosquitto.url, users=overrides.pop("users", USERS), automations=[],
                            adapters={"loopback": {"name": "loop"}},
                            simulator={"enabled": True, "cover_travel": "2s", "interval": "1s"}, **overrides)
    async with running(Hub(settings, tty=False)) as hub:
        await wait_for(lambda: all(hub.home.devices[n].reading is not None
                                   for n in ("lampe", "volet_salon", "thermostat")))
        yield hub


@contextlib.asynccontextmanager
async def store_cover(tmp_path: Path, mosquitto: Mosquitto, at_first: dict[str, Any],
                      **settings: Any) -> AsyncIterator[tuple[Hub, aiomqtt.Client]]:
    """A hub with a Zigbee2MQTT cover `store`, and its motor: the first state retained and read,
    the motor listening on its /set topic; the retained state is taken away at the end."""
    store = {"type": "cover", "topic": "zigbee2mqtt/store", "command_topic": "zigbee2mqtt/store/set", **settings}
    async with home(tmp_path, mosquitto, devices={"store": store}) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as motor:
        await motor.publish("zigbee2mqtt/store", json.dumps(at_first), retain=True)
        await wait_for(lambda: hub.home.devices["store"].reading is not None)
        await motor.subscribe("zigbee2mqtt/store/set")
        yield hub, motor
        await motor.publish("zigbee2mqtt/store", b"", retain=True)


async def say(hub: Hub, text: str) -> str:
    return await exec_command(hub, text, adapter="loop", network="loopback", sender="fam")


async def later(hub: Hub, timeout: float = 10.0) -> str:
    """The next message the hub sends on its own (a cover's arrival report)."""
    return (await hub.adapters["loop"].next(timeout))[1]  # type: ignore[attr-defined]


@contextlib.asynccontextmanager
async def watching(mosquitto: Mosquitto, topic: str) -> AsyncIterator[list[tuple[str, str]]]:
    """Every message published on `topic` while inside, as (topic, payload)."""
    seen: list[tuple[str, str]] = []
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.subscribe(topic)

        async def collect() -> None:
            async for message in client.messages:
                seen.append((str(message.topic), message.payload.decode()))

        task = asyncio.create_task(collect())
        try:
            yield seen
        finally:
            task.cancel()


@pytest_servers
async def test_lampe_40_percent_is_published_and_confirmed(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with home(tmp_path, mosquitto) as hub, watching(mosquitto, "zigbee2mqtt/lampe/set") as published:
        assert await say(hub, "lampe 40%") == "lampe: on, 40 %, 2700 K"
        await wait_for(lambda: published)
        assert json.loads(published[-1][1]) == {"state": "ON", "brightness": 102}
        assert await say(hub, "dim lampe 10") == "lampe: on, 10 %, 2700 K"
        assert await say(hub, "lampe 4000K") == "lampe: on, 10 %, 4000 K"
        assert await say(hub, "lampe off") == "lampe: off"            # as the light reported it, as `lampe 40%`
        assert await say(hub, "read lampe") == "lampe: off"
        # A colour given to an off bulb is kept for later: "lampe: off" alone looked ignored.
        assert await say(hub, "lampe 2700K") == "lampe: off (colour 2700K when it comes on)"
        assert await say(hub, "lampe on") == "lampe: on, 10 %, 2700 K"


@pytest_servers
async def test_thermostat_target_and_mode_and_the_salon_drifts_toward_it(tmp_path: Path,
                                                                           mosquitto: Mosquitto) -> None:
    async with home(tmp_path, mosquitto) as hub:
        assert (await say(hub, "thermostat 25°")).endswith(", target 25.0 °C, off")
        assert (await say(hub, "set thermostat heat")).endswith(", target 25.0 °C, heat")
        before = hub.home.devices["salon"].reading.value
        await wait_for(lambda: hub.home.devices["salon"].reading.value > before + 0.5, timeout=15)
        answer = await say(hub, "thermostat 45")
        assert answer == "thermostat takes 5 to 30 °C in steps of 0.5; 45 is out of range."
        assert hub.home.devices["thermostat"].reading.attrs["target"] == 25.0
        # auto: the simulated thermostat (Zigbee2MQTT's system_mode) takes it and reports it back.
        assert (await say(hub, "thermostat auto")).endswith(", target 25.0 °C, auto")
        assert (await say(hub, "thermostat off")).endswith(", target 25.0 °C, off")
        # From its target, as the dashboard's + and − (`thermostat up` was "takes a temperature or a mode").
        assert (await say(hub, "thermostat up")).endswith(", target 25.5 °C, off")
        assert (await say(hub, "thermostat +2")).endswith(", target 27.5 °C, off")
        assert (await say(hub, "set thermostat -1.5°")).endswith(", target 26.0 °C, off")
        assert (await say(hub, "thermostat down")).endswith(", target 25.5 °C, off")
        assert (await say(hub, "thermostat +10")).endswith(", target 30.0 °C, off"), "kept within its range"
        assert await say(hub, "thermostat up") == "thermostat is already at its highest target, 30 °C (it takes 5 to 30 °C)."
        # Switched as Home Assistant's turn_on/turn_off do: its mode (was "thermostat is a thermostat: say set…").
        assert (await say(hub, "turn on the thermostat")).endswith(", target 30.0 °C, heat")
        assert (await say(hub, "éteins le thermostat")).endswith(", target 30.0 °C, off")
        assert (await say(hub, "switch thermostat on")).endswith(", target 30.0 °C, heat")
        # A timer takes what the line does now (was "Not scheduled: thermostat is a thermostat: say set…").
        assert (await say(hub, "in 1m switch thermostat off")).startswith("Timer #1: switch thermostat off at ")
        assert (await say(hub, "dans 1m éteins le thermostat")).startswith("Timer #2: ")
        assert (await say(hub, "every day at 22:00 thermostat off")).startswith("Timer #3: ")
        # A nudge too, as `dans 30m baisse le thermostat` was (`set thermostat -1` was "-1 is out of range").
        assert (await say(hub, "in 30m thermostat down")).startswith("Timer #4: thermostat down at ")
        assert (await say(hub, "in 30m set thermostat -1")).startswith("Timer #5: set thermostat -1 at ")
        for refused in ("in 1m switch thermostat toggle", "in 1m switch thermostat off for 2h"):
            assert await say(hub, refused) == "Not scheduled: thermostat is a thermostat: say set thermostat VALUE."


@pytest_servers
async def test_values_as_the_hub_writes_them_and_french_articles_are_understood(tmp_path: Path,
                                                                               mosquitto: Mosquitto) -> None:
    """`lampe 40 %` and `thermostat 21 °C` as the hub itself writes them (French typography puts a
    space before the unit); `tamise la lampe 40`, `règle le thermostat 21`, `ouvre le volet`:
    an article before the device's name, as French speakers write."""
    async with home(tmp_path, mosquitto) as hub:
        assert await say(hub, "lampe 40 %") == "lampe: on, 40 %, 2700 K"
        assert (await say(hub, "thermostat 22 °C")).endswith(", target 22.0 °C, off")
        assert await say(hub, "lampe 4000 K") == "lampe: on, 40 %, 4000 K"
        assert await say(hub, "lampe 6500K") == "lampe: on, 40 %, 6500 K"         # was 6490 K (154 mireds)
        # A value it does not take is answered with what it takes, not sent to help.
        assert await say(hub, "thermostat warm") == "thermostat takes a temperature (21°) or a mode: off, heat, auto."
        assert await say(hub, "thermostat a bit warmer") == \
            "thermostat does not take 'a bit warmer': thermostat takes a temperature (21°) or a mode: off, heat, auto."
        assert await say(hub, "help thermostat") == (
            "thermostat is a thermostat: read thermostat shows it. "
            "thermostat takes a temperature (21°) or a mode: off, heat, auto. Set it with thermostat VALUE.")
    french = {"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"], "language": "fr"}}
    async with home(tmp_path / "fr", mosquitto, users=french) as hub:
        assert (await say(hub, "tamise la lampe 30")).startswith("lampe: allumé, 30 %")
        assert (await say(hub, "lire la lampe")).startswith("lampe: allumé, 30 %")
        assert (await say(hub, "règle le thermostat 21")).endswith("consigne 21,0 °C, arrêt")
        assert (await say(hub, "ouvre le volet")).startswith("volet salon: s'ouvre… (")
        assert (await later(hub)).startswith("volet salon: ouvert")
        # As people say it: `à` before the value, a plural, a level with `allume`.
        assert (await say(hub, "règle le thermostat à 19")).endswith("consigne 19,0 °C, arrêt")
        assert (await say(hub, "règle la lampe à 40")).startswith("lampe: allumé, 40 %")
        assert (await say(hub, "éteins la lampe")) == "lampe: éteint"
        assert (await say(hub, "allume la lampe à 60%")).startswith("lampe: allumé, 60 %")
        assert (await say(hub, "ferme les volets")).startswith("volet salon: se ferme… (")
        assert (await later(hub)).startswith("volet salon: fermé")
        # The state it shows, as `volet fermé` (fermé folded is ferme) was: was "accepte ouvre, ferme…".
        assert (await say(hub, "volet ouvert")).startswith("volet salon: s'ouvre… (")
        assert (await later(hub)).startswith("volet salon: ouvert")
        assert (await say(hub, "set thermostat to 20")).endswith("consigne 20,0 °C, arrêt")


@pytest_servers
async def test_what_people_type_around_a_command_in_french(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Punctuation closing a chat line (`temp salon ?`, `allume la lampe.`), a level without its
    `%` (`allume la lampe à 40`), `du`, `de la` and `au` before a name, and English with the
    state first (`turn off the lampe`): each was refused or misread."""
    french = {"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"], "language": "fr"}}
    async with home(tmp_path, mosquitto, users=french) as hub:
        assert await say(hub, "temp salon ?") == await say(hub, "temp salon")
        assert "Commandes" in await say(hub, "aide.")
        assert (await say(hub, "allume la lampe à 40")).startswith("lampe: allumé, 40 %")
        assert await say(hub, "éteins la lampe.") == "lampe: éteint"
        assert (await say(hub, "allume la lampe !")).startswith("lampe: allumé")
        assert (await say(hub, "lampe 30%.")).startswith("lampe: allumé, 30 %")
        assert (await say(hub, "température du salon")).startswith("salon")
        assert (await say(hub, "lire le thermostat")).startswith("thermostat")
        assert (await say(hub, "historique du salon")).startswith("salon")
        assert await say(hub, "turn off the lampe") == "lampe: éteint"
        assert "n'est pas une durée" in await say(hub, "allume la lampe à 40% pendant une heure")
        assert "40%pendant" not in await say(hub, "allume la lampe à 40% pendant une heure")


@pytest_servers
async def test_english_says_the_level_after_the_state(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`lampe on 40%` was "'40%' is not a duration", `turn on lampe at 40%` "No device called
    'lampe at 40%'" (listing lampe among the devices that switch); French had it already."""
    async with home(tmp_path, mosquitto) as hub:
        assert (await say(hub, "lampe on 40%")).startswith("lampe: on, 40 %")
        assert (await say(hub, "turn on lampe at 30%")).startswith("lampe: on, 30 %")
        assert (await say(hub, "switch lampe on at 55")).startswith("lampe: on, 55 %")
        assert (await say(hub, "switch lampe 45%")).startswith("lampe: on, 45 %"), "was: the state is on, off or toggle"
        assert await say(hub, "switch heater 45%") == "heater only switches: say heater on or heater off."
        assert await say(hub, "lampe on 400%") == "lampe takes 0 to 100 % in steps of 1; 400 is out of range."
        assert (await say(hub, "in 1m lampe on 20%")).startswith("Timer #1: lampe on 20% at ")
        assert (await say(hub, "in 1m lampe on 200%")).startswith("Not scheduled: lampe takes 0 to 100 %")
        assert await say(hub, "heater on 40%") == "heater only switches: say heater on or heater off."


@pytest_servers
async def test_a_timer_is_refused_when_set_if_its_command_would_fail_when_it_runs(tmp_path: Path,
                                                                                 mosquitto: Mosquitto) -> None:
    """`dans 20s allume la lampe stp` was accepted, then failed 20 s later: a daily one would fail
    every morning. And `ouvre le volet à 50%` named no device (`le volet à 50%`)."""
    french = {"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"], "language": "fr"}}
    async with home(tmp_path, mosquitto, users=french) as hub:
        refused = await say(hub, "dans 20s allume la lampe stp")
        assert refused.startswith("Non programmé : 'stp' n'est pas une durée"), refused
        assert (await say(hub, "tous les jours à 7h ferme le volet du garage")).startswith(
            "Non programmé : volet salon : 'du garage' n'est pas une position")
        assert (await say(hub, "dans 20s arrête le volet vite")).startswith("Non programmé : arrête prend le nom")
        assert (await say(hub, "dans 20s ouvre le volet à moitié")).startswith("Minuterie n°")
        assert (await say(hub, "dans 20s allume la lampe à 40")).startswith("Minuterie n°")
        assert await say(hub, "ouvre la lampe") == "lampe est de type lampe, pas un volet : dites allume lampe."
        assert await say(hub, "ouvre le volot") == "Aucun appareil nommé 'volot'. Vouliez-vous dire volet ?"
        assert (await say(hub, "ouvre le volet à 50%")).startswith("volet salon: s'ouvre… (")
        await wait_for(lambda: hub.home.devices["volet_salon"].reading.value == 50, timeout=10)
        assert (await later(hub)).startswith("volet salon: ouvert à 50 %")
        set_at_seven = await say(hub, "à 7 heures ouvre volet")             # was "'7' n'est pas une heure"
        assert set_at_seven.startswith("Minuterie n°") and "07:00" in set_at_seven, set_at_seven
        number = set_at_seven.split("n°")[1].split(" ")[0]
        assert (await say(hub, f"annule n°{number}")).startswith(f"Minuterie n°{number} annulée")   # as shown
        assert await say(hub, "mets le chauffage pendant 2 heures") == \
            "heater ne fait que s'allumer et s'éteindre : dites allume chauffage ou éteins chauffage."
        listing = await say(hub, "aide")
        assert "(éteins la lampe, éteins chauffage). (aussi : eteindre, éteindre, éteint, eteint)" in listing, "not éteins again"


@pytest_servers
async def test_volet_close_says_closing_at_once_and_closed_when_it_is(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with home(tmp_path, mosquitto) as hub:
        assert (await say(hub, "open volet")).startswith("volet salon: opening… (")
        assert await later(hub) == "volet salon: open"
        answer = await say(hub, "volet close")
        assert answer.startswith("volet salon: closing… ("), answer
        assert await later(hub) == "volet salon: closed"


@pytest_servers
async def test_a_cover_one_percent_from_its_end_is_neither_closed_nor_open(tmp_path: Path,
                                                                           mosquitto: Mosquitto) -> None:
    """The 1 % tolerance answered "closed" to `volet 1%` from closed (then it moved to 1 %), and
    "1 % open" to `volet close` from 1 % (then it closed), with no report after."""
    async with home(tmp_path, mosquitto) as hub:
        volet = hub.home.devices["volet_salon"]
        assert volet.reading.value == 0
        answer = await say(hub, "volet 1%")
        assert answer.startswith("volet salon: opening… ("), answer
        assert await later(hub) == "volet salon: 1 % open"
        answer = await say(hub, "volet close")
        assert answer.startswith("volet salon: closing… ("), answer
        assert await later(hub) == "volet salon: closed"


@pytest_servers
async def test_a_cover_arriving_while_storage_fails_is_still_said(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The arrival report goes through the durable outbox; with the database refusing writes it
    is said from memory instead of only logged."""
    async with home(tmp_path, mosquitto) as hub:
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        assert (await say(hub, "open volet")).startswith("volet salon: opening… (")
        assert await later(hub) == "volet salon: open"
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))


@pytest_servers
async def test_a_cover_reporting_only_state_and_position_says_closing_then_closed(tmp_path: Path,
                                                                                  mosquitto: Mosquitto) -> None:
    """A Zigbee2MQTT cover without `moving`: its position going down is `closing…`, and its arrival
    at 0 % is reported as for any cover."""
    async with store_cover(tmp_path, mosquitto, {"state": "OPEN", "position": 100}) as (hub, motor):
        async def travel(_topic: str, payload: str) -> None:
            if json.loads(payload) == {"state": "CLOSE"}:
                for position in (80, 50, 20, 0):            # the motor's own pace: a report per step
                    await motor.publish("zigbee2mqtt/store", json.dumps({"state": "CLOSE", "position": position}))
                    await asyncio.sleep(0.1)
        async with firmware(motor, travel) as commands:
            answer = await say(hub, "store close")
            assert answer.startswith("store: closing… ("), answer
            assert await later(hub) == "store: closed"
            assert commands == [("zigbee2mqtt/store/set", '{"state": "CLOSE"}')]


@pytest_servers
async def test_a_device_that_says_it_is_offline_is_shown_so_and_not_driven(tmp_path: Path,
                                                                         mosquitto: Mosquitto) -> None:
    """Zigbee2MQTT's `<device>/availability` said offline: `read` showed the last state as if all
    was well, and `lampe_bureau off` published, then waited 5 s for no confirmation."""
    bureau = {"type": "light", "topic": "z/bureau", "command_topic": "z/bureau/set",
              "availability_topic": "z/bureau/availability"}
    async with home(tmp_path, mosquitto, devices={"bureau": bureau}) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as bulb, watching(mosquitto, "z/bureau/set") as published:
        await bulb.publish("z/bureau", json.dumps({"state": "ON", "brightness": 254}), retain=True)
        await bulb.publish("z/bureau/availability", json.dumps({"state": "offline"}), retain=True)
        await wait_for(lambda: hub.home.devices["bureau"].offline_since is not None)
        assert await say(hub, "read bureau") == "bureau: on, 100 % (offline: the device said so)"
        assert await say(hub, "bureau off") == \
            "bureau says it is offline; nothing was sent (it is shown online again once it says so)."
        assert await say(hub, "bureau 40%") == \
            "bureau says it is offline; nothing was sent (it is shown online again once it says so)."
        assert "offline: bureau" in await say(hub, "status")
        await bulb.publish("z/bureau/availability", json.dumps({"state": "online"}), retain=True)
        await wait_for(lambda: hub.home.devices["bureau"].offline_since is None)
        assert await say(hub, "read bureau") == "bureau: on, 100 %"
        await say(hub, "bureau off")            # no device answers here: "no confirmation", but it was sent
        assert [json.loads(p) for _t, p in published] == [{"state": "OFF"}]
        for topic in ("z/bureau", "z/bureau/availability"):
            await bulb.publish(topic, b"", retain=True)


def test_discovery_reads_where_a_device_says_it_is_online() -> None:
    from chatops.ha_discovery import discovered_settings
    z2m = {"name": None, "device": {"name": "lampe_bureau"}, "state_topic": "zigbee2mqtt/lampe_bureau",
           "command_topic": "zigbee2mqtt/lampe_bureau/set", "schema": "json",
           "availability": [{"topic": "zigbee2mqtt/bridge/state"}, {"topic": "zigbee2mqtt/lampe_bureau/availability"}]}
    found = discovered_settings("light", z2m, "0x01")
    assert found is not None and found[1].availability_topic == "zigbee2mqtt/lampe_bureau/availability"
    tasmota = dict(discovered_devices({"dn": "Prise", "t": "prise", "ft": "%prefix%/%topic%/", "rl": [1],
                                       "onln": "Online", "ofln": "Offline"}, None))
    assert tasmota["prise"].availability_topic == "tele/prise/LWT"
    assert tasmota["prise"].payload_not_available == "Offline"


@pytest_servers
async def test_a_select_option_with_spaces_is_set_with_or_without_quotes(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`set sonnette Fur Elise` was "no device named 'sonnette Fur'"; `sonnette Ding Dong` said
    the select does not take `Ding Dong`, listing it among those it takes."""
    bell = {"type": "select", "topic": "z/sonnette", "command_topic": "z/sonnette/set", "value": "melody",
            "options": ["Ding Dong", "Fur Elise"], "confirm_timeout": "0.3s"}
    async with home(tmp_path, mosquitto, devices={"sonnette": bell}) as hub, \
            watching(mosquitto, "z/sonnette/set") as published:
        await say(hub, "set sonnette Fur Elise")
        await wait_for(lambda: len(published) == 1)
        await say(hub, "sonnette ding dong")
        await wait_for(lambda: len(published) == 2)
        assert [json.loads(p) for _t, p in published] == [{"melody": "Fur Elise"}, {"melody": "Ding Dong"}]
        assert (await say(hub, "lampe 40 %")).startswith("lampe: on, 40 %")


@pytest_servers
async def test_a_cover_silent_until_it_arrives_is_said_when_it_does(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A motor that reports only at rest, 1.5 s after the order: "No confirmation" was all anyone
    heard, though travel_timeout allowed it 45 s."""
    async with store_cover(tmp_path, mosquitto, {"state": "CLOSE", "position": 0}, confirm_timeout="0.5s",
                           travel_timeout="10s") as (hub, motor):
        async def slow(_topic: str, payload: str) -> None:
            if json.loads(payload) == {"state": "OPEN"}:
                await asyncio.sleep(1.5)
                await motor.publish("zigbee2mqtt/store", json.dumps({"state": "OPEN", "position": 100}))
        async with firmware(motor, slow):
            answer = await say(hub, "store open")
            assert answer.startswith("No confirmation from store after 500ms") and \
                answer.endswith("Where it gets to within 10s is told here."), answer
            assert await later(hub) == "store: open"


@pytest_servers
async def test_stop_does_not_wait_behind_a_close_still_waiting_for_a_silent_motor(tmp_path: Path,
                                                                                mosquitto: Mosquitto) -> None:
    """A motor that says nothing while it moves: `store close` waits confirm_timeout (3 s) for a
    first report, and `store stop` typed meanwhile waited behind it in the conversation's lane,
    so the shutter went on closing. The stop now runs at once, beside it."""
    async with store_cover(tmp_path, mosquitto, {"state": "OPEN", "position": 100}, confirm_timeout="3s",
                           travel_timeout="10s") as (hub, motor):
        async def at_rest_only(_topic: str, payload: str) -> None:
            if json.loads(payload) == {"state": "STOP"}:
                await motor.publish("zigbee2mqtt/store", json.dumps({"position": 40, "moving": "STOP"}))
        async with firmware(motor, at_rest_only) as commands:
            hub.dispatch(message("store close", sender="fam", network="loopback", adapter="loop"))
            await wait_for(lambda: len(commands) == 1)
            hub.dispatch(message("store stop", sender="fam", network="loopback", adapter="loop"))
            assert await later(hub, timeout=2.0) == "store: 40 % open"
            assert [json.loads(p) for _t, p in commands] == [{"state": "CLOSE"}, {"state": "STOP"}]
            assert (await later(hub)).startswith("No confirmation from store after 3s")   # the close's own answer
        for line in ("stop store", "arrête le store", "set store stop", "!store stop"):
            assert hub.router.overtakes(message(line, sender="fam", network="loopback", adapter="loop")), line
        assert not hub.router.overtakes(message("store close", sender="fam", network="loopback", adapter="loop"))


@pytest_servers
async def test_close_to_a_position_above_where_the_cover_is_does_not_open_it(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    """`close store to 80%` on a closed shutter would open it: the verb says the other way, so
    nothing moves. Halfway is the middle whichever way (Home Assistant's "halfway"): it goes."""
    async with store_cover(tmp_path, mosquitto, {"state": "CLOSE", "position": 0}, confirm_timeout="500ms") \
            as (hub, motor):
        async with firmware(motor, lambda _t, _p: asyncio.sleep(0)) as commands:
            assert await say(hub, "close store to 80%") == \
                "store is closed: to go to 80% it would open; say store 80% for that."
            assert await say(hub, "ferme le store à 80") == \
                "store is closed: to go to 80% it would open; say store 80% for that."
            assert commands == [], "nothing was sent"
            assert (await say(hub, "close store half")).startswith(        # a silent motor: no report
                "No confirmation from store after 500ms (asked 50%, last state closed).")
            await wait_for(lambda: len(commands) == 1)
        assert [json.loads(p) for _t, p in commands] == [{"position": 50}], "though it opens to get there"


@pytest_servers
async def test_a_cover_stopped_halfway_says_where_it_stopped(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Stopped from elsewhere (the wall switch, an obstacle), the cover's report says so; stopped
    with `volet stop`, that answer says where it is, and no "stopped before" notice follows."""
    async with home(tmp_path, mosquitto) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as wall_switch:
        assert (await say(hub, "volet open")).startswith("volet salon: opening…")
        await wait_for(lambda: 20 <= hub.home.devices["volet_salon"].reading.value <= 80)
        await wall_switch.publish("zigbee2mqtt/volet_salon/set", json.dumps({"state": "STOP"}))
        report = await later(hub)
        assert report.startswith("volet salon stopped before reaching open: ") and report.endswith("% open."), report

        stopped_at = report_position(report)
        way = "close" if stopped_at >= 50 else "open"                   # the longer way: time to stop it
        assert (await say(hub, f"volet {way}")).startswith("volet salon: ")
        await wait_for(lambda: abs(hub.home.devices["volet_salon"].reading.value - stopped_at) >= 5)
        assert (await say(hub, "volet stop")).endswith("% open")      # the lane is free while it moves
        with pytest.raises(TimeoutError):
            await later(hub, timeout=2.5)                               # longer than the whole travel


@pytest_servers
async def test_a_stop_answers_where_the_cover_came_to_rest_not_its_coasting(tmp_path: Path,
                                                                           mosquitto: Mosquitto) -> None:
    """A Zigbee2MQTT cover that reports once more while coasting after a stop (`"moving": "DOWN"`
    at 80 %), then at rest: `stop` answers the rest, "80 % open", once; not "closing…" first."""
    async with store_cover(tmp_path, mosquitto, {"position": 90, "moving": "DOWN"}) as (hub, motor):
        async def coast(_topic: str, payload: str) -> None:
            if json.loads(payload) == {"state": "STOP"}:
                await motor.publish("zigbee2mqtt/store", json.dumps({"position": 80, "moving": "DOWN"}))
                await asyncio.sleep(0.1)
                await motor.publish("zigbee2mqtt/store", json.dumps({"position": 80, "moving": "STOP"}))
        async with firmware(motor, coast):
            assert await say(hub, "store stop") == "store: 80 % open"
            with pytest.raises(TimeoutError):
                await later(hub, timeout=1.0)                           # and nothing after it


@pytest_servers
async def test_a_cover_s_arrival_is_where_it_stops_not_a_step_before(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The demo's `volet 30%` from 70 % reported "volet salon: 31 % open" (1 % off the asked
    position, while still moving), then `read volet` said 30 % open."""
    async with store_cover(tmp_path, mosquitto, {"position": 70, "moving": "STOP"}) as (hub, motor):
        async def travel(_topic: str, payload: str) -> None:
            if json.loads(payload) == {"position": 30}:
                for position in (60, 31):
                    await motor.publish("zigbee2mqtt/store", json.dumps({"position": position, "moving": "DOWN"}))
        async with firmware(motor, travel):
            assert await say(hub, "store 30%") == "store: closing… (60 %)"
            await wait_for(lambda: hub.home.devices["store"].reading.value == 31)
            await motor.publish("zigbee2mqtt/store", json.dumps({"position": 30, "moving": "STOP"}))
            assert await later(hub) == "store: 30 % open"


def report_position(report: str) -> float:
    """The position in `volet salon stopped before reaching open: 43 % open.`"""
    return float(report.rsplit(": ", 1)[1].split()[0])


@pytest_servers
async def test_a_cover_sent_back_reports_once_where_it_went(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # `volet open` then `volet close` while it opens: the open was changed, not stopped; the
    # one report is the close's.
    async with home(tmp_path, mosquitto) as hub:
        assert (await say(hub, "volet open")).startswith("volet salon: opening…")
        await wait_for(lambda: hub.home.devices["volet_salon"].reading.value >= 10)
        assert (await say(hub, "volet close")).startswith("volet salon: closing…")
        assert await later(hub) == "volet salon: closed"
        with pytest.raises(TimeoutError):
            await later(hub, timeout=1.0)


@pytest_servers
async def test_a_device_that_never_confirms_says_so(tmp_path: Path, mosquitto: Mosquitto) -> None:
    deaf = {"type": "light", "topic": "zigbee2mqtt/deaf", "command_topic": "zigbee2mqtt/deaf/set",
            "confirm_timeout": "1s"}
    async with home(tmp_path, mosquitto, devices={"deaf": deaf}) as hub:
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as bulb:
            await bulb.publish("zigbee2mqtt/deaf", json.dumps({"state": "OFF", "brightness": 0}), retain=True)
        await wait_for(lambda: hub.home.devices["deaf"].reading is not None)
        assert await say(hub, "deaf 50%") == "No confirmation from deaf after 1s (asked 50%, last state off)."


@contextlib.asynccontextmanager
async def firmware(device: aiomqtt.Client, answer: Callable[[str, str], Awaitable[None]]
                   ) -> AsyncIterator[list[tuple[str, str]]]:
    """A device's firmware on `device` (subscribed to its command topics) while inside: every
    command received is noted, as (topic, payload), and answered by `answer`."""
    commands: list[tuple[str, str]] = []

    async def run() -> None:
        async for message in device.messages:
            topic, payload = str(message.topic), message.payload.decode()
            commands.append((topic, payload))
            await answer(topic, payload)

    task = asyncio.create_task(run())
    try:
        yield commands
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest_servers
async def test_tasmota_light_and_shutter_from_its_discovery(tmp_path: Path, mosquitto: Mosquitto) -> None:
    light = {"dn": "Bureau", "t": "bureau", "ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat", "tele"],
             "fn": ["Lampe bureau"], "rl": [2, 0, 0, 0], "lt_st": 1, "mac": "AABBCC000001"}
    shutter = {"dn": "Volet bureau", "t": "voletb", "ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat", "tele"],
               "fn": [], "rl": [3, 3, 0, 0], "mac": "AABBCC000002"}
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as tasmota:
        for config in (light, shutter):
            await tasmota.publish(f"tasmota/discovery/{config['mac']}/config", json.dumps(config), qos=1, retain=True)
        await tasmota.publish("tele/bureau/STATE", json.dumps({"POWER": "OFF", "Dimmer": 100}), qos=1, retain=True)
        await tasmota.publish("tele/voletb/SENSOR", json.dumps({"Shutter1": {"Position": 0, "Direction": 0}}),
                              qos=1, retain=True)
        await tasmota.subscribe("cmnd/#")

        async def answer(topic: str, payload: str) -> None:
            """Tasmota's answers: a RESULT at once; the shutter reports its way to the target."""
            if topic == "cmnd/bureau/Dimmer":
                await tasmota.publish("stat/bureau/RESULT", json.dumps({"POWER": "ON", "Dimmer": int(payload)}))
            elif topic == "cmnd/voletb/ShutterPosition":
                for position in (10, 20, 30):
                    direction = 0 if position == int(payload) else 1
                    await tasmota.publish("stat/voletb/RESULT", json.dumps(
                        {"Shutter1": {"Position": position, "Direction": direction, "Target": int(payload)}}))

        try:
            async with firmware(tasmota, answer) as commands, home(tmp_path, mosquitto) as hub:
                await wait_for(lambda: hub.home.find("lampe bureau") is not None and hub.home.find("volet bureau"))
                await wait_for(lambda: hub.home.find("volet bureau").reading is not None)
                assert await say(hub, "dim lampe bureau 40") == "Lampe bureau: on, 40 %"
                assert ("cmnd/bureau/Dimmer", "40") in commands
                assert (await say(hub, "volet bureau 30%")).startswith("Volet bureau: opening… (")
                assert await later(hub) == "Volet bureau: 30 % open"
                assert ("cmnd/voletb/ShutterPosition", "30") in commands
        finally:
            for config in (light, shutter):
                await tasmota.publish(f"tasmota/discovery/{config['mac']}/config", b"", qos=1, retain=True)


@pytest_servers
async def test_tasmota_thermostat_target_and_mode_over_mosquitto(tmp_path: Path, mosquitto: Mosquitto) -> None:
    radiateur = {"type": "climate", "topic": "tele/radiateur/SENSOR", "command_topic": "cmnd/radiateur",
                 "unit": "°C", "confirm_timeout": "3s"}
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as tasmota:
        await tasmota.publish("tele/radiateur/SENSOR", json.dumps(
            {"DS18B20": {"Temperature": 18.5}, "Thermostat0": {"ThermostatModeSet": 0, "TempTargetSet": 16.0}}),
            qos=1, retain=True)
        await tasmota.subscribe("cmnd/radiateur/#")

        async def answer(topic: str, payload: str) -> None:
            """The thermostat driver's answers on stat/radiateur/RESULT, as Tasmota sends them."""
            command = topic.rsplit("/", 1)[1].rstrip("0123456789")
            value = float(payload) if command == "TempTargetSet" else int(payload)
            await tasmota.publish("stat/radiateur/RESULT", json.dumps({command: value}))

        try:
            async with firmware(tasmota, answer) as commands, \
                    home(tmp_path, mosquitto, devices={"radiateur": radiateur}) as hub:
                await wait_for(lambda: hub.home.devices["radiateur"].reading is not None)
                assert await say(hub, "read radiateur") == "radiateur: 18.5 °C, target 16.0 °C, off"
                assert await say(hub, "radiateur 21°") == "radiateur: 18.5 °C, target 21.0 °C, off"
                assert await say(hub, "set radiateur heat") == "radiateur: 18.5 °C, target 21.0 °C, heat"
                assert commands == [("cmnd/radiateur/TempTargetSet1", "21"), ("cmnd/radiateur/ThermostatModeSet1", "1")]
                assert await say(hub, "radiateur auto") == \
                    "radiateur takes a temperature (21°) or a mode: off, heat."
        finally:
            await tasmota.publish("tele/radiateur/SENSOR", b"", qos=1, retain=True)


@pytest_servers
async def test_home_assistant_discovered_number_and_select_over_mosquitto(tmp_path: Path,
                                                                           mosquitto: Mosquitto) -> None:
    topic = "zigbee2mqtt/siren"
    number = {"name": "Volume", "state_topic": topic, "value_template": "{{ value_json.volume }}",
              "command_topic": f"{topic}/set/volume", "min": 0, "max": 10, "step": 1}
    select = {"name": "Melody", "state_topic": topic, "value_template": "{{ value_json.melody }}",
              "command_topic": f"{topic}/set/melody", "options": ["bell", "alarm"]}
    state = {"volume": 3, "melody": "bell"}
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as siren:
        await siren.publish("homeassistant/number/siren/volume/config", json.dumps(number), qos=1, retain=True)
        await siren.publish("homeassistant/select/siren/melody/config", json.dumps(select), qos=1, retain=True)
        await siren.publish(topic, json.dumps(state), qos=1, retain=True)
        await siren.subscribe(f"{topic}/set/+")

        async def answer(command_topic: str, raw: str) -> None:
            field = command_topic.rsplit("/", 1)[1]
            state[field] = int(raw) if field == "volume" else raw
            await siren.publish(topic, json.dumps(state), retain=True)

        try:
            async with firmware(siren, answer), home(tmp_path, mosquitto) as hub:
                await wait_for(lambda: hub.home.find("volume") is not None and hub.home.find("melody") is not None)
                await wait_for(lambda: hub.home.find("melody").reading is not None)
                assert await say(hub, "set volume 7") == "Volume: 7"
                assert await say(hub, "set volume 11") == "Volume takes 0 to 10 in steps of 1; 11 is out of range."
                assert await say(hub, "set melody alarm") == "Melody: alarm"
                assert await say(hub, "melody disco") == "Melody takes one of: bell, alarm."
                assert state == {"volume": 7, "melody": "alarm"}
        finally:
            for kind, name in (("number", "volume"), ("select", "melody")):
                await siren.publish(f"homeassistant/{kind}/siren/{name}/config", b"", qos=1, retain=True)


@pytest_servers
async def test_a_stranger_cannot_drive_a_light(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with home(tmp_path, mosquitto) as hub:
        answer = await exec_command(hub, "lampe 40%", adapter="loop", network="loopback", sender="nobody")
        assert "lampe" not in answer.lower() or "not" in answer.lower(), answer
        assert hub.home.devices["lampe"].reading.value is False


@pytest_servers
async def test_home_assistant_discovered_light_thermostat_and_cover_over_mosquitto(tmp_path: Path,
                                                                                   mosquitto: Mosquitto) -> None:
    """Zigbee2MQTT's own announcements: a JSON-schema light, a thermostat with one command topic per
    field (raw values), a cover on the JSON .../set topic; each driven and confirmed."""
    base = "zigbee2mqtt/0xa4c138"
    state = {"bulb": {"state": "OFF", "brightness": 254},
             "trv": {"local_temperature": 18.5, "occupied_heating_setpoint": 19, "system_mode": "heat"},
             "blind": {"position": 100, "state": "OPEN"}}
    configs = {
        "light/bulb": {"name": "Bulb", "schema": "json", "state_topic": f"{base}/bulb",
                       "command_topic": f"{base}/bulb/set", "brightness": True, "brightness_scale": 254},
        "climate/trv": {"name": "TRV", "current_temperature_topic": f"{base}/trv",
                        "current_temperature_template": "{{ value_json.local_temperature }}",
                        "temperature_state_topic": f"{base}/trv",
                        "temperature_state_template": "{{ value_json.occupied_heating_setpoint }}",
                        "temperature_command_topic": f"{base}/trv/set/occupied_heating_setpoint",
                        "mode_state_topic": f"{base}/trv", "mode_state_template": "{{ value_json.system_mode }}",
                        "mode_command_topic": f"{base}/trv/set/system_mode", "modes": ["off", "heat"],
                        "min_temp": "5", "max_temp": "30", "temp_step": 0.5},
        "cover/blind": {"name": "Blind", "state_topic": f"{base}/blind", "value_template": "{{ value_json.state }}",
                        "command_topic": f"{base}/blind/set", "position_topic": f"{base}/blind",
                        "position_template": "{{ value_json.position }}", "set_position_topic": f"{base}/blind/set"},
    }
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as zigbee:
        for path, config in configs.items():
            await zigbee.publish(f"homeassistant/{path}/config", json.dumps(config), qos=1, retain=True)
        for name, fields in state.items():
            await zigbee.publish(f"{base}/{name}", json.dumps(fields), qos=1, retain=True)
        await zigbee.subscribe(f"{base}/+/set/#")

        async def answer(command_topic: str, raw: str) -> None:
            parts = command_topic.split("/")
            name = parts[2]
            if len(parts) == 5:                               # .../set/<field>: a raw value
                state[name][parts[4]] = raw if parts[4] == "system_mode" else float(raw)
            else:
                asked = json.loads(raw)
                if name == "blind" and asked.get("state") in ("OPEN", "CLOSE"):
                    asked = {"position": 100 if asked["state"] == "OPEN" else 0, "state": asked["state"]}
                state[name].update(asked)
            await zigbee.publish(f"{base}/{name}", json.dumps(state[name]), retain=True)

        try:
            async with firmware(zigbee, answer), home(tmp_path, mosquitto) as hub:
                await wait_for(lambda: all(hub.home.find(n) is not None and hub.home.find(n).reading is not None
                                           for n in ("bulb", "trv", "blind")))
                assert hub.home.find("bulb").type is DeviceType.LIGHT
                assert await say(hub, "bulb 50%") == "Bulb: on, 50 %"
                assert state["bulb"] == {"state": "ON", "brightness": 127}
                assert await say(hub, "trv 21.5") == "TRV: 18.5 °C, target 21.5 °C, heat"
                assert await say(hub, "trv off") == "TRV: 18.5 °C, target 21.5 °C, off"
                assert await say(hub, "blind 40%") == "Blind: 40 % open"
                assert await say(hub, "close blind") == "Blind: closed"
        finally:
            for path in configs:
                await zigbee.publish(f"homeassistant/{path}/config", b"", qos=1, retain=True)


async def test_discovered_devices_with_a_topic_per_field_and_their_own_words(tmp_path: Path,
                                                                            mosquitto: Mosquitto) -> None:
    """Announcements as ESPHome and DIY firmwares make them: a thermostat reporting its current
    and target temperature and its mode on three topics (bare values), a default-schema dimmer
    with its brightness on a topic of its own, a cover that says UP, DOWN and HALT and reports
    its position apart. Each is read, driven and confirmed."""
    esp = "esphome/node"
    configs = {
        "climate/node_trv": {"name": "Radiator", "current_temperature_topic": f"{esp}/trv/current",
                             "temperature_state_topic": f"{esp}/trv/target",
                             "temperature_command_topic": f"{esp}/trv/target/set",
                             "mode_state_topic": f"{esp}/trv/mode", "mode_command_topic": f"{esp}/trv/mode/set",
                             "modes": ["off", "heat"], "min_temp": 5, "max_temp": 30, "temp_step": 0.5},
        "light/node_dimmer": {"name": "Dimmer", "state_topic": f"{esp}/dimmer/state",
                              "command_topic": f"{esp}/dimmer/set",
                              "brightness_state_topic": f"{esp}/dimmer/level",
                              "brightness_command_topic": f"{esp}/dimmer/level/set", "brightness_scale": 100},
        "cover/node_blind": {"name": "Awning", "state_topic": f"{esp}/awning/state",
                             "command_topic": f"{esp}/awning/set", "payload_open": "UP", "payload_close": "DOWN",
                             "payload_stop": "HALT", "state_open": "open", "state_closed": "closed",
                             "position_topic": f"{esp}/awning/position",
                             "set_position_topic": f"{esp}/awning/position/set"},
    }
    state = {"trv/current": "18.5", "trv/target": "19.0", "trv/mode": "heat", "dimmer/state": "OFF",
             "dimmer/level": "0", "awning/state": "open", "awning/position": "100"}
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as node:
        for path, config in configs.items():
            await node.publish(f"homeassistant/{path}/config", json.dumps(config), qos=1, retain=True)
        for topic, value in state.items():
            await node.publish(f"{esp}/{topic}", value, qos=1, retain=True)
        await node.subscribe(f"{esp}/+/set")
        await node.subscribe(f"{esp}/+/+/set")

        async def answer(command_topic: str, raw: str) -> None:
            field = command_topic.removeprefix(f"{esp}/").removesuffix("/set")
            if field == "awning":                              # its own words
                reports = {"UP": {"awning/state": "open", "awning/position": "100"},
                           "DOWN": {"awning/state": "closed", "awning/position": "0"}}.get(raw, {})
            elif field == "dimmer":
                reports = {"dimmer/state": raw}
            elif field == "awning/position":
                reports = {"awning/position": raw, "awning/state": "open"}
            else:
                reports = {field: raw}
            for topic, value in reports.items():
                state[topic] = value
                await node.publish(f"{esp}/{topic}", value, retain=True)

        try:
            async with firmware(node, answer) as commands, home(tmp_path, mosquitto) as hub:
                await wait_for(lambda: all(hub.home.find(n) is not None and hub.home.find(n).reading is not None
                                           for n in ("radiator", "dimmer", "awning")))
                await wait_for(lambda: hub.home.find("radiator").show() == "18.5 °C, target 19.0 °C, heat")
                assert await say(hub, "radiator 21.5") == "Radiator: 18.5 °C, target 21.5 °C, heat"
                assert await say(hub, "radiator off") == "Radiator: 18.5 °C, target 21.5 °C, off"
                assert await say(hub, "dimmer 40%") == "Dimmer: on, 40 %"
                assert await say(hub, "close awning") == "Awning: closed"
                assert await say(hub, "awning 30%") == "Awning: 30 % open"
                assert (f"{esp}/awning/set", "DOWN") in commands and (f"{esp}/awning/position/set", "30") in commands
                assert state["trv/target"] == "21.5" and state["trv/mode"] == "off" and state["dimmer/level"] == "40"
                # Two topics whose JSON names the value alike: each field kept apart. The target
                # heard first is no room temperature: no reading until the room's own comes.
                pair = {"name": "Pair", "current_temperature_topic": f"{esp}/room/sensor",
                        "current_temperature_template": "{{ value_json.temperature }}",
                        "temperature_state_topic": f"{esp}/pair/state",
                        "temperature_state_template": "{{ value_json.temperature }}",
                        "temperature_command_topic": f"{esp}/pair/set"}
                configs["climate/node_pair"] = pair
                state["pair/state"] = json.dumps({"temperature": 21})           # retained: read once subscribed
                bad = hub.home.bad_payloads
                await node.publish(f"{esp}/pair/state", state["pair/state"], qos=1, retain=True)
                await node.publish("homeassistant/climate/node_pair/config", json.dumps(pair), qos=1, retain=True)
                await wait_for(lambda: hub.home.find("pair") is not None and hub.home.find("pair").reported)
                assert hub.home.find("pair").reading is None and hub.home.bad_payloads == bad, "waiting is no error"
                await node.publish(f"{esp}/room/sensor", json.dumps({"temperature": 18.5}), qos=1)
                await wait_for(lambda: hub.home.find("pair").reading is not None)
                assert hub.home.find("pair").show() == "18.5 °C, target 21 °C"
        finally:
            for path in configs:
                await node.publish(f"homeassistant/{path}/config", b"", qos=1, retain=True)
            for topic in state:
                await node.publish(f"{esp}/{topic}", b"", qos=1, retain=True)


def test_a_cover_announced_with_its_own_words_and_no_position_topic_takes_no_position() -> None:
    """UP, DOWN and HALT on its command topic, no set_position_topic: 40% is refused with what it
    takes, not sent as JSON to a topic that only knows its words; open and close still are."""
    from chatops.ha_discovery import discovered_settings

    name, settings = discovered_settings("cover", {"name": "Awning", "state_topic": "a/state", "command_topic": "a/set",
                                                   "payload_open": "UP", "payload_close": "DOWN",
                                                   "payload_stop": "HALT"}, "awning")
    awning = Device(name, settings)
    assert awning.control is not None
    with pytest.raises(ActionError, match="^Awning takes open, close or stop.$"):
        awning.control.action(settings, "Awning", "40%")
    close = awning.control.action(settings, "Awning", "close")
    assert [(p.topic, p.payload) for p in awning.control.publishes(settings, close)] == [("a/set", "DOWN")]


def test_a_field_topic_names_a_field_of_its_type() -> None:
    """A typo in field_topics is refused with the type's fields, not read as nothing."""
    device = {"type": "climate", "topic": "esphome/trv/current", "command_topics": {"target": "esphome/trv/target/set"},
              "field_topics": {"current": "esphome/trv/current", "targt": "esphome/trv/target"}}
    with pytest.raises(ConfigError) as bad:
        parse_settings({"devices": {"trv": device}})
    assert bad.value.problems == ["devices.trv: field_topics: 'targt' is no field of a climate; its fields: "
                                  "current, target, mode"]
    sensor = {"type": "sensor", "topic": "a/b", "field_topics": {"value": "a/c"}}
    with pytest.raises(ConfigError, match="a sensor reads its topic only"):
        parse_settings({"devices": {"probe": sensor}})


def test_a_renamed_field_a_command_topic_and_modes_are_checked() -> None:
    """`fields = { targt = ... }` passed check: the target was never shown and `trv 21` went out
    as current_heating_setpoint; `modes = []` answered "takes ... or a mode: ."."""
    trv = {"type": "climate", "topic": "zigbee2mqtt/trv", "command_topic": "zigbee2mqtt/trv/set"}
    cases = [({"fields": {"targt": "occupied_heating_setpoint"}},
              "devices.trv: fields: 'targt' is no field of a climate; did you mean 'target'? Its fields: current, "
              "target, mode, thermostat"),
             ({"command_topics": {"mod": "trv/mode/set"}},
              "devices.trv: command_topics: 'mod' is no field of a climate; did you mean 'mode'? Its fields: target, "
              "mode"),
             ({"modes": []}, 'devices.trv: modes: a thermostat takes at least one mode, e.g. modes = ["off", "heat"]')]
    for extra, problem in cases:
        with pytest.raises(ConfigError) as bad:
            parse_settings({"devices": {"trv": {**trv, **extra}}})
        assert bad.value.problems == [problem]
    parse_settings({"devices": {"trv": {**trv, "fields": {"target": "occupied_heating_setpoint"}}}})


@pytest.mark.parametrize(("on_command_type", "sent"), [
    (None, [("d/level", "40"), ("d/set", "ON")]), ("first", [("d/set", "ON"), ("d/level", "40")]),
    ("brightness", [("d/level", "40")])])
def test_a_dimmers_level_and_on_follow_its_on_command_type(on_command_type: str | None,
                                                          sent: list[tuple[str, str]]) -> None:
    from chatops.ha_discovery import discovered_settings

    config = {"name": "Dimmer", "stat_t": "d/state", "cmd_t": "d/set", "bri_cmd_t": "d/level", "bri_scl": 100,
              **({"on_cmd_type": on_command_type} if on_command_type else {})}
    name, settings = discovered_settings("light", config, "dimmer")
    dimmer = Device(name, settings)
    assert dimmer.control is not None
    action = dimmer.control.action(settings, "Dimmer", "40%")
    assert [(p.topic, p.payload) for p in dimmer.control.publishes(settings, action)] == sent
    on = dimmer.control.action(settings, "Dimmer", "on")
    assert [(p.topic, p.payload) for p in dimmer.control.publishes(settings, on)] == \
        ([("d/level", "100")] if on_command_type == "brightness" else [("d/set", "ON")]), "lit at full, not by ON"


def test_discovery_reads_only_fields_a_field_topic_may_name() -> None:
    """Discovery's per-field topics (ha_discovery) and what field_topics accepts (device_settings)
    say the same fields, or a discovered device would fail its own validation."""
    from chatops.device_settings import FIELD_TOPIC_NAMES
    from chatops.ha_discovery import _FIELD_TOPICS

    for kind, pairs in _FIELD_TOPICS.items():
        assert {name for name, _key in pairs} <= set(FIELD_TOPIC_NAMES[kind]), kind


def test_a_reading_is_published_as_json_has_it() -> None:
    """Alert states for Node-RED: true, 45, 2.5 as JSON values; a code such as 0123 stays text."""
    from chatops.device_values import native_value
    assert [native_value(v) for v in ("True", "False", "45.0", "-3.5", "0123", "1_000", "open", 45.0, None)] == \
        [True, False, 45, -3.5, "0123", "1_000", "open", 45, None]


@pytest_servers
async def test_a_time_of_day_after_the_device_is_not_read_as_how_long(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """`allume le chauffage à 7h` switched the heater on at once for seven hours (the device's
    name took the `à`, the rest was read as a duration), and replaced the switch-back pending."""
    french = {"fam": {"roles": ["family"], "web": ["fam"], "loopback": ["fam"], "language": "fr"}}
    async with home(tmp_path, mosquitto, users=french) as hub:
        assert await say(hub, "éteins le chauffage") == "heater: éteint"
        assert await say(hub, "allume le chauffage à 7h") == \
            "à 7h est une heure ; pour le faire à cette heure-là, dites l'heure d'abord : à 7h allume le chauffage"
        assert await say(hub, "eteins la lampe a 22h30") == \
            "a 22h30 est une heure ; pour le faire à cette heure-là, dites l'heure d'abord : a 22h30 eteins la lampe"
        assert (await say(hub, "dans 10m allume le chauffage à 7h")).startswith("Non programmé : à 7h est une heure")
        assert hub.home.devices["heater"].reading.value is False, "nothing switched"
        assert (await say(hub, "timers")).startswith("Aucune minuterie.")
        assert (await say(hub, "éteins le chauffage dans 10 minutes")).startswith(
            "dans 10 minutes dit quand ; pour le faire à ce moment-là, dites-le d'abord : dans 10 minutes éteins le chauffage")
        assert (await say(hub, "chauffage on at 7:00")).startswith(
            "at 7:00 est une heure ; pour le faire à cette heure-là, dites l'heure d'abord : at 7:00 chauffage on")
        assert (await say(hub, "allume la lampe à 40")).startswith("lampe: allumé, 40 %")     # a level still
        assert (await say(hub, "allume le chauffage 2h")).startswith("heater: allumé jusqu'à")  # a duration still
