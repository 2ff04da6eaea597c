"""[devices.NAME]: what a device is, where its state is read and where it is driven.

Sensors, binary sensors, switches and cameras read one value. Lights, thermostats (climate),
covers, numbers and selects read several fields of one state payload and take several kinds of
command; their payload conventions (Zigbee2MQTT JSON, Tasmota) live in chatops.controls, and only
the limits and the odd field name are configured here.
"""

from __future__ import annotations

import difflib
import re
from enum import Enum
from typing import Literal

from .schema import Field, field_validator, model_validator

from .config_base import Duration, Section, publish_topic, topic_filter
from .i18n import NP_, pgettext
from .url_secrets import without_password


class DeviceType(str, Enum):
    SENSOR = "sensor"
    BINARY_SENSOR = "binary_sensor"
    SWITCH = "switch"
    CAMERA = "camera"
    LIGHT = "light"
    CLIMATE = "climate"
    COVER = "cover"
    NUMBER = "number"
    SELECT = "select"


# Types whose value is on or off (history records 1 and 0; `> 50` can never hold on them).
ON_OFF_TYPES = frozenset({DeviceType.SWITCH, DeviceType.BINARY_SENSOR, DeviceType.LIGHT})

TYPE_CONTEXT = "device type"
# How each type is named to people, in English (pgettext(TYPE_CONTEXT, ...): capteur, volet...):
# the config's `binary_sensor`, `climate`, `cover` are Home Assistant's terms, not what one calls
# a smoke detector, a thermostat or a shutter.
TYPE_WORDS = {DeviceType.SENSOR: NP_("device type", "sensor"),
              DeviceType.BINARY_SENSOR: NP_("device type", "detector"),
              DeviceType.SWITCH: NP_("device type", "switch"), DeviceType.CAMERA: NP_("device type", "camera"),
              DeviceType.LIGHT: NP_("device type", "light"), DeviceType.CLIMATE: NP_("device type", "thermostat"),
              DeviceType.COVER: NP_("device type", "shutter"), DeviceType.NUMBER: NP_("device type", "number"),
              DeviceType.SELECT: NP_("device type", "select")}


def type_word(kind: DeviceType) -> str:
    """`kind` as the reader names it."""
    return pgettext(TYPE_CONTEXT, TYPE_WORDS[kind])


def switched_mode(modes: list[str], state: str) -> str:
    """The mode a thermostat switched `on` or `off` takes, as Home Assistant's turn_on/turn_off:
    off, or heat (else its first mode that is not off)."""
    return "off" if state == "off" else "heat" if "heat" in modes else next((m for m in modes if m != "off"), "heat")


# The types driven by a command topic, and those that take a value (`set DEVICE VALUE`).
COMMANDED = (DeviceType.SWITCH, DeviceType.LIGHT, DeviceType.CLIMATE, DeviceType.COVER, DeviceType.NUMBER,
             DeviceType.SELECT)
SETTABLE = (DeviceType.LIGHT, DeviceType.CLIMATE, DeviceType.COVER, DeviceType.NUMBER, DeviceType.SELECT)
# Limits when neither the config nor discovery gives them: (min, max, step).
DEFAULT_LIMITS = {DeviceType.LIGHT: (0.0, 100.0, 1.0), DeviceType.CLIMATE: (5.0, 30.0, 0.5),
                  DeviceType.COVER: (0.0, 100.0, 1.0), DeviceType.NUMBER: (0.0, 100.0, 1.0)}


# The fields a type reads, each of which may come on a topic of its own (`field_topics`).
FIELD_TOPIC_NAMES = {DeviceType.LIGHT: ("state", "brightness", "color_temp"),
                     DeviceType.CLIMATE: ("current", "target", "mode"),
                     DeviceType.COVER: ("state", "position", "moving")}
# Beyond those: what else a state payload's field may be renamed (`fields`), and the commands
# that may go on topics of their own (`command_topics`), per type (chatops.controls reads them).
PAYLOAD_FIELD_NAMES = {DeviceType.CLIMATE: ("thermostat",), DeviceType.COVER: ("shutter",),
                       DeviceType.NUMBER: ("value",), DeviceType.SELECT: ("value",)}
COMMAND_TOPIC_NAMES = {DeviceType.LIGHT: ("state", "brightness"), DeviceType.CLIMATE: ("target", "mode"),
                       DeviceType.COVER: ("state", "position", "stop")}


class DeviceSettings(Section):
    type: DeviceType = Field(examples=['"sensor"'])
    topic: str | None = Field(None, alias="state_topic", examples=['"zigbee2mqtt/salon"'])
    command_topic: str | None = Field(None, examples=['"zigbee2mqtt/heater/set"'])
    value: str | None = Field(None, examples=['"temperature"'])
    unit: str = Field("", examples=['"°C"'])
    label: str | None = Field(None, examples=['"Living room"'])
    aliases: list[str] = Field(default_factory=list, examples=['["living room", "séjour"]'])
    payload_on: str = Field("ON", examples=['\'{"state": "ON"}\''])
    payload_off: str = Field("OFF", examples=['\'{"state": "OFF"}\''])
    payload_open: str = Field("OPEN", examples=['"UP"'])
    payload_close: str = Field("CLOSE", examples=['"DOWN"'])
    payload_stop: str = Field("STOP", examples=['"HALT"'])
    state_on: list[str] = Field(default_factory=lambda: ["on", "true", "1", "open", "detected"])
    get_topic: str | None = Field(None, examples=['"zigbee2mqtt/salon/get"'])
    get_payload: str | None = Field(None, examples=['\'{"temperature": ""}\''])
    stale_after: Duration = Field(900.0, gt=0, examples=['"15m"'])
    confirm_timeout: Duration = Field(5.0, gt=0, le=120, examples=['"5s"'])
    snapshot_url: str | None = Field(None, examples=['"http://192.168.1.20/snapshot.jpg"'])
    snapshot_topic: str | None = Field(None, examples=['"frigate/entree/snapshot"'])
    username: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    auth: Literal["auto", "basic", "digest"] = Field("auto", examples=['"digest"'])
    snapshot_timeout: Duration = Field(10.0, gt=0, le=120, examples=['"10s"'])
    snapshot_max_bytes: int = Field(8 * 1024 * 1024, ge=1024, examples=["8388608"])
    simulated: bool = False
    availability_topic: str | None = Field(None, examples=['"zigbee2mqtt/lampe/availability"'],
                                           description="where the device says it is online or offline")
    payload_available: str = Field("online", examples=['"Online"'],
                                   description="what it says there when it is online (any case)")
    payload_not_available: str = Field("offline", examples=['"Offline"'],
                                       description="what it says there when it dropped off")
    # Lights, thermostats, covers, numbers, selects (see docs/devices.md).
    payloads: Literal["auto", "zigbee2mqtt", "tasmota", "raw"] = Field(
        "auto", examples=['"tasmota"'],
        description="payload convention; auto: Tasmota for tele/ and stat/ topics, else Zigbee2MQTT JSON")
    min: float | None = Field(None, examples=["5"])
    max: float | None = Field(None, examples=["30"])
    step: float | None = Field(None, gt=0, examples=["0.5"])
    options: list[str] = Field(default_factory=list, examples=['["eco", "comfort", "away"]'])
    modes: list[str] = Field(default_factory=lambda: ["off", "heat", "auto"], examples=['["off", "heat"]'])
    brightness_scale: int = Field(254, ge=1, examples=["255"])
    on_command_type: Literal["last", "first", "brightness"] = Field(
        "last", examples=['"brightness"'],
        description="a light with a brightness topic: ON after the level (last), before it (first), "
                    "or the level alone (brightness: it lights up at the level, and `on` sends the full "
                    "level); Home Assistant's option")
    color_temp: bool = Field(False, description="the light has a colour temperature (set in kelvin: lampe 2700K)")
    min_kelvin: int = Field(2000, ge=1000, le=10000, examples=["2200"],
                            description="warmest colour temperature the light takes (discovery: its max_mireds)")
    max_kelvin: int = Field(6500, ge=1000, le=10000, examples=["4000"],
                            description="coldest colour temperature the light takes (discovery: its min_mireds)")
    fields: dict[str, str] = Field(default_factory=dict, examples=['{ target = "occupied_heating_setpoint" }'],
                                   description="a field of the state payload under another name")
    field_topics: dict[str, str] = Field(default_factory=dict, examples=['{ target = "thermo/target/state" }'],
                                         description="a field reported on a topic of its own: its raw value, or "
                                                     "at its `fields` path in that topic's JSON (Home Assistant "
                                                     "discovery's per-field state topics, ESPHome's)")
    command_topics: dict[str, str] = Field(default_factory=dict, examples=['{ target = "thermo/set/target" }'],
                                           description="one topic per field taking the raw value "
                                                       "(Home Assistant discovery's per-field topics)")
    command_template: str | None = Field(None, examples=['\'{"value": {value}}\''],
                                         description="number and select: the payload, {value} replaced")
    travel_timeout: Duration = Field(60.0, gt=0, le=600, examples=['"45s"'],
                                     description="cover: how long it may take to reach a position")

    @field_validator("topic", "snapshot_topic", "availability_topic")
    @classmethod
    def _filters(cls, topic: str | None) -> str | None:
        return topic_filter(topic) if topic is not None else None

    @field_validator("command_topic", "get_topic")
    @classmethod
    def _published(cls, topic: str | None) -> str | None:
        return publish_topic(topic) if topic is not None else None

    @field_validator("field_topics")
    @classmethod
    def _field_filters(cls, topics: dict[str, str]) -> dict[str, str]:
        return {name: topic_filter(topic) for name, topic in topics.items()}

    @field_validator("command_topics")
    @classmethod
    def _field_published(cls, topics: dict[str, str]) -> dict[str, str]:
        return {name: publish_topic(topic) for name, topic in topics.items()}

    @field_validator("snapshot_url")
    @classmethod
    def _no_password_in_url(cls, url: str | None) -> str | None:
        if url is not None and not re.match(r"https?://[^/\s]", url):
            # `192.168.1.20/snap.jpg` passed check, then every `snap` failed with InvalidUrlClientError.
            raise ValueError("a snapshot URL is written whole, with http:// or https://")
        return without_password(url, 'give username = "admin" and password_env = "CAMERA_PASSWORD" (or password_file)')

    @model_validator(mode="after")
    def _needs_topics(self) -> DeviceSettings:
        kind = self.type.value
        if self.type is DeviceType.CAMERA and not (self.snapshot_url or self.snapshot_topic or self.simulated):
            raise ValueError("a camera needs snapshot_url = \"http://...\", snapshot_topic = \"...\" "
                             "or simulated = true")
        if self.type is not DeviceType.CAMERA and not self.topic:
            raise ValueError(f"a {kind} needs topic = \"...\" (the MQTT state topic), "
                             "e.g. topic = \"zigbee2mqtt/salon\"")
        if self.type in COMMANDED and not (self.command_topic or self.command_topics):
            raise ValueError(f"a {kind} needs command_topic = \"...\", "
                             f"e.g. command_topic = \"zigbee2mqtt/{kind}/set\"")
        fields = FIELD_TOPIC_NAMES.get(self.type, ())
        for name in self.field_topics:
            if name not in fields:
                raise ValueError(f"field_topics: {name!r} is no field of a {kind}; "
                                 + (f"its fields: {', '.join(fields)}" if fields else f"a {kind} reads its topic only"))
        # A typo (`targt`) was taken without a word: the target never shown, commands sent under the default name.
        for key, names in (("fields", (*fields, *PAYLOAD_FIELD_NAMES.get(self.type, ()))),
                           ("command_topics", COMMAND_TOPIC_NAMES.get(self.type, ()))):
            for name in getattr(self, key):
                if names and name not in names:
                    close = difflib.get_close_matches(name, names, n=1)
                    raise ValueError(f"{key}: {name!r} is no field of a {kind}"
                                     + (f"; did you mean {close[0]!r}?" if close else "")
                                     + f" Its fields: {', '.join(names)}")
        if self.type is DeviceType.CLIMATE and not self.modes:
            raise ValueError('modes: a thermostat takes at least one mode, e.g. modes = ["off", "heat"]')
        if self.type is DeviceType.SELECT and not self.options:
            raise ValueError("a select needs options = [\"...\", ...], the values it takes")
        low, high, _ = self.limits
        if low >= high:
            raise ValueError(f"min ({low:g}) must be below max ({high:g})")
        if self.color_temp and self.min_kelvin >= self.max_kelvin:
            raise ValueError(f"min_kelvin ({self.min_kelvin}) must be below max_kelvin ({self.max_kelvin}): the "
                             "warmest, then the coldest, e.g. min_kelvin = 2200, max_kelvin = 6500")
        return self

    @property
    def limits(self) -> tuple[float, float, float]:
        """(min, max, step) from the config, else the type's defaults."""
        low, high, step = DEFAULT_LIMITS.get(self.type, (float("-inf"), float("inf"), 0.0))
        return (low if self.min is None else self.min, high if self.max is None else self.max,
                step if self.step is None else self.step)
