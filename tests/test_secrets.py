"""Secrets never show up in logs, /health, !status or error messages; loose secret files are flagged."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from chatops.config_report import config_warnings
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, exec_command, free_port, settings_for, started, wait_for

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
                assert set(await response.json()) == {"ready", "status"}, "without the token: no details"
            async with http.get(f"{base}/health", headers={"Authorization": f"Bearer {WEB_SECRET}"}) as response:
                health = await response.text()
                assert "adapters" in json.loads(health)
        status = await exec_command(hub, "status")
        await asyncio.to_thread(locked_mosquitto.stop)   # errors while the broker is gone must not leak either
        assert "Cannot switch heater" in await exec_command(hub, "chauffage on")
        await asyncio.to_thread(locked_mosquitto.start)
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


def test_a_relative_secret_file_is_checked_where_the_hub_reads_it(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`token_file = "web.token"` is read from the config file's folder, whatever the working
    directory (systemd's is /): the permission check looks there too."""
    token_file = tmp_path / "web.token"
    token_file.write_text("x")
    token_file.chmod(0o644)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    settings = settings_for(tmp_path, web={"token_file": "web.token"})
    assert config_warnings(settings) == [
        f"web.token_file: {token_file} is readable by other users; run chmod 600 {token_file}"]


def test_an_empty_secret_stops_the_start_with_the_key_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # An empty PIN would mean "no PIN" and an empty webhook secret would match any request.
    from chatops.access import Access
    from chatops.auth import Auth
    from chatops.config import ConfigError
    monkeypatch.setenv("ALICE_EMPTY_PIN", "  ")
    blank = tmp_path / "pin"
    blank.write_text("\n")
    for user in ({"pin_env": "ALICE_EMPTY_PIN"}, {"pin_file": str(blank)}):
        settings = settings_for(tmp_path, users={"alice": {"roles": ["family"], "sms": ["+33611111111"], **user}})
        with pytest.raises(ConfigError) as refused:
            Access.from_auth(Auth(settings), tmp_path, 30)
        assert refused.value.problems == [
            "users.alice.pin_env: environment variable ALICE_EMPTY_PIN is empty; give it the secret"
            if "pin_env" in user else f"users.alice.pin_file: {blank} is empty; write the secret in it"]


def test_a_secret_in_the_environment_loses_the_spaces_around_it_as_a_file_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`export SLACK_BOT_TOKEN="xoxb-… "` stopped the hub ("the bot token starts with xoxb-", which
    it did), though the same token in a file, with its newline, was taken."""
    from chatops.config import read_secret
    monkeypatch.setenv("PADDED_TOKEN", " s3cret-token-0123456789\n")
    settings = settings_for(tmp_path, web={"token_env": "PADDED_TOKEN"})
    assert read_secret(settings.web, "token") == "s3cret-token-0123456789"


def test_a_password_written_in_a_url_is_refused_and_never_echoed(tmp_path: Path) -> None:
    # `snapshot_url = "http://admin:hunter2@camera/"` was taken, and `chatops check` printed it.
    config = tmp_path / "config.toml"
    config.write_text('[mqtt]\nurl = "mqtt://bob:mqtt-s3cret@127.0.0.1:1883"\n'
                      '[devices.entree]\ntype = "camera"\nsnapshot_url = "http://admin:hunter2@192.168.1.20/a.jpg"\n'
                      '[[notify.topics]]\ntopic = "frigate/events"\nmessage = "{after.label}"\n'
                      'image_url = "http://frigate:fr1gate@127.0.0.1:5000/{after.id}.jpg"\n')
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                             capture_output=True, text=True, timeout=60)
    said = checked.stdout + checked.stderr
    assert checked.returncode == 2, said
    for key, fix in (("mqtt.url", 'password_env = "MQTT_PASSWORD"'), ("devices.entree.snapshot_url",
                                                                      'password_env = "CAMERA_PASSWORD"'),
                     ("notify.topics[0].image_url", "answers without a login")):
        assert any(line.startswith(f"  - {key}: a password written in the URL is a secret") and fix in line
                   for line in said.splitlines()), said
    assert not any(secret in said for secret in ("mqtt-s3cret", "hunter2", "fr1gate")), said
    assert "http://admin:****@192.168.1.20/a.jpg" in said


async def test_a_notification_pictures_password_stays_out_of_the_log(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRON_TOKEN", "cron-token-1234567890")
    settings = settings_for(tmp_path, web={"notify_tokens": {"cron": {"token_env": "CRON_TOKEN"}}})
    async with running(Hub(settings, tty=False)) as hub, aiohttp.ClientSession() as http:
        url = f"http://frigate:pict-s3cret@127.0.0.1:{free_port()}/snap.jpg"     # nothing listens there
        async with http.post(f"http://127.0.0.1:{hub.web.port}/api/notify",
                             json={"to": ["owner"], "text": "someone at the door", "image_url": url},
                             headers={"Authorization": "Bearer cron-token-1234567890"}) as response:
            assert response.status == 202
        await wait_for(lambda: "could not be fetched" in caplog.text, 20)
    assert "frigate:****@127.0.0.1" in caplog.text and "pict-s3cret" not in caplog.text


# ---- every network's secrets, while each network refuses the hub --------------------------------

CHAT_SECRETS = {
    "IRC_SASL_SECRET": "irc-sasl-s3cret-4417",
    "IRC_CLOSED_SASL_SECRET": "irc-closed-sasl-s3cret-5170",
    "IRC_KEY_SECRET": "irc-chan-key-s3cret-8803",
    "XMPP_CLOSED_SECRET": "xmpp-s3cret-6612",
    "XMPP_WRONG_SECRET": "xmpp-wrong-s3cret-7720",
    "SLACK_BOT_SECRET": "xoxb-bot-s3cret-3318",
    "SLACK_APP_SECRET": "xapp-app-s3cret-9954",
    "SIM_PIN_SECRET": "86420917",
    "BOB_PIN_SECRET": "Abracadabra-5150",
    "TELEGRAM_SECRET": "654321:telegram-s3cret-4471",
    "MATRIX_SECRET": "matrix-s3cret-2208",
    "XMPP_ROOM_SECRET": "xmpp-room-s3cret-3391",
    "TELEGRAM_HOOK_SECRET": "telegram-webhook-s3cret-8126",
}
NICKSERV_SECRET = "irc-nickserv-s3cret-2290"            # given as a file
SASL_USER = "maisonsasl"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def forbidden() -> dict[str, str]:
    """Each secret, its base64, and the SASL PLAIN payloads (whole and without the authzid)."""
    secrets = {**CHAT_SECRETS, "the NickServ password file": NICKSERV_SECRET}
    found = {name: value for name, value in secrets.items()}
    found.update({f"{name} in base64": b64(value) for name, value in secrets.items()})
    for name in ("IRC_SASL_SECRET", "IRC_CLOSED_SASL_SECRET"):
        found[f"SASL PLAIN payload of {name}"] = b64(f"{SASL_USER}\0{SASL_USER}\0{CHAT_SECRETS[name]}")
        found[f"SASL PLAIN payload of {name}, no authzid"] = b64(f"\0{SASL_USER}\0{CHAT_SECRETS[name]}")
    return found


def logged_texts(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    """(where, text) of everything logged: rendered lines with tracebacks, messages, and the str()
    of each logged exception with its causes."""
    yield "rendered log", caplog.text
    for record in caplog.records:
        yield f"{record.name}: message", record.getMessage()
        error = record.exc_info[1] if record.exc_info else None
        seen = set()
        while error is not None and id(error) not in seen:
            seen.add(id(error))
            yield f"{record.name}: exception", f"{type(error).__name__}: {error} {error.args!r}"
            error = error.__cause__ or error.__context__


async def test_chat_secrets_stay_out_of_logs_health_and_status_while_every_network_refuses(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """IRC (SASL refused with 904; NickServ and a channel key on a server that then drops the
    bot; SASL towards a closed port), XMPP (a closed port; a real prosody refusing the
    password, with a room password), Slack (invalid_auth), SMS (no modem, SIM PIN and a user's PIN
    configured), Telegram (a Bot API refusing the token, which travels in its URLs; polling, and a
    webhook with its secret) and Matrix (a closed port):
    each adapter tries, fails and logs why, and no secret shows in any of it."""
    from tests.irc.conftest import FakeServer, welcome
    from tests.slack.emulator import SlackEmulator
    from tests.telegram.emulator import BotApi
    from tests.xmpp.conftest import DOMAIN, Prosody

    caplog.set_level(logging.DEBUG)
    for name, value in CHAT_SECRETS.items():
        monkeypatch.setenv(name, value)
    nickserv_file = tmp_path / "nickserv.pass"
    nickserv_file.write_text(NICKSERV_SECRET + "\n")
    nickserv_file.chmod(0o600)
    closed = free_port()
    sasl_server, nickserv_server, slack, telegram = FakeServer(), FakeServer(), SlackEmulator(), BotApi()
    for peer in (sasl_server, nickserv_server, slack, telegram):
        await peer.start()
    irc_common = {"host": "127.0.0.1", "tls": False, "nick": "maison", "backoff_min": "0.2s",
                  "backoff_max": "1s", "connect_timeout": "5s"}
    try:
        with started(Prosody(tmp_path / "prosody", upload=False)) as prosody:
            prosody.register("maison", "the-right-password")
            settings = settings_for(
                tmp_path / "data", mosquitto.url, simulator={"enabled": False},
                users={"bob": {"roles": ["family"], "sms": ["+33611111111"], "pin_env": "BOB_PIN_SECRET"}},
                adapters={
                    "irc": [
                        {**irc_common, "name": "irc.sasl", "port": sasl_server.port,
                         "sasl_username": SASL_USER, "sasl_password_env": "IRC_SASL_SECRET"},
                        {**irc_common, "name": "irc.nickserv", "port": nickserv_server.port,
                         "password_file": str(nickserv_file),
                         "channels": [{"name": "#famille", "key_env": "IRC_KEY_SECRET"}]},
                        {**irc_common, "name": "irc.closed", "port": closed,
                         "sasl_username": SASL_USER, "sasl_password_env": "IRC_CLOSED_SASL_SECRET"},
                    ],
                    "xmpp": [
                        {"name": "xmpp.closed", "jid": f"maison@{DOMAIN}", "password_env": "XMPP_CLOSED_SECRET",
                         "host": "127.0.0.1", "port": closed, "allow_plaintext": True, "reconnect_max": "1s"},
                        {"name": "xmpp.refused", "jid": f"maison@{DOMAIN}", "password_env": "XMPP_WRONG_SECRET",
                         "host": "127.0.0.1", "port": prosody.c2s_port, "allow_plaintext": True,
                         "rooms": [{"jid": f"famille@conference.{DOMAIN}", "password_env": "XMPP_ROOM_SECRET"}]},
                    ],
                    "slack": {"api_url": slack.url, "bot_token_env": "SLACK_BOT_SECRET",
                              "app_token_env": "SLACK_APP_SECRET", "backoff_max": "1s"},
                    "sms": {"backend": "gammu", "model": "dummy", "connection": "none",
                            "device": str(tmp_path / "no-such-phone"), "pin_env": "SIM_PIN_SECRET"},
                    "telegram": [
                        {"name": "telegram", "api_url": telegram.url, "token_env": "TELEGRAM_SECRET"},  # not its token
                        {"name": "telegram.hook", "api_url": telegram.url, "token_env": "TELEGRAM_SECRET",
                         "mode": "webhook", "webhook_url": "http://127.0.0.1/telegram",
                         "webhook_listen": f"127.0.0.1:{free_port()}", "webhook_secret_env": "TELEGRAM_HOOK_SECRET"},
                    ],
                    "matrix": {"homeserver": f"http://127.0.0.1:{closed}", "user_id": "@maison:localhost",
                               "password_env": "MATRIX_SECRET", "reconnect_max": "1s"},
                })
            async def play_the_irc_servers() -> None:    # the hub is ready once they have answered
                conn = await sasl_server.accept()                  # SASL PLAIN, then 904
                await conn.expect(lambda l: l.command == "CAP" and l.params[:1] == ("LS",))
                conn.send(":fake.test CAP * LS :sasl=PLAIN multi-prefix")
                request = await conn.expect(lambda l: l.command == "CAP" and l.params[:1] == ("REQ",))
                conn.send(f":fake.test CAP * ACK :{request.text}")
                await conn.expect(lambda l: l.raw == "AUTHENTICATE PLAIN")
                conn.send("AUTHENTICATE +")
                payload = (await conn.expect(lambda l: l.command == "AUTHENTICATE")).params[0]
                sasl = CHAT_SECRETS["IRC_SASL_SECRET"]
                assert base64.b64decode(payload).decode() == f"{SASL_USER}\0{SASL_USER}\0{sasl}"
                conn.send(":fake.test 904 * :SASL authentication failed")
                await conn.expect(lambda l: l.command == "QUIT")

                conn = await nickserv_server.accept()              # IDENTIFY, JOIN with the key, dropped
                await welcome(conn, "maison", caps="multi-prefix")
                identify = await conn.expect(lambda l: l.command == "PRIVMSG")
                assert identify.raw == f"PRIVMSG NickServ :IDENTIFY maison {NICKSERV_SECRET}"
                conn.send(":fake.test 900 maison maison!chatops@h maison :You are now logged in as maison")
                join = await conn.expect(lambda l: l.command == "JOIN")
                assert join.raw == f"JOIN #famille {CHAT_SECRETS['IRC_KEY_SECRET']}"
                conn.send(":fake.test 475 maison #famille :Cannot join channel (+k)")
                conn.send("ERROR :Closing Link: maison (Bad channel key)")
                await conn.close()

            servers = asyncio.create_task(play_the_irc_servers())
            async with running(Hub(settings, tty=False)) as hub:
                adapters = hub.adapters
                await servers

                await wait_for(lambda: "SASL login as maisonsasl refused" in adapters["irc.sasl"].health.detail)
                await wait_for(lambda: "server said: Closing Link" in adapters["irc.nickserv"].health.detail)
                await wait_for(lambda: "reconnecting" in adapters["irc.closed"].health.detail)
                await wait_for(lambda: "cannot connect" in adapters["xmpp.closed"].health.detail)
                await wait_for(lambda: "refused the password" in adapters["xmpp.refused"].health.detail)
                await wait_for(lambda: "Slack refused the" in adapters["slack"].health.detail)
                await wait_for(lambda: "device" in adapters["sms"].health.detail)
                await wait_for(lambda: "refused the token" in adapters["telegram"].health.detail)
                await wait_for(lambda: "refused the token" in adapters["telegram.hook"].health.detail)
                await wait_for(lambda: adapters["matrix"].health.started and not adapters["matrix"].health.connected)
                assert slack.calls and slack.calls[0].token == CHAT_SECRETS["SLACK_BOT_SECRET"]
                assert hub.web is not None
                async with aiohttp.ClientSession() as http:
                    async with http.get(f"http://127.0.0.1:{hub.web.port}/health") as response:
                        health = await response.text()
                status = await exec_command(hub, "status")
    finally:
        for peer in (sasl_server, nickserv_server, slack, telegram):
            await peer.stop()
    down = {name for name, a in json.loads(health)["adapters"].items() if not a["connected"]}
    assert down == {"irc.sasl", "irc.nickserv", "irc.closed", "xmpp.closed", "xmpp.refused", "slack", "sms",
                    "telegram", "telegram.hook", "matrix"}
    assert status.count(": DOWN (") == len(down)
    shown = caplog.text                                   # DEBUG was captured, with the lines masked
    assert "irc.sasl -> AUTHENTICATE ****" in shown and "irc.nickserv -> PRIVMSG NickServ :IDENTIFY ****" in shown
    assert "irc.nickserv -> JOIN #famille ****" in shown and "SEND: <auth " in shown
    leaks = [(where, label) for where, text in [("health", health), ("status", status), *logged_texts(caplog)]
             for label, value in forbidden().items() if value in text]
    assert leaks == []


class TlsMosquitto(Mosquitto):
    """mosquitto with a TLS listener whose certificate a private authority signed (ca.pem)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        ca, key = workdir / "ca.pem", workdir / "ca.key"
        cert, cert_key, request = workdir / "server.pem", workdir / "server.key", workdir / "server.csr"
        openssl = ["openssl"]
        subprocess.run([*openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                        str(ca), "-days", "2", "-subj", "/CN=test authority"], check=True, capture_output=True)
        subprocess.run([*openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(cert_key), "-out",
                        str(request), "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        extensions = workdir / "san.cnf"
        extensions.write_text("subjectAltName=IP:127.0.0.1\n")
        subprocess.run([*openssl, "x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(key),
                        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(extensions)],
                       check=True, capture_output=True)
        self.ca = ca
        self.conf.write_text(self.conf.read_text() + f"certfile {cert}\nkeyfile {cert_key}\n")

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.port}"


async def test_a_tls_broker_is_trusted_through_ca_file_relative_to_the_config(tmp_path: Path) -> None:
    """`[mqtt] url = "mqtts://..."` and `ca_file` naming the authority, relative to the config's
    folder: the hub connects and reads the house; a CA file it cannot read is refused by
    `chatops check` with the key and the fix, instead of a reconnect loop naming no file."""
    with started(TlsMosquitto(tmp_path / "mosquitto")) as broker:
        config_dir = tmp_path / "etc"
        config_dir.mkdir()
        (config_dir / "broker-ca.pem").write_bytes(broker.ca.read_bytes())
        settings = settings_for(tmp_path / "data", broker.url, mqtt={"ca_file": "broker-ca.pem"})
        settings = settings.model_copy(update={"base_dir": config_dir})
        async with running(Hub(settings, tty=False)) as hub:
            await wait_for(lambda: hub.mqtt.connected.is_set(), timeout=15)
            assert (await exec_command(hub, "temp salon")).startswith("salon: ")
    config = tmp_path / "broken.toml"
    config.write_text('[mqtt]\nurl = "mqtts://127.0.0.1:8883"\nca_file = "/nowhere/ca.pem"\n')
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                             capture_output=True, text=True, timeout=60)
    assert checked.returncode == 2
    assert "mqtt.ca_file: cannot read /nowhere/ca.pem (No such file or directory); give the PEM file" in checked.stderr


def test_check_says_a_missing_pin_and_no_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With automations, `chatops check` built a hub to judge them, which read the missing PIN
    secret again and stopped on it with a traceback (exit 1)."""
    from chatops.cli import main
    config = tmp_path / "config.toml"
    config.write_text('[hub]\ndata_dir = "data"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[web]\nenabled = false\n'
                      '[users.bob]\nroles = ["guest"]\nsms = ["+33612345678"]\npin_env = "NO_SUCH_VAR_XYZ"\n'
                      '[automations_defaults]\nowner = "bob"\n'
                      '[devices.heater]\ntype = "switch"\ntopic = "z/heater"\ncommand_topic = "z/heater/set"\n'
                      '[[automations]]\nname = "x"\nat = "every day at 06:30"\ndo = ["switch heater on"]\n',
                      encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "users.bob.pin_env: environment variable NO_SUCH_VAR_XYZ is not set" in err and "Traceback" not in err


def test_a_secret_pasted_where_its_variable_goes_is_not_printed_back(tmp_path: Path) -> None:
    """`bot_token_env = "xoxb-1234-abcd-secret"` was answered `export xoxb-1234-abcd-secret=...`."""
    from chatops.config import ConfigError, read_secret
    settings = settings_for(tmp_path, web={"token_env": "s3cret-token-0123456789!"})
    with pytest.raises(ConfigError) as caught:
        read_secret(settings.web, "token")
    [problem] = caught.value.problems
    assert problem.startswith("token_env names an environment variable (letters, digits and _)")
    assert "s3cret" not in problem and 'token_env = "TOKEN"' in problem
    # `openssl rand -hex 24` starting with a letter is a valid variable name: still a secret.
    pasted = "c0ffee4e8a1b9d2f7e6a5b4c3d2e1f0a9b8c7d6e5f4b3c"
    with pytest.raises(ConfigError) as caught:
        read_secret(settings_for(tmp_path, web={"token_env": pasted}).web, "token")
    assert pasted not in caught.value.problems[0] and "the secret itself?" in caught.value.problems[0]


def test_a_secret_file_the_hub_account_cannot_read_says_whose_it_must_be(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`cannot read …: Permission denied` under "secrets or files ... missing" named neither the account nor
    the fix. (The tests run as root, whom every mode lets read: the refusal is played here.)"""
    import getpass

    from chatops.config import ConfigError, read_secret
    secret = tmp_path / "web.token"
    secret.write_text("0123456789abcdef0123")

    settings = settings_for(tmp_path, web={"token_file": str(secret)})

    def refused(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(Path, "read_text", refused)
    with pytest.raises(ConfigError) as caught:
        read_secret(settings.web, "token")
    user = getpass.getuser()
    assert caught.value.problems == [f"token_file: cannot read {secret}: Permission denied (the hub runs as {user}: "
                                     f"sudo chown {user} {secret} && sudo chmod 600 {secret})"]


def test_a_secret_file_naming_a_folder_says_what_to_name_and_advises_no_chmod(tmp_path: Path) -> None:
    """`token_file = "/etc/chatops"`: check advised `chmod 600` on the folder (ruinous for /etc) and
    said only "Is a directory"."""
    folder = tmp_path / "chatops"
    folder.mkdir(mode=0o755)
    config = tmp_path / "config.toml"
    config.write_text(f'[hub]\ndata_dir = "{tmp_path / "data"}"\n[web]\nlisten = "127.0.0.1:0"\n'
                      f'[mqtt]\nembedded_listen = "127.0.0.1:0"\n[web.notify_tokens]\n'
                      f'cron = {{ token_file = "{folder}" }}\n', encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                             capture_output=True, text=True, timeout=30)
    assert checked.returncode == 2
    assert (f"web.notify_tokens.cron.token_file: cannot read {folder}: Is a directory (token_file names the file "
            f"holding the secret, not its folder: e.g. {folder / 'token.secret'})") in checked.stderr
    assert "chmod" not in checked.stderr
