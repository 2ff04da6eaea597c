"""gammu-smsd owns the modem (files service); the hub reads its inbox and feeds its outbox.

Where the folders are and how files are written comes from the daemon's own config file, so
the two never disagree. Replies are queued with python-gammu's `SMSD.InjectSMS`, which writes
the outbox file exactly as gammu-smsd-inject would. All file work runs on the backend's one
gammu thread, never on the loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

import gammu
import gammu.smsd

from . import sms_text
from .sms_settings import SpoolConfig, read_smsd_config  # noqa: F401 (read_smsd_config re-exported)
from .sms_gammu import GammuThread, ModemError, describe
from .sms_text import Encoder, Incoming

log = logging.getLogger(__name__)

# IN<date>_<time>_<serial>_<sender>_<part>.<ext>, as the files service names received messages.
INBOX_NAME = re.compile(r"^IN(\d{8})_(\d{6})_(\d+)_(.*)_(\d+)\.(txt|bin)$")    # .bin: 8-bit data (an MMS notice)
SETTLE = 0.3          # seconds a file must be left alone before we read it (the daemon writes in place)
GIVE_UP = 120.0       # an unreadable inbox file older than this is set aside


class SmsdSpool:
    """Backend `smsd`: read gammu-smsd's inbox files, InjectSMS replies into its outbox."""

    def __init__(self, name: str, settings: Any, encoder: Encoder, base_dir: Path | None = None) -> None:
        self.name = name
        self.settings = settings
        self._encoder = encoder
        self._config_path = settings.smsd_config_path(base_dir)
        self.config: SpoolConfig | None = None
        self._thread: GammuThread | None = None
        self._status_works = True

    async def open(self) -> str:
        self.config = config = await asyncio.to_thread(read_smsd_config, self._config_path)
        await asyncio.to_thread(_check_folders, config)   # SMSD() itself refuses missing folders
        self._thread = GammuThread(f"gammu-smsd-{self.name}", self._make)
        try:
            await self._call(lambda _smsd: None)     # SMSD() itself may fail (its log file, its config)
        except gammu.GSMError as exc:
            raise ModemError(f"python-gammu cannot open {config.path}: {describe(exc)} (the hub's user "
                             "must be able to write gammu-smsd's logfile)") from None
        await self._files(lambda _: _check_folders(config))
        return f"gammu-smsd spool {config.inbox.parent}"

    def _make(self) -> Any:
        return gammu.smsd.SMSD(str(self._config_path))

    async def close(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            await thread.stop(timeout=min(5.0, self.settings.call_timeout))

    async def _call(self, fn: Any) -> Any:
        if self._thread is None:
            raise ModemError("the gammu-smsd spool is closed")
        return await self._thread.call(fn, timeout=self.settings.call_timeout)

    async def _files(self, fn: Any) -> Any:
        """File work on the thread; OSError and gammu errors mean the spool is unusable now."""
        try:
            return await self._call(fn)
        except OSError as exc:
            raise ModemError(f"gammu-smsd spool: {exc}") from None
        except gammu.GSMError as exc:
            raise ModemError(f"gammu-smsd: {describe(exc)}") from None

    # ---- health -------------------------------------------------------------------------

    async def probe(self) -> str:
        """The spool is usable and the daemon keeps its outbox moving."""
        config = self.config
        assert config is not None
        waiting, oldest = await self._files(lambda _: _outbox_age(config))
        detail = f"{waiting} SMS in its outbox"
        if self._status_works:
            try:
                status = await self._call(lambda smsd: smsd.GetStatus())
                detail = f"signal {status.get('Signal', '?')}%, {detail}"
            except gammu.GSMError:
                self._status_works = False   # shared memory of another libgammu version: not fatal
        if oldest is not None and oldest > self.settings.smsd_stale:
            raise ModemError(f"gammu-smsd has not sent {waiting} SMS for {oldest / 60:.0f} min; "
                             "is the daemon running?", reopen=False)
        return detail

    # ---- messages -----------------------------------------------------------------------

    async def receive(self) -> list[Incoming]:
        config = self.config
        assert config is not None
        return await self._files(lambda _: _read_inbox(config))  # type: ignore[no-any-return]

    async def delete(self, incoming: Incoming) -> None:
        paths = incoming.handle
        await self._files(lambda _: _unlink(paths))

    async def transmit(self, number: str, text: str, smsc: str | None) -> int:
        """Queue `text` in gammu-smsd's outbox; the daemon sends it. Returns the parts it costs."""
        config = self.config
        assert config is not None
        centre: dict[str, Any] = {"Number": smsc} if smsc else {"Location": 1}
        if config.outbox_format == "detail":
            parts = self._encoder.encode(text)       # linked parts, kept linked in the backup file
            for part in parts:
                part["Number"] = number
                part["SMSC"] = centre
        else:                                        # text formats: the daemon splits it itself
            parts = [{"Text": text, "Number": number, "SMSC": centre}]
        await self._files(lambda smsd: smsd.InjectSMS(parts))
        return self._encoder.count(text)


def _check_folders(config: SpoolConfig) -> None:
    if not os.access(config.inbox, os.R_OK | os.W_OK | os.X_OK):
        raise ModemError(f"cannot read and clear gammu-smsd's inbox {config.inbox} (missing, or the hub's "
                         "user is not in the daemon's group)")
    if not os.access(config.outbox, os.W_OK | os.X_OK):
        raise ModemError(f"cannot write gammu-smsd's outbox {config.outbox}")


def _unlink(paths: tuple[str, ...]) -> None:
    for path in paths:
        Path(path).unlink(missing_ok=True)


def _outbox_age(config: SpoolConfig) -> tuple[int, float | None]:
    _check_folders(config)
    now = time.time()
    ages = [now - entry.stat().st_mtime for entry in os.scandir(config.outbox)
            if entry.name.startswith("OUT") and entry.is_file()]
    return len(ages), (max(ages) if ages else None)


def _read_inbox(config: SpoolConfig) -> list[Incoming]:
    """Messages in the inbox, one per received SMS (multi-part ones already linked by the daemon)."""
    now = time.time()
    groups: dict[tuple[str, str, str, str], list[tuple[int, Path, float]]] = {}
    for entry in os.scandir(config.inbox):
        match = INBOX_NAME.match(entry.name)
        if not match or not entry.is_file():
            continue
        date, clock, serial, number, part, _kind = match.groups()
        groups.setdefault((date, clock, serial, number), []).append(
            (int(part), Path(entry.path), entry.stat().st_mtime))
    result = []
    for (date, clock, serial, number), files in sorted(groups.items()):
        files.sort()
        age = now - max(mtime for _, _, mtime in files)
        if age < SETTLE:
            continue
        paths = tuple(str(p) for _, p, _ in files)
        # When the daemon took it from the modem, by the daemon's own clock: the time in the file
        # name is the SMS centre's with its zone dropped, which read in the hub's zone can be hours off.
        sent_at: float | None = min(mtime for _, _, mtime in files)
        if any(p.endswith(".bin") for p in paths):      # data, not text: audited and removed, never run
            result.append(Incoming(number, "", sms_text.message_key(number, f"{date}_{clock}_{serial}", "", "bin"),
                                   paths, len(files), sent_at, binary=True))
            continue
        try:
            if config.inbox_format == "detail":
                incoming = _read_detail(files[0][1], paths, number)
            else:
                text = "".join(_read_text(p, config.inbox_format) for _, p, _ in files)
                key = sms_text.message_key(number, f"{date}_{clock}_{serial}", text)
                incoming = Incoming(number, text, key, paths, len(files), sent_at)
        except (gammu.GSMError, OSError, UnicodeError, ValueError) as exc:
            if age > GIVE_UP:
                for path in paths:
                    os.replace(path, path + ".unreadable")
                log.error("gammu-smsd inbox file %s cannot be read (%s); renamed to .unreadable", paths[0], exc)
            continue
        result.append(incoming)
    return result


def _read_detail(path: Path, paths: tuple[str, ...], file_number: str) -> Incoming:
    parts = gammu.ReadSMSBackup(str(path))
    if not parts:
        raise ValueError("empty backup file")
    unique = list({(p.get("UDH") or {}).get("PartNumber", -1): p for p in parts}.values())
    groups = sms_text.link([[p] for p in unique])
    group = max(groups, key=len)
    first = group[0]
    text = sms_text.join(group)
    number = str(first.get("Number") or file_number)
    return Incoming(number, text, sms_text.message_key(number, first.get("DateTime"), text), paths, len(group),
                    sms_text.stamped(first.get("DateTime")), sms_text.is_binary(group))


def _read_text(path: Path, fmt: str) -> str:
    data = path.read_bytes()
    if fmt == "unicode" or data[:2] in (b"\xfe\xff", b"\xff\xfe"):
        if data[:2] == b"\xff\xfe":
            text = data[2:].decode("utf-16-le", "replace")
        else:
            text = data[2 if data[:2] == b"\xfe\xff" else 0:].decode("utf-16-be", "replace")
    else:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("latin-1")
    return sms_text.clean(text)
