"""[adapters.sms]: which modem, how it is reached, and the hourly cap; and the files it reads
(gammu-smsd's config, a gammurc), checked by `chatops check` as the adapter will read them.

Light to import (no python-gammu): the core reads this schema to check a config even where the
sms extra is not installed.
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from chatops.config import AdapterSettings, ConfigError, Duration, known_country
from chatops.schema import Field, field_validator

from .sms_network import identity_problem, number_problem

if TYPE_CHECKING:
    from chatops.config import Settings as HubConfig


class BackendKind(str, Enum):
    GAMMU = "gammu"
    SMSD = "smsd"


class Settings(AdapterSettings):
    """[adapters.sms]: a 3G key driven by python-gammu, or gammu-smsd's spool."""

    backend: BackendKind = Field(BackendKind.GAMMU, examples=['"gammu"', '"smsd"'],
                                 description="`gammu`: the hub drives the modem; `smsd`: gammu-smsd does (files service)")
    connection: str = Field("at", examples=['"at"', '"at115200"'], description="gammu connection (backend gammu)")
    device: str = Field("/dev/ttyUSB0", examples=['"/dev/ttyUSB0"', '"/dev/serial/by-id/usb-HUAWEI-if00-port0"'],
                        description="modem port; `/dev/serial/by-id/...` is stable (backend gammu)")
    model: str = Field("", examples=['""', '"dummy"'],
                       description="`\"\"` lets gammu detect it; `\"dummy\"` for libgammu's test phone")
    gammurc: str | None = Field(None, examples=['"/etc/gammurc"'],
                                description="read connection/device/model from this gammurc instead")
    gammurc_section: int = Field(0, ge=0, examples=["0"], description="`[gammu1]` is section 1")
    pin_env: str | None = Field(None, examples=['"SIM_PIN"'],
                                description="environment variable holding the SIM PIN (entered once, never retried)")
    pin_file: str | None = Field(None, examples=['"/etc/chatops/sim.pin"'], description="file holding the SIM PIN")
    smsc: str | None = Field(None, examples=['"+33609001390"'], description="SMS centre; default: the SIM's")
    smsd_config: str = Field("/etc/gammu-smsdrc", examples=['"/etc/gammu-smsdrc"'],
                             description="gammu-smsd's config file, whose spool folders are used (backend smsd)")
    poll_interval: Duration = Field(5.0, gt=0, le=600, examples=['"5s"'], description="how often the SIM is read")
    probe_interval: Duration = Field(60.0, gt=0, examples=['"1m"'],
                                     description="signal and network check; a silent modem is reopened")
    call_timeout: Duration = Field(60.0, gt=0, examples=['"60s"'],
                                   description="a modem call taking longer counts as a silent modem")
    default_country: str | None = Field(None, examples=['"+33"', '"FR"'],
                                        description="default: [hub] default_country")
    hourly_cap: int = Field(10, ge=1, examples=["10"], description="SMS sent per number per hour")
    max_parts: int = Field(4, ge=1, le=10, examples=["4"], description="longest reply, in SMS")
    stale_after: Duration = Field(7200.0, gt=0, examples=['"2h"'],
                                  description="a command the SMS centre stamped longer ago (waiting on the SIM "
                                              "while the hub was down) is answered \"not run\", not run")
    multipart_timeout: Duration = Field(600.0, gt=0, examples=['"10m"'],
                                        description="wait this long for the missing parts of a long SMS")
    smsd_stale: Duration = Field(600.0, gt=0, examples=['"10m"'],
                                 description="files waiting longer in the outbox mark the spool down")

    @field_validator("default_country")
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        return known_country(value) if value else value

    def gammurc_path(self, base_dir: Path | None) -> Path:
        path = Path(self.gammurc or "")
        return path if path.is_absolute() or base_dir is None else base_dir / path

    def smsd_config_path(self, base_dir: Path | None) -> Path:
        path = Path(self.smsd_config)
        return path if path.is_absolute() or base_dir is None else base_dir / path

    def file_problems(self, base_dir: Path) -> list[str]:
        """gammu-smsd's config (backend smsd: read as the adapter reads it, so a file that is
        missing, unreadable or not for the files service is named) or the gammurc (backend
        gammu) that cannot be read: said by `chatops check` and at start, not as the adapter down."""
        if self.backend is BackendKind.SMSD:
            try:
                read_smsd_config(self.smsd_config_path(base_dir))
            except ConfigError as exc:
                return exc.problems
            return []
        if not self.gammurc:
            return []
        path = self.gammurc_path(base_dir)
        try:
            with path.open("rb"):
                return []
        except OSError as exc:
            return [f"gammurc: cannot read {path} ({exc.strerror or exc}); give the path of a gammurc file, "
                    "or leave gammurc out and set device and connection"]

    def warnings_with(self, settings: HubConfig) -> list[str]:
        """Users' numbers that are no phone number in this modem's country (`06123456789`, a
        digit too many): they would never be recognised, and SMS to them fail."""
        country = self.default_country or settings.hub.default_country
        return [problem for user, section in settings.users.items() for pattern in section.patterns("sms")
                if identity_problem(pattern) is None and (problem := number_problem(user, pattern, country))]


@dataclass(frozen=True, slots=True)
class SpoolConfig:
    """The parts of a gammu-smsd config the hub needs."""

    path: Path
    service: str
    inbox: Path
    outbox: Path
    sent: Path | None
    inbox_format: str
    outbox_format: str


def read_smsd_config(path: Path) -> SpoolConfig:
    """Folders and formats of a gammu-smsd config file; ConfigError when it cannot serve the hub."""
    parser = configparser.ConfigParser(interpolation=None, strict=False, comment_prefixes=("#", ";"),
                                       inline_comment_prefixes=(";",))
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except OSError as exc:
        raise ConfigError([f"smsd_config: cannot read {path}: {exc.strerror}; point it at gammu-smsd's "
                           "config (e.g. /etc/gammu-smsdrc)"]) from None
    except configparser.Error as exc:
        raise ConfigError([f"smsd_config: {path} is not a gammu-smsd config: {exc}"]) from None
    if not parser.has_section("smsd"):
        raise ConfigError([f"smsd_config: {path} has no [smsd] section"])
    smsd = parser["smsd"]

    def value(key: str, default: str = "") -> str:
        return smsd.get(key, default).strip().strip('"').strip()

    def folder(key: str) -> Path | None:
        text = value(key)
        if not text:
            return None
        p = Path(text)
        return p if p.is_absolute() else path.parent / p

    service = value("service", "").lower()
    if service != "files":
        raise ConfigError([f"smsd_config: {path} uses service = {service or '(none)'}; the hub reads the "
                           "files service: set service = files in its [smsd] section"])
    inbox, outbox = folder("inboxpath"), folder("outboxpath")
    if inbox is None or outbox is None:
        raise ConfigError([f"smsd_config: {path} must set inboxpath and outboxpath in [smsd]"])
    return SpoolConfig(path, service, inbox, outbox, folder("sentsmspath"),
                       value("inboxformat", "unicode").lower(), value("outboxformat", "detail").lower())
