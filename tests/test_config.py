"""Config loading: good files pass, broken ones are refused with the key path and a fix."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatops.config import ConfigError, load_settings, parse_settings
from chatops.durations import parse_duration
from chatops.testing import DEMO_CONFIG


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


def test_unknown_key_is_an_error_listing_known_keys(tmp_path: Path) -> None:
    problems = problems_of('[hub]\nnmae = "x"\n', tmp_path)
    assert problems[0].startswith("hub.nmae: unknown key")
    assert "name" in problems[0]


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
    assert "users.bob.irc" in text and "nick alone" in text
    assert "alerts[0].device: no device named 'missing'" in text
    assert "alerts[0].notify: 'carol'" in text


def test_web_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"web": {"listen": "0.0.0.0:8080"}})
    assert "web" in caught.value.problems[0] and "token" in caught.value.problems[0]


def test_unknown_adapter_and_bad_toml(tmp_path: Path) -> None:
    assert "adapters.telegraph: unknown adapter" in problems_of("[adapters.telegraph]\n", tmp_path)[0]
    assert "not valid TOML" in problems_of("[hub\nname=1", tmp_path)[0]


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("90") == 90
    with pytest.raises(ValueError):
        parse_duration("soon")


def run_check(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(path)],
                          capture_output=True, text=True, timeout=60)


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
