"""Who is who across networks and what each role may run (how fast: chatops.rate)."""

from __future__ import annotations

import functools
import logging
import unicodedata
from dataclasses import dataclass

from .config import Settings, UserSettings
from .message import Identity
from .networks import Network, networks

_ANY = Network(name="*", adapter="")
log = logging.getLogger(__name__)


KNOWN_IDENTITIES = 4096         # identities whose user (or none) is remembered


@dataclass(frozen=True, slots=True)
class User:
    """A configured person: their name, granted commands and identities."""

    name: str
    grants: frozenset[str]
    settings: UserSettings

    def may(self, permission: str) -> bool:
        return "*" in self.grants or permission in self.grants




@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Case- and accent-insensitive form used for every name lookup (`Température` -> `temperature`)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def expand_roles(roles: dict[str, list[str]], wanted: list[str]) -> frozenset[str]:
    """Commands granted by `wanted` roles; a role may include another role by name."""
    grants: set[str] = set()
    seen: set[str] = set()
    stack = list(wanted)
    while stack:
        role = stack.pop()
        if role in seen:
            continue
        seen.add(role)
        for grant in roles.get(role, []):
            if grant in roles:
                stack.append(grant)
            else:
                grants.add(grant)
    return frozenset(grants)


def _wildness(pattern: str) -> int:
    """How much of a pattern is left open (`*`, `?`): fewer is closer to one person."""
    return pattern.count("*") + pattern.count("?")


class Auth:
    """Maps identities to configured users and users to the commands their roles grant."""

    def __init__(self, settings: Settings) -> None:
        self._roles = settings.roles
        self._settings = settings
        self.default_grants = expand_roles(settings.roles, [settings.hub.default_role])
        self.users = {name: User(name, expand_roles(settings.roles, u.roles), u)
                      for name, u in settings.users.items()}
        self._known: dict[Identity, User | None] = {}

    def language_of(self, user: User | str | None) -> str:
        """What `user` (a User, a user name, or None for a stranger) reads: theirs, else the hub's."""
        if isinstance(user, str):
            user = self.users.get(user)
        own = user.settings.language if user is not None else None
        return own or self._settings.hub.language

    def user_for(self, identity: Identity) -> User | None:
        """The configured user behind `identity`, or None (untrusted identities never match).

        Remembered per identity (the config does not change while the hub runs): a line asks it
        several times, and matching walks every user's patterns (profiled: ~45 µs a call)."""
        if not identity.trusted:
            return None
        try:
            return self._known[identity]
        except KeyError:
            pass
        found = self._closest(identity)
        if len(self._known) >= KNOWN_IDENTITIES:
            self._known.clear()             # a stranger cycling through ids costs memory never more than this
        self._known[identity] = found
        return found

    def _closest(self, identity: Identity) -> User | None:
        """The user whose pattern names `identity` most closely: `alice!~alice@10.0.0.5` is
        alice's even when bob's `*!*@10.0.0.5` (the whole house) also takes it, whatever the
        order of the file. Equally close patterns of two users: the first, and a warning."""
        ranked = sorted(((_wildness(p), index, user) for index, user in enumerate(self.users.values())
                         for p in user.settings.patterns(identity.network) if self.matches(identity, p)),
                        key=lambda entry: entry[:2])
        if not ranked:
            return None
        best = ranked[0]
        if len(ranked) > 1 and ranked[1][0] == best[0] and ranked[1][2] is not best[2]:
            log.warning("%s matches users %s and %s as closely; taken for %s: give them distinct patterns",
                        identity, best[2].name, ranked[1][2].name, best[2].name)
        return best[2]

    def matches(self, identity: Identity, pattern: str) -> bool:
        """Whether `identity` is the one a `[users]` pattern of its network names (the network's
        own rule; a network no plugin describes compares ids, ignoring case, `*` allowed)."""
        network = networks().get(identity.network)
        return (network or _ANY).matches(identity, pattern, self._settings)

    def grants_for(self, user: User | None) -> frozenset[str]:
        return user.grants if user else self.default_grants
