"""Devices announced over MQTT discovery: Home Assistant's (`homeassistant/<component>/.../config`,
what Zigbee2MQTT, ESPHome and Tasmota's SetOption19 publish) and Tasmota's own
(`tasmota/discovery/<MAC>/config` and `.../sensors`).

An announcement is retained and may change: a device renamed, a relay turned into a light. Each
one is remembered with the devices it gave, so that a changed announcement replaces them and a
withdrawn one (an empty retained payload, what those projects publish when a device is removed
or renamed) removes them, instead of a ghost that answers until the next restart.
"""

from __future__ import annotations

import logging
from typing import Any

from . import json_input
from .ha_discovery import discovered_settings, one_device_topics, parse_config
from .home import Device, Home
from .mqtt import MqttLink
from .tasmota import DISCOVERY as TASMOTA_DISCOVERY
from .tasmota import discovered_devices as tasmota_devices

log = logging.getLogger(__name__)

DISCOVERY_PREFIX = "homeassistant"


def discovered_device(component: str, payload: bytes, object_id: str) -> Device | None:
    """A Device from a Home Assistant discovery config payload, or None for other kinds."""
    found = discovered_settings(component, parse_config(payload), object_id)
    return None if found is None else Device(found[0], found[1], source="discovery")


class Announced:
    """Follows both discoveries and keeps `home` in step with what they announce."""

    def __init__(self, home: Home, mqtt: MqttLink, prefix: str = DISCOVERY_PREFIX, hub_nodes: str | None = None) -> None:
        self.home = home
        self.mqtt = mqtt
        self._prefix = prefix
        # Announcements of hubs (this one's and others' on the same broker, chatops.hub_device)
        # are no devices: their node ids start with `hub_nodes`.
        self._hub_nodes = hub_nodes
        self._tasmota: dict[str, dict[str, Any]] = {}      # MAC -> {"config": ..., "sensors": ...}
        # announcement (a config topic, or "tasmota:" + MAC) -> (what it announced, the devices of
        # it the registry took: not one another discovery announced first)
        self._gave: dict[str, tuple[list[tuple[str, Any]], list[Device]]] = {}

    async def start(self) -> None:
        await self.mqtt.subscribe_all([(f"{self._prefix}/#", self._on_home_assistant),
                                       (f"{TASMOTA_DISCOVERY}/+/+", self._on_tasmota)], bulk=True)

    def _on_home_assistant(self, topic: str, payload: bytes, _retained: bool) -> None:
        if not topic.endswith("/config"):
            return
        parts = topic.split("/")[len(self._prefix.split("/")) - 1:]
        if len(parts) not in (4, 5) or (len(parts) == 5 and self._hub_nodes and parts[2].startswith(self._hub_nodes)):
            return
        if not payload:
            self._announce(topic, [])
            return
        try:
            device = discovered_device(parts[1], payload, object_id=parts[-2])
        except (ValueError, TypeError) as exc:
            log.warning("ignored discovery config on %s: %s", topic, exc)
            return
        self._announce(topic, [device] if device is not None else [])

    def _on_tasmota(self, topic: str, payload: bytes, _retained: bool) -> None:
        """`tasmota/discovery/<MAC>/config` and `.../sensors`: devices once the config is known;
        an empty config withdraws them all."""
        _, _, mac, kind = topic.split("/")
        if kind not in ("config", "sensors"):
            return
        seen = self._tasmota.setdefault(mac, {})
        if not payload:
            seen.pop(kind, None)
            if kind == "config":
                self._announce(f"tasmota:{mac}", [])
            elif "config" in seen:          # its sensors withdrawn: the relays stay, the sensors go
                self._announce(f"tasmota:{mac}", [Device(name, settings, source="tasmota")
                                                  for name, settings in tasmota_devices(seen["config"], None)])
            return
        try:
            data = json_input.loads(payload.decode("utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            seen[kind] = data
            if "config" not in seen:
                return
            found = [(name, one_device_topics(settings))
                     for name, settings in tasmota_devices(seen["config"], seen.get("sensors"))]
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            log.warning("ignored Tasmota discovery on %s: %s", topic, exc)
            return
        self._announce(f"tasmota:{mac}", [Device(name, settings, source="tasmota") for name, settings in found])

    def _announce(self, key: str, devices: list[Device]) -> None:
        """`key` now announces `devices`: the same again changes nothing (announcements are
        published again at every Home Assistant start); otherwise the devices it gave before go
        and these come, keeping the last reading of one read as before (same topic and value):
        the broker sends no retained state again for a topic the hub already follows."""
        said = [(d.name, d.settings) for d in devices]
        before_said, before = self._gave.pop(key, ([], []))
        if said == before_said:
            if before_said:
                self._gave[key] = (before_said, before)
            return
        kept = {}
        for old in before:
            if self.home.devices.get(old.name) is old:
                self.home.discard(old.name)
                kept[old.settings.topic, old.settings.value] = old.reading
                log.info("%s device %s %s", old.source, old.name, "changed" if devices else "withdrawn: removed")
        for device in devices:
            device.reading = kept.get((device.settings.topic, device.settings.value))
        if devices:
            self._gave[key] = (said, [d for d in devices if self.home.adopt(d)])
