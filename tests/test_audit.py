"""The audit trail keeps `[hub] audit_retention` of rows, and prunes what is older (real SQLite)."""

from __future__ import annotations

import time
from pathlib import Path

from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for


async def test_audit_rows_older_than_the_retention_are_pruned(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, hub={"audit_retention": "1h"}, simulator={"enabled": False},
                            alerts=[])
    async with running(Hub(settings, tty=False)) as hub:
        now = time.time()
        rows = [(now - 7200, "refused", "two hours ago", "loop:x", "switch heater on", ""),
                (now - 60, "refused", "a minute ago", "loop:x", "switch heater on", "")]
        await hub.store.call(lambda: hub.store.db.executemany(
            "INSERT INTO audit(at, kind, sender, address, text, detail) VALUES (?,?,?,?,?,?)", rows))
        await hub.audit._prune()                    # what the trail does every hour
        assert [e["sender"] for e in await hub.store.audit_entries("refused")] == ["a minute ago"]
