"""Notifications in from scripts, MQTT and monitoring webhooks, over a real hub (its web server
and the in-memory loopback network as the people's side) on real mosquitto."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest
from aiohttp import web

from chatops.hub import Hub, running
from chatops.message import Address, Identity, Message
from chatops.notice import Notice, Refused, parse_notice
from chatops.notify import NotStored, fill
from chatops.testing import Mosquitto, exec_command, settings_for, tiny_png, wait_for

TOKEN = "cron-secret-token-1234"
LIMITED = "grafana-secret-token-5678"


def notify_settings(tmp_path: Path, url: str, french: str = "", **notify: Any) -> Any:
    """Two users on the loopback network, `owner` and `bob`; the one named `french` reads French."""
    users = {"owner": {"roles": ["admin"], "loopback": ["owner"]}, "bob": {"roles": ["guest"], "loopback": ["bob"]}}
    if french:
        users[french]["language"] = "fr"
    return settings_for(
        tmp_path / "data", url, simulator={"enabled": False}, adapters={"loopback": {"name": "loop"}},
        web={"user": None, "notify_tokens": {"cron": {"token_env": "T_CRON", "per_minute": 5},
                                             "grafana": {"token_env": "T_GRAFANA", "to": ["owner"]}}},
        users=users, notify={"default_to": ["owner"], **notify})


@asynccontextmanager
async def hub_and_http(settings: Any, monkeypatch: pytest.MonkeyPatch
                       ) -> AsyncIterator[tuple[Hub, Any, aiohttp.ClientSession, str]]:
    monkeypatch.setenv("T_CRON", TOKEN)
    monkeypatch.setenv("T_GRAFANA", LIMITED)
    hub = Hub(settings, tty=False)
    async with running(hub), aiohttp.ClientSession() as http:
        assert hub.web is not None
        yield hub, hub.adapters["loop"], http, f"http://127.0.0.1:{hub.web.port}"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[int]:
    """`app` (a camera, Frigate) served on a free loopback port while inside; its port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def next_sent(inbox: Any, timeout: float = 5.0) -> tuple[Any, Any]:
    """The next (address, reply) the loopback network was asked to send."""
    await inbox.next(timeout)
    return inbox.sent[len(inbox.sent) - inbox.queue.qsize() - 1]      # the one just taken, not the latest


async def wait_status(http: aiohttp.ClientSession, base: str, notice_id: int, state: str,
                      network: str = "") -> dict[str, Any]:
    """GET /api/notify/ID until every recipient (on `network`, when given) is in `state` (the
    delivered mark is written just after the send)."""
    async with asyncio.timeout(5):
        while True:
            async with http.get(f"{base}/api/notify/{notice_id}", headers=bearer()) as response:
                assert response.status == 200
                status = await response.json()
            mine = [r for r in status["recipients"] if r["address"].startswith(network)]
            if mine and all(r["state"] == state for r in mine):
                return status
            await asyncio.sleep(0.05)


pytestmark = pytest.mark.servers


async def test_a_script_notifies_a_user_with_a_picture(tmp_path: Path, mosquitto: Mosquitto,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    picture = tiny_png(tmp_path / "p.png").read_bytes()
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        body = {"to": ["owner"], "text": "Washing machine done", "severity": "warning",
                "image": base64.b64encode(picture).decode()}
        async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
            assert response.status == 202
            notice_id = (await response.json())["id"]
        address, reply = await next_sent(inbox)
        assert (address.target, reply.text) == ("owner", "[WARNING] Washing machine done")
        assert reply.attachments[0].path.read_bytes() == picture
        status = await wait_status(http, base, notice_id, "delivered", network="loop")
        web = await wait_status(http, base, notice_id, "failed", network="web")     # nobody read it there
        assert "no web chat page was open" in [r for r in web["recipients"] if r["address"] == "web:*"][0]["error"]
        assert status["recipients"][0]["recipient"] == "owner"
        assert status["source"] == "cron" and not status["open"]
        assert not await hub.alerts.active(), "a notification without ack is no active alert"


async def test_a_notification_naming_nobody_goes_to_the_admins_when_default_to_is_empty(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped config leaves [notify] default_to empty: `mosquitto_pub ... -m 'Dishwasher
    done'` reached only the log. It goes to the admins (owner), not to every user (bob)."""
    settings = notify_settings(tmp_path, mosquitto.url, default_to=[])
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base), \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
        await client.publish("chatops/maison/notify", "Dishwasher done")
        address, reply = await next_sent(inbox)
        assert (address.target, reply.text) == ("owner", "Dishwasher done")
        async with http.post(f"{base}/api/notify", json={"text": "Backup done"}, headers=bearer()) as response:
            assert response.status == 202, await response.text()
        address, reply = await next_sent(inbox)
        assert (address.target, reply.text) == ("owner", "Backup done")
        assert [a.target for a, _ in inbox.sent] == ["owner", "owner"], "bob is no admin"


async def test_a_large_picture_arrives_whole(tmp_path: Path, mosquitto: Mosquitto,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A picture far above the web server's usual 64 kB request limit, sent chunked (no length)."""
    picture = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8000      # 2 MB, a JPEG by its magic
    body = json.dumps({"to": ["owner"], "text": "Camera", "image": base64.b64encode(picture).decode()}).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start:start + 100_000]

    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify", data=chunks(), headers={
                **bearer(), "Content-Type": "application/json"}) as response:
            assert response.status == 202, await response.text()
        _, reply = await next_sent(inbox)
        assert reply.attachments[0].path.read_bytes() == picture
        assert reply.attachments[0].path.stat().st_mode & 0o077 == 0, "pictures are private files"


async def test_refusals_are_explained(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        ok = {"to": ["owner"], "text": "hi"}
        async with http.post(f"{base}/api/notify", json=ok) as response:
            assert response.status == 401, "a token is needed even on loopback"
            assert "Bearer" in (await response.json())["error"]
        async with http.post(f"{base}/api/notify", json=ok, headers=bearer("nope")) as response:
            assert response.status == 401
        async with http.post(f"{base}/api/notify", json=ok,
                             headers={**bearer(), "Origin": "http://evil.example"}) as response:
            assert response.status == 403
        async with http.post(f"{base}/api/notify", data="{not json", headers={
                **bearer(), "Content-Type": "application/json"}) as response:
            assert response.status == 400
            assert "not valid JSON" in (await response.json())["error"]
        deep = "[" * 60_000                          # deeper than Python's recursion: malformed, not a 500
        for path, headers in (("/api/notify", bearer()), ("/api/command", {})):
            async with http.post(f"{base}{path}", data=deep, headers={
                    **headers, "Content-Type": "application/json"}) as response:
                assert response.status == 400, (path, await response.text())
        lone = '{"to": ["owner"], "text": "lone \\ud800 surrogate"}'   # valid JSON, no character: was a 500
        async with http.post(f"{base}/api/notify", data=lone, headers={
                **bearer(), "Content-Type": "application/json"}) as response:
            assert response.status == 400
            assert "lone surrogate" in (await response.json())["error"]
        async with http.post(f"{base}/api/notify", json={"to": ["nobody", "xmpp:a@b.c"], "text": "hi"},
                             headers=bearer()) as response:
            assert response.status == 422
            answer = await response.json()
            assert "nobody" in answer["error"] and "xmpp:a@b.c" in answer["error"]
            assert "xmpp:a@b.c (no xmpp adapter is enabled, so it could never be delivered; enable " \
                   "[adapters.xmpp])" in answer["error"], "what chatops check says of the same address"
            assert {"owner", "bob", "loopback:ADDRESS"} <= set(answer["recipients"])
        async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "x" * 5000},
                             headers=bearer()) as response:
            assert response.status == 413
            assert "4000" in (await response.json())["error"]
        many = [f"loopback:n{n}" for n in range(21)]        # once 20,000 delivery rows for one unit of rate
        async with http.post(f"{base}/api/notify", json={"to": many, "text": "x"}, headers=bearer()) as response:
            assert response.status == 413
            assert (await response.json())["error"].startswith('"to" names 21 recipients; at most 20 are taken')
        big = base64.b64encode(b"\xff\xd8\xff" + bytes(6 * 1024 * 1024)).decode()
        async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "x", "image": big},
                             headers=bearer()) as response:
            assert response.status == 413
        async with http.post(f"{base}/api/notify", json={"to": ["bob"], "text": "hi"},
                             headers=bearer(LIMITED)) as response:
            assert response.status == 403, "the grafana token may address owner only"
            assert (await response.json())["allowed"] == ["owner"]
        assert not inbox.sent, "nothing refused was sent"
        codes = []
        # cron's token: 5 a minute; the requests refused above for what they said took none (a
        # script's typo does not lock it out). A user's name in any case is that user, and an
        # empty "to" is [notify] default_to, as an absent one.
        for body in (ok, {"to": ["OWNER"], "text": "hi"}, {"to": [], "text": "hi"}, ok, ok, ok):
            async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
                codes.append(response.status)
                retry = response.headers.get("Retry-After")
        assert codes == [202] * 5 + [429]
        assert retry is not None and int(retry) >= 1
        async with http.post(f"{base}/api/notify", json={"to": ["Owner"], "text": "hi"},
                             headers=bearer(LIMITED)) as response:
            assert response.status == 202, "each token has its own rate, and Owner is owner for its `to` too"


async def test_a_wrong_path_or_method_under_the_api_is_explained_in_json(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """aiohttp's own `404: Not Found` and `405: Method Not Allowed` were text/plain: a script
    reading `error` got nothing, and no word of what would have worked."""
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (_hub, _inbox, http, base):
        async with http.get(f"{base}/api/notify/abc", headers=bearer()) as response:
            assert (response.status, response.content_type) == (404, "application/json")
            assert await response.json() == {"error": "no such API endpoint: GET /api/notify/abc "
                                                      "(notification ids are numbers: /api/notify/ID)"}
        async with http.get(f"{base}/api/notify", headers=bearer()) as response:
            assert (response.status, response.content_type) == (405, "application/json")
            assert response.headers["Allow"] == "POST"
            assert await response.json() == {"error": "GET /api/notify is not allowed; this path takes POST"}
        async with http.post(f"{base}/api/state", json={}) as response:
            assert (response.status, response.headers["Allow"]) == (405, "GET,HEAD")
            assert (await response.json())["error"] == "POST /api/state is not allowed; this path takes GET"
        async with http.post(f"{base}/api/notify/abc", json={}, headers=bearer()) as response:
            assert (response.status, response.content_type) == (404, "application/json")
            error = (await response.json())["error"]
            assert error.startswith("no such API endpoint: POST /api/notify/abc; the API has ")
            assert "POST /api/notify, GET /api/notify/{id}, POST /api/notify/alertmanager" in error
        # The guard still speaks first: a rebinding page's request learns nothing of the API.
        rebound = {"Host": f"evil.example:{base.rsplit(':', 1)[1]}"}
        async with http.get(f"{base}/api/notify/abc", headers=rebound) as response:
            assert response.status == 403
            assert "/api/" not in (await response.json())["error"]
        async with http.get(f"{base}/no-such-page") as response:
            assert (response.status, response.content_type) == (404, "text/plain"), "the pages keep aiohttp's"


async def test_a_hub_with_no_notify_tokens_says_so(tmp_path: Path, mosquitto: Mosquitto,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo has no [web.notify_tokens]: "this token is not one of [web.notify_tokens]" sent
    a newcomer looking for a token in a table that is not there."""
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False}, web={"user": None},
                            adapters={"loopback": {"name": "loop"}})
    async with hub_and_http(settings, monkeypatch) as (_hub, _inbox, http, base):
        async with http.post(f"{base}/api/notify", json={"text": "hi"}, headers=bearer()) as response:
            assert response.status == 401
            assert (await response.json())["error"].startswith("this hub has no [web.notify_tokens] in its config")


async def test_ack_repeats_until_acknowledged_and_survives_a_down_network(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    # The owner reads French: the reminder in the reader's language, not the hub's.
    settings = notify_settings(tmp_path, mosquitto.url, french="owner", repeat="0.3s")
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        inbox.health.down("test: network away")
        async with http.post(f"{base}/api/notify", json={"to": "owner", "text": "Freezer open", "ack": True,
                                                         "severity": "critical"}, headers=bearer()) as response:
            assert response.status == 202
            notice_id = (await response.json())["id"]
        async with http.get(f"{base}/api/notify/{notice_id}", headers=bearer()) as response:
            recipients = {r["address"]: r for r in (await response.json())["recipients"]}
            assert recipients["loop:owner"]["state"] == "pending"
            # Not tried yet, its network down: a script polling here learns why, not only /health.
            assert recipients["loop:owner"]["error"] == "waiting: loop is down (test: network away)"
        inbox.health.up()
        _, first = await next_sent(inbox)
        assert first.text == f"[CRITIQUE] Freezer open (alerte n°{notice_id} ; répondez ack {notice_id})"
        _, reminder = await next_sent(inbox)
        assert reminder.text == f"[RAPPEL 1] Freezer open (alerte n°{notice_id} ; répondez ack {notice_id})"
        assert [a["id"] for a in await hub.alerts.active()] == [notice_id]
        await hub.alerts.ack(notice_id, "owner", "owner")
        async with http.get(f"{base}/api/notify/{notice_id}", headers=bearer()) as response:
            assert (await response.json())["acked_by"] == "owner"
        count = len(inbox.sent)
        with pytest.raises(TimeoutError):
            await inbox.next(1.0)        # three repeat periods: no reminder after the ack
        assert len(inbox.sent) == count


async def test_mqtt_notifications(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:
    picture = tiny_png(tmp_path / "snap.png").read_bytes()
    app = web.Application()
    asked: list[str] = []

    async def snapshot(request: web.Request) -> web.Response:
        asked.append(request.match_info["id"])
        return web.Response(body=picture, content_type="image/png")

    app.router.add_get("/api/events/{id}/snapshot.jpg", snapshot)
    async with serving(app) as port:
        topics = [{"topic": "frigate/events", "message": "{after.label} at the {after.camera} ({severity})",
                   "match": {"type": "new", "after.label": "person", "after.has_snapshot": "true"}, "severity": "warning",
                   "image_url": f"http://127.0.0.1:{port}/api/events/{{after.id}}/snapshot.jpg"}]
        async with hub_and_http(notify_settings(tmp_path, mosquitto.url, topics=topics), monkeypatch) as (
                hub, inbox, http, base), aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            caplog.set_level(logging.WARNING, "chatops.notify")
            await client.publish("chatops/maison/notify", json.dumps({"to": ["bob"], "text": "Mail is here"}))
            address, reply = await next_sent(inbox)
            assert (address.target, reply.text) == ("bob", "Mail is here")
            await client.publish("chatops/maison/notify", "Dishwasher done")
            address, reply = await next_sent(inbox)
            assert (address.target, reply.text) == ("owner", "Dishwasher done"), "plain text: [notify] default_to"
            await client.publish("chatops/maison/notify", json.dumps({"to": ["owner"], "text": 5}))
            await client.publish("chatops/maison/notify", b"\xff\xfe")
            await client.publish("chatops/maison/notify", '{"to": ["owner"], "text": "unquoted, }')
            await client.publish("frigate/events", "{broken")
            await client.publish("frigate/events", json.dumps({"type": "update", "after": {"label": "person"}}))
            await client.publish("frigate/events", json.dumps(        # a JSON false is not "true"
                {"type": "new", "after": {"id": "1733-x", "label": "person", "has_snapshot": False}}))
            await client.publish("frigate/events", json.dumps(        # a JSON true is (as JSON spells it)
                {"type": "new", "after": {"id": "1733-abc", "label": "person", "camera": "front door",
                                          "has_snapshot": True}}))
            address, reply = await next_sent(inbox)
            assert reply.text == "[WARNING] person at the front door (warning)"
            assert reply.attachments[0].path.read_bytes() == picture and asked == ["1733-abc"]
            logged = caplog.text
            assert '"text" must be a non-empty string' in logged
            assert "not UTF-8" in logged and "not JSON" in logged
            assert "starts like a JSON object but is not one" in logged, "broken JSON is not sent as text"
            assert len(inbox.sent) == 3, "the malformed and the unmatched ones were dropped"


async def test_alertmanager_and_grafana_webhooks(tmp_path: Path, mosquitto: Mosquitto,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def payload(status: str) -> dict[str, Any]:
        return {"version": "4", "status": status, "receiver": "chatops", "groupKey": "{}:{}", "alerts": [{
            "status": status, "fingerprint": "c0ffee", "labels": {"alertname": "DiskFull", "severity": "critical",
                                                                  "instance": "nas:9100"},
            "annotations": {"summary": "/ is 97% full"}, "startsAt": "2026-12-05T00:00:00Z"}]}

    settings = notify_settings(tmp_path, mosquitto.url, french="bob")
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        url = f"{base}/api/notify/alertmanager?to=owner,bob"
        async with http.post(url, json=payload("firing"), headers=bearer()) as response:
            assert response.status == 202
            opened = (await response.json())["opened"]
        texts = {(await next_sent(inbox))[1].text, (await next_sent(inbox))[1].text}
        assert texts == {"[CRITICAL] DiskFull: / is 97% full (nas:9100)", "[CRITIQUE] DiskFull: / is 97% full (nas:9100)"}
        async with http.post(url, json=payload("firing"), headers=bearer()) as response:
            again = await response.json()
            assert again["opened"] == [] and again["already_open"] == opened, "a repeated firing alert is the same"
        assert [a["id"] for a in await hub.alerts.active()] == opened
        async with http.post(url, json=payload("resolved"), headers=bearer()) as response:
            assert (await response.json())["resolved"] == opened
        sent = {(await next_sent(inbox))[1].text for _ in range(2)}
        assert sent == {f"[RESOLVED] DiskFull: / is 97% full (nas:9100) (alert #{opened[0]})",
                        f"[RÉSOLU] DiskFull: / is 97% full (nas:9100) (alerte n°{opened[0]})"}, "each in their language"
        assert await hub.alerts.active() == []

        legacy = {"title": "[Alerting] Garage humidity", "ruleId": 7, "ruleName": "Garage humidity",
                  "state": "alerting", "message": "above 80%"}
        async with http.post(f"{base}/api/notify/grafana", json=legacy, headers=bearer(LIMITED)) as response:
            assert response.status == 202
        _, reply = await next_sent(inbox)
        assert reply.text == "[WARNING] Garage humidity: above 80%"          # its [Alerting] said once, by the hub
        async with http.post(f"{base}/api/notify/grafana", json={**legacy, "state": "ok"},
                             headers=bearer(LIMITED)) as response:
            assert len((await response.json())["resolved"]) == 1
        _, reply = await next_sent(inbox)
        assert reply.text.startswith("[RESOLVED] Garage humidity: above 80%")
        tagged = {**legacy, "ruleId": 8, "title": "[Alerting] Smoke in the attic", "tags": {"severity": "critical"}}
        async with http.post(f"{base}/api/notify/grafana", json=tagged, headers=bearer(LIMITED)) as response:
            assert response.status == 202
        _, reply = await next_sent(inbox)
        assert reply.text == "[CRITICAL] Smoke in the attic: above 80%"    # the rule's severity tag
        async with http.post(f"{base}/api/notify/grafana", json={"hello": 1}, headers=bearer(LIMITED)) as response:
            assert response.status == 400
        # Resolutions cost no rate token: the work one call may ask for is bounded instead.
        many = {**payload("resolved"), "alerts": payload("resolved")["alerts"] * 501}
        async with http.post(url, json=many, headers=bearer()) as response:
            assert response.status == 413
            assert (await response.json())["error"] == ("501 alerts in one call; at most 500 (Alertmanager: "
                                                        "max_alerts: 500 in the webhook_config)")


async def test_a_webhook_alert_is_told_to_each_receiver_and_fires_again_once_acknowledged(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three ways a firing was swallowed: the same alert for another receiver's people (`?to=`),
    a firing again after an acknowledgement (the sender never said resolved: Grafana's test
    button), and an `info` alert told as a WARNING. And an alert without a summary read the
    body's message: Grafana's text of the whole group."""
    alert = {"status": "firing", "fingerprint": "57c6d9296de2ad39", "labels": {"alertname": "Backup",
                                                                              "severity": "info"},
             "annotations": {}, "valueString": "[ var='B' value=93.2 ]"}
    body = {"status": "firing", "message": "**Firing**\n\nValue: B=93.2\nLabels:\n - alertname = Other", "alerts": [alert]}
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify/alertmanager", json=body, headers=bearer()) as response:
            (first,) = (await response.json())["opened"]
        address, reply = await next_sent(inbox)
        assert (address.target, reply.text) == ("owner", "Backup: [ var='B' value=93.2 ]")         # info: no [WARNING]
        async with http.post(f"{base}/api/notify/alertmanager?to=bob", json=body, headers=bearer()) as response:
            (for_bob,) = (await response.json())["opened"]
        address, reply = await next_sent(inbox)
        assert (address.target, reply.text) == ("bob", "Backup: [ var='B' value=93.2 ]")
        assert await exec_command(hub, f"ack {first}", sender="owner")
        async with http.post(f"{base}/api/notify/alertmanager", json=body, headers=bearer()) as response:
            again = (await response.json())["opened"]
        assert len(again) == 1 and again[0] not in (first, for_bob), "acknowledged: a new firing is told again"


async def test_a_webhook_pays_per_notification_and_a_token_reads_only_its_own(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    # cron's token allows 5 a minute: one call carrying 8 alerts opens 5, then answers 503 with
    # what it opened; the sender's retry skips those (open already) and costs nothing for them.
    alerts = [{"status": "firing", "fingerprint": f"f{n}", "labels": {"alertname": f"Disk{n}"},
               "annotations": {"summary": "full"}} for n in range(8)]
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify/alertmanager", json={"alerts": alerts},
                             headers=bearer()) as response:
            assert response.status == 503 and int(response.headers["Retry-After"]) >= 1, "5xx: the sender retries"
            body = await response.json()
        assert len(body["opened"]) == 5 and "5 notifications a minute" in body["error"]
        assert len(await hub.alerts.active()) == 5
        async with http.post(f"{base}/api/notify/alertmanager", json={"alerts": alerts[:5]},
                             headers=bearer()) as response:
            assert response.status == 202 and (await response.json())["opened"] == [], "open already: free"
        # The whole body again, the rate spent: the 503 lists the ones open already, not only "opened": [].
        async with http.post(f"{base}/api/notify/alertmanager", json={"alerts": alerts},
                             headers=bearer()) as response:
            again = await response.json()
            assert response.status == 503 and again["opened"] == [] and again["already_open"] == body["opened"], again

        # A token reads the notifications sent with it, and no other script's.
        mine = body["opened"][0]
        async with http.get(f"{base}/api/notify/{mine}", headers=bearer(LIMITED)) as response:
            assert response.status == 404
            assert "Disk0" not in await response.text()
        async with http.get(f"{base}/api/notify/{mine}", headers=bearer()) as response:
            assert response.status == 200 and (await response.json())["text"].startswith("Disk0")
        async with http.post(f"{base}/api/notify", json={"text": "Grafana is up"}, headers=bearer(LIMITED)) as r:
            theirs = (await r.json())["id"]
        async with http.get(f"{base}/api/notify/{theirs}", headers=bearer()) as response:
            assert response.status == 404


async def test_grafana_unified_alerting_payload(tmp_path: Path, mosquitto: Mosquitto,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # Grafana 9+ sends Alertmanager's shape with a few fields of its own.
    def payload(status: str) -> dict[str, Any]:
        return {"receiver": "chatops", "status": status, "orgId": 1, "title": f"[{status.upper()}:1] Garage humidity",
                "state": "alerting" if status == "firing" else "ok", "message": "…", "alerts": [{
                    "status": status, "fingerprint": "0a1b2c3d", "labels": {"alertname": "Garage humidity",
                                                                           "grafana_folder": "Home"},
                    "annotations": {"summary": "above 80%"}, "valueString": "[ var='A' value=83 ]",
                    "startsAt": "2026-12-05T00:00:00Z"}]}

    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify/grafana", json=payload("firing"), headers=bearer(LIMITED)) as r:
            assert r.status == 202
            opened = (await r.json())["opened"]
        _, reply = await next_sent(inbox)
        assert reply.text == "[WARNING] Garage humidity: above 80%"
        async with http.post(f"{base}/api/notify/grafana", json=payload("resolved"), headers=bearer(LIMITED)) as r:
            assert (await r.json())["resolved"] == opened
        _, reply = await next_sent(inbox)
        assert reply.text == f"[RESOLVED] Garage humidity: above 80% (alert #{opened[0]})"


def test_payload_checks_and_templates() -> None:
    notice = parse_notice({"text": " hi "}, ["owner"])
    assert notice == Notice(("owner",), "hi")
    assert parse_notice({"text": "x", "to": []}, ["owner"]).to == ("owner",), "empty is the default, as absent"
    with pytest.raises(Refused, match="no recipient"):
        parse_notice({"text": "x", "to": []}, [])
    for bad, why in (({"text": "x", "severity": "loud"}, "severity"),
                     ({"text": "x", "image": "@@@"}, "base64"), ({"text": "x", "colour": 1}, "colour"),
                     ({"text": "x", "image": base64.b64encode(b"GIF89a").decode(), "image_url": "http://x"}, "not both"),
                     ({"text": "x", "image": base64.b64encode(b"%PDF").decode()}, "JPEG")):
        with pytest.raises(Refused, match=why):
            parse_notice(bad, ["owner"])
    assert fill("{after.label} on {after.zones.0} at {time}", {"after": {"label": "car", "zones": ["drive"]}},
                {"time": "10:00"}) == "car on drive at 10:00"
    assert fill("{missing.field} {0} {", {}, {}) == "{missing.field} {0} {"
    # One missing field with a format left every other field unfilled; values read as JSON spells them.
    frigate = "{after.label} ({after.sub_label}), zones {after.zones}, score {after.top_score:.0%}, {after.has_snapshot}"
    assert fill(frigate, {"after": {"label": "person", "sub_label": None, "zones": ["porch", "yard"],
                                    "has_snapshot": True}}, {}) == \
        "person (null), zones porch, yard, score {after.top_score:.0%}, true"
    assert fill("{after.top_score:.0%} {after.label:.0%}", {"after": {"top_score": 0.84, "label": "car"}}, {}) == "84% car"


def test_info_is_never_tagged_warning_and_critical_always_are() -> None:
    """One rule for every alert and notification, with an ack or without: `chatops notify --ack`
    read `[INFO] x` where the same notification without it read `x`."""
    from chatops.i18n import speaking
    from chatops.recipients import headed
    assert [headed(severity, "Backup finished") for severity in ("info", "warning", "critical")] == \
        ["Backup finished", "[WARNING] Backup finished", "[CRITICAL] Backup finished"]
    with speaking("fr"):
        assert headed("warning", "Sauvegarde finie") == "[AVERTISSEMENT] Sauvegarde finie"
        assert headed("info", "Sauvegarde finie") == "Sauvegarde finie"


def test_recipients_in_the_config_must_exist(tmp_path: Path) -> None:
    from chatops.config import ConfigError
    with pytest.raises(ConfigError) as refused:
        settings_for(tmp_path, simulator={"enabled": False}, users={"owner": {"roles": ["admin"]}},
                     notify={"default_to": ["ownr"], "topics": [{"topic": "a/b", "message": "x", "to": ["nope:x"]}]},
                     web={"notify_tokens": {"cron": {"token_env": "X", "to": ["bob"]}}})
    text = str(refused.value)
    assert "notify.default_to: 'ownr' is neither a user name nor an address" in text
    assert "notify.topics[0].to: 'nope:x': unknown network" in text
    assert "web.notify_tokens.cron.to: 'bob'" in text


async def test_a_notification_survives_a_restart(tmp_path: Path, mosquitto: Mosquitto,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    settings = notify_settings(tmp_path, mosquitto.url)
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        inbox.health.down("test: network away")
        async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "Water leak in the cellar"},
                             headers=bearer()) as response:
            notice_id = (await response.json())["id"]
    assert not inbox.sent
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        target, text = await inbox.next()
        assert (target, text) == ("owner", "Water leak in the cellar")
        status = await wait_status(http, base, notice_id, "delivered", network="loop")
        assert status["id"] == notice_id


async def test_a_picture_that_cannot_be_fetched_leaves_the_text(tmp_path: Path, mosquitto: Mosquitto,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from chatops.testing import free_port
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        body = {"to": ["owner"], "text": "Doorbell", "image_url": f"http://127.0.0.1:{free_port()}/snap.jpg"}
        async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
            assert response.status == 202
            # The script hears that its picture is left out, beside the id it needs; why is for the
            # log (what a LAN address answers would make any token a network scanner).
            answer = await response.json()
            assert answer["picture"] == "left out: the picture at image_url could not be fetched (the hub's log says " \
                "why)", answer
        _, reply = await next_sent(inbox)
        assert reply.text == "Doorbell" and reply.attachments == ()


async def test_a_picture_fetched_by_url_arrives_whole(tmp_path: Path, mosquitto: Mosquitto,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A 1 MB camera picture served in pieces (as a real camera's is): the file passed on is the
    whole picture, not what the first read happened to hold (it was cut to 128 kB)."""
    picture = b"\xff\xd8\xff\xe0" + os.urandom(1_000_000) + b"\xff\xd9"

    async def snapshot(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
        await response.prepare(request)
        for start in range(0, len(picture), 65536):
            await response.write(picture[start:start + 65536])
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/snap.jpg", snapshot)
    async with serving(app) as port, \
            hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        body = {"to": ["owner"], "text": "Doorbell", "image_url": f"http://127.0.0.1:{port}/snap.jpg"}
        async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
            assert response.status == 202
        _, reply = await next_sent(inbox)
        (attachment,) = reply.attachments
        assert attachment.path.read_bytes() == picture
        # Kept as snapshots are: the folder is pruned, the oldest first, at each new picture.
        folder = hub.settings.data_dir / "notify"
        old = folder / "notify-old.jpg"
        old.write_bytes(picture[:100])
        os.utime(old, (time.time() - 8 * 86400,) * 2)
        async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
            assert response.status == 202
        await next_sent(inbox)
        assert not old.exists() and attachment.path.exists()


async def test_a_message_to_the_web_chat_with_no_page_open_says_so(tmp_path: Path, mosquitto: Mosquitto,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """With no page open nobody has read it: its status says failed and why, not delivered (the
    owner's other networks carry it); with a page open, the page gets it."""
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify", json={"to": ["web:*"], "text": "Parcel at the door"},
                             headers=bearer()) as response:
            assert response.status == 202
            notice_id = (await response.json())["id"]
        status = await wait_status(http, base, notice_id, "failed")
        assert "no web chat page was open" in status["recipients"][0]["error"]
        # Sent with ack, it is an alert: `alerts` says it reached nobody, and why, not "nobody yet".
        async with http.post(f"{base}/api/notify", json={"to": ["web:*"], "text": "Water leak", "ack": True},
                             headers=bearer()) as response:
            notice_id = (await response.json())["id"]
        await wait_status(http, base, notice_id, "failed")
        listing = "\n".join(r.text for r in await hub.execute(Message(
            Identity("loopback", "owner"), Address("loop", "owner"), "alerts", addressed=True)))
        assert "Water leak" in listing and "told: nobody, 0 pending" not in listing, listing
        assert "told: nobody; web not reached (no web chat page was open)" in listing, listing
        async with http.ws_connect(f"{base}/ws") as page:
            async with http.post(f"{base}/api/notify", json={"to": ["web:*"], "text": "Parcel taken in"},
                                 headers=bearer()) as response:
                notice_id = (await response.json())["id"]
            async with asyncio.timeout(5):
                while True:
                    message = await page.receive_json()
                    if message.get("type") == "reply" and message["text"] == "Parcel taken in":
                        break
            await wait_status(http, base, notice_id, "delivered")


def test_which_notifications_end_when_acknowledged() -> None:
    # Nothing else ends a notification sent with ack. A plain token may be named like a webhook
    # (the config's example names "grafana").
    # A webhook's too: its sender may never say resolved (Grafana's test button), and while it
    # is open every firing of its key was swallowed as a repeat.
    from chatops.notify import ends_when_acknowledged
    assert ends_when_acknowledged("notify/cron") and ends_when_acknowledged("notify/grafana")
    assert ends_when_acknowledged("notify/alertmanager/prom/c0ffee")
    assert not ends_when_acknowledged("smoke")


def test_a_payload_of_another_shape_is_refused_naming_its_sender_in_good_english() -> None:
    # It said "this is not a alertmanager webhook payload".
    from chatops.notify_web import _events
    for source, named in (("alertmanager", "an Alertmanager"), ("grafana", "a Grafana")):
        with pytest.raises(Refused) as refused:
            _events({"foo": 1}, source)
        assert refused.value.status == 400
        assert refused.value.error == f'this is not {named} webhook payload: it has no "alerts" list'


async def test_mqtt_notifications_are_metered_private_and_fetch_no_redirect(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """Whoever may publish on the broker cannot flood: each topic takes [notify] mqtt_per_minute.
    A token named `mqtt` reads no MQTT notification's status. A picture URL that redirects, or
    one a topic's template fills with something else than http(s), sends the text alone."""
    picture = tiny_png(tmp_path / "snap.png").read_bytes()
    app = web.Application()
    fetched: list[str] = []

    async def snapshot(request: web.Request) -> web.Response:
        fetched.append(request.path)
        return web.Response(body=picture, content_type="image/png")

    async def moved(request: web.Request) -> web.Response:
        fetched.append(request.path)
        raise web.HTTPFound("/snap.png")

    app.router.add_get("/snap.png", snapshot)
    app.router.add_get("/moved.png", moved)
    async with serving(app) as port:
        topics = [{"topic": "doorbell/+", "message": "Ring {who}", "image_url": "{picture}"}]
        settings = notify_settings(tmp_path, mosquitto.url, topics=topics, mqtt_per_minute=3)
        settings.web.notify_tokens["mqtt"] = settings.web.notify_tokens["cron"].model_copy(update={"token_env": "T_MQTT"})
        monkeypatch.setenv("T_MQTT", "a-token-named-mqtt-0000")
        async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base), \
                aiomqtt.Client("127.0.0.1", mosquitto.port) as client:
            caplog.set_level(logging.WARNING, "chatops.notify")
            for n in range(6):
                await client.publish("chatops/maison/notify", json.dumps({"to": ["owner"], "text": f"spam {n}"}))
            # Another topic has its own rate; its message, published last, arrives after the others.
            await client.publish("doorbell/front", json.dumps({"who": "front", "picture": "file:///etc/passwd"}))
            async with asyncio.timeout(5):
                while not any(reply.text == "Ring front" for _a, reply in inbox.sent):
                    await inbox.next()
            texts = [reply.text for _a, reply in inbox.sent]
            assert texts == ["spam 0", "spam 1", "spam 2", "Ring front"], texts
            assert inbox.sent[-1][1].attachments == (), "no file: URL is fetched"
            assert "more than 3 notifications a minute on chatops/maison/notify" in caplog.text
            assert "not an http:// or https:// URL" in caplog.text

            async with http.get(f"{base}/api/notify/1", headers=bearer("a-token-named-mqtt-0000")) as response:
                assert response.status == 404, "an MQTT notification is no token's"

            body = {"to": ["owner"], "text": "Parcel", "image_url": f"http://127.0.0.1:{port}/moved.png"}
            async with http.post(f"{base}/api/notify", json=body, headers=bearer()) as response:
                assert response.status == 202
            async with asyncio.timeout(5):
                while inbox.sent[-1][1].text != "Parcel":
                    await inbox.next()
            assert inbox.sent[-1][1].attachments == ()
            assert fetched == ["/moved.png"], "the redirect was not followed"


async def test_a_notification_while_storage_fails_is_told_from_memory_or_refused_for_a_retry(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full card: the database refuses the notification. It still reaches whoever is reachable,
    marked as not stored (202, stored: false); reaching nobody, the answer is 503 with Retry-After,
    so that the script sends it again rather than believe it delivered."""
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        try:
            async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "Parcel", "severity": "warning"},
                                 headers=bearer()) as response:
                assert response.status == 202
                answer = await response.json()
            assert answer["stored"] is False and answer["told"] == ["loop:owner"], answer
            texts = [reply.text for _address, reply in inbox.sent]
            assert any(t.startswith("[WARNING] Parcel (NOT STORED: the hub's storage is failing: ") for t in texts), texts
            inbox.health.down("unplugged")
            async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "Parcel again"},
                                 headers=bearer()) as response:
                assert response.status == 503 and response.headers["Retry-After"] == "10"
                assert "nobody could be told" in (await response.json())["error"]
        finally:
            await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))


async def test_a_notification_told_from_memory_is_recorded_once_storage_is_back_and_then_reminds(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent with ack while the card is read-only: told from memory, listed among the alerts as not
    stored; once the database takes writes it is recorded (the owner, told, is not told again) and
    reminds until acknowledged."""
    settings = notify_settings(tmp_path, mosquitto.url, repeat="0.5s")
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        async with http.post(f"{base}/api/notify", json={"to": ["owner"], "text": "Freezer open", "ack": True,
                                                         "severity": "critical"}, headers=bearer()) as response:
            assert response.status == 202 and (await response.json())["stored"] is False
        _, first = await next_sent(inbox)
        assert first.text.startswith("[CRITICAL] Freezer open (NOT STORED: the hub's storage is failing: ")
        listing = await exec_command(hub, "alerts", sender="owner", network="loopback", adapter="loop")
        assert listing.startswith("(NOT STORED: storage is failing) [critical] Freezer open"), listing
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await wait_for(lambda: not hub.alerts.unstored.alerts, timeout=30)
        [stored] = await hub.alerts.active()
        reminder = None
        async with asyncio.timeout(10):
            while reminder is None:
                _, reply = await next_sent(inbox)
                if "Freezer open" in reply.text:
                    reminder = reply.text
        assert reminder == f"[REMINDER 1] Freezer open (alert #{stored['id']}; answer ack {stored['id']})", \
            "recorded: the first message not sent again, the reminder next"
        await hub.alerts.ack(stored["id"], "owner", "owner")


async def test_a_keyed_notification_told_from_memory_is_one_and_its_resolution_ends_it(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """The card is read-only. A webhook-style notification (source and key) fires twice: one
    alert, listed with who was told; resolved before storage is back, it is told resolved and
    never recorded, so nothing reminds anyone afterwards."""
    settings = notify_settings(tmp_path, mosquitto.url, repeat="0.5s")
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        notifications = hub.notifications
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        for _ in range(2):
            with pytest.raises(NotStored):
                await notifications.submit(Notice(("owner",), "Disk full", "critical", ack=True), "hooks", key="disk")
        assert await notifications.open_key("hooks", "disk") == 0, "open, in memory"
        said = [reply.text for _address, reply in inbox.sent if "Disk full (NOT STORED" in reply.text]
        assert len(said) == 1, said                 # the second firing is the same alert: not told again
        [listed] = await hub.alerts.active()
        assert listed["id"] is None and listed["told"] == ["loop:owner"], listed
        assert await notifications.resolve_key("hooks", "disk", "Disk freed") is None
        assert await notifications.open_key("hooks", "disk") is None and await hub.alerts.active() == []
        texts = [reply.text for _address, reply in inbox.sent]
        assert "[RESOLVED] Disk freed" in texts, texts
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        while not inbox.queue.empty():                # what was said so far, checked above
            inbox.queue.get_nowait()
        count = len(inbox.sent)
        with pytest.raises(TimeoutError):
            await inbox.next(1.5)                   # three repeat periods: nothing recorded, nothing reminds
        assert len(inbox.sent) == count and await hub.alerts.active() == []


async def test_a_resolution_while_the_notification_is_being_recorded_closes_its_row(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Storage is back and the keyed notification told from memory is being written (a slow card):
    its resolution then waits for the row and closes it, rather than tell it resolved from memory
    and leave the row open behind it."""
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        notifications, store = hub.notifications, hub.store
        await store.call(lambda: store.db.execute("PRAGMA query_only = ON"))
        with pytest.raises(NotStored):
            await notifications.submit(Notice(("owner",), "Disk full", "critical", ack=True), "hooks", key="disk")
        writing = asyncio.Event()
        call = store.call

        async def slow(function: Any, *args: Any) -> Any:
            if function == store.transaction and hub.alerts.unstored._recording:
                writing.set()
                await asyncio.sleep(0.3)                  # a slow SD card, while the row is on its way
            return await call(function, *args)
        monkeypatch.setattr(store, "call", slow)
        await store.call(lambda: store.db.execute("PRAGMA query_only = OFF"))
        async with asyncio.timeout(30):
            await writing.wait()
        await notifications.resolve_key("hooks", "disk", "Disk freed")
        assert await notifications.open_key("hooks", "disk") is None, "the recorded row is closed"
        assert await hub.alerts.active() == []


async def test_a_notification_sent_with_ack_reminds_from_memory_while_storage_fails(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Recorded, then the card fills: its reminders do not wait for storage. They go out from
    memory to its first recipients (read from the database, which still reads), and `ack` stops
    them all the same, in the reader's language."""
    settings = notify_settings(tmp_path, mosquitto.url, french="owner", repeat="0.3s")
    async with hub_and_http(settings, monkeypatch) as (hub, inbox, http, base):
        async with http.post(f"{base}/api/notify", json={"to": "owner", "text": "Freezer open", "ack": True,
                                                         "severity": "critical"}, headers=bearer()) as response:
            notice_id = (await response.json())["id"]
        _, first = await next_sent(inbox)
        assert first.text.startswith(f"[CRITIQUE] Freezer open (alerte n°{notice_id}")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        try:
            async with asyncio.timeout(5):
                while not any(r.text.startswith("[RAPPEL 1] Freezer open") and "répondez ack" in r.text
                              for _a, r in inbox.sent[1:] if "storage" not in r.text):
                    await inbox.next()
            acked = "\n".join(r.text for r in await hub.execute(Message(
                Identity("loopback", "owner"), Address("loop", "owner"), f"ack {notice_id}", addressed=True)))
            assert acked.startswith(f"Alerte n°{notice_id}"), acked
            count = len(inbox.sent)
            with contextlib.suppress(TimeoutError):
                for _ in range(10):          # reminders every 0.3 s would end this loop, not a timeout
                    await inbox.next(1.0)    # three repeat periods of whatever still comes
            # No reminder after the ack, but one already on its way (the admins' storage alert,
            # also sent from memory, may come in this window too: it is not the freezer's).
            reminders = [r.text for _a, r in inbox.sent[count:] if "Freezer open" in r.text]
            assert len(reminders) <= 1, reminders
        finally:
            await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))


async def test_two_notify_tokens_with_one_secret_stop_the_start(tmp_path: Path, mosquitto: Mosquitto,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The last token of the two took every request: grafana's `to` limit applied to cron's
    scripts, and cron's notifications read as someone else's (404)."""
    from chatops.config import ConfigError
    monkeypatch.setenv("T_CRON", TOKEN)
    monkeypatch.setenv("T_GRAFANA", TOKEN)
    with pytest.raises(ConfigError) as refused:          # before anything starts
        async with running(Hub(notify_settings(tmp_path, mosquitto.url), tty=False)):
            pass
    assert refused.value.problems == ["web.notify_tokens.grafana: the same secret as web.notify_tokens.cron; give "
                                      "each its own (e.g. openssl rand -hex 24), or one cannot be told from the other "
                                      "nor revoked alone"]


def test_check_and_run_refuse_a_token_shared_with_another_without_a_traceback(tmp_path: Path) -> None:
    """`check` said OK; `run` stopped with a traceback and exit 1 (systemd restarts on 1 for
    ever). A notify token that is the web token gave a script the whole house."""
    import subprocess
    import sys
    from chatops.testing import write_demo_config

    config = write_demo_config(tmp_path)
    (tmp_path / "web.token").write_text("a-web-token-0123456789abcdef\n")
    config.write_text(config.read_text() + '\n[web.notify_tokens]\ncron = { token_file = "web.token" }\n')
    text = config.read_text().replace("[web]\n", '[web]\ntoken_file = "web.token"\n', 1)
    config.write_text(text)
    (tmp_path / "web.token").chmod(0o600)
    for command in ("check", "run"):
        result = subprocess.run([sys.executable, "-m", "chatops", command, "--config", str(config)],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert result.returncode == 2, (command, result.stderr)
        assert "web.notify_tokens.cron: the same secret as web.token; give each its own" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr


def test_pictures_in_base64_as_tools_write_them_and_urls_of_a_sane_length() -> None:
    """`base64 file` wraps lines and a browser gives a data: URI: both were "not valid base64";
    a 7 MB image_url was taken, and written whole to the log."""
    picture = bytes.fromhex("89504e470d0a1a0a") + bytes(range(256)) * 2        # a PNG's magic, then bytes
    png = base64.b64encode(picture).decode()
    wrapped = "\n".join(png[i:i + 76] for i in range(0, len(png), 76)) + "\n"
    for image in (wrapped, f"data:image/png;base64,{png}"):
        assert parse_notice({"text": "x", "image": image}, ["owner"]).image == picture
    with pytest.raises(Refused) as refused:
        parse_notice({"text": "x", "image_url": "http://cam/" + "a" * 5000}, ["owner"])
    assert refused.value.status == 413 and "at most 2000" in refused.value.error


async def test_a_webhook_sent_again_while_its_picture_is_fetched_opens_one_alert(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sender that timed out while the hub fetched the alert's picture sends again: both calls
    opened the alert, and everyone got it twice."""
    asked, release = asyncio.Event(), asyncio.Event()
    picture = tiny_png(tmp_path / "graph.png").read_bytes()

    async def slow(_request: web.Request) -> web.Response:
        asked.set()
        await release.wait()
        return web.Response(body=picture, content_type="image/png")
    app = web.Application()
    app.router.add_get("/graph.png", slow)
    async with serving(app) as port, \
            hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base):
        body = {"alerts": [{"status": "firing", "fingerprint": "f00d", "labels": {"alertname": "Fridge"},
                            "imageURL": f"http://127.0.0.1:{port}/graph.png"}]}

        async def call() -> Any:
            async with http.post(f"{base}/api/notify/grafana", json=body, headers=bearer()) as response:
                return await response.json()
        first = asyncio.create_task(call())
        await asyncio.wait_for(asked.wait(), 10)
        second = await call()
        assert second["opened"] == [] and second["already_open"] == [0], second
        release.set()
        assert len((await first)["opened"]) == 1
        assert len(await hub.alerts.active()) == 1
        # Three at the same moment (each got past the check while the others awaited): one.
        body["alerts"][0]["fingerprint"] = "beef"
        answers = await asyncio.gather(*(call() for _ in range(3)))
        assert sorted(len(a["opened"]) for a in answers) == [0, 0, 1], answers
        # A picture URL too long is left out, not the alert (a 413 would lose it: senders drop 4xx).
        long = {"alerts": [{"status": "firing", "fingerprint": "cafe", "labels": {"alertname": "Presigned"},
                            "imageURL": "https://bucket.example/x.png?token=" + "a" * 2500}]}
        async with http.post(f"{base}/api/notify/grafana", json=long, headers=bearer()) as response:
            assert response.status == 202 and len((await response.json())["opened"]) == 1


async def test_a_webhook_alert_state_is_published_per_source_not_per_key(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The state went to chatops/maison/alerts/notify/alertmanager/cron/KEY/to=loop:+336...: a `+`
    no topic may hold (the publish failed with a traceback), and a retained topic per key."""
    body = {"alerts": [{"status": "firing", "fingerprint": "abc", "labels": {"alertname": "Disk"}}]}
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (hub, inbox, http, base), \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as follower:
        await follower.subscribe("chatops/maison/alerts/#")
        async with http.post(f"{base}/api/notify/alertmanager?to=loop:%2B33612345678&ack=true", json=body,
                             headers=bearer()) as response:
            (opened,) = (await response.json())["opened"]
        assert (await exec_command(hub, f"ack {opened}", sender="owner")).startswith(f"Alert #{opened} (alertmanager)")
        async with asyncio.timeout(10):
            async for message in follower.messages:
                if json.loads(message.payload or b"{}").get("id") == opened:    # type: ignore[arg-type]
                    assert message.topic.value == "chatops/maison/alerts/notify/alertmanager/cron"
                    break
    assert "failed" not in caplog.text


async def test_wrong_notify_tokens_are_a_guess_with_or_without_bearer_and_logged_folded(
        tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """A bare token (no `Bearer `) was never counted as a guess: 3,000 tries a second, each
    logged in full (an 8,000-digit path: 23 MB of log a second, no token needed). An id of
    5,000 digits answered 500 with a traceback."""
    async with hub_and_http(notify_settings(tmp_path, mosquitto.url), monkeypatch) as (_hub, _inbox, http, base):
        codes = []
        for attempt in range(12):
            async with http.post(f"{base}/api/notify", json={"text": "x"},
                                 headers={"Authorization": f"wrong{attempt}-0123456789"}) as response:
                codes.append(response.status)
        assert codes[:10] == [401] * 10 and codes[10:] == [429, 429], codes
        refusals = [r for r in caplog.records if r.getMessage().startswith("notify: refused")]
        assert len(refusals) == 2, [r.getMessage() for r in refusals]        # one 401, one 429: folded
        async with http.get(f"{base}/api/notify/{'9' * 5000}", headers=bearer()) as response:
            assert response.status == 404
