"""Networks are plugins: what the core knows of a network comes from its `Network` description.

A description is small and light (no chat library is imported to read it): the network's name
(the `[users.X] NAME = [...]` key, the `NAME:` scheme of alert addresses, the `[adapters.NAME]`
section), where its adapter class and config schema live (imported only when needed), and the
hooks that parse and match its identities and turn a user or an address into a delivery target.
Built-in networks and third-party packages register the same way, as entry points of the group
`chatops.adapters` naming a `Network` object. A plugin that fails to load is logged and left out;
`Networks.broken` keeps why, for `status`.

The core names no network: the built-in ones are entry points in pyproject.toml, like a
plugin's, and `adapters.SHIPPED` lists them for a source checkout without package metadata.
The core's own network is the web chat (`WEB` below).
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .entry_points import entry_points
from .extras import first_missing
from .url_secrets import masked
from .message import Identity

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

GROUP = "chatops.adapters"


def _no_problem(_text: str) -> str | None:
    return None


@functools.lru_cache(maxsize=512)
def wildcard(pattern: str, ignore_case: bool = True) -> re.Pattern[str]:
    """A pattern of `[users]`, ignoring case unless told not to (a Matrix localpart): `*` and `?`
    are its only wildcards (fnmatch read `alice[m]`'s brackets as a set of characters, so that
    nick never matched its own pattern)."""
    written = pattern.casefold() if ignore_case else pattern
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in written), re.S)


def _same_id(identity: Identity, pattern: str, _settings: Settings) -> bool:
    """The default match: the sender's id against a pattern, ignoring case, `*` and `?` allowed."""
    return wildcard(pattern).fullmatch(identity.id.casefold()) is not None


def _folded(pattern: str, _settings: Settings) -> str:
    return pattern.casefold()


def _plain_targets(_user: str, patterns: list[str]) -> list[str]:
    """The default: every pattern without wildcards is an address to write to."""
    return [p for p in patterns if not any(c in p for c in "*?")]


@dataclass(frozen=True)
class Network:
    """One network as the core sees it. Hooks have defaults; a network overrides what differs."""

    name: str
    adapter: str                                   # "module:Class", imported only when enabled
    settings: str = ""                             # "module:Settings": its [adapters.NAME] schema
    extra: str | None = None                       # the pip extra that brings its library
    requires: tuple[str, ...] = ()                 # modules that extra installs (checked, not imported)
    example: str = ""                              # an alert address, e.g. "xmpp:alice@example.org"
    identity_problem: Callable[[str], str | None] = _no_problem
    matches: Callable[[Identity, str, Settings], bool] = _same_id
    canonical: Callable[[str, Settings], str] = _folded    # one person's pattern as two users' would be compared
    targets: Callable[[str, list[str]], list[str]] = _plain_targets
    reach_hint: str = ""                           # a pattern `targets` can write to, when none can
    address_problem: Callable[[str], str | None] = _no_problem
    is_direct: Callable[[str], bool] = field(default=lambda _target: True)
    pictures: bool = True                          # False: a picture goes as a link to the web server
    cli: str = ""                                  # "module:function" adding `chatops` subcommands
    # For the configuration reference (docs/configuration.md), in the network's own words:
    identities: str = ""                           # what goes in `[users.X] NAME = [...]`
    about: str = ""                                # what its `[adapters.NAME]` section is, and its guide

    def missing_module(self) -> str | None:
        """The first of `requires` that cannot be imported here, or None."""
        return first_missing(self.requires)

    def cli_adder(self) -> Any:
        return _load(self.cli)

    def adapter_class(self) -> Any:
        return _load(self.adapter)

    def settings_schema(self) -> Any:
        if not self.settings:
            from .config import AdapterSettings
            return AdapterSettings
        return _load(self.settings)


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _shipped() -> dict[str, str]:
    """The networks that come with chatops, in the order people meet them: the adapters
    package's, then the web chat (the entry points say the same when the package is installed)."""
    try:
        from adapters import SHIPPED
    except ImportError:                          # the core alone, adapters not installed
        SHIPPED = {}
    return {**SHIPPED, "web": "chatops.networks:WEB"}


class Networks:
    """The networks this installation knows: built-ins and plugins, by name."""

    def __init__(self) -> None:
        self.known: dict[str, Network] = {}
        self.broken: dict[str, str] = {}
        shipped = _shipped()
        found: dict[str, str] = {}
        for name, path in entry_points(GROUP):
            if shipped.get(name, path) != path or found.get(name, path) != path:
                # A plugin that takes a taken name would replace how that network matches people
                # (who counts as alice): refused, as two commands claiming one word are.
                taken = shipped.get(name) or found[name]
                self.broken[f"{name} ({path})"] = f"the network name {name!r} is taken by {taken}; rename the plugin's"
                log.error("network plugin %s (%s) not loaded: the name is taken by %s", name, path, taken)
                continue
            found[name] = path
        for name, path in {**shipped, **found}.items():
            try:
                network = _load(path)
            except Exception as exc:            # a broken plugin never stops the hub
                log.error("network plugin %s (%s) cannot be loaded: %s: %s", name, path, type(exc).__name__, exc)
                self.broken[name] = f"{type(exc).__name__}: {exc}"
                continue
            if not isinstance(network, Network):
                self.broken[name] = f"{path} is not a chatops.networks.Network"
                log.error("network plugin %s: %s", name, self.broken[name])
                continue
            if network.name != name:
                # Registered under the name its entry point declares, or a plugin could name a
                # built-in network inside and replace it, and who counts as whom on it.
                self.broken[name] = (f"its Network is named {network.name!r}, its entry point {name!r}; "
                                     "give both the same name")
                log.error("network plugin %s (%s) not loaded: %s", name, path, self.broken[name])
                continue
            self.known[network.name] = network

    def get(self, name: str) -> Network | None:
        return self.known.get(name)

    def left_out(self, name: str, exc: BaseException, what: str) -> None:
        """Leave out network `name`, whose `what` (its settings schema, its adapter) raised on
        import: a broken plugin never stops the hub, and `status` and `chatops check` say why."""
        network = self.known.pop(name, None)
        self.broken[name] = masked(f"{what} failed to import: {type(exc).__name__}: {exc}")
        log.error("network plugin %s (%s) left out: %s", name, network.adapter if network else "?", self.broken[name])

    @property
    def names(self) -> list[str]:
        return sorted(self.known)


@functools.cache
def networks() -> Networks:
    """The registry, read once per process (entry points do not change while it runs)."""
    return Networks()


WEB = Network(name="web", adapter="chatops.web:WebChat", example="web:*",
              targets=lambda _user, _patterns: ["*"],
              identities="the web chat's user names (see `[web] user`)")
