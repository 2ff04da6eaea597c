"""Helpers for tests of the hub and of third-party commands and adapters.

Real servers (mosquitto, ...) are started on free loopback ports; `settings_for` builds a
config from the shipped demo with overrides; `LoopbackAdapter` records what the hub sends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import time
import tomllib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .config import Settings, parse_settings
from .message import Address, Identity, Message

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "config.toml"


# Ports this process has handed out. The kernel may offer a port again as soon as the probing
# socket is closed: two servers started side by side (the benchmarks start Synapse while ngircd
# starts) then got the same one, and Synapse's readiness probe reached ngircd.
_HANDED_OUT: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, never one this process has handed out before."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def wait_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0,
              proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until `port` accepts connections. Sync fixtures call it before any loop runs; a
    coroutine calls the server's start() through asyncio.to_thread, so no loop ever waits here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def stop_process(proc: subprocess.Popen[bytes] | None, kill: bool = False) -> None:
    """Stop a server process: SIGTERM (or SIGKILL), and SIGKILL if it lingers past 5 s."""
    if proc is None:
        return
    if kill:
        proc.kill()
    else:
        proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge `overrides` into a copy of `base` (a None value deletes the key)."""
    result = dict(base)
    for key, value in overrides.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = value
    return result


def write_demo_config(folder: Path, mqtt_url: str = "embedded", web_listen: str = "127.0.0.1:0",
                      embedded_listen: str = "127.0.0.1:0", extra: str = "") -> Path:
    """The shipped config.toml, comments kept, as `folder/config.toml` with a private data dir
    and the given broker and ports (for tests and benchmarks that run `chatops run`)."""
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    for old, new in (('url = "embedded"', f'url = "{mqtt_url}"'),
                     ('embedded_listen = "127.0.0.1:1883"', f'embedded_listen = "{embedded_listen}"'),
                     ('listen = "127.0.0.1:8080"', f'listen = "{web_listen}"'),
                     ('data_dir = "data"', f'data_dir = "{folder / "data"}"')):
        assert old in text, f"config.toml no longer has {old}"
        text = text.replace(old, new, 1)
    path = folder / "config.toml"
    path.write_text(text + extra, encoding="utf-8")
    return path


def settings_for(data_dir: Path, mqtt_url: str = "embedded", **overrides: Any) -> Settings:
    """The demo config with a private data dir, free ports and `overrides` merged in."""
    if not DEMO_CONFIG.is_file():
        raise FileNotFoundError(f"{DEMO_CONFIG} is not there: chatops.testing starts from the demo config.toml "
                                "of the hub's source folder; install chatops from a checkout with pip install -e")
    raw = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    raw = merge(raw, {
        "hub": {"data_dir": str(data_dir)},
        "mqtt": {"url": mqtt_url, "embedded_listen": "127.0.0.1:0"},
        "web": {"listen": "127.0.0.1:0"},
        "adapters": {"console": {"enabled": False}},
    })
    raw = merge(raw, overrides)
    owner = raw.get("automations_defaults", {}).get("owner")
    if "automations" not in overrides and owner not in raw.get("users", {}):
        raw.pop("automations", None)        # the demo's automations act as its owner: no owner, no automations
    if raw["mqtt"].get("discovery_ack_user") not in raw.get("users", {}):
        raw["mqtt"].pop("discovery_ack_user", None)     # likewise Home Assistant's acknowledge button
    return parse_settings(raw, data_dir)


class Mosquitto:
    """A real mosquitto on a free loopback port, which tests may stop and start again."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text(
            "user root\n"                       # as root mosquitto would drop to a user that cannot write here
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\npersistence false\n"
            f"log_dest file {workdir}/mosquitto.log\n"
        )

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = subprocess.Popen([binary, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_port(self.port, proc=self.proc)

    def stop(self, kill: bool = False) -> None:
        stop_process(self.proc, kill)
        self.proc = None


class Server(Protocol):
    """A test server process: mosquitto here, ngircd, prosody and gammu-smsd in tests/."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


ServerT = TypeVar("ServerT", bound=Server)


@contextmanager
def started(server: ServerT) -> Iterator[ServerT]:
    """`server` started, and stopped however the block ends (every server fixture uses it)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def loopback_adapter(name: str = "loop") -> Any:
    """The in-memory adapter of adapters/loopback.py (enable it with `[adapters.loopback]`)."""
    from adapters.loopback import Adapter
    return Adapter(name)


def message(text: str, sender: str = "tester", network: str = "console", direct: bool = True,
            trusted: bool = True, adapter: str = "console", account: str | None = None) -> Message:
    """A Message as an adapter of `network` would build it."""
    return Message(Identity(network, sender, display=sender, trusted=trusted, account=account),
                   Address(adapter, sender if direct else "#room", direct), text, addressed=direct)


async def exec_command(hub: Any, text: str, **kwargs: Any) -> str:
    """Run one chat line through the hub's router; the replies joined by newlines."""
    return "\n".join(r.text for r in await hub.execute(message(text, **kwargs)))


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.02) -> None:
    """Wait until `predicate()` is true (for state owned by another process, e.g. a server)."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(interval)


def env_with(**values: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(values)
    return env


def tiny_png(path: Path) -> Path:
    """Write a valid 1x1 PNG at `path` (an attachment for image tests) and return the path."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))
    return path
