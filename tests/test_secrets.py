"""Secrets never show up in logs, /health, !status or error messages; loose secret files are flagged."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from chatops.config import config_warnings
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, settings_for

pytestmark = pytest.mark.servers
MQTT_SECRET = "mqtt-s3cret-value-91"
WEB_SECRET = "web-t0ken-value-77"


@pytest.fixture
def locked_mosquitto(tmp_path: Path) -> Mosquitto:
    server = Mosquitto(tmp_path / "m")
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(server.workdir / "passwd"), "hub", MQTT_SECRET], check=True)
    server.conf.write_text(server.conf.read_text().replace("allow_anonymous true\n", "") +
                           f"allow_anonymous false\npassword_file {server.workdir}/passwd\n")
    server.start()
    yield server
    server.stop()


async def test_secrets_stay_out_of_logs_health_and_status(tmp_path: Path, locked_mosquitto: Mosquitto,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("TEST_MQTT_PASSWORD", MQTT_SECRET)
    token_file = tmp_path / "web.token"
    token_file.write_text(WEB_SECRET)
    token_file.chmod(0o600)
    settings = settings_for(tmp_path, locked_mosquitto.url,
                            mqtt={"username": "hub", "password_env": "TEST_MQTT_PASSWORD", "backoff_max": "1s"},
                            web={"token_file": str(token_file)})
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        base = f"http://127.0.0.1:{hub.web.port}"
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/") as refused:
                assert refused.status == 401
            async with http.get(f"{base}/?token={WEB_SECRET}", allow_redirects=False) as login:
                assert login.status == 302 and "chatops_token" in login.cookies
            async with http.get(f"{base}/health") as response:
                health = await response.text()
        status = await exec_command(hub, "status")
        locked_mosquitto.stop()                      # errors while the broker is gone must not leak either
        assert "Cannot switch heater" in await exec_command(hub, "chauffage on")
        locked_mosquitto.start()
        await hub.mqtt.connected.wait()
    for where, text in (("health", health), ("status", status), ("logs", caplog.text)):
        assert MQTT_SECRET not in text, where
        assert WEB_SECRET not in text, where


def test_wrong_password_is_reported_without_the_password(tmp_path: Path, locked_mosquitto: Mosquitto) -> None:
    config = tmp_path / "c.toml"
    config.write_text(f'[mqtt]\nurl = "{locked_mosquitto.url}"\nusername = "hub"\npassword_env = "P"\n'
                      f'[web]\nlisten = "127.0.0.1:0"\n[hub]\ndata_dir = "{tmp_path}"\n')
    proc = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            env={**os.environ, "P": "wrong-pass-123"}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "MQTT disconnected" in line:
                break
    finally:
        proc.terminate()
        proc.wait(10)
    text = "".join(seen)
    assert "Not authorized" in text or "not authorised" in text.lower() or "refused" in text.lower(), text
    assert "wrong-pass-123" not in text


def test_secret_files_readable_by_others_draw_a_warning(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("x")
    token_file.chmod(0o644)
    settings = settings_for(tmp_path, web={"token_file": str(token_file)})
    warnings = config_warnings(settings)
    assert warnings == [f"web.token_file: {token_file} is readable by other users; run chmod 600 {token_file}"]
    token_file.chmod(0o600)
    assert config_warnings(settings) == []
