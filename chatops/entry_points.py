"""The `chatops.*` entry points installed packages declare, read from their metadata folders.

`importlib.metadata.entry_points` gives the same answer, but the hub asks on every start and
there it cost 20 ms of a 280 ms start on a slow machine (importing it pulls in the `email`
package, and it builds objects for every installed distribution), where reading the
`entry_points.txt` files themselves takes about 1 ms. The rules are importlib.metadata's: every
folder of `sys.path` in order, `*.dist-info`, `*.egg-info` and unzipped `*.egg`, a distribution
found twice counts once (the first one found wins). Zipped eggs are not read; no chatops plugin
ships as one.
tests/test_entry_points.py checks the answer against importlib.metadata's.
"""

from __future__ import annotations

import functools
import os
import re
import sys

_SECTION = re.compile(r"\[\s*([^\]]+?)\s*\]")


def entry_points(group: str) -> list[tuple[str, str]]:
    """`(name, "module:attribute")` of every entry point in `group`, in the order found (two
    packages may use one name: both are listed, as importlib.metadata lists them)."""
    return list(_installed().get(group, []))


@functools.cache
def _installed() -> dict[str, list[tuple[str, str]]]:
    """Every `chatops.` group, read once per process (what is installed does not change meanwhile)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    seen: set[str] = set()
    for folder in sys.path:
        try:
            entries = sorted(os.scandir(folder or "."), key=lambda entry: entry.name)
        except OSError:                              # a zip file, a folder that is gone
            continue
        for entry in entries:
            stem, dot, kind = entry.name.rpartition(".")
            kind = kind.lower()
            if not dot or kind not in ("dist-info", "egg-info", "egg"):
                continue
            distribution = re.sub(r"[-_.]+", "_", stem.partition("-")[0]).lower()
            if distribution in seen:
                continue
            metadata = os.path.join(entry.path, "EGG-INFO") if kind == "egg" else entry.path   # an unzipped egg
            try:
                with open(os.path.join(metadata, "entry_points.txt"), encoding="utf-8") as file:
                    text = file.read()
            except OSError:                          # no entry points, or not a folder
                continue
            seen.add(distribution)
            if "[chatops." in text:
                _read(text, groups)
    return groups


def _read(text: str, groups: dict[str, list[tuple[str, str]]]) -> None:
    """Add the `chatops.` sections of one entry_points.txt (an INI file: `[group]`, `name = value`)."""
    group: list[tuple[str, str]] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if section := _SECTION.fullmatch(line):
            name = section.group(1)
            group = groups.setdefault(name, []) if name.startswith("chatops.") else None
        elif group is not None and "=" in line:
            name, _, value = line.partition("=")
            group.append((name.strip(), value.strip()))


def unread_groups(known: tuple[str, ...]) -> list[str]:
    """What `chatops check` warns of: `chatops.` groups installed packages declare that are none
    of the `known` ones the hub reads (`chatops.command`): the plugin was silently not there."""
    import difflib

    warnings = []
    for group in sorted(set(_installed()) - set(known)):
        close = difflib.get_close_matches(group, known, n=1)
        meant = f"; did you mean {close[0]}?" if close else f"; the hub reads {' and '.join(known)}"
        warnings.append(f"an installed package declares entry points in group {group}, which the hub does not "
                        f"read{meant}")
    return warnings

