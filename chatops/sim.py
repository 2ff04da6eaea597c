"""A simulated house on MQTT, shaped like Zigbee2MQTT, so the hub can be tried with no hardware.

Devices (under `base_topic`, default zigbee2mqtt/): salon and chambre (temperature and
humidity with a daily cycle and noise), heater (a switch answering `heater/set`, warming the
living room while on), kitchen_smoke (a smoke detector triggered with `kitchen_smoke/set`
`{"smoke": true}`), hall_motion (an occupancy sensor fired with `hall_motion/set`
`{"occupancy": true}`, which clears by itself after `motion_clear`), hall_light (a switch), and
lampe (a dimmable light with a colour temperature), volet_salon (a shutter that moves at
`cover_travel` from closed to open, reporting its position every second while it moves),
thermostat (a target the salon temperature drifts toward while it heats), and
every device answers `NAME/get`. A camera with `simulated = true`
(entree in the demo) shows `camera_image`: a front door in the light of the hour, time-stamped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import random
import time

from . import json_input
from .config import SimulatorSettings
from .mqtt import MqttLink, MqttUnavailable

log = logging.getLogger(__name__)

DEVICES = ("salon", "chambre", "heater", "kitchen_smoke", "hall_motion", "hall_light", "lampe", "volet_salon",
           "thermostat")
COVER_STEP = 1.0            # seconds between two position reports of a moving shutter
# What `simulate` (in chat and on the command line) sets off: the device and its payload's field.
TRIGGERS = {"smoke": ("kitchen_smoke", "smoke"), "motion": ("hall_motion", "occupancy")}


def trigger(base_topic: str, what: str, on: bool) -> tuple[str, str, str]:
    """(state topic, command topic, payload) that set off or clear the simulated `what`."""
    device, field = TRIGGERS[what]
    return f"{base_topic}/{device}", f"{base_topic}/{device}/set", json.dumps({field: on})


class SimulatedHome:
    """Publishes the simulated devices' state and obeys their command topics."""

    def __init__(self, settings: SimulatorSettings, mqtt: MqttLink, seed: int | None = None) -> None:
        self.settings = settings
        self.mqtt = mqtt
        self.base = settings.base_topic
        self.heater_on = False
        self.smoke = False
        self.heat_gain = 0.0
        self._random = random.Random(seed)
        self._wake = asyncio.Event()
        self._pending: set[str] = set()
        self.motion = False
        self.hall_light_on = False
        self._motion_clear: asyncio.TimerHandle | None = None
        self.lamp = {"state": "OFF", "brightness": 254, "color_temp": 370}
        self.cover_position = 0.0
        self.cover_target: float | None = None
        self._cover_clock = 0.0
        self.thermostat = {"current_heating_setpoint": 20.0, "system_mode": "off"}
        self.thermostat_gain = 0.0

    def temperature(self, room: str, now: float | None = None) -> float:
        hours = time.localtime(now or time.time()).tm_hour + time.localtime(now or time.time()).tm_min / 60
        base = 20.5 if room == "salon" else 18.5
        cycle = 1.5 * math.sin(2 * math.pi * (hours - 9) / 24)
        gain = self.heat_gain + self.thermostat_gain if room == "salon" else self.heat_gain / 3
        return round(base + cycle + gain + self._random.uniform(-0.2, 0.2), 1)

    def _thermostat_tick(self) -> None:
        """The salon drifts toward the target while the thermostat heats, back when it is off."""
        heating = self.thermostat["system_mode"] in ("heat", "auto")
        if heating:
            gap = float(self.thermostat["current_heating_setpoint"]) - (self.temperature("salon") - self.thermostat_gain)
            wanted = max(0.0, gap)
        else:
            wanted = 0.0
        step = 0.2 if heating else 0.1
        self.thermostat_gain += max(-step, min(step, wanted - self.thermostat_gain))

    def _cover_tick(self, now: float) -> bool:
        """Move the shutter toward its target for the time since the last tick; True when it moved."""
        if self.cover_target is None:
            return False
        speed = 100.0 / self.settings.cover_travel
        travel = speed * max(0.0, now - self._cover_clock)
        self._cover_clock = now
        gap = self.cover_target - self.cover_position
        self.cover_position = self.cover_target if abs(gap) <= travel else self.cover_position + travel * (1 if gap > 0 else -1)
        if self.cover_position == self.cover_target:
            self.cover_target = None
        return True

    def humidity(self, room: str) -> float:
        return round((48.0 if room == "salon" else 55.0) + self._random.uniform(-2, 2), 1)

    def state_of(self, device: str) -> dict[str, object]:
        if device in ("salon", "chambre"):
            return {"temperature": self.temperature(device), "humidity": self.humidity(device),
                    "battery": 97, "linkquality": 120}
        if device == "heater":
            return {"state": "ON" if self.heater_on else "OFF", "linkquality": 110}
        if device == "kitchen_smoke":
            return {"smoke": self.smoke, "battery": 100, "tamper": False}
        if device == "hall_motion":
            return {"occupancy": self.motion, "battery": 92, "illuminance": 40}
        if device == "hall_light":
            return {"state": "ON" if self.hall_light_on else "OFF", "linkquality": 100}
        if device == "lampe":
            return {**self.lamp, "linkquality": 90}
        if device == "volet_salon":
            moving = "STOP" if self.cover_target is None else ("UP" if self.cover_target > self.cover_position
                                                                else "DOWN")
            position = round(self.cover_position)
            return {"position": position, "state": "OPEN" if position > 0 else "CLOSE", "moving": moving}
        if device == "thermostat":
            running = "heat" if self.thermostat["system_mode"] != "off" and \
                self.temperature("salon") < float(self.thermostat["current_heating_setpoint"]) else "idle"
            return {**self.thermostat, "local_temperature": self.temperature("salon"), "running_state": running}
        raise KeyError(device)

    async def run(self) -> None:
        """Publish every device now and every `interval`; answer commands until cancelled."""
        await self.mqtt.subscribe_all([(f"{self.base}/+/set", self._on_command), (f"{self.base}/+/get", self._on_command)])
        await self.mqtt.connected.wait()
        self._pending.update(DEVICES)
        next_tick = time.monotonic()
        while True:
            if self._cover_tick(time.monotonic()):
                self._pending.add("volet_salon")
            if time.monotonic() >= next_tick:
                self._thermostat_tick()
                self._pending.update(("salon", "chambre", "thermostat"))
                if self.heater_on:
                    self.heat_gain = min(3.0, self.heat_gain + 0.1)
                else:
                    self.heat_gain = max(0.0, self.heat_gain - 0.05)
                next_tick = time.monotonic() + self.settings.interval
            while self._pending:
                device = self._pending.pop()
                try:
                    await self.mqtt.publish(f"{self.base}/{device}", json.dumps(self.state_of(device)),
                                            retain=True, wait=self.settings.interval)
                except MqttUnavailable:
                    # The link may not have noticed the drop yet (connected still set): yield
                    # for a moment instead of spinning, then wait for the reconnection.
                    self._pending.add(device)
                    await asyncio.sleep(1.0)
                    await self.mqtt.connected.wait()
            self._wake.clear()
            wake_at = next_tick if self.cover_target is None else min(next_tick, time.monotonic() + COVER_STEP)
            try:
                async with asyncio.timeout(max(0.0, wake_at - time.monotonic())):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _on_command(self, topic: str, payload: bytes, _retained: bool) -> None:
        parts = topic.split("/")
        device, action = parts[-2], parts[-1]
        if device not in DEVICES:
            return
        if action == "set":
            try:
                data = json_input.loads(payload)
            except ValueError:
                data = {"state": payload.decode("utf-8", "replace")}
            if not isinstance(data, dict):
                log.warning("simulator: ignored command %r on %s", payload[:40], topic)
                return
            if device == "heater" and "state" in data:
                wanted = str(data["state"]).upper()
                self.heater_on = (not self.heater_on) if wanted == "TOGGLE" else wanted == "ON"
            elif device == "hall_light" and "state" in data:
                wanted = str(data["state"]).upper()
                self.hall_light_on = (not self.hall_light_on) if wanted == "TOGGLE" else wanted == "ON"
            elif device == "lampe":
                self._light(data)
            elif device == "volet_salon":
                self._cover(data)
            elif device == "thermostat":
                self._set_thermostat(data)
            elif device == "hall_motion" and "occupancy" in data:
                self._moved(bool(data["occupancy"]) if not isinstance(data["occupancy"], str)
                            else data["occupancy"].lower() in ("true", "on", "1"))
            elif device == "kitchen_smoke" and "smoke" in data:
                self.smoke = bool(data["smoke"]) if not isinstance(data["smoke"], str) \
                    else data["smoke"].lower() in ("true", "on", "1")
                log.info("simulator: kitchen smoke detector %s", "FIRED" if self.smoke else "cleared")
        self._pending.add(device)
        self._wake.set()

    def _light(self, data: dict[str, object]) -> None:
        if "state" in data:
            wanted = str(data["state"]).upper()
            on = self.lamp["state"] != "ON" if wanted == "TOGGLE" else wanted == "ON"
            self.lamp["state"] = "ON" if on else "OFF"
        for key, high in (("brightness", 254), ("color_temp", 500)):
            value = data.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                self.lamp[key] = max(0 if key == "brightness" else 153, min(high, int(value)))

    def _cover(self, data: dict[str, object]) -> None:
        """OPEN, CLOSE, STOP or a position: the shutter starts moving (or stops) at once."""
        state = str(data.get("state", "")).upper()
        position = data.get("position")
        self._cover_tick(time.monotonic())
        self._cover_clock = time.monotonic()
        if state == "STOP":
            self.cover_target = None
        elif state in ("OPEN", "CLOSE"):
            self.cover_target = 100.0 if state == "OPEN" else 0.0
        elif isinstance(position, (int, float)) and not isinstance(position, bool):
            self.cover_target = float(max(0, min(100, position)))
        if self.cover_target == self.cover_position:
            self.cover_target = None

    def _set_thermostat(self, data: dict[str, object]) -> None:
        target = data.get("current_heating_setpoint")
        if isinstance(target, (int, float)) and not isinstance(target, bool):
            self.thermostat["current_heating_setpoint"] = float(max(5, min(30, target)))
        mode = data.get("system_mode")
        if isinstance(mode, str) and mode.lower() in ("off", "heat", "auto"):
            self.thermostat["system_mode"] = mode.lower()

    def _moved(self, motion: bool) -> None:
        """Someone walks in (or the test says the hall is empty): occupancy now, cleared by
        itself `motion_clear` after the last movement, as a real PIR sensor does."""
        if self._motion_clear is not None:
            self._motion_clear.cancel()
            self._motion_clear = None
        self.motion = motion
        if motion:
            self._motion_clear = asyncio.get_running_loop().call_later(self.settings.motion_clear, self._cleared)

    def _cleared(self) -> None:
        self._motion_clear = None
        self.motion = False
        self._pending.add("hall_motion")
        self._wake.set()


def camera_image(name: str, now: float | None = None, size: tuple[int, int] = (640, 480)) -> bytes:
    """A JPEG 'seen' by simulated camera `name`: a front door, daylight by the hour, the time on it.

    Pure CPU work (Pillow): call it through `asyncio.to_thread`.
    """
    import io

    from PIL import Image, ImageDraw

    from .graph import font

    now = time.time() if now is None else now
    local = time.localtime(now)
    hours = local.tm_hour + local.tm_min / 60
    daylight = max(0.0, math.sin(math.pi * (hours - 6) / 14)) if 6 <= hours <= 20 else 0.0
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):                                  # sky to ground gradient
        shade = y / height
        sky = (int(30 + 150 * daylight - 40 * shade), int(40 + 160 * daylight - 30 * shade),
               int(70 + 170 * daylight - 20 * shade))
        draw.line((0, y, width, y), fill=sky)
    wall = tuple(int(c * (0.35 + 0.65 * daylight)) for c in (214, 196, 170))
    draw.rectangle((0, height * 0.25, width, height), fill=wall)            # the house front
    door = (width * 0.38, height * 0.42, width * 0.62, height * 0.95)
    draw.rectangle(door, fill=(96, 52, 30), outline=(40, 20, 10), width=4)
    draw.ellipse((width * 0.57, height * 0.68, width * 0.59, height * 0.71), fill=(220, 190, 90))
    lamp = (255, 230, 140) if daylight < 0.3 else (200, 200, 190)
    draw.ellipse((width * 0.66, height * 0.45, width * 0.70, height * 0.51), fill=lamp)
    draw.rectangle((0, height * 0.95, width, height), fill=(90, 90, 90))   # the step
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", local)
    big = font(max(12, height // 16))
    draw.rectangle((0, 0, width, height // 12 + 8), fill=(0, 0, 0))
    draw.text((10, 4), f"{name.upper()}  {stamp}", fill=(255, 255, 255), font=big)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()
