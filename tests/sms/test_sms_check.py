"""`chatops check` on an SMS config: what the adapter would find wrong only once started (a
user's number that is none, gammu-smsd's config missing) is said by the check, naming the key
and the fix. Offline: no modem, no daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatops.cli import main

BASE = ('[hub]\ndata_dir = "data"\n[mqtt]\nurl = "mqtt://127.0.0.1:1883"\n[web]\nenabled = false\n'
        '[users.alice]\nroles = ["guest"]\nsms = ["+33611111111"]\n')


def check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "config.toml"
    path.write_text(BASE + text, encoding="utf-8")
    try:
        code = main(["check", "--config", str(path)])
    except SystemExit as exc:               # a config that does not load at all
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


def smsd_config(tmp_path: Path) -> Path:
    """A gammu-smsd config for the files service (the daemon itself is not needed to check it)."""
    path = tmp_path / "smsdrc"
    path.write_text(f"[gammu]\nmodel = dummy\nconnection = none\ndevice = {tmp_path}/phone\n\n[smsd]\n"
                    f"service = files\ninboxpath = {tmp_path}/inbox/\noutboxpath = {tmp_path}/outbox/\n",
                    encoding="utf-8")
    return path


def test_check_names_each_users_number_that_is_no_phone_number_with_the_international_form(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`06123456789` (a digit too many) passed check in silence: bob was a stranger to the SMS
    adapter and every alarm to him failed; only the start's log said so."""
    config = smsd_config(tmp_path)
    code, err = check(tmp_path, '[users.bob]\nroles = ["guest"]\nsms = ["06123456789", "06 12 34 56 78"]\n'
                                '[users.giulia]\nroles = ["guest"]\nsms = ["061234"]\n'
                                f'[adapters.sms]\nbackend = "smsd"\nsmsd_config = "{config}"\n', capsys)
    assert code == 0, err                  # the hub runs, for everyone else: a warning
    assert "warning: users.bob.sms: '06123456789' is no phone number in +33: bob is never recognised by it, " \
           "and SMS to it fail; write it in the international form, e.g. +33612345678 (+ and the country " \
           "code, then the number)" in err, err
    assert "warning: users.giulia.sms: '061234' is no phone number in +33" in err, err
    assert "'06 12 34 56 78'" not in err and "users.alice" not in err, err


def test_check_reads_numbers_in_the_sms_adapters_own_country(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The modem's country decides: `06 1234 5678` is a number in Italy, and the fix shows its form."""
    config = smsd_config(tmp_path)
    code, err = check(tmp_path, '[users.giulia]\nroles = ["guest"]\nsms = ["06 1234 5678", "06123456789", "3331234567890"]\n'
                                f'[adapters.sms]\nbackend = "smsd"\nsmsd_config = "{config}"\n'
                                'default_country = "IT"\n', capsys)
    assert code == 0, err
    assert "'06 1234 5678'" not in err and "'06123456789'" not in err, "numbers there, not in France"
    assert "warning: users.giulia.sms: '3331234567890' is no phone number in IT: giulia is never recognised by it, and SMS " \
           "to it fail; write it in the international form, e.g. +393123456789" in err, err


def test_check_reports_a_missing_smsd_config_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A typo in smsd_config passed check; the adapter then stayed down at every start."""
    code, err = check(tmp_path, '[adapters.sms]\nbackend = "smsd"\nsmsd_config = "/nonexistent/gammu-smsdrc"\n',
                      capsys)
    assert code == 2, err
    assert "adapters.sms.smsd_config: cannot read /nonexistent/gammu-smsdrc: No such file or directory; point it " \
           "at gammu-smsd's config (e.g. /etc/gammu-smsdrc)" in err, err


def test_check_reports_an_smsd_config_that_cannot_serve_the_hub(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Read as the adapter reads it: a config for another service is said too, relative to the
    config's folder."""
    (tmp_path / "smsdrc").write_text("[smsd]\nservice = sql\n", encoding="utf-8")
    code, err = check(tmp_path, '[adapters.sms]\nbackend = "smsd"\nsmsd_config = "smsdrc"\n', capsys)
    assert code == 2, err
    assert f"adapters.sms.smsd_config: {tmp_path / 'smsdrc'} uses service = sql; the hub reads the files service: " \
           "set service = files in its [smsd] section" in err, err
    smsd_config(tmp_path)
    assert check(tmp_path, '[adapters.sms]\nbackend = "smsd"\nsmsd_config = "smsdrc"\n', capsys)[0] == 0


def test_check_reports_an_unreadable_gammurc_and_not_the_unused_smsd_config(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(tmp_path, '[adapters.sms]\nbackend = "gammu"\ngammurc = "gammurc"\n', capsys)
    assert code == 2, err
    assert f"adapters.sms.gammurc: cannot read {tmp_path / 'gammurc'} (No such file or directory); give the path " \
           "of a gammurc file, or leave gammurc out and set device and connection" in err, err
    assert "smsd_config" not in err, "backend gammu never reads it"
    (tmp_path / "gammurc").write_text("[gammu]\nmodel = dummy\nconnection = none\n", encoding="utf-8")
    code, err = check(tmp_path, '[adapters.sms]\nbackend = "gammu"\ngammurc = "gammurc"\n', capsys)
    assert code == 0, err


def test_a_disabled_sms_adapter_is_not_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = check(tmp_path, '[users.bob]\nroles = ["guest"]\nsms = ["06123456789"]\n'
                                '[adapters.sms]\nenabled = false\nbackend = "smsd"\nsmsd_config = "/nonexistent"\n',
                      capsys)
    assert code == 0 and "smsd_config" not in err and "06123456789" not in err, err
