"""Devices announced over discovery follow their announcement: a changed config replaces the
device, an empty retained config (what Zigbee2MQTT, ESPHome and Tasmota publish when a device is
removed or renamed) removes it. Before, both were ignored until a restart: a ghost that answered."""

from __future__ import annotations

import json
from pathlib import Path

import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

pytestmark = pytest.mark.servers
CONFIG = "homeassistant/switch/garage_plug/config"


def plug(name: str, topic: str = "garage/plug") -> str:
    return json.dumps({"name": name, "unique_id": "garage_plug", "state_topic": topic,
                       "command_topic": f"{topic}/set", "value_template": "{{ value_json.state }}"})


async def test_a_withdrawn_announcement_removes_its_device_and_a_changed_one_replaces_it(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish(CONFIG, plug("Garage Plug"), qos=1, retain=True)
        await device.publish("garage/plug", json.dumps({"state": "ON"}), qos=1, retain=True)
        await wait_for(lambda: (d := hub.home.find("garage plug")) is not None and d.reading is not None)
        assert await exec_command(hub, "read garage plug") == "Garage Plug: ON"

        await device.publish(CONFIG, plug("Workshop Plug"), qos=1, retain=True)       # renamed
        await wait_for(lambda: hub.home.find("workshop plug") is not None)
        assert hub.home.find("garage plug") is None
        assert await exec_command(hub, "read workshop plug") == "Workshop Plug: ON", "its last reading is kept"

        await device.publish(CONFIG, b"", qos=1, retain=True)                          # removed
        await wait_for(lambda: hub.home.find("workshop plug") is None)
        assert "No device called 'workshop plug'" in await exec_command(hub, "read workshop plug")
        await device.publish("garage/plug", json.dumps({"state": "OFF"}), qos=1)
        await device.publish(CONFIG, plug("Garage Plug"), qos=1, retain=True)        # back again
        await wait_for(lambda: hub.home.find("garage plug") is not None)
        assert hub.home.bad_payloads == 0


async def test_the_same_announcement_again_keeps_the_device_and_its_reading(tmp_path: Path,
                                                                            mosquitto: Mosquitto) -> None:
    """Zigbee2MQTT publishes every config again when Home Assistant starts: nothing changes."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish(CONFIG, plug("Garage Plug"), qos=1, retain=True)
        await device.publish("garage/plug", json.dumps({"state": "ON"}), qos=1, retain=True)
        await wait_for(lambda: (d := hub.home.find("garage plug")) is not None and d.reading is not None)
        first = hub.home.find("garage plug")
        await device.publish(CONFIG, plug("Garage Plug"), qos=1, retain=True)
        await device.publish("homeassistant/sensor/sentinel/config", json.dumps({"name": "Sentinel",
                                                                                 "stat_t": "sentinel/state"}), qos=1)
        await wait_for(lambda: hub.home.find("sentinel") is not None)      # came after the second config
        assert hub.home.find("garage plug") is first


async def test_a_withdrawn_tasmota_config_removes_its_devices(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Its sensors withdrawn: they go, the relay stays; its config withdrawn: everything goes."""
    from tests.test_tasmota import CONFIG as TASMOTA, MAC, SENSORS
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish(f"tasmota/discovery/{MAC}/config", json.dumps(TASMOTA), qos=1, retain=True)
        await device.publish(f"tasmota/discovery/{MAC}/sensors", json.dumps(SENSORS), qos=1, retain=True)
        await wait_for(lambda: hub.home.find("pompe") is not None and
                       any(n.startswith("cellier_am2301") for n in hub.home.devices))
        await device.publish(f"tasmota/discovery/{MAC}/sensors", b"", qos=1, retain=True)
        await wait_for(lambda: not any(n.startswith("cellier_am2301") for n in hub.home.devices))
        assert hub.home.find("pompe") is not None
        await device.publish(f"tasmota/discovery/{MAC}/config", b"", qos=1, retain=True)
        await wait_for(lambda: hub.home.find("pompe") is None)
        assert "pompe" not in hub.home.devices


async def test_a_switch_waiting_for_its_confirmation_when_its_announcement_changes_is_answered(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The wait was cancelled: the handler took the CancelledError for its own, the conversation's
    worker ended, and neither that line nor the next one was ever answered."""
    from chatops.testing import message
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False},
                            adapters={"loopback": {"name": "loop"}},
                            users={"owner": {"roles": ["admin"], "loopback": ["owner"]}})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish(CONFIG, plug("Garage Plug"), qos=1, retain=True)
        await device.publish("garage/plug", json.dumps({"state": "OFF"}), qos=1, retain=True)
        await wait_for(lambda: (d := hub.home.find("garage plug")) is not None and d.reading is not None)
        loop = hub.adapters["loop"]
        hub.dispatch(message("switch garage plug on", sender="owner", network="loopback", adapter="loop"))
        await wait_for(lambda: hub.home.find("garage plug")._waiters, timeout=5)    # sent, no plug answers
        hub.dispatch(message("whoami", sender="owner", network="loopback", adapter="loop"))
        await device.publish(CONFIG, plug("Garage Plug", topic="garage/plug2"), qos=1, retain=True)
        _address, first = await loop.next(timeout=10)
        assert first == "Garage Plug is gone: its discovery announcement was withdrawn or changed."
        _address, second = await loop.next(timeout=10)
        assert second.startswith("You are"), second


async def test_two_plugs_announced_under_one_name_are_both_kept(tmp_path: Path, mosquitto: Mosquitto,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    """Two Tasmota plugs left with their factory name: both are devices (the second numbered, and
    the log says why); the second one once vanished without a word."""
    from tests.test_tasmota import CONFIG as TASMOTA
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    plugs = {"A4CF12111111": "tasmota_111111", "A4CF12222222": "tasmota_222222"}
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        for mac, topic in plugs.items():
            config = {**TASMOTA, "mac": mac, "t": topic, "dn": "Tasmota", "fn": ["Tasmota", *[None] * 7]}
            await device.publish(f"tasmota/discovery/{mac}/config", json.dumps(config), qos=1, retain=True)
        await wait_for(lambda: {"tasmota", "tasmota_2"} <= set(hub.home.devices))
        assert {hub.home.devices[n].settings.command_topic for n in ("tasmota", "tasmota_2")} == \
            {"cmnd/tasmota_111111/POWER", "cmnd/tasmota_222222/POWER"}
        assert "is added as tasmota_2: tasmota is another device's name" in caplog.text
        for mac in plugs:
            await device.publish(f"tasmota/discovery/{mac}/config", b"", qos=1, retain=True)


async def test_more_retained_announcements_than_the_brokers_queue_all_become_devices(
        tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A stock mosquitto queues at most 1,000 QoS 1 messages for a client (max_queued_messages):
    subscribed at QoS 1, a house with 1,500 retained discovery configs had about 1,000 devices at
    start, the rest silently missing (only mosquitto's log said it dropped them)."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port, max_queued_outgoing_messages=0) as device:
        for n in range(1500):
            await device.publish(f"homeassistant/sensor/many/d{n}/config",
                                 json.dumps({"name": f"dev{n}", "stat_t": f"many/{n}"}), qos=1, retain=True)
        try:
            async with running(Hub(settings, tty=False)) as hub:
                await wait_for(lambda: hub.home.find("dev1499") is not None, timeout=30)
                await wait_for(lambda: sum(name.startswith("dev") for name in hub.home.devices) == 1500, timeout=30)
                # A name that names none: 20 names and a count, not 1,500 names (an SMS bill).
                answer = await exec_command(hub, "read qqqq")
                assert answer.startswith("No device called 'qqqq'. Devices: ") and answer.endswith(" more."), answer
                assert len(answer) < 400, answer
        finally:
            for n in range(1500):
                await device.publish(f"homeassistant/sensor/many/d{n}/config", b"", qos=1, retain=True)


async def test_a_withdrawn_device_leaves_no_listener_and_no_subscription_behind(tmp_path: Path,
                                                                               mosquitto: Mosquitto) -> None:
    """Each changed announcement added listeners (holding the old device) and kept its topics
    subscribed for the hub's life: an announcement flapping 20,000 times grew the hub by 110 MB."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        before = len(hub.mqtt._filters()), sum(len(v) for v in hub.mqtt._exact.values())
        for n in range(50):
            await device.publish(CONFIG, plug(f"Plug {n}", topic=f"garage/plug{n % 2}"), qos=1, retain=True)
        await wait_for(lambda: hub.home.find("plug 49") is not None)
        await device.publish(CONFIG, b"", qos=1, retain=True)
        await wait_for(lambda: hub.home.find("plug 49") is None)
        await wait_for(lambda: "garage/plug1" not in hub.mqtt._subscribed)       # the broker told (UNSUBSCRIBE)
        assert (len(hub.mqtt._filters()), sum(len(v) for v in hub.mqtt._exact.values())) == before


@pytest.mark.parametrize("topic", ["#", "garage/+/state", "+/plug", "chatops/maison/ack"])
async def test_an_announcement_with_a_wildcard_topic_is_refused(tmp_path: Path, mosquitto: Mosquitto,
                                                                caplog: pytest.LogCaptureFixture, topic: str) -> None:
    """`"stat_t": "#"` subscribed the hub to the whole broker: `read wild` showed whatever came
    last from anything, and the subscription stayed after the announcement went."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish("homeassistant/sensor/garage/wild/config", json.dumps({"name": "wild", "stat_t": topic}),
                             qos=1)
        await device.publish("homeassistant/sensor/sentinel/config", json.dumps({"name": "Sentinel",
                                                                                 "stat_t": "sentinel/state"}), qos=1)
        await wait_for(lambda: hub.home.find("sentinel") is not None)
        assert hub.home.find("wild") is None
        assert topic not in hub.mqtt._filters() or topic == "chatops/maison/ack"     # that one the hub follows itself
        why = "is a hub's own (chatops/...), not a device's" if topic.startswith("chatops/") else \
            "holds a wildcard (+ or #); a device's topics name that device alone"
        assert f"ignored discovery config on homeassistant/sensor/garage/wild/config: its topic {topic!r} {why}" \
            in caplog.text


async def test_a_discovered_name_another_device_or_a_command_holds_is_warned_of(
        tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture) -> None:
    """A switch announced as "living room" (the salon sensor's alias) and a sensor as "timers"
    were added without a word: `living room on` answered that salon cannot be switched, and
    `timers` ran the command. The config's devices get that warning from `chatops check`."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device, running(Hub(settings, tty=False)) as hub:
        await device.publish("homeassistant/switch/x/lr/config", json.dumps(
            {"name": "living room", "stat_t": "x/lr", "cmd_t": "x/lr/set"}), qos=1)
        await device.publish("homeassistant/sensor/x/tm/config", json.dumps({"name": "Timers", "stat_t": "x/tm"}),
                             qos=1)
        await wait_for(lambda: hub.home.devices.get("timers") is not None and "living_room" in hub.home.devices)
        assert "discovery living_room: 'living room' is salon's name or alias, which a line with it reaches; " \
               "say living_room" in caplog.text
        assert "discovery timers: 'timers' is the command timers, which a line starting with it runs; say read " \
               "timers" in caplog.text
