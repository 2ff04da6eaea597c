"""SMS as the core sees it: phone numbers in `[users]` and alert addresses, compared in E.164 by
each country's own numbering plan (phonenumbers), with the hub's `default_country` for numbers
written without one. An SMS sender can be forged: the adapter says so in its capabilities and
users with a PIN word must give it."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from chatops.message import Identity
from chatops.networks import Network

if TYPE_CHECKING:
    from chatops.config import Settings


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


def identity_problem(pattern: str) -> str | None:
    if not re.fullmatch(r"\+?[\d ()./-]{6,20}", pattern):       # 0171/1234567 is how Germans write it
        return f"{pattern!r} is not a phone number; write \"+33612345678\" or \"06 12 34 56 78\""
    return None


def users_country(settings: Settings) -> str:
    """The country of `[users] sms` numbers written without one: the SMS adapter's own
    `default_country` (its modem's SIM is where the senders are read), `[hub] default_country`
    when it sets none, or when two modems set different ones (then only E.164 is unambiguous)."""
    countries = {getattr(section, "default_country", None) or settings.hub.default_country
                 for _, kind, section in settings.adapter_sections if kind == "sms" and section.enabled is not False}
    return countries.pop() if len(countries) == 1 else settings.hub.default_country


def matches(identity: Identity, pattern: str, settings: Settings) -> bool:
    country = users_country(settings)
    return normalise_phone(pattern, country) == normalise_phone(identity.id, country)


def canonical(pattern: str, settings: Settings) -> str:
    """The number as senders are compared (E.164), so that two users cannot both hold it written
    two ways; without phonenumbers (no sms extra), its digits."""
    try:
        return normalise_phone(pattern, users_country(settings))
    except ImportError:
        return re.sub(r"[^\d+]", "", pattern)


def address_problem(target: str) -> str | None:
    return None if identity_problem(target) is None else "not a phone number; write sms:+33612345678"


NETWORK = Network(name="sms", adapter="adapters.sms:Adapter", settings="adapters.sms:Settings", extra="sms",
                  requires=("gammu",),
                  example="sms:+33612345678", identity_problem=identity_problem, matches=matches,
                  address_problem=address_problem, canonical=canonical,
                  identities="phone numbers (E.164, or national with `[adapters.sms] default_country`, "
                             "itself `[hub] default_country` by default)",
                  about="See [networks/sms.md](networks/sms.md).")
