"""The demo's smoke path from outside the chat: `chatops simulate` and the web chat's `simulate`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from chatops.config import load_settings
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, write_demo_config

pytestmark = pytest.mark.servers
ALERT_STATE = "chatops/maison/alerts/smoke"
RAISED = "[CRITICAL] Smoke detected in the kitchen! (alert #1; answer ack 1)"


async def chatops_cli(*args: str) -> tuple[int, str, str]:
    """Run `python -m chatops.cli ARGS` without blocking the loop the hub runs on."""
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "chatops.cli", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(60):
        out, err = await proc.communicate()
    return proc.returncode or 0, out.decode(), err.decode()


async def alert_state(client: aiomqtt.Client) -> tuple[dict[str, Any], bool]:
    """The next state of an alert on chatops/maison/alerts/smoke: its JSON and whether it came
    retained (the `cleared` state of a rule never raised, published at start, is skipped)."""
    async with asyncio.timeout(10):
        async for message in client.messages:
            assert isinstance(message.payload, (bytes, bytearray))
            state = json.loads(message.payload)
            if state.get("id") is not None:
                return state, bool(message.retain)
    raise AssertionError("the MQTT client disconnected")


async def test_cli_simulate_raises_the_smoke_alert_of_the_running_hub(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_demo_config(tmp_path, mosquitto.url)         # the hub and the CLI read the same file
    async with running(Hub(load_settings(config), tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe(ALERT_STATE, qos=1)
        assert await exec_command(hub, "alerts") == "No active alerts."
        code, out, err = await chatops_cli("simulate", "smoke", "on", "--config", str(config))
        assert code == 0, err
        assert out == "simulated smoke detected in the kitchen\n"
        state, _ = await alert_state(watcher)
        assert {k: state[k] for k in ("state", "id", "device", "severity", "message", "value")} == {
            "state": "active", "id": 1, "device": "kitchen_smoke", "severity": "critical",
            "message": "Smoke detected in the kitchen!", "value": True}
        listing = await exec_command(hub, "alerts")
        assert listing.startswith("#1 [critical] Smoke detected in the kitchen!")
        assert "NOT acknowledged" in listing
        assert await exec_command(hub, "read smoke") == "kitchen smoke detector: detected"
    # retained: a client that connects later (a dashboard, Home Assistant) still learns of it
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as late:
        await late.subscribe(ALERT_STATE, qos=1)
        state, retained = await alert_state(late)
        assert retained and state["state"] == "active" and state["id"] == 1


async def simulated_and_reported(hub: Hub, config: Path, what: str, device: str) -> tuple[int, str, str, bool]:
    """`chatops simulate WHAT on` from the shell: (exit code, stdout, stderr, whether `device` then reported ON)."""
    target = hub.home.find(device)
    waiting = asyncio.ensure_future(hub.home.wait_for(target, lambda reading: reading.value is True, 10))
    await asyncio.sleep(0)                          # its waiter is in place before the CLI runs
    code, out, err = await chatops_cli("simulate", what, "on", "--config", str(config))
    return code, out, err, (await waiting) is not None


async def test_cli_simulate_motion_lights_the_hall_as_chat_does(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_demo_config(tmp_path, mosquitto.url)
    async with running(Hub(load_settings(config), tty=False)) as hub:
        code, out, err, reported = await simulated_and_reported(hub, config, "motion", "hall_motion")
        assert (code, out) == (0, "simulated motion in the hall\n"), err
        assert reported
        assert await exec_command(hub, "read hall_motion") == f"{hub.home.find('hall_motion').label}: detected"


async def test_cli_simulate_logs_in_to_the_demos_embedded_broker(tmp_path: Path) -> None:
    # The embedded broker takes the hub's secret only; the CLI reads it from the data folder.
    from chatops.testing import free_port
    config = write_demo_config(tmp_path, embedded_listen=f"127.0.0.1:{free_port()}")
    async with running(Hub(load_settings(config), tty=False)) as hub:
        code, out, err, reported = await simulated_and_reported(hub, config, "smoke", "kitchen_smoke")
        assert (code, out) == (0, "simulated smoke detected in the kitchen\n"), err
        assert reported


async def test_cli_simulate_without_a_broker_says_so(tmp_path: Path, mosquitto: Mosquitto) -> None:
    config = write_demo_config(tmp_path, mosquitto.url)
    mosquitto.stop()
    code, out, err = await chatops_cli("simulate", "smoke", "on", "--config", str(config))
    assert code == 1 and out == ""
    assert err.startswith(f"cannot reach the MQTT broker at 127.0.0.1:{mosquitto.port}: ")
    assert err.rstrip().endswith("(is the hub running?)")


async def test_cli_simulate_with_a_broker_on_any_free_port_says_what_to_set(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path)                    # embedded_listen = "127.0.0.1:0"
    code, out, err = await chatops_cli("simulate", "smoke", "on", "--config", str(config))
    assert (code, out) == (2, "") and "Traceback" not in err
    assert err.startswith("cannot tell which port the broker listens on: [mqtt] embedded_listen asks for any free "
                          "port (:0)"), err


async def test_web_chat_simulate_gets_the_answer_and_the_alert(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The demo's [web] user is owner (an admin, web = ["owner"]), so the page may simulate, and
    the smoke rule notifies owner, which on the web is every open page."""
    config = write_demo_config(tmp_path, mosquitto.url)
    async with running(Hub(load_settings(config), tty=False)) as hub, aiohttp.ClientSession() as http:
        assert hub.web is not None
        async with http.ws_connect(f"http://127.0.0.1:{hub.web.port}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            await ws.send_json({"text": "simulate smoke on"})
            received = [await ws.receive_json(timeout=15), await ws.receive_json(timeout=15)]
            answer = next(r for r in received if not r["notice"])     # the alert may come first
            alert = next(r for r in received if r["notice"])
            assert answer == {"type": "reply", "notice": False, "images": [],
                              "text": "Simulated smoke detected in the kitchen; kitchen smoke detector reports it. "
                                      "Alert #1 (smoke) is active: say ack to stop it."}
            assert alert["type"] == "reply" and alert["text"] == RAISED
            assert len(alert["images"]) == 1                          # the rule's snapshot of entree
            assert alert["images"][0].startswith("/files/"), "relative: right by whatever name the page was opened"
            async with http.get(f"http://127.0.0.1:{hub.web.port}{alert['images'][0]}") as picture:
                assert picture.status == 200 and picture.content_type == "image/jpeg"
            await ws.send_json({"text": "ack"})
            assert (await ws.receive_json(timeout=5))["text"] == "Alert #1 (smoke) acknowledged; reminders stopped."
