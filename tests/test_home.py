"""Value extraction and device shapes: Zigbee2MQTT, Tasmota, Home Assistant discovery, bad payloads."""

from __future__ import annotations

import json

import pytest

from chatops.config import DeviceSettings, DeviceType
from chatops.announced import discovered_device
from chatops.ha_discovery import path_from_template
from chatops.home import Device, PayloadError, Reading
from chatops.payloads import extract
from chatops.i18n import speaking


def device(**kwargs: object) -> Device:
    return Device("d", DeviceSettings.model_validate({"type": "sensor", "topic": "t", **kwargs}))


def test_dotted_path_and_raw_payloads() -> None:
    assert extract(b'{"a": {"b": 21.5}}', "a.b") == 21.5
    assert extract(b'{"a": [1, {"c": "x"}]}', "a.1.c") == "x"
    assert extract(b" 19.25 \n", None) == "19.25"
    assert device(value="temperature").parse(b'{"temperature": 20}') == 20.0


@pytest.mark.parametrize("payload, why", [
    (b'{"humidity": 40}', "no field"),
    (b"not json", "not JSON"),
    (b"\xff\xfe\x00binary", "binary"),
    (b"[" * 100 + b"]" * 100, "nested deeper"),
    (b'{"temperature": {"x": 1}}', "no single value"),
])
def test_malformed_payloads_are_refused_with_a_reason(payload: bytes, why: str) -> None:
    with pytest.raises(PayloadError, match=why):
        device(value="temperature").parse(payload)


def test_tasmota_shapes() -> None:
    sensor = device(topic="tele/plug/SENSOR", value="DS18B20.Temperature", unit="°C")
    assert sensor.parse(b'{"Time":"2024-01-01T00:00:00","DS18B20":{"Id":"01","Temperature":19.6}}') == 19.6
    power = Device("plug", DeviceSettings(type=DeviceType.SWITCH, state_topic="stat/plug/POWER",
                                          command_topic="cmnd/plug/POWER"))
    assert power.parse(b"ON") is True and power.parse(b"OFF") is False
    with pytest.raises(PayloadError):
        power.parse(b"MAYBE")


def test_zigbee2mqtt_switch_state() -> None:
    heater = Device("heater", DeviceSettings(type=DeviceType.SWITCH, state_topic="zigbee2mqtt/heater",
                                             command_topic="zigbee2mqtt/heater/set", value="state"))
    assert heater.parse(b'{"state": "ON", "linkquality": 3}') is True


def test_value_templates() -> None:
    assert path_from_template("{{ value_json.temperature }}") == "temperature"
    assert path_from_template("{{ value_json['ENERGY'].Power | float }}") == "ENERGY.Power"
    assert path_from_template("{{ value }}") is None


def test_zigbee2mqtt_discovery_payload() -> None:
    payload = json.dumps({
        "name": "Temperature", "unit_of_measurement": "°C", "device_class": "temperature",
        "state_topic": "zigbee2mqtt/garage", "value_template": "{{ value_json.temperature }}",
        "device": {"name": "garage", "identifiers": ["zigbee2mqtt_0x1"]},
    }).encode()
    found = discovered_device("sensor", payload, "temperature")
    assert found is not None
    assert found.name == "garage_temperature" and found.unit == "°C"
    assert found.parse(b'{"temperature": 7.5}') == 7.5


def test_tasmota_discovery_with_abbreviations() -> None:
    payload = json.dumps({"name": "Plug", "~": "tasmota/plug/", "stat_t": "~stat/POWER", "cmd_t": "~cmnd/POWER",
                          "pl_on": "ON", "pl_off": "OFF"}).encode()
    found = discovered_device("switch", payload, "plug_1")
    assert found is not None and found.type is DeviceType.SWITCH
    assert found.settings.command_topic == "tasmota/plug/cmnd/POWER"
    assert found.parse(b"ON") is True


def test_stale_display() -> None:
    from chatops.home import Reading
    d = device(value=None, unit="°C", stale_after="1m")
    d.reading = Reading(20.0, at=1000.0)
    assert d.show(now=1030.0) == "20.0 °C"
    assert d.show(now=1000.0 + 600) == "20.0 °C (stale: 10m old)"


def test_a_reading_is_shown_as_precisely_as_the_device_reported_it() -> None:
    """`21` stays `21 °C`, `19.25` stays `19.25 °C` (one decimal was forced on every number)."""
    salon = Device("salon", DeviceSettings(type="sensor", topic="t/salon", value="temperature", unit="°C"))
    shown = []
    for payload in (b'{"temperature": 21}', b'{"temperature": 19.25, "humidity": 50}', b'{"temperature": 19.0}'):
        value = salon.parse(payload)
        salon.reading = Reading(value, 1e12, payload.decode())
        shown.append(salon.show(now=1e12))
    assert shown == ["21 °C", "19.25 °C", "19.0 °C"]
    with speaking("fr"):
        assert salon.show(now=1e12) == "19,0 °C"


@pytest.mark.parametrize("payload, why", [
    (b'{"temperature": true}', "true is not a number in °C"),
    (b'{"temperature": 1e308}', "1e[+]308 is not a reading"),
])
def test_nonsense_numbers_are_not_readings(payload: bytes, why: str) -> None:
    """`true` read as 1 °C (a frost rule would fire), 1e308 made a day's average `inf`."""
    with pytest.raises(PayloadError, match=why):
        Device("salon", DeviceSettings(type=DeviceType.SENSOR, state_topic="z/salon", value="temperature",
                                       unit="°C")).parse(payload)
    from chatops.device_values import finite
    assert finite(True) is None and finite(1e308) is None and finite("21.5") == 21.5
