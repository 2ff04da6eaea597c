"""XMPP test peers: a real prosody (Debian package) on free loopback ports, and a slixmpp client.

`Prosody` writes a throwaway config (MUC, HTTP upload, stream management, optional TLS with a
self-signed certificate), registers accounts by writing internal_plain files, and can be
stopped and started again on the same ports. `XmppClient` is a small slixmpp client whose
received messages land in a queue the tests wait on (never a sleep). Both are importable
(`from tests.xmpp.conftest import Prosody, XmppClient`) by the benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatops.testing import free_port, started, stop_process, wait_port

DOMAIN = "localhost"
MUC = f"conference.{DOMAIN}"
OTHER_MUC = f"muc.{DOMAIN}"          # a MUC service whose name says nothing of "conference"
UPLOAD = f"upload.{DOMAIN}"
PASSWORD = "s3cret-pw"


class Prosody:
    """A real prosody on free loopback ports; stop() and start() again keep ports and accounts."""

    def __init__(self, workdir: Path, tls: bool = False, upload: bool = True) -> None:
        self.workdir = workdir
        self.tls = tls
        self.upload = upload
        self.c2s_port = free_port()
        self.http_port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.data = workdir / "data"
        self.certs = workdir / "certs"
        self.log = workdir / "prosody.log"
        self.conf = workdir / "prosody.cfg.lua"
        for folder in (self.data, self.certs):
            folder.mkdir(parents=True, exist_ok=True)
        if tls:
            self._make_cert()
        self.conf.write_text(self._config())

    @property
    def ca_file(self) -> Path:
        return self.certs / f"{DOMAIN}.crt"

    def _make_cert(self) -> None:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(self.certs / f"{DOMAIN}.key"), "-out", str(self.ca_file),
                        "-days", "2", "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}"],
                       check=True, capture_output=True)

    def _config(self) -> str:
        d = self.workdir
        modules = ["disco", "roster", "saslauth", "ping", "posix", "http", "smacks", "admin_shell", "admin_socket"]
        if self.tls:
            modules.append("tls")
        quoted = ", ".join(f'"{m}"' for m in modules)
        upload = f"""
Component "{UPLOAD}" "http_file_share"
    http_file_share_size_limit = 10*1024*1024
    http_external_url = "http://127.0.0.1:{self.http_port}/"
""" if self.upload else ""
        return f"""
run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{self.data}"
log = {{ debug = "{self.log}" }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {self.c2s_port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ {self.http_port} }}
http_interfaces = {{ "127.0.0.1" }}
https_ports = {{ }}
http_default_host = "{UPLOAD}"
admin_socket = "{d}/admin.sock"
plugin_paths = {{ }}
modules_enabled = {{ {quoted} }}
modules_disabled = {{ "s2s" }}
c2s_require_encryption = {"true" if self.tls else "false"}
allow_unencrypted_plain_auth = {"false" if self.tls else "true"}
authentication = "internal_plain"
storage = "internal"
certificates = "{self.certs}"
smacks_hibernation_time = 120

VirtualHost "{DOMAIN}"

Component "{MUC}" "muc"
    muc_room_locking = false
    restrict_room_creation = false

Component "{OTHER_MUC}" "muc"
    muc_room_locking = false
    restrict_room_creation = false
{upload}"""

    def register(self, user: str, password: str = PASSWORD) -> str:
        """Create (or reset) account user@localhost by writing its internal_plain file; returns the JID."""
        folder = self.data / DOMAIN / "accounts"
        folder.mkdir(parents=True, exist_ok=True)
        quoted = password.replace("\\", "\\\\").replace('"', '\\"')
        (folder / f"{user}.dat").write_text(f'return {{\n\t["password"] = "{quoted}";\n}};\n')
        return f"{user}@{DOMAIN}"

    def start(self) -> None:
        binary = shutil.which("prosody") or "/usr/bin/prosody"
        self.proc = subprocess.Popen([binary, "-F", "--config", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_port(self.c2s_port, proc=self.proc)
        wait_port(self.http_port, proc=self.proc)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def shell(self, command: str) -> str:
        """Run one admin-shell command (`prosodyctl shell`) against the running server."""
        result = subprocess.run(["prosodyctl", "--config", str(self.conf), "shell", command],
                                capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        return result.stdout + result.stderr


@pytest.fixture
def prosody(tmp_path: Path) -> Iterator[Prosody]:
    """A plaintext loopback prosody with MUC and HTTP upload, accounts maison, alice, bob, eve."""
    with started(Prosody(tmp_path / "prosody")) as server:
        for user in ("maison", "alice", "bob", "eve", "script"):
            server.register(user)
        yield server


class XmppClient:
    """A slixmpp client for tests: connects, joins rooms, and queues what it receives."""

    def __init__(self, jid: str, password: str = PASSWORD, port: int = 5222, ca_file: Path | None = None) -> None:
        import slixmpp

        self.port = port
        self.xmpp = slixmpp.ClientXMPP(jid, password)
        for plugin in ("xep_0030", "xep_0045", "xep_0199", "xep_0066", "xep_0009", "xep_0050", "xep_0004",
                       "xep_0203"):
            self.xmpp.register_plugin(plugin)
        if ca_file is None:
            self.xmpp.plugin["feature_mechanisms"].unencrypted_scram = True
            self.xmpp.enable_direct_tls = False
        else:
            self.xmpp.ca_certs = ca_file
            self.xmpp.enable_direct_tls = False
        self.messages: asyncio.Queue[Any] = asyncio.Queue()
        self.presences: asyncio.Queue[Any] = asyncio.Queue()
        self.room_presences: asyncio.Queue[Any] = asyncio.Queue()
        self.xmpp.add_event_handler("message", self.messages.put_nowait)
        self.xmpp.add_event_handler("presence", self.presences.put_nowait)
        self.xmpp.add_event_handler("groupchat_presence", self.room_presences.put_nowait)

    @property
    def jid(self) -> str:
        return str(self.xmpp.boundjid)

    async def connect(self, timeout: float = 10) -> None:
        started = asyncio.get_running_loop().create_future()

        def done(result: object) -> None:
            if not started.done():
                started.set_result(result)

        self.xmpp.add_event_handler("session_start", lambda _e: done(True), disposable=True)
        self.xmpp.add_event_handler("failed_all_auth", lambda _e: done(False), disposable=True)
        self.xmpp.connect("127.0.0.1", self.port)
        async with asyncio.timeout(timeout):
            ok = await started
        if not ok:
            raise RuntimeError(f"{self.xmpp.boundjid}: authentication failed")
        self.xmpp.send_presence()
        await self.xmpp.get_roster(timeout=timeout)

    async def close(self) -> None:
        if self.xmpp.transport is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(3):
                    await self.xmpp.disconnect(wait=1)
        self.xmpp.abort()
        task = getattr(self.xmpp, "_run_out_filters", None)
        if task is not None:
            task.cancel()

    async def join(self, room: str, nick: str, history: int = 0) -> None:
        from slixmpp import JID

        await self.xmpp.plugin["xep_0045"].join_muc_wait(JID(room), nick, maxstanzas=history, timeout=10)

    async def protect_room(self, room: str, password: str) -> None:
        """As the room's owner (its creator), set a password through the XEP-0045 owner form.

        Prosody 0.12 has no `muc#roomconfig_passwordprotectedroom` field (it ignores unknown
        fields): a non-empty `muc#roomconfig_roomsecret` is what protects the room. Both are sent.
        Checks that the room then advertises `muc_passwordprotected`.
        """
        muc, forms = self.xmpp.plugin["xep_0045"], self.xmpp.plugin["xep_0004"]
        offered = await muc.get_room_config(room, timeout=10)
        assert "muc#roomconfig_roomsecret" in offered.get_values(), list(offered.get_values())
        form = forms.make_form(ftype="submit")
        form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig")
        form.add_field(var="muc#roomconfig_passwordprotectedroom", ftype="boolean", value=True)
        form.add_field(var="muc#roomconfig_roomsecret", ftype="text-private", value=password)
        await muc.set_room_config(room, form, timeout=10)
        info = await self.xmpp.plugin["xep_0030"].get_info(jid=room, timeout=10)
        assert "muc_passwordprotected" in info["disco_info"]["features"], info["disco_info"]["features"]

    def say(self, to: str, text: str, mtype: str = "chat") -> None:
        self.xmpp.send_message(mto=to, mbody=text, mtype=mtype)

    async def next_message(self, predicate: Callable[[Any], bool] = lambda m: True,
                           timeout: float = 10) -> Any:
        """The next received message matching `predicate` (others are dropped)."""
        async with asyncio.timeout(timeout):
            while True:
                message = await self.messages.get()
                if message["type"] != "error" and predicate(message):
                    return message

    async def no_message(self, predicate: Callable[[Any], bool], within: float) -> None:
        """Assert that no message matching `predicate` arrives within `within` seconds."""
        with contextlib.suppress(TimeoutError):
            message = await self.next_message(predicate, timeout=within)
            raise AssertionError(f"unexpected message: {message['body']!r} from {message['from']}")


@contextlib.asynccontextmanager
async def xmpp_client(jid: str, port: int, **kwargs: Any) -> AsyncIterator[XmppClient]:
    client = XmppClient(jid, port=port, **kwargs)
    await client.connect()
    try:
        yield client
    finally:
        await client.close()


class TcpProxy:
    """A loopback TCP relay to `target` that tests can silence, cut and refuse (network drops)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: list[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self._silent = False
        self._refuse = False
        self._swallowed = asyncio.Event()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._refuse:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self._links.append((writer, up_writer))
        await asyncio.gather(self._pump(reader, up_writer, from_client=True),
                             self._pump(up_reader, writer, from_client=False), return_exceptions=True)

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, from_client: bool) -> None:
        try:
            while data := await reader.read(65536):
                if self._silent:
                    if from_client:
                        self._swallowed.set()
                    continue
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()

    def blackhole(self) -> None:
        """Keep the connections open but forward nothing (a link that went silent)."""
        self._silent = True
        self._swallowed.clear()

    async def wait_swallowed(self, timeout: float = 5) -> None:
        async with asyncio.timeout(timeout):
            await self._swallowed.wait()

    def cut(self, refuse: bool = False) -> None:
        """Break every relayed connection (both ends see a reset); `refuse` new ones until accept()."""
        self._refuse = refuse
        for client, upstream in self._links:
            client.transport.abort()
            upstream.transport.abort()
        self._links.clear()
        self._silent = False

    def accept(self) -> None:
        self._refuse = False
