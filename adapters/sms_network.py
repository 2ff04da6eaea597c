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


E164 = re.compile(r"^\+[1-9]\d{5,14}$")


def e164(number: str, country: str) -> str | None:
    """`number` in E.164 (`country` applied to one written without its own), or None for what
    is no phone number there: an alphanumeric sender (`Orange`), `06123456789` in France (a digit
    too many)."""
    if not re.search(r"\d", number or ""):
        return None
    normal = normalise_phone(number, country)
    return normal if E164.match(normal) else None


def number_problem(user: str, pattern: str, country: str) -> str | None:
    """Why `[users.USER] sms = [PATTERN]` names nobody for a modem in `country` (no sender is
    ever recognised by it, no SMS to it goes out), with the fix: the international form; None
    when it is a phone number. The one rule both `chatops check` and the adapter's start apply."""
    if e164(pattern, country) is not None:
        return None
    return (f"users.{user}.sms: {pattern!r} is no phone number in {country}: {user} is never recognised by it, "
            f"and SMS to it fail; write it in the international form, e.g. {example_number(country)} (+ and the "
            f"country code, then the number)")


def example_number(country: str) -> str:
    """A mobile number of `country` in E.164, for messages that show the form to write."""
    import phonenumbers

    example = phonenumbers.example_number_for_type(phone_region(country), phonenumbers.PhoneNumberType.MOBILE)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164) if example else "+33612345678"


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


NETWORK = Network(name="sms", adapter="adapters.sms:Adapter", settings="adapters.sms_settings:Settings", extra="sms",
                  requires=("gammu",),
                  example="sms:+33612345678", identity_problem=identity_problem, matches=matches,
                  address_problem=address_problem, canonical=canonical, pictures=False,
                  identities="phone numbers (E.164, or national with `[adapters.sms] default_country`, "
                             "itself `[hub] default_country` by default)",
                  about="See [networks/sms.md](networks/sms.md).")
