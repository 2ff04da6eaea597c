"""The first hour of a new user, through the command line as they would type it: `chatops run`
on the shipped demo config (embedded broker and web server on free ports, a private data dir)."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from chatops.broker import embedded_broker
from chatops.hub import Hub, running
from chatops.testing import settings_for, write_demo_config

CONSOLE_SECTION = re.compile(r"^\[adapters\.console\]\n(?:[^\[\n].*\n)*", re.M)


def run_cli(folder: Path, *args: str, stdin: str = "", timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m chatops ARGS` in `folder`, `stdin` piped in; a hub that does not stop fails the test."""
    try:
        return subprocess.run([sys.executable, "-m", "chatops", *args], cwd=folder, input=stdin, text=True,
                              capture_output=True, timeout=timeout, env=dict(os.environ))
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"chatops {' '.join(args)} was still running after {timeout:g} s "
                    f"(stdout {exc.stdout!r}, stderr {exc.stderr!r})")


def config_without_console(folder: Path) -> Path:
    config = write_demo_config(folder)
    text, count = CONSOLE_SECTION.subn("", config.read_text(encoding="utf-8"))
    assert count == 1
    config.write_text(text, encoding="utf-8")
    return config


def test_console_flag_starts_the_console_whatever_the_file_says(tmp_path: Path) -> None:
    config_without_console(tmp_path)
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="whoami\n", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "owner" in done.stdout                # answered as the console user, then stopped at the end of input


def test_the_console_with_dev_null_as_input_stops_at_once(tmp_path: Path) -> None:
    """`chatops run --console </dev/null` (cron, nohup, `ssh host cmd </dev/null`) printed an
    asyncio traceback (epoll refuses /dev/null) and never stopped."""
    write_demo_config(tmp_path)
    with open(os.devnull, encoding="utf-8") as nothing:
        try:
            done = subprocess.run([sys.executable, "-m", "chatops", "run", "--console", "--config", "config.toml"],
                                  cwd=tmp_path, stdin=nothing, text=True, capture_output=True, timeout=30,
                                  env=dict(os.environ))
        except subprocess.TimeoutExpired:
            pytest.fail("chatops run --console </dev/null was still running after 30 s")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "PermissionError" not in done.stderr, done.stderr


async def test_piping_without_console_says_it_is_off_and_how_to_turn_it_on(tmp_path: Path) -> None:
    write_demo_config(tmp_path)                  # [adapters.console] enabled = "auto": off on a pipe
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chatops.cli", "run", "--config", "config.toml", cwd=tmp_path,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert proc.stdin is not None and proc.stderr is not None
    proc.stdin.write(b"temp salon\n")
    await proc.stdin.drain()
    said: list[str] = []
    try:
        async with asyncio.timeout(30):
            while line := (await proc.stderr.readline()).decode():
                said.append(line)
                if "hub ready" in line:
                    break
    finally:
        proc.terminate()
        await proc.wait()
    assert any("hub ready" in line for line in said), said
    notice = [line for line in said if "console is off" in line]
    assert notice and "--console" in notice[0], said


def test_alerts_lists_the_console_as_told_once_it_showed_the_alert(tmp_path: Path) -> None:
    write_demo_config(tmp_path)
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="simulate smoke on\nalerts\n")
    lines = done.stdout.splitlines()
    assert any(line.startswith("! [CRITICAL] Smoke detected") for line in lines), done.stdout
    listing = next(line for line in lines if line.startswith("#1 [critical]"))
    told = listing.split("told: ", 1)[1]
    assert "console" in told.split(";")[0].split(", "), listing     # everyone on the console, not "console:*"
    assert "nobody yet" not in listing


def test_a_muted_smoke_rule_is_said_when_the_demo_smoke_fires(tmp_path: Path) -> None:
    """`mute smoke 30m` from an earlier try (mutes survive restarts): `simulate smoke on` raised
    nothing, and nothing said why."""
    write_demo_config(tmp_path)
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="mute smoke 30m\nsimulate smoke on\n")
    fired = next(line for line in done.stdout.splitlines() if line.startswith("Simulated smoke detected"))
    # (`Tue 00:00:16` when the 30 minutes end past midnight: a weekday before the time.)
    assert re.search(r"reports it\. Muted: smoke until (\w{3} )?\d\d:\d\d(:\d\d)?\.$", fired), done.stdout


def test_the_demo_terminal_shows_only_answers(tmp_path: Path) -> None:
    """No broker bookkeeping (amqtt's PUBACK and "not broadcasted" warnings), no log line
    repeating an alert the console already shows."""
    write_demo_config(tmp_path)
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml",
                   stdin="simulate smoke on\nack\nsimulate smoke off\n")
    assert "Alert #1 (smoke) acknowledged" in done.stdout
    assert done.stderr == ""


def test_at_a_terminal_the_demo_says_it_is_ready_and_where_the_page_is(tmp_path: Path) -> None:
    # The log is quiet at a terminal: without a line of its own, a new user cannot tell the hub is up.
    import pty
    import select

    write_demo_config(tmp_path)
    main, terminal = pty.openpty()
    hub = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", "config.toml"], cwd=tmp_path,
                           stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    try:
        ready, _, _ = select.select([hub.stdout], [], [], 60)
        assert ready, "nothing printed within 60 s"
        line = hub.stdout.readline()
        assert re.fullmatch(r"maison is ready: type help \(Ctrl-D stops it\); dashboard and web chat at "
                            r"http://127\.0\.0\.1:\d+/\n", line), line
    finally:
        hub.terminate()
        _out, err = hub.communicate(timeout=30)
        os.close(main)
    assert "the console is off" not in err, err


def test_at_a_terminal_without_a_console_section_the_hub_says_so_and_logs(tmp_path: Path) -> None:
    """A config without [adapters.console] (the README's smallest one), run at a terminal: the hub
    says that what is typed is not read and how to change it, and its log shows it is up."""
    import pty
    import select

    config = write_demo_config(tmp_path)
    text = config.read_text(encoding="utf-8")
    start = text.index("[adapters.console]")
    end = text.index("\n[", start + 1)
    config.write_text(text[:start] + text[end + 1:], encoding="utf-8")
    main, terminal = pty.openpty()
    hub = subprocess.Popen([sys.executable, "-m", "chatops.cli", "run", "--config", "config.toml"], cwd=tmp_path,
                           stdin=terminal, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    os.close(terminal)
    seen = ""
    try:
        while "hub ready" not in seen:
            ready, _, _ = select.select([hub.stderr], [], [], 60)
            assert ready, f"nothing more within 60 s: {seen}"
            line = hub.stderr.readline()
            assert line, seen
            seen += line
        assert seen.startswith("chatops: the console is off (config.toml: no [adapters.console] section), so "
                               "what is typed here is not read; add --console to talk to the hub here."), seen
    finally:
        hub.terminate()
        hub.communicate(timeout=30)
        os.close(main)


async def test_the_embedded_broker_keeps_its_bookkeeping_to_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """The warnings amqtt logs when the demo stops (queued messages dropped, acknowledgements of
    deliveries it forgot) are not shown; its other warnings are."""
    async with embedded_broker("127.0.0.1:0", "chatops", "s3cret"):
        with caplog.at_level(logging.INFO):
            logging.getLogger("amqtt.broker").warning("1 messages not broadcasted")
            logging.getLogger("amqtt.mqtt.protocol.handler").warning(
                "Received PUBACK for unknown pending message Id: '3'")
            logging.getLogger("amqtt.broker").warning("Failed to cleanly shutdown broadcast loop")
    shown = [r.getMessage() for r in caplog.records if r.name.startswith("amqtt")]
    assert shown == ["Failed to cleanly shutdown broadcast loop"]


async def test_the_embedded_broker_keeps_a_qos0_publish_that_closes_at_once() -> None:
    """`mosquitto_pub -q 0` writes PUBLISH and DISCONNECT and closes. amqtt sent every new client
    the retained messages of every client's filters (the hub's `homeassistant/#`): left unread,
    they turned that close into a TCP reset, which lost the PUBLISH still unparsed in the broker."""
    import aiomqtt

    def field(text: str) -> bytes:
        return len(text).to_bytes(2, "big") + text.encode()

    async def publish_and_close(port: int, text: str) -> None:            # what mosquitto_pub -q 0 sends
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        connect = field("MQTT") + bytes([4, 0xC2, 0, 30]) + field(text) + field("chatops") + field("s3cret")
        writer.write(bytes([0x10, len(connect)]) + connect)
        assert (await reader.readexactly(4))[3] == 0
        publish = field("chatops/maison/notify") + text.encode()
        writer.write(bytes([0x30, len(publish)]) + publish + b"\xe0\x00")
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    async with embedded_broker("127.0.0.1:0", "chatops", "s3cret") as (host, port), aiomqtt.Client(
            host, port, username="chatops", password="s3cret", identifier="hub") as hub:
        await hub.subscribe([("chatops/maison/notify", 1), ("homeassistant/#", 1)])
        await hub.publish("homeassistant/sensor/maison/config", b"{}", qos=1, retain=True)
        got = []
        async with asyncio.timeout(5):
            async for message in hub.messages:          # its own retained config first
                if message.topic.matches("homeassistant/#"):
                    break
            for n in range(5):
                await publish_and_close(port, f"pub{n}")
            async for message in hub.messages:
                got.append(message.payload)
                if len(got) == 5:
                    break
        assert got == [f"pub{n}".encode() for n in range(5)]


def test_devices_right_after_start_show_the_simulated_readings(tmp_path: Path) -> None:
    write_demo_config(tmp_path)
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="devices\ntemp salon\n")
    assert "no reading yet" not in done.stdout, done.stdout
    assert re.search(r"^salon: \d+\.\d °C$", done.stdout, re.M), done.stdout


def test_a_first_demo_start_has_a_simulated_past_day(tmp_path: Path) -> None:
    write_demo_config(tmp_path)
    first = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="history salon\nhistory heater\n")
    salon, heater = first.stdout.splitlines()[:2]
    readings = int(re.search(r"\(([\d,]+) readings", salon).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert readings > 1000, salon                # a day of readings, every few minutes at least
    assert "simulated" in salon and "simulated" in heater, first.stdout
    assert re.search(r"on \d+ % of the time", heater), heater
    graph = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="graph salon\n")
    assert "[image]" in graph.stdout and "simulated" in graph.stdout, graph.stdout
    # only an empty history gets one: a second start keeps what is there
    again = run_cli(tmp_path, "run", "--console", "--config", "config.toml", stdin="history salon\n")
    count = int(re.search(r"\(([\d,]+) readings", again.stdout).group(1).replace(",", ""))  # type: ignore[union-attr]
    assert readings <= count < readings + 100, (salon, again.stdout)


async def test_the_dashboard_charts_get_the_simulated_day_and_its_mark(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data", simulator={"enabled": True})
    async with running(Hub(settings, tty=False)) as hub, aiohttp.ClientSession() as http:
        assert hub.web is not None
        async with http.get(f"{hub.web.links.base_url}/api/history?device=salon&period=24h&points=288") as answer:
            assert answer.status == 200
            chart = await answer.json()
        # A period past the longest retention only costs the Pi work: it is cut to what is kept.
        async with http.get(f"{hub.web.links.base_url}/api/history?device=salon&period=5000d") as answer:
            assert answer.status == 200
            longest = await answer.json()
            assert longest["until"] - longest["since"] == 365 * 86400
    assert len(chart["points"]) > 200                          # the day is drawn, not an empty line
    # Averages without a sum's float noise (21.639999999999997): six significant digits at most.
    assert all(len(repr(value).replace(".", "").lstrip("-0")) <= 6 for _at, value in chart["points"]), chart["points"][:5]
    assert chart["since"] < chart["simulated_until"] <= chart["until"]


def test_rpc_without_the_xmpp_extra_says_which_to_install() -> None:
    # `chatops rpc` in a venv without slixmpp: a usage error naming the extra, not a traceback.
    run = ("import sys; sys.modules['slixmpp'] = None; from chatops.cli import main; "
           "sys.argv = ['chatops', 'rpc', '--jid', 'a@example.org', '--to', 'b@example.org', 'read', 'salon'];"
           " raise SystemExit(main())")
    result = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True, timeout=30,
                            env={**os.environ, "XMPP_PASSWORD": "x"})
    assert result.returncode == 2, result.stderr
    from chatops.extras import install_hint
    assert result.stderr.strip() == f"chatops rpc: needs the xmpp extra (module slixmpp is missing): {install_hint('xmpp')}"
    assert "-m pip install -e '" in result.stderr, "the source folder, never PyPI's other chatops"


async def test_the_embedded_broker_lets_in_the_hub_only(tmp_path: Path) -> None:
    # Loopback is reachable by every local process: without the hub's secret, no publish on
    # zigbee2mqtt/heater/set (past every permission) and no notification (past every token).
    import aiomqtt

    from chatops.broker import SECRET_FILE
    settings = settings_for(tmp_path / "data", "embedded", mqtt={"embedded_listen": "127.0.0.1:0"})
    async with running(Hub(settings, tty=False)) as hub:
        port = hub.embedded_port
        secret_file = tmp_path / "data" / SECRET_FILE
        assert secret_file.stat().st_mode & 0o777 == 0o600
        for login in ({}, {"username": "anyone-at-all"}, {"username": "chatops", "password": "guess"}):
            with pytest.raises(aiomqtt.MqttError):
                async with aiomqtt.Client("127.0.0.1", port, timeout=5, **login) as intruder:
                    await intruder.publish("zigbee2mqtt/heater/set", '{"state":"ON"}')
        async with aiomqtt.Client("127.0.0.1", port, username="chatops", timeout=5,
                                  password=secret_file.read_text().strip()) as device:
            await device.publish("zigbee2mqtt/heater/set", '{"state":"ON"}', qos=1)
        heater = hub.home.find("heater")
        assert await hub.home.wait_for(heater, lambda reading: reading.value is True, 5) is not None
        first = secret_file.read_text()
    async with running(Hub(settings, tty=False)):
        assert secret_file.read_text() == first, "the same at every start (devices set up with it keep working)"


def test_a_mistyped_option_shows_every_subcommand_in_the_usage_line(capsys: pytest.CaptureFixture[str]) -> None:
    # The networks' subcommands (XMPP's rpc) are loaded on demand; the usage line printed for a
    # typo in a core subcommand's options must still list them.
    from chatops.cli import main

    with pytest.raises(SystemExit) as stopped:
        main(["run", "--confg", "x.toml"])
    assert stopped.value.code == 2
    usage = capsys.readouterr().err
    assert "{run,check,simulate,notify,rpc}" in usage and "unrecognized arguments: --confg" in usage


def test_the_version_is_one_option_away(capsys: pytest.CaptureFixture[str]) -> None:
    from chatops import __version__
    from chatops.cli import main
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out == f"chatops {__version__}\n"


def test_verbose_and_quiet_are_taken_after_the_subcommand_too(tmp_path: Path) -> None:
    """`scripts/demo -v` runs `chatops run --config config.toml -v`: it was refused with
    "unrecognized arguments: -v", -v being taken only before the subcommand."""
    write_demo_config(tmp_path)
    done = run_cli(tmp_path, "run", "--config", "config.toml", "--console", "-v", stdin="whoami\n", timeout=30)
    assert done.returncode == 0, done.stderr
    assert "owner" in done.stdout and " DEBUG " in done.stderr, done.stderr
    before = run_cli(tmp_path, "-q", "check", "--config", "config.toml")
    after = run_cli(tmp_path, "check", "-q", "--config", "config.toml")
    assert before.returncode == after.returncode == 0, after.stderr
    assert before.stdout == after.stdout


def test_the_console_answers_and_stops_when_the_broker_is_down(tmp_path: Path) -> None:
    """A wrong [mqtt] url must not give a terminal that ignores every line and the end of input:
    after a few seconds the console says why the hub is not ready, what to check, and answers."""
    from chatops.testing import free_port
    port = free_port()
    write_demo_config(tmp_path, mqtt_url=f"mqtt://127.0.0.1:{port}")
    done = run_cli(tmp_path, "run", "--console", "--config", "config.toml",
                   stdin="help\nchauffage on\nlampe 40%\nthermostat 21\n")
    assert done.stdout.startswith("Commands:"), done.stdout
    assert "Cannot switch heater: the MQTT broker is not reachable." in done.stdout, done.stdout
    # Every device that is set, not only switched, says why too (it once failed with an incident).
    assert "Cannot drive lampe: the MQTT broker is not reachable." in done.stdout, done.stdout
    assert "Cannot drive thermostat: the MQTT broker is not reachable." in done.stdout, done.stdout
    assert "incident" not in done.stdout
    assert f"maison is not ready after 5s: MQTT is down ([Errno 111] Connection refused: is a broker running at " \
           f"127.0.0.1:{port}? ([mqtt] url))" in done.stderr, done.stderr
