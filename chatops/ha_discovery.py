"""Home Assistant MQTT discovery: a `<prefix>/<component>/[<node>/]<object>/config` payload -> settings.

Zigbee2MQTT, Tasmota (in its Home Assistant mode), ESPHome and many others announce their
devices this way. Each component maps to the device type of the same name; the state fields
come from the `*_template`s (`{{ value_json.position }}` -> `position`) and the commands go
where the announcement says: Zigbee2MQTT's JSON `.../set` topic for lights and covers, one
topic per field taking the raw value for thermostats, numbers and selects.
"""

from __future__ import annotations

import re
from typing import Any

from . import json_input
from .auth import fold
from .device_settings import DeviceSettings, DeviceType

_TEMPLATE_PATH = re.compile(r"value_json((?:\.[A-Za-z_][\w]*|\[['\"][^'\"]+['\"]\]|\[\d+\])+)")
COMPONENTS = {"sensor": DeviceType.SENSOR, "binary_sensor": DeviceType.BINARY_SENSOR, "switch": DeviceType.SWITCH,
              "light": DeviceType.LIGHT, "climate": DeviceType.CLIMATE, "cover": DeviceType.COVER,
              "number": DeviceType.NUMBER, "select": DeviceType.SELECT}
_ABBREVIATIONS = {"stat_t": "state_topic", "cmd_t": "command_topic", "val_tpl": "value_template",
                  "avty_t": "availability_topic", "avty": "availability", "pl_avail": "payload_available",
                  "pl_not_avail": "payload_not_available",
                  "unit_of_meas": "unit_of_measurement", "pl_on": "payload_on", "pl_off": "payload_off",
                  "stat_on": "state_on", "dev": "device", "uniq_id": "unique_id", "t": "topic",
                  "bri_cmd_t": "brightness_command_topic", "bri_scl": "brightness_scale",
                  "curr_temp_t": "current_temperature_topic", "curr_temp_tpl": "current_temperature_template",
                  "temp_cmd_t": "temperature_command_topic", "temp_stat_t": "temperature_state_topic",
                  "temp_stat_tpl": "temperature_state_template", "mode_cmd_t": "mode_command_topic",
                  "mode_stat_t": "mode_state_topic", "mode_stat_tpl": "mode_state_template",
                  "pos_t": "position_topic", "pos_tpl": "position_template", "set_pos_t": "set_position_topic",
                  "cmd_tpl": "command_template", "ops": "options", "sup_clrm": "supported_color_modes",
                  "bri_stat_t": "brightness_state_topic", "bri_val_tpl": "brightness_value_template",
                  "clr_temp_stat_t": "color_temp_state_topic", "clr_temp_val_tpl": "color_temp_value_template",
                  "stat_val_tpl": "state_value_template", "pl_open": "payload_open", "pl_cls": "payload_close",
                  "pl_stop": "payload_stop", "on_cmd_type": "on_command_type", "temp_unit": "temperature_unit",
                  "min_mirs": "min_mireds", "max_mirs": "max_mireds"}


def path_from_template(template: str | None) -> str | None:
    """Dotted path of a Home Assistant `value_template` such as `{{ value_json.temperature }}`."""
    if not template:
        return None
    match = _TEMPLATE_PATH.search(template)
    if not match:
        return None
    parts = re.findall(r"\.([A-Za-z_]\w*)|\[['\"]([^'\"]+)['\"]\]|\[(\d+)\]", match.group(1))
    return ".".join(a or b or c for a, b, c in parts)


def discovered_settings(component: str, data: dict[str, Any], object_id: str) -> tuple[str, DeviceSettings] | None:
    """(name, settings) of an announced device, None for a component the hub does not drive."""
    kind = COMPONENTS.get(component)
    if kind is None:
        return None
    data = {_ABBREVIATIONS.get(k, k): v for k, v in data.items()}
    base = data.get("~", "")
    for key, value in list(data.items()):
        if key.endswith("_topic") and isinstance(value, str):
            data[key] = _expand(value, base)
    state_topic = next((data[k] for k in ("state_topic", "current_temperature_topic", "temperature_state_topic",
                                          "mode_state_topic", "position_topic") if isinstance(data.get(k), str)), None)
    if state_topic is None:
        return None
    device_name = (data.get("device") or {}).get("name") if isinstance(data.get("device"), dict) else None
    if "name" in data and data["name"] is None:
        # `"name": null` is Home Assistant's "the device's main entity": named after the device
        # (Zigbee2MQTT's lamp is `lampe_bureau`, not `lampe_bureau light`).
        name = device_name or data.get("object_id") or object_id
    else:
        name = data.get("name") or object_id
        if device_name and not fold(str(name)).startswith(fold(device_name)):
            name = f"{device_name} {name}"
    slug = re.sub(r"[^a-z0-9]+", "_", fold(str(name))).strip("_")[:60] or object_id
    common: dict[str, Any] = {"type": kind, "state_topic": state_topic, "label": str(name),
                              "unit": str(data.get("unit_of_measurement") or "")}
    extra = _TYPED.get(kind, _plain)(data, kind)
    if extra is None:
        return None
    extra.update(_availability(data, base))
    topics = {name: data[key] for name, key in _FIELD_TOPICS.get(kind, ()) if isinstance(data.get(key), str)}
    if len(set(topics.values())) > 1:       # fields on topics of their own (ESPHome): each one read there
        extra["field_topics"] = topics
    return slug, one_device_topics(DeviceSettings(**{**common, **extra}))


def _expand(topic: str, base: str) -> str:
    """`~` as Home Assistant reads it: the base topic at the start or the end, nowhere else."""
    if topic.startswith("~"):
        topic = base + topic[1:]
    if topic.endswith("~") and len(topic) > 1:
        topic = topic[:-1] + base
    return topic


def one_device_topics(settings: DeviceSettings) -> DeviceSettings:
    """`settings` if every topic of it names one device, else ValueError: an announcement's
    `"stat_t": "#"` subscribed the hub to the whole broker (its reading whatever came last from
    anything), where the config may follow `zigbee2mqtt/+/state` on purpose."""
    for topic in (settings.topic, settings.availability_topic, settings.command_topic, settings.get_topic,
                  settings.snapshot_topic, *settings.field_topics.values(), *settings.command_topics.values()):
        if topic and ("+" in topic or "#" in topic):
            raise ValueError(f"its topic {topic!r} holds a wildcard (+ or #); a device's topics name that device alone")
        if topic and topic.startswith("chatops/"):
            # A "switch" whose command is a hub's acknowledge button: anyone allowed to switch acked alarms.
            raise ValueError(f"its topic {topic!r} is a hub's own (chatops/...), not a device's")
    return settings


def _availability(data: dict[str, Any], base: str) -> dict[str, Any]:
    """Where the device says it is online: `availability_topic`, or in `availability` the device's
    own topic (Zigbee2MQTT lists its bridge's state first, then the device's)."""
    entries = [{_ABBREVIATIONS.get(k, k): v for k, v in e.items()} for e in data.get("availability") or []
               if isinstance(e, dict)] if isinstance(data.get("availability"), list) else []
    if isinstance(data.get("availability_topic"), str):
        entries.append({"topic": data["availability_topic"], **data})
    entries = [e for e in entries if isinstance(e.get("topic"), str)]
    if not entries:
        return {}
    own = next((e for e in reversed(entries) if not e["topic"].endswith("/bridge/state")), entries[-1])
    return {"availability_topic": _expand(own["topic"], base),
            "payload_available": str(own.get("payload_available") or "online"),
            "payload_not_available": str(own.get("payload_not_available") or "offline")}


# Where Home Assistant's discovery puts each field's state, for the types that may split them.
_FIELD_TOPICS = {
    DeviceType.CLIMATE: (("current", "current_temperature_topic"), ("target", "temperature_state_topic"),
                         ("mode", "mode_state_topic")),
    DeviceType.LIGHT: (("state", "state_topic"), ("brightness", "brightness_state_topic"),
                       ("color_temp", "color_temp_state_topic")),
    DeviceType.COVER: (("state", "state_topic"), ("position", "position_topic")),
}


def _plain(data: dict[str, Any], kind: DeviceType) -> dict[str, Any] | None:
    on_words = ["on", "true", "1"]
    for key in ("payload_on", "state_on"):
        if data.get(key) is not None:
            on_words.append(str(data[key]))
    return {"value": path_from_template(data.get("value_template")),
            "command_topic": data.get("command_topic") if kind is DeviceType.SWITCH else None,
            "payload_on": str(data.get("payload_on", "ON")), "payload_off": str(data.get("payload_off", "OFF")),
            "state_on": on_words}


def _kelvin_limits(data: dict[str, Any]) -> dict[str, int]:
    """The colour temperatures a light announces: `min_kelvin`/`max_kelvin`, or the older
    `min_mireds`/`max_mireds` (the coldest is the fewest mireds); none: the defaults."""
    limits: dict[str, int] = {}
    for key, kelvin_key, mireds_key in (("min_kelvin", "min_kelvin", "max_mireds"),
                                        ("max_kelvin", "max_kelvin", "min_mireds")):
        try:
            if data.get(kelvin_key):
                limits[key] = int(float(data[kelvin_key]))
            elif data.get(mireds_key):
                # Widened to the next 10 K: a Hue bulb's 454 mireds is 2202.6 K, and the 2200 K on
                # its box was refused as out of range.
                kelvin = 1_000_000 / float(data[mireds_key])
                limits[key] = int(kelvin // 10 * 10) if key == "min_kelvin" else int(-(-kelvin // 10) * 10)
        except (TypeError, ValueError, ZeroDivisionError):
            continue
    return limits if all(1000 <= v <= 10000 for v in limits.values()) else {}


def _light(data: dict[str, Any], kind: DeviceType) -> dict[str, Any] | None:
    modes = data.get("supported_color_modes") or []
    colour = "color_temp" in modes or bool(data.get("color_temp"))
    if data.get("schema") == "json":                    # Zigbee2MQTT: one JSON object each way
        return {"command_topic": data.get("command_topic"), "payloads": "zigbee2mqtt", "color_temp": colour,
                "brightness_scale": int(data.get("brightness_scale") or 255),
                **(_kelvin_limits(data) if colour else {})}
    topics = {"state": data.get("command_topic")}
    if isinstance(data.get("brightness_command_topic"), str):
        topics["brightness"] = data["brightness_command_topic"]
    fields = {name: path for name, key in (("state", "state_value_template"), ("brightness", "brightness_value_template"),
                                           ("color_temp", "color_temp_value_template"))
              if (path := path_from_template(data.get(key) or (data.get("value_template") if name == "state" else None)))}
    return {"command_topic": data.get("command_topic"), "command_topics": {k: v for k, v in topics.items() if v},
            "payloads": "raw", "fields": fields,
            **({"on_command_type": data["on_command_type"]} if data.get("on_command_type") in ("first", "brightness")
               else {}),
            "payload_on": str(data.get("payload_on", "ON")), "payload_off": str(data.get("payload_off", "OFF")),
            "brightness_scale": int(data.get("brightness_scale") or 255)}


def _climate(data: dict[str, Any], kind: DeviceType) -> dict[str, Any] | None:
    fields = {name: path for name, key in (("current", "current_temperature_template"),
                                          ("target", "temperature_state_template"), ("mode", "mode_state_template"))
              if (path := path_from_template(data.get(key)))}
    topics = {name: data[key] for name, key in (("target", "temperature_command_topic"), ("mode", "mode_command_topic"))
              if isinstance(data.get(key), str)}
    if not topics:
        return None
    unit = str(data.get("temperature_unit") or "C")
    return {"fields": fields, "command_topics": topics, "unit": f"°{unit}",
            "modes": [str(m) for m in data.get("modes") or ["off", "heat", "auto"]],
            **_limits(data, "min_temp", "max_temp", "temp_step")}


def _cover(data: dict[str, Any], kind: DeviceType) -> dict[str, Any] | None:
    fields = {name: path for name, key in (("position", "position_template"), ("state", "value_template"))
              if (path := path_from_template(data.get(key)))}
    command = data.get("command_topic")
    if not isinstance(command, str):
        return None
    payloads = {key: str(data[key]) for key in ("payload_open", "payload_close", "payload_stop")
                if data.get(key) is not None}
    own_words = any(payloads.get(key, word) != word
                    for key, word in (("payload_open", "OPEN"), ("payload_close", "CLOSE"), ("payload_stop", "STOP")))
    if not fields:
        # No template: Home Assistant's plain cover, its words (OPEN or its own) on the command
        # topic, bare states (`closed`, `opening`) on the state topic, a raw position on its topic.
        topics = {"state": command, "stop": command}
        if isinstance(data.get("set_position_topic"), str):
            topics["position"] = data["set_position_topic"]
        return {"command_topic": command, "payloads": "raw", "command_topics": topics, **payloads}
    if data.get("set_position_topic") in (None, command) and not own_words:   # Zigbee2MQTT: JSON on .../set
        return {"command_topic": command, "fields": fields, "payloads": "zigbee2mqtt"}
    # Its own words (UP, DOWN, HALT) on the command topic, and the raw position on its topic when
    # it has one (the command topic itself, for some).
    topics = {"state": command, "stop": command}
    if isinstance(data.get("set_position_topic"), str):
        topics["position"] = data["set_position_topic"]
    return {"command_topic": command, "fields": fields, "payloads": "zigbee2mqtt", "command_topics": topics,
            **payloads}


def _number(data: dict[str, Any], kind: DeviceType) -> dict[str, Any] | None:
    if not isinstance(data.get("command_topic"), str):
        return None
    template = data.get("command_template")
    converted = re.sub(r"\{\{\s*value\s*\}\}", "{value}", template) if isinstance(template, str) else None
    extra: dict[str, Any] = {"command_topic": data["command_topic"], "payloads": "raw",
                             "value": path_from_template(data.get("value_template")),
                             "command_template": converted if converted and "{{" not in converted else None}
    if kind is DeviceType.SELECT:
        options = data.get("options")
        if not isinstance(options, list) or not options:
            return None
        return {**extra, "options": [str(o) for o in options]}
    return {**extra, **_limits(data, "min", "max", "step")}


def _limits(data: dict[str, Any], low: str, high: str, step: str) -> dict[str, float]:
    found = {}
    for key, name in ((low, "min"), (high, "max"), (step, "step")):
        try:
            found[name] = float(data[key])
        except (KeyError, TypeError, ValueError):
            continue
    return found


_TYPED = {DeviceType.LIGHT: _light, DeviceType.CLIMATE: _climate, DeviceType.COVER: _cover,
          DeviceType.NUMBER: _number, DeviceType.SELECT: _number}


def parse_config(payload: bytes) -> dict[str, Any]:
    """The JSON object of a discovery payload; ValueError otherwise."""
    data = json_input.loads(payload.decode("utf-8"))
    if not isinstance(data, dict):
        raise ValueError("discovery payload is not a JSON object")
    return data
