"""The hub as a device of Home Assistant (and anything else that reads its MQTT discovery).

Under one device named after the hub, announced retained under `[mqtt] discovery_prefix`:
- a binary_sensor per alert rule, on while an alert of that rule is raised and not cleared;
- a sensor per adapter, its connection state (`connected` or `disconnected`, the reason as an
  attribute);
- a button that acknowledges the latest alert, when `[mqtt] discovery_ack_user` names the user
  whose `ack` it runs: a press goes through the router like a chat `ack` (permission, audit).

Every topic is the hub's own (`chatops/NAME/...`), the entities are unavailable when the hub's
will (`chatops/NAME/status` = offline) says it is gone, and the configs are sent again each time
the hub connects to the broker (a broker without persistence forgets retained messages).

What was announced is read back from the broker: any retained config under the hub's node id
that is not one of today's entities (a rule removed from config.toml, an adapter turned off,
`discovery_publish = false`) is removed with an empty retained payload as soon as it is seen.

Two hubs with one `[hub] name` on one broker would take each other's entities for leftovers and
remove them, and share one status topic. Each connection says hello on `chatops/NAME/hello`
(who it is: host, process, a random word); a hello from another instance is a namesake: said
in the log and in `status`, answered with our own hello (so it learns of us too), our entities
announced again, and nothing removed any more until a restart.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import re
import secrets
import socket
from typing import TYPE_CHECKING, Any

from . import json_input
from . import __version__
from .health import Health
from .i18n import _
from .message import Address
from .mqtt import Listener, MqttUnavailable

if TYPE_CHECKING:
    from .hub import Hub

log = logging.getLogger(__name__)

PRESS = "PRESS"


HUB_NODE_PREFIX = "chatops_"      # every hub's node id starts so: hubs never read each other as devices


def node_id(hub_name: str) -> str:
    """The hub's node id in discovery topics: `chatops_maison` (letters, digits, _ and - only)."""
    return HUB_NODE_PREFIX + (re.sub(r"[^A-Za-z0-9_-]+", "_", hub_name).strip("_") or "hub")


def _object_id(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "x"


class HubDevice:
    """Announces the hub's entities, keeps their states on MQTT, and takes the button's presses."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        settings = hub.settings.mqtt
        self.name = hub.settings.hub.name
        self.node = node_id(self.name)
        self.prefix = settings.discovery_prefix
        self.base = f"chatops/{self.name}"
        self.publish = settings.discovery_publish
        self.ack_user = settings.discovery_ack_user      # one whose roles grant ack (chatops.config_checks)
        if self.publish and settings.discovery_ack_user is None:
            log.info("Home Assistant: no acknowledge button (set [mqtt] discovery_ack_user to the user it acts as)")
        self.entities = self._entities() if self.publish else {}
        self._wake = asyncio.Event()
        self._announce_due = False
        self._changed: set[str] = set()         # adapters whose state is to be published
        self._stale: set[str] = set()           # config topics to remove
        self._removing: set[str] = set()        # ... and those on their way out
        self._pressing = False
        self.removed = 0
        self.instance = f"{socket.gethostname()} pid {os.getpid()} {secrets.token_hex(3)}"
        self.namesakes: list[str] = []          # other hubs with our name, as their hellos said
        self._hello_due = False

    # ---- what is announced ------------------------------------------------------------------

    def adapter_topic(self, adapter: str) -> str:
        return f"{self.base}/adapters/{adapter}"

    @property
    def ack_topic(self) -> str:
        return f"{self.base}/ack"

    @property
    def hello_topic(self) -> str:
        return f"{self.base}/hello"

    def _entities(self) -> dict[str, dict[str, Any]]:
        """Config topic -> discovery payload of every entity the hub has today."""
        device = {"identifiers": [self.node], "name": self.name, "manufacturer": "chatops",
                  "model": "chat-ops hub", "sw_version": __version__}
        common = {"availability_topic": self.hub.mqtt.status_topic, "payload_available": "online",
                  "payload_not_available": "offline", "device": device,
                  "origin": {"name": "chatops", "sw_version": __version__}}
        entities: dict[str, dict[str, Any]] = {}

        def add(component: str, object_id: str, payload: dict[str, Any]) -> None:
            object_id = _object_id(object_id)
            topic = f"{self.prefix}/{component}/{self.node}/{object_id}/config"
            entities[topic] = {**payload, "unique_id": f"{self.node}_{object_id}", **common}

        for rule in self.hub.alerts.rules:
            state = self.hub.alerts.state_topic(rule)
            add("binary_sensor", f"alert_{rule}", {
                "name": f"Alert {rule}", "device_class": "problem", "state_topic": state,
                "value_template": "{{ 'OFF' if value_json.state == 'cleared' else 'ON' }}",
                "json_attributes_topic": state})
        for adapter in self.hub.adapters:
            state = self.adapter_topic(adapter)
            add("sensor", f"adapter_{adapter}", {
                "name": f"{adapter} connection", "state_topic": state, "value_template": "{{ value_json.state }}",
                "json_attributes_topic": state, "entity_category": "diagnostic", "icon": "mdi:lan-connect"})
        if self.ack_user:
            add("button", "ack", {"name": "Acknowledge latest alert", "command_topic": self.ack_topic,
                                  "payload_press": PRESS, "icon": "mdi:bell-check"})
        return entities

    # ---- running ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribe (safe before MQTT is up) and start announcing in the hub's task group."""
        mqtt = self.hub.mqtt
        self.hub.spawn(self._publish_forever(), "ha-discovery")
        # Without `discovery_publish` nothing is announced to Home Assistant (what was is removed,
        # _on_config), but the rules' and adapters' states are still published: Node-RED reads them.
        wanted: list[tuple[str, Listener]] = [(f"{self.prefix}/+/{self.node}/+/config", self._on_config),
                                              (mqtt.status_topic, self._on_status),
                                              (self.hello_topic, self._on_hello)]
        if self.ack_user:                       # Node-RED presses it too, with or without the announcements
            wanted.append((self.ack_topic, self._on_press))
        await mqtt.subscribe_all(wanted)
        for name, adapter in self.hub.adapters.items():
            adapter.health.watchers.append(functools.partial(self._on_adapter, name))

    def _on_status(self, _topic: str, payload: bytes, _retained: bool) -> None:
        if payload == b"online":        # our own birth message: a new connection to the broker
            self._announce_due = self._hello_due = True
            self._wake.set()

    def _on_hello(self, _topic: str, payload: bytes, retained: bool) -> None:
        who = payload.decode("utf-8", "replace")[:120]
        if retained or who == self.instance or who in self.namesakes:
            return
        self.namesakes.append(who)
        log.error("another hub named %r is connected to this broker (%s): give each hub its own [hub] name; "
                  "until then they share one status, answer the same %s/notify, and this one removes "
                  "nothing from Home Assistant", self.name, who, self.base)
        # It may have removed our entities before it heard of us; the hello goes first, so it
        # knows us before it sees them again.
        self._hello_due = self._announce_due = True
        self._wake.set()

    def namesake_note(self) -> str | None:
        """`status`'s line about other hubs with this one's name, or None."""
        if not self.namesakes:
            return None
        return _("another hub named {name} is on this broker ({who}): give each its own [hub] name").format(
            name=self.name, who="; ".join(self.namesakes))

    async def _publish_forever(self) -> None:
        """The one task that publishes for Home Assistant: announcements, adapter states, removals
        (callbacks only note what is due, so nothing is spawned while the hub stops)."""
        mqtt = self.hub.mqtt
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._hello_due:
                    self._hello_due = False
                    await mqtt.publish(self.hello_topic, self.instance)
                if self._announce_due:
                    self._announce_due = False
                    await self.announce()
                while self._changed:
                    name = self._changed.pop()
                    adapter = self.hub.adapters[name]
                    await mqtt.publish(self.adapter_topic(name), _adapter_state(adapter.health), retain=True)
                while self._stale:
                    topic = self._stale.pop()
                    await mqtt.publish(topic, b"", retain=True)
            except MqttUnavailable as exc:      # the next connection announces everything again
                log.info("Home Assistant discovery not sent (%s); sent on the next connection", exc)

    async def announce(self) -> None:
        """Publish every entity's config, then its current state (all retained)."""
        mqtt = self.hub.mqtt
        self._removing.clear()      # a removal lost with the last connection is seen (retained) again
        for topic, payload in self.entities.items():
            await mqtt.publish(topic, json.dumps(payload, separators=(",", ":")), retain=True)
        for name, adapter in self.hub.adapters.items():
            await mqtt.publish(self.adapter_topic(name), _adapter_state(adapter.health), retain=True)
        await self.hub.alerts.publish_states()
        log.info("announced %d entities to Home Assistant under %s/…/%s", len(self.entities), self.prefix,
                 self.node)

    def _on_config(self, topic: str, payload: bytes, _retained: bool) -> None:
        """A config under our node id: one of today's entities, or a leftover to remove.

        A retained message comes once per matching subscription (the home's discovery reader
        subscribes too): a removal under way is not started twice."""
        if not payload:
            self._removing.discard(topic)      # our removal came back: done
            return
        if topic in self.entities or topic in self._removing or self.namesakes:
            return                             # (a namesake's entity is not ours to remove)
        log.info("removing %s from Home Assistant: no such entity any more", topic)
        self._removing.add(topic)
        self._stale.add(topic)
        # Its retained state too (`chatops/maison/alerts/leak`): Node-RED follows those topics.
        try:
            state = json_input.loads(payload).get("state_topic")
        except (ValueError, AttributeError):
            state = None
        if isinstance(state, str) and state.startswith(self.base + "/") and state not in self._state_topics():
            self._stale.add(state)
        self.removed += 1
        self._wake.set()

    def _state_topics(self) -> set[str]:
        """The state topics still in use: Node-RED reads a configured rule's and adapter's even
        when the hub announces nothing to Home Assistant (`discovery_publish = false`)."""
        return {e["state_topic"] for e in self.entities.values() if "state_topic" in e} | \
            {self.hub.alerts.state_topic(rule) for rule in self.hub.alerts.rules} | \
            {self.adapter_topic(adapter) for adapter in self.hub.adapters}

    def _on_adapter(self, name: str, _health: Health) -> None:
        self._changed.add(name)
        self._wake.set()

    def _spawn(self, coro: Any, name: str) -> None:
        try:
            self.hub.spawn(coro, name)
        except RuntimeError:            # the hub is stopping: nothing more is published
            coro.close()

    # ---- the button ---------------------------------------------------------------------------

    def _on_press(self, _topic: str, payload: bytes, retained: bool) -> None:
        if retained:        # a press left retained on the broker must not acknowledge at every start
            log.warning("ignored a retained message on %s: a button press is never retained", self.ack_topic)
            return
        if payload.strip() != PRESS.encode():
            log.warning("ignored %r on %s: a press is %r", payload[:40], self.ack_topic, PRESS)
            return
        if self._pressing:
            log.info("acknowledge button pressed again while the last press runs; ignored")
            return
        self._pressing = True
        self._spawn(self._acknowledge(), "ha-ack")

    async def _acknowledge(self) -> None:
        """`ack` as the configured user, through the router: the same checks and audit as in chat."""
        assert self.ack_user is not None
        try:
            replies = await self.hub.run_as(self.ack_user, "ack", Address("mqtt", self.ack_topic, True))
            log.info("acknowledge button: %s", " / ".join(r.text for r in replies) or "no answer")
        finally:
            self._pressing = False


def _adapter_state(health: Health) -> str:
    return json.dumps({"state": "connected" if health.connected else "disconnected", "detail": health.detail,
                       "since": round(health.since, 3)})
