"""The console: type commands on a terminal, or pipe them in (`printf '!temp salon\n' | chatops run --console`).

With piped input every line is answered in order, then the hub stops at end of input.
"""

from __future__ import annotations

import asyncio
import getpass
import logging
import os
import selectors
import stat
import sys
from typing import TYPE_CHECKING, Literal, TextIO

from chatops.schema import Field

from chatops.adapter import AdapterBase, Capabilities
from chatops.config import AdapterSettings
from chatops.health import Health
from chatops.message import Address, Identity, Message, Reply

if TYPE_CHECKING:
    from chatops.hub import Hub

log = logging.getLogger(__name__)

NOT_READY_GRACE = 5.0      # seconds the console waits for the hub to be ready before answering anyway
EOF_GRACE = 5.0            # seconds a piped console waits at end of input for the alerts it caused


class Settings(AdapterSettings):
    """[adapters.console]: enabled = "auto" starts it when stdin is a terminal."""

    enabled: bool | Literal["auto"] = Field("auto",
                                description='`"auto"`: on when standard input is a terminal; '
                                            '`chatops run --console` forces it')
    stop_at_eof: bool = Field(True, description="piped input: stop the hub once it ends")


class Adapter(AdapterBase):
    network = "console"
    capabilities = Capabilities(max_text=100000, images=True)     # a picture is shown as its file's path

    def __init__(self, name: str, settings: Settings, stdin: TextIO | None = None,
                 stdout: TextIO | None = None) -> None:
        self.name = name
        self.settings = settings
        self.health = Health()
        self._stdin = stdin or sys.stdin
        self._stdout = stdout or sys.stdout
        self._user = getpass.getuser()

    async def run(self, hub: Hub) -> None:
        self.health.up("reading standard input")
        if not await hub.wait_ready(NOT_READY_GRACE):
            # A broker that is down or refuses the login: answer anyway (what needs MQTT says so,
            # as the web chat does) instead of a terminal that ignores every line and Ctrl-D.
            mqtt = hub.mqtt.health
            why = "" if mqtt.connected else f": MQTT is down ({hub.mqtt.why_down()})"
            print(f"{hub.settings.hub.name} is not ready after {NOT_READY_GRACE:g}s{why}; answering anyway, and "
                  "commands that need it will say so", file=sys.stderr, flush=True)
        piped = not self._stdin.isatty()
        if not piped:
            # At a terminal the log is quiet (WARNING): without this line nobody can tell the hub is up.
            web = getattr(hub, "web", None)
            page = f"; dashboard and web chat at {web.links.base_url.rstrip('/')}/" if web is not None and web.port else ""
            self._stdout.write(f"{hub.settings.hub.name} is ready: type help (Ctrl-D stops it){page}\n")
            self._stdout.flush()
        async for line in self._lines():
            text = line.strip()
            if not text:
                continue
            message = Message(Identity("console", self._user, display=self._user),
                              Address(self.name, "console", True), text, addressed=True)
            for reply in await hub.execute(message):
                await self.send(message.address, reply)
            if piped:
                await self._show_alerts_caused(hub)
        if self.settings.stop_at_eof:
            await self._let_alerts_arrive(hub)
            self.health.down("end of input")
            hub.stop()
        else:
            self.health.down("end of input")

    async def _let_alerts_arrive(self, hub: Hub) -> None:
        """Print the alerts the piped commands raised before stopping (`simulate smoke on` piped
        in must show the alert), waiting at most EOF_GRACE seconds for them."""
        try:
            async with asyncio.timeout(EOF_GRACE):
                await hub.alerts.settled()
                await hub.alerts.outbox.settled(self.name)
        except TimeoutError:
            log.warning("console: stopping with alerts still on their way (waited %g s)", EOF_GRACE)

    async def _show_alerts_caused(self, hub: Hub) -> None:
        """Piped in, a line runs once the alerts the previous one raised are shown and recorded as
        shown, so a script's `alerts` after `simulate smoke on` lists the console as told."""
        try:
            async with asyncio.timeout(EOF_GRACE):
                await hub.alerts.settled()
                await hub.alerts.outbox.settled(self.name)
        except TimeoutError:
            log.debug("console: alerts still on their way after %g s; reading on", EOF_GRACE)

    async def _lines(self):  # type: ignore[no-untyped-def]
        """Lines of stdin without blocking the loop (a pipe or terminal is read asynchronously)."""
        fd = self._stdin.fileno()
        if not _watchable(fd):
            # A file, or /dev/null (`</dev/null` from cron, nohup, ssh): the loop cannot watch
            # those (epoll refuses them), and they never block: read in a thread, at once.
            for line in (await asyncio.to_thread(self._stdin.read)).splitlines():
                yield line
            return
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader),
                                                    os.fdopen(os.dup(fd), "rb", buffering=0))
        try:
            while line := await reader.readline():
                yield line.decode("utf-8", "replace")
        finally:
            transport.close()

    async def send(self, address: Address, reply: Reply) -> None:
        # A notice's later lines indented under its `! `: a notification's text holding a line
        # break (`\n[CRITICAL] forged`) read as a second notice of its own.
        lines = ["! " + reply.text.replace("\n", "\n  ") if reply.notice else reply.text]
        lines += [f"  [image] {a.path}" + (f" {a.url}" if a.url else "") for a in reply.attachments]
        self._stdout.write("\n".join(lines) + "\n")
        self._stdout.flush()


def _watchable(fd: int) -> bool:
    """Whether the event loop can watch `fd` for reading (a pipe, a terminal, a socket); a
    regular file or /dev/null it cannot: asyncio would log the refusal and wait for ever."""
    if stat.S_ISREG(os.fstat(fd).st_mode):
        return False
    try:
        with selectors.DefaultSelector() as probe:
            probe.register(fd, selectors.EVENT_READ)
    except (PermissionError, ValueError):
        return False
    return True
