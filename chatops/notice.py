"""What a notification is, as a script, a webhook or an MQTT payload gives it, and how its JSON is
checked: every refusal says why, with the HTTP status that fits (chatops.notify_web sends it)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

MAX_TEXT = 4000                     # characters of a notification's text
MAX_RECIPIENTS = 20                 # entries of its "to": one request is not a mailing list
MAX_IMAGE = 5 * 1024 * 1024         # bytes of a picture, decoded or fetched
MAX_BODY = MAX_IMAGE * 4 // 3 + 64 * 1024   # a request: the picture in base64 plus the rest
MAX_URL = 2000                      # characters of a picture's URL (browsers' and servers' usual limit)
SEVERITIES = ("info", "warning", "critical")
IMAGE_TYPES = {b"\xff\xd8\xff": ".jpg", b"\x89PNG\r\n\x1a\n": ".png", b"GIF8": ".gif"}


def is_web_url(url: object) -> bool:
    """Whether a picture may be fetched from `url`: http or https, nothing else (file:, ftp:...)."""
    return isinstance(url, str) and url.startswith(("http://", "https://"))


class Refused(Exception):
    """A notification that cannot be taken, with the HTTP status and the text that explains why."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status, self.error, self.extra = status, error, extra

    def as_json(self) -> dict[str, Any]:
        return {"error": self.error, **self.extra}


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification as received, checked but not yet resolved to addresses."""

    to: tuple[str, ...]
    text: str
    severity: str = "info"
    image: bytes | None = None
    image_url: str | None = None
    ack: bool = False


def parse_notice(data: Any, default_to: list[str]) -> Notice:
    """A Notice from a decoded JSON body; Refused(400/413) says what is wrong with it."""
    if not isinstance(data, dict):
        raise Refused(400, 'send a JSON object like {"to": ["owner"], "text": "Washing machine done"}')
    unknown = set(data) - {"to", "text", "severity", "image", "image_url", "ack"}
    if unknown:
        raise Refused(400, f"unknown field(s) {', '.join(sorted(unknown))}; "
                           "known: to, text, severity, image, image_url, ack")
    to = data.get("to") or default_to       # absent, null or []: the configured default
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or not all(isinstance(t, str) and t.strip() for t in to):
        raise Refused(400, '"to" must be a list of user names or addresses, e.g. ["owner"] (a user) or ["NETWORK:ADDRESS"]')
    if not to:
        raise Refused(400, 'no recipient: give "to", or set [notify] default_to (no user is an admin to fall back on)')
    if len(set(to)) > MAX_RECIPIENTS:
        # Each recipient is a delivery row and a message (an SMS costs money): a request that
        # could name thousands would cost one unit of its token's rate for all of them.
        raise Refused(413, f'"to" names {len(set(to))} recipients; at most {MAX_RECIPIENTS} are taken in one '
                           'notification (name a room, or a user: it reaches every network they are on)')
    text = data.get("text")
    if not isinstance(text, str) or not text.strip():
        raise Refused(400, '"text" must be a non-empty string')
    if len(text) > MAX_TEXT:
        raise Refused(413, f'"text" has {len(text)} characters; at most {MAX_TEXT} are taken')
    severity = data.get("severity", "info")
    if severity not in SEVERITIES:
        raise Refused(400, f'"severity" must be one of {", ".join(SEVERITIES)}')
    ack = data.get("ack", False)
    if not isinstance(ack, bool):
        raise Refused(400, '"ack" must be true or false')
    image = None
    if data.get("image") is not None:
        if data.get("image_url") is not None:
            raise Refused(400, 'give "image" or "image_url", not both')
        if not isinstance(data["image"], str):
            raise Refused(400, '"image" must be the picture in base64')
        # `base64 file` wraps its lines, and a browser's FileReader gives a data: URI: both are
        # the picture in base64 all the same.
        encoded = "".join(data["image"].split())
        if encoded.startswith("data:") and ";base64," in encoded:
            encoded = encoded.partition(";base64,")[2]
        if len(encoded) > MAX_IMAGE * 4 // 3 + 4:
            raise Refused(413, f'"image" is larger than {MAX_IMAGE // 1024 // 1024} MB')
        try:
            image = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Refused(400, '"image" is not valid base64 (the picture\'s bytes in base64, or a data: URI)') from None
        image_kind(image)
    image_url = data.get("image_url")
    if image_url is not None and not is_web_url(image_url):
        raise Refused(400, '"image_url" must be an http:// or https:// URL')
    if image_url is not None and len(image_url) > MAX_URL:
        raise Refused(413, f'"image_url" has {len(image_url)} characters; at most {MAX_URL} are taken')
    return Notice(tuple(t.strip() for t in to), text.strip(), severity, image, image_url, ack)


def image_kind(data: bytes) -> str:
    """The file suffix of a picture (JPEG, PNG, GIF), or Refused(415)."""
    for magic, suffix in IMAGE_TYPES.items():
        if data.startswith(magic):
            return suffix
    raise Refused(415, "the picture is not a JPEG, PNG or GIF")
