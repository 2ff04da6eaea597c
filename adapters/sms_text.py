"""SMS text on the air: GSM-7 or UCS-2, split into linked parts, and linked parts joined back.

Pure functions over python-gammu's message dicts (no modem, no thread): both backends of
the SMS adapter use them, and the unit tests call them directly.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import gammu

# GSM 03.38: the default alphabet and its extension table (extension characters take two septets,
# gammu counts them). Anything else forces UCS-2 (70/67 characters per part instead of 160/153).
GSM7_BASIC = ("@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
              "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
GSM7_EXTENSION = "^{}\\[~]|€\f"
_GSM7 = frozenset(GSM7_BASIC + GSM7_EXTENSION)
CONCATENATED = ("ConcatenatedMessages", "ConcatenatedMessages16bit")
ELLIPSIS = "…"

SmsDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Incoming:
    """One received message, its parts already joined.

    `key` names it across restarts (the processed-ids table); `handle` is what its backend
    needs to delete it (SIM locations, inbox files).
    """

    number: str
    text: str
    key: str
    handle: tuple[Any, ...]
    parts: int = 1
    sent_at: float | None = None        # the SMS centre's stamp (unix time), when known
    binary: bool = False                # no text (an operator's MMS notice, a WAP push): never a command


def fits_gsm7(text: str) -> bool:
    """True when `text` can travel in the GSM default alphabet (160/153 characters per part)."""
    return all(c in _GSM7 for c in text)


class Encoder:
    """Splits outgoing text into linked parts with a fresh concatenation reference each time.

    libgammu hands out the same 8-bit reference for every message of a process; two long
    replies in a row would then be glued together by the phone, so each message gets its own.
    """

    def __init__(self, reference: int | None = None) -> None:
        self._reference = random.randrange(256) if reference is None else reference % 256

    def encode(self, text: str) -> list[SmsDict]:
        """Parts of `text` as gammu.EncodeSMS builds them (ConcatenatedTextLong: 153/160 or 67/70)."""
        parts: list[SmsDict] = gammu.EncodeSMS({
            "Class": -1, "Unicode": not fits_gsm7(text),
            "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": text}],
        })
        if len(parts) > 1:
            self._reference = (self._reference + 1) % 256
            for part in parts:
                udh = part["UDH"]
                if udh.get("Type") == "ConcatenatedMessages" and len(udh.get("Text", b"")) >= 6:
                    header = bytearray(udh["Text"])
                    header[3] = self._reference
                    udh["Text"] = bytes(header)
                    udh["ID8bit"] = self._reference
        return parts

    def count(self, text: str) -> int:
        """How many SMS `text` costs."""
        return len(gammu.EncodeSMS({"Class": -1, "Unicode": not fits_gsm7(text),
                                    "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": text}]}))

    def fit(self, text: str, max_parts: int) -> str:
        """`text`, shortened with an ellipsis until it fits in `max_parts` SMS."""
        parts = self.count(text)
        while parts > max_parts and len(text) > 1:
            keep = max(1, min(len(text) - 2, int(len(text) * max_parts / parts) - 2))
            text = text[:keep].rstrip() + ELLIPSIS
            parts = self.count(text)
        return text


def link(messages: list[list[SmsDict]]) -> list[list[SmsDict]]:
    """Group the parts of concatenated messages (UDH) the way gammu does."""
    if not messages:
        return []
    try:
        linked = [list(group) for group in gammu.LinkSMS(messages)]
    except (gammu.GSMError, ValueError, TypeError):   # a dict gammu cannot read back: link by UDH alone
        linked = [list(message) for message in messages]
    # LinkSMS stops at a missing part; the parts after the gap belong to the same message.
    groups: dict[tuple[Any, ...], list[SmsDict]] = {}
    for index, group in enumerate(linked):
        first = group[0]
        udh = first.get("UDH") or {}
        key = (first.get("Number"), udh.get("ID8bit"), udh.get("ID16bit"), udh.get("AllParts")) \
            if is_concatenated(first) else (index,)
        groups.setdefault(key, []).extend(group)
    return [sorted(g, key=lambda p: (p.get("UDH") or {}).get("PartNumber", 0)) for g in groups.values()]


def is_complete(group: list[SmsDict]) -> bool:
    """True unless `group` is a concatenated message still missing parts."""
    udh = group[0].get("UDH") or {}
    if udh.get("Type") not in CONCATENATED:
        return True
    return len({(p.get("UDH") or {}).get("PartNumber") for p in group}) >= int(udh.get("AllParts") or 1)


def is_binary(group: list[SmsDict]) -> bool:
    """Whether a message carries data, not text (8-bit: an MMS notice; gammu gives its Text as bytes)."""
    return any(not isinstance(part.get("Text") or "", str) for part in group)


def stamped(sent_at: Any) -> float | None:
    """The SMS centre's time of a message as unix time (gammu's naive datetime is local time)."""
    try:
        return sent_at.timestamp() if isinstance(sent_at, datetime) else None
    except (OverflowError, OSError, ValueError):
        return None


def join(group: list[SmsDict]) -> str:
    """Text of one linked message: gammu.DecodeSMS, else the parts' texts in part order.

    A message still missing parts (given up waiting) shows each gap as an ellipsis.
    """
    if is_binary(group):
        return ""
    if not is_complete(group):
        by_number = {(p.get("UDH") or {}).get("PartNumber"): p.get("Text") or "" for p in group}
        total = int((group[0].get("UDH") or {}).get("AllParts") or len(group))
        return clean("".join(by_number.get(n, ELLIPSIS) for n in range(1, total + 1)))
    try:
        decoded = gammu.DecodeSMS(group) if len(group) > 1 or is_concatenated(group[0]) else None
    except (gammu.GSMError, ValueError, TypeError):
        decoded = None
    if decoded:
        buffers = [e.get("Buffer") for e in decoded.get("Entries", []) if isinstance(e.get("Buffer"), str)]
        if buffers:
            return clean("".join(buffers))
    ordered = sorted(group, key=lambda p: (p.get("UDH") or {}).get("PartNumber", 0))
    return clean("".join(p.get("Text") or "" for p in ordered))


def is_concatenated(part: SmsDict) -> bool:
    return (part.get("UDH") or {}).get("Type") in CONCATENATED


def clean(text: str) -> str:
    """Text up to the first NUL (gammu-smsd 1.42 pads UCS-2 inbox files with garbage after one)."""
    return text.split("\x00", 1)[0]


def message_key(number: str, sent_at: datetime | str | None, text: str, extra: str = "") -> str:
    """A stable id of one received message: same sender, SMSC time and text give the same key."""
    when = sent_at.isoformat() if isinstance(sent_at, datetime) else str(sent_at or "")
    digest = hashlib.sha256("\x1f".join((number, when, text, extra)).encode("utf-8")).hexdigest()
    return digest[:32]
