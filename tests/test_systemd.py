"""systemd's notify protocol against a fake notify socket (a real unix datagram socket bound here):
READY once the hub is ready, WATCHDOG pings from the event loop, STATUS lines, STOPPING."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.hub import Hub, running
from chatops.systemd import Notifier
from chatops.testing import Mosquitto, env_with, settings_for, write_demo_config

pytestmark = pytest.mark.servers


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """What systemd listens on: a unix datagram socket, and the address it gives the service."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    try:
        yield sock, str(path)
    finally:
        sock.close()


def receive(sock: socket.socket, timeout: float) -> dict[str, str]:
    """The next datagram as its KEY=VALUE fields (TimeoutError when none comes in time)."""
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


def test_a_hub_under_systemd_says_ready_pings_the_watchdog_and_says_stopping(
        tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    sock, address = notify_socket
    config = write_demo_config(tmp_path)
    env = env_with(NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")       # WatchdogSec=0.4s: a ping every 0.2 s
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        assert receive(sock, 30) == {"STATUS": "starting"}
        ready = receive(sock, 30)
        assert ready["READY"] == "1" and ready["MAINPID"] == str(proc.pid)
        assert ready["STATUS"].startswith("ready; mqtt up; web up; ")
        assert ready["STATUS"].endswith("0 alerts active")
        pings = []
        while len(pings) < 5:
            fields = receive(sock, 2)
            if fields.get("WATCHDOG") == "1":
                pings.append(time.monotonic())
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert all(0.1 < gap < 0.35 for gap in gaps), gaps     # half the watchdog period
        proc.send_signal(signal.SIGTERM)
        while "STOPPING" not in (fields := receive(sock, 10)):
            pass
        assert fields == {"STOPPING": "1", "STATUS": "stopping"}
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


async def test_a_stuck_event_loop_stops_the_pings(tmp_path: Path, mosquitto: Mosquitto,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  notify_socket: tuple[socket.socket, str]) -> None:
    """The pings come from the loop itself: while it is blocked none is sent, so systemd would
    restart the hub; they resume once it runs again."""
    sock, address = notify_socket
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    loop = asyncio.get_running_loop()

    async def next_ping() -> float:
        while b"WATCHDOG=1" not in await loop.sock_recv(sock, 4096):
            pass
        return time.monotonic()

    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with running(Hub(settings, tty=False)):
        async with asyncio.timeout(10):
            await next_ping()
            before = await next_ping()
            time.sleep(0.6)               # the hub's loop is stuck (a blocking call in a handler)
            unblocked = time.monotonic()
            while (ping := await next_ping()) < unblocked:
                pass                      # a ping queued just before the block, read late
        assert ping - before >= 0.6       # nothing was sent while stuck
        assert ping - unblocked < 0.2     # and they resume at once


async def test_an_abstract_notify_socket_is_reached(tmp_path: Path, mosquitto: Mosquitto,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"chatops-test-{secrets.token_hex(6)}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    loop = asyncio.get_running_loop()
    try:
        settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
        async with running(Hub(settings, tty=False)):
            async with asyncio.timeout(10):
                while b"READY=1" not in (data := await loop.sock_recv(sock, 4096)):
                    pass
        assert b"STATUS=ready; mqtt up" in data
    finally:
        sock.close()


def test_the_environment_decides_what_is_sent() -> None:
    assert Notifier.from_environment({}) is None
    assert Notifier.from_environment({"NOTIFY_SOCKET": "relative/path"}) is None
    notifier = Notifier.from_environment({"NOTIFY_SOCKET": "/run/systemd/notify", "WATCHDOG_USEC": "30000000"})
    assert notifier is not None and notifier.watchdog == 15.0 * 2 and notifier.address == "/run/systemd/notify"
    notifier.close()
    other = Notifier.from_environment({"NOTIFY_SOCKET": "@x", "WATCHDOG_USEC": "1000000",
                                       "WATCHDOG_PID": str(os.getpid() + 1)})
    assert other is not None and other.watchdog is None and other.address == "\0x"   # a watchdog for another process
    other.close()


def test_a_missing_notify_socket_is_logged_not_fatal(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="chatops.systemd")
    path = tmp_path / "nobody-listens"
    notifier = Notifier(str(path), None)
    assert notifier.notify("READY=1") is False
    assert "systemd notify (READY=1) failed" in caplog.text
    for _ in range(10):                 # the watchdog pings on: one warning, not one per ping
        assert notifier.notify("WATCHDOG=1") is False
    assert len([r for r in caplog.records if "failed" in r.getMessage()]) == 1, caplog.text
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind(str(path))
        assert notifier.notify("WATCHDOG=1") is True
        assert "systemd notify works again" in caplog.text
    notifier.close()


def test_a_hub_waiting_for_its_broker_extends_its_start_and_says_why(
        tmp_path: Path, notify_socket: tuple[socket.socket, str]) -> None:
    """No broker at boot: not READY (MQTT is down), but the start-up timeout is extended from the
    loop and STATUS says what is missing; READY comes once the broker is there."""
    sock, address = notify_socket
    broker = Mosquitto(tmp_path / "mosquitto")                 # not started yet
    config = write_demo_config(tmp_path, broker.url)
    env = env_with(NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
    proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        assert receive(sock, 30) == {"STATUS": "starting"}
        extended = [receive(sock, 5) for _ in range(3)]
        for fields in extended:
            assert fields["EXTEND_TIMEOUT_USEC"] == "600000"             # 3 x the 0.2 s interval
            assert fields["STATUS"].startswith("starting; mqtt down (")
            assert "READY" not in fields
        broker.start()
        while "READY" not in (fields := receive(sock, 30)):
            pass
        assert fields["STATUS"].startswith("ready; mqtt up")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
            broker.stop()


async def test_a_hub_that_never_reaches_its_broker_says_ready_after_a_while_and_why(
        tmp_path: Path, notify_socket: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A broker refusing the hub's login is never reached: the start was extended for ever, so
    `systemctl enable --now` hung with no output, and every unit after the hub with it."""
    import chatops.systemd
    monkeypatch.setattr(chatops.systemd, "READY_AT_MOST", 1.0)
    monkeypatch.setattr(chatops.systemd, "STARTING_EVERY", 0.2)
    sock, address = notify_socket
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    broker = Mosquitto(tmp_path / "mosquitto")                 # never started
    hub = Hub(settings_for(tmp_path / "data", broker.url), tty=False)
    task = asyncio.create_task(hub.run())
    try:
        fields = await asyncio.to_thread(receive, sock, 30)
        extensions = 0
        while "READY" not in fields:
            extensions += "EXTEND_TIMEOUT_USEC" in fields
            fields = await asyncio.to_thread(receive, sock, 10)
        assert extensions >= 3 and fields["STATUS"].startswith("starting; mqtt down ("), (extensions, fields)
        assert "systemd: READY after 1s without being ready (starting; mqtt down (" in caplog.text
        assert not hub.ready.is_set(), "/health still says what is missing"
    finally:
        hub.stop()
        await asyncio.wait_for(task, 10)


def test_into_the_journal_each_line_has_its_priority_and_no_date_of_its_own(tmp_path: Path) -> None:
    """Under systemd stderr is the journal, which dates each line itself and reads a `<N>`
    priority in front: without it, `journalctl -p err -u chatops` showed none of the errors."""
    script = ("import logging, sys\nfrom chatops.log_format import configure\nconfigure(logging.INFO, sys.stderr)\n"
              "logging.getLogger('chatops.store').error('storage failing')\nlogging.getLogger('chatops.hub').info('ready')\n"
              "try:\n    raise ValueError('<0>boom')\nexcept ValueError:\n    logging.getLogger('chatops.x').exception('failed')\n")
    for journal in (True, False):
        log_file = tmp_path / f"stderr-{journal}"
        with open(log_file, "wb") as stderr:
            info = os.fstat(stderr.fileno())
            env = env_with(JOURNAL_STREAM=f"{info.st_dev}:{info.st_ino}" if journal else "")
            subprocess.run([sys.executable, "-c", script], stderr=stderr, env=env, check=True, timeout=30)
        lines = log_file.read_text(encoding="utf-8").splitlines()
        if journal:
            assert lines[:2] == ["<3>ERROR chatops.store: storage failing", "<6>INFO chatops.hub: ready"], lines
            assert lines[2] == "<3>ERROR chatops.x: failed" and lines[-1] == "<3>ValueError: <0>boom", lines
            assert all(line.startswith("<3>") for line in lines[2:]), "the traceback's lines with its priority"
        else:
            assert lines[0].endswith(" ERROR chatops.store: storage failing") and lines[0][:4].isdigit(), lines
