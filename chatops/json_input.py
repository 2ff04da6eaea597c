"""JSON from outside (HTTP bodies, WebSocket frames, MQTT payloads), read as one kind of bad input.

`json.loads` raises RecursionError, not ValueError, for arrays or objects nested deeper than
Python's recursion limit (60,000 `[` fit in any size cap): every `except ValueError` that
answers "not JSON" would let it through as a 500 and a traceback.
"""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes | bytearray) -> Any:
    """`json.loads(data)`; ValueError (as for any malformed JSON) when it is nested too deeply."""
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
