"""What every config section is built from: the frozen Section base and the Duration type."""

from __future__ import annotations

import ipaddress
import re
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


def split_listen(listen: str) -> tuple[str, int]:
    """`HOST:PORT` (HOST may be `[::1]`) as (host without brackets, port)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def port_too_high(address: str) -> bool:
    """Whether the port at the end of `HOST:PORT` (or a URL) is past 65535: five digits pass the
    patterns, and the socket call then fails with a traceback or a misleading "refused"."""
    port = re.search(r":(\d+)/?$", address)
    return port is not None and int(port.group(1)) > 65535


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only ever means this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
