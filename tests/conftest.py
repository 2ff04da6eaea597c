"""Shared fixtures: a real mosquitto per test, private data dirs, hub settings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chatops.testing import Mosquitto, started


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A real mosquitto on a free port, stopped after the test (tests may stop/start it)."""
    with started(Mosquitto(tmp_path / "mosquitto")) as server:
        yield server
