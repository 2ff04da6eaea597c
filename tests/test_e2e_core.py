"""End to end through the console and the web chat, against the embedded broker and a real mosquitto."""

from __future__ import annotations

import asyncio
import json
import os
import gc
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import aiomqtt
import pytest

from chatops import hub as hub_module
from chatops.config import MqttSettings
from chatops.hub import Hub, StartupError, running
from chatops.mqtt import MqttLink, MqttUnavailable, broker_address
from chatops.testing import Mosquitto, exec_command, free_port, settings_for, write_demo_config

pytestmark = pytest.mark.servers


def write_config(tmp_path: Path, mqtt_url: str = "embedded", extra: str = "") -> Path:
    return write_demo_config(tmp_path, mqtt_url, extra=extra)


def run_console(config: Path, lines: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                          input=lines, capture_output=True, text=True, timeout=60)


def test_piped_console_on_the_embedded_broker(tmp_path: Path) -> None:
    result = run_console(write_config(tmp_path), "!temp salon\n!switch heater on\nchauffage off\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("salon: ") and lines[0].endswith(" °C")
    assert lines[1:] == ["heater is ON", "heater is OFF"]


def test_piped_console_on_mosquitto(tmp_path: Path, mosquitto: Mosquitto) -> None:
    result = run_console(write_config(tmp_path, mosquitto.url), "temp\nchauffage on\nread heater\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("salon: ") and lines[1].startswith("chambre: ")
    assert lines[2].startswith("thermostat: ") and ", target " in lines[2]     # a thermostat reads the room too
    assert lines[3:] == ["heater is ON", "heater: ON"]


def test_piped_console_shows_the_alert_it_caused_before_it_stops(tmp_path: Path) -> None:
    """The demo's smoke path from a pipe: the alert reaches the console before end of input stops
    the hub, and the next line can acknowledge it."""
    result = run_console(write_config(tmp_path), "!simulate smoke on\n!alerts\n!ack\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert ("Simulated smoke detected in the kitchen; kitchen smoke detector reports it. "
            "Alert #1 (smoke) is active: say ack to stop it.") in lines   # the alert itself may print first
    assert any(line.startswith("#1 [critical] Smoke detected in the kitchen!") for line in lines)
    assert "Alert #1 (smoke) acknowledged; reminders stopped." in lines
    assert "! [CRITICAL] Smoke detected in the kitchen! (alert #1; answer ack 1)" in lines


def test_simulating_smoke_again_says_who_acknowledged_the_alert(tmp_path: Path) -> None:
    result = run_console(write_config(tmp_path), "!simulate smoke on\n!ack\n!simulate smoke on\n")
    assert result.returncode == 0, result.stderr
    said = [line for line in result.stdout.splitlines() if line.startswith("Simulated smoke")]
    assert said == [
        "Simulated smoke detected in the kitchen; kitchen smoke detector reports it. "
        "Alert #1 (smoke) is active: say ack to stop it.",
        "Simulated smoke detected in the kitchen; kitchen smoke detector reports it. "
        "Alert #1 (smoke) is active, acknowledged by owner."]


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
async def test_web_chat_and_health(tmp_path: Path, broker: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("mosquitto").url if broker == "mosquitto" else "embedded"
    async with running(Hub(settings_for(tmp_path, url), tty=False)) as hub:
        assert hub.web is not None
        base = f"http://127.0.0.1:{hub.web.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/health") as response:
                health = await response.json()
            assert health["ready"] is True and health["mqtt"]["connected"] is True
            assert health["adapters"]["web"]["connected"] is True
            async with http.post(f"{base}/api/command", json={"text": "snap entree"}) as response:
                answer = await response.json()
            assert len(answer["replies"]) == 1 and len(answer["images"]) == 1, answer
            async with http.post(f"{base}/api/command", json={"text": "temp salon"}) as response:
                said = await response.text()              # as curl shows it: °C, not \u00b0C
            assert response.charset == "utf-8" and " °C" in said and "\\u00b0" not in said, said
            async with http.get(answer["images"][0]) as picture:
                assert picture.status == 200 and (await picture.read())[:3] == b"\xff\xd8\xff"
            async with http.get(base + "/") as page:
                assert page.status == 200 and "<title>chatops</title>" in await page.text()
            async with http.ws_connect(f"{base}/ws") as ws:
                hello = await ws.receive_json(timeout=5)
                assert hello == {"type": "hello", "name": "maison", "prefix": "!"}
                await ws.send_json({"text": "temp salon"})
                reply = await ws.receive_json(timeout=5)
                assert reply["type"] == "reply" and reply["text"].startswith("salon: ")
                await ws.send_json({"text": "chauffage on"})
                assert (await ws.receive_json(timeout=10))["text"] == "heater is ON"
                await ws.send_json({"type": "reboot"})
                error = await ws.receive_json(timeout=5)
                assert error == {"type": "error", "text": "unknown message type 'reboot': expected chat, watch, "
                                                          "switch, set, ack or snap"}
                await ws.send_str("read heater")                       # a bare line is a chat line too
                assert (await ws.receive_json(timeout=5))["text"] == "heater: ON"


async def test_health_answers_503_until_the_hub_is_ready(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "mosquitto")                  # not started yet: the hub cannot be ready
    hub = Hub(settings_for(tmp_path, broker.url, mqtt={"backoff_max": "1s"}), tty=False)
    task = asyncio.create_task(hub.run())
    try:
        assert hub.web is not None
        async with asyncio.timeout(10):
            await hub.web.chat.health.up_event.wait()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{hub.web.port}/health") as response:
                assert response.status == 503
                health = await response.json()
            assert health["ready"] is False and health["mqtt"]["connected"] is False
            assert health["status"] == "starting"
            await asyncio.to_thread(broker.start)
            async with asyncio.timeout(15):
                await hub.ready.wait()
            async with http.get(f"http://127.0.0.1:{hub.web.port}/health") as response:
                assert response.status == 200
                health = await response.json()
                assert health["ready"] is True and health["status"] == "ok"
            web = hub.adapters["web"]
            web.health.down("test: a network refused the hub's password")   # a network down for good
            async with http.get(f"http://127.0.0.1:{hub.web.port}/health") as response:
                assert response.status == 200 and (await response.json())["status"] == "degraded"
            web.health.up("serving")
            lost = asyncio.Event()
            hub.mqtt.health.watchers.append(lambda health: None if health.connected else lost.set())
            await asyncio.to_thread(broker.stop)              # lost once ready: not "ok" any more
            async with asyncio.timeout(10):
                await lost.wait()
            async with http.get(f"http://127.0.0.1:{hub.web.port}/health") as response:
                assert (await response.json())["status"] == "degraded"
    finally:
        hub.stop()
        await asyncio.wait_for(task, 10)
        broker.stop()


async def test_mosquitto_restart_is_survived(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running(Hub(settings_for(tmp_path, mosquitto.url, mqtt={"backoff_max": "1s"}), tty=False)) as hub:
        assert await exec_command(hub, "chauffage on") == "heater is ON"
        await asyncio.to_thread(mosquitto.stop, kill=True)
        async with asyncio.timeout(10):
            while hub.mqtt.connected.is_set():
                await asyncio.sleep(0.01)
        assert "Cannot switch heater" in await exec_command(hub, "chauffage off")
        down_at = time.monotonic()
        await asyncio.to_thread(mosquitto.start)
        async with asyncio.timeout(15):
            await hub.mqtt.connected.wait()
        reconnect = time.monotonic() - down_at
        assert await exec_command(hub, "chauffage off") == "heater is OFF"
        print(f"reconnected {reconnect:.2f}s after mosquitto came back")


async def test_a_publish_waiting_for_its_ack_fails_when_the_broker_dies(mosquitto: Mosquitto) -> None:
    """The broker is frozen (SIGSTOP) so no PUBACK comes, then killed: the waiting publish fails
    within a second or two, not after its 30 s timeout, and the next one goes through."""
    settings = MqttSettings(url=mosquitto.url, backoff_max="1s")
    link = MqttLink(settings, "abort-test", "chatops/abort-test/status")

    async def publish_outcome() -> str:
        try:
            await link.publish("test/frozen", b"1", wait=30)
        except MqttUnavailable as exc:
            return str(exc)
        return "published"

    async with asyncio.TaskGroup() as tasks:
        runner = tasks.create_task(link.run(broker_address(settings, Path("."))))
        async with asyncio.timeout(10):
            await link.connected.wait()
        assert mosquitto.proc is not None
        mosquitto.proc.send_signal(signal.SIGSTOP)
        publish = tasks.create_task(publish_outcome())
        await asyncio.sleep(0)            # the publish is now waiting for the frozen broker's ack
        started = time.monotonic()
        await asyncio.to_thread(mosquitto.stop, kill=True)
        assert "dropped before the broker confirmed" in await publish
        assert time.monotonic() - started < 5
        await asyncio.to_thread(mosquitto.start)
        await link.publish("test/after", b"2", wait=15)
        runner.cancel()


async def test_tasmota_device_and_discovery_from_config_alone(tmp_path: Path, mosquitto: Mosquitto) -> None:
    overrides = {"simulator": {"enabled": False}, "devices": {
        "plug": {"type": "switch", "topic": "stat/plug/POWER", "command_topic": "cmnd/plug/POWER"},
        "cave": {"type": "sensor", "topic": "tele/cave/SENSOR", "value": "DS18B20.Temperature", "unit": "°C"}}}
    settings = settings_for(tmp_path, mosquitto.url, **overrides)
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await device.subscribe("cmnd/#")
        await device.subscribe("zigbee2mqtt/garage/get")

        async def fake_devices() -> None:      # a Tasmota plug and a Zigbee2MQTT sensor that answer
            async for msg in device.messages:
                if msg.topic.value == "cmnd/plug/POWER" and msg.payload:
                    await device.publish("stat/plug/POWER", msg.payload)
                elif msg.topic.value == "cmnd/cave/Status":
                    await device.publish("tele/cave/SENSOR", json.dumps({"DS18B20": {"Temperature": 12.5}}))
                elif msg.topic.value == "zigbee2mqtt/garage/get":
                    await device.publish("zigbee2mqtt/garage", json.dumps({"temperature": 7.5}))

        responder = asyncio.create_task(fake_devices())
        try:
            assert await exec_command(hub, "temp cave") == "cave: 12.5 °C"      # asked with Status 8
            assert await exec_command(hub, "plug on") == "plug is ON"
            discovery = {"name": "Temperature", "unit_of_measurement": "°C", "state_topic": "zigbee2mqtt/garage",
                         "value_template": "{{ value_json.temperature }}", "device": {"name": "garage"}}
            await device.publish("homeassistant/sensor/0x1/temperature/config", json.dumps(discovery), retain=True)
            async with asyncio.timeout(5):
                while hub.home.find("garage temperature") is None:
                    await asyncio.sleep(0.01)
            assert await exec_command(hub, "read garage temperature") == "garage Temperature: 7.5 °C"
            await device.publish("tele/cave/SENSOR", b"\x00\xffgarbage")
            await device.publish("tele/cave/SENSOR", b"[" * 5000)
            async with asyncio.timeout(5):
                while hub.home.bad_payloads < 2:
                    await asyncio.sleep(0.01)
            assert await exec_command(hub, "temp cave") == "cave: 12.5 °C"
        finally:
            responder.cancel()


def test_sigterm_stops_within_two_seconds(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        for line in proc.stderr:
            if "hub ready" in line or time.monotonic() > deadline:
                break
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(5) == 0
        assert time.monotonic() - sent < 2.0
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)


@contextmanager
def taken_ports(count: int) -> Iterator[list[int]]:
    """`count` free loopback ports, each held by a listening socket (another program's server)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
        yield [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_taken_web_and_broker_ports_are_reported_together(tmp_path: Path) -> None:
    with taken_ports(2) as (web, broker):
        config = write_demo_config(tmp_path, web_listen=f"127.0.0.1:{web}", embedded_listen=f"127.0.0.1:{broker}")
        result = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                                stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "chatops cannot start:",
        f"  - the web server cannot listen on 127.0.0.1:{web} (Address already in use); change [web] listen",
        f"  - the embedded MQTT broker cannot listen on 127.0.0.1:{broker} (Address already in use); another "
        f"broker probably runs there: use it with [mqtt] url = \"mqtt://127.0.0.1:{broker}\", or change "
        "[mqtt] embedded_listen",
        # Both taken: most often the same hub started twice, whose broker lets in its own hub only.
        "  - the web server's and the broker's addresses are both in use: another chatops hub probably runs on "
        "this machine (see pgrep -fa 'chatops run'); "
        "stop it first, or give this one other addresses"]     # nothing before: no traceback, no "never awaited"


async def test_broker_port_taken_after_the_check_still_fails_cleanly(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A port taken between the start-up check and the broker's bind: the same one-line error,
    no amqtt traceback in the log, and no task left as a never-awaited coroutine."""
    monkeypatch.setattr(hub_module, "listen_problems", lambda settings, web: [])
    with taken_ports(1) as (broker,), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        settings = settings_for(tmp_path, mqtt={"embedded_listen": f"127.0.0.1:{broker}"})
        with pytest.raises(StartupError) as failed:
            await Hub(settings, tty=False).run()
        gc.collect()
    assert failed.value.problems == [
        f"the embedded MQTT broker cannot listen on 127.0.0.1:{broker} (Address already in use); another broker "
        f"probably runs there: use it with [mqtt] url = \"mqtt://127.0.0.1:{broker}\", or change "
        "[mqtt] embedded_listen"]
    assert not [r for r in caplog.records if r.exc_info], caplog.text
    assert not [w for w in caught if "never awaited" in str(w.message)]


def test_a_webhook_on_the_web_servers_address_is_said_naming_its_key(tmp_path: Path) -> None:
    """A Telegram webhook_listen equal to [web] listen was blamed on the Bot API ("cannot reach
    http://127.0.0.1:…: address already in use") after "hub ready"; now the start says which key."""
    from chatops.config import ConfigError
    from chatops.preflight import listen_problems
    port = free_port()
    telegram = {"token_env": "TG_TOKEN", "mode": "webhook", "webhook_url": "https://maison.example.org/tg",
                "webhook_listen": f"127.0.0.1:{port}", "webhook_secret_env": "TG_SECRET"}
    with pytest.raises(ConfigError, match=f"adapters.telegram.webhook_listen: 127.0.0.1:{port} is also web.listen's "
                                          "port; give each its own"):          # the file alone says so now
        settings_for(tmp_path, web={"listen": f"127.0.0.1:{port}"}, adapters={"telegram": telegram})
    settings = settings_for(tmp_path, web={"listen": f"127.0.0.1:{free_port()}"}, adapters={"telegram": telegram})
    with socket.socket() as other_program:          # and a start, a port another program holds
        other_program.bind(("127.0.0.1", port))
        other_program.listen()
        assert listen_problems(settings, web=True) == [
            f"adapters.telegram.webhook_listen: cannot listen on 127.0.0.1:{port} (Address already in use); give it "
            "an address of its own"]
