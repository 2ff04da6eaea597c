"""Tasmota's own shapes: its discovery messages and its answers to `Status 8` / `Status 11`.

A Tasmota device announces itself retained on `tasmota/discovery/<MAC>/config` (its topic,
full-topic pattern, relays and their friendly names, the words it uses for on and off) and
`tasmota/discovery/<MAC>/sensors` (one sample of its `SENSOR` telemetry). From those come
switches (one per relay, raw `ON`/`OFF` on `stat/<topic>/POWER<n>`) and sensors (one per number
in the telemetry, read from `tele/<topic>/SENSOR`), with no Home Assistant in between.

Asked `Status 8` (sensors) or `Status 11` (state), Tasmota answers on `stat/<topic>/STATUS8`
wrapped in `StatusSNS` (`STATUS11`, `StatusSTS`): the same fields as its telemetry, one level down.
"""

from __future__ import annotations

import json
import re
from typing import Any

from . import json_input
from .auth import fold
from .config import DeviceSettings, DeviceType

DISCOVERY = "tasmota/discovery"
# telemetry leaf -> (answer leaf, the key the answer is wrapped in)
_ANSWERS = {"SENSOR": ("STATUS8", "StatusSNS"), "STATE": ("STATUS11", "StatusSTS")}
_UNITS = {"Humidity": "%", "Pressure": "hPa", "SeaPressure": "hPa", "Illuminance": "lx", "CarbonDioxide": "ppm",
          "CO2": "ppm", "eCO2": "ppm", "TVOC": "ppb", "Voltage": "V", "Current": "A", "Power": "W",
          "ApparentPower": "VA", "ReactivePower": "var", "Total": "kWh", "Today": "kWh", "Yesterday": "kWh",
          "Distance": "cm", "PM2.5": "µg/m³", "PM10": "µg/m³", "PM1": "µg/m³"}
_TEMPERATURES = ("Temperature", "DewPoint")
_RELAY_KINDS = (1, 2)               # rl: 1 a plain relay, 2 a light, 3 a shutter (two relays each)
_COLOUR_TEMPERATURE = (2, 5)        # lt_st, the light's channels: 1 dimmer, 2 CT, 3 RGB, 4 RGBW, 5 RGBCW


_LEAF = re.compile(r"SENSOR|STATE|RESULT|POWER\d*|STATUS\d*")
_PREFIXES = ("tele", "stat", "cmnd")


def sibling(topic: str, prefix: str, leaf: str) -> str | None:
    """`topic`, a Tasmota one, with its prefix level set to `prefix` (cmnd, stat, tele) and its last
    level to `leaf`: `tele/salon/SENSOR` -> `cmnd/salon/Status`, and the same under a full topic
    of one's own (`ft`, say `maison/%topic%/%prefix%/`: `maison/salon/tele/SENSOR`). None when
    `topic` does not look like Tasmota's: a prefix level and a Tasmota leaf, three levels at least."""
    parts = topic.split("/")
    if len(parts) < 3 or not _LEAF.fullmatch(parts[-1]):
        return None
    for index in range(len(parts) - 2, -1, -1):
        if parts[index] in _PREFIXES:
            return "/".join([*parts[:index], prefix, *parts[index + 1:-1], leaf])
    return None


def status_answer(topic: str) -> tuple[str, str] | None:
    """(answer topic, wrapping key) for a device reading Tasmota telemetry on `topic`, else None."""
    last = topic.rsplit("/", 1)[-1]
    answer = sibling(topic, "stat", _ANSWERS[last][0]) if last in _ANSWERS else None
    return (answer, _ANSWERS[last][1]) if answer is not None and "tele" in topic.split("/")[:-1] else None


def unwrap(payload: bytes, key: str) -> bytes:
    """The telemetry inside a `Status` answer (`{"StatusSNS": {...}}` -> `{...}`); ValueError otherwise."""
    data = json_input.loads(payload.decode("utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get(key), dict):
        raise ValueError(f"no {key} object in the answer")
    return json.dumps(data[key]).encode()


def _topic(config: dict[str, Any], prefix: int) -> str:
    """The device's full topic for prefix `prefix` (0 cmnd, 1 stat, 2 tele), without the trailing /."""
    prefixes = config.get("tp") or ["cmnd", "stat", "tele"]
    mac = str(config.get("mac", ""))
    text = str(config.get("ft") or "%prefix%/%topic%/")
    for field, value in (("%prefix%", prefixes[prefix]), ("%topic%", config["t"]),
                         ("%hostname%", config.get("hn", "")), ("%id%", mac[-6:])):
        text = text.replace(field, str(value))
    return text.rstrip("/")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text)).strip("_")[:60]


def discovered_devices(config: dict[str, Any], sensors: dict[str, Any] | None) -> list[tuple[str, DeviceSettings]]:
    """(name, settings) of each switch and sensor a Tasmota discovery config (and sensors sample) shows."""
    if not isinstance(config.get("t"), str) or not config["t"]:
        raise ValueError("no topic (t) in the Tasmota discovery config")
    device_name = str(config.get("dn") or config["t"])
    words = config.get("state") or ["OFF", "ON", "TOGGLE", "HOLD"]
    off, on = str(words[0]), str(words[1])
    found: list[tuple[str, DeviceSettings]] = []
    # Its last will on tele/<topic>/LWT: `Offline` once it drops off the broker.
    lwt = {"availability_topic": f"{_topic(config, 2)}/LWT", "payload_available": str(config.get("onln") or "Online"),
           "payload_not_available": str(config.get("ofln") or "Offline")}
    relays = [index for index, kind in enumerate(config.get("rl") or []) if kind in _RELAY_KINDS]
    names = config.get("fn") or []
    light = int(config.get("lt_st") or 0)
    for index in relays:
        leaf = "POWER" if len(relays) == 1 and index == 0 else f"POWER{index + 1}"
        label = names[index] if index < len(names) and names[index] else \
            (device_name if len(relays) == 1 else f"{device_name} {index + 1}")
        if config["rl"][index] == 2 and light:          # a dimmable light: Power, Dimmer, CT on cmnd/<topic>/
            found.append((_slug(str(label)) or _slug(config["t"]), DeviceSettings(**lwt,
                type=DeviceType.LIGHT, state_topic=f"{_topic(config, 2)}/STATE", command_topic=_topic(config, 0),
                label=str(label), payloads="tasmota", color_temp=light in _COLOUR_TEMPERATURE)))
            light = 0                                   # Tasmota drives one light per device
            continue
        found.append((_slug(str(label)) or _slug(f"{config['t']} {leaf}"), DeviceSettings(**lwt,
            type=DeviceType.SWITCH, state_topic=f"{_topic(config, 1)}/{leaf}",
            command_topic=f"{_topic(config, 0)}/{leaf}", label=str(label), payload_on=on, payload_off=off,
            state_on=[on, "on"])))
    shutters = sum(1 for kind in config.get("rl") or [] if kind == 3) // 2
    for number in range(1, shutters + 1):
        label = device_name if shutters == 1 else f"{device_name} {number}"
        found.append((_slug(label), DeviceSettings(**lwt,
            type=DeviceType.COVER, state_topic=f"{_topic(config, 2)}/SENSOR", command_topic=_topic(config, 0),
            label=label, payloads="tasmota", fields={"shutter": f"Shutter{number}"})))
    sample = (sensors or {}).get("sn") if isinstance(sensors, dict) else None
    if isinstance(sample, dict):
        temperature = f"°{sample.get('TempUnit', 'C')}"
        pressure = str(sample.get("PressureUnit", "hPa"))
        covered = {f"Shutter{number}" for number in range(1, shutters + 1)}
        for sensor, fields in sample.items():
            if not isinstance(fields, dict) or sensor in covered:
                continue                # a shutter's telemetry is its cover's state, not four more sensors
            for field, value in fields.items():
                if isinstance(value, bool) or not isinstance(value, (int, float)) or "." in sensor + field:
                    continue            # a dotted path cannot name `PM2.5`
                unit = temperature if field in _TEMPERATURES else \
                    (pressure if "Pressure" in field else _UNITS.get(field, ""))
                label = f"{device_name} {sensor} {field}"
                found.append((_slug(label), DeviceSettings(**lwt,
                    type=DeviceType.SENSOR, state_topic=f"{_topic(config, 2)}/SENSOR", value=f"{sensor}.{field}",
                    label=label, unit=unit)))
    return found


def reading_request(s: DeviceSettings) -> tuple[str | None, str | None]:
    """(topic, payload) that asks a device for a fresh state, or (None, None): its `get_topic`,
    Zigbee2MQTT's `/get`, or Tasmota's empty `POWER` (answered with its state) and `Status`."""
    if s.get_topic:
        return s.get_topic, s.get_payload or ""
    topic = s.topic or ""
    if topic.startswith("zigbee2mqtt/") and topic.count("/") == 1:
        field_name = (s.value or "state").split(".")[0]
        return f"{topic}/get", json.dumps({field_name: ""})
    leaf = topic.rsplit("/", 1)[-1]
    if re.fullmatch(r"POWER\d*", leaf):
        command = sibling(topic, "cmnd", leaf)
        return (command, "") if command else (None, None)
    if leaf in ("SENSOR", "STATE"):
        command = sibling(topic, "cmnd", "Status")
        return (command, "8" if leaf == "SENSOR" else "11") if command else (None, None)
    return None, None
