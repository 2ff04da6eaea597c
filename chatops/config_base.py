"""What every config section is built from: the frozen Section base and the Duration type."""

from __future__ import annotations

from typing import Annotated

from .durations import parse_duration
from .schema import BeforeValidator, Model

# Every duration key of every section: "90s", "5m", "1h30m", "7d"; a bare number other than 0 is refused.
Duration = Annotated[float, BeforeValidator(parse_duration)]


class Section(Model):
    """Base of every config section: frozen, unknown keys are errors (chatops.schema)."""


def topic_filter(topic: str) -> str:
    """`topic` if it is a filter a broker takes (a state topic may hold `+` or a final `#`),
    else ValueError saying why: paho refused it only once the hub ran, with a traceback."""
    if not topic or len(topic.encode("utf-8")) > 65535 or "\0" in topic:
        raise ValueError("an MQTT topic is 1 to 65535 bytes, with no NUL")
    levels = topic.split("/")
    for index, level in enumerate(levels):
        if "#" in level and (level != "#" or index != len(levels) - 1):
            raise ValueError("'#' stands alone as the last level (zigbee2mqtt/#), never inside one")
        if "+" in level and level != "+":
            raise ValueError("'+' stands alone as a whole level (zigbee2mqtt/+/state)")
    return topic


def publish_topic(topic: str) -> str:
    """`topic` if the hub can publish on it: no wildcard (a command goes to one device)."""
    topic_filter(topic)
    if "+" in topic or "#" in topic:
        raise ValueError("a topic the hub publishes on names one device, without + or #")
    return topic
