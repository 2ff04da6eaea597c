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


class Auth:
    """Maps identities to configured users and users to the commands their roles grant."""

    def __init__(self, settings: Settings) -> None:
        self._roles = settings.roles
        self._settings = settings
        self.default_grants = expand_roles(settings.roles, [settings.hub.default_role])
        self.users = {name: User(name, expand_roles(settings.roles, u.roles), u)
                      for name, u in settings.users.items()}
        self._known: dict[Identity, User | None] = {}
        self._shared: dict[Identity, tuple[str, ...]] = {}    # senders several users' patterns take

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
            self._shared.clear()
        self._known[identity] = found
        return found

    def _closest(self, identity: Identity) -> User | None:
        """The user behind `identity`, or None. Two users' patterns may both take it (bob's
        household `*!*@10.0.0.5` and alice's `alice!~alice@10.0.0.5`): it is then neither, a
        stranger with the default role, and the log says so. Not the "closer" pattern (the nick
        and user parts of an IRC mask are whatever a client says: anyone at that address could
        become alice by picking her nick), nor the one with fewer grants (fewer is not less:
        `switch` alone is more than six read commands). The fix is patterns of one's own (an
        `account:`, a host no one else shares)."""
        found = [user for user in self.users.values()
                 if any(self.matches(identity, p) for p in user.settings.patterns(identity.network))]
        if len(found) > 1:
            log.warning("%s matches users %s: taken for neither (a stranger, with the default role); give each "
                        "person patterns no one else's take", identity, ", ".join(u.name for u in found))
            self._shared[identity] = tuple(u.name for u in found)
            return None
        return found[0] if found else None

    def shared_by(self, identity: Identity) -> tuple[str, ...]:
        """The users whose patterns all take `identity`, when there are several (it is then
        none of them): said in a refusal and by whoami, not only in the log. Asked after
        `user_for`."""
        return self._shared.get(identity, ())

    def matches(self, identity: Identity, pattern: str) -> bool:
        """Whether `identity` is the one a `[users]` pattern of its network names (the network's
        own rule; a network no plugin describes compares ids, ignoring case, `*` allowed)."""
        network = networks().get(identity.network)
        try:
            return (network or _ANY).matches(identity, pattern, self._settings)
        except Exception as exc:         # a plugin's bug: the sender got no answer at all, nothing audited
            log.error("network %s: matches() failed on %s against %r (%s: %s); the sender is taken for a "
                      "stranger", identity.network, identity.id[:80], pattern, type(exc).__name__, exc)
            return False

    def grants_for(self, user: User | None) -> frozenset[str]:
        return user.grants if user else self.default_grants
