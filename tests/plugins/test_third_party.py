"""An out-of-tree package (tests/plugins/chatops-tcplines, installed by the test command) adds a
network and a command with no file in chatops/ naming either: its users are named in [users],
get the alerts addressed to them, and are refused like anyone else; its command has its own
config section and storage. Real mosquitto; the plugin's network is real TCP on loopback."""

from __future__ import annotations

import ast
import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from chatops.config import ConfigError
from chatops.hub import Hub, running
from chatops.testing import REPO, Mosquitto, settings_for, wait_for

pytestmark = pytest.mark.servers


class Person:
    """A client of the plugin's network."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def connect(cls, port: int, name: str) -> Person:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"HELLO {name}\n".encode())
        return cls(reader, writer)

    async def say(self, text: str) -> str:
        self.writer.write(text.encode() + b"\n")
        return await self.line()

    async def line(self, timeout: float = 10.0) -> str:
        return (await asyncio.wait_for(self.reader.readline(), timeout)).decode().rstrip("\n")


def plugin_settings(tmp_path: Path, mosquitto: Mosquitto, greeting: str = "Salut") -> object:
    return settings_for(tmp_path / "data", mosquitto.url,
                        adapters={"tcplines": {"listen": "127.0.0.1:0"}},
                        plugins={"greeter": {"greeting": greeting}},
                        users={"alice": {"roles": ["family"], "tcplines": ["alice"]}},
                        alerts=[{"name": "smoke", "device": "kitchen_smoke", "when": "on",
                                 "message": "Smoke in the kitchen!", "severity": "critical",
                                 "notify": ["alice"], "repeat": "5m"}])


async def test_a_third_party_network_and_command(tmp_path: Path, mosquitto: Mosquitto) -> None:
    hub = Hub(plugin_settings(tmp_path, mosquitto))
    async with running(hub):
        adapter = hub.adapters["tcplines"]
        await wait_for(lambda: adapter.port != 0)
        alice = await Person.connect(adapter.port, "alice")
        mallory = await Person.connect(adapter.port, "mallory")
        assert (await alice.say("temp salon")).startswith("salon: ")
        assert await alice.say("chauffage on") == "heater is ON"
        refusal = await mallory.say("chauffage off")
        assert refusal.startswith("Sorry, you may not use 'chauffage off' (it needs the switch permission).")
        assert [e["sender"] for e in await hub.store.audit_entries("refused")] == ["tcplines:mallory"]
        # Its command: its own config section and its own storage, kept across calls.
        assert await alice.say("greet") == "Salut, alice! (greeting number 1)"
        assert await mallory.say("greet") == "Salut, mallory! (greeting number 2)"
        assert await hub.store.plugin_value("greeter", "count") == "2"
        # An alert addressed to the user name reaches the user on the plugin's network.
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        assert "Smoke in the kitchen!" in await alice.line()
    for person in (alice, mallory):
        person.writer.close()


async def test_a_plugin_speaks_french_from_its_own_catalogue(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The example plugin ships locale/fr (chatops.i18n.translator); the hub's catalogue has no
    line of it. Alice reads French, Bob English, from the same command."""
    settings = settings_for(tmp_path / "data", mosquitto.url, adapters={"tcplines": {"listen": "127.0.0.1:0"}},
                            users={"alice": {"roles": ["family"], "tcplines": ["alice"], "language": "fr"},
                                   "bob": {"roles": ["family"], "tcplines": ["bob"]}})
    async with running(Hub(settings)) as hub:
        adapter = hub.adapters["tcplines"]
        await wait_for(lambda: adapter.port != 0)
        alice = await Person.connect(adapter.port, "alice")
        bob = await Person.connect(adapter.port, "bob")
        assert await alice.say("greet") == "Hello, alice ! (salutation n°1)"
        assert await bob.say("greet") == "Hello, bob! (greeting number 2)"
        assert await alice.say("aide greet") == "greet — Saluer qui parle et compter les salutations."
        assert await bob.say("help greet") == "greet — Greet the sender and count the greetings."
    for person in (alice, bob):
        person.writer.close()


def test_the_example_plugins_catalogue_is_complete_and_compiled() -> None:
    # Checked in its source tree, as its author does (the installed copy ships the .mo only).
    source = Path(__file__).parent / "chatops-tcplines"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(source), os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, "-m", "chatops.i18n_catalogue", "--plugin", "chatops_tcplines", "--check"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert (result.returncode, result.stdout) == (0, ""), result.stdout + result.stderr


def test_the_catalogue_tool_writes_into_the_sources_not_an_installed_copy(tmp_path: Path) -> None:
    """A plugin installed with a plain `pip install` is imported from site-packages: the tool
    would have written its catalogue there (lost at the next install, missing from the author's
    sources). It stops and says how to install it so that the catalogue lands beside the code."""
    import shutil
    copy = tmp_path / "lib" / "python3" / "site-packages"
    shutil.copytree(Path(__file__).parent / "chatops-tcplines" / "chatops_tcplines", copy / "chatops_tcplines")
    before = sorted(p.relative_to(copy) for p in copy.rglob("*"))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(copy), os.environ.get("PYTHONPATH")) if p))
    result = subprocess.run([sys.executable, "-m", "chatops.i18n_catalogue", "--plugin", "chatops_tcplines"],
                            capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"chatops_tcplines is imported from {copy} (an installed copy, not your sources): install it with " \
           "`pip install -e YOUR_SOURCE_FOLDER`" in result.stderr
    assert sorted(p.relative_to(copy) for p in copy.rglob("*")) == before, "nothing written"


def test_the_plugins_config_is_checked_with_the_usual_errors(tmp_path: Path, mosquitto: Mosquitto) -> None:
    with pytest.raises(ConfigError) as bad:
        settings_for(tmp_path / "data", mosquitto.url, plugins={"greeter": {"greting": "x"}, "nobody": {}},
                     users={"bob": {"roles": [], "tcplines": ["Bob Smith"]}})
    problems = "\n".join(bad.value.problems)
    assert "plugins.greeter.greting: unknown key" in problems
    assert "plugins.nobody: no loaded plugin reads this table" in problems
    assert "users.bob.tcplines: 'Bob Smith' is not a tcplines name" in problems
    with pytest.raises(ConfigError) as empty:
        settings_for(tmp_path / "data", mosquitto.url, plugins={"greeter": ""})
    assert empty.value.problems == ["plugins.greeter: must be a table, not '': write [plugins.greeter] on a line "
                                    "of its own, then its keys (known keys: greeting)"], "an empty value is not a table"


def code_without_prose(path: Path) -> str:
    """The source of `path` without comments and docstrings (prose may name a network as an example)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            body[0] = ast.Pass()
    return ast.unparse(tree)




def test_no_file_in_the_core_names_a_network() -> None:
    """No module of chatops/ names a network or imports a network's library (the shipped ones
    are listed by the adapters package and its entry points)."""
    names = re.compile(r"\b(irc|xmpp|slack|sms|gammu|slixmpp|irc3|slack_sdk|tcplines|matrix|telegram|email|smtp)\b",
                       re.IGNORECASE)
    found = {path.name: sorted(set(m.group(0) for m in names.finditer(code_without_prose(path))))
             for path in sorted((REPO / "chatops").rglob("*.py"))}
    assert {name: words for name, words in found.items() if words} == {}


async def test_a_person_offline_on_a_plugins_network_is_retried_with_backoff(tmp_path: Path,
                                                                              mosquitto: Mosquitto) -> None:
    """The example adapter raises ConnectionError for a person who is not connected, its network
    being up: that is a refusal, retried with backoff (and given up after a day), not a lost
    connection retried every second for ever."""
    settings = plugin_settings(tmp_path, mosquitto)
    settings.alerts[0].notify.append("tcplines:bob")         # never connects
    hub = Hub(settings)
    async with running(hub):
        async with aiomqtt.Client("127.0.0.1", mosquitto.port) as mqtt:
            await mqtt.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)

        def bob() -> tuple[int, float] | None:
            return hub.store.db.execute("SELECT attempts, next_try FROM deliveries WHERE target = 'bob' "
                                        "AND kind = 'raise'").fetchone()
        async with asyncio.timeout(10):
            while (row := await hub.store.call(bob)) is None or row[0] < 2:
                await asyncio.sleep(0.05)
        assert row[1] - hub.clock.time() > 1.5, row              # doubling: 2-4 s after the second try
