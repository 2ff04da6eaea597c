"""The dashboard in a real headless Chromium, driven over the DevTools protocol with aiohttp.

No browser download and no extra package: Debian's `chromium` is started with
--remote-debugging-port and the page is driven through its websocket. Every wait is on
an event or a condition the page reports, with a timeout.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import re
import shutil
import sqlite3
import struct
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import aiomqtt
import pytest

from chatops.hub import Hub, running
from chatops.sim import SimulatedHome
from chatops.testing import REPO, Mosquitto, exec_command, settings_for

pytestmark = pytest.mark.servers
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


class PageError(Exception):
    """A script error in the page, or a DevTools command that failed."""


class Browser:
    """One headless Chromium and one page in it, spoken to over the Chrome DevTools Protocol."""

    def __init__(self, process: asyncio.subprocess.Process, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.process = process
        self.ws = ws
        self.session: str | None = None
        self._ids = 0
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._waiters: list[tuple[str, asyncio.Future[dict[str, Any]]]] = []
        self.errors: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    @contextlib.asynccontextmanager
    async def launch(cls, width: int = 1280, height: int = 900) -> AsyncIterator[Browser]:
        profile = tempfile.mkdtemp(prefix="chatops-chromium-")
        process = await asyncio.create_subprocess_exec(
            CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-dev-shm-usage", "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
            f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        session = aiohttp.ClientSession()
        try:
            assert process.stderr is not None
            async with asyncio.timeout(30):
                while True:
                    line = (await process.stderr.readline()).decode("utf-8", "replace")
                    if not line:
                        raise RuntimeError("chromium exited before it listened for DevTools")
                    match = re.search(r"DevTools listening on (ws://\S+)", line)
                    if match:
                        break
            drain = asyncio.create_task(_drain(process.stderr))
            ws = await session.ws_connect(match.group(1), max_msg_size=0)
            browser = cls(process, ws)
            await browser.open_page(width, height)
            try:
                yield browser
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(browser.call("Browser.close", session=False), 5)
                browser._reader.cancel()
                drain.cancel()
        finally:
            await session.close()
            if process.returncode is None:
                try:
                    await asyncio.wait_for(process.wait(), 5)
                except TimeoutError:
                    process.kill()
                    await process.wait()
            shutil.rmtree(profile, ignore_errors=True)

    async def _read(self) -> None:
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(frame.data)
            if "id" in data:
                future = self._pending.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
                continue
            method = data.get("method", "")
            if method == "Runtime.exceptionThrown":
                details = data["params"]["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description") or details.get("text", "?"))
            for wanted, future in list(self._waiters):
                if wanted == method and not future.done():
                    future.set_result(data.get("params", {}))

    async def call(self, method: str, session: bool = True, **params: Any) -> dict[str, Any]:
        self._ids += 1
        message: dict[str, Any] = {"id": self._ids, "method": method, "params": params}
        if session and self.session:
            message["sessionId"] = self.session
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[self._ids] = future
        await self.ws.send_json(message)
        reply = await asyncio.wait_for(future, 30)
        if "error" in reply:
            raise PageError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def event(self, method: str) -> asyncio.Future[dict[str, Any]]:
        """A future for the next `method` event (register before causing it)."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters.append((method, future))
        future.add_done_callback(lambda f: self._waiters.remove((method, f)))
        return future

    async def open_page(self, width: int, height: int) -> None:
        target = await self.call("Target.createTarget", session=False, url="about:blank")
        attached = await self.call("Target.attachToTarget", session=False, targetId=target["targetId"], flatten=True)
        self.session = attached["sessionId"]
        await self.call("Page.enable")
        await self.call("Runtime.enable")
        await self.viewport(width, height)

    async def viewport(self, width: int, height: int, mobile: bool = False) -> None:
        await self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                        deviceScaleFactor=2 if mobile else 1, mobile=mobile)

    async def goto(self, url: str) -> None:
        loaded = self.event("Page.loadEventFired")
        await self.call("Page.navigate", url=url)
        await asyncio.wait_for(loaded, 20)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise PageError(result["exceptionDetails"].get("exception", {}).get("description", expression))
        return result["result"].get("value")

    async def wait_until(self, condition: str, timeout: float = 10.0) -> Any:
        """Wait until the JS expression `condition` is truthy in the page (checked on every DOM change)."""
        script = f"""new Promise((resolve, reject) => {{
            const check = () => {{ try {{ return ({condition}); }} catch (e) {{ return false; }} }};
            const first = check();
            if (first) return resolve(first);
            const observer = new MutationObserver(() => {{
                const value = check();
                if (value) {{ observer.disconnect(); clearTimeout(timer); resolve(value); }}
            }});
            observer.observe(document, {{subtree: true, childList: true, attributes: true, characterData: true}});
            const timer = setTimeout(() => {{ observer.disconnect();
                reject(new Error("timed out waiting for: " + {json.dumps(condition)})); }}, {int(timeout * 1000)});
        }})"""
        return await self.evaluate(script)

    async def click(self, selector: str) -> None:
        """A real mouse click in the middle of the element (it must be visible and on top)."""
        box = await self.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
            if (!e) return null; e.scrollIntoView({{block: "center"}}); const r = e.getBoundingClientRect();
            return {{x: r.x + r.width / 2, y: r.y + r.height / 2}}; }})()""")
        if box is None:
            raise PageError(f"no element {selector}")
        for kind in ("mousePressed", "mouseReleased"):
            await self.call("Input.dispatchMouseEvent", type=kind, x=box["x"], y=box["y"], button="left",
                            clickCount=1)

    async def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode((await self.call("Page.captureScreenshot", format="png"))["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data


async def _drain(stream: asyncio.StreamReader) -> None:
    while await stream.readline():
        pass


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def seed_history(hub: Hub, until: float) -> None:
    """A day of simulated readings every 5 minutes, written as the history writer would."""
    sim = SimulatedHome(hub.settings.simulator, hub.mqtt, seed=1)
    rows = []
    for i in range(288):
        at = until - 86400 + i * 300
        hour = time.localtime(at).tm_hour
        rows += [("salon", int(at * 1000), sim.temperature("salon", at)),
                 ("chambre", int(at * 1000), sim.temperature("chambre", at)),
                 ("salon_humidity", int(at * 1000), round(48 + 4 * math.sin(i / 40), 1)),
                 ("heater", int(at * 1000), 1.0 if 6 <= hour < 8 or 18 <= hour < 22 else 0.0)]
    await hub.store.call(hub.store.transaction, lambda db: hub.history.write(db, rows))


@needs_chromium
async def test_dashboard_shows_the_house_and_switches_the_heater(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, simulator={"interval": "1m"})
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher, Browser.launch() as browser:
        assert hub.web is not None
        assert await exec_command(hub, "chauffage off") == "heater is OFF"
        await seed_history(hub, time.time() - 60)
        await watcher.subscribe("zigbee2mqtt/heater/set")
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        # The 24 h charts came from /api/history (288 points) and live readings follow them.
        await browser.wait_until("window.chatops.series.get('salon')?.length >= 288")
        await browser.wait_until("window.chatops.series.get('heater')?.length >= 288")
        # Every simulated device has its card with a value, the heater has its buttons.
        for name in ("salon", "salon_humidity", "chambre", "heater", "kitchen_smoke", "entree"):
            await browser.wait_until(f"document.querySelector('[data-device=\"{name}\"]')")
        await browser.wait_until("/\\d+\\.\\d/.test(document.querySelector('[data-device=\"salon\"] .value')"
                                 ".textContent)")
        assert await browser.evaluate("document.querySelector('[data-device=\"salon\"] .value small')"
                                      ".textContent") == "°C"
        await browser.wait_until("document.querySelector('[data-device=\"heater\"]').dataset.state === 'off'")
        await browser.wait_until("document.querySelector('[data-health=\"mqtt\"]') && "
                                 "!document.querySelector('[data-health=\"mqtt\"]').classList.contains('down')")

        # A click on "On" publishes the command; the card shows ON once the heater confirmed it.
        await browser.click('[data-device="heater"] button[data-set="on"]')
        async with asyncio.timeout(10):
            async for message in watcher.messages:
                assert message.topic.value == "zigbee2mqtt/heater/set"
                assert json.loads(message.payload) == {"state": "ON"}
                break
        await browser.wait_until("document.querySelector('[data-device=\"heater\"]').dataset.state === 'on' && "
                                 "document.querySelector('[data-device=\"heater\"] button[data-set=\"on\"]')"
                                 ".classList.contains('active')")
        assert await browser.wait_until("document.querySelector('[data-device=\"heater\"] .note').textContent") \
            == "heater is ON"
        assert hub.home.find("heater").reading.value is True
        # An answer leaves its card after a while (10 s; here 1 s): read an hour later, after
        # a switch from the chat, "heater is ON" would say what is no longer true.
        await browser.evaluate("document.body.dataset.noteMs = '1000'")
        await browser.click('[data-device="heater"] button[data-set="off"]')
        assert await browser.wait_until("document.querySelector('[data-device=\"heater\"] .note').textContent "
                                        "=== 'heater is OFF'")
        await browser.wait_until("document.querySelector('[data-device=\"heater\"] .note').textContent === ''")
        await browser.click('[data-device="entree"] button[data-snap]')
        await browser.wait_until("document.querySelector('[data-device=\"entree\"] img')?.complete")
        shot = await browser.screenshot(ARTIFACTS / "dashboard.png")
        assert png_size(shot) == (1280, 900)

        # Live updates without reload: a new salon reading reaches the page.
        shown = await browser.evaluate("document.querySelector('[data-device=\"salon\"] .value').textContent")
        await watcher.publish("zigbee2mqtt/salon", json.dumps({"temperature": 31.4, "humidity": 40}), qos=1)
        await browser.wait_until("document.querySelector('[data-device=\"salon\"] .value').textContent"
                                 " === '31.4°C'")
        assert shown != "31.4°C"
        await browser.wait_until("document.querySelector('[data-device=\"salon\"] canvas.chart').width > 0")
        assert browser.errors == []


@needs_chromium
async def test_dashboard_acknowledges_an_alert_and_takes_a_picture(tmp_path: Path, mosquitto: Mosquitto) -> None:
    settings = settings_for(tmp_path, mosquitto.url, devices={"chambre": {"stale_after": "1s"}})
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as device, Browser.launch(390, 844) as browser:
        assert hub.web is not None
        await browser.viewport(390, 844, mobile=True)
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        # A device silent for longer than its stale_after is marked stale.
        await browser.wait_until("document.querySelector('[data-device=\"chambre\"]').classList.contains('stale')"
                                 " && document.querySelector('[data-device=\"chambre\"] .age').textContent"
                                 ".startsWith('stale, ')")
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        alert_id = await browser.wait_until("document.querySelector('[data-alert]')?.dataset.alert")
        await browser.wait_until("document.querySelector('[data-device=\"kitchen_smoke\"]').dataset.state === 'on'")
        # The alert's snapshot reached the web chat as an image.
        await browser.wait_until("document.querySelector('#log .bot.notice img')")
        await browser.click(f'[data-alert="{alert_id}"] button')
        await browser.wait_until(f"document.querySelector('[data-alert=\"{alert_id}\"]').textContent"
                                 ".includes('acknowledged by owner')")
        assert (await hub.alerts.active())[0]["acked_by"] == "owner"
        await browser.click('[data-device="entree"] button[data-snap]')
        src = await browser.wait_until("document.querySelector('[data-device=\"entree\"] img')?.src")
        async with aiohttp.ClientSession() as http, http.get(src) as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
        # The phone layout: no horizontal scrolling, and no button sticking out of its card (a
        # phone's layout viewport grows to fit what overflows: the first check alone passed).
        assert await browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        outside = await browser.evaluate(
            "[...document.querySelectorAll('.card button, .card select, .card input')].filter(e => "
            "e.getBoundingClientRect().right > e.closest('.card').getBoundingClientRect().right + 0.5 || "
            "e.getBoundingClientRect().right > 390.5).map(e => e.closest('.card').dataset.device + ': ' + e.textContent)")
        assert outside == [], outside
        assert browser.errors == []
        await browser.screenshot(ARTIFACTS / "dashboard-phone.png")


async def test_dashboard_actions_obey_permissions(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """A web user who is only a guest sees the house but cannot switch (the same rule as the chat)."""
    settings = settings_for(tmp_path, mosquitto.url, web={"user": None}, simulator={"enabled": True})
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        status = await exec_command(hub, "status", sender="owner")
        assert "web: no chat page open: messages to the web chat go unread" in status, status
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{hub.web.port}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            assert "web: 1 chat page open" in await exec_command(hub, "status", sender="owner")
            await ws.send_json({"type": "watch"})
            state = await ws.receive_json(timeout=5)
            assert state["type"] == "state" and state["may"]["switch"] is False
            assert {d["name"] for d in state["devices"]} >= {"salon", "heater", "entree"}
            await ws.send_json({"type": "switch", "device": "heater", "state": "on", "request": 1})
            while (result := await ws.receive_json(timeout=5))["type"] != "result":
                pass
            assert result["text"].startswith("Sorry, you may not use switch")
            assert hub.home.find("heater").reading is None or hub.home.find("heater").reading.value is False
            refused = await hub.store.audit_entries("refused")
            assert refused and refused[-1]["text"] == 'switch "heater" on'
            # Health changes are pushed to open pages.
            hub.web.chat.health.down("testing")
            while (pushed := await ws.receive_json(timeout=5))["type"] != "health":
                pass
            assert pushed["health"]["adapters"]["web"] == {"connected": False, "since": pytest.approx(time.time(), abs=5),
                                                           "detail": "testing"}


async def test_a_rate_limited_button_says_so_each_time(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """Past the rate limit, a chat is told once and then nothing; a button's card note went blank
    (the thermostat's + stopped without a word). Each button is told."""
    settings = settings_for(tmp_path, mosquitto.url, web={"user": None}, hub={"rate_limit": 2},
                            simulator={"enabled": True})
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        async with aiohttp.ClientSession() as http, http.ws_connect(f"http://127.0.0.1:{hub.web.port}/ws") as ws:
            assert (await ws.receive_json(timeout=5))["type"] == "hello"
            texts = []
            for request in range(6):
                await ws.send_json({"type": "switch", "device": "heater", "state": "on", "request": request})
                while (result := await ws.receive_json(timeout=5))["type"] != "result":
                    pass
                texts.append(result["text"])
            assert all(texts), texts
            assert texts[-2:] == ["Too many commands; wait a minute and try again."] * 2, texts


async def test_dashboard_needs_the_token_beyond_loopback(tmp_path: Path, mosquitto: Mosquitto,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("CHATOPS_WEB_TOKEN", "s3cret-token-value")
    settings = settings_for(tmp_path, mosquitto.url, web={"listen": "0.0.0.0:0", "token_env": "CHATOPS_WEB_TOKEN"})
    caplog.set_level("DEBUG")
    async with running(Hub(settings, tty=False)) as hub:
        assert hub.web is not None
        base = f"http://127.0.0.1:{hub.web.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            for path in ("/", "/api/state", "/api/history?device=salon", "/ws"):
                async with http.get(base + path) as response:
                    assert response.status == 401, path
                    if path == "/":                           # a person at a browser is told what to do
                        assert await response.text() == "This hub needs its token: open /?token=YOUR_TOKEN once."
            async with http.get(base + "/?token=s3cret-token-value") as response:
                assert response.status == 200 and "<title>chatops</title>" in await response.text()
            async with http.get(base + "/api/state") as response:     # the cookie now opens the API
                assert response.status == 200 and (await response.json())["type"] == "state"
    assert "s3cret-token-value" not in caplog.text


@needs_chromium
async def test_dashboard_dims_the_lamp_nudges_the_thermostat_and_moves_the_shutter(tmp_path: Path,
                                                                                   mosquitto: Mosquitto) -> None:
    """Each device type has its own control: a brightness slider, a target with − and +, open/stop/close."""
    siren = "zigbee2mqtt/siren"
    devices = {"volume": {"type": "number", "topic": siren, "value": "volume", "command_topic": f"{siren}/set/volume",
                          "min": 0, "max": 10, "step": 1},
               "melody": {"type": "select", "topic": siren, "value": "melody", "command_topic": f"{siren}/set/melody",
                          "options": ["bell", "alarm"]}}
    settings = settings_for(tmp_path, mosquitto.url, simulator={"interval": "1m", "cover_travel": "2s"}, devices=devices)
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as watcher, Browser.launch() as browser:
        assert hub.web is not None
        await watcher.subscribe("zigbee2mqtt/+/set")
        await watcher.subscribe(f"{siren}/set/+")
        await watcher.publish(siren, json.dumps({"volume": 3, "melody": "bell"}), qos=1)
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        card = "document.querySelector('[data-device=\"{}\"]')".format
        await browser.wait_until(card("thermostat") + ".querySelector('[data-shows=\"target\"]').textContent"
                                 " === '20.0 °C'")

        async def published(device: str, topic: str | None = None) -> Any:
            async with asyncio.timeout(10):
                async for message in watcher.messages:
                    if message.topic.value == (topic or f"zigbee2mqtt/{device}/set"):
                        return json.loads(message.payload)
            raise AssertionError("unreachable")

        # The lamp's slider: dragged to 40 and let go.
        await browser.evaluate(card("lampe") + ".querySelector('input[data-control=\"brightness\"]').value = 40; "
                               + card("lampe") + ".querySelector('input[data-control=\"brightness\"]')"
                               ".dispatchEvent(new Event('change'))")
        assert await published("lampe") == {"state": "ON", "brightness": 102}
        await browser.wait_until(card("lampe") + ".querySelector('.note').textContent === 'lampe: on, 40 %, 2700 K'")
        assert await browser.evaluate(card("lampe") + ".dataset.state") == "on"
        assert await browser.evaluate(card("lampe") + ".querySelector('[data-shows=\"brightness\"]').textContent") \
            == "40 %"
        # Set from elsewhere (a chat) while the slider still has the focus: the thumb follows.
        await browser.evaluate(card("lampe") + ".querySelector('input[data-control=\"brightness\"]').focus()")
        assert (await exec_command(hub, "lampe 80%")).startswith("lampe: on, 80 %")
        assert await published("lampe") == {"state": "ON", "brightness": 203}
        await browser.wait_until(card("lampe") + ".querySelector('input[data-control=\"brightness\"]').value === '80'")
        # Its colour-temperature slider sends kelvins (once read as a 4000 % brightness).
        kelvin = card("lampe") + ".querySelector('input[data-control=\"kelvin\"]')"
        assert await browser.evaluate(f"[{kelvin}.min, {kelvin}.max]") == ["2000", "6500"]
        await browser.evaluate(f"{kelvin}.value = 4000; {kelvin}.dispatchEvent(new Event('change'))")
        assert (await published("lampe"))["color_temp"] == 250
        await browser.wait_until(card("lampe") + ".querySelector('.note').textContent === 'lampe: on, 80 %, 4000 K'")

        # The thermostat's +: one step (0.5) up, confirmed by the device.
        await browser.click('[data-device="thermostat"] button[data-nudge="+"]')
        assert await published("thermostat") == {"current_heating_setpoint": 20.5}
        await browser.wait_until(card("thermostat") + ".querySelector('[data-shows=\"target\"]').textContent"
                                 " === '20.5 °C'")
        await browser.click('[data-device="thermostat"] button[data-mode="heat"]')
        assert await published("thermostat") == {"system_mode": "heat"}
        await browser.wait_until(card("thermostat") + ".querySelector('button[data-mode=\"heat\"]')"
                                 ".classList.contains('active')")
        await browser.click('[data-device="thermostat"] button[data-nudge="-"]')
        assert await published("thermostat") == {"current_heating_setpoint": 20.0}
        await browser.wait_until(card("thermostat") + ".querySelector('[data-shows=\"target\"]').textContent"
                                 " === '20.0 °C'")
        # Three quick clicks are three steps, not one (the card was busy for the second and third).
        await browser.evaluate("for (let i = 0; i < 3; i++) document.querySelector("
                               "'[data-device=\"thermostat\"] button[data-nudge=\"-\"]').click()")
        assert [await published("thermostat") for _ in range(3)] == \
            [{"current_heating_setpoint": 19.5}, {"current_heating_setpoint": 19.0}, {"current_heating_setpoint": 18.5}]
        await browser.wait_until(card("thermostat") + ".querySelector('[data-shows=\"target\"]').textContent"
                                 " === '18.5 °C'")
        # An answer while another of the card's actions waits for its own stays until the last is
        # answered (a note clears after 10 s; here 0.2 s): the busy card is not left blank.
        await browser.wait_until(card("thermostat") + ".dataset.inflight === '0'")
        await browser.evaluate("document.body.dataset.noteMs = '200'; " + card("thermostat") + ".dataset.inflight = '2'; "
                               + card("thermostat") + ".classList.add('busy'); onResult({action: 'set', device: "
                               "'thermostat', text: window.chatops.devices.get('thermostat').label + ': 19.0 °C'})")
        await asyncio.sleep(0.8)
        assert (await browser.evaluate(card("thermostat") + ".querySelector('.note').textContent")).endswith(": 19.0 °C")
        await browser.evaluate("onResult({action: 'set', device: 'thermostat', "
                               "text: window.chatops.devices.get('thermostat').label + ': 18.5 °C'})")
        assert (await browser.evaluate(card("thermostat") + ".querySelector('.note').textContent")).endswith(": 18.5 °C")
        await browser.wait_until(card("thermostat") + ".querySelector('.note').textContent === ''")

        # A number's slider and a select's list publish on their command topics.
        await browser.wait_until(card("volume") + ".querySelector('input[data-control=\"value\"]').value === '3'")
        await browser.evaluate(card("volume") + ".querySelector('input[data-control=\"value\"]').value = 7; "
                               + card("volume") + ".querySelector('input[data-control=\"value\"]')"
                               ".dispatchEvent(new Event('change'))")
        assert await published("volume", f"{siren}/set/volume") == {"volume": 7}
        await browser.evaluate(card("melody") + ".querySelector('select').value = 'alarm'; "
                               + card("melody") + ".querySelector('select').dispatchEvent(new Event('change'))")
        assert await published("melody", f"{siren}/set/melody") == {"melody": "alarm"}

        # The shutter: Open moves it (opening…), and the card follows it to open.
        await browser.click('[data-device="volet_salon"] button[data-cover="open"]')
        assert await published("volet_salon") == {"state": "OPEN"}
        await browser.wait_until(card("volet_salon") + ".dataset.motion === 'opening'")
        await browser.wait_until(card("volet_salon") + ".querySelector('.value').textContent === 'open'")
        # Its arrival is told to the page that moved it (once sent to the owner's other networks).
        await browser.wait_until("[...document.querySelectorAll('#log .notice')].some(d => d.textContent === "
                                 "'volet salon: open')")
        await browser.screenshot(ARTIFACTS / "dashboard-controls.png")
        assert hub.home.devices["volet_salon"].reading.value == 100
        # Close sets it going down; Stop halts it on the way.
        await browser.click('[data-device="volet_salon"] button[data-cover="close"]')
        assert await published("volet_salon") == {"state": "CLOSE"}
        await browser.wait_until(card("volet_salon") + ".dataset.motion === 'closing'")
        await browser.click('[data-device="volet_salon"] button[data-cover="stop"]')
        assert await published("volet_salon") == {"state": "STOP"}
        await browser.wait_until(card("volet_salon") + ".dataset.motion === ''")
        assert 0 < hub.home.devices["volet_salon"].reading.value < 100
        assert browser.errors == []


@needs_chromium
async def test_dashboard_in_french(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """[hub] language = "fr": the page's own words, the values and the web chat's answers are French."""
    settings = settings_for(tmp_path, mosquitto.url, hub={"language": "fr"}, simulator={"interval": "1m"})
    async with running(Hub(settings, tty=False)) as hub, Browser.launch() as browser:
        assert hub.web is not None
        await seed_history(hub, hub.clock.time())
        # What the charts write (their max and min) is recorded as the page draws it.
        await browser.call("Page.addScriptToEvaluateOnNewDocument", source=(
            "window.drawn = []; const fillText = CanvasRenderingContext2D.prototype.fillText; "
            "CanvasRenderingContext2D.prototype.fillText = function (text, ...rest) "
            "{ window.drawn.push(String(text)); return fillText.call(this, text, ...rest); };"))
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        card = "document.querySelector('[data-device=\"{}\"]')".format
        assert await browser.evaluate(card("heater") + ".querySelector('button[data-set=\"on\"]').textContent") \
            == "Allumer"
        await browser.click('[data-device="heater"] button[data-set="on"]')       # confirmed: not shown as an error
        await browser.wait_until(card("heater") + ".querySelector('.note').textContent === 'heater: allumé'")
        assert await browser.evaluate(card("heater") + ".querySelector('.note').classList.contains('error')") is False
        await browser.wait_until("window.drawn.some(t => /^max -?\\d+,\\d °C$/.test(t))")
        drawn = await browser.evaluate("window.drawn")
        assert not [t for t in drawn if re.search(r"\d\.\d", t)], drawn          # 20,1 °C, never 20.1
        assert await browser.evaluate("document.querySelector('[data-health=\"storage\"]').textContent") == "stockage"
        assert await browser.evaluate("[...document.querySelectorAll('[data-device=\"volet_salon\"] button')]"
                                      ".map(b => b.textContent).join(' ')") == "Ouvrir Arrêter Fermer"
        await browser.wait_until(card("thermostat") + ".querySelector('[data-shows=\"target\"]').textContent"
                                 " === '20,0 °C'")
        modes = await browser.evaluate("[...document.querySelectorAll('[data-device=\"thermostat\"] "
                                       "button[data-mode]')].map(b => b.textContent)")
        assert "chauffe" in modes and "heat" not in modes, modes
        await browser.wait_until(card("salon") + ".querySelector('.age').textContent.startsWith('il y a ')")
        await browser.wait_until("/^\\d+,\\d$/.test(" + card("salon") + ".querySelector('.value').firstChild"
                                 ".textContent.trim())")
        assert (await browser.evaluate("document.querySelector('#log .greeting').textContent")).startswith("Tapez ")
        assert await browser.evaluate("document.documentElement.lang") == "fr"
        assert await browser.evaluate("document.getElementById('conn').textContent") == "en direct"
        assert await browser.evaluate(card("salon") + ".querySelector('canvas').getAttribute('aria-label')") \
            == "salon, dernières 24 heures"
        await browser.evaluate("document.getElementById('text').value = 'tmep'; "
                               "document.getElementById('form').requestSubmit()")
        await browser.wait_until("[...document.querySelectorAll('#log .bot')].some(d => d.textContent === "
                                 "\"Commande inconnue 'tmep'. Vouliez-vous dire temp ?\")")
        # An alert's severity in French, as the chat says it ([CRITIQUE]), and its age moving on.
        await browser.evaluate("document.getElementById('text').value = 'simulate smoke on'; "
                               "document.getElementById('form').requestSubmit()")
        await browser.wait_until("document.querySelector('[data-alert] .sev')?.textContent === 'critique'")
        await browser.wait_until("/^il y a [1-9]/.test(document.querySelector('[data-alert] small').textContent)")
        assert browser.errors == []


@needs_chromium
async def test_dashboard_says_storage_is_failing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """When the store reports failing writes (a full disk, see tests/test_storage_failure.py) the page
    shows why, in a banner and a red pill, and both go once it is back."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"interval": "1m"})
    async with running(Hub(settings, tty=False)) as hub, Browser.launch() as browser:
        assert hub.web is not None
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        assert await browser.evaluate("document.getElementById('storage').hidden") is True
        # A real refused write: the hub's own writes (history, audit) cannot mark it healthy
        # again before the page has seen it, as a flag flipped by hand could be.
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        with pytest.raises(sqlite3.OperationalError):
            await hub.store.call(lambda: hub.store.db.execute("CREATE TABLE refused (x)"))
        await browser.wait_until("!document.getElementById('storage').hidden && document.getElementById('storage')"
                                 ".textContent.includes('attempt to write a readonly database')", timeout=15)
        assert await browser.evaluate("document.querySelector('[data-health=\"storage\"]').classList"
                                      ".contains('down')")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        await hub.store.call(lambda: hub.store.db.executescript("CREATE TABLE accepted (x); INSERT INTO accepted VALUES (1)"))
        await browser.wait_until("document.getElementById('storage').hidden", timeout=15)
        assert browser.errors == []


async def test_dashboard_shows_an_alarm_sent_from_memory_and_does_not_ack_another(tmp_path: Path,
                                                                                  mosquitto: Mosquitto) -> None:
    """The database refuses writes and the smoke detector fires: the alarm is listed, marked NOT
    STORED, its button disabled (a bare `ack` would reach another alert); acknowledged in a chat
    meanwhile, the page says so at once; once stored, it has its number and its acknowledgement."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"interval": "1m"}, history={"enabled": False})
    async with running(Hub(settings, tty=False)) as hub, \
            aiomqtt.Client("127.0.0.1", mosquitto.port) as device, Browser.launch() as browser:
        assert hub.web is not None
        await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
        await browser.wait_until("document.body.dataset.ready === 'true'")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = ON"))
        await device.publish("zigbee2mqtt/kitchen_smoke", json.dumps({"smoke": True}), qos=1)
        text = await browser.wait_until("document.querySelector('[data-alert=\"unstored\"]')?.textContent", timeout=15)
        assert "(NOT STORED: storage is failing) Smoke detected in the kitchen!" in text, text
        assert await browser.evaluate("document.querySelector('[data-alert=\"unstored\"] button').disabled") is True
        # Acknowledged in a chat meanwhile: the page says so at once, not once storage is back.
        assert "acknowledged" in await exec_command(hub, "ack")
        await browser.wait_until("document.querySelector('[data-alert=\"unstored\"]').textContent"
                                 ".includes('acknowledged by owner')")
        await hub.store.call(lambda: hub.store.db.execute("PRAGMA query_only = OFF"))
        alert_id = await browser.wait_until("document.querySelector('[data-alert]:not([data-alert=\"unstored\"])')"
                                            "?.dataset.alert", timeout=30)
        # Stored with its number, and with the acknowledgement given while it waited.
        assert "acknowledged by owner" in await browser.evaluate(f"document.querySelector('[data-alert=\"{alert_id}\"]')"
                                                                 ".textContent")
        assert browser.errors == []


@needs_chromium
async def test_a_page_whose_hub_is_gone_says_so(tmp_path: Path, mosquitto: Mosquitto) -> None:
    """The hub stops (or the network goes): the page greys what it shows as of then instead of
    keeping green pills, and a line typed is answered "not connected", not silently kept."""
    settings = settings_for(tmp_path, mosquitto.url, simulator={"interval": "1m"})
    async with Browser.launch() as browser:
        async with running(Hub(settings, tty=False)) as hub:
            assert hub.web is not None
            await browser.goto(f"http://127.0.0.1:{hub.web.port}/")
            await browser.wait_until("document.body.dataset.ready === 'true'")
            assert await browser.evaluate("document.body.classList.contains('offline')") is False
        await browser.wait_until("document.body.classList.contains('offline')")
        assert await browser.evaluate("getComputedStyle(document.querySelector('.pill')).backgroundColor") \
            == "rgb(138, 148, 166)"
        await browser.evaluate("document.getElementById('text').value = 'temp'; "
                               "document.getElementById('form').requestSubmit()")
        await browser.wait_until("[...document.querySelectorAll('#log .notice')].some(d => d.textContent === "
                                 "'not connected')")
