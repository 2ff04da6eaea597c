"""An in-memory network for tests, benchmarks and third-party command authors.

Enable it with `[adapters.loopback] name = "loop"`; alerts addressed `loop:alice` land in its
`sent` list and its queue. A test can take it down (`health.down(...)`): `send` then raises,
as a real network does, so the alert outbox keeps the delivery for later.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from chatops.adapter import AdapterBase, Capabilities
from chatops.config import AdapterSettings
from chatops.health import Health
from chatops.message import Address, Reply
from chatops.networks import Network

if TYPE_CHECKING:
    from chatops.hub import Hub


class Settings(AdapterSettings):
    """[adapters.loopback]: nothing to configure but its name."""


NETWORK = Network(name="loopback", adapter="adapters.loopback:Adapter", settings="adapters.loopback:Settings",
                  example="loop:alice", identities="ids on the in-memory test network (`chatops.testing`)")


class Adapter(AdapterBase):
    network = "loopback"
    capabilities = Capabilities(images=True)

    def __init__(self, name: str = "loop", settings: Settings | None = None) -> None:
        self.name = name
        self.health = Health()
        self.sent: list[tuple[Address, Reply]] = []
        self.queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        self.arrived = asyncio.Event()

    async def run(self, hub: Hub) -> None:
        self.health.up()
        await asyncio.Event().wait()

    async def send(self, address: Address, reply: Reply) -> None:
        if not self.health.connected:
            raise ConnectionError(f"{self.name} is down: {self.health.detail}")
        self.sent.append((address, reply))
        self.queue.put_nowait((address.target, reply.text))
        self.arrived.set()

    async def next(self, timeout: float = 5.0) -> tuple[str, str]:
        """The next (target, text) sent, waiting up to `timeout` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)
