"""The `plugin_kv` table read whole, for one plugin: a plugin (or an adapter) that keeps one
row per key reads them all at once when it starts (the SMS cap's counts, per number).

Runs on the store's thread (`db`); `Store.plugin_value` and `Store.set_plugin_value` are
the one-key forms.
"""

from __future__ import annotations

import sqlite3


def values(db: sqlite3.Connection, plugin: str) -> list[tuple[str, str]]:
    """(key, value) of every row `plugin` keeps."""
    return [(str(key), str(value)) for key, value in
            db.execute("SELECT key, value FROM plugin_kv WHERE plugin = ?", (plugin,))]
