"""What `chatops check` says of a valid config beyond its validity, and the start logs too:
secrets that are missing or readable by other users, a data folder others can read, a
`public_url` reached from beyond with no token, a role that includes itself."""

from __future__ import annotations

import contextlib
import getpass
import os
import stat
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .config import ConfigError, Settings, is_loopback, read_secret
from .config_errors import secret_keys
from .schema import Model


def secret_file_warnings(section: Model, prefix: str, base_dir: Path) -> list[str]:
    """Warnings for secret files other users can read (chmod 600 is the fix). A relative name
    is taken from the config file's folder, as the hub reads it, wherever `check` runs from; a
    file that cannot be reached is `check_secrets`'s to report."""
    warnings = []
    for key in secret_keys(type(section)):
        file_name = getattr(section, f"{key}_file", None)
        if not file_name:
            continue
        path = base_dir / file_name
        try:
            info = path.stat()
        except OSError:
            continue
        # A folder named here (`token_file = "/etc"`) cannot be read as a secret: check_secrets
        # says so; `chmod 600` on it would be ruinous advice.
        if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_IRGRP | stat.S_IROTH):
            # Owned by another account (made by root for the service), chmod 600 alone would lock
            # the hub out of its own secret: the owner changes first.
            fix = f"chmod 600 {path}" if info.st_uid == os.geteuid() else \
                f"sudo chown {getpass.getuser()} {path} && sudo chmod 600 {path}"
            who = "other users" if info.st_mode & stat.S_IROTH else "its group"
            warnings.append(f"{prefix}{key}_file: {path} is readable by {who}; run {fix}")
    return warnings


def _sections(prefix: str, value: Any) -> list[tuple[str, Model]]:
    """Every section inside `value` (nested tables, lists and dicts of tables) with its key path."""
    found: list[tuple[str, Model]] = []
    if isinstance(value, Model):
        found.append((prefix, value))
        for name in type(value).model_fields:
            found += _sections(f"{prefix}{name}.", getattr(value, name))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found += _sections(f"{prefix.rstrip('.')}[{index}].", item)
    elif isinstance(value, dict):
        for key, item in value.items():
            found += _sections(f"{prefix}{key}.", item)
    return found


def _parts(settings: Settings, console_forced: bool = False) -> list[tuple[str, Model]]:
    """The sections that will be used at run time: core, enabled adapters, users, devices."""
    parts = _sections("mqtt.", settings.mqtt) + _sections("web.", settings.web)
    for name, _kind, section in settings.enabled_adapters(console_forced, tty=True):
        parts += _sections(f"adapters.{name}.", section)
    parts += _sections("users.", settings.users) + _sections("devices.", settings.devices)
    return parts


def config_warnings(settings: Settings, path: Path | None = None) -> list[str]:
    """Things that run but that an owner should fix (secret files, or the data folder, readable by others)."""
    from .config_checks import label_clashes, shared_senders, unreachable_recipients
    from .private import readable_by_others

    warnings: list[str] = []
    for prefix, section in _parts(settings):
        warnings += secret_file_warnings(section, prefix, settings.base_dir)
    for role, grants in settings.roles.items():
        if role in grants:                       # harmless, but a slip: `family = ["family"]` for ["guest", ...]?
            warnings.append(f"roles.{role}: includes itself, which adds nothing; remove {role!r} from its list")
        elif (loop := _role_loop(settings.roles, role)) is not None:
            warnings.append(f"roles.{role}: includes {' which includes '.join(loop)}: a loop, which adds nothing; "
                            f"remove {loop[0]!r} from its list, or {role!r} from the list of {loop[-2]!r}")
    warnings += label_clashes(settings) + shared_senders(settings)
    if not settings.simulator.enabled:          # the shipped config made real: its made-up camera stayed
        warnings += [f"devices.{name}: simulated = true, and [simulator] enabled = false: its readings and "
                     f"pictures are made up (an alert's snapshot too); give it snapshot_url or snapshot_topic, or "
                     f"remove it" for name, device in settings.devices.items() if device.simulated]
    enabled = {kind for _name, kind, _s in settings.enabled_adapters(tty=True)} | ({"web"} if settings.web.enabled else set())
    forced = {kind for _name, kind, _s in settings.enabled_adapters(True, tty=True)}     # `run --console`
    warnings += unreachable_recipients(settings, enabled) + idle_patterns(settings, enabled | forced)
    web = settings.web
    if not web.enabled and (web.notify_tokens or web.metrics_token_env or web.metrics_token_file):
        keys = ", ".join((["web.notify_tokens"] if web.notify_tokens else [])
                         + (["web.metrics_token"] if web.metrics_token_env or web.metrics_token_file else []))
        warnings.append(f"web.enabled: false, so {keys} open nothing (scripts and scrapers find no server); "
                        "set enabled = true, or remove them")
    if web.enabled and web.host_port[0] in ("0.0.0.0", "::") and not web.public_url:
        warnings.append(f"web.public_url: not set, and listen = {web.listen!r}: links to pictures sent on chat "
                        "networks name 127.0.0.1, which opens on this machine only; set public_url = "
                        "\"http://hub.lan:8080\" (the address phones reach the hub by)")
    if web.enabled and web.links_stay_here:
        from .networks import networks
        linked = sorted({kind for _name, kind, _s in settings.enabled_adapters(tty=True)
                         if (network := networks().get(kind)) is not None and not network.pictures})
        if linked:
            warnings.append(f"web.public_url: not set, and [web] listens on loopback ({web.listen}): snapshots and "
                            f"graphs sent on {', '.join(linked)} (which carry no pictures) are links to it, which no "
                            "phone can open; set public_url = \"http://hub.lan:8080\" (the address phones reach "
                            "the hub by), listen on it and set a token (docs/pictures.md)")
    public_host = urlsplit(web.public_url).hostname if web.public_url else None
    if web.enabled and public_host and not is_loopback(public_host) and not (web.token_env or web.token_file):
        warnings.append(f"web.public_url: {web.public_url} is reached from beyond this machine and [web] has no "
                        "token: requests that come through it are refused (401); set token_env or token_file")
    data_dir = settings.data_dir
    with contextlib.suppress(OSError):          # a folder that cannot be reached is data_dir_problem's
        if not data_dir.is_dir() or not readable_by_others(data_dir):
            return warnings
        warnings.append(f"hub.data_dir: {data_dir} can be read by other users of this machine (audit log, "
                        f"history, camera pictures); chmod 700 {data_dir}")
    return warnings


def _role_loop(roles: dict[str, list[str]], start: str) -> list[str] | None:
    """[b, a] when role `start` (a) includes b, which includes a again (through any of the roles
    each lists); None without a loop back to `start`."""
    stack: list[tuple[str, list[str]]] = [(start, [])]
    seen: set[str] = set()
    while stack:
        role, path = stack.pop()
        for grant in roles.get(role, []):
            if grant == start and path:
                return [*path, start]
            if grant in roles and grant != role and grant not in seen and grant != start:
                seen.add(grant)
                stack.append((grant, [*path, grant]))
    return None


def check_secrets(settings: Settings, console_forced: bool = False) -> list[str]:
    """Problems with secrets of the parts that will start (unset variables, unreadable files),
    and with the other files they read (the broker's CA, an adapter's own: gammu-smsd's config)."""
    from .config_checks import ca_file_problem, ca_file_problems

    problems = ca_file_problems(settings)
    for prefix, section in _parts(settings, console_forced):
        for key in secret_keys(type(section)):
            try:
                read_secret(section, key, settings.base_dir)
            except ConfigError as exc:
                problems += [prefix + p for p in exc.problems]
        ca_file = getattr(section, "ca_file", None) if prefix != "mqtt." else None      # mqtt's: above
        if isinstance(ca_file, str) and ca_file and (problem := ca_file_problem(prefix, ca_file, settings.base_dir)):
            problems.append(problem)         # a chat network's private CA: said here, not as a TLS loop
    for name, _kind, section in settings.enabled_adapters(console_forced, tty=True):
        problems += [f"adapters.{name}.{problem}" for problem in section.file_problems(settings.base_dir)]
    return problems + token_clashes(settings)


def idle_patterns(settings: Settings, enabled: set[str]) -> list[str]:
    """A user's patterns on a network no adapter of which is enabled: they take nobody, and the
    first sign was an alert's "can be told nothing" that named the wrong fix."""
    from .networks import networks

    return [f"users.{name}.{kind}: no {kind} adapter is enabled in this config, so these patterns take nobody "
            "yet; enable one or remove them"
            for name, user in settings.users.items() for kind, patterns in user.identities.items()
            if patterns and kind not in enabled and networks().get(kind) is not None]


def token_clashes(settings: Settings) -> list[str]:
    """Two tokens of the web server with one secret: which one a request came with could not be
    told (the last would win, its `to` limit applied to the other's scripts, neither revocable
    alone), and a notify token that is the web token hands a script the whole house. Secrets
    that cannot be read are check_secrets' to say."""
    web = settings.web
    named: dict[str, str] = {}
    for name, section, key in [("web.token", web, "token"), ("web.metrics_token", web, "metrics_token"),
                               *((f"web.notify_tokens.{n}", t, "token") for n, t in web.notify_tokens.items())]:
        try:
            secret = read_secret(section, key, settings.base_dir)
        except ConfigError:
            continue
        if secret:
            named[name] = secret
    problems = []
    seen: dict[str, str] = {}
    for name, secret in named.items():
        if (first := seen.setdefault(secret, name)) != name:
            problems.append(f"{name}: the same secret as {first}; give each its own (e.g. openssl rand -hex 24), "
                            f"or one cannot be told from the other nor revoked alone")
    return problems


def adapter_warnings(settings: Settings) -> list[str]:
    """What the enabled adapters find wrong in the rest of the config (a user's phone number that
    is none in the modem's country), once each. For `chatops check`: at `run` each adapter says
    its own when it starts, so they are not in `config_warnings`, which `run` logs too."""
    return list(dict.fromkeys(warning for _name, _kind, section in settings.enabled_adapters(tty=True)
                              for warning in section.warnings_with(settings)))
