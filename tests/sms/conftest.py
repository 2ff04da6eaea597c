"""SMS test peers: libgammu's dummy phone (a folder) and the real gammu-smsd daemon on it.

The dummy phone keeps one SMS-backup file per message in `<device>/sms/<folder>/<n>`; a
test "receives" an SMS by dropping such a file into folder 1. The dummy's SendSMS records
nothing, so outgoing SMS are seen either through gammu-smsd's sent folder or through a spy
StateMachine that records what the hub hands to SendSMS.
"""

from __future__ import annotations

import datetime
import faulthandler
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gammu
import pytest

from adapters import sms_gammu
from chatops.testing import started, stop_process


class DummyPhone:
    """The dummy driver's folder; `deliver` makes the phone receive an SMS."""

    def __init__(self, device: Path) -> None:
        self.device = device
        self.inbox = device / "sms" / "1"
        self.inbox.mkdir(parents=True, exist_ok=True)

    def deliver(self, number: str, text: str, *, parts: int | None = None, unicode: bool | None = None,
                reverse: bool = False, when: datetime.datetime | None = None, reference: int = 0x42) -> list[Path]:
        """Files for one received SMS; `parts` > 1 splits `text` into a concatenated (UDH) message."""
        when = when or datetime.datetime.now().replace(microsecond=0)
        base = {"Type": "Deliver", "Number": number, "State": "UnRead", "Folder": 1,
                "SMSC": {"Number": "+33000000000"}, "DateTime": when}
        if unicode is None:
            unicode = any(ord(c) > 0x7F for c in text)
        coding = "Unicode_No_Compression" if unicode else "Default_No_Compression"
        if not parts or parts == 1:
            messages = [dict(base, Text=text, Coding=coding)]
        else:
            size = -(-len(text) // parts)
            chunks = [text[i:i + size] for i in range(0, len(text), size)]
            messages = [dict(base, Text=chunk, Coding=coding, UDH={
                "Type": "ConcatenatedMessages", "Text": bytes([5, 0, 3, reference, len(chunks), i + 1]),
                "ID8bit": reference, "ID16bit": -1, "PartNumber": i + 1, "AllParts": len(chunks)})
                for i, chunk in enumerate(chunks)]
        if reverse:
            messages.reverse()
        written = []
        for message in messages:
            written.append(self._place(message))
        return written

    def _place(self, message: dict[str, Any]) -> Path:
        """Write atomically (the hub or the daemon may poll at any moment)."""
        taken = {int(p.name) for p in self.inbox.iterdir() if p.name.isdigit()}
        number = next(n for n in range(1, 10000) if n not in taken)
        staging = self.device / f".staging-{number}"
        gammu.SaveSMSBackup(str(staging), [message])
        target = self.inbox / str(number)
        os.replace(staging, target)
        return target

    def waiting(self) -> list[Path]:
        return sorted(p for p in self.inbox.iterdir() if p.name.isdigit())


class GammuSmsd:
    """A real gammu-smsd (files service) on a dummy phone in `workdir`."""

    def __init__(self, workdir: Path, inbox_format: str = "detail", outbox_format: str = "detail") -> None:
        self.workdir = workdir
        self.phone = DummyPhone(workdir / "phone")
        self.folders = {name: workdir / name for name in ("inbox", "outbox", "sent", "error")}
        for folder in self.folders.values():
            folder.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "smsdrc"
        self.log = workdir / "smsd.log"
        self.config.write_text(
            "[gammu]\nmodel = dummy\nconnection = none\n"
            f"device = {self.phone.device}\n\n"
            "[smsd]\nservice = files\n"
            f"logfile = {self.log}\ndebuglevel = 1\nphoneid = test\n"
            f"inboxpath = {self.folders['inbox']}/\noutboxpath = {self.folders['outbox']}/\n"
            f"sentsmspath = {self.folders['sent']}/\nerrorsmspath = {self.folders['error']}/\n"
            f"inboxformat = {inbox_format}\noutboxformat = {outbox_format}\ntransmitformat = auto\n"
            "receivefrequency = 1\nstatusfrequency = 0\ncommtimeout = 1\nsendtimeout = 5\nloopsleep = 1\n"
            "checksecurity = 0\ncheckbattery = 0\nchecksignal = 0\nhardresetfrequency = 0\nresetfrequency = 0\n",
            encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("gammu-smsd") or "/usr/bin/gammu-smsd"
        self.proc = subprocess.Popen([binary, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        ready = self.phone.device / "operations.log"     # the dummy writes it at Init
        while not ready.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"gammu-smsd exited with {self.proc.returncode}: {self.log_text()}")
            if time.monotonic() > deadline:
                raise TimeoutError("gammu-smsd did not open the dummy phone")
            time.sleep(0.01)

    def stop(self) -> None:
        stop_process(self.proc)
        self.proc = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def sent(self) -> list[list[dict[str, Any]]]:
        """Each message in the sent folder as its distinct parts (detail format), in part order."""
        messages = []
        for path in sorted(self.folders["sent"].iterdir()):
            parts = gammu.ReadSMSBackup(str(path))
            unique = {(p["UDH"].get("PartNumber"), p["Text"]): p for p in parts}
            messages.append(sorted(unique.values(), key=lambda p: p["UDH"].get("PartNumber", 0)))
        return messages


@pytest.fixture(autouse=True)
def hang_guard(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A test stuck beyond 3 minutes ends the run instead of hanging it, with every thread's
    stack in <basetemp>/sms-hang-stacks.txt (a loop that never yields, or a C call holding the
    GIL, freezes the event loop and every asyncio timeout with it). pytest's own
    `-o faulthandler_timeout=N` takes precedence when given."""
    if float(request.config.getini("faulthandler_timeout") or 0) > 0:
        yield
        return
    with (tmp_path_factory.getbasetemp() / "sms-hang-stacks.txt").open("a") as stacks:
        stacks.write(f"--- {request.node.nodeid}\n")
        stacks.flush()
        faulthandler.dump_traceback_later(180, exit=True, file=stacks)
        try:
            yield
        finally:
            faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def smsd(tmp_path: Path) -> Iterator[GammuSmsd]:
    with started(GammuSmsd(tmp_path / "smsd")) as daemon:
        yield daemon


@pytest.fixture
def phone(tmp_path: Path) -> DummyPhone:
    return DummyPhone(tmp_path / "phone")


class SpyStateMachine:
    """A real dummy StateMachine that also records SendSMS calls and can be made to go silent."""

    def __init__(self, spy: ModemSpy) -> None:
        self._sm = gammu.StateMachine()
        self._spy = spy
        spy.opened += 1

    def SendSMS(self, message: dict[str, Any]) -> int:  # noqa: N802 (gammu's name)
        self._check()
        if self._spy.fail_part is not None and (message.get("UDH") or {}).get("PartNumber") == self._spy.fail_part:
            self._spy.fail_part = None          # once: the modem timed out on that part
            raise gammu.ERR_TIMEOUT({"Text": "No response in specified timeout.", "Where": "spy", "Code": 14})
        self._spy.sent.append(dict(message))
        return int(self._sm.SendSMS(message))

    def _check(self) -> None:
        if self._spy.silent and self._spy.opened <= self._spy.silent_until_open:
            if self._spy.hang:
                self._spy.released.wait()        # stuck in the call, as a wedged USB modem would be
            raise gammu.ERR_TIMEOUT({"Text": "No response in specified timeout.", "Where": "spy", "Code": 14})

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._sm, name)
        if name in ("Init", "Terminate", "SetConfig", "ReadConfig"):
            return attribute

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._check()
            return attribute(*args, **kwargs)
        return guarded


class ModemSpy:
    """What the hub sent through the (dummy) modem, across re-opens."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.opened = 0
        self.silent = False
        self.silent_until_open = 0
        self.hang = False
        self.released = threading.Event()
        self.fail_part: int | None = None     # the part of a long message whose send fails, once

    def go_silent(self, hang: bool = False) -> None:
        """Every call of the current StateMachine times out (or hangs until the test ends);
        the next StateMachine opened works again."""
        self.silent_until_open = self.opened
        self.hang = hang
        self.silent = True

    def texts(self, number: str | None = None) -> list[str]:
        """Texts of whole messages (parts joined by their UDH)."""
        messages: list[list[dict[str, Any]]] = []
        open_parts: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for part in (p for p in list(self.sent) if number is None or p["Number"] == number):
            udh = part.get("UDH") or {}
            if udh.get("Type") != "ConcatenatedMessages":
                messages.append([part])
                continue
            reference = (udh["ID8bit"], udh["AllParts"])
            if udh["PartNumber"] == 1 or reference not in open_parts:
                open_parts[reference] = []
                messages.append(open_parts[reference])
            open_parts[reference].append(part)
        return ["".join(p["Text"] for p in sorted(m, key=lambda p: (p.get("UDH") or {}).get("PartNumber", 0)))
                for m in messages]


@pytest.fixture
def modem_spy(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModemSpy]:
    spy = ModemSpy()
    monkeypatch.setattr(sms_gammu, "new_state_machine", lambda: SpyStateMachine(spy))
    yield spy
    spy.released.set()
