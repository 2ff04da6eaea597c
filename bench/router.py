"""Router alone, in-process, one core: commands per second through a loopback adapter.

Floor: the same loop doing only the unavoidable part (dict lookup of the command and an
awaited coroutine returning a constant), measured in the same run. Run:
`python -m bench.router [--quick]`.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.common import arguments, machine, table
from chatops.home import Reading
from chatops.hub import Hub
from chatops.message import Address, Identity, Message
from chatops.testing import settings_for


async def floor(count: int) -> float:
    async def handler() -> str:
        return "salon: 20.5 °C"
    handlers = {"temp": handler}
    start = time.perf_counter()
    for _ in range(count):
        words = "temp salon".split()
        await handlers[words[0]]()
    return count / (time.perf_counter() - start)


async def through_router(hub: Hub, count: int, text: str, sender: Identity) -> float:
    message = Message(sender, Address("loop", "#maison", False), text)
    start = time.perf_counter()
    for _ in range(count):
        await hub.router.replies(message)
    return count / (time.perf_counter() - start)


async def main(quick: bool) -> None:
    count = 2000 if quick else 50000
    with tempfile.TemporaryDirectory() as tmp:
        settings = settings_for(Path(tmp), simulator={"enabled": False}, hub={"rate_limit": 10**9})
        hub = Hub(settings, tty=False)
        hub.home.devices["salon"].reading = Reading(20.5, time.time())
        owner = Identity("console", "owner")
        stranger = Identity("irc", "eve!e@example.org")
        base = await floor(count)
        rows = []
        for label, text, who in [("!temp salon (owner)", "!temp salon", owner),
                                 ("!temp salon (unknown sender)", "!temp salon", stranger),
                                 ("!température séjour (alias, accents)", "!température séjour", owner),
                                 ("!tmep (unknown, did-you-mean)", "!tmep", owner)]:
            rate = await through_router(hub, count, text, who)
            rows.append([label, rate, base, f"{rate / base:.2f}"])
    print(f"Router alone, {count} commands each, one core ({machine()})\n")
    print(table(["command", "commands/s", "floor commands/s", "ratio to floor"], rows))


if __name__ == "__main__":
    asyncio.run(main(arguments(__doc__ or "").quick))
