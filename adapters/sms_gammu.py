"""The hub drives the modem itself through python-gammu's StateMachine.

Every gammu call blocks (serial I/O, AT timeouts of several seconds), so one daemon thread
owns the StateMachine and `GammuThread.call` is the only way in: the loop awaits a future the
thread completes with `call_soon_threadsafe`, as python-gammu's GammuAsyncWorker does, minus
its idle ReadDevice polling and with a bounded, abandon-if-stuck shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gammu

from chatops.config import ConfigError

from . import sms_text
from .sms_text import Encoder, Incoming, SmsDict

log = logging.getLogger(__name__)
T = TypeVar("T")

_STOP = object()
REGISTERED = ("HomeNetwork", "RoamingNetwork")
# What a GSMError means for the person reading /health.
HINTS = {
    "ERR_DEVICENOTEXIST": "the device does not exist (is the 3G key plugged in? check device = ...)",
    "ERR_DEVICENOPERMISSION": "no permission on the device (add the hub's user to the dialout group)",
    "ERR_DEVICEBUSY": "the device is busy (ModemManager or gammu-smsd may hold it)",
    "ERR_DEVICELOCKED": "the device is locked by another program (ModemManager, gammu-smsd?)",
    "ERR_DEVICEOPENERROR": "the device cannot be opened",
    "ERR_TIMEOUT": "the modem does not answer",
    "ERR_NOSIM": "no SIM card in the modem",
    "ERR_NOTCONNECTED": "the modem is not connected",
    "ERR_PHONEOFF": "the modem is switched off",
}


class ModemError(Exception):
    """The modem (or gammu-smsd's spool) cannot be used now; the adapter retries with backoff.

    `reopen` False means the modem itself answers (e.g. no mobile network yet): keep it open.
    """

    def __init__(self, text: str, reopen: bool = True) -> None:
        super().__init__(text)
        self.reopen = reopen
        self.sent_parts = 0         # of a message cut in parts, those that went out before it failed


def describe(exc: BaseException) -> str:
    """A one-line account of a gammu error, with a hint when we know one."""
    if isinstance(exc, gammu.GSMError) and exc.args and isinstance(exc.args[0], dict):
        info = exc.args[0]
        name = type(exc).__name__
        return f"{HINTS.get(name, info.get('Text', name))} ({name} in {info.get('Where', '?')})"
    return f"{type(exc).__name__}: {exc}"


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)


class GammuThread:
    """One daemon thread owning one gammu object (a StateMachine, an SMSD); `call` runs on it."""

    def __init__(self, name: str, factory: Callable[[], Any]) -> None:
        self.name = name
        self._factory = factory
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._loop = asyncio.get_running_loop()
        self._exited: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    async def call(self, fn: Callable[[Any], T], timeout: float | None = None) -> T:
        """`fn(obj)` on the thread; raises what fn raised, or ModemError when it takes too long."""
        if self._exited.done():
            raise ModemError("the gammu thread has stopped")
        future: asyncio.Future[T] = self._loop.create_future()
        future.add_done_callback(_retrieve)   # a late answer after a timeout is not an error to report
        self._jobs.put((fn, future))
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            raise ModemError(f"no answer from the modem in {timeout:g}s") from None

    def _work(self) -> None:
        obj: Any = None
        error: BaseException | None = None
        try:
            obj = self._factory()
        except BaseException as exc:       # reported to every caller below
            error = exc
        while True:
            job = self._jobs.get()
            if job is _STOP:
                break
            fn, future = job
            if error is not None:
                self._reply(future, None, error)
                continue
            try:
                result = fn(obj)
            except BaseException as exc:   # a gammu error belongs to the caller, not to this thread
                self._reply(future, None, exc)
            else:
                self._reply(future, result, None)
        self._reply(self._exited, None, None)

    def _reply(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        with contextlib.suppress(RuntimeError):    # the loop is closed: nobody waits any more
            self._loop.call_soon_threadsafe(_settle, future, result, error)

    async def stop(self, last: Callable[[Any], Any] | None = None, timeout: float = 5.0) -> None:
        """Run `last` (e.g. Terminate), end the thread; a thread stuck in a call is abandoned."""
        if last is not None:
            done: asyncio.Future[Any] = self._loop.create_future()
            done.add_done_callback(_retrieve)
            self._jobs.put((last, done))
        self._jobs.put(_STOP)
        try:
            async with asyncio.timeout(timeout):
                await asyncio.shield(self._exited)
        except TimeoutError:
            log.warning("gammu thread %s is stuck in a call; abandoning it", self.name)

    @property
    def alive(self) -> bool:
        """True while the thread still takes calls; once it has said it exited it only has to return."""
        return self._thread.is_alive() and not self._exited.done()


def new_state_machine() -> Any:
    """A fresh StateMachine (tests replace this to spy on SendSMS or make the modem go silent)."""
    return gammu.StateMachine()


class GammuModem:
    """Backend `gammu`: Init (+ SIM PIN), poll GetNextSMS, DeleteSMS, SendSMS, probe health."""

    def __init__(self, name: str, settings: Any, pin: str | None, encoder: Encoder,
                 base_dir: Any = None) -> None:
        self.name = name
        self.settings = settings
        self._pin = pin
        self._encoder = encoder
        self._partial: dict[tuple[str, str], tuple[list[Any], int]] = {}   # (number, text) -> (parts, sent)
        self._base_dir = base_dir
        self._thread: GammuThread | None = None
        self._first_seen: dict[tuple[Any, ...], float] = {}

    # ---- lifecycle ------------------------------------------------------------------------

    async def open(self) -> str:
        """Init the modem (and its SIM); returns what it is, e.g. "Huawei E173"."""
        self._thread = GammuThread(f"gammu-{self.name}", self._make)
        try:
            return await self._call(self._init)
        except gammu.GSMError as exc:
            device, s = self.settings.device, self.settings
            # What retrying cannot fix stops the adapter, naming the key (never a reopen loop).
            if type(exc).__name__ == "ERR_UNKNOWNCONNECTIONTYPESTRING" and not s.gammurc:
                raise ConfigError([f"adapters.{self.name}.connection: gammu knows no connection {s.connection!r}; write e.g. "
                                   f"\"at\" (most 3G keys), \"at115200\" or \"none\" (the dummy driver)"]) from None
            if type(exc).__name__ == "ERR_CANTOPENFILE" and s.gammurc:
                raise ConfigError([f"adapters.{self.name}.gammurc: cannot open {s.gammurc_path(self._base_dir)}; give the path "
                                   f"of a gammurc file, or leave gammurc out and set device and connection"]) from None
            if not self.settings.gammurc and device.startswith("/") and not Path(device).exists():
                # libgammu says "no permission" for a path that is not there: name the real cause.
                raise ModemError(f"{device} does not exist (is the 3G key plugged in? check device = ...)") from None
            raise ModemError(describe(exc)) from None

    def _make(self) -> Any:
        sm = new_state_machine()
        s = self.settings
        if s.gammurc:
            sm.ReadConfig(Section=s.gammurc_section, Configuration=0, Filename=str(s.gammurc_path(self._base_dir)))
        else:
            sm.SetConfig(0, {"Model": s.model, "Connection": s.connection, "Device": s.device})
        return sm

    def _init(self, sm: Any) -> str:
        sm.Init()
        self._unlock(sm)
        try:
            maker = sm.GetManufacturer()
            model = sm.GetModel()[1]
            return f"{maker} {model}".strip()
        except gammu.GSMError:
            return "modem"

    def _unlock(self, sm: Any) -> None:
        """Enter the SIM PIN when the modem asks for it, once: a wrong PIN is never retried."""
        try:
            status = sm.GetSecurityStatus()
        except (gammu.ERR_NOTSUPPORTED, gammu.ERR_NOTIMPLEMENTED):
            return
        if status is None:
            return
        if status != "PIN":
            raise ModemError(f"the SIM asks for its {status} code; unlock it in a phone first")
        if not self._pin:
            raise ConfigError([f"adapters.{self.name}: the SIM asks for its PIN; set pin_env = \"SIM_PIN\" "
                               "or pin_file = \"/path\" in [adapters.sms]"])
        try:
            sm.EnterSecurityCode("PIN", self._pin)
        except gammu.ERR_SECURITYERROR:
            raise ConfigError([f"adapters.{self.name}: the SIM refused the PIN; fix pin_env/pin_file and "
                               "restart (not retried: three wrong PINs block the SIM)"]) from None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:     # this is the modem's thread: sleeping blocks nobody else
            time.sleep(1)
            try:
                if sm.GetSecurityStatus() is None:
                    return
            except gammu.GSMError:
                continue
        raise ModemError("the SIM did not become ready after the PIN")

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.stop(last=_terminate, timeout=min(5.0, self.settings.call_timeout))

    async def _call(self, fn: Callable[[Any], T]) -> T:
        if self._thread is None:
            raise ModemError("the modem is closed")
        return await self._thread.call(fn, timeout=self.settings.call_timeout)

    async def _gammu(self, fn: Callable[[Any], T]) -> T:
        """A call whose gammu errors mean the modem is in trouble."""
        try:
            return await self._call(fn)
        except gammu.GSMError as exc:
            raise ModemError(describe(exc)) from None

    # ---- health -----------------------------------------------------------------------------

    async def probe(self) -> str:
        """Signal and network; ModemError when the modem is silent or not registered."""
        signal, network = await self._gammu(_signal_and_network)
        text = f"signal {signal}%" if signal is not None else "signal unknown"
        if network is None:
            return text
        state = network.get("State", "")
        name = network.get("NetworkName") or network.get("NetworkCode") or "?"
        if state not in REGISTERED:
            raise ModemError(f"no mobile network ({state or 'unknown'}), {text}", reopen=False)
        return f"{text}, {name}" + (" (roaming)" if state == "RoamingNetwork" else "")

    # ---- messages --------------------------------------------------------------------------

    async def receive(self) -> list[Incoming]:
        """Complete messages waiting on the SIM/phone; parts of a concatenated SMS are joined.

        A concatenated message missing parts waits up to `multipart_timeout`, then goes as is.
        """
        groups = await self._gammu(_read_all)
        now = time.monotonic()
        seen: set[tuple[Any, ...]] = set()
        result = []
        for group in groups:
            first = group[0]
            udh = first.get("UDH") or {}
            signature = (first.get("Number"), udh.get("ID8bit"), udh.get("ID16bit"), udh.get("AllParts"))
            if not sms_text.is_complete(group):
                seen.add(signature)
                started = self._first_seen.setdefault(signature, now)
                if now - started < self.settings.multipart_timeout:
                    continue
                log.warning("SMS from %s: %d of %s parts after %.0fs; handling what arrived",
                            first.get("Number"), len(group), udh.get("AllParts"), now - started)
            number = str(first.get("Number") or "")
            try:
                text, binary = sms_text.join(group), sms_text.is_binary(group)
            except Exception:                   # one message no one can read must not stop the others
                log.exception("SMS from %s cannot be read; taken as data (audited, deleted)", number)
                text, binary = "", True
            key = sms_text.message_key(number, first.get("DateTime"), text, "bin" if binary else "")
            result.append(Incoming(number, text, key, tuple(p["Location"] for p in group), len(group),
                                   sms_text.stamped(first.get("DateTime")), binary))
        self._first_seen = {k: v for k, v in self._first_seen.items() if k in seen}
        return result

    async def delete(self, incoming: Incoming) -> None:
        locations = incoming.handle
        await self._gammu(lambda sm: _delete(sm, locations))

    async def transmit(self, number: str, text: str, smsc: str | None) -> int:
        """Send `text` to `number` as one (possibly multi-part) message; returns the parts sent.

        A message whose part 2 of 3 failed was sent again whole, under a new reference: the phone
        showed part 1 twice, one of them an orphan, and the bill had a part the cap never counted.
        Its parts are kept with how many went out; the retry sends the rest, same reference, and
        a failure says how many went (`ModemError.sent_parts`, counted by the cap)."""
        key = (number, text)
        parts, done = self._partial.pop(key, None) or (self._encoder.encode(text), 0)
        centre: dict[str, Any] = {"Number": smsc} if smsc else {"Location": 1}
        for part in parts:
            part["Number"] = number
            part["SMSC"] = centre
        progress = [done]

        def send(sm: Any) -> None:
            for part in parts[progress[0]:]:
                sm.SendSMS(part)
                progress[0] += 1
        try:
            await self._gammu(send)
        except ModemError as exc:
            if progress[0]:
                if len(self._partial) >= 64:            # a modem gone for days: forget the oldest
                    self._partial.pop(next(iter(self._partial)))
                self._partial[key] = (parts, progress[0])
            exc.sent_parts = progress[0] - done
            raise
        return len(parts) - done


def _terminate(sm: Any) -> None:
    with contextlib.suppress(gammu.GSMError):
        sm.Terminate()


def _signal_and_network(sm: Any) -> tuple[int | None, dict[str, Any] | None]:
    signal: int | None
    try:
        signal = int(sm.GetSignalQuality().get("SignalPercent", -1))
    except (gammu.ERR_NOTSUPPORTED, gammu.ERR_NOTIMPLEMENTED):
        signal = None
    try:
        network = sm.GetNetworkInfo()
    except (gammu.ERR_NOTSUPPORTED, gammu.ERR_NOTIMPLEMENTED):
        network = None
    return (signal if signal is not None and signal >= 0 else None), network


def _read_all(sm: Any) -> list[list[SmsDict]]:
    """Every received SMS on the modem (all folders), linked into messages."""
    messages: list[list[SmsDict]] = []
    location: int | None = None
    while True:
        try:
            if location is None:
                parts = sm.GetNextSMS(Folder=0, Start=True)
            else:
                parts = sm.GetNextSMS(Folder=0, Location=location)
        except (gammu.ERR_EMPTY, gammu.ERR_INVALIDLOCATION):
            break
        if not parts:
            break
        location = parts[-1]["Location"]
        messages.extend([[p] for p in parts if p.get("Type") == "Deliver"])
        if len(messages) > 1000:           # a modem that never says "empty"
            break
    return sms_text.link(messages)


def _delete(sm: Any, locations: tuple[int, ...]) -> None:
    for location in locations:
        with contextlib.suppress(gammu.ERR_EMPTY, gammu.ERR_INVALIDLOCATION):   # already gone
            sm.DeleteSMS(Folder=0, Location=location)
