"""JSON from outside (HTTP bodies, WebSocket frames, MQTT payloads), read as one kind of bad input.

`json.loads` raises RecursionError, not ValueError, for arrays or objects nested deeper than
Python's recursion limit (60,000 `[` fit in any size cap): every `except ValueError` that
answers "not JSON" would let it through as a 500 and a traceback. Likewise a lone surrogate
(`"\ud800"`): valid JSON, but no text UTF-8 can write, so the database refused it deep inside
a notification (a 500 over HTTP, a message lost over MQTT).
"""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads(data)`; ValueError (as for any malformed JSON) when it is nested too deeply."""
    try:
        value = json.loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
    view = data if isinstance(data, str) else _ascii_view(data)
    if "\\ud" in view.lower() and not _writable(value):
        raise ValueError("the JSON holds a lone surrogate (\\ud800-\\udfff), which is no character; send UTF-8 text")
    return value


def _ascii_view(data: bytes | bytearray) -> str:
    return bytes(data).decode("ascii", "replace") if len(data) < 1 << 24 else ""


def _writable(value: Any) -> bool:
    """Whether every string in `value` can be written as UTF-8 (no lone surrogate)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True
