"""Pictures end to end: camera snapshots (HTTP with basic and digest auth, MQTT, simulated),
expiring links, history that survives a restart, roll-ups, and PNG graphs."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import datetime
import hashlib
import io
import json
import os
import re
import secrets
import struct
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import aiomqtt
import pytest
from aiohttp import web
from PIL import Image

from chatops.cameras import Cameras, ImageFolder, SnapshotError, sniff
from chatops.config import HistorySettings, MqttSettings
from chatops.graph import Series, render
from chatops.history import History
from chatops.hub import Hub, running
from chatops.message import Reply
from chatops.mqtt import MqttLink
from chatops.store import Store
from chatops.testing import Mosquitto, free_port, message, settings_for, write_demo_config

USER, PASSWORD = "viewer", "pa55-w0rd"


def jpeg(width: int = 64, height: int = 48, noise: bool = False) -> bytes:
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3)) if noise \
        else Image.new("RGB", (width, height), (200, 120, 40))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class CameraServer:
    base: str
    image: bytes
    basic_sent_to_digest: list[str]
    release_late: asyncio.Event          # /late answers once the test sets it


@pytest.fixture
async def camera_server() -> AsyncIterator[CameraServer]:
    """A local HTTP 'camera': /basic (basic auth), /digest (digest auth), /login (HTML), /slow, /big,
    /late (answers when the test says)."""
    image = jpeg()
    big = jpeg(400, 300, noise=True)
    never = asyncio.Event()
    release_late = asyncio.Event()
    nonce = secrets.token_hex(8)
    basic_sent_to_digest: list[str] = []
    expected_basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

    async def basic(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != expected_basic:
            return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="camera"'})
        return web.Response(body=image, content_type="image/jpeg")

    async def digest(request: web.Request) -> web.Response:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic"):
            basic_sent_to_digest.append(header)
        if header.startswith("Digest "):
            f = dict(re.findall(r'(\w+)="?([^",]*)"?', header[7:]))
            ha1, ha2 = _md5(f"{USER}:camera:{PASSWORD}"), _md5(f"GET:{f.get('uri')}")
            wanted = _md5(f"{ha1}:{nonce}:{f.get('nc')}:{f.get('cnonce')}:{f.get('qop')}:{ha2}")
            if f.get("response") == wanted and f.get("nonce") == nonce:
                return web.Response(body=image, content_type="image/jpeg")
        return web.Response(status=401, headers={
            "WWW-Authenticate": f'Digest realm="camera", qop="auth", nonce="{nonce}", algorithm=MD5'})

    async def login(request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Please log in</body></html>", content_type="text/html")

    async def slow(request: web.Request) -> web.Response:
        await never.wait()                     # the client gives up first; set at teardown
        return web.Response(body=image, content_type="image/jpeg")

    async def huge(request: web.Request) -> web.Response:
        return web.Response(body=big, content_type="image/jpeg")

    async def late(request: web.Request) -> web.Response:
        await release_late.wait()
        return web.Response(body=image, content_type="image/jpeg")

    app = web.Application()
    for path, handler in (("/basic", basic), ("/digest", digest), ("/login", login), ("/slow", slow),
                          ("/big", huge), ("/late", late)):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield CameraServer(f"http://127.0.0.1:{port}", image, basic_sent_to_digest, release_late)
    finally:
        never.set()
        release_late.set()
        await runner.cleanup()


def camera_settings(tmp_path: Path, mqtt_url: str, server: CameraServer | None = None, **extra: Any) -> Any:
    base = server.base if server else "http://127.0.0.1:9"
    devices = {
        "porch": {"type": "camera", "snapshot_url": f"{base}/basic", "username": USER,
                  "password_env": "PORCH_PASSWORD"},
        "garden": {"type": "camera", "snapshot_url": f"{base}/digest", "username": USER,
                   "password_env": "PORCH_PASSWORD", "aliases": ["jardin"]},
        "wrongpass": {"type": "camera", "snapshot_url": f"{base}/basic", "username": USER,
                      "password_env": "WRONG_PASSWORD"},
        "router": {"type": "camera", "snapshot_url": f"{base}/login"},
        "sleepy": {"type": "camera", "snapshot_url": f"{base}/slow", "snapshot_timeout": "0.5s"},
        "bulky": {"type": "camera", "snapshot_url": f"{base}/big", "snapshot_max_bytes": 4096},
        "gone": {"type": "camera", "snapshot_url": f"http://127.0.0.1:{free_port()}/snap.jpg"},
        "frigate": {"type": "camera", "snapshot_topic": "frigate/porch/person/snapshot", "snapshot_timeout": "1s",
                    "snapshot_max_bytes": 600_000},
    }
    return settings_for(tmp_path, mqtt_url, simulator={"enabled": False}, devices=devices,
                        history={"min_interval": 0}, **extra)


async def snap(hub: Hub, text: str) -> Reply:
    replies = await hub.execute(message(text))
    assert len(replies) == 1, replies
    return replies[0]


async def download(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.read(), response.content_type


# ---- cameras --------------------------------------------------------------------------------------

@pytest.mark.servers
async def test_http_snapshot_reaches_the_reply_and_its_link_downloads_the_same_bytes(
        tmp_path: Path, mosquitto: Mosquitto, camera_server: CameraServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORCH_PASSWORD", PASSWORD)
    async with running(Hub(camera_settings(tmp_path, mosquitto.url, camera_server), tty=False)) as hub:
        for command in ("snap porch", "snap jardin"):            # basic, then digest auth
            reply = await snap(hub, command)
            assert re.fullmatch(r"(porch|garden) at \d\d:\d\d:\d\d", reply.text), reply.text
            (attachment,) = reply.attachments
            assert attachment.mime == "image/jpeg" and attachment.path.read_bytes() == camera_server.image
            assert attachment.path.parent == tmp_path / "snapshots"
            assert attachment.url and re.fullmatch(r"http://127\.0\.0\.1:\d+/files/[\w-]{32}/[\w.-]+\.jpg",
                                                   attachment.url)
            status, body, mime = await download(attachment.url)
            assert (status, body, mime) == (200, camera_server.image, "image/jpeg")
        assert camera_server.basic_sent_to_digest == []           # the password never went out in clear


@pytest.mark.servers
async def test_camera_errors_are_clear_replies(tmp_path: Path, mosquitto: Mosquitto, camera_server: CameraServer,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORCH_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", "guess")
    async with running(Hub(camera_settings(tmp_path, mosquitto.url, camera_server), tty=False)) as hub:
        started = time.monotonic()
        assert (await snap(hub, "snap sleepy")).text == "sleepy did not send an image within 0.5s (127.0.0.1)."
        assert time.monotonic() - started < 5
        expected = {
            "snap router": "router answered text/html, not an image: check snapshot_url (a login or error page?).",
            "snap bulky": "bulky sent a 6 kB image; snapshot_max_bytes allows 4 kB.",
            "snap wrongpass": "wrongpass refused the snapshot request (HTTP 401): check username and password_env.",
            "snap salon": "salon is a sensor, not a camera. Cameras: bulky, entree, frigate, garden, gone, porch, "
                          "router, sleepy, wrongpass.",
            "snap nowhere": "No camera called 'nowhere'. Cameras: bulky, entree, frigate, garden, gone, porch, "
                            "router, sleepy, wrongpass.",
        }
        for command, text in expected.items():
            reply = await snap(hub, command)
            if command == "snap bulky":
                assert re.fullmatch(r"bulky sent a \d+ kB image; snapshot_max_bytes allows 4 kB\.", reply.text)
            else:
                assert reply.text == text, command
            assert reply.attachments == ()
        gone = (await snap(hub, "snap gone")).text
        assert gone == "Cannot reach gone at 127.0.0.1: Connection refused.", gone
        assert (await snap(hub, "snap")).text.startswith("Which camera? Say snap bulky or snap entree")
        assert not (tmp_path / "snapshots").exists()             # nothing saved for a failed snapshot


@pytest.mark.servers
async def test_mqtt_snapshot_beyond_max_payload_and_base64(tmp_path: Path, mosquitto: Mosquitto) -> None:
    big = jpeg(520, 520, noise=True)
    assert 262144 < len(big) < 600_000                            # more than [mqtt] max_payload allows
    topic = "frigate/porch/person/snapshot"
    async with running(Hub(camera_settings(tmp_path, mosquitto.url), tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as camera:
        assert (await snap(hub, "snap frigate")).text == f"No image from frigate yet on {topic} " \
            "(the camera publishes one when it sees something)."
        await camera.publish(topic, big, qos=1, retain=True)
        async with asyncio.timeout(10):
            await hub.cameras._arrived["frigate"].wait()
        reply = await snap(hub, "snap frigate")
        assert reply.text.startswith("frigate at ")
        status, body, _ = await download(reply.attachments[0].url or "")
        assert status == 200 and body == big == reply.attachments[0].path.read_bytes()
        # An ESP32 sketch sending base64 (as a data: URL) works too; garbage is refused but the last image stays.
        small = jpeg()
        hub.cameras._arrived["frigate"].clear()
        await camera.publish(topic, b"data:image/jpeg;base64," + base64.b64encode(small), qos=1)
        async with asyncio.timeout(10):
            await hub.cameras._arrived["frigate"].wait()
        assert (await snap(hub, "snap frigate")).attachments[0].path.read_bytes() == small
        await camera.publish(topic, b"", qos=1, retain=True)        # clears the retained image
    # A fresh hub that only ever saw garbage says why there is no image.
    async with running(Hub(camera_settings(tmp_path / "b", mosquitto.url), tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as camera:
        await camera.publish(topic, b"<html>not a picture</html>", qos=1, retain=True)
        text = (await snap(hub, "snap frigate")).text
        assert text == f"No image from frigate yet: the last message on {topic} was refused: a 26-byte payload " \
            "that is not an image (JPEG, PNG, GIF, WebP, or one of these in base64)."


def test_mqtt_size_limit_is_per_listener() -> None:
    link = MqttLink(MqttSettings(max_payload=1024), "test", "chatops/test/status")
    seen: dict[str, int] = {}

    async def subscribe() -> None:
        await link.subscribe("cam/image", lambda t, p, r: seen.__setitem__("camera", len(p)), max_payload=10_000)
        await link.subscribe("cam/#", lambda t, p, r: seen.__setitem__("parser", len(p)))
    asyncio.run(subscribe())
    link.deliver("cam/image", b"x" * 5000, False)
    assert seen == {"camera": 5000} and link.dropped_payloads == 0      # the JSON parser never saw it
    link.deliver("cam/image", b"x" * 20_000, False)
    assert seen == {"camera": 5000} and link.dropped_payloads == 1
    link.deliver("cam/image", b"x" * 100, False)
    assert seen == {"camera": 100, "parser": 100}


@pytest.mark.servers
async def test_links_expire_and_wrong_tokens_get_404(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False})
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None and hub.web.links.ttl == 86400     # [web] link_ttl default: 24 h
        reply = await snap(hub, "snap entree")                       # the simulated camera
        url = reply.attachments[0].url or ""
        assert sniff(reply.attachments[0].path.read_bytes()) == "image/jpeg"
        assert (await download(url))[0] == 200
        token = url.split("/")[-2]
        link = hub.web.links._links[token]
        assert 86390 < link.expires - time.monotonic() <= 86400          # on monotonic time: NTP cannot end it
        assert (await download(url.replace(token, secrets.token_urlsafe(24))))[0] == 404
        assert (await download(url.replace(token, token[:-1])))[0] == 404
        hub.web.links._links[token] = dataclasses.replace(link, expires=time.monotonic() - 1)
        assert (await download(url))[0] == 404


@pytest.mark.servers
async def test_alert_carries_a_snapshot_to_the_network(tmp_path: Path, mosquitto: Mosquitto) -> None:
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke!", "severity": "critical",
            "notify": ["loop:alice"], "snapshot": "entree"}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, alerts=[rule],
                            adapters={"loopback": {"name": "loop"}})
    hub = Hub(settings, tty=False)
    inbox = hub.adapters["loop"]
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        async with asyncio.timeout(10):
            await inbox.arrived.wait()
        address, reply = inbox.sent[0]
        assert address.target == "alice" and reply.text.startswith("[CRITICAL] Smoke!")
        (attachment,) = reply.attachments
        assert attachment.path.parent == tmp_path / "snapshots"
        assert sniff(attachment.path.read_bytes()) == "image/jpeg"


@pytest.mark.servers
async def test_a_slow_camera_never_delays_the_alert_and_its_picture_follows(
        tmp_path: Path, mosquitto: Mosquitto, camera_server: CameraServer) -> None:
    """The alert text goes within the 1 s hold even though the camera has not answered; other
    rules are not held up meanwhile; the picture follows as its own message once it comes."""
    rules = [{"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke!", "severity": "critical",
              "notify": ["loop:alice"], "snapshot": "porch"},
             {"name": "hot", "device": "salon", "when": "> 30", "message": "Hot: {value}{unit}",
              "severity": "warning", "notify": ["loop:alice"]}]
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, alerts=rules,
                            adapters={"loopback": {"name": "loop"}},
                            devices={"porch": {"type": "camera", "snapshot_url": f"{camera_server.base}/late",
                                               "snapshot_timeout": "30s"}})
    hub = Hub(settings, tty=False)
    inbox = hub.adapters["loop"]
    async with running(hub), aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        started = time.monotonic()
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        target, text = await inbox.next(timeout=10)               # alone: nothing else wakes the outbox
        assert text.startswith("[CRITICAL] Smoke! (alert #1") and time.monotonic() - started < 3
        await device.publish("zigbee2mqtt/salon", json.dumps({"temperature": 35.0}), qos=1)
        target, text = await inbox.next(timeout=10)               # other rules are not held up meanwhile
        assert text.startswith("[WARNING] Hot: 35")
        assert all(not reply.attachments for _address, reply in inbox.sent)
        camera_server.release_late.set()
        target, text = await inbox.next(timeout=10)
        assert (target, text) == ("alice", "Picture from porch for alert #1")
        (attachment,) = inbox.sent[-1][1].attachments
        assert attachment.path.read_bytes() == camera_server.image


def test_simulated_camera_from_the_console(tmp_path: Path) -> None:
    """`!snap entree` on the console prints the saved file and its link, and when the picture
    was taken on the `[hub] timezone` clock (the one timers show), not the system's."""
    config = write_demo_config(tmp_path)
    config.write_text(config.read_text().replace('# timezone = "Europe/Paris"', 'timezone = "Pacific/Kiritimati"'))
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                            input="!snap entree\nhistory salon\n", capture_output=True, text=True, timeout=60,
                            env={**os.environ, "TZ": "UTC"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert re.fullmatch(r"entrée at \d\d:\d\d:\d\d", lines[0]), lines
    kiritimati = datetime.datetime.now(ZoneInfo("Pacific/Kiritimati"))        # UTC+14
    shown = datetime.datetime.strptime(lines[0][-8:], "%H:%M:%S").replace(
        year=kiritimati.year, month=kiritimati.month, day=kiritimati.day, tzinfo=kiritimati.tzinfo)
    apart = (kiritimati - shown).total_seconds() % 86400             # across midnight too
    assert min(apart, 86400 - apart) < 120, (lines[0], kiritimati)
    simulated = re.search(r"simulated before (\d\d):\d\d", lines[2])
    assert simulated and simulated.group(1) == kiritimati.strftime("%H") or kiritimati.minute == 0, lines
    match = re.fullmatch(r"  \[image\] (\S+\.jpg) (http://127\.0\.0\.1:\d+/files/[\w-]+/\S+\.jpg)", lines[1])
    assert match, lines
    assert Path(match.group(1)).read_bytes()[:3] == b"\xff\xd8\xff"


def test_snapshot_folder_is_bounded(tmp_path: Path) -> None:
    roomy = ImageFolder(tmp_path / "snapshots")
    paths = [roomy.save("cam", b"\xff\xd8\xff" + bytes(1000), ".jpg") for _ in range(6)]
    now = time.time()
    for age, path in enumerate(reversed(paths)):                          # newest last, a minute apart
        os.utime(path, (now - 60 * age, now - 60 * age))
    os.utime(paths[0], (now - 8 * 86400, now - 8 * 86400))                # past the 7-day age limit
    assert roomy.prune() == 1
    assert ImageFolder(tmp_path / "snapshots", keep_files=3).prune() == 2   # the count limit
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == sorted(p.name for p in paths[-3:])
    newest = ImageFolder(tmp_path / "snapshots", keep_bytes=10_000).save("cam", bytes(9_500), ".jpg")
    assert list((tmp_path / "snapshots").iterdir()) == [newest]           # the size limit keeps the newest


def test_payload_sniffing() -> None:
    image = jpeg()
    assert Cameras.frame_from_payload(image, 10**6).data == image
    assert Cameras.frame_from_payload(base64.b64encode(image) + b"\n", 10**6).mime == "image/jpeg"
    with pytest.raises(SnapshotError, match="too big"):
        Cameras.frame_from_payload(image, 100)
    with pytest.raises(SnapshotError, match="not an image"):
        Cameras.frame_from_payload(b'{"state": "ON"}', 10**6)


# ---- history and graphs ---------------------------------------------------------------------------

@pytest.mark.servers
async def test_history_answers_and_survives_a_restart(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, history={"min_interval": 0})
    async with running(Hub(settings, tty=False)) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as sensor:
        salon = hub.home.find("salon")
        for value in (20.0, 24.0, 22.0, 23.5):
            await sensor.publish("zigbee2mqtt/salon", json.dumps({"temperature": value, "humidity": 50}), qos=1)
        await sensor.publish("zigbee2mqtt/heater", json.dumps({"state": "ON"}), qos=1)
        async with asyncio.timeout(10):
            while salon.reading is None or salon.reading.value != 23.5 or hub.home.find("heater").reading is None:
                await asyncio.sleep(0.01)
        # No query here: what was buffered must reach the disk when the hub stops.
    async with running(Hub(settings, tty=False)) as hub:
        assert await exec_text(hub, "history salon") == \
            "salon, last 24h: min 20.0 °C, avg 22.4 °C, max 24.0 °C; last 23.5 °C (4 readings)"
        assert await exec_text(hub, "history living room 7d") == \
            "salon, last 7d: min 20.0 °C, avg 22.4 °C, max 24.0 °C; last 23.5 °C (4 readings)"
        assert (await exec_text(hub, "history heater")).startswith("heater, last 24h: on 100 % of the time; last ON")
        assert await exec_text(hub, "history chambre") == "No readings of chambre in the last 24h."
        assert await exec_text(hub, "history salon 2y") == "'2y' is not a period; write e.g. 1h, 24h, 7d or 30d."
        assert await exec_text(hub, "history salon 400d") == "The period must be between 1m and 365d, not 400d."
        assert await exec_text(hub, "history salon chambre") == "One device at a time for history; graph takes " \
            "several."
        assert await exec_text(hub, "history entree") == \
            "entrée is a camera; it has pictures, not history (snap entree)."


async def exec_text(hub: Hub, text: str) -> str:
    return "\n".join(r.text for r in await hub.execute(message(text)))


@pytest.mark.servers
async def test_graph_is_a_png_with_every_point(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"enabled": False}, history={"min_interval": 0})
    async with running(Hub(settings, tty=False)) as hub:
        now = time.time()
        minute = now // 60 * 60
        rows = [("salon", int((minute - 60 * i - 30) * 1000), 20 + (i % 60) / 10) for i in range(1, 1001)]
        rows += [("chambre", int((minute - 60 * i - 30) * 1000), 18 + (i % 90) / 20) for i in range(1, 501)]
        rows += [("heater", int((minute - 3600 * i) * 1000), float(i % 2)) for i in range(1, 11)]
        rows += [("salon_humidity", int((minute - 90) * 1000), 50.0)]
        await hub.store.call(hub.store.transaction, lambda db: hub.history.write(db, rows))
        reply = (await hub.execute(message("graph salon chambre heater 24h")))[0]
        assert reply.text == "salon, chambre, heater — last 24h: 1,510 points"
        (attachment,) = reply.attachments
        data = attachment.path.read_bytes()
        assert attachment.mime == "image/png" and png_size(data) == (800, 400)
        Image.open(io.BytesIO(data)).verify()
        assert (await download(attachment.url or ""))[1] == data
        week = (await hub.execute(message("graph salon 7d")))[0]
        assert re.fullmatch(r"salon — last 7d: 14[2-4] points", week.text)       # 7-minute buckets over 1,000 min
        assert (await exec_text(hub, "graph salon salon_humidity chambre kitchen_smoke 1h")).startswith("salon, ")
        assert await exec_text(hub, "graph salon_humidity") == "salon_humidity — last 24h: 1 point"
        assert await exec_text(hub, "graph kitchen_smoke") == "No readings of kitchen smoke detector in the last " \
            "24h yet."
        assert await exec_text(hub, "graph") == "Which device? Usage: graph DEVICE [DEVICE...] [24h|7d]"   # a direct chat: no !
        (tmp_path / "graph.png").write_bytes(data)


def test_render_counts_points_and_keeps_its_size() -> None:
    now = time.time()
    points = [(now - 86400 + 60 * i, 20 + i % 30 / 10) for i in range(1440)]
    started = time.perf_counter()
    chart = render([Series("salon", "°C", points)], now - 86400, now, width=640, height=320)
    assert time.perf_counter() - started < 5
    assert chart.points == 1440 and png_size(chart.png) == (640, 320)
    with pytest.raises(ValueError, match="at most two units"):
        render([Series("a", "°C", points), Series("b", "%", points), Series("c", "W", points)], now - 86400, now)
    empty = render([Series("salon", "°C", [])], now - 3600, now)
    assert empty.points == 0 and png_size(empty.png) == (800, 400)


async def test_roll_up_and_retention_bound_the_history(tmp_path: Path) -> None:
    store = Store(tmp_path / "chatops.db")
    await store.open()
    try:
        history = History(store, HistorySettings(raw_retention="2d", rollup_interval="5m", rollup_retention="30d"))
        await history.open()
        now = 1_700_000_000.0
        rows = [("salon", int((now - 10 * 86400 + 60 * i) * 1000), float(i % 10)) for i in range(10 * 1440)]
        await store.call(store.transaction, lambda db: history.write(db, rows))
        await history.maintain(now)
        raw, rollups = await store.call(lambda: (
            store.db.execute("SELECT COUNT(*), MIN(at) FROM history_raw").fetchone(),
            store.db.execute("SELECT COUNT(*), SUM(count) FROM history_rollup").fetchone()))
        assert raw[0] == 2 * 1440 and raw[1] >= (now - 2 * 86400) * 1000          # raw kept 2 days
        finished = (now - 3) // 300 * 300                                         # the last complete bucket's end
        rolled = [at for _, at, _ in rows if at < finished * 1000]
        assert rollups[1] == len(rolled) and rollups[0] == len({at // 300_000 for at in rolled})
        summary = await history.summary("salon", now - 10 * 86400, now)
        assert summary is not None and summary.count == 10 * 1440 and summary.min == 0 and summary.max == 9
        assert abs(summary.avg - 4.5) < 0.01
        old = await history.series("salon", now - 10 * 86400, now - 5 * 86400, 100)
        assert len(old) == 100 and all(70 <= p.count <= 75 for p in old[1:-1])   # 14.4 five-minute roll-ups each
        assert abs(sum(p.count for p in old) - 5 * 1440) <= 10
        await history.maintain(now + 40 * 86400)                                 # everything past retention
        assert await store.call(lambda: store.db.execute(
            "SELECT (SELECT COUNT(*) FROM history_raw) + (SELECT COUNT(*) FROM history_rollup)").fetchone()[0]) == 0
    finally:
        await store.close()
