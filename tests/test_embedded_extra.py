"""Without the `[embedded]` extra (amqtt), `[mqtt] url = "embedded"` says what to install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from chatops.testing import REPO, write_demo_config

HIDE_AMQTT = """
import sys
class Hide:
    def find_spec(self, name, path=None, target=None):
        if name == "amqtt" or name.startswith("amqtt."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
from chatops.cli import main
sys.exit(main(["run", "--config", sys.argv[1]]))
"""


def test_embedded_broker_without_amqtt_names_the_extra(tmp_path: Path) -> None:
    config = write_demo_config(tmp_path)
    done = subprocess.run([sys.executable, "-c", HIDE_AMQTT, str(config)], cwd=REPO, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode != 0, done.stdout + done.stderr
    assert 'pip install "chatops[embedded]"' in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
