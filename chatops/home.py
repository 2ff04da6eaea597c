"""The house: devices from config and MQTT discovery, their last readings, closed-loop switching.

A device reads one MQTT state topic; its value is a field of a JSON payload (dotted path)
or the raw payload. Zigbee2MQTT, Tasmota and Home Assistant discovery shapes all reduce to
that. A malformed payload is logged and ignored: the last good reading stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import difflib
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .auth import fold
from .availability import heard
from .clock import SYSTEM_CLOCK, Clock
from .command import CommandError
from .config import DeviceSettings, DeviceType
from .device_names import ARTICLES, names_of, spoken_forms, unspoken
from .controls import CONTROLS, Action, Control, PayloadError, Publish
from .device_settings import SETTABLE
from .device_values import PLAUSIBLE, format_value
from .i18n import _, current_language, pgettext, reported_decimals
from .durations import format_duration
from .mqtt import Listener as MqttListener
from .mqtt import MqttLink
from .payloads import as_bool, bare, extract
from .tasmota import reading_request, sibling, status_answer, unwrap

if TYPE_CHECKING:
    from .device_kinds import DeviceKind

log = logging.getLogger(__name__)

SWITCH_STATES = ("on", "off", "toggle")      # the words that switch a device, everywhere
STATE_WORDS = {"marche": "on", "arret": "off", "allume": "on", "allumee": "on", "eteint": "off", "eteinte": "off",
               **{s: s for s in SWITCH_STATES}}          # folded: what each word of either language means
UNKNOWN_LISTS = 20          # device names an answer to an unknown one lists at most
BAD_LOG_EVERY = 600.0       # seconds between log lines about one device's malformed payloads
_QUOTED_OR_NUMBER = re.compile(r"'[^']*'|\d+")   # what differs between two payloads of one fault


@dataclass(frozen=True, slots=True)
class Reading:
    """One value of a device, when it arrived (wall clock) and the text it came from.

    `value` is the primary value alerts, automations and history use; a light, thermostat or
    cover keeps its other fields (brightness, target, mode, motion...) in `attrs`."""

    value: float | bool | str
    at: float
    raw: str = ""
    attrs: Mapping[str, Any] = field(default_factory=dict)
    seen: float = 0.0           # monotonic time it arrived (to tell a reading from before a clock step)


@dataclass(slots=True)
class Device:
    """A thing in the house the hub can read or drive."""

    name: str
    settings: DeviceSettings
    source: str = "config"
    reading: Reading | None = None
    _waiters: list[tuple[Callable[[Reading], bool], asyncio.Future[Reading]]] = field(default_factory=list)
    last_move: object | None = None     # the newest movement asked of a cover (its report is the one told)
    reported: dict[str, Any] = field(default_factory=dict)   # fields heard on their own topics (field_topics)
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False, compare=False)   # the hub's (staleness)
    offline_since: float | None = None  # monotonic time its availability topic said offline (chatops.availability)
    # (reading, language, text) of the last `show`: the same reading read again is not formatted again
    _shown: tuple[Reading, str, str] | None = field(default=None, repr=False, compare=False)
    _followed: list[tuple[str, MqttListener]] = field(default_factory=list, repr=False, compare=False)
    _bad: list[Any] = field(default_factory=list, repr=False, compare=False)   # [last logged, since, fault]

    @property
    def type(self) -> DeviceType:
        return self.settings.type

    @property
    def label(self) -> str:
        return self.settings.label or self.name

    @property
    def unit(self) -> str:
        return self.settings.unit

    @property
    def control(self) -> Control | None:
        """The behaviour of a light, thermostat, cover, number or select; None for the others."""
        return CONTROLS.get(self.type)

    @property
    def settable(self) -> bool:
        """Takes `set DEVICE VALUE` (and the router's `DEVICE VALUE` shorthand)."""
        return self.type in SETTABLE

    @property
    def switchable(self) -> bool:
        return self.type in (DeviceType.SWITCH, DeviceType.LIGHT)

    def action(self, word: str) -> Action:
        """What `word` asks of this device (ActionError saying what it takes otherwise)."""
        assert self.control is not None, self.name
        return self.control.action(self.settings, self.label, word)

    def takes(self) -> str | None:
        """What a device with a control takes, in one sentence (`thermostat takes a temperature
        (21°) or a mode: off, heat.`), or None."""
        return self.control.takes(self.settings, self.label) if self.control is not None else None

    def is_stale(self, now: float | None = None) -> bool:
        return self.reading is not None and \
            (now or self.clock.time()) - self.reading.at > self.settings.stale_after

    def parse(self, payload: bytes) -> float | bool | str:
        """The value in `payload` as this device's type; PayloadError when it is not there."""
        return self.read_state(payload)[0]

    def read_state(self, payload: bytes) -> tuple[float | bool | str, Mapping[str, Any]]:
        """(value, attrs) in `payload` as this device's type; PayloadError when it is not there."""
        if self.control is not None:
            previous = self.reading
            return self.control.read(self.settings, payload, previous.value if previous else None,
                                     previous.attrs if previous else {})
        return self._parse_value(payload), {}

    def _parse_value(self, payload: bytes) -> float | bool | str:
        raw = extract(payload, self.settings.value)
        if self.type in (DeviceType.SWITCH, DeviceType.BINARY_SENSOR):
            return as_bool(raw, self.settings.state_on)
        if isinstance(raw, bool):
            if self.unit:                   # `"temperature": true` is no temperature (a frost rule read it 1 °C)
                raise PayloadError(f"{str(raw).lower()} is not a number in {self.unit}")
            return raw
        try:
            number = float(raw) if isinstance(raw, (int, float)) else float(str(raw).strip())
        except ValueError:
            text = str(raw).strip()
            if self.unit:
                raise PayloadError(f"{text[:40]!r} is not a number in {self.unit}") from None
            if len(text) > 200:
                raise PayloadError(f"{len(text)}-character text is not a reading") from None
            return text
        if not math.isfinite(number) or abs(number) >= PLAUSIBLE:
            raise PayloadError(f"{number:g} is not a reading")
        return number

    def value_text(self, value: float | bool | str | None = None) -> str:
        """The reading's value (or `value`, one of this device's) as people read it; a binary
        sensor says what it senses in its own words (a smoke detector is not "switched on":
        `detected`, `détecté` in French), in history, alerts and automations' notes as in `read`."""
        if value is None:
            assert self.reading is not None
            value = self.reading.value
        if self.type is DeviceType.BINARY_SENSOR and isinstance(value, bool):
            # context: a binary sensor's state (smoke, motion), not a switch's; Home Assistant's words
            return pgettext("binary sensor", "detected") if value else pgettext("binary sensor", "clear")
        raw = self.reading.raw if self.reading is not None and value == self.reading.value else ""
        return format_value(value, self.unit, reported_decimals(raw, value))

    def show(self, now: float | None = None) -> str:
        """`21.5 °C`, `ON`, `no reading yet`, with staleness when it applies."""
        reading = self.reading
        if reading is None:
            return _("no reading yet")
        language = current_language()
        shown = self._shown
        if shown is not None and shown[0] is reading and shown[1] == language:
            text = shown[2]
        else:
            control = self.control
            text = control.show(self.settings, reading.value, reading.attrs, reading.raw) if control is not None \
                else self.value_text()
            self._shown = (reading, language, text)
        if self.offline_since is not None:
            text += " " + _("(offline: the device said so)")
        elif self.is_stale(now):
            text += " " + _("(stale: {age} old)").format(age=format_duration((now or self.clock.time()) - self.reading.at))
        return text


Listener = Callable[[Device, Reading, Reading | None], None]


def _unanswered(future: asyncio.Future[Any]) -> None:
    """A device's state did not come in time: its waiter answers None."""
    if not future.done():
        future.set_result(None)


def _same_keys(device: Device) -> list[tuple[Any, ...]]:
    """Two devices with one of these are one: the same reading, or the same command."""
    s = device.settings
    return [("reads", s.topic, s.value)] + ([("drives", device.type, s.command_topic, s.payload_on)]
                                            if s.command_topic else [])


class Home:
    """Device registry and state cache, fed by one MqttLink."""

    def __init__(self, devices: dict[str, DeviceSettings], mqtt: MqttLink, clock: Clock = SYSTEM_CLOCK) -> None:
        self.mqtt = mqtt
        self._clock = clock
        self.devices: dict[str, Device] = {}
        self._index: dict[str, Device] = {}
        self._same: dict[tuple[Any, ...], Device] = {}    # what makes two announcements one device (_same_keys)
        self._found: dict[str, Device | None] = {}     # find()'s answers, until a device comes or goes
        self._listeners: list[Listener] = []
        self._availability_listeners: list[Callable[[Device], None]] = []
        self.bad_payloads = 0
        self.command_of: Callable[[str], str | None] = lambda _word: None   # the command a word runs (the hub's)
        # Devices discovery adopted, waiting for `subscribe_adopted` (a task the hub owns) to
        # subscribe their topics; `_all_subscribed` is clear while any wait.
        self._adopted: asyncio.Queue[tuple[list[str], bool]] = asyncio.Queue()   # (topics, subscribe or not)
        self._all_subscribed = asyncio.Event()
        self._all_subscribed.set()
        for name, settings in devices.items():
            self._add(Device(name, settings))

    def _add(self, device: Device) -> None:
        device.clock = self._clock
        self.devices[device.name] = device
        for key in names_of(device):
            self._index.setdefault(key, device)
        for same in _same_keys(device):
            self._same.setdefault(same, device)
        self._found.clear()

    def adopt(self, device: Device) -> bool:
        """Add a device some discovery announced, unless one by that name, on that reading or
        driven by that command exists: a Tasmota relay announced both by Tasmota's own discovery
        and Home Assistant's (SetOption19) is one device, not two switching the same relay.
        Whether it was added. Another device by that name (two plugs both called "Tasmota", as
        they leave the factory) is added under the name with a number, and the log says so."""
        s = device.settings
        # Looked up, not compared with every device: 4,000 announcements cost a millisecond each
        # at the end, and a hub slow to read its retained configs has mosquitto drop the rest.
        if (known := next((self._same[key] for key in _same_keys(device) if key in self._same), None)) is not None:
            log.info("%s %s on %s is %s, already known: not added twice",
                     device.source, device.name, s.command_topic or s.topic, known.name)
            return False
        if device.name in self.devices:
            if self.devices[device.name].source == "config":
                log.warning("%s %s on %s is not added: [devices.%s] in the config has that name", device.source,
                            device.name, s.topic, device.name)
                return False
            taken, number = device.name, 2
            while f"{taken}_{number}" in self.devices:
                number += 1
            device.name = f"{taken}_{number}"
            log.warning("%s %s on %s is added as %s: %s is another device's name (on %s); give them names of "
                        "their own (Tasmota: DeviceName)", device.source, taken, s.topic, device.name, taken,
                        self.devices[taken].settings.topic)
        self._warn_shadowed(device)
        self._add(device)
        log.info("discovered %s %s on %s", device.type.value, device.name, device.settings.topic)
        wanted = device._followed = self._wanted(device)
        self.mqtt.follow(wanted)
        self._all_subscribed.clear()
        self._adopted.put_nowait(([topic_filter for topic_filter, _listener in wanted], True))
        return True

    def _warn_shadowed(self, device: Device) -> None:
        """Log the words of a discovered device that another device or a command holds: a line
        with one reaches that one (`living room on`: the salon sensor's alias), as `chatops
        check` warns for the config's devices."""
        for word in sorted(names_of(device)):
            if (other := self._index.get(word)) is not None:
                log.warning("%s %s: %r is %s's name or alias, which a line with it reaches; say %s", device.source,
                            device.name, word, other.name, device.name)
            elif (command := self.command_of(word)) is not None:
                log.warning("%s %s: %r is the command %s, which a line starting with it runs; say read %s",
                            device.source, device.name, word, command, device.name)

    def discard(self, name: str) -> None:
        """Forget device `name` (its announcement was withdrawn or replaced): no longer found,
        listed or read; what its topics still bring is dropped (`update` reads only the devices
        the registry holds)."""
        device = self.devices.pop(name, None)
        if device is None:
            return
        self._found.clear()
        self._adopted.put_nowait((self.mqtt.unfollow(device._followed), False))     # topics no one follows now
        for same in [key for key in _same_keys(device) if self._same.get(key) is device]:
            del self._same[same]
        for key in [key for key, known in self._index.items() if known is device]:
            del self._index[key]
            if other := next((d for d in self.devices.values() if key in names_of(d)), None):
                self._index[key] = other        # a name two devices shared goes to the one left
        for _wanted, future in device._waiters:
            if not future.done():
                # Not cancel(): a handler waiting for its confirmation would take the
                # CancelledError for its own, and end the conversation's worker with it.
                future.set_exception(CommandError(_("{label} is gone: its discovery announcement was withdrawn or "
                                                    "changed.").format(label=device.label)))

    def find(self, name: str) -> Device | None:
        """The device called `name` (name, label or alias; case and accents do not matter). A
        French article before a name no device has is skipped: `ouvre le volet`, `photo l'entrée`.
        Answers are remembered (every `temp salon` asked the same), at most 1,024 names."""
        if name in self._found:
            return self._found[name]
        found = None
        for key in spoken_forms(fold(" ".join(name.split()))):
            if found := self._index.get(key) or self._index.get(key.replace(" ", "_")):
                break
        if len(self._found) >= 1024:        # strangers' random words do not grow it without end
            self._found.clear()
        self._found[name] = found
        return found

    def words(self, takes: Callable[[Device], bool] | None = None) -> dict[str, str]:
        """Every one-word name a device is known by (name or alias), folded, with its spelling:
        what the router compares a mistyped word with (`chaufage` is close to `chauffage`).
        Only the devices `takes` accepts, when given."""
        return {fold(word): word for device in self.devices.values() if takes is None or takes(device)
                for word in (device.name, *device.settings.aliases) if " " not in word}

    def find_leading(self, words: list[str]) -> tuple[Device | None, str, list[str]]:
        """The device the first words name: the longest run of them that names one (a French
        article before it is skipped: `la lampe`, `l'entree`). (device, its name as written, the
        words after it); (None, the first word, the rest) when none does."""
        for cut in range(len(words), 0, -1):           # `les volets` may be a name itself
            device = self.find(" ".join(words[:cut]))     # (find skips an article otherwise)
            if device is not None:
                return device, " ".join(words[:cut]), words[cut:]
        if len(words) > 1 and fold(words[0]) in ARTICLES:
            words = words[1:]
        elif words and fold(words[0])[:2] in ("l'", "l’"):
            words = [words[0][2:], *words[1:]]
        return None, words[0] if words else "", words[1:]

    def closest(self, name: str, among: DeviceKind | None = None) -> str | None:
        """The device name or alias closest to a mistyped `name`, as written in config, or None;
        only among the devices of `among`'s kind when given."""
        words = self.words(among.takes if among is not None else None)
        for form in spoken_forms(fold(name)):          # `la lamp`: lampe, as `lamp` is
            close = difflib.get_close_matches(form, list(words), n=1, cutoff=0.75)
            if close:
                return words[close[0]]
        return None

    def unknown(self, name: str, among: DeviceKind | None = None) -> str:
        """What to answer for a device name that names none: the closest name or alias when one is
        close (`chaufage`: chauffage), else the list; a command that takes one kind of device
        (`switch`: the ones that switch) passes it, so that neither suggests a camera."""
        close, name = self.closest(name, among), unspoken(name)       # `the lamp`: 'lamp', not 'the lamp'
        if close is not None:
            return _("No device called {name!r}. Did you mean {close}?").format(name=name, close=close)
        names = sorted(d.name for d in self.devices.values() if among is None or among.takes(d))
        # A house of 7,000 discovered entities: 20 names, not an answer of 4,000 characters (an SMS bill).
        known = ", ".join(names[:UNKNOWN_LISTS]) + (" " + _("and {count} more").format(count=len(names) - UNKNOWN_LISTS)
                                                   if len(names) > UNKNOWN_LISTS else "") or _("none")
        if among is None:
            return _("No device called {name!r}. Devices: {known}.").format(name=name, known=known)
        return _("No device called {name!r}. {kind}: {known}.").format(name=name, kind=_(among.listing), known=known)

    def listen(self, listener: Listener) -> None:
        """Call `listener(device, reading, previous)` on every new reading."""
        self._listeners.append(listener)

    def listen_availability(self, listener: Callable[[Device], None]) -> None:
        """Call `listener(device)` when a device's availability topic says it left or came back."""
        self._availability_listeners.append(listener)

    def _said_available(self, device: Device, payload: bytes) -> None:
        if heard(device, payload, self._clock.monotonic()):
            for listener in self._availability_listeners:
                listener(device)

    async def start(self) -> None:
        """Subscribe to every device's state topic; safe before MQTT is up. (Devices announced
        over discovery come and go through chatops.announced.)"""
        await self.mqtt.subscribe_all([pair for device in list(self.devices.values()) for pair in self._wanted(device)])

    async def subscribe_adopted(self) -> None:
        """Send the SUBSCRIBE for the topics of each device discovery adopts, for the hub's life.

        `adopt` runs inside an MQTT callback and cannot await: it registers the device's
        listeners at once (a second entity on the same state topic, announced with the first,
        gets the retained state the broker sends for it), and this task, which the hub owns,
        sends what the broker must still be asked for."""
        while True:
            filters, subscribe = await self._adopted.get()
            try:
                await (self.mqtt.subscribe_filters if subscribe else self.mqtt.unsubscribe_filters)(filters)
            except Exception:               # one device's trouble leaves the next ones subscribed
                log.exception("could not (un)subscribe %s", ", ".join(filters))
            finally:
                if self._adopted.empty():
                    self._all_subscribed.set()

    async def _listening(self, timeout: float) -> None:
        """Before asking a device for anything: wait (at most `timeout`) until the topics of the
        devices discovery just adopted are subscribed. A command right after the announcement
        otherwise had its answer (Tasmota's stat/…/RESULT) arrive before the hub listened there."""
        if not self._all_subscribed.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._all_subscribed.wait()

    def _wanted(self, device: Device) -> list[tuple[str, MqttListener]]:
        """The (topic filter, listener) pairs that follow `device`."""
        wanted: list[tuple[str, MqttListener]] = []
        if topic := device.settings.availability_topic:
            wanted.append((topic, lambda _t, payload, _r, d=device: self._said_available(d, payload)))
        for name, topic in device.settings.field_topics.items():
            wanted.append((topic, lambda _t, payload, _r, d=device, f=name: self._field_update(d, f, payload)))
        if device.settings.topic and device.settings.topic not in device.settings.field_topics.values():
            wanted.append((device.settings.topic, lambda _t, payload, _r, d=device: self.update(d, payload)))
            result = sibling(device.settings.topic, "stat", "RESULT")
            if result and (device.control is not None or device.switchable):
                # Tasmota answers a command on stat/<topic>/RESULT at once; telemetry comes minutes
                # later. Whatever the payload style (a Tasmota plug announced through Home
                # Assistant's discovery reads `raw`), the answer carries the same fields. Answers
                # to other commands (Timezone, Status...) carry none of them: not bad payloads.
                wanted.append((result, lambda _t, payload, _r, d=device: self.update(d, payload, quiet=True)))
            answer = status_answer(device.settings.topic)
            if answer is not None:      # Tasmota answers `Status 8` there, not on the telemetry topic
                wanted.append((answer[0], lambda topic, payload, _r, d=device, key=answer[1]:
                               self._status_answer(d, topic, payload, key)))
        return wanted

    def _field_update(self, device: Device, name: str, payload: bytes) -> None:
        """One field on its own topic (ESPHome's thermostat: the target on one topic, the mode on
        another): kept with the device's other fields under its name, and read as one state
        payload of them all (`controls._field` reads a field of `field_topics` by its name)."""
        text = payload.decode("utf-8", "replace").strip()
        try:
            if text.startswith("{"):        # that topic's JSON: the field at its path
                data: Any = extract(payload, device.settings.fields.get(name, name))
            else:                           # a bare value: 21.5, or a word (ON, heat)
                data = bare(text)
        except PayloadError as exc:
            self._bad_payload(device, f"{device.name}.{name}", exc)
            return
        device.reported[name] = data
        merged = json.dumps(device.reported).encode()
        if device.reading is None:
            try:
                device.read_state(merged)
            except PayloadError:            # the target before the room's temperature: wait for it, quietly
                log.debug("%s: %s kept; its other fields have not come yet", device.name, name)
                return
        self.update(device, merged)

    def _status_answer(self, device: Device, topic: str, payload: bytes, key: str) -> None:
        try:
            inner = unwrap(payload, key)
        except ValueError as exc:           # UnicodeDecodeError and JSONDecodeError are ValueErrors
            self._bad_payload(device, f"{device.name} (Tasmota answer on {topic})", exc)
            return
        self.update(device, inner)

    def _bad_payload(self, device: Device, where: str, exc: Exception) -> None:
        """Count a malformed payload and log it; the same fault again (values aside) from the
        same device at most once every BAD_LOG_EVERY seconds, with how many came meanwhile: a
        device sending the same junk every second filled the log. (Not chatops.log_fold, which
        folds each kind apart: here a fault other than the last one logged is always said.)"""
        self.bad_payloads += 1
        now, fault, bad = self._clock.monotonic(), _QUOTED_OR_NUMBER.sub("", str(exc)), device._bad
        if bad and bad[2] == fault and now - bad[0] < BAD_LOG_EVERY:
            bad[1] += 1
            return
        more = f" ({bad[1]} more since the last one logged)" if bad and bad[1] else ""
        device._bad[:] = [now, 0, fault]
        log.warning("ignored payload for %s: %s%s", where, exc, more)

    def restamp(self, seconds: float, before: float) -> int:
        """The wall clock stepped by `seconds` (NTP after a boot without a real-time clock): the
        readings that arrived before the step (monotonic time `before`) were dated by the wrong
        clock; move them by the step, so that a switch last heard before it is not shown months
        stale, nor one heard after it older than one heard before. Returns how many moved."""
        moved = 0
        for device in self.devices.values():
            reading = device.reading
            if reading is not None and reading.seen and reading.seen < before:
                device.reading = dataclasses.replace(reading, at=reading.at + seconds)
                moved += 1
        return moved

    def update(self, device: Device, payload: bytes, at: float | None = None, quiet: bool = False) -> Reading | None:
        """Parse `payload` as `device`'s new state and tell the listeners; None when malformed
        (logged and counted, unless `quiet`: a topic that carries other things too). A device
        no longer in the registry (its discovery withdrawn) reads nothing."""
        if self.devices.get(device.name) is not device:
            return None
        try:
            value, attrs = device.read_state(payload)
        except PayloadError as exc:
            if quiet:
                log.debug("%s: not a state in %r (%s)", device.name, payload[:80], exc)
                return None
            self._bad_payload(device, f"{device.name} on {device.settings.topic}", exc)
            return None
        reading = Reading(value, at or self._clock.time(), payload[:200].decode("utf-8", "replace"), attrs,
                          self._clock.monotonic())
        previous, device.reading = device.reading, reading
        for wanted, future in list(device._waiters):
            if not future.done() and wanted(reading):
                future.set_result(reading)
        for listener in self._listeners:
            try:
                listener(device, reading, previous)
            except Exception:
                log.exception("reading listener failed for %s", device.name)
        return reading

    async def request_reading(self, device: Device, wait: float = 2.0) -> Reading | None:
        """Ask a device that supports it for a fresh value and wait briefly for it."""
        topic, payload = reading_request(device.settings)
        if topic is None:
            return device.reading
        await self._listening(wait)
        future = self._waiter(device, lambda _reading: True)
        try:
            await self.mqtt.publish(topic, payload or "", wait=wait)
            async with asyncio.timeout(wait):
                return await future
        except (TimeoutError, Exception) as exc:
            if not isinstance(exc, TimeoutError):
                log.info("could not ask %s for a reading: %s", device.name, exc)
            return device.reading
        finally:
            self._drop_waiter(device, future)


    async def switch(self, device: Device, on: bool) -> tuple[bool, Reading | None]:
        """Publish the command and wait for the state topic to confirm; (confirmed, reading)."""
        s = device.settings
        assert s.command_topic, device.name
        if device.control is not None:                       # a light: on/off in its own payloads
            return await self.drive(device, Action("state", on))
        confirmed = await self.publish_and_wait(device, [Publish(s.command_topic, s.payload_on if on else s.payload_off)],
                                                lambda reading: reading.value == on, s.confirm_timeout)
        if confirmed is not None:
            return True, confirmed
        current = device.reading
        return bool(current and current.value == on), current

    async def drive(self, device: Device, action: Action, timeout: float | None = None
                    ) -> tuple[bool, Reading | None]:
        """Ask `device` for `action` and wait until a reading shows it did; (confirmed, last reading)."""
        control = device.control
        assert control is not None, device.name
        confirmed = await self.publish_and_wait(
            device, control.publishes(device.settings, action),
            lambda reading: control.reached(action, reading.value, reading.attrs),
            device.settings.confirm_timeout if timeout is None else timeout)
        return (True, confirmed) if confirmed is not None else (False, device.reading)

    async def wait_for(self, device: Device, wanted: Callable[[Reading], bool], timeout: float) -> Reading | None:
        """The first reading of `device` for which `wanted` holds, or None after `timeout`."""
        future = self._waiter(device, wanted)
        try:
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            return None
        finally:
            self._drop_waiter(device, future)

    async def publish_and_wait(self, device: Device, publishes: list[Publish], wanted: Callable[[Reading], bool],
                               timeout: float) -> Reading | None:
        """Publish, then wait until a reading of `device` is `wanted`; None when none was within `timeout`.

        The waiter is in place before the publish, so an answer faster than our next loop turn
        is not missed. The command goes at QoS 0: the state topic is its confirmation, so a lost
        publish only means "not confirmed", never a wrong state reported; and a QoS 1 PUBACK
        followed at once by the device's echo meets Nagle on a stock mosquitto (40 ms each)."""
        await self._listening(timeout)
        future = self._waiter(device, wanted)
        try:
            for publish in publishes:
                await self.mqtt.send_now(publish.topic, publish.payload)
            expiry = future.get_loop().call_later(timeout, _unanswered, future)    # (asyncio.timeout: 4 µs more)
            try:
                return await future
            finally:
                expiry.cancel()
        finally:
            self._drop_waiter(device, future)

    def _waiter(self, device: Device, wanted: Callable[[Reading], bool]) -> asyncio.Future[Reading]:
        future: asyncio.Future[Reading] = asyncio.get_running_loop().create_future()
        device._waiters.append((wanted, future))
        return future

    def _drop_waiter(self, device: Device, future: asyncio.Future[Reading]) -> None:
        device._waiters[:] = [(w, f) for w, f in device._waiters if f is not future]
        if not future.done():
            future.cancel()
