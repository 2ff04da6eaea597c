"""A stranger floods #maison with 2,000 lines while alice, a configured user, keeps asking: her
answers come within a second throughout, the stranger gets a few refusals, one "slow down" and
then silence, and the database barely grows (refusals are folded into one audit row a minute).
Real ngircd and mosquitto; the IRC adapter paced as shipped (5 lines at once, then 1 a second)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest

from chatops.testing import Mosquitto
from tests.irc.conftest import Ngircd, settings_irc
from tests.irc.test_irc import hub_with_irc, in_channel

pytestmark = pytest.mark.servers
READING = re.compile(r"salon: -?\d+(\.\d+)? °C")
FLOOD = 2000


async def database_bytes(hub: Any) -> int:
    """Bytes of the database with its write-ahead log folded in."""
    await hub.store.call(lambda: hub.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)"))
    return sum(p.stat().st_size for p in hub.settings.data_dir.glob("chatops.db*"))


async def test_a_strangers_flood_never_delays_a_configured_user(
        tmp_path: Path, mosquitto: Mosquitto, ngircd: Ngircd, irc_client: Any) -> None:
    alice = await in_channel(tmp_path, "alice", irc_client)
    stranger = await in_channel(tmp_path, "mallory", irc_client)
    users = {"alice": {"roles": ["family"], "irc": ["alice!*@127.0.0.1"]}}
    section = settings_irc(ngircd.port, burst=5, rate=1.0)
    # History off: the simulated house's readings would grow the database whatever the flood does.
    async with hub_with_irc(tmp_path, mosquitto, section, users=users, history={"enabled": False}) as (hub, _irc):
        await alice.wait_member("#maison", "maison")
        await hub.audit.flush()
        before = await database_bytes(hub)
        waits = []
        for chunk in range(5):
            for index in range(FLOOD // 5):
                stranger.say("#maison", f"!switch heater on {chunk}-{index}")
            # alice speaks now and then, not faster than the shipped pace of 1 line a second
            # (which would keep her waiting for her own earlier lines, flood or not).
            await asyncio.sleep(1.5)
            asked = time.monotonic()
            alice.say("#maison", "!temp salon")
            answer = await alice.expect(lambda l: l.nick == "maison" and bool(READING.fullmatch(l.text)),
                                        timeout=5.0, what="alice's reading")
            waits.append(time.monotonic() - asked)
            assert answer.target == "#maison"
        assert max(waits) < 1.0, waits
        await hub.audit.flush(everything=True)
        grown = await database_bytes(hub) - before
        assert grown < 100_000, f"the database grew by {grown} bytes"
        rows = [(e["kind"], e["text"]) for e in await hub.store.audit_entries()
                if e["sender"].startswith("irc:mallory")]
        kinds = [kind for kind, _ in rows]
        # One row per refusal while within the rate limit (the bucket refills a little during the
        # test), then the rest folded: one "rate-limited" row and one "and N more" row a minute.
        assert kinds.count("refused") <= hub.settings.hub.rate_limit + 10, rows
        assert 1 <= kinds.count("rate-limited") <= 3, rows
        assert any(text.startswith("(and ") for kind, text in rows if kind == "rate-limited"), rows
        # What the stranger is still to be told waits behind everyone else's lines, at the
        # shipped pace: a few refusals and one "slow down", not 2,000 answers.
        out = _irc._link.out
        waiting = [line.split(" :", 1)[1] for line, _, _ in out.low]
        assert waiting.count("Too many commands; wait a minute and try again.") <= 1
        assert len(waiting) <= hub.settings.hub.rate_limit + 10     # the bucket refills a little meanwhile
