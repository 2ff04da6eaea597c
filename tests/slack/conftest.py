"""Fixtures for the Slack adapter: a local Slack emulator, and a hub wired to it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatops.config import Settings
from chatops.testing import Mosquitto, merge, settings_for

from .emulator import APP_TOKEN, BOT_TOKEN, SlackEmulator


@pytest.fixture
async def slack_emulator() -> AsyncIterator[SlackEmulator]:
    """A fresh emulator per test (it starts in a few ms)."""
    emulator = SlackEmulator()
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
def slack_settings(tmp_path: Path, mosquitto: Mosquitto, slack_emulator: SlackEmulator,
                   monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Hub settings with [adapters.slack] pointed at the emulator; keyword overrides go into that section."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)

    def build(**slack: Any) -> Settings:
        section = merge({"api_url": slack_emulator.url, "bot_token_env": "SLACK_BOT_TOKEN",
                         "app_token_env": "SLACK_APP_TOKEN"}, slack)
        return settings_for(tmp_path / "data", mqtt_url=mosquitto.url, adapters={"slack": section},
                            users={"alice": {"roles": ["admin"], "slack": ["U0ALICE"]}})
    return build
