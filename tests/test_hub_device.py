"""The hub as a Home Assistant device over MQTT discovery, on a real mosquitto: what is announced
(retained), the states behind it, the acknowledge button, removal of what is no longer configured,
and the hub never reading its own announcements back as devices."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for, wait_for

pytestmark = pytest.mark.servers
NODE = "chatops_maison"


def rule(name: str, device: str = "kitchen_smoke") -> dict[str, Any]:
    return {"name": name, "device": device, "when": "on", "message": f"{name}!", "severity": "critical",
            "notify": ["loop:alice"], "repeat": "1h", "cooldown": "0.2s"}


def hub_settings(tmp_path: Path, url: str, rules: list[str], **mqtt: Any) -> Any:
    return settings_for(tmp_path / "data", url, simulator={"enabled": False}, alerts=[rule(r) for r in rules],
                        adapters={"loopback": {"name": "loop"}}, web={"user": None},
                        users={"owner": None, "alice": {"roles": ["admin"], "console": ["alice"]}},
                        mqtt={"discovery_ack_user": "alice", **mqtt})


class Follower:
    """A client that keeps the last payload of each topic it follows (Home Assistant's view)."""

    def __init__(self, client: aiomqtt.Client) -> None:
        self.client = client
        self.last: dict[str, bytes] = {}
        self.changed = asyncio.Event()

    async def follow(self) -> None:
        async for message in self.client.messages:
            self.last[message.topic.value] = bytes(message.payload)   # type: ignore[arg-type]
            self.changed.set()

    async def until(self, predicate: Any, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()

    def json(self, topic: str) -> Any:
        """The last JSON payload on `topic`, {} before any."""
        return json.loads(self.last[topic]) if self.last.get(topic) else {}

    def configs(self, prefix: str = "homeassistant") -> dict[str, Any]:
        return {t.split("/")[1] + "/" + t.split("/")[3]: json.loads(p) for t, p in self.last.items()
                if t.startswith(f"{prefix}/") and t.endswith("/config") and f"/{NODE}/" in t and p}


@asynccontextmanager
async def follower(port: int, *filters: str) -> AsyncIterator[Follower]:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        for topic_filter in filters:
            await client.subscribe(topic_filter)
        watcher = Follower(client)
        task = asyncio.create_task(watcher.follow())
        try:
            yield watcher
        finally:
            task.cancel()


async def test_the_hub_announces_itself_with_its_rules_adapters_and_button(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    async with follower(mosquitto.port, f"homeassistant/+/{NODE}/+/config", "chatops/maison/#") as ha, \
            running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
        wanted = {"binary_sensor/alert_smoke", "sensor/adapter_loop", "sensor/adapter_web", "button/ack"}
        await ha.until(lambda: set(ha.configs()) == wanted and "chatops/maison/alerts/smoke" in ha.last)
        configs = ha.configs()
        alert = configs["binary_sensor/alert_smoke"]
        assert alert["state_topic"] == "chatops/maison/alerts/smoke" and alert["device_class"] == "problem"
        assert alert["device"]["identifiers"] == [NODE] and alert["device"]["name"] == "maison"
        assert alert["availability_topic"] == "chatops/maison/status"
        assert alert["unique_id"] == f"{NODE}_alert_smoke"
        assert configs["button/ack"]["command_topic"] == "chatops/maison/ack"
        assert all(c["state_topic"].startswith("chatops/maison/") for k, c in configs.items() if "state_topic" in c)
        assert ha.json("chatops/maison/alerts/smoke").get("state") == "cleared"      # OFF in Home Assistant
        await ha.until(lambda: "chatops/maison/adapters/loop" in ha.last)
        assert ha.json("chatops/maison/adapters/loop")["state"] == "connected"

        hub.adapters["loop"].health.down("test: network gone")
        await ha.until(lambda: ha.json("chatops/maison/adapters/loop").get("state") == "disconnected")
        assert ha.json("chatops/maison/adapters/loop")["detail"] == "test: network gone"
        # Its own announcements are no devices of the house.
        assert not [d for d in hub.home.devices.values() if (d.settings.topic or "").startswith("chatops/")]
        assert all(d.source == "config" for d in hub.home.devices.values())


async def test_the_button_acknowledges_the_latest_alert_as_the_configured_user(tmp_path: Path,
                                                                              mosquitto: Mosquitto) -> None:
    async with follower(mosquitto.port, "chatops/maison/alerts/smoke") as ha, \
            running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
        await ha.client.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await ha.until(lambda: ha.json("chatops/maison/alerts/smoke").get("state") == "active")
        await ha.client.publish("chatops/maison/ack", b"PRESS", qos=1)
        await ha.until(lambda: ha.json("chatops/maison/alerts/smoke").get("state") == "acknowledged")
        assert ha.json("chatops/maison/alerts/smoke")["acked_by"] == "alice"
        active = await hub.alerts.active()
        assert active[0]["acked_by"] == "alice"


async def test_a_retained_press_does_not_acknowledge(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A press left retained on the broker (by a script) reaches the hub at every connection: it
    must not acknowledge the alert that is active when the hub starts."""
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
            await client.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
            await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None)
        await client.publish("chatops/maison/ack", b"PRESS", retain=True, qos=1)
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
            assert hub.hub_device is not None
            await hub.hub_device.announce()   # a round trip through the broker after the retained press came
            assert (await hub.alerts.active())[0]["acked_by"] is None
            await client.publish("chatops/maison/ack", b"PRESS", qos=1)         # a real press still works
            async with asyncio.timeout(10):
                while (await hub.alerts.active())[0]["acked_by"] is None:
                    await asyncio.sleep(0.02)
        await client.publish("chatops/maison/ack", b"", retain=True, qos=1)


async def test_a_removed_rule_leaves_home_assistant(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with follower(mosquitto.port, f"homeassistant/+/{NODE}/+/config", "chatops/maison/alerts/+") as ha:
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke", "leak"]), tty=False)):
            await ha.until(lambda: {"binary_sensor/alert_smoke", "binary_sensor/alert_leak"} <= set(ha.configs()))
            await ha.until(lambda: bool(ha.last.get("chatops/maison/alerts/leak")))
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
            await ha.until(lambda: "binary_sensor/alert_leak" not in ha.configs())
            assert ha.last[f"homeassistant/binary_sensor/{NODE}/alert_leak/config"] == b""
            await ha.until(lambda: ha.last["chatops/maison/alerts/leak"] == b"")     # its retained state too
            assert ha.last["chatops/maison/alerts/smoke"] != b""
            assert "binary_sensor/alert_smoke" in ha.configs()
            assert hub.hub_device is not None and hub.hub_device.removed == 1
    async with follower(mosquitto.port, f"homeassistant/+/{NODE}/+/config") as fresh:   # nothing retained is left
        await fresh.until(lambda: "binary_sensor/alert_smoke" in fresh.configs())
        assert "binary_sensor/alert_leak" not in fresh.configs()


async def test_discovery_publish_off_removes_the_hub_and_announces_nothing(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    async with follower(mosquitto.port, f"homeassistant/+/{NODE}/+/config") as ha:
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)):
            await ha.until(lambda: len(ha.configs()) == 4)
        settings = hub_settings(tmp_path, mosquitto.url, ["smoke"], discovery_publish=False)
        async with running(Hub(settings, tty=False)) as hub:
            await ha.until(lambda: not ha.configs())
            assert hub.hub_device is not None
            await wait_for(lambda: not hub.hub_device._stale)      # every removal of the pass published
            # The rule's state stays for Node-RED: only Home Assistant's announcements go.
            async with aiomqtt.Client("127.0.0.1", mosquitto.port) as node_red:
                await node_red.subscribe(hub.alerts.state_topic("smoke"))
                async with asyncio.timeout(5):
                    state = await anext(aiter(node_red.messages))
                assert json.loads(state.payload)["state"] == "cleared"
                # Node-RED's press acknowledges, with or without Home Assistant's button.
                await node_red.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
                async with asyncio.timeout(5):
                    while json.loads((await anext(aiter(node_red.messages))).payload)["state"] != "active":
                        pass
                await node_red.publish("chatops/maison/ack", b"PRESS", qos=1)
                async with asyncio.timeout(5):
                    while (state := json.loads((await anext(aiter(node_red.messages))).payload))["state"] != \
                            "acknowledged":
                        pass
                assert state["acked_by"] == "alice"


async def test_a_discovery_prefix_is_used_both_ways(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = hub_settings(tmp_path, mosquitto.url, ["smoke"], discovery_prefix="ha")
    garage = {"name": "Temperature", "unit_of_measurement": "°C", "state_topic": "zigbee2mqtt/garage",
              "value_template": "{{ value_json.temperature }}", "device": {"name": "garage"}}
    async with follower(mosquitto.port, f"ha/+/{NODE}/+/config") as ha:
        await ha.client.publish("ha/sensor/0x1/temperature/config", json.dumps(garage), qos=1, retain=True)
        await ha.client.publish("homeassistant/sensor/0x2/temperature/config",
                                json.dumps({**garage, "device": {"name": "attic"}}), qos=1, retain=True)
        async with running(Hub(settings, tty=False)) as hub:
            await ha.until(lambda: "binary_sensor/alert_smoke" in ha.configs("ha"))
            await wait_for(lambda: hub.home.find("garage temperature") is not None)
            assert hub.home.find("attic temperature") is None


def test_a_button_user_who_may_not_acknowledge_is_refused_at_load(tmp_path: Path) -> None:
    """Every press would be refused: `chatops check` says so (it was a log line at run time,
    after check had said OK, and the button silently went)."""
    from chatops.config import ConfigError
    with pytest.raises(ConfigError) as refused:
        settings_for(tmp_path / "data", simulator={"enabled": False}, alerts=[rule("smoke")],
                     adapters={"loopback": {"name": "loop"}}, web={"user": None},
                     users={"owner": None, "alice": {"roles": ["guest"], "console": ["alice"]}},
                     mqtt={"discovery_ack_user": "alice"})
    assert refused.value.problems == ["mqtt.discovery_ack_user: alice's roles do not grant ack, so the acknowledge "
                                      "button could never acknowledge; give alice a role with ack"]


async def test_a_hub_that_stops_is_shown_offline(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A clean disconnect discards the will: the hub says `offline` itself, so Home Assistant shows
    its entities unavailable."""
    async with follower(mosquitto.port, "chatops/maison/status") as ha:
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)):
            await ha.until(lambda: ha.last.get("chatops/maison/status") == b"online")
        await ha.until(lambda: ha.last.get("chatops/maison/status") == b"offline")
    async with follower(mosquitto.port, "chatops/maison/status") as late:      # and it is retained
        await late.until(lambda: late.last.get("chatops/maison/status") == b"offline")


async def test_two_hubs_on_one_broker_never_read_each_other_as_devices(tmp_path: Path,
                                                                      mosquitto: Mosquitto) -> None:
    """`chalet` announces its alert sensor and adapters; `maison`, on the same broker, lists none
    of them among its devices (nor counts their states as bad payloads)."""
    chalet = settings_for(tmp_path / "chalet", mosquitto.url, hub={"name": "chalet"}, simulator={"enabled": False},
                          alerts=[rule("smoke")], adapters={"loopback": {"name": "loop"}}, web={"user": None})
    async with follower(mosquitto.port, "homeassistant/+/chatops_chalet/+/config") as ha, \
            running(Hub(chalet, tty=False)):
        await ha.until(lambda: any("alert_smoke" in t and p for t, p in ha.last.items()))
        async with running(Hub(hub_settings(tmp_path, mosquitto.url, ["smoke"]), tty=False)) as hub:
            assert hub.hub_device is not None
            await hub.hub_device.announce()       # a round trip: chalet's retained configs came before it
            assert not [d for d in hub.home.devices if "chalet" in d]
            assert hub.home.bad_payloads == 0


async def test_two_hubs_with_one_name_say_so_and_keep_each_others_entities(tmp_path: Path,
                                                                          mosquitto: Mosquitto) -> None:
    """A second hub also named `maison` (a test install pointed at the house's broker) took the
    first one's alert sensor for a leftover and removed it from Home Assistant, silently. Both now
    say there is a namesake, in the log and in `status`, and both hubs' entities stay."""
    # Two processes in real life: in one, each needs its own client id (it defaults to name and pid).
    first, second = hub_settings(tmp_path / "a", mosquitto.url, ["smoke"], client_id="first"), \
        hub_settings(tmp_path / "b", mosquitto.url, ["leak"], client_id="second")
    async with follower(mosquitto.port, f"homeassistant/+/{NODE}/+/config") as ha, \
            running(Hub(first, tty=False)) as one:
        await ha.until(lambda: "binary_sensor/alert_smoke" in ha.configs())
        async with running(Hub(second, tty=False)) as two:
            assert one.hub_device is not None and two.hub_device is not None
            await wait_for(lambda: one.hub_device.namesakes and two.hub_device.namesakes)   # type: ignore[union-attr]
            assert one.hub_device.namesakes == [two.hub_device.instance]
            await ha.until(lambda: {"binary_sensor/alert_smoke", "binary_sensor/alert_leak"} <= set(ha.configs()))
            for hub, other in ((one, two), (two, one)):
                status = await exec_command(hub, "status", sender="alice")
                assert f"another hub named maison is on this broker ({other.hub_device.instance})" in status
            await one.hub_device.announce()       # a round trip: any removal would have come by now
            await two.hub_device.announce()
            assert {"binary_sensor/alert_smoke", "binary_sensor/alert_leak"} <= set(ha.configs())
