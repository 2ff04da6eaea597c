"""The Telegram adapter against a local Bot API emulator driving the real python-telegram-bot:
private chats and groups, replies, photos, buttons pressed by people (and by strangers), alerts with
an Acknowledge button, an alert waiting in the outbox while the Bot API is down, 429s obeyed, no
update handled twice across a restart, and the webhook."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import aiomqtt
import pytest

from chatops.config import Settings
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, free_port, wait_for

from .conftest import ALICE, STRANGER
from .emulator import TOKEN, BotApi

pytestmark = pytest.mark.servers
READING = re.compile(r"salon: -?\d+\.\d °C")


async def connected(hub: Hub) -> Any:
    adapter = hub.adapters["telegram"]
    await wait_for(lambda: adapter.health.connected, timeout=10)
    return adapter


async def test_private_chat_and_group(telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        asked = await bot_api.say(ALICE, "temp salon")
        answer = (await bot_api.wait_sent(ALICE))[0]
        assert READING.fullmatch(answer.text) and answer.reply_to == asked
        group = -1001234
        await bot_api.say(ALICE, "temp salon", chat_id=group)                 # not for the hub in a group
        await bot_api.say(ALICE, "/temp@maison_bot salon", chat_id=group)
        await bot_api.say(ALICE, "/temp@other_bot salon", chat_id=group)      # another bot's command
        await bot_api.say(ALICE, "@maison_bot_helper hello", chat_id=group)    # another bot, a longer name
        await bot_api.say(ALICE, "!temp chambre", chat_id=group)
        sent = await bot_api.wait_sent(group, 2)
        assert [s.text.split(":")[0] for s in sent] == ["salon", "chambre"]
        await bot_api.say(ALICE, "/start")                                    # a new chat's first word
        assert (await bot_api.wait_sent(ALICE, 2))[1].text.startswith("Commands:\nack")
        await bot_api.say(ALICE, "snap entree")
        photo = (await bot_api.wait_sent(ALICE, 3))[2]
        assert photo.method == "sendPhoto" and photo.photo_bytes > 1000


async def test_in_a_group_other_bots_commands_are_left_alone_and_a_reply_to_the_bot_is_for_it(
        telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    """In a group with other bots, `/ban someone` got "Unknown command 'ban'" and a bare `/start`
    the whole help; a reply to the bot's own message (`temp salon` under its answer) got nothing."""
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        group = -1001234
        for line in ("/ban someone", "/start", "/tmep salon"):
            await bot_api.say(ALICE, line, chat_id=group)
        await bot_api.say(ALICE, "/temp salon", chat_id=group)                 # ours, bare: answered
        [answer] = await bot_api.wait_sent(group)
        assert READING.fullmatch(answer.text), answer.text
        await bot_api.say(ALICE, "temp chambre", chat_id=group, reply_to=answer)
        replies = await bot_api.wait_sent(group, 2)
        assert replies[1].text.startswith("chambre: "), replies[1].text
        assert len(bot_api.to(group)) == 2, "nothing said to the other bots' commands"


async def test_two_programs_polling_one_token_is_said_once_and_clearly(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, caplog: pytest.LogCaptureFixture) -> None:
    """Another program polling the same bot (HTTP 409 Conflict) logged a traceback at every retry."""
    async with running(Hub(telegram_settings())) as hub:
        adapter = await connected(hub)
        bot_api.refuse("getupdates", "Conflict: terminated by other getUpdates request; make sure that only one "
                                     "bot instance is running", times=3, status=409)
        await wait_for(lambda: "409 Conflict" in adapter.health.detail, timeout=20)
        assert "another program polls this bot's token" in adapter.health.detail
        await wait_for(lambda: adapter.health.connected, timeout=30)        # the other one stopped
    assert caplog.text.count("another program polls this bot's token") == 1
    # (the emulator's own server may log a reset as the hub stops: only the adapter's lines count)
    assert not [r for r in caplog.records if r.name == "adapters.telegram" and r.exc_info], "no traceback"


async def test_a_token_refused_while_running_is_retried_not_given_up(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, caplog: pytest.LogCaptureFixture) -> None:
    """A token revoked (or Telegram briefly refusing it) while the hub ran ended the adapter until
    a restart, logged as "cannot start"; and nothing said when it came back."""
    caplog.set_level(logging.INFO)
    async with running(Hub(telegram_settings())) as hub:
        adapter = await connected(hub)
        bot_api.refuse("getupdates", "Unauthorized", times=2, status=401)
        await wait_for(lambda: "refused the token" in adapter.health.detail, timeout=20)
        assert adapter.health.detail.endswith("trying again")
        await wait_for(lambda: adapter.health.connected, timeout=30)
        await bot_api.say(ALICE, "temp salon")
        assert READING.fullmatch((await bot_api.wait_sent(ALICE))[0].text)
    assert "cannot start" not in caplog.text and "telegram: connected again" in caplog.text


async def test_quiet_polls_keep_the_time_of_the_last_poll(telegram_settings: Callable[..., Settings],
                                                          bot_api: BotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """The time of the last poll was written only with updates: after a crash in a quiet hour, a
    press made a moment before the restart (an alert's Acknowledge) was taken as an hour late."""
    import adapters.telegram
    monkeypatch.setattr(adapters.telegram, "POLLED_SAVE_EVERY", 0.0)
    async with running(Hub(telegram_settings(poll_timeout="1s"))) as hub:
        adapter = await connected(hub)
        started = time.time()

        async def kept() -> float:
            return float(await hub.store.plugin_value("telegram:telegram", "polled_at") or 0)
        async with asyncio.timeout(15):
            while await kept() <= started:          # no update came: quiet polls only
                await asyncio.sleep(0.2)
        assert adapter.updates == 0


async def test_switch_buttons_are_pressed_as_the_presser(telegram_settings: Callable[..., Settings],
                                                         bot_api: BotApi, mosquitto: Mosquitto) -> None:
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        await wait_for(lambda: hub.home.devices["heater"].reading is not None)
        await bot_api.say(ALICE, "chauffage on")
        answer = (await bot_api.wait_sent(ALICE))[0]
        assert answer.text == "heater is ON"
        assert answer.buttons == [{"text": "On", "data": "switch heater on"}, {"text": "Off", "data": "switch heater off"}]
        await bot_api.press(ALICE, answer, "switch heater off")
        assert (await bot_api.wait_sent(ALICE, 2))[1].text == "heater is OFF"
        assert hub.home.devices["heater"].reading.value is False
        await bot_api.press(STRANGER, answer, "switch heater on")             # the same button, a stranger
        refusal = (await bot_api.wait_sent(ALICE, 3))[2].text
        assert refusal.startswith("Sorry, you may not use switch.")
        assert hub.home.devices["heater"].reading.value is False
        await wait_for(lambda: len(bot_api.answered) == 2)                    # every press is answered
        audit = await hub.store.audit_entries("refused")
        assert any(f"telegram:{STRANGER}" in e["sender"] for e in audit)


async def test_an_alert_has_an_acknowledge_button(telegram_settings: Callable[..., Settings], bot_api: BotApi,
                                                  mosquitto: Mosquitto) -> None:
    async with running(Hub(telegram_settings())) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await connected(hub)
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        alert = (await bot_api.wait_sent(ALICE))[0]
        assert alert.text.startswith("[CRITICAL] Smoke in the kitchen! (alert #1")
        assert alert.buttons == [{"text": "Acknowledge", "data": "ack 1"}]
        await bot_api.press(ALICE, alert, "ack 1")
        assert (await bot_api.wait_sent(ALICE, 2))[1].text == "Alert #1 (smoke) acknowledged; reminders stopped."
        assert (await hub.alerts.active())[0]["acked_by"] == "alice"


async def test_an_alert_waits_for_the_bot_api_and_arrives_once(telegram_settings: Callable[..., Settings],
                                                                bot_api: BotApi, mosquitto: Mosquitto) -> None:
    """The Bot API is unreachable when the smoke detector fires: the alert waits in the durable
    outbox and arrives, once, when Telegram answers again."""
    async with running(Hub(telegram_settings())) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        adapter = await connected(hub)
        await bot_api.stop()
        await wait_for(lambda: not adapter.health.connected, timeout=30)
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        await hub.alerts.settled()                              # recorded, waiting for the network
        assert bot_api.to(ALICE) == []
        await bot_api.start()
        alert = (await bot_api.wait_sent(ALICE, timeout=30))[0]
        assert alert.text.startswith("[CRITICAL] Smoke in the kitchen! (alert #1")
        await hub.alerts.outbox.settled("telegram")
        assert len(bot_api.to(ALICE)) == 1


async def test_a_picture_telegram_refuses_leaves_the_words_and_none_is_sent_twice(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, tmp_path: Any) -> None:
    """A photo Telegram refused (PHOTO_INVALID_DIMENSIONS) lost the whole alert, words and all;
    a 429 on the words after the photo sent the photo again at the retry."""
    from chatops.notice import Notice
    from chatops.testing import tiny_png
    picture = tiny_png(tmp_path / "p.png").read_bytes()
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        bot_api.refuse("sendphoto", "Bad Request: PHOTO_INVALID_DIMENSIONS")
        await hub.notifications.submit(Notice(("alice",), "Smoke in the kitchen", "critical", image=picture), "test")
        [words] = await bot_api.wait_sent(ALICE)
        assert words.method == "sendMessage" and words.text.startswith("[CRITICAL] Smoke in the kitchen (the "
                                                                       "picture could not be sent: "), words.text
        assert "PHOTO_INVALID_DIMENSIONS" in words.text.upper()
        # Four 429s in a row on the words: the adapter gives the delivery back to the outbox, whose
        # retry sends the words only.
        bot_api.throttle("sendmessage", retry_after=1, times=4)
        await hub.notifications.submit(Notice(("alice",), "Doorbell", "info", image=picture), "test")
        sent = await bot_api.wait_sent(ALICE, 3, timeout=20)
        assert [(s.method, s.text) for s in sent[1:]] == [("sendPhoto", ""), ("sendMessage", "Doorbell")], sent
        assert bot_api.calls.count("sendphoto") == 2, "the refused one, then the doorbell's once"
        assert bot_api.calls.count("sendmessage") == 6, "the first words; four 429s, then the doorbell's words"


async def test_429_retry_after_is_obeyed(telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        bot_api.throttle("sendmessage", retry_after=1)
        asked = time.monotonic()
        await bot_api.say(ALICE, "whoami")
        answer = (await bot_api.wait_sent(ALICE))[0]
        assert answer.text.startswith(f"You are telegram:{ALICE}")
        assert time.monotonic() - asked >= 1.0
        assert bot_api.calls.count("sendmessage") == 2                      # refused once, then sent


async def test_an_answer_telegram_asks_to_hold_back_too_long_is_dropped_with_one_line(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, caplog: pytest.LogCaptureFixture) -> None:
    """A chat answer is not kept for later (an alert is, in the outbox): past 10 s of
    `retry_after`, or a fourth 429 in a row, the log says it was dropped and why, with no
    traceback, and the next answer goes."""
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        bot_api.throttle("sendmessage", retry_after=30)
        await bot_api.say(ALICE, "whoami")
        await wait_for(lambda: any("was dropped" in r.getMessage() for r in caplog.records))
        [dropped] = [r for r in caplog.records if "was dropped" in r.getMessage()]
        assert dropped.getMessage() == f"a reply to {ALICE} through telegram was dropped: Telegram asks to wait 30s"
        assert dropped.exc_info is None and not any(r.exc_info for r in caplog.records if r.levelno >= logging.ERROR)
        await bot_api.say(ALICE, "whoami")
        assert (await bot_api.wait_sent(ALICE))[0].text.startswith(f"You are telegram:{ALICE}")


async def test_a_webhook_secret_telegram_would_refuse_stops_the_adapter_with_the_fix(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """`openssl rand -base64` gives + / =, which setWebhook refuses: said once, at start, not
    retried for ever as a network that cannot be reached."""
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "q1w2+e3r/4t5y6==")
    port = free_port()
    settings = telegram_settings(mode="webhook", webhook_url=f"http://127.0.0.1:{port}/telegram",
                                 webhook_listen=f"127.0.0.1:{port}", webhook_secret_env="TELEGRAM_WEBHOOK_SECRET")
    async with running(Hub(settings)) as hub:
        adapter = hub.adapters["telegram"]
        await wait_for(lambda: "webhook_secret" in adapter.health.detail)
        assert "make one with openssl rand -hex 32" in adapter.health.detail, adapter.health.detail
        assert "getme" not in bot_api.calls and "setwebhook" not in bot_api.calls


async def test_a_restart_never_handles_an_update_twice(telegram_settings: Callable[..., Settings],
                                                        bot_api: BotApi, mosquitto: Mosquitto) -> None:
    settings = telegram_settings()
    async with aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher:
        await watcher.subscribe("zigbee2mqtt/heater/set")
        async with running(Hub(settings)) as hub:
            await connected(hub)
            await bot_api.say(ALICE, "chauffage on")
            await bot_api.wait_sent(ALICE)
        async with running(Hub(settings)) as hub:
            adapter = await connected(hub)
            await wait_for(lambda: bot_api.calls.count("getupdates") >= 3)   # polled again after the restart
            await bot_api.say(ALICE, "whoami")
            await bot_api.wait_sent(ALICE, 2)
            assert adapter.updates == 1
        commands = []
        while True:
            try:
                async with asyncio.timeout(0.5):
                    commands.append((await anext(watcher.messages)).payload)
            except TimeoutError:
                break
        assert len(commands) == 1                  # the heater was switched once
        assert [s.text for s in bot_api.to(ALICE)][0] == "heater is ON" and len(bot_api.to(ALICE)) == 2


async def test_webhook_with_its_secret(telegram_settings: Callable[..., Settings], bot_api: BotApi,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-webhook")
    port = free_port()
    settings = telegram_settings(mode="webhook", webhook_url=f"http://127.0.0.1:{port}/telegram",
                                 webhook_listen=f"127.0.0.1:{port}", webhook_secret_env="TELEGRAM_WEBHOOK_SECRET")
    async with running(Hub(settings)) as hub, aiohttp.ClientSession() as http:
        await connected(hub)
        assert bot_api.webhook == {"url": f"http://127.0.0.1:{port}/telegram", "secret": "s3cret-webhook"}
        update = bot_api.update(message={"message_id": 5, "date": int(time.time()),
                                         "chat": {"id": ALICE, "type": "private"},
                                         "from": {"id": ALICE, "is_bot": False, "first_name": "alice"},
                                         "text": "temp salon"})
        async with http.post(f"http://127.0.0.1:{port}/telegram", json=update,
                             headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"}) as refused:
            assert refused.status == 403
        for _ in range(2):                          # Telegram posts again when unsure: handled once
            async with http.post(f"http://127.0.0.1:{port}/telegram", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook"}) as accepted:
                assert accepted.status == 200
        assert READING.fullmatch((await bot_api.wait_sent(ALICE))[0].text)
        await asyncio.sleep(0)
        assert len(bot_api.to(ALICE)) == 1 and "getupdates" not in bot_api.calls


async def test_the_token_never_reaches_the_log(telegram_settings: Callable[..., Settings], bot_api: BotApi,
                                               caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        await bot_api.say(ALICE, "temp salon")
        await bot_api.wait_sent(ALICE)
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


def test_identities_and_addresses_are_checked() -> None:
    from adapters.telegram_network import address_problem, identity_problem
    assert identity_problem("123456789") is None and "not a Telegram user id" in str(identity_problem("@alice"))
    assert address_problem("-1001234567890") is None and address_problem("alice") is not None


async def test_a_line_that_arrives_late_is_not_run_and_the_sender_is_told(
        telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    """Sent while the hub was offline, 10 minutes ago: a switch that late could surprise; it is
    not run, and the sender reads why (beyond [adapters.telegram] stale_after, 5 min)."""
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        await bot_api.say(ALICE, "chauffage on", date=time.time() - 600)
        answer = (await bot_api.wait_sent(ALICE))[0]
        assert answer.text == ("Not run: 'chauffage on' reached the hub 10m late (it was offline). "
                               "Send it again if it still matters.")
        assert hub.home.devices["heater"].reading is None or hub.home.devices["heater"].reading.value is False


async def test_a_flooding_stranger_gets_one_slow_down_then_silence(telegram_settings: Callable[..., Settings],
                                                                    bot_api: BotApi) -> None:
    """The per-sender rate limit, as on every network: a stranger's 35 lines get 30 answers, one
    "Too many commands", then nothing, and the refusals are audited in two rows, not five."""
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        for count in range(1, 32):                  # one at a time (a stranger's lane holds 20 waiting lines)
            await bot_api.say(STRANGER, "temp salon")
            sent = await bot_api.wait_sent(STRANGER, count)
        for _ in range(4):
            await bot_api.say(STRANGER, "temp salon")
        assert sent[30].text == "Too many commands; wait a minute and try again."
        assert all(READING.fullmatch(s.text) for s in sent[:30])
        await wait_for(lambda: hub.metrics.commands["temp", "refused"] == 5)
        assert len(bot_api.to(STRANGER)) == 31
        await hub.audit.flush(everything=True)
        rows = await hub.store.audit_entries("rate-limited")
        # The first refusal, then the rest folded into one "(and N more)" row a minute.
        assert len(rows) == 2 and {r["sender"] for r in rows} == {f"telegram:{STRANGER}"}
        assert any(r["text"].startswith("(and ") for r in rows), rows


async def test_a_long_retry_after_goes_back_to_the_outbox_for_that_long(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, mosquitto: Mosquitto) -> None:
    """A 45 s retry_after was slept in the send, which the outbox's 30 s send timeout cut: the
    alert went again at 31 s, before Telegram allowed it."""
    async with running(Hub(telegram_settings())) as hub, aiomqtt.Client("127.0.0.1", mosquitto.port) as device:
        await connected(hub)
        bot_api.throttle("sendmessage", retry_after=45)
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        store = hub.store

        async def row() -> Any:
            return await store.call(lambda: store.db.execute(
                "SELECT last_error, next_try, delivered_at FROM deliveries").fetchone())
        await hub.alerts.settled()
        await wait_for(lambda: bot_api.calls.count("sendmessage") == 1)
        await hub.alerts.outbox.settled("telegram")
        error, next_try, delivered = await row()
        assert delivered is None and error.startswith("RetryLater: Telegram asks to wait 45s"), error
        assert next_try - time.time() > 40
        assert bot_api.calls.count("sendmessage") == 1


async def test_an_alert_to_a_group_that_became_a_supergroup_follows_it(
        telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    from chatops.notice import Notice
    bot_api.migrated[-4001] = -1004001
    async with running(Hub(telegram_settings())) as hub:
        await connected(hub)
        await hub.notifications.submit(Notice(("telegram:-4001",), "Washing machine done"), "test")
        (sent,) = await bot_api.wait_sent(-1004001)
        assert sent.text.startswith("Washing machine done")
        await hub.notifications.submit(Notice(("telegram:-4001",), "Dryer done"), "test")
        assert (await bot_api.wait_sent(-1004001, 2))[1].text.startswith("Dryer done")
        assert bot_api.to(-4001) == []


async def test_a_button_pressed_while_the_hub_was_away_is_not_run(
        telegram_settings: Callable[..., Settings], bot_api: BotApi) -> None:
    """A press carries no date: the heater's "On", pressed while the hub was stopped, switched it
    when the hub came back, while the same words typed were refused as late."""
    import sqlite3
    settings = telegram_settings()
    async with running(Hub(settings)) as hub:
        await connected(hub)
        await wait_for(lambda: hub.home.devices["heater"].reading is not None)
        await bot_api.say(ALICE, "chauffage off")
        answer = (await bot_api.wait_sent(ALICE))[0]
    for n in range(100):                        # a busy group meanwhile: the press is in the second batch
        await bot_api.say(STRANGER, f"hello {n}", chat_id=-1001234)
    await bot_api.press(ALICE, answer, "switch heater on")
    with sqlite3.connect(settings.data_dir / "chatops.db") as db:       # the hub was stopped 10 min ago
        db.execute("UPDATE plugin_kv SET value = ? WHERE key = 'polled_at'", (str(time.time() - 600),))
    async with running(Hub(settings)) as hub:
        await connected(hub)
        refusal = (await bot_api.wait_sent(ALICE, 2))[1].text
        assert refusal.startswith("Not run: 'switch heater on' reached the hub 10m"), refusal
        assert hub.home.devices["heater"].reading.value is False
        await bot_api.press(ALICE, answer, "switch heater on")              # pressed now: run
        assert (await bot_api.wait_sent(ALICE, 3))[2].text == "heater is ON"


async def test_a_press_telegram_posts_to_the_webhook_when_the_hub_is_back_is_late(
        telegram_settings: Callable[..., Settings], bot_api: BotApi, monkeypatch: pytest.MonkeyPatch) -> None:
    """Telegram posts again, once the hub is back, what it could not post while it was away: a
    press from then ran as if pressed now."""
    import sqlite3
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-webhook")
    port = free_port()
    settings = telegram_settings(mode="webhook", webhook_url=f"http://127.0.0.1:{port}/telegram",
                                 webhook_listen=f"127.0.0.1:{port}", webhook_secret_env="TELEGRAM_WEBHOOK_SECRET")
    async with running(Hub(settings)) as hub:
        await connected(hub)
    with sqlite3.connect(settings.data_dir / "chatops.db") as db:       # it stopped 10 min ago
        db.execute("INSERT OR REPLACE INTO plugin_kv(plugin, key, value) VALUES ('telegram:telegram', 'polled_at', ?)",
                   (str(time.time() - 600),))
    press = bot_api.update(callback_query={
        "id": "cq1", "from": {"id": ALICE, "is_bot": False, "first_name": "alice"}, "chat_instance": "42",
        "data": "switch heater on", "message": {"message_id": 3, "date": int(time.time()) - 700,
                                                 "chat": {"id": ALICE, "type": "private"}, "text": "heater is OFF"}})
    async with running(Hub(settings)) as hub, aiohttp.ClientSession() as http:
        await connected(hub)
        async with http.post(f"http://127.0.0.1:{port}/telegram", json=press,
                             headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret-webhook"}) as accepted:
            assert accepted.status == 200
        answer = (await bot_api.wait_sent(ALICE))[0].text
        assert answer.startswith("Not run: 'switch heater on' reached the hub 10m"), answer
