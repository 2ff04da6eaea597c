"""The Slack adapter end to end: the real slack_sdk against the local emulator, a real hub and mosquitto."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chatops.config import Settings
from chatops.hub import Hub, running
from chatops.message import Address, Attachment, Reply
from chatops.testing import tiny_png, wait_for

from .emulator import SlackEmulator

pytestmark = pytest.mark.servers

SettingsFactory = Callable[..., Settings]


def recent(suffix: str) -> str:
    """A Slack ts from now, told apart by `suffix` (`300.000100`): a fixed one from 2023 is years
    late, and a line that late is not run."""
    seconds, fraction = suffix.split(".")
    return f"{int(time.time()) - 60 + int(seconds) // 10}.{fraction}"


async def connected(hub: Hub, emulator: SlackEmulator, kind: str = "socket") -> Any:
    adapter = hub.adapters["slack"]
    await asyncio.wait_for(adapter.health.up_event.wait(), 10)
    await emulator.wait(lambda: bool(emulator.open_sockets(kind)))
    return adapter


async def test_channel_command_is_answered_in_its_channel_and_thread(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"})
        post = await slack_emulator.next_post()
        assert post["channel"] == "C0HOME" and post["thread_ts"] is None
        assert post["text"].startswith("salon: ") and "°C" in post["text"]

        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp chambre", "ts": recent("100.000200"),
                                         "thread_ts": "1700000000.000100"})
        post = await slack_emulator.next_post()
        assert post["channel"] == "C0HOME" and post["thread_ts"] == "1700000000.000100"
        assert post["text"].startswith("chambre: ")
        assert hub.health()["adapters"]["slack"]["connected"] is True


async def test_dm_needs_no_prefix_and_mentions_are_stripped_once(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "D0ALICE", "channel_type": "im",
                                         "user": "U0ALICE", "text": "whoami"})
        post = await slack_emulator.next_post()
        assert post["channel"] == "D0ALICE"
        assert post["text"].startswith("You are slack:U0ALICE (alice)")

        # A mention arrives twice (message.channels and app_mention, same ts): answered once.
        mention = {"channel": "C0HOME", "user": "U0BOB", "text": "<@UBOT> temp salon", "ts": recent("200.000300")}
        await slack_emulator.push_event({"type": "app_mention", **mention})
        await slack_emulator.push_event({"type": "message", "channel_type": "channel", **mention})
        # Chatter without prefix or mention is not for the hub.
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": "temp salon, anyone?"})
        # Mentions of people and channels in the input reach the router as names.
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": "!<@U0ALICE> in <#C0OTHER> &amp; co"})
        first, second = await slack_emulator.next_post(), await slack_emulator.next_post()
        assert first["text"].startswith("salon: ")
        assert "Unknown command '@alice'" in second["text"]
        assert slack_emulator.posts.empty()
        users_info = [c.params["user"] for c in slack_emulator.calls_of("users.info")]
        assert users_info.count("U0BOB") == 1                    # names are cached


async def test_private_channels_and_group_dms_are_rooms(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """A private channel (`group`) and a group DM (`mpim`) have several people in them: like a
    channel, only prefixed or addressed lines are commands, answered where they were written."""
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        for channel, kind in (("G0PRIV", "group"), ("G0MPIM", "mpim")):
            await slack_emulator.push_event({"type": "message", "channel": channel, "channel_type": kind,
                                             "user": "U0ALICE", "text": "temp salon"})          # chatter
            await slack_emulator.push_event({"type": "message", "channel": channel, "channel_type": kind,
                                             "user": "U0ALICE", "text": "!temp chambre"})
            post = await slack_emulator.next_post()
            assert post["channel"] == channel and post["text"].startswith("chambre: ")
        assert slack_emulator.posts.empty()                    # the chatter got nothing


async def test_slash_command_answers_in_that_channel(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_slash("temp salon", channel="G0PRIV", user="U0ALICE")
        post = await slack_emulator.next_post()
        assert post["channel"] == "G0PRIV" and post["text"].startswith("salon: ")
        await slack_emulator.push_slash("salon", channel="C0HOME", command="/temp")
        post = await slack_emulator.next_post()
        assert post["channel"] == "C0HOME" and post["text"].startswith("salon: ")
        # In a channel the bot is not a member of, the answer goes through the command's response_url.
        await slack_emulator.push_slash("temp salon", channel="C0NOTIN")
        post = await slack_emulator.next_post()
        assert post["channel"] == "C0NOTIN" and post["via"] == "response_url" and post["text"].startswith("salon: ")


async def test_own_and_bot_messages_and_edits_are_ignored(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        base = {"type": "message", "channel": "C0HOME", "channel_type": "channel"}
        await slack_emulator.push_event({**base, "user": "UBOT", "bot_id": "BBOT", "text": "!temp salon"})
        await slack_emulator.push_event({**base, "bot_id": "B0OTHER", "subtype": "bot_message", "text": "!temp salon"})
        await slack_emulator.push_event({**base, "user": "U0OTHERBOT", "bot_id": "B0OTHER", "text": "!temp salon"})
        await slack_emulator.push_event({**base, "subtype": "message_changed", "hidden": True,
                                         "message": {"user": "U0ALICE", "text": "!temp salon"}})
        await slack_emulator.push_event({**base, "subtype": "channel_join", "user": "U0BOB",
                                         "text": "<@U0BOB> has joined the channel"})
        await slack_emulator.push_event({**base, "user": "U0ALICE", "text": "!temp chambre"})
        post = await slack_emulator.next_post()
        assert post["text"].startswith("chambre: ")
        assert slack_emulator.posts.empty()
        assert len(slack_emulator.acks) >= 6                    # every envelope was acked


async def test_other_bots_are_answered_when_allowed(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings(allow_bots=True))) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "UBOT", "bot_id": "BBOT", "text": "!temp salon"})
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0OTHERBOT", "bot_id": "B0OTHER", "text": "!temp chambre"})
        post = await slack_emulator.next_post()
        assert post["text"].startswith("chambre: ")
        assert slack_emulator.posts.empty()


async def test_snapshot_is_uploaded_in_three_steps(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator, tmp_path: Path) -> None:
    image = tiny_png(tmp_path / "entree.png")
    async with running(Hub(slack_settings())) as hub:
        adapter = await connected(hub, slack_emulator)
        reply = Reply("entree at 10:31", (Attachment(image, "image/png", name="entree.png"),))
        await adapter.send(Address("slack", "C0HOME", False, "1700000000.000100"), reply)
    steps = [c.method for c in slack_emulator.calls
             if c.method in ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")]
    assert steps == ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    get_url = slack_emulator.calls_of("files.getUploadURLExternal")[0].params
    assert get_url["filename"] == "entree.png" and int(get_url["length"]) == image.stat().st_size
    assert list(slack_emulator.uploads.values()) == [image.read_bytes()]
    done = slack_emulator.completed[0]
    assert done["channel_id"] == "C0HOME" and done["thread_ts"] == "1700000000.000100"
    assert done["initial_comment"] == "entree at 10:31"
    assert slack_emulator.posted == []


async def test_snap_command_uploads_the_camera_picture_into_the_thread(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """`!snap entree` typed in a thread: the demo's simulated camera, uploaded where it was asked."""
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!snap entree", "ts": recent("300.000100"),
                                         "thread_ts": "1700000000.000100"})
        await slack_emulator.wait(lambda: bool(slack_emulator.completed))
    done = slack_emulator.completed[0]
    assert done["channel_id"] == "C0HOME" and done["thread_ts"] == "1700000000.000100"
    assert re.fullmatch(r"entrée at \d\d:\d\d:\d\d", done["initial_comment"])
    (picture,) = slack_emulator.uploads.values()
    assert picture[:3] == b"\xff\xd8\xff"                    # a JPEG


async def test_a_picture_slack_refuses_leaves_its_words_and_says_why(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """An app without files:write: `!snap entree` once answered nothing at all (the caption went
    with the refused upload); the words go, with what became of the picture."""
    slack_emulator.refuse["files.getUploadURLExternal"] = "missing_scope"
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!snap entree", "ts": recent("300.000100")})
        post = await slack_emulator.next_post()
    first, note = post["text"].split("\n")
    assert re.fullmatch(r"entrée at \d\d:\d\d:\d\d", first), post
    assert re.fullmatch(r"\(picture \S+\.jpg not sent: Slack said missing_scope \(the app needs the files:write "
                        r"scope\)\) http://127\.0\.0\.1:\d+/files/\S+\.jpg", note), note


async def test_replies_are_escaped_split_and_sent_to_users(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        adapter = await connected(hub, slack_emulator)
        await adapter.send(Address("slack", "U0ALICE", True), Reply("smoke <kitchen> & hall", notice=True))
        post = await slack_emulator.next_post()
        assert post == {**post, "channel": "D0ALICE", "text": "smoke &lt;kitchen&gt; &amp; hall"}
        long_text = "\n".join(f"line {i}: " + "word " * 30 for i in range(100))
        await adapter.send(Address("slack", "C0HOME", False), Reply(long_text))
        parts = [slack_emulator.posts.get_nowait() for _ in range(slack_emulator.posts.qsize())]
        assert len(parts) >= 4 and all(len(p["text"]) <= 4000 for p in parts)
        assert "\n".join(p["text"] for p in parts) == long_text           # cut at line ends only
        # A channel that does not exist is given up at once, saying what to check (it was retried for a day).
        from chatops.outbox import Undeliverable
        with pytest.raises(Undeliverable, match="slack:C0NOWHERE: channel_not_found: no such channel, or one the "
                                                "bot cannot see: check the ID, or /invite the bot there"):
            await adapter.send(Address("slack", "C0NOWHERE", False), Reply("lost"))
        assert len(slack_emulator.calls_of("conversations.open")) == 1


async def test_rate_limited_call_is_retried_after_retry_after(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        slack_emulator.rate_limit("chat.postMessage", retry_after=1.2)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"})
        post = await slack_emulator.next_post()
        assert post["text"].startswith("salon: ")
        refused, accepted = slack_emulator.calls_of("chat.postMessage")
        assert refused.status == 429 and accepted.status == 200
        assert accepted.at - refused.at >= 1.2


async def test_a_long_message_retried_after_its_second_part_failed_sends_that_part_only(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """7,000 characters go as two posts; the second refused (429, retries spent): the outbox's
    retry posted the first again, so it arrived twice."""
    from chatops.message import Address, Reply
    async with running(Hub(slack_settings(max_retries=0))) as hub:
        await connected(hub, slack_emulator)
        text = "\n".join(f"line {n:04d} " + "x" * 60 for n in range(100))
        slack_emulator.rate_limit("chat.postMessage", retry_after=0.5, after=1)
        await hub.alerts.outbox.queue(Address("slack", "C0HOME", False), "slack:C0HOME", "timer", [Reply(text)],
                                      hub.clock.time())
        first = await slack_emulator.next_post()
        second = await slack_emulator.next_post(timeout=20)
        assert first["text"].startswith("line 0000") and not second["text"].startswith("line 0000"), second
        assert first["text"] + "\n" + second["text"] == text
        assert [c.status for c in slack_emulator.calls_of("chat.postMessage")] == [200, 429, 200]


async def test_disconnect_envelope_reconnects(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        adapter = await connected(hub, slack_emulator)
        for number, reason in enumerate(("refresh_requested", "warning", "too_many_websockets"), start=2):
            await slack_emulator.disconnect(reason)
            await slack_emulator.wait(lambda: slack_emulator.connections() == number
                                      and len(slack_emulator.open_sockets()) == 1)
            await asyncio.wait_for(adapter.health.up_event.wait(), 10)
            await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                             "user": "U0ALICE", "text": "!temp salon"})
            post = await slack_emulator.next_post()
            assert post["text"].startswith("salon: ")
        assert len(slack_emulator.calls_of("apps.connections.open")) == 4
        assert adapter.watchdog_restarts == 0


async def test_network_loss_reconnects_and_health_shows_it(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings(watchdog="3s"))) as hub:
        adapter = await connected(hub, slack_emulator)
        for sock in slack_emulator.open_sockets():
            sock.ws._writer.transport.abort()                   # the TCP connection dies, no close frame
        await wait_for(lambda: not adapter.health.connected, timeout=10)
        await slack_emulator.wait(lambda: bool(slack_emulator.open_sockets()) and slack_emulator.connections() >= 2)
        await asyncio.wait_for(adapter.health.up_event.wait(), 10)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"})
        assert (await slack_emulator.next_post())["text"].startswith("salon: ")


async def test_redelivered_envelope_runs_once(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        event = {"type": "message", "channel": "C0HOME", "channel_type": "channel", "user": "U0ALICE",
                 "text": "!switch heater on", "ts": recent("300.000100")}
        await slack_emulator.push_event(event, event_id="Ev0REDELIVER")
        assert (await slack_emulator.next_post())["text"] == "heater is ON"
        await slack_emulator.push_event({**event, "ts": recent("300.000999")}, event_id="Ev0REDELIVER")
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"})
        assert (await slack_emulator.next_post())["text"].startswith("salon: ")
        assert slack_emulator.posts.empty()                     # the switch ran once


async def test_redelivery_after_a_restart_still_runs_once(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    settings = slack_settings()
    event = {"type": "message", "channel": "C0HOME", "channel_type": "channel", "user": "U0ALICE",
             "text": "!temp salon"}
    async with running(Hub(settings)) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event(event, event_id="Ev0BEFORERESTART")
        assert (await slack_emulator.next_post())["text"].startswith("salon: ")
    async with running(Hub(settings)) as hub:                  # same data dir: same store
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({**event, "ts": recent("400.000100")}, event_id="Ev0BEFORERESTART")
        await slack_emulator.push_event({**event, "text": "!temp chambre"})
        assert (await slack_emulator.next_post())["text"].startswith("chambre: ")


async def test_unconfigured_user_may_not_switch(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": "!switch heater on"})
        post = await slack_emulator.next_post()
        assert post["text"].startswith("Sorry, bob may not use switch")
        refused = await hub.store.audit_entries("refused")
        assert refused and refused[0]["sender"] == "slack:U0BOB"


async def test_rtm_mode_answers(slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    settings = slack_settings(mode="rtm", app_token_env=None)
    async with running(Hub(settings)) as hub:
        adapter = await connected(hub, slack_emulator, kind="rtm")
        await slack_emulator.push_rtm({"type": "message", "channel": "C0HOME", "user": "UBOT", "bot_id": "BBOT",
                                       "text": "!temp chambre"})
        await slack_emulator.push_rtm({"type": "message", "channel": "C0HOME", "user": "U0ALICE",
                                       "text": "!temp salon", "thread_ts": "1700000000.000100"})
        post = await slack_emulator.next_post()
        assert post["channel"] == "C0HOME" and post["thread_ts"] == "1700000000.000100"
        assert post["text"].startswith("salon: ")
        await slack_emulator.push_rtm({"type": "message", "channel": "D0ALICE", "user": "U0ALICE", "text": "temp"})
        post = await slack_emulator.next_post()
        assert post["channel"] == "D0ALICE" and "salon: " in post["text"]
        assert slack_emulator.posts.empty()
        assert adapter.health.connected
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 4
    assert slack_emulator.calls_of("apps.connections.open") == []
    await slack_emulator.wait(lambda: not slack_emulator.open_sockets("rtm"), timeout=5)


async def test_watchdog_recreates_a_silent_connection(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings(watchdog="1.5s"))) as hub:
        adapter = await connected(hub, slack_emulator)
        slack_emulator.silent = True                            # no frame, no pong, on every socket
        await wait_for(lambda: adapter.watchdog_restarts >= 1, timeout=15)
        assert not adapter.health.connected
        slack_emulator.silent = False
        await asyncio.wait_for(adapter.health.up_event.wait(), 15)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"}, timeout=15)
        assert (await slack_emulator.next_post())["text"].startswith("salon: ")
        assert len(slack_emulator.calls_of("apps.connections.open")) >= 2


async def test_watchdog_recreates_a_connection_never_greeted(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    slack_emulator.greet = False                                # sockets open, answer pings, never say hello
    async with running(Hub(slack_settings(watchdog="1.5s"))) as hub:
        adapter = hub.adapters["slack"]
        await wait_for(lambda: adapter.watchdog_restarts >= 1, timeout=15)
        assert not adapter.health.connected and "no hello" in adapter.health.detail
        slack_emulator.greet = True
        await asyncio.wait_for(adapter.health.up_event.wait(), 15)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon"}, timeout=15)
        assert (await slack_emulator.next_post())["text"].startswith("salon: ")


async def test_refused_token_stops_the_adapter_and_says_why(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-revoked")
    async with running(Hub(slack_settings())) as hub:
        adapter = hub.adapters["slack"]
        await wait_for(lambda: "Slack refused the" in adapter.health.detail)
        assert not adapter.health.connected
        assert hub.health()["ready"] is True
    assert len(slack_emulator.calls_of("apps.connections.open")) == 1      # fatal: not retried
    # Which token, by the call Slack refused it on, and the key to fix.
    assert "Slack refused the xapp-… app-level token (connections:write) (invalid_auth from apps.connections.open): " \
           "check app_token_env / app_token_file" in caplog.text, caplog.text


async def test_swapped_tokens_are_told_apart_by_their_prefixes(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SLACK_APP_TOKEN", "xoxb-emulator")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xapp-emulator")
    async with running(Hub(slack_settings())) as hub:
        await wait_for(lambda: "the bot token starts with xoxb-; it is the Bot User OAuth Token" in caplog.text)
        assert not hub.adapters["slack"].health.connected
    assert slack_emulator.calls == [], "nothing sent to Slack with the wrong token"
    from chatops.config_report import check_secrets            # and `chatops check` says so first
    assert [p.split(": ", 2)[-1] for p in check_secrets(slack_settings())] == [
        "the bot token starts with xoxb-; it is the Bot User OAuth Token (OAuth & Permissions); an xapp- one is "
        "the app token",
        "the app-level token starts with xapp-; it is made under Basic Information, App-Level Tokens "
        "(connections:write); an xoxb- one is the bot token"]


async def test_cancellation_closes_quickly(slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3
    await slack_emulator.wait(lambda: not slack_emulator.open_sockets(), timeout=3)


async def test_late_lines_are_not_run_and_chatter_leaves_no_trace(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """`switch heater on` redelivered half an hour late switched the heater; and every line of
    every channel the bot is in (lunch chatter) was written to the database, for ever."""
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": "just chatting about lunch"}, event_id="EvCHATTER01")
        await slack_emulator.push_event({"type": "message", "channel": "D0ALICE", "channel_type": "im",
                                         "user": "U0ALICE", "text": "switch heater on",
                                         "ts": f"{time.time() - 1800:.6f}"})
        post = await slack_emulator.next_post()
        assert post["text"].startswith("Not run: 'switch heater on' reached the hub 30m late"), post["text"]
        heater = hub.home.devices["heater"].reading
        assert heater is None or heater.value is False, "the heater was not switched"
        keys = await hub.store.call(lambda: [k for (k,) in hub.store.db.execute("SELECT key FROM processed")])
        assert not [k for k in keys if "EvCHATTER01" in k], keys


async def test_a_scope_refused_while_running_is_said_and_the_outbox_waits(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    """chat:write taken away while the hub ran: answers failed with a traceback, alerts were
    retried as any failure, and /health and status said the adapter was connected."""
    import adapters.slack
    monkeypatch.setattr(adapters.slack, "REFUSED_PAUSE", 1.0)
    async with running(Hub(slack_settings())) as hub:
        adapter = await connected(hub, slack_emulator)
        slack_emulator.refuse["chat.postMessage"] = "missing_scope"
        await hub.timers.deliver(Address("slack", "C0HOME"), "alice", "notify", [Reply("Washing machine done")])
        await wait_for(lambda: not adapter.health.connected)
        assert "Slack refused the xoxb-… bot token (missing_scope from chat.postMessage): check the app's " \
               "scopes" in adapter.health.detail
        assert hub.health()["adapters"]["slack"]["connected"] is False
        del slack_emulator.refuse["chat.postMessage"]           # the scope given back: it goes out, once
        post = await slack_emulator.next_post(timeout=20)
        assert post["channel"] == "C0HOME" and post["text"] == "Washing machine done"
        assert adapter.health.connected


async def test_a_strangers_mentions_cost_no_lookups_and_never_hold_up_a_user(
        slack_settings: SettingsFactory, slack_emulator: SlackEmulator) -> None:
    """Each `<@U…>` and `<#C…>` of a line was looked up (users.info, conversations.info) before
    the router judged it, one call after another in the adapter's one consumer, 429 waits
    included: a workspace member who is no configured user posted `!x <@U1> <@U2> …` (up to
    40,000 characters, thousands of ids no cache holds, fresh ones each time) and every line of
    everyone, an admin's `ack` too, waited behind thousands of calls. A stranger's line now
    costs no lookup beyond their own name; a user's, a few, and none when it is too long to run."""
    async with running(Hub(slack_settings())) as hub:
        await connected(hub, slack_emulator)
        mentions = " ".join(f"<@UX{n:05d}> <#CX{n:05d}>" for n in range(400))
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": f"!temp {mentions}"})
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0BOB", "text": "!temp <@UY00001> <@UY00002> <#CY00001>",
                                         "ts": recent("100.000200")})
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon <@UZ00001> " + mentions,
                                         "ts": recent("100.000300")})
        await slack_emulator.push_event({"type": "message", "channel": "C0HOME", "channel_type": "channel",
                                         "user": "U0ALICE", "text": "!temp salon", "ts": recent("100.000400")})
        posts = [await slack_emulator.next_post() for _ in range(4)]
        assert posts[-1]["text"].startswith("salon: "), posts
        looked_up = [c.params.get("user") or c.params.get("channel") for c in
                     slack_emulator.calls_of("users.info") + slack_emulator.calls_of("conversations.info")]
        assert [ref for ref in looked_up if ref[1:2] in ("X", "Y", "Z")] == [], looked_up
