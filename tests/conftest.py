"""Shared fixtures: a real mosquitto per test, private data dirs, hub settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The example third-party plugin (tests/plugins/chatops-tcplines): scripts/test installs it, by its
# own pyproject, into the venv's test-plugins folder, which only the tests put on their path and on
# their subprocesses' (a hub started by a test finds it; the demo, sharing the venv, does not).
TEST_PLUGINS = Path(sys.prefix) / "test-plugins"
if TEST_PLUGINS.is_dir() and str(TEST_PLUGINS) not in sys.path:
    sys.path.append(str(TEST_PLUGINS))
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (os.environ.get("PYTHONPATH"), str(TEST_PLUGINS)) if p)

from chatops.testing import Mosquitto, started  # noqa: E402 (after the path the plugin needs)


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free port, stopped after the test (tests may stop/start it)."""
    with started(Mosquitto(tmp_path / "mosquitto")) as server:
        yield server
