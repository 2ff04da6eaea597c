"""chatops.entry_points reads what importlib.metadata reads (pure logic over this venv's metadata)."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from chatops.command import BUILTIN_COMMAND_MODULES
from chatops.entry_points import entry_points
from chatops.testing import write_demo_config

REPO = Path(__file__).resolve().parent.parent


def test_the_same_entry_points_as_importlib_metadata() -> None:
    for group in ("chatops.adapters", "chatops.commands"):
        expected = sorted((point.name, point.value) for point in importlib.metadata.entry_points(group=group))
        assert sorted(entry_points(group)) == expected
    assert dict(entry_points("chatops.adapters"))["irc"] == "adapters.irc_network:NETWORK"
    assert "tcplines" in dict(entry_points("chatops.adapters"))    # the example plugin, installed by the test command


def test_two_packages_may_use_one_entry_name_and_an_unzipped_egg_counts(tmp_path: Path) -> None:
    """Read as importlib.metadata reads them: two packages naming their command module `extra`
    are both loaded, and an unzipped egg's EGG-INFO is read too."""
    for folder in ("aa_plugin-1.0.dist-info", "zz_plugin-1.0.dist-info", "Egg_Plugin-1.0-py3.11.egg/EGG-INFO"):
        info = tmp_path / folder
        info.mkdir(parents=True)
        module = folder.split("-")[0].lower()
        (info / "entry_points.txt").write_text(f"[chatops.commands]\nextra = {module}\n", encoding="utf-8")
        (info / ("PKG-INFO" if "EGG-INFO" in folder else "METADATA")).write_text(
            f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n", encoding="utf-8")
    script = ("import importlib.metadata as md\n"
              "from chatops.entry_points import entry_points\n"
              "ours = sorted(p for p in entry_points('chatops.commands') if p[0] == 'extra')\n"
              "theirs = sorted((e.name, e.value) for e in md.entry_points(group='chatops.commands') if e.name == 'extra')\n"
              "print(ours == theirs, ours)\n")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=f"{tmp_path}:{tmp_path / 'Egg_Plugin-1.0-py3.11.egg'}"))
    assert out.stdout.strip() == ("True [('extra', 'aa_plugin'), ('extra', 'egg_plugin'), ('extra', 'zz_plugin')]"), \
        out.stdout + out.stderr


def test_a_package_on_the_path_is_found_and_a_broken_one_is_skipped_and_shown(tmp_path: Path) -> None:
    """A package declaring a command module that does not import: the hub's commands still
    build, `broken` names it, the log says why; the first copy of a distribution wins."""
    for folder, module in (("first", "no_such_module_here"), ("second", "commands.help")):
        info = tmp_path / folder / "broken_plugin-1.0.dist-info"
        info.mkdir(parents=True)
        (info / "entry_points.txt").write_text(
            f"# a comment\n[console_scripts]\nx = y:z\n\n[chatops.commands]\nbroken = {module}\n", encoding="utf-8")
    script = ("from chatops.command import CommandSet\n"
              "commands = CommandSet.from_modules()\n"
              "print(sorted(commands.broken), commands.find('temp') is not None)\n")
    path = f"{tmp_path / 'first'}:{tmp_path / 'second'}"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO,
                         env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "['broken'] True", out.stderr
    assert "command plugin broken (no_such_module_here) cannot be loaded" in out.stderr


def test_two_packages_claiming_one_command_word_stop_the_hub_with_both_named(tmp_path: Path) -> None:
    """A plugin whose command is called `temp` like the built-in one: `chatops check` and
    `chatops run` stop with exit code 2 (a lasting problem, as a bad config), naming both."""
    site = tmp_path / "site"
    info = site / "clash_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text("[chatops.commands]\nclash = clash_plugin\n", encoding="utf-8")
    (site / "clash_plugin.py").write_text(
        "from chatops.command import command\n\n\n@command('temp')\nasync def temp(ctx):\n    return 'mine'\n",
        encoding="utf-8")
    config = write_demo_config(tmp_path)
    env = with_path(site)
    assert_check_and_run_stop(tmp_path, config, env, "chatops cannot start: commands clash: 'temp' is both the "
                              "command 'temp' of clash_plugin and the command 'temp' of commands.devices. Rename or "
                              "remove one of them.")


def test_a_plugin_command_named_like_a_built_in_alias_takes_the_word(tmp_path: Path) -> None:
    """`hello`, `who` and `qui` are aliases of the built-in greeting and whoami: a plugin whose
    commands have those names or aliases (the first plugin people write is `hello`) runs them,
    instead of stopping the hub as a clash; the built-in commands keep their other words, and
    the log says so."""
    site = tmp_path / "site"
    info = site / "hello_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text("[chatops.commands]\nhello = hello_plugin\n", encoding="utf-8")
    (site / "hello_plugin.py").write_text(
        "from chatops.command import command\n\n\n@command('hello', permission='help')\nasync def hello(ctx):\n"
        "    return 'hello from the plugin'\n\n\n@command('who', permission='help')\nasync def who(ctx):\n"
        "    return 'nobody home'\n\n\n@command('presence', aliases=['qui'], permission='help')\n"
        "async def presence(ctx):\n    return 'alice est là'\n", encoding="utf-8")
    config = write_demo_config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "-v", "run", "--console", "--config", str(config)],
                         cwd=tmp_path, capture_output=True, text=True, env=with_path(site), timeout=60,
                         input="hello\nwho\nhi\nwhoami\nhelp hi\nqui\n")
    assert out.returncode == 0, out.stderr
    said = [line for line in out.stdout.splitlines() if line.strip()]
    assert said[:3] == ["hello from the plugin", "nobody home", "Hello owner! Say help for what I can do."], said
    assert said[3].startswith("You are "), said
    # Its usage names a word it still has: `hello` would run the plugin's command.
    assert said[4] == "hi — Say hello; the hub answers with where to start. (also: hey)", said
    assert said[5] == "alice est là", "a plugin's alias takes a built-in alias too (whoami's qui)"
    assert "command word 'hello' is the command 'hello' of hello_plugin; the command 'greeting' of commands.help " \
           "keeps its other words" in out.stderr


def test_a_plugin_command_named_daily_takes_the_word(tmp_path: Path) -> None:
    """`daily` says a schedule from its day (`daily at 06:30 …`): a plugin's own `daily` (a
    digest) takes the word, as a plugin's `hello` does, instead of stopping the hub ("commands
    clash: 'daily' is both…"); `everyday at 06:30 …` and the days' names still say a schedule."""
    from chatops.command import CommandSet, command
    from chatops.hub import Hub
    from chatops.testing import settings_for

    @command("daily", permission="help")
    async def digest(ctx: object) -> str:
        return "the day's digest"

    builtin = Hub(settings_for(tmp_path, simulator={"enabled": False}), tty=False).commands.specs
    commands = CommandSet([*builtin, digest.__chatops_command__])     # type: ignore[attr-defined]
    assert commands.find("daily").func is digest                     # type: ignore[union-attr]
    assert commands.find("everyday") is commands.find("monday") is commands.find("lundi") is not None
    assert commands.find("monday").func.__module__ == "commands.timers"  # type: ignore[union-attr]


def with_path(site: Path) -> dict[str, str]:
    """The environment of a hub with `site` on its path, before what the tests' own path holds
    (the example plugin: tests/conftest.py)."""
    return dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(site), os.environ.get("PYTHONPATH")) if p))


def assert_check_and_run_stop(tmp_path: Path, config: Path, env: dict[str, str], said: str) -> None:
    """`chatops check` and `chatops run` both stop with exit code 2 (a lasting problem, as a bad
    config: systemd does not restart it in a loop), saying `said`, never with a traceback."""
    for verb in ("check", "run"):
        out = subprocess.run([sys.executable, "-m", "chatops.cli", verb, "--config", str(config)], cwd=tmp_path,
                             capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=60)
        assert out.returncode == 2, (verb, out.stderr)
        assert said in out.stderr, out.stderr
        assert "Traceback" not in out.stderr


def test_the_built_in_command_modules_are_the_entry_points() -> None:
    """BUILTIN_COMMAND_MODULES (read without package metadata) and pyproject's entry points say the same."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert sorted(project["project"]["entry-points"]["chatops.commands"].values()) == sorted(BUILTIN_COMMAND_MODULES)
    installed = [path for _name, path in entry_points("chatops.commands") if path.startswith("commands.")]
    assert sorted(installed) == sorted(BUILTIN_COMMAND_MODULES)        # the example plugin's are its own


def status_with_network_plugin(tmp_path: Path, distribution: str, entry: str) -> subprocess.CompletedProcess[str]:
    """`status` said to the demo hub with a distribution on its path that declares the
    `chatops.adapters` entry point `entry` (as pip would leave it: a dist-info folder)."""
    site = tmp_path / "site"
    info = site / f"{distribution}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(f"[chatops.adapters]\n{entry}\n", encoding="utf-8")
    config = write_demo_config(tmp_path)
    return subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                          cwd=tmp_path, capture_output=True, text=True, input="status\n", timeout=60,
                          env=with_path(site))


def test_a_broken_network_plugin_is_left_out_and_status_names_it(tmp_path: Path) -> None:
    """A network plugin whose module does not import: the hub starts without it and `status` says
    which and why (the hub's own networks still work)."""
    out = status_with_network_plugin(tmp_path, "broken_net", "brokennet = no_such_network_module:NETWORK")
    assert out.returncode == 0, out.stderr
    assert "plugin brokennet: NOT LOADED (ModuleNotFoundError: No module named 'no_such_network_module')" \
        in out.stdout, out.stdout
    assert "network plugin brokennet (no_such_network_module:NETWORK) cannot be loaded" in out.stderr


def test_a_network_plugin_that_takes_a_built_in_name_is_refused(tmp_path: Path) -> None:
    """A plugin registering `irc` would replace how IRC senders match people (who is alice): it is
    left out, the built-in IRC stays, and `status` names the plugin and why."""
    out = status_with_network_plugin(tmp_path, "fake_irc", "irc = fake_irc_module:NETWORK")
    assert out.returncode == 0, out.stderr
    assert "plugin irc (fake_irc_module:NETWORK): NOT LOADED (the network name 'irc' is taken by " \
           "adapters.irc_network:NETWORK; rename the plugin's)" in out.stdout, out.stdout
    assert "network plugin irc (fake_irc_module:NETWORK) not loaded: the name is taken" in out.stderr


def test_a_broken_command_plugin_with_its_table_is_left_out_and_the_hub_starts(tmp_path: Path) -> None:
    """A command plugin that fails to import, its `[plugins.NAME]` table in config.toml: the hub
    starts without it (the table waits for it), `status` says why, as without the table."""
    site = tmp_path / "site"
    info = site / "weather_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text("[chatops.commands]\nweather = weather_plugin\n", encoding="utf-8")
    (site / "weather_plugin.py").write_text("import requests_not_installed\n", encoding="utf-8")
    config = write_demo_config(tmp_path, extra='\n[plugins.weather]\ncity = "Paris"\n')
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                         cwd=tmp_path, capture_output=True, text=True, input="status\n", timeout=60,
                         env=with_path(site))
    assert out.returncode == 0, out.stderr
    assert "plugin weather: NOT LOADED (ModuleNotFoundError: No module named 'requests_not_installed')" \
        in out.stdout, out.stdout


def test_a_plugin_raising_at_import_or_in_its_validator_gets_a_sentence_not_a_traceback(tmp_path: Path) -> None:
    """A command module raising RuntimeError at import is left out (its table, declared under
    another name, only warned about); a validator of a plugin's schema raising TypeError stops
    `check` and `run` with exit code 2 and the table named, never a traceback."""
    site = tmp_path / "site"
    info = site / "two_plugins-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text("[chatops.commands]\nboom = boom_plugin\nmeteo = meteo_plugin\n",
                                           encoding="utf-8")
    (site / "boom_plugin.py").write_text("raise RuntimeError('no weather today')\n", encoding="utf-8")
    (site / "meteo_plugin.py").write_text(
        "from chatops.command import command\nfrom chatops.config import Section\n"
        "from chatops.schema import field_validator\n\n\n"
        "class Settings(Section):\n    city: str = 'Paris'\n\n"
        "    @field_validator('city')\n    @classmethod\n    def known(cls, value):\n"
        "        if value == 'Atlantis':\n            raise TypeError('cities are str')\n        return value\n\n\n"
        "CONFIG = ('meteo', Settings)\n\n\n"
        "@command('meteo')\nasync def meteo(ctx):\n    return f'sunny in {ctx.plugin.settings.city}'\n",
        encoding="utf-8")
    env = with_path(site)
    config = write_demo_config(tmp_path, extra='\n[plugins.meteo]\ncity = "Lyon"\n[plugins.boom_settings]\nx = 1\n')
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                         cwd=tmp_path, capture_output=True, text=True, input="status\nmeteo\n", timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "plugin boom: NOT LOADED (RuntimeError: no weather today)" in out.stdout, out.stdout
    assert "sunny in Lyon" in out.stdout
    assert ("plugins.boom_settings: no loaded plugin reads this table; tables the loaded plugins read: greeter, meteo; "
            "failed to load: boom (RuntimeError: no weather today)") in out.stderr, out.stderr
    assert out.stderr.count("command plugin boom (boom_plugin) cannot be loaded") == 1, out.stderr
    config = write_demo_config(tmp_path, extra='\n[plugins.meteo]\ncity = "Atlantis"\n')
    assert_check_and_run_stop(tmp_path, config, env, "plugins.meteo: the plugin's own check of this table failed "
                              "(TypeError: cities are str); fix the table, or report it to the plugin's author")


def test_a_network_plugin_raising_anywhere_is_left_out_and_check_and_run_say_so(tmp_path: Path) -> None:
    """Its settings or adapter module raising on import, or its Network module: `check` and
    `run` once stopped with a traceback (exit 1: systemd restarts that in a loop) or called the
    configured network unknown. Now the hub starts without it, whatever the config says of it,
    and both name the plugin and why; a role granting a broken command plugin's permission is
    a warning in `check` too, since `run` starts all the same."""
    site = tmp_path / "site"
    info = site / "tcpnet_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(
        "[chatops.adapters]\ntcpnet = tcpnet_network:NETWORK\nnonet = nonet_network:NETWORK\n"
        "setnet = setnet_network:NETWORK\n[chatops.commands]\nweather = weather_plugin\n", encoding="utf-8")
    for name, adapter, settings in (("tcpnet", "tcpnet_adapter", "tcpnet_settings"),
                                    ("setnet", "setnet_adapter", "setnet_settings")):
        (site / f"{name}_network.py").write_text(
            "from chatops.networks import Network\n"
            f"NETWORK = Network(name='{name}', adapter='{adapter}:Adapter', settings='{settings}:Settings')\n",
            encoding="utf-8")
    (site / "tcpnet_settings.py").write_text(
        "from chatops.config import AdapterSettings\n\n\nclass Settings(AdapterSettings):\n    port: int = 7000\n",
        encoding="utf-8")
    (site / "tcpnet_adapter.py").write_text("raise RuntimeError('socket library too old')\n", encoding="utf-8")
    (site / "setnet_settings.py").write_text("raise KeyError('no such setting')\n", encoding="utf-8")
    (site / "nonet_network.py").write_text("raise ValueError('bad network module')\n", encoding="utf-8")
    (site / "weather_plugin.py").write_text("raise RuntimeError('no weather today')\n", encoding="utf-8")
    env = with_path(site)
    config = write_demo_config(tmp_path, extra='\n[adapters.tcpnet]\nport = 7000\n[adapters.nonet]\n[adapters.setnet]\n'
                                               '[users.alice]\nroles = ["weatherfans"]\ntcpnet = ["127.0.0.2"]\n'
                                               'nonet = ["x"]\n[roles.weatherfans]\n')
    text = config.read_text(encoding="utf-8").replace("[roles.weatherfans]\n", "")
    text = text.replace("[roles]\n", '[roles]\nweatherfans = ["weather"]\n', 1)
    config.write_text(text, encoding="utf-8")
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0, checked.stderr
    for line in ("warning: plugin tcpnet failed to load, and the hub starts without it: its adapter module failed "
                 "to import: RuntimeError: socket library too old",
                 "warning: plugin setnet failed to load, and the hub starts without it: its settings module failed "
                 "to import: KeyError: 'no such setting'",
                 "warning: plugin nonet failed to load, and the hub starts without it: ValueError: bad network module",
                 "warning: plugin weather failed to load, and the hub starts without it: RuntimeError: no weather today",
                 "warning: roles.weatherfans: 'weather' is neither a permission nor a role"):
        assert line in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                         cwd=tmp_path, capture_output=True, text=True, input="status\ntemp salon\n", timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "plugin tcpnet: NOT LOADED (its adapter module failed to import: RuntimeError: socket library too old)" \
        in out.stdout, out.stdout
    assert "plugin setnet: NOT LOADED (its settings module failed to import: KeyError: 'no such setting')" in out.stdout
    assert "plugin nonet: NOT LOADED (ValueError: bad network module)" in out.stdout
    assert "salon: " in out.stdout and "Traceback" not in out.stderr
    # Enabled, its adapter is down with the reason wherever networks are listed (/health, the
    # metrics, Home Assistant), not gone from them.
    assert "tcpnet: DOWN (plugin NOT LOADED: its adapter module failed to import" in out.stdout, out.stdout


def test_a_plain_def_handler_and_two_plugins_sharing_a_table_are_said_at_once(tmp_path: Path) -> None:
    """A plain `def` handler once loaded, then failed on every call (`str can't be used in
    'await'`): now its module is left out, saying why. Two modules declaring one CONFIG name
    once shared settings and storage silently: now a config problem naming both."""
    site = tmp_path / "site"
    info = site / "trio-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(
        "[chatops.commands]\nsyncy = syncy_plugin\nw1 = weather_one\nw2 = weather_two\n", encoding="utf-8")
    (site / "syncy_plugin.py").write_text(
        "from chatops.command import command\n\n\n@command('syncy')\ndef syncy(ctx):\n    return 'hi'\n",
        encoding="utf-8")
    for module, key in (("weather_one", "units"), ("weather_two", "colour")):
        (site / f"{module}.py").write_text(
            f"from chatops.config import Section\n\n\nclass Settings(Section):\n    {key}: str = 'x'\n\n\n"
            "CONFIG = ('weather', Settings)\n", encoding="utf-8")
    env = with_path(site)
    config = write_demo_config(tmp_path)
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 2, checked.stderr
    assert ("plugins.weather: both weather_one and weather_two declare this table (CONFIG); rename one of them, "
            "each plugin needs its own") in checked.stderr
    assert ("command plugin syncy (syncy_plugin) cannot be loaded: TypeError: command 'syncy': 'syncy' must be "
            "`async def`") in checked.stderr, checked.stderr
    assert "Traceback" not in checked.stderr


def network_plugin(tmp_path: Path, name: str, modules: dict[str, str]) -> Path:
    """A site folder holding network plugin `name` as pip leaves one (a dist-info folder whose
    entry point is `{name}_net:NETWORK`) and its modules; the network module gets the imports
    every network module has."""
    site = tmp_path / "site"
    info = site / f"{name}_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "entry_points.txt").write_text(f"[chatops.adapters]\n{name} = {name}_net:NETWORK\n", encoding="utf-8")
    for module, text in modules.items():
        head = "from chatops.config import AdapterSettings\nfrom chatops.networks import Network\n" \
            if module == f"{name}_net" else ""
        (site / f"{module}.py").write_text(head + text, encoding="utf-8")
    return site


def test_a_network_plugin_whose_adapter_or_subcommands_break_leaves_the_hub_and_the_cli_working(tmp_path: Path) -> None:
    """Its adapter module imports a library it never declared (`requires`), its `cli` module
    raises: `run` starts without the network and `status` says why (no traceback and restart
    loop), `check` lists it as not loaded, and `chatops --help` still works, with a warning."""
    site = network_plugin(tmp_path, "badlib", {
        "badlib_net": "class Settings(AdapterSettings):\n    pass\n\n\n"
                      "NETWORK = Network(name='badlib', adapter='badlib_adapter:Adapter',\n"
                      "                  settings='badlib_net:Settings',\n"
                      "                  cli='badlib_cli:add_parser')\n",
        "badlib_adapter": "import nonexistent_lib_xyz\n",
        "badlib_cli": "def add_parser(sub):\n    raise RuntimeError('half-written')\n"})
    config = write_demo_config(tmp_path, extra="\n[adapters.badlib]\n")
    env = with_path(site)

    def chatops(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "chatops.cli", *args], cwd=tmp_path, capture_output=True,
                              text=True, input=stdin, timeout=60, env=env)
    out = chatops("run", "--console", "--config", str(config), stdin="status\ntemp salon\n")
    assert out.returncode == 0, out.stderr
    assert "plugin badlib: NOT LOADED (its adapter module failed to import: ModuleNotFoundError: No module named " \
           "'nonexistent_lib_xyz')" in out.stdout, out.stdout
    assert "salon: " in out.stdout
    assert "Traceback" not in out.stderr
    out = chatops("check", "--config", str(config))
    assert "badlib NOT LOADED (see above)" in out.stdout, (out.stdout, out.stderr)
    out = chatops("--help")
    assert out.returncode == 0 and "run" in out.stdout, out.stderr
    assert "warning: the badlib plugin's subcommands are left out: badlib_cli:add_parser raised RuntimeError: " \
           "half-written" in out.stderr


def test_a_network_plugin_whose_declared_library_is_missing_is_left_out_not_fatal(tmp_path: Path) -> None:
    """Declaring `requires`, as docs/plugins.md asks, made a missing library worse than not
    declaring it: `check` and `run` refused the whole config, every other network down with it.
    Now the plugin is left out, naming the module, and the hub runs."""
    site = network_plugin(tmp_path, "needslib", {
        "needslib_net": "class Settings(AdapterSettings):\n    pass\n\n\n"
                        "NETWORK = Network(name='needslib', adapter='needslib_net:Settings', settings='needslib_net:Settings',\n"
                        "                  requires=('nonexistent_lib_zz',))\n"})
    config = write_demo_config(tmp_path, extra="\n[adapters.needslib]\n")
    env = with_path(site)
    checked = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)], cwd=tmp_path,
                             capture_output=True, text=True, env=env, timeout=60)
    assert checked.returncode == 0, checked.stderr
    assert "warning: plugin needslib failed to load, and the hub starts without it: a module it requires failed to " \
           "import: ModuleNotFoundError: its plugin needs the module nonexistent_lib_zz, which is not installed" \
           in checked.stderr, checked.stderr
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                         cwd=tmp_path, capture_output=True, text=True, input="status\ntemp salon\n", timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    assert "needslib: DOWN (plugin NOT LOADED: a module it requires failed to import" in out.stdout, out.stdout
    assert "salon: " in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("broken", ["validator", "identity_problem"])
def test_a_network_plugins_own_checks_that_crash_are_sentences_not_tracebacks(tmp_path: Path, broken: str) -> None:
    """A validator of its `[adapters.NAME]` schema raising TypeError, an `identity_problem`
    raising KeyError: `check` and `run` stop with exit 2 and the key named (as for any wrong
    table), never with a traceback that systemd would restart for ever."""
    site = network_plugin(tmp_path, "crashy", {
        "crashy_net": "from chatops.schema import field_validator\n\n\n"
                      "class Settings(AdapterSettings):\n    room: str = 'hall'\n\n"
                      "    @field_validator('room')\n    @classmethod\n    def known(cls, value):\n"
                      "        if value == 'attic':\n            raise TypeError('rooms are str')\n"
                      "        return value\n\n\n"
                      "def identity_problem(pattern):\n    return {'alice': None}[pattern]\n\n\n"
                      "NETWORK = Network(name='crashy', adapter='crashy_net:Settings',\n"
                      "                  settings='crashy_net:Settings',\n"
                      "                  identity_problem=identity_problem)\n"})
    extra = '\n[adapters.crashy]\nroom = "attic"\n' if broken == "validator" else \
        '\n[adapters.crashy]\n[users.bob]\nroles = ["guest"]\ncrashy = ["bob"]\n'
    config = write_demo_config(tmp_path, extra=extra)
    said = "adapters.crashy: the network's own check of this table failed (TypeError: rooms are str)" \
        if broken == "validator" else \
        "users.bob.crashy: the crashy network's identity_problem failed on 'bob' (KeyError: 'bob')"
    assert_check_and_run_stop(tmp_path, config, with_path(site), said)


def test_a_plugin_cli_that_imports_what_it_never_declared_is_said(tmp_path: Path) -> None:
    """`chatops chatlog` answered "invalid choice": the plugin's cli module imported a library
    it does not declare, and that was logged at debug level only, as for a built-in extra."""
    site = network_plugin(tmp_path, "chatlog", {
        "chatlog_net": "NETWORK = Network(name='chatlog', adapter='chatlog_net:Adapter', cli='chatlog_cli:add')\n",
        "chatlog_cli": "import nonexistent_cli_lib\n\n\ndef add(sub):\n    pass\n"})
    out = subprocess.run([sys.executable, "-m", "chatops.cli", "--help"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60, env=with_path(site))
    assert out.returncode == 0, out.stderr
    assert "warning: the chatlog plugin's subcommands are left out: chatlog_cli:add cannot import " \
           "nonexistent_cli_lib (not among its requires" in out.stderr, out.stderr


def test_a_config_declared_in_the_wrong_shape_is_said() -> None:
    """`CONFIG = ["clash", Settings]` was ignored: its table reported unread, the handler's
    `ctx.plugin.settings` None."""
    import types

    from chatops.plugins import validate_sections

    module = types.ModuleType("chatops_clash.cmds")
    module.CONFIG = ["clash", object]        # type: ignore[attr-defined]
    _sections, problems = validate_sections([module], {})
    assert problems == ["CONFIG of chatops_clash.cmds must be a tuple (\"NAME\", Settings), a Section subclass as "
                        "Settings; it is list ['clash', <class 'object'>]"], problems


def test_a_misspelled_entry_point_group_is_warned_of(monkeypatch: pytest.MonkeyPatch) -> None:
    """`[project.entry-points."chatops.command"]`: check said OK, the command was not there."""
    import chatops.entry_points as found

    monkeypatch.setattr(found, "_installed", lambda: {"chatops.command": [("colour", "chatops_clash.cmds")],
                                                      "chatops.commands": []})
    assert found.unread_groups(("chatops.commands", "chatops.adapters")) == [
        "an installed package declares entry points in group chatops.command, which the hub does not read; did you "
        "mean chatops.commands?"]
