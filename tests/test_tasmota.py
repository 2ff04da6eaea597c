"""Tasmota as it really talks: `Status 8` answered on stat/<topic>/STATUS8 inside StatusSNS, and its
own discovery (tasmota/discovery/<MAC>/config and /sensors) read beside Home Assistant's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest

from chatops.config import DeviceType
from chatops.hub import Hub, running
from chatops.tasmota import discovered_devices, status_answer, unwrap
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

MAC = "A4CF12D3E4F5"
# A Sonoff TH with an AM2301 as Tasmota 13 announces it (retained), abridged only in its SetOptions.
CONFIG = {"ip": "192.168.1.51", "dn": "Cellier", "fn": ["Pompe", None, None, None, None, None, None, None],
          "hn": "cellier-4F5", "mac": MAC, "md": "Sonoff TH", "ty": 0, "if": 0, "cam": 0,
          "ofln": "Offline", "onln": "Online", "state": ["OFF", "ON", "TOGGLE", "HOLD"], "sw": "13.4.0",
          "t": "cellier", "ft": "%prefix%/%topic%/", "tp": ["cmnd", "stat", "tele"],
          "rl": [1, 0, 0, 0, 0, 0, 0, 0], "swc": [-1, -1, -1, -1, -1, -1, -1, -1],
          "swn": [None, None, None, None, None, None, None, None], "btn": [0, 0, 0, 0, 0, 0, 0, 0],
          "so": {"4": 0, "11": 0, "13": 0, "17": 0, "20": 0, "30": 0, "68": 0, "73": 0, "82": 0, "114": 0,
                 "117": 0}, "lk": 0, "lt_st": 0, "bat": 0, "dslp": 0, "sho": [], "sht": [], "ver": 1}
SENSORS = {"sn": {"Time": "2026-12-04T21:14:03", "AM2301": {"Temperature": 11.8, "Humidity": 71.2, "DewPoint": 6.7},
                  "TempUnit": "C"}, "ver": 1}
# Its answer to `Status 8`, on stat/cellier/STATUS8:
STATUS8 = {"StatusSNS": {"Time": "2026-12-04T21:15:40", "AM2301": {"Temperature": 11.6, "Humidity": 70.9,
                                                                    "DewPoint": 6.5}, "TempUnit": "C"}}


def test_the_status_answer_topic_and_its_wrapping() -> None:
    assert status_answer("tele/cellier/SENSOR") == ("stat/cellier/STATUS8", "StatusSNS")
    assert status_answer("tele/cellier/STATE") == ("stat/cellier/STATUS11", "StatusSTS")
    assert status_answer("zigbee2mqtt/salon") is None and status_answer("stat/cellier/POWER") is None
    assert status_answer("maison/cellier/tele/SENSOR") == ("maison/cellier/stat/STATUS8", "StatusSNS"), "ft of one's own"
    assert json.loads(unwrap(json.dumps(STATUS8).encode(), "StatusSNS"))["AM2301"]["Temperature"] == 11.6
    with pytest.raises(ValueError):
        unwrap(b'{"Status": {"Module": 4}}', "StatusSNS")
    with pytest.raises(ValueError):
        unwrap(b"\xff\xfe", "StatusSNS")


def test_a_tasmota_discovery_becomes_a_switch_and_sensors() -> None:
    found = dict(discovered_devices(CONFIG, SENSORS))
    pump = found["pompe"]
    assert pump.type is DeviceType.SWITCH and pump.topic == "stat/cellier/POWER"
    assert pump.command_topic == "cmnd/cellier/POWER" and (pump.payload_on, pump.payload_off) == ("ON", "OFF")
    temperature = found["cellier_am2301_temperature"]
    assert (temperature.topic, temperature.value, temperature.unit) == \
        ("tele/cellier/SENSOR", "AM2301.Temperature", "°C")
    assert found["cellier_am2301_humidity"].unit == "%"
    assert set(found) == {"pompe", "cellier_am2301_temperature", "cellier_am2301_humidity", "cellier_am2301_dewpoint"}


def test_relays_of_a_multi_channel_device_and_a_custom_full_topic() -> None:
    config = {**CONFIG, "dn": "Garage", "fn": ["Porte", None, None, None], "rl": [1, 1, 0, 0], "t": "garage",
              "ft": "maison/%topic%/%prefix%/"}
    found = dict(discovered_devices(config, None))
    assert found["porte"].topic == "maison/garage/stat/POWER1"
    assert found["porte"].command_topic == "maison/garage/cmnd/POWER1"
    assert found["garage_2"].topic == "maison/garage/stat/POWER2"
    with pytest.raises(ValueError):
        discovered_devices({"dn": "no topic"}, None)


@pytest.mark.servers
@pytest.mark.parametrize("full_topic", ["%prefix%/%topic%", "maison/%topic%/%prefix%"])
async def test_a_silent_sensor_is_read_from_its_status8_answer(full_topic: str, tmp_path: Path,
                                                               mosquitto: Mosquitto) -> None:
    def topic(prefix: str, leaf: str) -> str:       # as Tasmota builds it from its FullTopic (ft)
        return full_topic.replace("%prefix%", prefix).replace("%topic%", "cellier") + f"/{leaf}"

    devices = {"cellier": {"type": "sensor", "topic": topic("tele", "SENSOR"), "value": "AM2301.Temperature",
                           "unit": "°C"}}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, devices=devices)
    async with running(Hub(settings, tty=False)) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.subscribe(topic("cmnd", "Status"))
        asked: list[bytes] = []

        async def tasmota() -> None:            # answers `Status 8` as the firmware does
            async for message in device.messages:
                asked.append(bytes(message.payload))   # type: ignore[arg-type]
                await device.publish(topic("stat", "STATUS8"), json.dumps(STATUS8))

        responder = asyncio.create_task(tasmota())
        try:
            assert await exec_command(hub, "temp cellier") == "cellier: 11.6 °C"
            assert asked == [b"8"]
            await device.publish(topic("stat", "STATUS8"), b'{"StatusSNS": "not an object"}')
            await wait_for(lambda: hub.home.bad_payloads == 1)
            assert hub.home.devices["cellier"].reading.value == 11.6      # the last good reading stays
        finally:
            responder.cancel()


@pytest.mark.servers
async def test_tasmota_discovery_over_mosquitto_gives_devices_to_drive(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        # Announced before the hub starts (retained), as a device that has been up for days.
        await device.publish(f"tasmota/discovery/{MAC}/config", json.dumps(CONFIG), qos=1, retain=True)
        await device.publish(f"tasmota/discovery/{MAC}/sensors", json.dumps(SENSORS), qos=1, retain=True)
        async with running(Hub(settings, tty=False)) as hub:
            await wait_for(lambda: hub.home.find("pompe") is not None and hub.home.find("cellier am2301 humidity"))
            assert hub.home.devices["pompe"].source == "tasmota"
            await device.subscribe("cmnd/cellier/POWER")

            async def plug() -> None:
                async for message in device.messages:
                    await device.publish("stat/cellier/POWER", message.payload)

            responder = asyncio.create_task(plug())
            try:
                assert await exec_command(hub, "switch pompe on") == "Pompe is ON"
                await device.publish("tele/cellier/SENSOR", json.dumps(SENSORS["sn"]))
                await wait_for(lambda: hub.home.devices["cellier_am2301_humidity"].reading is not None)
                assert await exec_command(hub, "read cellier am2301 humidity") == "Cellier AM2301 Humidity: 71.2 %"
                # Every room's temperature: the AM2301's, not its dew point (°C too, but no room's).
                rooms = await exec_command(hub, "temp")
                assert "Cellier AM2301 Temperature: 11.8 °C" in rooms and "DewPoint" not in rooms, rooms
            finally:
                responder.cancel()


@pytest.mark.servers
async def test_a_relay_announced_by_both_discoveries_is_one_device(tmp_path: Path, mosquitto: Mosquitto) -> None:
    # Tasmota with SetOption19 announces its relay to Home Assistant too (legacy discovery), while
    # its own discovery stays retained from before: one relay, so one device to switch, not two.
    legacy = {"name": "Cellier Pompe", "uniq_id": f"{MAC}_RL_1", "cmd_t": "cmnd/cellier/POWER",
              "stat_t": "tele/cellier/STATE", "val_tpl": "{{value_json.POWER}}", "pl_off": "OFF", "pl_on": "ON",
              "avty_t": "tele/cellier/LWT", "pl_avail": "Online", "pl_not_avail": "Offline"}
    temperature = {"name": "Cellier AM2301 Temperature", "uniq_id": f"{MAC}_AM2301_Temperature",
                   "stat_t": "tele/cellier/SENSOR", "val_tpl": "{{value_json['AM2301'].Temperature}}",
                   "unit_of_meas": "°C", "dev_cla": "temperature"}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish(f"homeassistant/switch/{MAC}_RL_1/config", json.dumps(legacy), qos=1, retain=True)
        await device.publish(f"homeassistant/sensor/{MAC}_AM2301_Temperature/config", json.dumps(temperature),
                             qos=1, retain=True)
        await device.publish(f"tasmota/discovery/{MAC}/config", json.dumps(CONFIG), qos=1, retain=True)
        await device.publish(f"tasmota/discovery/{MAC}/sensors", json.dumps(SENSORS), qos=1, retain=True)
        async with running(Hub(settings, tty=False)) as hub:
            # A config announced now comes after every retained one (the broker sent those first).
            sentinel = {"name": "Sentinel", "stat_t": "sentinel/state"}
            await device.publish("homeassistant/sensor/sentinel/config", json.dumps(sentinel), qos=1, retain=True)
            await wait_for(lambda: hub.home.find("sentinel") is not None)
            relays = [d for d in hub.home.devices.values() if d.settings.command_topic == "cmnd/cellier/POWER"]
            temperatures = [d for d in hub.home.devices.values()
                            if d.settings.topic == "tele/cellier/SENSOR" and d.settings.value == "AM2301.Temperature"]
            assert len(relays) == 1 and len(temperatures) == 1, [d.name for d in hub.home.devices.values()]
            assert hub.home.find("cellier am2301 humidity") is not None, "the rest of each announcement is kept"


@pytest.mark.servers
async def test_a_plug_announced_only_to_home_assistant_is_confirmed_from_its_result(tmp_path: Path,
                                                                                    mosquitto: Mosquitto) -> None:
    """A Tasmota plug with SetOption19 announces tele/<topic>/STATE, which it sends every 5 min: the
    switch said "No confirmation" though the plug answered on stat/<topic>/RESULT at once."""
    legacy = {"name": "Garage Door", "uniq_id": "AABBCC_RL_1", "cmd_t": "cmnd/garage_plug/POWER",
              "stat_t": "tele/garage_plug/STATE", "val_tpl": "{{value_json.POWER}}", "pl_off": "OFF", "pl_on": "ON"}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish("homeassistant/switch/AABBCC_RL_1/config", json.dumps(legacy), qos=1, retain=True)
        await device.publish("tele/garage_plug/STATE", json.dumps({"POWER": "OFF", "Uptime": "3T01:02:03"}),
                             qos=1, retain=True)
        try:
            async with running(Hub(settings, tty=False)) as hub:
                await wait_for(lambda: hub.home.find("garage door") is not None)
                await device.subscribe("cmnd/garage_plug/POWER")

                async def plug() -> None:
                    async for message in device.messages:
                        await device.publish("stat/garage_plug/RESULT", json.dumps({"Timezone": 99}))   # another answer
                        await device.publish("stat/garage_plug/RESULT", json.dumps({"POWER": message.payload.decode()}))

                responder = asyncio.create_task(plug())
                try:
                    assert await exec_command(hub, "switch garage door on") == "Garage Door is ON"
                finally:
                    responder.cancel()
                assert hub.home.bad_payloads == 0, "an answer to another command is no bad payload"
        finally:
            await device.publish("homeassistant/switch/AABBCC_RL_1/config", b"", qos=1, retain=True)
            await device.publish("tele/garage_plug/STATE", b"", qos=1, retain=True)
