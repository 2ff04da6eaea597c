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


async def test_a_flood_of_refusals_is_one_row_a_minute_with_a_count(tmp_path: Path) -> None:
    """What the XMPP adapter does with a stranger's presence subscriptions and the Matrix adapter
    with invitations (`record(fold=True)`): 30 in a minute are one row, then one with the count;
    the next minute starts a row of its own."""
    from chatops.audit import AuditTrail
    from chatops.store import Store

    store = Store(tmp_path / "chatops.db")
    await store.open()
    now = [1000.0]
    try:
        trail = AuditTrail(store, retention=86400.0, monotonic=lambda: now[0])
        for _ in range(30):
            trail.record("refused", "xmpp:eve@example.org", "xmpp:eve@example.org", "presence subscription",
                         "not a configured user", fold=True)
        now[0] += 61
        trail.record("refused", "xmpp:eve@example.org", "xmpp:eve@example.org", "presence subscription",
                     "not a configured user", fold=True)
        await trail.flush(everything=True)
        texts = [e["text"] for e in await store.audit_entries("refused")]
        assert sorted(texts) == sorted(["presence subscription", "(and 29 more like this within a minute)",
                                        "presence subscription"]), texts
    finally:
        await store.close()
