"""Config loading: good files pass, broken ones are refused with the key path and a fix."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.conditions import Condition

from chatops.extras import install_hint
from chatops.config import ConfigError, Settings, load_settings, parse_settings
from chatops.durations import parse_duration
from chatops.testing import DEMO_CONFIG, settings_for


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value.problems


def test_shipped_config_is_valid() -> None:
    settings = load_settings(DEMO_CONFIG)
    assert settings.mqtt.url == "embedded"
    assert settings.devices["heater"].aliases == ["chauffage"]
    assert settings.alerts[0].repeat_every == 300


def test_wrong_type_names_the_key_and_gives_an_example(tmp_path: Path) -> None:
    problems = problems_of('[web]\nlisten = "127.0.0.1:8080"\n[mqtt]\nkeepalive = "often"\n', tmp_path)
    assert len(problems) == 1
    assert problems[0].startswith("mqtt.keepalive:")
    assert "'often'" in problems[0] and "for example: keepalive = 30" in problems[0]


@pytest.mark.parametrize("name", ["Maison #2", "home+garden", "a/b"])
def test_a_hub_name_that_breaks_its_mqtt_topics_is_refused(name: str, tmp_path: Path) -> None:
    """The name is a topic level (chatops/NAME/status): `#` there made mosquitto drop every
    connection, and the hub retried for ever with "nothing answered"."""
    [problem] = problems_of(f'[hub]\nname = "{name}"\n', tmp_path)
    assert problem.startswith("hub.name: the name is part of MQTT topics"), problem
    assert load_settings_text('[hub]\nname = "Maison 2"\n', tmp_path).hub.name == "Maison 2"


def load_settings_text(text: str, tmp_path: Path) -> Settings:
    path = tmp_path / "ok.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


@pytest.mark.parametrize("kind, section, module", [
    ("irc", '[adapters.irc]\nhost = "irc.libera.chat"\nchannels = ["#maison"]\n', "irc3"),
    ("xmpp", '[adapters.xmpp]\njid = "maison@example.org"\npassword_env = "X"\n', "slixmpp"),
])
def test_an_adapter_whose_library_is_missing_names_its_extra(kind: str, section: str, module: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # The library of an enabled network is missing (a venv made with another extra): check and
    # run say which extra to install, instead of "OK" and then a traceback at start.
    monkeypatch.setitem(sys.modules, module, None)          # `import irc3` raises ImportError
    monkeypatch.delitem(sys.modules, f"adapters.{kind}", raising=False)
    assert problems_of(section, tmp_path) == \
        [f"adapters.{kind}: needs the {kind} extra (module {module} is missing): {install_hint(kind)}"]
    disabled = tmp_path / "disabled.toml"
    disabled.write_text(section.replace("]\n", "]\nenabled = false\n", 1), encoding="utf-8")
    assert load_settings(disabled).adapter_sections, "a disabled network needs no library"


def test_the_embedded_broker_listens_on_loopback_only(tmp_path: Path) -> None:
    """It has no passwords: on 0.0.0.0 anyone on the network could switch the heater."""
    problems = problems_of('[mqtt]\nurl = "embedded"\nembedded_listen = "0.0.0.0:1883"\n', tmp_path)
    assert len(problems) == 1 and problems[0].startswith("mqtt: embedded_listen '0.0.0.0:1883': the embedded broker")
    assert 'run mosquitto with passwords and set url = "mqtt://HOST:1883"' in problems[0]
    for listen in ("127.0.0.1:1884", "localhost:1884", "127.0.0.2:1884"):
        assert load_settings_text(f'[mqtt]\nembedded_listen = "{listen}"\n', tmp_path).mqtt.embedded_listen == listen
    remote = '[mqtt]\nurl = "mqtt://192.168.1.10:1883"\nembedded_listen = "0.0.0.0:1883"\n'   # unused: fine
    assert load_settings_text(remote, tmp_path).mqtt.url == "mqtt://192.168.1.10:1883"


def load_settings_text(text: str, tmp_path: Path) -> Settings:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_settings(path)


def test_unknown_key_is_an_error_listing_known_keys(tmp_path: Path) -> None:
    problems = problems_of('[hub]\nnmae = "x"\n[adapters.ircc]\n[adapters.console]\nenabled = "atuo"\n', tmp_path)
    assert problems[0].startswith("hub.nmae: unknown key; did you mean 'name'? Known keys here: name, ")
    assert any(p.startswith("adapters.ircc: unknown adapter; did you mean 'irc'? Known ones are ") for p in problems)
    assert "adapters.console.enabled: Input should be a valid boolean or 'auto' (got 'atuo')" in problems, problems


def test_a_key_added_at_the_end_of_the_file_is_said_to_belong_to_its_table(tmp_path: Path) -> None:
    """`language = "fr"` appended to config.toml lands in its last table: the error named only the
    keys of [[automations]], not where the key goes."""
    text = DEMO_CONFIG.read_text(encoding="utf-8") + 'language = "fr"\n'
    assert problems_of(text, tmp_path) == [
        "automations[2] (frost guard).language: unknown key; language is a key of [hub]: a key belongs to "
        "the table whose header is above it, so move it under [hub]"]
    problems = problems_of('[simulator]\nembedded_listen = "127.0.0.1:1884"\n', tmp_path)
    assert problems[0].endswith("embedded_listen is a key of [mqtt]: a key belongs to the table whose header "
                                "is above it, so move it under [mqtt]"), problems
    # A key of no section, or of several, keeps the list of the keys known there.
    assert problems_of('[hub]\nbogus = 1\n', tmp_path)[0].startswith("hub.bogus: unknown key; known keys here: ")


def test_a_value_outside_its_list_names_the_list_and_the_closest(tmp_path: Path) -> None:
    problems = problems_of('[devices.x]\ntype = "sensr"\ntopic = "a/b"\n', tmp_path)
    assert "devices.x.type: 'sensr' is not one of sensor, binary_sensor, switch, camera, light, climate, cover, " \
           "number, select; did you mean 'sensor'?" in problems, problems


def test_unknown_device_key_lists_the_names_users_write(tmp_path: Path) -> None:
    problems = problems_of('[devices.salon]\ntype = "sensor"\ntopik = "zigbee2mqtt/salon"\n', tmp_path)
    assert problems[0].startswith("devices.salon.topik: unknown key; did you mean 'topic'? Known keys here: type, "
                                  "topic (or state_topic), command_topic, value, unit, ")


def test_notify_naming_an_unknown_user_lists_the_users() -> None:
    rule = {"name": "a", "device": "s", "notify": ["bob"]}
    devices = {"s": {"type": "sensor", "topic": "t"}}
    with pytest.raises(ConfigError) as caught:
        parse_settings({"users": {"owner": {}, "alice": {}}, "devices": devices, "alerts": [rule]})
    assert caught.value.problems == [
        "alerts[0] (a).notify: 'bob' is neither a user name nor an address such as \"irc:#maison\" or "
        "\"xmpp:alice@example.org\"; users: alice, owner"]
    with pytest.raises(ConfigError) as caught:
        parse_settings({"devices": devices, "alerts": [rule]})
    assert caught.value.problems[0].endswith("; no [users] are defined")


def test_secret_written_in_the_file_is_refused(tmp_path: Path) -> None:
    problems = problems_of('[mqtt]\nurl = "mqtt://h:1883"\npassword = "hunter2"\n', tmp_path)
    assert any("mqtt.password" in p and "password_env" in p for p in problems)
    assert not any("hunter2" in p for p in problems)


def test_bad_device_and_alert_references(tmp_path: Path) -> None:
    problems = problems_of(
        '[devices.lamp]\ntype = "switch"\ntopic = "a/b"\n'
        '[devices.t]\ntype = "thermometer"\ntopic = "x"\n'
        '[[alerts]]\nname = "x"\ndevice = "nope"\nwhen = "sometimes"\nnotify = ["bob"]\n', tmp_path)
    text = "\n".join(problems)
    assert "devices.lamp: a switch needs command_topic" in text
    assert "devices.t.type" in text and "sensor" in text
    assert "alerts[0]" in text and "not a condition" in text


def test_cross_references_are_checked() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"hub": {"default_role": "nobody"},
                        "users": {"bob": {"roles": ["ghost"], "irc": ["bob"]}},
                        "devices": {"s": {"type": "sensor", "topic": "t"}},
                        "alerts": [{"name": "a", "device": "missing", "notify": ["carol"]}]})
    text = "\n".join(caught.value.problems)
    assert "hub.default_role" in text
    assert "users.bob.roles: role 'ghost'" in text
    assert "users.bob.irc" in text and "names a nick and nothing else" in text
    assert "alerts[0] (a).device: no device named 'missing'" in text
    assert "alerts[0] (a).notify: 'carol'" in text


def test_a_condition_the_device_can_never_meet_is_refused() -> None:
    """`lampe > 50` (a light is on or off), `volet = ouvert` (a shutter's value is its position):
    they would never fire, silently. `heater = on` and `volet = open` are `on`, and pass."""
    devices = {"lampe": {"type": "light", "topic": "l", "command_topic": "l/set"},
               "volet": {"type": "cover", "topic": "v", "command_topic": "v/set"},
               "heater": {"type": "switch", "topic": "h", "command_topic": "h/set"}}
    with pytest.raises(ConfigError) as caught:
        parse_settings({"users": {"owner": {"console": ["*"]}}, "devices": devices,
                        "alerts": [{"name": "bright", "device": "lampe", "when": "> 50", "notify": ["owner"]}],
                        "automations": [{"name": "a", "when": "volet = ouvert", "do": ["read volet"], "owner": "owner"},
                                        {"name": "b", "when": "heater = on", "only_if": ["volet = open"],
                                         "do": ["read volet"], "owner": "owner"}]})
    assert caught.value.problems == [
        "alerts[0] (bright).when: '> 50' never holds: a light's value is on or off (its brightness is no "
        "reading); write \"on\" or \"off\" instead",
        "automations[0] (a): 'volet = ouvert' never holds: a cover's value is a number (a shutter's is its "
        "position in %), not a word; write \"on\" (above 0: open), \"off\" (0: closed) or a comparison such as "
        "\"> 50\""]
    assert Condition.parse("= on").holds(True, None) and Condition.parse("= open").holds(30.0, None)
    assert Condition.parse("= closed").holds(0.0, None) and not Condition.parse("= on").holds(False, None)


@pytest.mark.parametrize("pattern", ["bob", "bob!*@*", "*!*@*", "bob!?*@**", "bob!*", "bob!~bob@*",
                                     "*!*@*:*", "*!*@*/*", "*!*@*.com", "*!*@1*", "*!*@*example.org"])
def test_an_irc_pattern_that_is_a_nick_in_disguise_is_refused(pattern: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"users": {"bob": {"roles": [], "irc": [pattern]}}})
    [problem] = caught.value.problems
    assert problem.startswith("users.bob.irc: ") and "names a nick and nothing else" in problem
    assert "account:NAME" in problem and "nick!user@host.example" in problem and "*!*@192.0.2.10" in problem


@pytest.mark.parametrize("pattern", ["account:bob", "bob!*@home.example.org", "*!*@192.0.2.10", "*!*@*.example.org",
                                     "*!*@192.0.2.*", "*!*@2001:db8:*", "*!*@user/bob"])
def test_irc_patterns_that_name_more_than_a_nick_are_accepted(pattern: str) -> None:
    assert parse_settings({"users": {"bob": {"roles": [], "irc": [pattern]}}}).users["bob"].irc == [pattern]


def test_web_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"web": {"listen": "0.0.0.0:8080"}})
    assert "web" in caught.value.problems[0] and "token" in caught.value.problems[0]


def test_unknown_adapter_and_bad_toml(tmp_path: Path) -> None:
    unknown = problems_of("[adapters.telegraph]\n", tmp_path)[0]
    assert "adapters.telegraph: unknown adapter" in unknown and unknown.endswith(
        "(a network from a plugin is known once its package is installed: docs/plugins.md)"), unknown
    assert "not valid TOML" in problems_of("[hub\nname=1", tmp_path)[0]


def test_the_commonest_slips_are_answered_in_toml_words(tmp_path: Path) -> None:
    """A table added twice (a guide says "set data_dir in [hub]", so [hub] goes at the end again),
    a key set twice, [alerts] for [[alerts]], a user or role written as a value: each answer
    says what to write, with no validator class or Python tuple in it."""
    shipped = Path(__file__).parent.parent.joinpath("config.toml").read_text(encoding="utf-8")
    first = next(n for n, line in enumerate(shipped.splitlines(), 1) if line.strip() == "[hub]")
    last = len(shipped.splitlines()) + 2
    assert problems_of(shipped + '\n[hub]\ndata_dir = "/var/lib/chatops"\n', tmp_path)[0].endswith(
        f"not valid TOML: [hub] appears twice (lines {first} and {last}): put the keys of the second into the "
        "first, and delete the second [hub]")
    assert problems_of('[hub]\nname = "a"\nname = "b"\n', tmp_path)[0].endswith(
        'not valid TOML: line 3 (name = "b") sets a key that is already set in the same table: keep one of the two')
    assert problems_of('[alerts]\nname = "smoke"\n', tmp_path)[0].startswith(
        "alerts: each entry is its own [[alerts]] table, with double brackets (known keys: name, device, when,")
    users = problems_of('[users]\nalice = "admin"\n', tmp_path)[0]
    assert users.startswith("users.alice: must be a table, not 'admin': write [users.alice] on a line of its own")
    assert "UserSettings" not in users
    assert problems_of("[roles.k]\n", tmp_path) == ['roles.k: must be a list, not a table; for example: k = ["help", "temp"]']
    # mqttwarn's and Home Assistant's lists of devices, [[devices]] with a name in each: the answer
    # shows the header to write instead, named after the first one.
    assert problems_of('[[devices]]\nname = "lampe"\ntype = "switch"\n', tmp_path)[0].startswith(
        "devices: each entry is its own [devices.NAME] table, named in its header, for example [devices.lampe]; "
        "a list of [[devices]] tables is not read here (known keys: type, ")


def test_an_entry_of_a_list_of_tables_is_named_by_its_name_too(tmp_path: Path) -> None:
    """In a file of twenty [[automations]], an index alone is hard to find."""
    text = ('[[automations]]\nname = "matin"\nwhen = "salon < 19"\ndo = ["chauffage on"]\n'
            '[[automations]]\nname = "soir été"\nwhen = "salon < 19"\ndo = "chauffage off"\ndelay = "5m"\n'
            '[[automations]]\nwhen = "salon < 19"\ndo = "chauffage off"\n')
    problems = problems_of(text, tmp_path)
    assert "automations[1] (soir été).do: Input should be a valid list (got 'chauffage off'); for example: " \
        'do = ["switch hall_light on"]' in problems
    assert any(p.startswith("automations[1] (soir été).delay: unknown key") for p in problems)
    assert any(p.startswith("automations[2].do: Input should be a valid list") for p in problems)


def test_a_duration_out_of_its_limits_is_said_in_durations(tmp_path: Path) -> None:
    """`rollup_interval = "1s"` was answered "greater than or equal to 10 (got 1.0)": seconds
    without their unit, and not the value written."""
    assert problems_of('[history]\nrollup_interval = "1s"\n[hub]\nhandler_timeout = "0s"\n', tmp_path) == [
        'hub.handler_timeout: must be more than 0s (got 0s); for example: handler_timeout = "30s"',
        'history.rollup_interval: must be at least 10s (got 1s); for example: rollup_interval = "5m"']


def test_a_role_that_includes_itself_draws_a_warning(tmp_path: Path) -> None:
    from chatops.config_report import config_warnings
    settings = settings_for(tmp_path, roles={"guest": ["help"], "family": ["family", "switch"], "admin": ["*"]})
    assert "roles.family: includes itself, which adds nothing; remove 'family' from its list" in config_warnings(settings)


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("0") == 0
    with pytest.raises(ValueError, match="give a unit"):
        parse_duration("90")
    with pytest.raises(ValueError):
        parse_duration("soon")
    # Units as people write them, in English and French; `1h30` is an hour and a half.
    assert parse_duration("10 minutes") == parse_duration("10min") == parse_duration("10m") == 600
    assert parse_duration("2 heures") == parse_duration("2 hours") == 7200
    assert parse_duration("1h30") == 5400 and parse_duration("5m30") == 330
    assert parse_duration("3 jours") == parse_duration("3j") == parse_duration("3 days") == 3 * 86400
    assert parse_duration("une heure") == parse_duration("an hour") == 3600
    for wrong in ("10 lightyears", "1h30x", "h", "am", "as", "ah"):
        with pytest.raises(ValueError, match="is not a duration"):
            parse_duration(wrong)


def test_a_duration_key_needs_a_unit(tmp_path: Path) -> None:
    """`repeat = 5` meant as minutes would remind every 5 s: a number alone is refused, with the fix."""
    rule = ('[devices.d]\ntype = "binary_sensor"\ntopic = "t"\n'
            '[[alerts]]\nname = "a"\ndevice = "d"\nnotify = ["console:*"]\n')
    problems = problems_of(rule + 'repeat = 5\ncooldown = "90"\n[history]\nmin_interval = 0.5\n', tmp_path)
    assert problems == [
        'history.min_interval: give a unit: "0.5s", "0.5m" or "0.5h" (got 0.5); for example: min_interval = "1s"',
        'alerts[0] (a).repeat: give a unit: "5s", "5m" or "5h" (got 5); for example: repeat = "5m"',
        'alerts[0] (a).cooldown: give a unit: "90s", "90m" or "90h" (got \'90\'); for example: cooldown = "1m"']
    assert problems_of(rule + 'when = "offline 10"\n', tmp_path) == [
        'alerts[0] (a): when = \'offline 10\': give a unit: "10s", "10m" or "10h"']
    path = tmp_path / "config.toml"
    path.write_text(rule + 'when = "offline 10 minutes"\n', encoding="utf-8")
    assert load_settings(path).alerts[0].when == "offline 10 minutes", "written out, as everywhere"
    path.write_text(rule + 'repeat = "5m"\ncooldown = 0\n[history]\nmin_interval = 0\n', encoding="utf-8")
    settings = load_settings(path)                  # units given, or zero, which needs none
    assert settings.alerts[0].repeat == 300 and settings.alerts[0].cooldown == 0 and settings.history.min_interval == 0


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


def test_a_typo_in_a_role_grant_fails_the_check_with_the_closest_name(tmp_path: Path) -> None:
    # `swtich` would silently grant nothing: the family could never switch.
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace('"guest", "switch",', '"guest", "swtich",', 1)
    assert '"swtich"' in text
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    result = run_check(path)
    assert result.returncode == 2 and "OK" not in result.stdout
    assert "  - roles.family: 'swtich' is neither a permission nor a role; did you mean 'switch'? permissions: " in \
        result.stderr
    # `dim` and `in` are commands that use another word's permission: granting them grants nothing.
    dims = text.replace('"guest", "swtich",', '"guest", "dim", "in",', 1)
    path.write_text(dims, encoding="utf-8")
    result = run_check(path)
    assert result.returncode == 2, result.stdout
    assert "  - roles.family: 'dim' is a command, not a permission: it needs 'switch'; grant that instead" in result.stderr
    assert "  - roles.family: 'in' is a command, not a permission: it needs 'schedule'; grant that instead" in result.stderr
    assert problems_of('[roles]\nguest = ["help"]\nfamily = ["guest"]\n[users.bob]\nroles = ["famly"]\n', tmp_path) \
        == ["users.bob.roles: role 'famly' is not defined in [roles]; did you mean 'family'? defined: family, guest"]


def test_run_says_at_start_which_role_grants_grant_nothing(tmp_path: Path) -> None:
    """`run` starts (a typo in [roles] does not leave the house without alarms) and says it."""
    from chatops.testing import write_demo_config
    config = write_demo_config(tmp_path)
    config.write_text(config.read_text(encoding="utf-8").replace('"guest", "switch",', '"guest", "swtich",', 1),
                      encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--console", "--config", str(config)],
                          input="whoami\n", capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "owner" in done.stdout
    assert "roles.family: 'swtich' is neither a permission nor a role; did you mean 'switch'?" in done.stderr
    assert "until then it grants nothing" in done.stderr


def test_check_command_exit_codes(tmp_path: Path) -> None:
    good = run_check(DEMO_CONFIG)
    assert good.returncode == 0, good.stderr
    assert "heater [switch]" in good.stdout and "owner: roles admin" in good.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[devices.x]\ntype = "sensor"\n', encoding="utf-8")
    result = run_check(bad)
    assert result.returncode == 2
    assert "devices.x: a sensor needs topic" in result.stderr


def test_check_reports_missing_secret_variable(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\nusername = "hub"\npassword_env = "NO_SUCH_VAR_X"\n')
    result = run_check(path)
    assert result.returncode == 2
    assert "NO_SUCH_VAR_X is not set" in result.stderr


@pytest.mark.parametrize(("section", "key"), [
    ('[adapters.matrix]\nhomeserver = "https://matrix.example.org"\nuser_id = "@maison:example.org"\n',
     "access_token"),
    ('[adapters.telegram]\ntoken_env = "HOME"\nwebhook_url = "https://hub.example.org/telegram"\n', "webhook_secret")])
def test_check_reports_a_networks_missing_secret(tmp_path: Path, section: str, key: str) -> None:
    """Every `KEY_env` beside a `KEY_file` is a secret `check` reads, whichever network (a plugin's
    too) declares it: an unset variable stops here, not with one line when the hub runs."""
    path = tmp_path / "c.toml"
    path.write_text(f'[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n{section}{key}_env = "NO_SUCH_VAR_Y"\n')
    result = run_check(path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{key}_env" in result.stderr and "NO_SUCH_VAR_Y is not set" in result.stderr, result.stderr


def test_check_reports_a_chat_networks_missing_ca_file(tmp_path: Path) -> None:
    """`ca_file = "/nonexistent/ca.pem"` for XMPP passed check, then failed in a TLS loop whose
    log named neither the key nor the file."""
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[adapters.xmpp]\njid = "maison@example.org"\n'
                    'password_env = "HOME"\nca_file = "/nonexistent/ca.pem"\n')
    result = run_check(path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "adapters.xmpp.ca_file: cannot read /nonexistent/ca.pem (No such file or directory)" in result.stderr


def test_check_refuses_a_secret_given_two_ways(tmp_path: Path) -> None:
    """password_env and password_file both set: which one wins would surprise whoever set them."""
    secret = tmp_path / "mqtt.pass"
    secret.write_text("s3cret")
    secret.chmod(0o600)
    path = tmp_path / "c.toml"
    path.write_text('[mqtt]\nurl = "mqtt://127.0.0.1:1883"\nusername = "hub"\npassword_env = "HOME"\n'
                    f'password_file = "{secret}"\n')
    result = run_check(path)
    assert result.returncode == 2
    assert "mqtt.password_env and password_file are both set; keep one of them" in result.stderr, result.stderr



@pytest.fixture
def locked_config(tmp_path: Path) -> Iterator[tuple[Path, Path, str]]:
    """(config file, the data folder it names, the OS reason) where the data folder cannot be created.

    The config lies in a read-only folder (a root-owned /etc/chatops) and data_dir is relative to
    it. Root ignores permissions: there the data dir lies under a regular file instead, which
    fails for root too."""
    folder = tmp_path / "etc"
    folder.mkdir()
    folder.chmod(0o555)
    permissions_apply = not os.access(folder, os.W_OK)
    folder.chmod(0o755)
    data_dir = "data" if permissions_apply else "state/data"
    config = folder / "config.toml"
    config.write_text(f'[hub]\ndata_dir = "{data_dir}"\n[web]\nlisten = "127.0.0.1:0"\n'
                      '[mqtt]\nembedded_listen = "127.0.0.1:0"\n', encoding="utf-8")
    if permissions_apply:
        folder.chmod(0o555)
    else:
        (folder / "state").write_text("not a folder", encoding="utf-8")
    yield config, folder / data_dir, "Permission denied" if permissions_apply else "Not a directory"
    folder.chmod(0o755)                             # let pytest clean it up


def data_dir_error(config: Path, data_dir: Path, reason: str) -> str:
    import getpass
    user = getpass.getuser()
    if reason == "Not a directory":          # as root: under a file, which no `install -d` mends
        return (f"[hub] data_dir: {data_dir} is under {data_dir.parent}, which is a file, not a folder (a relative "
                f"data_dir is taken from the config file's folder, {config.parent}); set data_dir in [hub] to a "
                f"folder {user} can write, e.g. data_dir = \"/var/lib/chatops\"")
    return (f"[hub] data_dir: cannot create {data_dir} ({reason}) (a relative data_dir is taken from the config "
            f"file's folder, {config.parent}); create it for the user the hub runs as ({user}): sudo install -d "
            f"-m 700 -o {user} {data_dir}, or set data_dir in [hub] to a folder {user} can write, e.g. "
            f"data_dir = \"/var/lib/chatops\"")


def test_run_with_an_unwritable_data_dir_is_a_clean_startup_error(locked_config: tuple[Path, Path, str]) -> None:
    config, data_dir, reason = locked_config
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "run", "--config", str(config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, "as a config error: systemd (RestartPreventExitStatus=2) stops restarting"
    assert result.stderr.splitlines()[-1] == "chatops cannot start: " + data_dir_error(config, data_dir, reason)
    assert "Traceback" not in result.stderr
    assert not data_dir.exists()


def test_check_reports_an_unwritable_data_dir(locked_config: tuple[Path, Path, str]) -> None:
    config, data_dir, reason = locked_config
    result = run_check(config)
    assert result.returncode == 2
    assert f"  - {data_dir_error(config, data_dir, reason)}" in result.stderr.splitlines()
    assert not data_dir.exists()


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_data_dir_the_system_cannot_even_look_at_is_a_clean_error(tmp_path: Path, command: str) -> None:
    """Looking at the folder fails (a parent folder of someone else's, mode 0700; as root, a
    name too long): exit 2 with the key named, not a traceback that systemd restarts for ever."""
    data_dir = tmp_path / ("x" * 300) / "data"
    config = tmp_path / "config.toml"
    config.write_text(f'[hub]\ndata_dir = "{data_dir}"\n[web]\nenabled = false\n'
                      '[mqtt]\nembedded_listen = "127.0.0.1:0"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "chatops.cli", command, "--config", str(config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert "Traceback" not in result.stderr, result.stderr
    if command == "run":
        assert result.returncode == 2, result.stderr
        assert f"[hub] data_dir: cannot create {data_dir} (File name too long)" in result.stderr


@pytest.mark.parametrize("command", ["run", "check"])
def test_a_data_dir_naming_a_file_says_so_rather_than_how_to_create_it(tmp_path: Path, command: str) -> None:
    database = tmp_path / "chatops.db"           # data_dir set to the database rather than its folder
    database.write_bytes(b"")
    config = tmp_path / "config.toml"
    config.write_text(f'[hub]\ndata_dir = "{database}"\n[web]\nenabled = false\n'
                      '[mqtt]\nembedded_listen = "127.0.0.1:0"\n', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "chatops.cli", command, "--config", str(config)],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"[hub] data_dir: {database} is a file, not a folder; set data_dir in [hub] to a folder" in result.stderr
    assert "install -d" not in result.stderr and "Traceback" not in result.stderr


def test_check_creates_nothing_and_passes_for_a_data_dir_that_can_be_made(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[hub]\ndata_dir = "var/data"\n', encoding="utf-8")
    result = run_check(config)
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "var").exists()
    assert list(tmp_path.iterdir()) == [config], "its probe of the folder above is gone too"


def test_check_tries_the_folder_where_permissions_say_nothing(tmp_path: Path) -> None:
    # As root, os.access allows /proc; the hub could never create its folder there: check said OK.
    config = tmp_path / "config.toml"
    config.write_text('[hub]\ndata_dir = "/proc/chatops-nope"\n', encoding="utf-8")
    result = run_check(config)
    assert result.returncode == 2, result.stderr
    assert "[hub] data_dir: cannot create /proc/chatops-nope" in result.stderr


@pytest.mark.parametrize(("seconds", "shown"), [(0, "0s"), (0.3, "300ms"), (1.5, "1.5s"), (42, "42s"), (300, "5m"),
                                                (3720, "1h02m"), (90000, "1d1h")])
def test_durations_are_shown_short_and_never_rounded_to_zero(seconds: float, shown: str) -> None:
    from chatops.durations import format_duration
    assert format_duration(seconds) == shown


@pytest.mark.parametrize(("section", "key"), [("mqtt", "password"), ("adapters.irc", "sasl_password"),
                                              ("adapters.irc", "server_password"), ("adapters.slack", "bot_token"),
                                              ("adapters.matrix", "access_token"),
                                              ("adapters.telegram", "webhook_secret")])
def test_a_secret_written_in_the_config_is_refused_with_the_way_to_give_it(section: str, key: str,
                                                                            tmp_path: Path) -> None:
    base = {"mqtt": "", "adapters.irc": 'host = "irc.libera.chat"\n',
            "adapters.slack": 'app_token_env = "A"\n',
            "adapters.matrix": 'homeserver = "https://matrix.example.org"\nuser_id = "@maison:example.org"\n',
            "adapters.telegram": 'token_env = "T"\n'}[section]
    problems = problems_of(f'[{section}]\n{base}{key} = "hunter2"\n', tmp_path)
    assert f"{section}.{key}: unknown key; secrets never go in config.toml: use {key}_env = \"VAR\" " \
           f"or {key}_file = \"/path\"" in problems
    assert not any("hunter2" in p for p in problems)


def test_a_notify_token_name_cannot_pass_for_another_tokens_webhook(tmp_path: Path) -> None:
    # A notification's source is WEBHOOK/NAME/KEY: a "/" in a name would read as another token's.
    assert problems_of('[web.notify_tokens."alertmanager/x"]\ntoken_env = "X"\n', tmp_path) == [
        "web: notify_tokens: the name 'alertmanager/x' may hold letters, digits, '_', '.' and '-' only, "
        'e.g. [web.notify_tokens] grafana = { token_env = "GRAFANA_TOKEN" }']


def test_one_check_lists_an_invalid_section_and_the_others_cross_problems(tmp_path: Path) -> None:
    # A bad alert condition must not hide, until it is fixed, a role that does not exist.
    text = DEMO_CONFIG.read_text(encoding="utf-8").replace('when = "on"', 'when = "sometimes"', 1)
    problems = problems_of(text + '\n[users.zed]\nroles = ["nobodyrole"]\nconsole = ["zed"]\n', tmp_path)
    assert any(p.startswith("alerts[0] (smoke): when = 'sometimes' is not a condition") for p in problems), problems
    assert "users.zed.roles: role 'nobodyrole' is not defined in [roles]; defined: admin, family, guest" in problems
    # Nor a misspelt timezone, an alert naming a device and a user that do not exist.
    problems = problems_of('[hub]\ntimezone = "Europe/Pariss"\n[[alerts]]\nname = "a"\ndevice = "nodev"\n'
                           'when = "on"\nnotify = ["nobody"]\n', tmp_path)
    assert [p.split(":")[0] for p in problems] == ["hub.timezone", "alerts[0] (a).device", "alerts[0] (a).notify"], problems
    # What points into an invalid section is not judged (it would be a false alarm).
    broken_devices = text.replace('[devices.salon]', '[devices.salon]\nbogus_key = 1', 1)
    assert not any("no device named" in p for p in problems_of(broken_devices, tmp_path))


def test_an_address_on_an_adapter_whose_section_is_wrong_is_not_called_undeliverable(tmp_path: Path) -> None:
    """[adapters.irc] lacks its host: that is the problem. `irc:#maison` in an alert is not
    "no irc adapter is enabled" as well: the section is there, it is being fixed."""
    problems = problems_of('[adapters.irc]\nchannels = ["#maison"]\n[devices.smoke]\ntype = "binary_sensor"\n'
                           'topic = "z/smoke"\n[[alerts]]\nname = "smoke"\ndevice = "smoke"\nwhen = "on"\n'
                           'message = "Smoke"\nnotify = ["irc:#maison"]\n', tmp_path)
    assert any(p.startswith("adapters.irc.host: Field required") for p in problems), problems
    assert not [p for p in problems if "no irc adapter is enabled" in p], problems


def test_an_example_in_a_fix_is_valid_toml_even_when_a_plugin_wrote_it_bare() -> None:
    from chatops.config import Section
    from chatops.config_errors import format_errors
    from chatops.schema import Field, ValidationError

    class Plugin(Section):
        dir: str = Field(examples=["/var/lib/filechat"])        # a plugin's example, not quoted
        every: int = Field(examples=["30"])

    with pytest.raises(ValidationError) as caught:
        Plugin.model_validate({})
    assert format_errors(caught.value, Plugin) == ['dir: Field required; for example: dir = "/var/lib/filechat"',
                                                   "every: Field required; for example: every = 30"]


@pytest.mark.parametrize(("text", "problem"), [
    ('[mqtt]\nurl = "mqtt://127.0.0.1:99999"\n', "mqtt: url: a port is at most 65535"),
    ('[mqtt]\nembedded_listen = "127.0.0.1:70000"\n', "mqtt: embedded_listen: a port is at most 65535"),
    ('[web]\nlisten = "127.0.0.1:99999"\n', "web.listen: a port is at most 65535 (got '127.0.0.1:99999')"),
])
def test_a_port_past_65535_is_a_config_error(text: str, problem: str, tmp_path: Path) -> None:
    """Five digits look like a port: without this, the hub retried a broker "refusing" for
    ever, or the web server died with an OverflowError traceback."""
    problems = problems_of(text, tmp_path)
    assert any(p.startswith(problem) for p in problems), problems


def test_a_misspelled_key_of_a_user_is_named_as_one(tmp_path: Path) -> None:
    """Any other key of [users.NAME] is a network's identities; a slip for `language` or
    `pin_file` is told as the slip it is, not as a network that wants a list."""
    base = '[users.bob]\nroles = ["guest"]\nconsole = ["bob"]\n'
    assert problems_of(base + 'langage = "fr"\n', tmp_path) == ["users.bob: unknown key 'langage'; did you mean 'language'?"]
    assert problems_of(base + 'pin_fil = "pin.txt"\n', tmp_path) == ["users.bob: unknown key 'pin_fil'; did you mean 'pin_file'?"]
    (problem,) = problems_of(base + 'mastodon = "@bob"\n', tmp_path)
    assert problem.startswith('users.bob: mastodon must be a list of identities, e.g. mastodon = ["..."]'), problem
    # A Telegram id is a number, and TOML writes it bare: told to quote it, not that it is no list.
    assert problems_of(base + 'telegram = [123456789]\n', tmp_path) == [
        'users.bob: identities are text: write the numbers in quotes, telegram = ["123456789"]']


def test_a_wrong_timezone_names_its_key_and_the_zone_meant(tmp_path: Path) -> None:
    (problem,) = problems_of('[hub]\ntimezone = "Europe/Pariss"\n', tmp_path)
    assert problem.startswith("hub.timezone: unknown timezone 'Europe/Pariss'; did you mean \"Europe/Paris\"?"), problem
    (problem,) = problems_of('[hub]\ntimezone = "europe/paris"\n', tmp_path)      # zone names are case-sensitive
    assert problem.startswith("hub.timezone: unknown timezone 'europe/paris'; did you mean \"Europe/Paris\"?"), problem
    assert problem.count("Europe/Paris") <= 2, problem
    (problem,) = problems_of('[hub]\ntimezone = "Mars/Olympus"\n', tmp_path)
    assert problem == "hub.timezone: unknown timezone 'Mars/Olympus'; write an IANA name, Region/City; for example: " \
                      "timezone = \"Europe/Paris\"", problem


def test_a_recipient_no_pattern_can_write_to_draws_a_warning(tmp_path: Path) -> None:
    """alice, known on IRC by her address alone (`*!*@192.0.2.10`), was named in an alert rule
    and never told anything there: no nick to write to, and nothing said so."""
    path = tmp_path / "config.toml"
    path.write_text('[adapters.irc]\nhost = "127.0.0.1"\nnick = "maison"\nchannels = ["#maison"]\n'
                    '[users.alice]\nirc = ["*!*@192.0.2.10"]\n[users.bob]\nirc = ["bob!*@192.0.2.11"]\n'
                    '[devices.smoke]\ntype = "binary_sensor"\ntopic = "zigbee2mqtt/smoke"\nvalue = "smoke"\n'
                    '[[alerts]]\nname = "smoke"\ndevice = "smoke"\nwhen = "on"\nnotify = ["alice", "bob"]\n',
                    encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "chatops", "check", "--config", str(path)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "warning: alerts[0] (smoke).notify: 'alice' is told nothing on irc: no pattern of users.alice.irc " \
           "(*!*@192.0.2.10) names someone to write to; add one that does (a nick is needed to write to: " \
           "`alice!*@192.0.2.10` or `account:alice`)" in result.stderr
    assert "'bob'" not in result.stderr


def test_a_hub_name_that_cannot_be_an_irc_nick_is_said_by_check(tmp_path: Path) -> None:
    """`chatops check` said OK to a hub named `1-maison` with no IRC nick set; `run` then
    refused to start the IRC adapter. A name with accents gives its letters without them."""
    irc = '[adapters.irc]\nhost = "127.0.0.1"\nchannels = ["#maison"]\n'
    assert problems_of(f'[hub]\nname = "1-maison"\n{irc}', tmp_path) == [
        "adapters.irc.nick: the hub's name '1-maison' cannot be an IRC nick (a letter first, then letters, "
        'digits, - or _); set nick = "maison"']
    path = tmp_path / "config.toml"
    path.write_text(f'[hub]\nname = "Maison Dupré"\n{irc}', encoding="utf-8")
    settings = load_settings(path)
    [(_name, _kind, section)] = settings.adapter_sections
    assert section.primary_nick(settings.hub) == "MaisonDupre"


def test_web_settings_that_open_nothing_or_link_nowhere_are_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`public_url = "hub.lan:8080"` made every picture link `hub.lan:8080/files/…`; notify tokens
    under `[web] enabled = false` left every cron post refused, and a 0.0.0.0 listen without a
    public_url sent links naming 127.0.0.1 to phones."""
    assert problems_of('[web]\npublic_url = "hub.lan:8080"\n', tmp_path) == [
        "web.public_url: not a web address the hub is reached by; write it whole, with http:// or https:// "
        "(got 'hub.lan:8080'); for example: public_url = \"https://home.example.org/\""]
    from chatops.config_report import config_warnings
    off = settings_for(tmp_path, web={"enabled": False, "notify_tokens": {"cron": {"token_env": "CRON_TOKEN"}}})
    assert "web.enabled: false, so web.notify_tokens open nothing (scripts and scrapers find no server); " \
           "set enabled = true, or remove them" in config_warnings(off)
    wide = settings_for(tmp_path, web={"listen": "0.0.0.0:8080", "token_env": "WEB_TOKEN"})
    assert any(w.startswith("web.public_url: not set, and listen = '0.0.0.0:8080': links to pictures")
               for w in config_warnings(wide))
    # The shipped loopback listen: fine for the console and the web chat, links no phone opens for SMS.
    assert not [w for w in config_warnings(settings_for(tmp_path)) if "no phone can open" in w]
    sms = settings_for(tmp_path, adapters={"sms": {"backend": "gammu", "model": "dummy", "device": str(tmp_path)}})
    assert "web.public_url: not set, and [web] listens on loopback (127.0.0.1:0): snapshots and graphs sent on " \
           "sms (which carry no pictures) are links to it, which no phone can open; set public_url = " \
           "\"http://hub.lan:8080\" (the address phones reach the hub by), listen on it and set a token " \
           "(docs/pictures.md)" in config_warnings(sms)


def test_an_adapter_may_not_take_another_networks_name(tmp_path: Path) -> None:
    """`[[adapters.irc]] name = "web"` hid the web chat's port, and a plugin's instance named `irc`
    took the alerts addressed `irc:bob` under IRC's rules."""
    problems = problems_of('[[adapters.irc]]\nname = "web"\nhost = "127.0.0.1"\n'
                           '[[adapters.irc]]\nname = "xmpp"\nhost = "127.0.0.2"\n', tmp_path)
    assert 'adapters.irc: name = \'web\' is the name of the web network; name this irc adapter otherwise, ' \
           'e.g. name = "irc_home"' in problems
    assert any(p.startswith("adapters.irc: name = 'xmpp' is the name of the xmpp network") for p in problems)


def test_mqtt_topics_a_broker_refuses_are_said_by_check(tmp_path: Path) -> None:
    """`frigate/#/x` passed check, then stopped the hub with a 50-line traceback; a wildcard in a
    command topic failed at every switch; a notify topic nobody receives dropped every message."""
    problems = problems_of(
        '[[notify.topics]]\ntopic = "frigate/#/x"\nmessage = "x"\nto = ["owner"]\n'
        '[[notify.topics]]\ntopic = "cams/+"\nmessage = "Person {after.label"\n'
        '[[notify.topics]]\ntopic = "frigate/events"\nmessage = "{after.label}"\nto = ["owner"]\n'
        'match = { "after.has_snapshot" = true }\n'
        '[[notify.topics]]\ntopic = "cams/x"\nmessage = "x"\nto = ["owner"]\nimage_url = "file:///etc/passwd"\n'
        '[devices.chambre]\ntype = "sensor"\ntopic = "zigbee2mqtt/chambre#"\n'
        '[devices.prise]\ntype = "switch"\ntopic = "zigbee2mqtt/prise"\ncommand_topic = "zigbee2mqtt/+/set"\n'
        '[simulator]\nbase_topic = "z2m/#"\n', tmp_path)
    assert "notify.topics[0].topic: '#' stands alone as the last level (zigbee2mqtt/#), never inside one " \
           "(got 'frigate/#/x'); for example: topic = \"frigate/events\"" in problems
    assert "notify.topics[1].message: expected '}' before end of string; a field is written {after.label}, a brace " \
           "itself {{ or }} (got 'Person {after.label'); for example: message = \"{after.label} at {after.camera}\"" \
           in problems
    assert not any(p.startswith("notify.topics[2]") for p in problems), problems   # true taken as "true"
    assert any(p.startswith("notify.topics[3].image_url: the hub fetches pictures over http:// or https:// only "
                            "(got 'file:///etc/passwd')") for p in problems), problems
    assert any(p.startswith("devices.chambre.topic: '#' stands alone") for p in problems)
    assert any(p.startswith("devices.prise.command_topic: a topic the hub publishes on names one device, without "
                            "+ or # (got 'zigbee2mqtt/+/set')") for p in problems)
    assert any(p.startswith("simulator.base_topic: a topic the hub publishes on") for p in problems)
    assert problems_of('[[notify.topics]]\ntopic = "cams/+"\nmessage = "x"\n', tmp_path) == [
        "notify.topics[0].to: empty, and so is [notify] default_to, and no user is an admin to fall back on: "
        "every message on cams/+ would be dropped; give to = [\"owner\"] here or default_to in [notify]"]


def test_a_config_saved_in_latin1_or_with_a_bom_is_read_or_said(tmp_path: Path) -> None:
    """A French `°C` saved in Latin-1 was a UnicodeDecodeError traceback; Notepad's byte-order
    mark "not valid TOML: Invalid statement (at line 1, column 1)"."""
    path = tmp_path / "config.toml"
    path.write_bytes('[hub]\nname = "maison"\n\n[devices.salon]\ntype = "sensor"\ntopic = "z/salon"\nunit = "°C"\n'
                     .encode("latin-1"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    [problem] = caught.value.problems
    assert problem.startswith(f"{path}: line 7 is not UTF-8 (byte 0xb0: the file was saved in another encoding")
    path.write_bytes(b"\xef\xbb\xbf" + '[hub]\nname = "maison"\n'.encode())
    assert load_settings(path).hub.name == "maison"
    path.write_bytes('[hub]\nname = "maison"\n'.encode("utf-16"))           # Notepad's "Unicode"
    with pytest.raises(ConfigError, match="the file is saved as UTF-16; save it as UTF-8"):
        load_settings(path)
    # The conversion said is the one that keeps Windows' ’ (0x92), which Latin-1 made a control character.
    path.write_bytes('[hub]\nname = "maison"\n[devices.salon]\ntype = "sensor"\ntopic = "z/salon"\nlabel = "salon d’hiver"\n'
                     .encode("cp1252"))
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    command = caught.value.problems[0].split("convert it: ")[1]
    assert command == f"iconv -f cp1252 -t utf-8 {path} > {path}.utf8 && mv {path}.utf8 {path}"
    subprocess.run(command, shell=True, check=True)
    assert load_settings(path).devices["salon"].label == "salon d’hiver"


def test_an_empty_config_file_is_refused(tmp_path: Path) -> None:
    """A truncated /etc/chatops/config.toml passed check and ran a hub on every default."""
    path = tmp_path / "config.toml"
    for text in ("", "# only a comment\n"):
        path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_settings(path)
        assert caught.value.problems == [f"{path}: no settings at all (the file is empty, or only comments); start "
                                         "from the config.toml of the source folder and keep what you need"]


def test_the_web_user_must_be_taken_by_their_own_web_patterns(tmp_path: Path) -> None:
    """`[web] user = "owner"` with `web = ["someone"]`: the page silently acted as a guest."""
    assert problems_of('[web]\nuser = "owner"\n[users.owner]\nweb = ["someone"]\n', tmp_path) == [
        "web.user: the web chat acts as 'owner', but users.owner.web (someone) does not take that name; "
        'add web = ["owner"] to [users.owner]']


def test_one_phone_number_written_two_ways_for_two_users_is_said(tmp_path: Path) -> None:
    """bob `+33612345678` and alice `06 12 34 56 78` passed check; at run time both were strangers."""
    problems = problems_of('[users.bob]\nsms = ["+33612345678"]\n[users.alice]\nsms = ["06 12 34 56 78"]\n', tmp_path)
    assert problems == ["users.alice.sms: '06 12 34 56 78' is also bob's; a sender is one person: remove it from "
                        "one of them"]


def test_telegram_and_camera_settings_that_fail_only_at_run_are_said_by_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A port past 65535 in webhook_listen failed in a traceback loop after "hub ready"; a webhook
    secret Telegram refuses was said only once the adapter started; `192.168.1.20/snap.jpg`
    failed at every snap."""
    telegram = '[adapters.telegram]\ntoken_env = "TG_TOKEN"\n'
    assert any(p.startswith("adapters.telegram: webhook_listen '127.0.0.1:99999' must be HOST:PORT with a port up "
                            "to 65535") for p in problems_of(telegram + 'webhook_listen = "127.0.0.1:99999"\n', tmp_path))
    # The webhook on the web server's port: `check` said OK, `run` failed (address in use).
    webhook = telegram + 'mode = "webhook"\nwebhook_url = "https://h.example.org/tg"\nwebhook_secret_env = "S"\n' \
        'webhook_listen = "0.0.0.0:8080"\n[web]\nlisten = "127.0.0.1:8080"\n'
    assert "adapters.telegram.webhook_listen: 0.0.0.0:8080 is also web.listen's port; give each its own" in \
        problems_of(webhook, tmp_path)
    assert any(p.startswith("devices.entree.snapshot_url: a snapshot URL is written whole, with http:// or https://")
               for p in problems_of('[devices.entree]\ntype = "camera"\nsnapshot_url = "192.168.1.20/snap.jpg"\n',
                                    tmp_path))
    from chatops.config_report import check_secrets
    monkeypatch.setenv("TG_TOKEN", "123:abc")
    monkeypatch.setenv("TG_SECRET", "q1w2+e3r/4t5y6==")
    path = tmp_path / "config.toml"
    path.write_text(telegram + 'mode = "webhook"\nwebhook_url = "https://maison.example.org/tg"\n'
                    'webhook_secret_env = "TG_SECRET"\n', encoding="utf-8")
    assert check_secrets(load_settings(path)) == [
        "adapters.telegram.webhook_secret_env: environment variable TG_SECRET: Telegram takes 1 to 256 letters, "
        "digits, _ and - (not 16 characters with others); make one with openssl rand -hex 32"]


def test_an_automations_at_takes_crontab_fields_and_its_advice_works_as_written(tmp_path: Path) -> None:
    """`at = "30 6 * * 1-5"` was "unknown schedule '30'" with the chat's forms (`… CMD`, and
    forms that run once); `at = "every day 06:30"` was told a form that was then refused."""
    base = ('[users.bob]\nroles = ["admin"]\nconsole = ["*"]\n[automations_defaults]\nowner = "bob"\n'
            '[roles]\nadmin = ["*"]\nguest = ["help"]\n[devices.heater]\ntype = "switch"\ntopic = "z/h"\ncommand_topic = "z/h/set"\n'
            '[[automations]]\nname = "x"\ndo = ["switch heater on"]\n')
    path = tmp_path / "config.toml"
    path.write_text(base + "at = '30 6 * * 1-5'\n", encoding="utf-8")
    assert load_settings(path).automations[0].at == 'cron "30 6 * * 1-5"'
    path.write_text(base + "at = '30 6 * * mon,wed,fri'\n", encoding="utf-8")
    assert load_settings(path).automations[0].at == 'cron "30 6 * * mon,wed,fri"'
    path.write_text(base + "at = 'every day 06:30'\n", encoding="utf-8")       # the time without its `at`
    assert load_settings(path).automations[0].at == "every day 06:30"
    [problem] = problems_of(base + "at = 'every day'\n", tmp_path)
    assert problem == ("automations[0] (x): at = 'every day': every day at what time? write e.g. every day at "
                       "06:30; an automation's forms: every day at 06:30, every weekday at 06:30, every monday,friday "
                       'at 7:00, every 15m, cron "30 6 * * 1-5"')


def test_a_label_that_names_another_device_draws_a_warning(tmp_path: Path) -> None:
    """`label = "salon"` on chambre: `temp chambre` answered `salon: 17.4 °C` beside the real salon.
    A warning, not a refusal: two devices labelled alike ran before, and their names still work."""
    from chatops.config_report import config_warnings
    settings = settings_for(tmp_path, devices={"chambre": {"type": "sensor", "topic": "z/chambre", "label": "Salon"},
                                               "cave": {"type": "sensor", "topic": "z/cave", "label": "Sous-sol"},
                                               "garage": {"type": "sensor", "topic": "z/garage", "label": "sous-sol"}})
    warnings = config_warnings(settings)
    assert "devices.chambre.label: 'Salon' also names device 'salon': a line saying it reaches one of them; give " \
           "each device a label of its own" in warnings
    assert any(w.startswith("devices.garage.label: 'sous-sol' also names device 'cave'") for w in warnings), warnings


def test_a_room_that_is_no_jid_is_one_line_naming_its_place(tmp_path: Path) -> None:
    """`rooms = ["maison"]` printed a raw validation dump on three lines, without `rooms[0]`."""
    problems = problems_of('[adapters.xmpp]\njid = "maison@example.org"\npassword_env = "XP"\nrooms = ["maison"]\n',
                           tmp_path)
    assert any(p.startswith("adapters.xmpp.rooms: rooms[0]: 'maison' is not a room JID such as "
                            '"maison@conference.example.org"') and "\n" not in p for p in problems), problems


def test_one_typo_in_a_section_others_depend_on_is_said_once(tmp_path: Path) -> None:
    """A typo in [automations_defaults] also made every automation "no owner", though it had one."""
    problems = problems_of('[automations_defaults]\nowner = "bob"\nmax_run_per_minute = 5\n[users.bob]\nconsole = ["*"]\n'
                           '[[automations]]\nname = "x"\nat = "every day at 06:30"\ndo = ["temp"]\n', tmp_path)
    assert len(problems) == 1 and problems[0].startswith("automations_defaults.max_run_per_minute: unknown key"), \
        problems


def test_roles_that_include_each_other_draw_a_warning(tmp_path: Path) -> None:
    from chatops.config_report import config_warnings
    settings = settings_for(tmp_path, roles={"a": ["guest", "b", "help"], "b": ["a"]})     # not first in the list
    assert "roles.a: includes b which includes a: a loop, which adds nothing; remove 'b' from its list, or 'a' " \
           "from the list of 'b'" in config_warnings(settings)


def test_a_device_named_like_a_command_draws_a_warning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A device called `status`: `status on` answered "Too many arguments. Usage: status"."""
    from chatops.cli import main
    path = tmp_path / "config.toml"
    path.write_text('[hub]\ndata_dir = "data"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[web]\nenabled = false\n'
                    '[devices.status]\ntype = "switch"\ntopic = "z/status"\ncommand_topic = "z/status/set"\n',
                    encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 0
    assert "warning: devices.status: 'status' is also the command 'status', so `status on` runs that command" \
        in capsys.readouterr().err


def test_a_recipient_with_no_entry_on_an_enabled_network_draws_a_warning(tmp_path: Path) -> None:
    """dave (roles only) named in an alert rule: `-> 0 recipients` at INFO, and nothing else."""
    from chatops.config_report import config_warnings
    settings = settings_for(tmp_path, users={"dave": {"roles": ["family"]}},
                            alerts=[{"name": "smoke", "device": "kitchen_smoke", "when": "on", "notify": ["dave"]}])
    assert any(w.startswith("alerts[0] (smoke).notify: 'dave' can be told nothing: users.dave names nobody on an "
                            "enabled network") for w in config_warnings(settings)), config_warnings(settings)
    demo = settings_for(tmp_path)
    assert not [w for w in config_warnings(demo) if "told nothing" in w]


def test_a_list_entry_written_with_one_bracket_says_so(tmp_path: Path) -> None:
    """`[alerts]` after `[[alerts]]` was "[alerts] appears twice: put the keys of the second into the first"."""
    [problem] = problems_of('[[alerts]]\nname = "a"\ndevice = "d"\nwhen = "on"\n[alerts]\nname = "b"\n', tmp_path)
    assert problem.endswith("line 5: [alerts] after [[alerts]] entries: each entry of that list starts with [[alerts]]")


def test_a_database_the_hub_account_cannot_write_is_said_by_check(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A first run as root left chatops.db root's: `check` said OK as the service user, and `run`
    stopped with a traceback (exit 1: systemd restarted it every 5 s). The account is played by
    os.access here: the tests run as root, whom every mode lets write."""
    import getpass
    import os as os_module

    from chatops import preflight
    data = tmp_path / "data"
    data.mkdir()
    (data / "chatops.db").write_bytes(b"")
    real_access = os_module.access
    monkeypatch.setattr(preflight.os, "access",
                        lambda path, mode: not str(path).endswith("chatops.db") and real_access(path, mode))
    monkeypatch.setattr(preflight.os, "geteuid", lambda: 1000)       # the service account, not root
    settings = settings_for(data)
    problem = preflight.data_dir_problem(settings, create=False)
    assert problem == (f"[hub] data_dir: {data / 'chatops.db'} belongs to root, and the hub runs as "
                       f"{getpass.getuser()}, which cannot write it (a run as root left it?): sudo chown -R "
                       f"{getpass.getuser()}: {data}")


def test_a_simulated_device_left_in_a_real_config_is_warned_of(tmp_path: Path) -> None:
    """The shipped config made real (`[simulator] enabled = false`, as docs/deploy.md says) kept
    its simulated camera: a real smoke alarm came with a made-up picture, and check said OK."""
    from chatops.config_report import config_warnings
    from chatops.testing import settings_for
    warned = config_warnings(settings_for(tmp_path, simulator={"enabled": False}))
    assert any(w.startswith("devices.entree: simulated = true, and [simulator] enabled = false: its readings and "
                            "pictures are made up") for w in warned), warned
    assert not any("simulated = true" in w for w in config_warnings(settings_for(tmp_path)))


def test_a_secret_or_a_slip_in_a_user_table_is_said_for_what_it_is(tmp_path: Path) -> None:
    """`pin = "1234"` was answered "pin must be a list of identities" (then `pin = ["1234"]`:
    unknown key), `role = ["admin"]` taken for a network called role."""
    problems = problems_of('[users.owner]\nrole = ["admin"]\nconsole = ["*"]\n[users.bob]\npin = "1234"\n', tmp_path)
    assert "users.owner: unknown key 'role'; did you mean 'roles'?" in problems, problems
    assert any(p.startswith("users.bob: pin: a secret is never written in config.toml; a user's PIN word goes in a "
                            "file or a variable: pin_file = ") for p in problems), problems
    assert not any("1234" in p for p in problems)


def test_a_key_written_under_both_its_names_is_said_so(tmp_path: Path) -> None:
    """`topic` beside `state_topic` was "unknown key; did you mean 'topic'?", about `topic` itself."""
    problems = problems_of('[devices.plug]\ntype = "switch"\ntopic = "z/plug"\nstate_topic = "z/plug"\n', tmp_path)
    assert problems == ["devices.plug.topic: unknown key; topic and state_topic are one key under two names: keep "
                        "one of them"], problems


def test_patterns_on_a_network_not_enabled_are_warned_of(tmp_path: Path) -> None:
    from chatops.config_report import config_warnings
    settings = settings_for(tmp_path, users={"owner": {"roles": ["admin"], "console": ["*"], "irc": ["account:owner"]}})
    warnings = config_warnings(settings)
    assert "users.owner.irc: no irc adapter is enabled in this config, so these patterns take nobody yet; enable one " \
        "or remove them" in warnings, warnings
    assert not any(w.startswith("users.owner.console") for w in warnings), "run --console enables it"


def test_an_empty_data_dir_or_a_country_in_words_is_said_plainly(tmp_path: Path) -> None:
    problems = problems_of('[hub]\ndata_dir = ""\ndefault_country = "France"\n', tmp_path)
    assert any(p.startswith("hub.data_dir: empty; name the folder of the hub's database and pictures") for p in problems)
    assert any(p.startswith("hub.default_country: 'France' is neither a calling code nor a two-letter region code")
               for p in problems), problems


def test_a_misspelled_network_in_a_user_table_gets_a_did_you_mean(tmp_path: Path) -> None:
    problems = problems_of('[users.owner]\nroles = ["admin"]\nxmmp = ["owner@example.org"]\n', tmp_path)
    assert any(p.startswith("users.owner.xmmp: unknown key; did you mean 'xmpp'? Known keys here: roles") for p in problems), problems


def test_a_key_of_another_table_is_sent_there_rather_than_to_a_look_alike(tmp_path: Path) -> None:
    """`name` under [mqtt] was "did you mean 'username'?"."""
    assert problems_of('[mqtt]\nname = "maison2"\n', tmp_path) == [
        "mqtt.name: unknown key; name is a key of [hub]: a key belongs to the table whose header is above it, so "
        "move it under [hub]"]
