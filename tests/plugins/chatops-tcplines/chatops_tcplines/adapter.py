"""A network of text lines over TCP: each client says `HELLO NAME`, then every line it sends is
a message to the hub (a direct chat: no prefix needed), and every answer comes back as lines."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from chatops.schema import Field

from chatops.adapter import AdapterBase, Capabilities
from chatops.config import AdapterSettings
from chatops.message import Address, Identity, Message, Reply

if TYPE_CHECKING:
    from chatops.hub import Hub


class Settings(AdapterSettings):
    """[adapters.tcplines]"""

    listen: str = Field("127.0.0.1:0", description="HOST:PORT to listen on (port 0: any free one)")


class Adapter(AdapterBase):
    network = "tcplines"
    capabilities = Capabilities(max_text=2000, images=False)

    def __init__(self, name: str, settings: Settings) -> None:
        super().__init__(name, settings)              # self.name, self.settings, self.health
        self.settings: Settings = settings
        self.port = 0
        self.clients: dict[str, asyncio.StreamWriter] = {}
        self._hub: Hub | None = None

    async def run(self, hub: Hub) -> None:
        self._hub = hub
        host, _, port = self.settings.listen.rpartition(":")
        server = await asyncio.start_server(self._serve, host, int(port))
        self.port = server.sockets[0].getsockname()[1]
        self.health.up(f"listening on {host}:{self.port}")
        async with server:
            await server.serve_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        name = ""
        try:
            hello = (await reader.readline()).decode("utf-8", "replace").split()
            if len(hello) != 2 or hello[0] != "HELLO":
                writer.write(b"say HELLO NAME first\n")
                return
            name = hello[1]
            self.clients[name] = writer
            while line := await reader.readline():
                text = line.decode("utf-8", "replace").strip()
                if text and self._hub is not None:
                    self._hub.dispatch(Message(Identity(self.network, name, display=name),
                                               Address(self.name, name, True), text, addressed=True))
        except ConnectionError:             # the client went away (a reset): nothing to report
            pass
        finally:
            if self.clients.get(name) is writer:
                del self.clients[name]
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def send(self, address: Address, reply: Reply) -> None:
        writer = self.clients.get(address.target)
        if writer is None:
            raise ConnectionError(f"{address.target} is not connected to {self.name}")
        for line in reply.text.splitlines() or [""]:
            writer.write(line.encode("utf-8") + b"\n")
        await writer.drain()
