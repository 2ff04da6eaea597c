"""Fixtures for the Telegram adapter: the local Bot API emulator, and hub settings pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from chatops.config import Settings
from chatops.testing import Mosquitto, merge, settings_for

from .emulator import TOKEN, BotApi

ALICE, STRANGER = 1001, 2002


@pytest.fixture
async def bot_api() -> AsyncIterator[BotApi]:
    api = BotApi()
    await api.start()
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
def telegram_settings(tmp_path: Path, mosquitto: Mosquitto, bot_api: BotApi,
                      monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Hub settings with [adapters.telegram] on the emulator; keywords go into that section."""
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)

    def build(**telegram: Any) -> Settings:
        section = merge({"api_url": bot_api.url, "token_env": "TELEGRAM_TOKEN", "poll_timeout": "2s"}, telegram)
        rule = {"name": "smoke", "device": "kitchen_smoke", "when": "on", "message": "Smoke in the kitchen!",
                "severity": "critical", "notify": ["alice"], "repeat": "1h", "cooldown": "1s"}
        return settings_for(tmp_path / "data", mqtt_url=mosquitto.url, adapters={"telegram": section},
                            users={"alice": {"roles": ["admin"], "telegram": [str(ALICE)]}}, alerts=[rule])
    return build
