"""chatops.entry_points reads what importlib.metadata reads (pure logic over this venv's metadata)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

from chatops.entry_points import entry_points

REPO = Path(__file__).resolve().parent.parent


def test_the_same_entry_points_as_importlib_metadata() -> None:
    for group in ("chatops.adapters", "chatops.commands"):
        expected: dict[str, str] = {}
        for point in importlib.metadata.entry_points(group=group):
            expected.setdefault(point.name, point.value)
        assert entry_points(group) == expected
    assert entry_points("chatops.adapters")["irc"] == "adapters.irc_network:NETWORK"
    assert "tcplines" in entry_points("chatops.adapters")          # the example plugin, installed by the test command


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
