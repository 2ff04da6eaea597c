"""Files only the hub's user may read: the database (audit texts, history), snapshots of the front
door, graphs. Folders are made 0700 and files 0600 whatever the umask says, since a umask of
022 (the usual one) would let every local user read them."""

from __future__ import annotations

import os
import stat
from pathlib import Path


def private_dir(path: Path) -> None:
    """Make `path` (and missing parents) a folder only its owner can enter; an existing folder
    is left as its owner set it (`chatops check` warns when others can read it)."""
    if path.is_dir():
        return
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)                          # mkdir's mode is filtered by the umask


def private_file(path: Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (SQLite then gives its -wal and
    -shm files the same mode)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to a new file readable by its owner only."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)


def readable_by_others(path: Path) -> bool:
    """Whether group or others may read or enter `path`."""
    return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
