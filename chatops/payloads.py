"""Reading one value out of an MQTT payload: a field of a JSON document (a dotted path), a bare
value on a topic of its own, or an on/off word. What does not hold one is a PayloadError,
which the caller logs while the last good reading stays."""

from __future__ import annotations

from typing import Any

from . import json_input
from .controls import PayloadError

MAX_JSON_DEPTH = 32     # deeper than any device's payload: what is deeper is refused unparsed


def as_bool(raw: Any, state_on: list[str]) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().casefold()
    if text in [s.casefold() for s in state_on]:
        return True
    if text in ("off", "false", "0", "closed", "clear", "no", "none"):
        return False
    raise PayloadError(f"{str(raw)[:40]!r} is neither on nor off")


def bare(text: str) -> Any:
    """A value sent bare on a topic of its own: a number as a number, anything else as the text."""
    try:
        return json_input.loads(text) if text else ""
    except ValueError:
        return text


def extract(payload: bytes, path: str | None) -> Any:
    """The value at dotted `path` in a JSON payload, or the raw text when path is None."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError(f"{len(payload)}-byte binary payload is not text") from None
    if path is None:
        return text.strip()
    # depth <= number of openers: the per-character scan runs only for payloads that might be deep
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _nesting(text) > MAX_JSON_DEPTH:
        raise PayloadError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    try:
        data = json_input.loads(text)
    except ValueError:
        raise PayloadError(f"payload is not JSON: {text[:40]!r}") from None
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            raise PayloadError(f"no field {path!r} in the payload")
    if isinstance(data, (dict, list)) or data is None:
        raise PayloadError(f"field {path!r} holds no single value")
    return data


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest
