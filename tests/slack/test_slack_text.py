"""Offline parts of the Slack adapter: escaping, splitting, Slack's <...> tokens, Retry-After, settings."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from adapters.slack import Settings, escape, plain_text, split_text, unescape
from adapters.slack_retry import retry_after
from chatops.config import ConfigError, parse_settings


def test_escape_round_trip() -> None:
    assert escape("a < b & c > d") == "a &lt; b &amp; c &gt; d"
    assert unescape(escape("&amp; <@U1>")) == "&amp; <@U1>"


def test_split_prefers_lines_then_words_and_never_cuts_an_escape() -> None:
    assert split_text("") == []
    assert split_text("short") == ["short"]
    lines = "\n".join(["x" * 60] * 5)
    assert split_text(lines, 130) == ["\n".join(["x" * 60] * 2)] * 2 + ["x" * 60]
    words = " ".join(["word"] * 10)
    parts = split_text(words, 20)
    assert all(len(p) <= 20 for p in parts) and " ".join(parts).split() == ["word"] * 10
    amps = split_text("&" * 10, 12)                 # each & is 5 characters once escaped
    assert amps == ["&amp;&amp;"] * 5
    assert all(len(p) <= 4000 for p in split_text("y" * 10000))


async def test_plain_text_resolves_users_channels_and_links() -> None:
    async def user(uid: str) -> str:
        return {"U1": "alice"}.get(uid, uid)

    async def channel(cid: str) -> str:
        return {"C1": "maison"}.get(cid, cid)

    text = "<@U1> and <@U2|bob> in <#C1> or <#C2|general> <!here> <https://x.org/a?b=1&amp;c=2|x> <mailto:a@b.c|a@b.c> &lt;3"
    assert await plain_text(text, user, channel) == \
        "@alice and @U2 in #maison or #general @here https://x.org/a?b=1&c=2 a@b.c <3"


def test_retry_after_reads_the_whole_header() -> None:
    assert retry_after(CIMultiDict({"Retry-After": "30"})) == 30.0
    assert retry_after({"retry-after": ["12"]}) == 12.0
    assert retry_after({}) == 1.0
    assert retry_after({"Retry-After": "soon"}) == 1.0


def _slack(**section: object) -> object:
    return parse_settings({"adapters": {"console": {"enabled": False}, "slack": section}})


def test_settings_need_tokens_for_their_mode() -> None:
    with pytest.raises(ConfigError, match="app-level token"):
        _slack(bot_token_env="SLACK_BOT_TOKEN")
    with pytest.raises(ConfigError, match="bot token"):
        _slack(app_token_env="SLACK_APP_TOKEN")
    with pytest.raises(ConfigError, match="secrets never go|cannot be written"):
        _slack(bot_token="xoxb-1", app_token_env="A")
    rtm = _slack(mode="rtm", bot_token_file="/etc/chatops/slack.token")
    section = rtm.adapter_sections[-1][2]                        # type: ignore[attr-defined]
    assert isinstance(section, Settings) and section.base_url == "https://slack.com/api/"
    assert section.ping_interval == 5.0
    assert Settings(bot_token_env="B", app_token_env="A", watchdog="1.5s").ping_interval == 0.5
