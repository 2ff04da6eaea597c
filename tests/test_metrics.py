"""GET /metrics on a real hub and mosquitto: commands, latencies, messages, adapters, MQTT, alerts,
the outbox and history, in Prometheus's text format, behind the web server's access rules."""

from __future__ import annotations

import importlib.metadata

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from prometheus_client.parser import text_string_to_metric_families

from chatops.command import CommandSet, Context, command
from chatops.hub import Hub, running
from chatops.router import Router
from chatops.testing import REPO, Mosquitto, exec_command, settings_for, wait_for

pytestmark = pytest.mark.servers


def hub_settings(tmp_path: Path, url: str, **overrides: Any) -> Any:
    rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke!", "severity": "critical",
            "notify": ["loop:alice"], "repeat": "1h", "cooldown": "0.2s"}
    base: dict[str, Any] = {"simulator": {"enabled": False}, "alerts": [rule],
                            "adapters": {"loopback": {"name": "loop"}},
                            "users": {"owner": None, "alice": {"roles": ["admin"], "console": ["alice"]}},
                            "web": {"user": None}}
    base["web"].update(overrides.pop("web", {}))
    base.update(overrides)
    return settings_for(tmp_path, url, **base)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def scrape(hub: Hub, headers: dict[str, str] | None = None) -> tuple[int, str]:
    assert hub.web is not None
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{hub.web.port}/metrics", headers=headers or {}) as response:
            return response.status, await response.text()


async def test_commands_are_counted_by_name_and_outcome_with_latency(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running(Hub(hub_settings(tmp_path, mosquitto.url), tty=False)) as hub:
        assert await exec_command(hub, "help", sender="alice")
        await exec_command(hub, "frobnicate now", sender="alice")       # unknown words
        await exec_command(hub, "frobnicate2", sender="alice")
        refused = await exec_command(hub, "switch heater on", sender="stranger")
        assert refused.startswith("Sorry")
        assert "Usage" in await exec_command(hub, "switch", sender="alice")     # a usage error: refused too
        status, text = await scrape(hub)
    assert status == 200
    found = samples(text)
    assert found["chatops_commands_total", (("command", "help"), ("outcome", "ok"))] >= 1
    assert found["chatops_commands_total", (("command", "switch"), ("outcome", "refused"))] == 2
    unknown = sum(v for (name, labels), v in found.items()
                  if name == "chatops_commands_total" and ("command", "unknown") in labels)
    assert unknown >= 2                         # frobnicate and frobnicate2 share one label
    assert not any("frobnicate" in str(labels) for _, labels in found)
    assert found["chatops_command_duration_seconds_count", (("command", "switch"),)] == 2
    assert found["chatops_command_duration_seconds_bucket", (("command", "switch"), ("le", "+Inf"))] == 2
    assert found["chatops_messages_received_total", (("adapter", "console"),)] == 5   # the five lines above
    assert found["chatops_messages_sent_total", (("adapter", "console"),)] == 5       # and their answers
    assert found["chatops_adapter_up", (("adapter", "loop"),)] == 1
    assert found["chatops_mqtt_connected", ()] == 1
    assert found["chatops_ready", ()] == 1
    info = dict([labels for name, labels in found if name == "chatops_info"][0])
    assert info == {"name": "maison", "version": importlib.metadata.version("chatops")}   # one version, in chatops/__init__.py


@command("boom", permission="help")
async def boom(ctx: Context) -> str:
    """Always fails."""
    raise RuntimeError("kaboom")


@command("slow", permission="help")
async def slow(ctx: Context) -> str:
    """Never answers in time."""
    await asyncio.Event().wait()
    return "never"


async def test_failed_and_timed_out_commands_are_counted_as_such(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = hub_settings(tmp_path, mosquitto.url, hub={"handler_timeout": "200ms"})
    async with running(Hub(settings, tty=False)) as hub:
        hub.commands = CommandSet([boom.__chatops_command__, slow.__chatops_command__])
        hub.router = Router(hub, hub.commands, hub.access, hub._audit_refusal, hub.home.find)
        assert (await exec_command(hub, "boom", sender="alice")).startswith("Sorry, boom failed (incident ")
        assert (await exec_command(hub, "slow", sender="alice")).endswith("and was stopped.")
        found = samples((await scrape(hub))[1])
    assert found["chatops_commands_total", (("command", "boom"), ("outcome", "error"))] == 1
    assert found["chatops_commands_total", (("command", "slow"), ("outcome", "timeout"))] == 1


async def test_alerts_outbox_adapters_and_mqtt_figures(tmp_path: Path, mosquitto: Mosquitto) -> None:
    async with running(Hub(hub_settings(tmp_path, mosquitto.url), tty=False)) as hub:
        loop = hub.adapters["loop"]
        loop.health.down("test: the network is gone")
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
            before = hub.mqtt.received
            await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
            await wait_for(lambda: hub.alerts.rules["smoke"].active_id is not None)
            found = samples((await scrape(hub))[1])
            assert found["chatops_alerts_raised_total", (("rule", "smoke"),)] == 1
            assert found["chatops_alerts_active", (("rule", "smoke"),)] == 1
            assert found["chatops_alerts_unacknowledged", (("rule", "smoke"),)] == 1
            assert found["chatops_alert_deliveries_pending", (("adapter", "loop"),)] == 1   # loop is down
            assert found["chatops_outbox_depth", (("adapter", "loop"),)] == 1
            assert found["chatops_adapter_up", (("adapter", "loop"),)] == 0
            assert found["chatops_adapter_disconnects_total", (("adapter", "loop"),)] == 1
            assert found["chatops_mqtt_messages_received_total", ()] >= before + 1

            loop.health.up()                                            # back: the alert goes out
            await loop.next()
            await exec_command(hub, "ack", sender="alice")
            await wait_for(lambda: hub.history.written > 0 or not hub.history.enabled)
            found = samples((await scrape(hub))[1])
            assert found["chatops_alerts_acknowledged_total", (("rule", "smoke"),)] == 1
            assert found["chatops_alerts_unacknowledged", (("rule", "smoke"),)] == 0
            assert found["chatops_alert_deliveries_delivered_total", (("adapter", "loop"),)] >= 1
            assert found["chatops_adapter_reconnects_total", (("adapter", "loop"),)] == 1
            assert found["chatops_messages_sent_total", (("adapter", "loop"),)] >= 1
            assert ("chatops_history_rows", (("table", "raw"),)) in found
            assert found["chatops_store_ok", ()] == 1
            assert found["chatops_process_resident_memory_bytes", ()] > 0


async def test_webhook_alerts_are_counted_by_source_not_by_fingerprint(tmp_path: Path, mosquitto: Mosquitto,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # Each Alertmanager alert has its own fingerprint: as labels, they would grow without bound.
    monkeypatch.setenv("T_AM", "am-token-0123456789")
    settings = hub_settings(tmp_path, mosquitto.url, web={"notify_tokens": {"grafana": {"token_env": "T_AM"}}},
                            notify={"default_to": ["loop:alice"]})
    alerts = [{"status": "firing", "fingerprint": f"aa0{n}", "labels": {"alertname": f"Disk{n}"}} for n in range(3)]
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{hub.web.port}/api/notify/alertmanager", json={"alerts": alerts},
                                 headers={"Authorization": "Bearer am-token-0123456789"}) as response:
                assert response.status == 202
        found = samples((await scrape(hub))[1])
    rules = {dict(labels)["rule"] for name, labels in found if name == "chatops_alerts_raised_total"}
    assert rules == {"smoke", "notify/alertmanager/grafana"}
    assert found["chatops_alerts_raised_total", (("rule", "notify/alertmanager/grafana"),)] == 3


async def test_metrics_follow_the_web_token_and_take_their_own(tmp_path: Path, mosquitto: Mosquitto,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEB_TOKEN", "web-secret-0123456789")
    monkeypatch.setenv("METRICS_TOKEN", "scrape-secret-0123456789")
    settings = hub_settings(tmp_path, mosquitto.url,
                            web={"token_env": "WEB_TOKEN", "metrics_token_env": "METRICS_TOKEN"})
    async with running(Hub(settings, tty=False)) as hub:
        assert (await scrape(hub))[0] == 401
        assert (await scrape(hub, {"Authorization": "Bearer wrong"}))[0] == 401
        status, text = await scrape(hub, {"Authorization": "Bearer scrape-secret-0123456789"})
        assert status == 200 and "# TYPE chatops_commands_total counter" in text
        assert (await scrape(hub, {"Authorization": "Bearer web-secret-0123456789"}))[0] == 200
        assert hub.web is not None
        async with aiohttp.ClientSession() as http:      # the scrape token opens nothing else
            async with http.get(f"http://127.0.0.1:{hub.web.port}/api/state",
                                headers={"Authorization": "Bearer scrape-secret-0123456789"}) as response:
                assert response.status == 401


async def test_a_metrics_token_is_required_even_on_loopback(tmp_path: Path, mosquitto: Mosquitto,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METRICS_TOKEN", "scrape-secret-0123456789")
    settings = hub_settings(tmp_path, mosquitto.url, web={"metrics_token_env": "METRICS_TOKEN"})
    async with running(Hub(settings, tty=False)) as hub:
        assert (await scrape(hub))[0] == 401
        assert (await scrape(hub, {"Authorization": "Bearer scrape-secret-0123456789"}))[0] == 200


def test_prometheus_client_is_loaded_only_by_a_scrape(tmp_path: Path) -> None:
    """A hub that counts commands but is never scraped (or has no web server) never imports it."""
    code = (
        "import asyncio, sys\n"
        "from chatops.hub import Hub\n"
        "from chatops.testing import settings_for\n"
        "for web in (True, False):\n"
        f"    hub = Hub(settings_for({str(tmp_path)!r}, web={{'enabled': web}}), tty=False)\n"
        "    hub.observe_command('help', 'ok', 0.01)\n"
        "    hub.metrics.message_in('console')\n"
        "print(sorted(m for m in ('prometheus_client', 'phonenumbers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
