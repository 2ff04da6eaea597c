"""`chatops notify` from the shell against a real hub: the id printed, the message delivered,
a refusal explained with a non-zero exit."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from chatops.cli import main
from chatops.hub import Hub, running
from chatops.testing import Mosquitto, settings_for, tiny_png

pytestmark = pytest.mark.servers


def token_settings(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A hub with the notify token `cron` (in CHATOPS_NOTIFY_TOKEN) and its owner on the loopback network."""
    monkeypatch.setenv("CHATOPS_NOTIFY_TOKEN", "cli-token-42-0123456789")
    return settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False},
                        adapters={"loopback": {"name": "loop"}}, web={"user": None, "notify_tokens": {
                            "cron": {"token_env": "CHATOPS_NOTIFY_TOKEN"}}},
                        users={"owner": {"roles": ["admin"], "loopback": ["owner"]}})


async def test_chatops_notify(tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("T_CRON", "cli-token-42-0123456789")
    settings = settings_for(tmp_path / "data", mosquitto.url, simulator={"enabled": False},
                            adapters={"loopback": {"name": "loop"}}, web={"user": None, "notify_tokens": {
                                "cron": {"token_env": "T_CRON"}}},
                            users={"owner": {"roles": ["admin"], "loopback": ["owner"]}})
    picture = tiny_png(tmp_path / "graph.png")
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        url = f"http://127.0.0.1:{hub.web.port}"
        monkeypatch.setenv("CHATOPS_NOTIFY_TOKEN", "cli-token-42-0123456789")
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "Backup finished",
                                              "--image", str(picture), "--severity", "warning"])
        out, err = capsys.readouterr()
        assert code == 0, err
        notice_id = int(out.strip())
        target, text = await hub.adapters["loop"].next()
        assert (target, text) == ("owner", "[WARNING] Backup finished")
        assert (await hub.notifications.status(notice_id))["text"] == "Backup finished"

        # --ack: an alert that repeats until someone acknowledges it.
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "--ack", "Water leak"])
        out, err = capsys.readouterr()
        assert code == 0, err
        alert_id = int(out.strip())
        _, text = await hub.adapters["loop"].next()
        # Info is said plainly, with an ack as without: only warning and critical are tagged.
        assert text.startswith(f"Water leak (alert #{alert_id}; answer "), text
        assert (await hub.notifications.status(alert_id))["open"] is True
        assert [a["id"] for a in await hub.alerts.active()] == [alert_id]
        # Nothing else ends it: acknowledged, it is over (not active for good).
        await hub.alerts.ack(alert_id, "owner", "owner")
        assert (await hub.notifications.status(alert_id))["open"] is False
        assert await hub.alerts.active() == []

        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "--ack", "--severity",
                                              "critical", "Freezer open"])
        out, err = capsys.readouterr()
        assert code == 0, err
        critical_id = int(out.strip())
        _, text = await hub.adapters["loop"].next()
        assert text.startswith(f"[CRITICAL] Freezer open (alert #{critical_id}; answer "), text
        await hub.alerts.ack(critical_id, "owner", "owner")

        # A picture the hub cannot fetch: the text goes, the id is printed, and stderr says why
        # the picture did not go.
        from chatops.testing import free_port
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "Doorbell",
                                              "--image-url", f"http://127.0.0.1:{free_port()}/snap.jpg"])
        out, err = capsys.readouterr()
        assert code == 0 and int(out.strip()) > alert_id, (out, err)
        assert "chatops notify: sent without the picture (left out: the picture at image_url could not be fetched" \
            in err, err
        assert await hub.adapters["loop"].next() == ("owner", "Doorbell")

        # Storage failing: sent from memory, no id to print; stderr says so, instead of "None".
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "Disk nearly full"])
        out, err = capsys.readouterr()
        assert code == 0 and out == "", (out, err)
        assert "chatops notify: sent but not stored (the hub's storage is failing" in err and "told: " in err, err
        await hub.adapters["loop"].next()
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))

        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "nobody", "hello"])
        out, err = capsys.readouterr()
        assert code == 1 and out == ""
        assert "refused (422): unknown recipient(s): nobody (recipients: owner" in err

        monkeypatch.setenv("CHATOPS_NOTIFY_TOKEN", "wrong")
        assert await asyncio.to_thread(main, ["notify", "--url", url, "hello"]) == 1
        assert "refused (401)" in capsys.readouterr().err
        monkeypatch.delenv("CHATOPS_NOTIFY_TOKEN")
        assert await asyncio.to_thread(main, ["notify", "--url", url, "hello"]) == 2
        assert "set CHATOPS_NOTIFY_TOKEN" in capsys.readouterr().err


async def test_the_token_never_follows_a_redirect(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    # A hub address that redirects elsewhere (a wrong --url, a hostile proxy) never receives the token.
    from aiohttp import web

    seen: list[str | None] = []

    async def elsewhere(request: web.Request) -> web.Response:      # POST, or the GET a 302 turns it into
        seen.append(request.headers.get("Authorization"))
        return web.json_response({"id": 1}, status=202)

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{ports[0]}/api/notify")      # urllib would follow a 302

    runners, ports = [], []
    for handler in (elsewhere, redirect):
        app = web.Application()
        app.router.add_route("*", "/api/notify", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])    # type: ignore[union-attr]
        runners.append(runner)
    try:
        monkeypatch.setenv("CHATOPS_NOTIFY_TOKEN", "s3cret")
        code = await asyncio.to_thread(main, ["notify", "--url", f"http://127.0.0.1:{ports[1]}", "hello"])
        assert code == 1
        assert "answered a redirect to http://127.0.0.1:" in capsys.readouterr().err
        assert seen == []
    finally:
        for runner in runners:
            await runner.cleanup()


def test_a_picture_file_and_a_picture_url_together_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    """The docs say one or the other; both went to the hub and came back as its 400 (exit 1)."""
    with pytest.raises(SystemExit) as stopped:
        main(["notify", "--image", "a.png", "--image-url", "http://cam/x.jpg", "hello"])
    assert stopped.value.code == 2
    assert "not allowed with argument --image" in capsys.readouterr().err


def test_a_config_named_and_missing_or_broken_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`--config nonexist.toml` answered "cannot reach the hub at http://127.0.0.1:8080": the
    wrong path was never named."""
    monkeypatch.setenv("CHATOPS_NOTIFY_TOKEN", "cli-token-42-0123456789")
    monkeypatch.delenv("CHATOPS_URL", raising=False)
    assert main(["notify", "--config", str(tmp_path / "nonexist.toml"), "x"]) == 2
    assert f"--config {tmp_path / 'nonexist.toml'}: no such file" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text('[web]\nlisten = "nowhere"\n', encoding="utf-8")
    assert main(["notify", "--config", str(broken), "x"]) == 2
    err = capsys.readouterr().err
    assert "is not valid, so the hub's address cannot be read from it" in err and "web.listen: must be HOST:PORT (got 'nowhere')" in err


async def test_wait_tells_received_from_accepted(tmp_path: Path, mosquitto: Mosquitto,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Without --wait, exit 0 means "the hub took it"; a cron job that must know someone got it
    says --wait, and hears who did not and why."""
    settings = token_settings(tmp_path, mosquitto, monkeypatch)
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        url = f"http://127.0.0.1:{hub.web.port}"
        loop = hub.adapters["loop"]
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "--wait", "10", "Backup done"])
        out, err = capsys.readouterr()
        assert (code, err) == (0, ""), err
        assert loop.sent[-1][1].text == "Backup done"

        loop.health.down("the test took it down")
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "--wait", "0.3", "Backup failed"])
        out, err = capsys.readouterr()
        assert code == 3 and int(out.strip()) > 0, (out, err)
        assert "chatops notify: owner has not got it yet (" in err and "loop:owner: waiting: loop is down (the test took it down)" in err, err
        assert loop.sent[-1][1].text == "Backup done"

        # An address that refuses it (no web chat page open): failed, exit 1, and why.
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "web:*", "--wait", "10", "Hello page"])
        out, err = capsys.readouterr()
        assert code == 1, (out, err)
        assert "chatops notify: web:* did not get it (web:*: refused: Unread: no web chat page was open)" in err, err

        # Plain exit 0 without --wait, as before: accepted, delivered when the network is back.
        code = await asyncio.to_thread(main, ["notify", "--url", url, "--to", "owner", "Second try"])
        assert code == 0
        loop.health.up()


async def test_a_status_read_with_wait_is_answered_when_the_recipient_has_it(tmp_path: Path, mosquitto: Mosquitto,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`GET /api/notify/ID?wait=S` holds the answer until each recipient has it (woken by the
    delivery, not polled), or S seconds; --wait asks so, instead of asking again every few seconds."""
    import time

    import aiohttp

    settings = token_settings(tmp_path, mosquitto, monkeypatch)
    headers = {"Authorization": "Bearer cli-token-42-0123456789"}
    async with running(Hub(settings, tty=False)) as hub, aiohttp.ClientSession(headers=headers) as http:
        assert hub.web is not None
        api = f"http://127.0.0.1:{hub.web.port}/api/notify"
        loop = hub.adapters["loop"]
        loop.health.down("the test took it down")
        async with http.post(api, json={"to": ["owner"], "text": "Parcel delivered"}) as posted:
            status_path = (await posted.json())["status"]
        status_url = f"http://127.0.0.1:{hub.web.port}{status_path}"

        started = time.monotonic()
        async with http.get(status_url, params={"wait": "0.3"}) as held:
            states = {r["address"]: r["state"] for r in (await held.json())["recipients"]}
            assert held.status == 200 and states["loop:owner"] == "pending", states
        assert time.monotonic() - started >= 0.3, "held for the time asked while it is pending"

        waiting = asyncio.create_task(http.get(status_url, params={"wait": "30"}))
        await asyncio.sleep(0)
        assert not waiting.done()
        started = time.monotonic()
        loop.health.up()                                   # the network is back: delivered, and the ask answered
        async with await asyncio.wait_for(waiting, 10) as answered:
            body = await answered.json()
        # (The owner's web chat refused it, no page being open: the phone's copy is what counts.)
        assert {r["address"]: r["state"] for r in body["recipients"]} == {"loop:owner": "delivered",
                                                                          "web:*": "failed"}, body
        assert time.monotonic() - started < 10
        assert loop.sent[-1][1].text == "Parcel delivered"

        for wrong in ("soon", "-1", "61", "nan"):
            async with http.get(status_url, params={"wait": wrong}) as refused:
                assert refused.status == 400
                assert (await refused.json())["error"] == \
                    f"wait is a number of seconds from 0 to 60 (?wait=30), not {wrong!r}"


async def test_a_held_status_read_is_answered_when_the_hub_stops(tmp_path: Path, mosquitto: Mosquitto,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A `?wait=` read held while the hub stops is answered with the state as it is (the pass
    it waits for will never come): the hub's stop was held up to a minute by the web server
    waiting for that request, and the script kept waiting for nothing."""
    import aiohttp

    settings = token_settings(tmp_path, mosquitto, monkeypatch)
    headers = {"Authorization": "Bearer cli-token-42-0123456789"}
    hub = Hub(settings, tty=False)
    held = asyncio.Event()
    status_within = hub.notifications.status_within

    async def spied(*args: object, **kwargs: object) -> object:
        held.set()
        return await status_within(*args, **kwargs)     # type: ignore[arg-type]

    monkeypatch.setattr(hub.notifications, "status_within", spied)
    async with aiohttp.ClientSession(headers=headers) as http:
        async with running(hub):
            assert hub.web is not None
            api = f"http://127.0.0.1:{hub.web.port}/api/notify"
            hub.adapters["loop"].health.down("the test took it down")
            async with http.post(api, json={"to": ["owner"], "text": "Parcel delivered"}) as posted:
                status_url = f"http://127.0.0.1:{hub.web.port}{(await posted.json())['status']}"
            waiting = asyncio.create_task(http.get(status_url, params={"wait": "50"}))
            await asyncio.wait_for(held.wait(), 10)
            hub.stop()
            async with await asyncio.wait_for(waiting, 5) as answered:
                body = await answered.json()
        assert answered.status == 200
        assert {r["address"]: r["state"] for r in body["recipients"]}["loop:owner"] == "pending", body
