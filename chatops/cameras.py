"""Camera snapshots: from an HTTP URL, from the last image on an MQTT topic, or simulated.

`hub.cameras.snapshot("entree")` fetches one image, saves it under data_dir/snapshots (the
folder is pruned: oldest files go first) and returns a `Snapshot` whose `attachment` every
adapter renders its own way, with an expiring link from the web server. Whatever goes
wrong (timeout, a login page instead of an image, too big, nothing on the topic yet) is a
`SnapshotError` whose text can be shown to the user as it is.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from .config import ConfigError, DeviceType, read_secret
from .device_settings import type_word
from .durations import format_duration
from .i18n import _
from .message import Attachment
from .private import private_dir, write_private

if TYPE_CHECKING:
    from .home import Device
    from .hub import Hub

log = logging.getLogger(__name__)

TOPIC_WAIT = 3.0                      # how long a snapshot waits for a first image on its topic
_MAGIC = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"), (b"GIF8", "image/gif"),
          (b"RIFF", "image/webp"), (b"BM", "image/bmp"))
_SUFFIX = {"image/jpeg": ".jpg", "image/png": ".png", "image/gif": ".gif", "image/webp": ".webp",
           "image/bmp": ".bmp"}


class SnapshotError(Exception):
    """A snapshot that could not be taken; the text is meant for the person who asked."""


@dataclass(frozen=True, slots=True)
class Frame:
    """One image in memory: its bytes, MIME type and when it was taken (unix time)."""

    data: bytes
    mime: str
    at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A saved image of one camera, with its expiring link (None without a web server)."""

    camera: str
    path: Path
    mime: str
    url: str | None
    taken_at: float
    size: int

    @property
    def attachment(self) -> Attachment:
        return Attachment(self.path, self.mime, self.url, name=self.path.name)


def sniff(data: bytes) -> str | None:
    """The image MIME type of `data` from its first bytes, or None when it is no image we know."""
    for magic, mime in _MAGIC:
        if data.startswith(magic) and (mime != "image/webp" or data[8:12] == b"WEBP"):
            return mime
    return None


def _reason(error: OSError) -> str:
    """`Connection refused`, `Domain name not found`: the OS's words, without addresses or numbers."""
    if isinstance(error.errno, int) and error.errno > 0 and not isinstance(error, socket.gaierror):
        return os.strerror(error.errno)
    return error.strerror or str(error)


def _size(n: float) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} kB"


class ImageFolder:
    """A folder of generated images that never grows without bound: oldest files go first."""

    def __init__(self, path: Path, keep_files: int = 500, keep_bytes: int = 256 * 1048576,
                 keep_age: float = 7 * 86400) -> None:
        self.path = path
        self.keep_files = keep_files
        self.keep_bytes = keep_bytes
        self.keep_age = keep_age

    @classmethod
    def linked(cls, path: Path, link_ttl: float) -> ImageFolder:
        """A folder whose pictures may be sent as links (`[web] link_ttl`): each is kept as long
        as its link lives, and at least a week."""
        return cls(path, keep_age=max(7 * 86400.0, link_ttl))

    def save(self, stem: str, data: bytes, suffix: str) -> Path:
        """Write `data` atomically as STEM-DATE-RANDOM.SUFFIX, prune, return the path (blocking)."""
        private_dir(self.path)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path / f"{stem}-{stamp}-{secrets.token_hex(3)}{suffix}"
        temporary = target.with_suffix(".part")
        write_private(temporary, data)
        os.replace(temporary, target)
        self.prune(keep=target)
        return target

    def prune(self, keep: Path | None = None) -> int:
        """Delete the oldest files beyond the count, size and age limits; how many went."""
        entries = []
        for entry in os.scandir(self.path):
            if entry.is_file():
                info = entry.stat()
                entries.append((info.st_mtime, info.st_size, Path(entry.path)))
        entries.sort(reverse=True)                          # newest first
        now = time.time()
        total, removed = 0, 0
        for index, (mtime, size, path) in enumerate(entries):
            total += size
            if path != keep and (index >= self.keep_files or total > self.keep_bytes
                                 or now - mtime > self.keep_age):
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed


class Cameras:
    """The hub's cameras: `snapshot(name)` for commands and alerts."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.folder = ImageFolder.linked(hub.settings.data_dir / "snapshots", hub.settings.web.link_ttl)
        self._frames: dict[str, Frame] = {}
        self._arrived: dict[str, asyncio.Event] = {}
        self._refused: dict[str, str] = {}

    def cameras(self) -> list[Device]:
        return [d for d in self.hub.home.devices.values() if d.type is DeviceType.CAMERA]

    async def start(self) -> None:
        """Listen to the topics of cameras that publish their images on MQTT."""
        for device in self.cameras():
            topic = device.settings.snapshot_topic
            if topic:
                self._arrived[device.name] = asyncio.Event()
                limit = device.settings.snapshot_max_bytes * 2       # base64 images, and to say "too big"
                await self.hub.mqtt.subscribe(
                    topic, lambda t, payload, _r, d=device: self._on_image(d, t, payload), max_payload=limit)

    def camera(self, name: str) -> Device:
        """The camera called `name`; SnapshotError naming the cameras otherwise."""
        device = self.hub.home.find(name)
        known = ", ".join(sorted(d.name for d in self.cameras())) or _("none is configured")
        if device is None:
            raise SnapshotError(_("No camera called {name!r}. Cameras: {known}.").format(name=name, known=known))
        if device.type is not DeviceType.CAMERA:
            raise SnapshotError(_("{label} is a {kind}, not a camera. Cameras: {known}.").format(
                label=device.label, kind=type_word(device.type), known=known))
        return device

    async def snapshot(self, name: str) -> Snapshot:
        """Take one image of camera `name`, save it and publish its link."""
        device = self.camera(name)
        s = device.settings
        if s.snapshot_url:
            frame = await self._fetch(device)
        elif s.snapshot_topic:
            frame = await self._last_on_topic(device)
        else:
            from .sim import camera_image
            frame = Frame(await asyncio.to_thread(camera_image, device.label), "image/jpeg", time.time())
        path = await asyncio.to_thread(self.folder.save, device.name, frame.data, _SUFFIX.get(frame.mime, ".img"))
        web = self.hub.web
        url = web.links.publish(path, frame.mime) if web is not None else None
        log.info("snapshot of %s: %s (%d bytes)", device.name, path.name, len(frame.data))
        return Snapshot(device.name, path, frame.mime, url, frame.at, len(frame.data))

    # ---- MQTT ------------------------------------------------------------------------------

    def _on_image(self, device: Device, topic: str, payload: bytes) -> None:
        try:
            frame = self.frame_from_payload(payload, device.settings.snapshot_max_bytes)
        except SnapshotError as exc:
            self._refused[device.name] = str(exc)
            log.warning("camera %s: ignored the image on %s: %s", device.name, topic, exc)
            return
        self._frames[device.name] = frame
        self._refused.pop(device.name, None)
        self._arrived[device.name].set()

    @staticmethod
    def frame_from_payload(payload: bytes, max_bytes: int) -> Frame:
        """An image as Frigate (raw JPEG) or ESP32 sketches (raw or base64, maybe a data: URL) send it."""
        data = payload
        mime = sniff(data)
        if mime is None:
            text = payload.strip()
            if text.startswith(b"data:image/") and b"," in text:
                text = text.split(b",", 1)[1]
            try:
                data = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                data = b""
            mime = sniff(data)
            if mime is None:
                raise SnapshotError(_("a {size}-byte payload that is not an image (JPEG, PNG, GIF, WebP, or one "
                                      "of these in base64)").format(size=len(payload)))
        if len(data) > max_bytes:
            raise SnapshotError(_("the image is too big ({size}; snapshot_max_bytes allows {most})").format(
                size=_size(len(data)), most=_size(max_bytes)))
        return Frame(data, mime, time.time())

    async def _last_on_topic(self, device: Device) -> Frame:
        frame = self._frames.get(device.name)
        if frame is None:
            try:
                async with asyncio.timeout(min(TOPIC_WAIT, device.settings.snapshot_timeout)):
                    await self._arrived[device.name].wait()
            except TimeoutError:
                pass
            frame = self._frames.get(device.name)
        if frame is None:
            refused = self._refused.get(device.name)
            if refused:
                raise SnapshotError(_("No image from {label} yet: the last message on {topic} was refused: "
                                      "{why}.").format(label=device.label, topic=device.settings.snapshot_topic,
                                                       why=refused))
            raise SnapshotError(_("No image from {label} yet on {topic} (the camera publishes one when it sees "
                                  "something).").format(label=device.label, topic=device.settings.snapshot_topic))
        return frame

    # ---- HTTP ------------------------------------------------------------------------------

    async def _fetch(self, device: Device) -> Frame:
        import aiohttp

        s = device.settings
        assert s.snapshot_url
        host = urlsplit(s.snapshot_url).hostname or "?"     # never the URL: it may hold credentials
        try:
            password = read_secret(s, "password", self.hub.settings.base_dir)
        except ConfigError as exc:
            raise SnapshotError(f"{device.label}: {exc}") from None
        timeout = f"{s.snapshot_timeout:g}s" if s.snapshot_timeout < 60 else format_duration(s.snapshot_timeout)
        try:
            async with asyncio.timeout(s.snapshot_timeout):
                return await self._get(device, s.snapshot_url, s.username, password or "")
        except TimeoutError:
            raise SnapshotError(_("{label} did not send an image within {timeout} ({host}).").format(
                label=device.label, timeout=timeout, host=host)) from None
        except aiohttp.ClientConnectorError as exc:
            reason = _reason(exc.os_error) if exc.os_error else str(exc)
            raise SnapshotError(_("Cannot reach {label} at {host}: {why}.").format(
                label=device.label, host=host, why=reason)) from None
        except aiohttp.ClientError as exc:
            raise SnapshotError(_("{label} ({host}) failed: {why}.").format(
                label=device.label, host=host, why=f"{type(exc).__name__} {exc}".strip())) from None

    async def _get(self, device: Device, url: str, username: str | None, password: str) -> Frame:
        import aiohttp

        s = device.settings
        middlewares: tuple[Any, ...] = ()
        headers: dict[str, str] = {}
        basic = {"Authorization": "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()}
        digest = getattr(aiohttp, "DigestAuthMiddleware", None)         # aiohttp 3.12+
        if username and digest is None and s.auth == "digest":
            raise SnapshotError(_("{label}: digest authentication needs aiohttp 3.12 or later.").format(
                label=device.label))
        if username and (s.auth == "basic" or digest is None):
            headers = basic
        elif username:
            # Digest (or auto): no credentials until the camera asks, then the scheme it asked for.
            middlewares = (digest(username, password),)
        session_options = {"middlewares": middlewares} if middlewares else {}
        async with aiohttp.ClientSession(**session_options) as session:
            async with session.get(url, headers=headers) as response:
                challenge = response.headers.get("WWW-Authenticate", "")
                if response.status == 401 and middlewares and s.auth == "auto" and challenge.lower().startswith("basic"):
                    async with session.get(url, headers=basic, middlewares=()) as retried:
                        return await self._read(device, retried)
                return await self._read(device, response)

    async def _read(self, device: Device, response: Any) -> Frame:
        s = device.settings
        label = device.label
        if response.status in (401, 403):
            hint = _("check username and password_env") if s.username else _("set username and password_env")
            raise SnapshotError(_("{label} refused the snapshot request (HTTP {status}): {hint}.").format(
                label=label, status=response.status, hint=hint))
        if response.status >= 300:
            raise SnapshotError(_("{label} answered HTTP {status}.").format(
                label=label, status=f"{response.status} {response.reason or ''}".rstrip()))
        declared = response.content_type or _("no content type")
        if not declared.startswith("image/"):
            raise SnapshotError(_("{label} answered {declared}, not an image: check snapshot_url (a login or error "
                                  "page?).").format(label=label, declared=declared))
        length = response.content_length
        if length is not None and length > s.snapshot_max_bytes:
            raise SnapshotError(_("{label} sent a {size} image; snapshot_max_bytes allows {most}.").format(
                label=label, size=_size(length), most=_size(s.snapshot_max_bytes)))
        chunks, total = [], 0
        async for chunk in response.content.iter_chunked(65536):
            total += len(chunk)
            if total > s.snapshot_max_bytes:
                raise SnapshotError(_("{label} sent more than {most} (snapshot_max_bytes); not an image a chat "
                                      "can carry.").format(label=label, most=_size(s.snapshot_max_bytes)))
            chunks.append(chunk)
        data = b"".join(chunks)
        if not data:
            raise SnapshotError(_("{label} sent an empty image.").format(label=label))
        return Frame(data, sniff(data) or declared, time.time())
