"""The hub's log lines: one event, one line, whatever the people it quotes typed.

Log lines quote what came from outside: a path, a nick, a notification's recipient, a JSON
field. A line break inside one would start what looks like a line of its own (`2030-01-01 ...
WARNING chatops.access: ...`), forged by whoever sent it. The formatter escapes line breaks
and other control characters in the message (`\\n`), once, for every logger; a traceback
below a message stays as Python prints it.
"""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class OneLine(logging.Formatter):
    """A Formatter whose messages cannot hold a line break."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not record.message.isprintable():
            record.message = "".join(c if c.isprintable() else _escaped(c) for c in record.message)
        return super().formatMessage(record)


# Under systemd, stderr goes to the journal, which dates each line itself and reads its priority
# from a `<N>` in front: with the hub's own date, `journalctl -p err` missed every error.
JOURNAL_FORMAT = "<%(priority)d>%(levelname)s %(name)s: %(message)s"
_PRIORITY = {logging.CRITICAL: 2, logging.ERROR: 3, logging.WARNING: 4, logging.INFO: 6, logging.DEBUG: 7}


class JournalLine(OneLine):
    """OneLine, with the syslog priority the journal reads."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 4)
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        """Each line of a traceback with the record's priority too: the journal reads every line on
        its own (`-p err` showed the error without its traceback, and a traceback line starting
        with `<0>` would have chosen its own)."""
        text = super().format(record)
        return text.replace("\n", f"\n<{record.priority}>") if "\n" in text else text


def to_the_journal(stream: object, env: dict[str, str] | None = None) -> bool:
    """Whether `stream` is systemd's journal: `$JOURNAL_STREAM` names its device and inode."""
    import os
    wanted = (os.environ if env is None else env).get("JOURNAL_STREAM", "")
    try:
        info = os.fstat(stream.fileno())     # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False
    return bool(wanted) and wanted == f"{info.st_dev}:{info.st_ino}"


def configure(level: int, stream: object) -> None:
    """Log to `stream` at `level`, every line through OneLine (JournalLine into the journal)."""
    handler = logging.StreamHandler(stream)     # type: ignore[arg-type]
    handler.setFormatter(JournalLine(JOURNAL_FORMAT) if to_the_journal(stream) else OneLine(FORMAT))
    logging.basicConfig(level=level, handlers=[handler])


def _escaped(char: str) -> str:
    r"""`\n`, `\x1b`, `\u202e`, written out here: the `unicode_escape` codec is loaded on first use,
    which needs a free file descriptor; with the process out of them (a flood of connections),
    every log line failed with a traceback of its own, 275 MB of them in a minute."""
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000
                                else f"\\U{code:08x}")


_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
