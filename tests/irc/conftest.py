"""IRC test peers: a real ngircd on a free port, a raw asyncio IRC client, a scripted fake server.

ngircd is what the bot meets in the field (Debian's package); the fake server speaks the
IRCv3 parts ngircd lacks (SASL, account-tag, extended-join) and can fall silent (ping timeout).
The classes are importable (`from tests.irc.conftest import Ngircd, IrcClient`) by the benchmark.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chatops.testing import free_port, started, stop_process, wait_port


class Ngircd:
    """A real ngircd on a free loopback port; stop() and start() again keep the port."""

    def __init__(self, workdir: Path, penalties: bool = False, tls: bool = False) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.penalties = penalties
        self.proc: subprocess.Popen[bytes] | None = None
        self.cert = workdir / "cert.pem"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "conf.d").mkdir(exist_ok=True)
        os.chmod(workdir, 0o755)              # ngircd drops root for nobody, who must read the TLS key
        if tls:
            self._make_cert()
        self.conf = workdir / "ngircd.conf"
        self.conf.write_text(self._config())

    def _make_cert(self) -> None:
        key = self.workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(self.cert), "-days", "2", "-subj",
                        "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True)
        os.chmod(key, 0o644)

    def _config(self) -> str:
        lines = [
            "[Global]", "Name = irc.test.local", "Info = chatops test server", "Listen = 127.0.0.1",
            f"Ports = {self.port}", "MotdPhrase = test", "AdminInfo1 = chatops tests",
            "AdminInfo2 = loopback", "AdminEMail = tests@example.org",
            "[Limits]", "MaxConnectionsIP = 0", "MaxJoins = 0", "MaxNickLength = 20", "PingTimeout = 120",
            f"MaxPenaltyTime = {-1 if self.penalties else 0}",
            "[Options]", "PAM = no", "Ident = no", "DNS = no", f"IncludeDir = {self.workdir / 'conf.d'}",
        ]
        if self.tls_port:
            lines += ["[SSL]", f"CertFile = {self.cert}", f"KeyFile = {self.workdir / 'key.pem'}",
                      f"Ports = {self.tls_port}"]
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        binary = shutil.which("ngircd") or "/usr/sbin/ngircd"
        log = open(self.workdir / "ngircd.log", "ab")
        self.proc = subprocess.Popen([binary, "-n", "-f", str(self.conf)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        wait_port(self.port, proc=self.proc)
        if self.tls_port:
            wait_port(self.tls_port, proc=self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def log_text(self) -> str:
        return (self.workdir / "ngircd.log").read_text(errors="replace")


@dataclass(frozen=True)
class Line:
    """One received line, parsed; `size` is its length in bytes with the CRLF."""

    raw: str
    size: int
    tags: str | None
    source: str
    command: str
    params: tuple[str, ...]

    @property
    def nick(self) -> str:
        return self.source.split("!", 1)[0]

    @property
    def target(self) -> str:
        return self.params[0] if self.params else ""

    @property
    def text(self) -> str:
        return self.params[-1] if self.params else ""


def parse(raw: bytes) -> Line:
    text = raw.decode("utf-8", "replace")
    tags = None
    if text.startswith("@"):
        tags, _, text = text.partition(" ")
    source = ""
    if text.startswith(":"):
        source, _, text = text[1:].partition(" ")
    command, _, rest = text.partition(" ")
    params: list[str] = []
    while rest:
        if rest.startswith(":"):
            params.append(rest[1:])
            break
        word, _, rest = rest.partition(" ")
        params.append(word)
    return Line(text, len(raw) + 2, tags, source, command.upper(), tuple(params))


class LineReader:
    """Lines from a stream kept in order; `expect` waits for the next one matching a predicate."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pong: bool = False) -> None:
        self.reader, self.writer = reader, writer
        self.pong = pong
        self.lines: list[Line] = []
        self.pos = 0
        self._changed = asyncio.Event()
        self.closed = False
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            while raw := await self.reader.readline():
                line = parse(raw.rstrip(b"\r\n"))
                if line.command == "PING" and self.pong:
                    self.send(f"PONG :{line.text}")
                self.lines.append(line)
                self._changed.set()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.closed = True
            self._changed.set()

    def send(self, line: str) -> None:
        self.writer.write(line.encode("utf-8") + b"\r\n")

    async def expect(self, predicate: Callable[[Line], bool], timeout: float = 10.0, what: str = "") -> Line:
        """The next unread line matching `predicate` (lines before it are consumed)."""
        async with asyncio.timeout(timeout):
            while True:
                for index in range(self.pos, len(self.lines)):
                    if predicate(self.lines[index]):
                        self.pos = index + 1
                        return self.lines[index]
                if self.closed:
                    raise ConnectionError(f"connection closed while waiting for {what or predicate}")
                self._changed.clear()
                await self._changed.wait()

    def unread(self) -> list[Line]:
        return self.lines[self.pos:]

    async def close(self) -> None:
        self._task.cancel()
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except (ConnectionError, OSError):
            pass


class IrcClient(LineReader):
    """A raw IRC client: a person typing in a channel."""

    def __init__(self, nick: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer, pong=True)
        self.nick = nick

    @classmethod
    async def connect(cls, port: int, nick: str, user: str | None = None, host: str = "127.0.0.1") -> IrcClient:
        reader, writer = await asyncio.open_connection(host, port)
        client = cls(nick, reader, writer)
        client.send(f"NICK {nick}")
        client.send(f"USER {user or nick} 0 * :{nick} the tester")
        await client.expect(lambda l: l.command == "001", what="001")
        return client

    async def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        await self.expect(lambda l: l.command == "366", what="end of NAMES")

    def say(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :{text}")

    async def reply(self, sender: str, target: str | None = None, timeout: float = 10.0,
                    command: str = "PRIVMSG") -> Line:
        """The next `command` from `sender` (to `target` when given)."""
        return await self.expect(lambda l: l.command == command and l.nick == sender
                                 and (target is None or l.target == target), timeout,
                                 what=f"{command} from {sender}")

    async def wait_member(self, channel: str, nick: str, timeout: float = 10.0) -> None:
        """Wait until `nick` is in `channel`: a JOIN we see, or NAMES listing them."""
        self.send(f"NAMES {channel}")

        def present(line: Line) -> bool:
            if line.command == "JOIN" and line.nick == nick and line.text.lower() == channel.lower():
                return True
            return line.command == "353" and nick in [n.lstrip("~&@%+") for n in line.text.split()]

        await self.expect(present, timeout, what=f"{nick} in {channel}")


class FakeServer:
    """A scripted IRC server: each accepted connection is handed to the test to drive."""

    def __init__(self) -> None:
        self.port = 0
        self.connections: asyncio.Queue[LineReader] = asyncio.Queue()
        self.count = 0
        self.accepted: list[LineReader] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.count += 1
        conn = LineReader(reader, writer)
        self.accepted.append(conn)
        await self.connections.put(conn)

    async def accept(self, timeout: float = 10.0) -> LineReader:
        async with asyncio.timeout(timeout):
            return await self.connections.get()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for conn in self.accepted:
            await conn.close()


async def welcome(conn: LineReader, nick: str, caps: str = "", server: str = "fake.test") -> None:
    """Play a server's side of registration (CAP LS answered with `caps`) up to 001 and 005."""
    await conn.expect(lambda l: l.command == "CAP" and l.params[:1] == ("LS",), what="CAP LS")
    conn.send(f":{server} CAP * LS :{caps}")
    await conn.expect(lambda l: l.command == "USER", what="USER")
    line = await conn.expect(lambda l: l.command == "CAP" and l.params[0] in ("REQ", "END"), what="CAP REQ/END")
    if line.params[0] == "REQ":
        conn.send(f":{server} CAP * ACK :{line.text}")
        await conn.expect(lambda l: l.command == "CAP" and l.params[0] == "END", what="CAP END")
    conn.send(f":{server} 001 {nick} :Welcome {nick}!chatops@bot.host")
    conn.send(f":{server} 005 {nick} CHANTYPES=# CASEMAPPING=rfc1459 NICKLEN=30 WHOX :are supported")


@pytest.fixture
def ngircd(tmp_path: Path) -> Iterator[Ngircd]:
    with started(Ngircd(tmp_path / "ngircd")) as server:
        yield server


@pytest.fixture
async def irc_client(ngircd: Ngircd) -> AsyncIterator[Callable[..., Awaitable[IrcClient]]]:
    """Factory of connected clients on the ngircd of the test; all closed at the end."""
    clients: list[IrcClient] = []

    async def make(nick: str, user: str | None = None, port: int | None = None) -> IrcClient:
        client = await IrcClient.connect(port or ngircd.port, nick, user)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


@pytest.fixture
async def fake_server() -> AsyncIterator[FakeServer]:
    server = FakeServer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def settings_irc(port: int, **extra: object) -> dict[str, object]:
    """An [adapters.irc] section for the loopback test server, paced fast."""
    section: dict[str, object] = {
        "host": "127.0.0.1", "port": port, "tls": False, "nick": "maison", "channels": ["#maison"],
        "burst": 20, "rate": 2000.0, "backoff_min": "0.05s", "backoff_max": "0.3s", "rejoin_delay": "0.1s",
        "connect_timeout": "5s",
    }
    section.update(extra)
    return section


@pytest.fixture
def irc_section() -> Callable[..., dict[str, object]]:
    return settings_irc




class FakeHub:
    """Just enough of a Hub for the adapter alone: messages land in a queue."""

    def __init__(self, base_dir: Path, router: object | None = None) -> None:
        from types import SimpleNamespace
        self.settings = SimpleNamespace(base_dir=base_dir, hub=SimpleNamespace(name="maison", prefix="!"))
        self.messages: asyncio.Queue[object] = asyncio.Queue()
        self.router = router
        self.web = None
        self.auth = SimpleNamespace(users={})      # nobody configured: no account: pattern to warn of

    def dispatch(self, message: object) -> None:
        self.messages.put_nowait(message)

    async def message(self, timeout: float = 5.0) -> object:
        async with asyncio.timeout(timeout):
            return await self.messages.get()
