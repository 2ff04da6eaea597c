"""Without the `[embedded]` extra (amqtt), `[mqtt] url = "embedded"` says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from chatops.testing import REPO, write_demo_config

HIDE_AMQTT = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "amqtt" or name.startswith("amqtt."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
from chatops.cli import main
sys.exit(main([sys.argv[2], "--config", sys.argv[1]]))
"""


@pytest.mark.parametrize("command", ["run", "check"])
def test_embedded_broker_without_amqtt_names_the_extra(tmp_path: Path, command: str) -> None:
    # `check` says it too (not "OK" and then a failing start), and both exit 2, the code the
    # systemd unit does not restart on: a missing extra needs someone to install it.
    config = write_demo_config(tmp_path)
    done = subprocess.run([sys.executable, "-c", HIDE_AMQTT, str(config), command], cwd=REPO, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, done.stdout + done.stderr
    from chatops.extras import install_hint
    assert install_hint("embedded") in done.stderr, done.stderr
    assert "mqtt.url: url = \"embedded\" needs the embedded broker" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
