"""Who is who across networks and what each role may run (how fast: chatops.rate)."""

from __future__ import annotations

import fnmatch
import functools
import unicodedata
from dataclasses import dataclass

from .config import Settings, UserSettings
from .message import Identity


@dataclass(frozen=True, slots=True)
class User:
    """A configured person: their name, granted commands and identities."""

    name: str
    grants: frozenset[str]
    settings: UserSettings

    def may(self, permission: str) -> bool:
        return "*" in self.grants or permission in self.grants


def normalise_phone(number: str, default_country: str = "+33") -> str:
    """E.164 form of a phone number, by each country's own numbering plan (phonenumbers):
    `06 12 34 56 78` in France is `+33612345678`, `06 1234 5678` in Italy keeps its 0
    (`+390612345678`). `default_country` is a region code (`FR`) or a calling code (`+33`).
    What is no possible phone number (an alphanumeric sender such as `Orange`, a short code)
    comes back stripped but otherwise as it was, so it never equals a real number."""
    import phonenumbers     # only once a phone number is compared (SMS): small footprint otherwise

    region = phone_region(default_country)
    for candidate in (number, "+" + number.strip()[2:] if number.strip().startswith("00") else None):
        if candidate is None:
            continue
        try:
            parsed = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return number.strip()


def phone_region(country: str) -> str:
    """The region code (`FR`) of a `default_country` given as a region code or a calling code
    (`+33`; `+1` is the US, `+44` the UK: the main region of a shared calling code)."""
    import phonenumbers

    text = country.strip()
    if text.startswith("+") and text[1:].isdigit():
        return str(phonenumbers.region_code_for_country_code(int(text[1:])))
    return text.upper()


def irc_nick(pattern: str) -> str | None:
    """The nick an IRC `[users]` pattern names (`account:alice` and `alice!*@home.example` both
    name `alice`), or None when its nick part has wildcards: then it names no one to write to."""
    nick = pattern[8:] if pattern.startswith("account:") else pattern.split("!", 1)[0]
    return nick if nick and not any(c in nick for c in "*?") else None


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
        self._default_country = settings.hub.default_country
        self.default_grants = expand_roles(settings.roles, [settings.hub.default_role])
        self.users = {name: User(name, expand_roles(settings.roles, u.roles), u)
                      for name, u in settings.users.items()}

    def user_for(self, identity: Identity) -> User | None:
        """The configured user behind `identity`, or None (untrusted identities never match)."""
        if not identity.trusted:
            return None
        for user in self.users.values():
            if any(self.matches(identity, p) for p in user.settings.patterns(identity.network)):
                return user
        return None

    def matches(self, identity: Identity, pattern: str) -> bool:
        """Whether `identity` is the one a `[users]` pattern of its network names."""
        network = identity.network
        if network == "irc":
            if pattern.startswith("account:"):
                return identity.account is not None and \
                    identity.account.casefold() == pattern[8:].casefold()
            return fnmatch.fnmatchcase(identity.id.casefold(), pattern.casefold()) \
                if "!" in identity.id else False
        if network == "sms":
            return normalise_phone(pattern, self._default_country) == \
                normalise_phone(identity.id, self._default_country)
        if network == "xmpp":
            return identity.id.casefold() == pattern.casefold().split("/")[0]
        return fnmatch.fnmatchcase(identity.id.casefold(), pattern.casefold())

    def grants_for(self, user: User | None) -> frozenset[str]:
        return user.grants if user else self.default_grants
