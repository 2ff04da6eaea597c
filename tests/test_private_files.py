"""The data folder and what the hub writes in it are private to the hub's user, whatever the
umask; `chatops check` warns about an existing folder others can read."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from chatops.hub import Hub, running
from chatops.testing import REPO, Mosquitto, exec_command, settings_for

pytestmark = pytest.mark.servers


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_data_folder_and_its_files_are_private(tmp_path: Path, mosquitto: Mosquitto) -> None:
    old = os.umask(0o022)                       # the usual umask: files 0644, folders 0755
    try:
        data = tmp_path / "data"
        hub = Hub(settings_for(data, mosquitto.url))
        async with running(hub):
            assert (await exec_command(hub, "snap entree")).startswith("entrée at")
            assert "salon" in await exec_command(hub, "graph salon")
            assert "Sorry" in await exec_command(hub, "mute smoke 1m", network="slack", sender="U0STRANGER")
            await hub.audit.flush()
        assert mode(data) == 0o700
        written = [p for p in data.rglob("*") if p.is_file()]
        assert any(p.suffix == ".jpg" for p in written) and any(p.suffix == ".png" for p in written)
        assert (data / "chatops.db") in written
        assert {str(p.relative_to(data)): oct(mode(p)) for p in written if mode(p) & 0o077} == {}
        assert {str(p.relative_to(data)): oct(mode(p)) for p in data.rglob("*")
                if p.is_dir() and mode(p) & 0o077} == {}
    finally:
        os.umask(old)


def test_check_warns_about_a_data_folder_others_can_read(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text((REPO / "config.toml").read_text(encoding="utf-8").replace(
        'data_dir = "data"', f'data_dir = "{tmp_path / "data"}"'), encoding="utf-8")
    (tmp_path / "data").mkdir(mode=0o755)
    os.chmod(tmp_path / "data", 0o755)
    result = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert "can be read by other users" in result.stderr and "chmod 700" in result.stderr
    os.chmod(tmp_path / "data", 0o700)
    quiet = subprocess.run([sys.executable, "-m", "chatops.cli", "check", "--config", str(config)],
                           capture_output=True, text=True, cwd=REPO)
    assert "can be read by other users" not in quiet.stderr
