"""What the hub needs from the machine, checked before anything starts: a writable data folder
and free listening ports.

Found late, these surface as a PermissionError traceback from the store's thread, or as an
amqtt traceback and half-started tasks; found here, every problem is one line naming the key
to change, and all of them are reported in one run.
"""

from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from .config import Settings, split_listen
from .private import private_dir

log = logging.getLogger(__name__)


def data_dir_problem(settings: Settings, create: bool) -> str | None:
    """Why the data folder cannot be used, or None.

    With `create` (start-up) the folder is made and a file written in it: the only sure test.
    Without (`chatops check`) nothing is created, since a folder made by whoever runs the check
    (often root) could then be unwritable for the service user; permissions are checked instead.
    """
    path = settings.data_dir
    existed = _is(path.is_dir)
    try:
        if create:
            private_dir(path)
            with tempfile.TemporaryFile(dir=path):
                pass
        else:
            _check_writable(path)
    except OSError as exc:
        database = path / "chatops.db"
        if create and _is(database.is_file) and os.access(database, os.R_OK):
            # A folder that held the database and turned read-only (a worn SD card): the hub
            # starts degraded on it rather than leaving the house silent (chatops.store).
            log.error("[hub] data_dir: cannot write to %s (%s); starting with the database read-only",
                      path, exc.strerror or exc)
            return None
        return data_dir_message(settings, path, existed, exc.strerror or str(exc))
    return _files_of_another(path)


def _files_of_another(path: Path) -> str | None:
    """A file in the data folder this account cannot write (a first run as root left the
    database root's): `check` said OK, and `run` stopped on it with a traceback."""
    import getpass
    import pwd

    try:            # another account's: a file of ours made read-only (a worn card) starts degraded instead
        entries = [entry for entry in path.iterdir()
                   if entry.stat().st_uid != os.geteuid() and not os.access(entry, os.R_OK | os.W_OK)]
    except OSError:
        return None
    if not entries:
        return None
    user = getpass.getuser()
    try:
        owner = pwd.getpwuid(entries[0].stat().st_uid).pw_name
    except (KeyError, OSError):
        owner = "another account"
    return (f"[hub] data_dir: {entries[0]} belongs to {owner}, and the hub runs as {user}, which cannot write it "
            f"(a run as {owner} left it?): sudo chown -R {user}: {path}")


def data_dir_message(settings: Settings, path: Path, existed: bool, reason: str) -> str:
    """The start-up error for a data folder that cannot be created or written."""
    action = "cannot write to" if existed else "cannot create"
    relative = "" if settings.hub.data_dir.is_absolute() else \
        f" (a relative data_dir is taken from the config file's folder, {settings.base_dir})"
    import getpass
    user = getpass.getuser()
    # Read-only where the mode allows it: systemd's ProtectSystem=strict, or a read-only mount.
    unit = f", or, under systemd's ProtectSystem=strict, add ReadWritePaths={path} to the unit" \
        if reason == os.strerror(errno.EROFS) else ""
    example = "/var/lib/chatops" if relative else "data"
    # A file where the folder should be (data_dir naming chatops.db, a typo'd path): making it
    # with `install -d` is no fix. Name the file on the way.
    if (file := next((part for part in (path, *path.parents) if _is(part.is_file)), None)) is not None:
        what = "is a file" if file == path else f"is under {file}, which is a file"
        return (f"[hub] data_dir: {path} {what}, not a folder{relative}; set data_dir in [hub] to a folder "
                f"{user} can write, e.g. data_dir = \"{example}\"")
    return (f"[hub] data_dir: {action} {path} ({reason}){relative}; create it for the user the hub runs as "
            f"({user}): sudo install -d -m 700 -o {user} {path}{unit}, or set data_dir in [hub] to a folder {user} "
            f"can write, e.g. data_dir = \"{example}\"")


def _is(test: Callable[[], bool]) -> bool:
    """`path.is_dir()` and the like, False where a folder on the way cannot be entered (they
    raise PermissionError there): what cannot be reached is reported as not writable."""
    try:
        return test()
    except OSError:
        return False


def _check_writable(path: Path) -> None:
    """Raise the OSError that creating or writing in `path` would raise, without creating it."""
    existing = path
    while not _is(existing.exists) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
    if not os.access(existing, os.W_OK | os.X_OK):
        code = errno.EROFS if os.statvfs(existing).f_flag & os.ST_RDONLY else errno.EACCES
        raise OSError(code, os.strerror(code))
    # Permissions do not tell everything (root passes os.access on /proc, a full disk refuses
    # what the mode allows): an empty folder made and removed at once says, and leaves nothing.
    os.rmdir(tempfile.mkdtemp(prefix=".chatops-check-", dir=existing))


def listen_problems(settings: Settings, web: bool) -> list[str]:
    """One line per listening address of this config (web server, embedded broker) that is taken.

    Each address is bound the way the servers will bind it (SO_REUSEADDR, as asyncio does) and
    all are held until the end, so two parts configured on one port are caught too.
    """
    wanted: list[tuple[str, Callable[[str, str], str]]] = []
    if web:
        wanted.append((settings.web.listen, web_message))
    if settings.mqtt.url == "embedded":
        wanted.append((settings.mqtt.embedded_listen, broker_message))
    for name, _kind, section in settings.enabled_adapters():
        for key, listen in section.listens():     # a Telegram webhook on [web] listen's port: said here
            wanted.append((listen, lambda address, reason, where=f"adapters.{name}.{key}":
                           f"{where}: cannot listen on {address} ({reason}); give it an address of its own"))
    problems: list[str] = []
    held: list[socket.socket] = []
    taken: set[Callable[[str, str], str]] = set()
    try:
        for listen, message in wanted:
            reason = _bind(listen, held)
            if reason:
                problems.append(message(listen, reason))
                if reason == os.strerror(errno.EADDRINUSE):
                    taken.add(message)
    finally:
        for sock in held:
            sock.close()
    if {web_message, broker_message} <= taken:
        # Both of the demo's ports in use: most often the hub itself, started a second time (the
        # broker's own advice, to use that broker, would fail: it lets in its own hub only).
        problems.append("the web server's and the broker's addresses are both in use: another chatops hub "
                        "probably runs on this machine (see pgrep -fa 'chatops run'); stop it first, or give this "
                        "one other addresses")
    return problems


def web_message(listen: str, reason: str) -> str:
    """The start-up error for a web server address that cannot be bound."""
    return f"the web server cannot listen on {listen} ({reason}); change [web] listen"


def broker_message(listen: str, reason: str) -> str:
    """The start-up error for an embedded broker address that cannot be bound."""
    return (f"the embedded MQTT broker cannot listen on {listen} ({reason}); another broker probably "
            f"runs there: use it with [mqtt] url = \"mqtt://{listen}\", or change [mqtt] embedded_listen")


def _bind(listen: str, held: list[socket.socket]) -> str | None:
    """Bind every address `listen` (HOST:PORT) resolves to; the OS reason of the first failure."""
    host, port = split_listen(listen)
    if port == 0:
        return None                     # any free port: cannot conflict
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r}: {exc.strerror}"
    for family, kind, proto, _, address in dict.fromkeys(infos):
        try:
            sock = socket.socket(family, kind, proto)
        except OSError as exc:
            if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
                continue                # IPv6 switched off: asyncio skips that family the same way
            return exc.strerror or str(exc)
        held.append(sock)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen()               # a bound socket only blocks others once it listens (Linux)
        except OSError as exc:
            if exc.errno == errno.EADDRNOTAVAIL:
                continue                # that family has no such address here: asyncio skips it too
            return exc.strerror or str(exc)
    return None
