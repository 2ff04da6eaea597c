"""Phone numbers by each country's numbering plan (phonenumbers), as SMS senders and [users] entries."""

from __future__ import annotations

import pytest

from adapters.sms import Adapter, Settings
from adapters.sms_network import normalise_phone
from chatops.auth import Auth
from chatops.config import ConfigError, parse_settings
from chatops.message import Identity


@pytest.mark.parametrize(("written", "country", "e164"), [
    ("06 12 34 56 78", "+33", "+33612345678"),        # France drops the trunk 0
    ("06 12 34 56 78", "FR", "+33612345678"),
    ("0033 6 12 34 56 78", "FR", "+33612345678"),
    ("06 1234 5678", "+39", "+390612345678"),         # Italy keeps its 0 (Rome fixed line)
    ("06 1234 5678", "IT", "+390612345678"),
    ("347 123 4567", "IT", "+393471234567"),          # an Italian mobile has no 0
    ("07700 900123", "+44", "+447700900123"),         # the UK drops it
    ("07700 900123", "GB", "+447700900123"),
    ("(202) 555-0143", "+1", "+12025550143"),         # the US has none
    ("202-555-0143", "US", "+12025550143"),
    ("+33 6 12 34 56 78", "US", "+33612345678"),      # an international number ignores the default
])
def test_national_numbers_become_e164_by_the_country_rules(written: str, country: str, e164: str) -> None:
    assert normalise_phone(written, country) == e164


def test_the_old_rule_for_italy_is_gone() -> None:
    """The hand-written normaliser made +39612345678 of an Italian 06 number: another line."""
    assert normalise_phone("06 1234 5678", "+39") != "+39612345678"


@pytest.mark.parametrize("sender", ["Orange", "SFR", "Free Mobile", "INFO", "36179", "123"])
def test_alphanumeric_and_short_senders_are_no_number(sender: str) -> None:
    adapter = Adapter("sms", Settings(default_country="FR"))
    assert adapter.e164(sender) is None
    assert normalise_phone(sender, "FR") == sender      # never equal to a real number


@pytest.mark.parametrize(("country", "written", "e164"), [
    ("FR", "06 12 34 56 78", "+33612345678"),
    ("+39", "06 1234 5678", "+390612345678"),
    ("GB", "07700 900123", "+447700900123"),
    ("+1", "(202) 555-0143", "+12025550143"),
])
def test_the_sms_adapter_reads_numbers_with_its_country(country: str, written: str, e164: str) -> None:
    adapter = Adapter("sms", Settings(default_country=country))
    assert adapter.e164(written) == e164
    assert adapter.e164(e164) == e164


def test_a_user_written_nationally_is_matched_by_the_e164_sender() -> None:
    settings = parse_settings({"hub": {"default_country": "IT"}, "roles": {"guest": ["help"], "family": ["help"]},
                               "users": {"giulia": {"roles": ["family"], "sms": ["06 1234 5678"]}}})
    auth = Auth(settings)
    user = auth.user_for(Identity("sms", "+390612345678"))
    assert user is not None and user.name == "giulia"
    assert auth.user_for(Identity("sms", "+39612345678")) is None      # not the same line


def test_a_user_written_nationally_is_read_with_the_sms_adapters_country() -> None:
    """The modem is in Italy, the hub's default France: giulia's `06 1234 5678` is her Italian
    line, as the adapter reads the senders, not the French mobile the hub's default would make."""
    settings = parse_settings({"hub": {"default_country": "+33"}, "adapters": {"sms": {"default_country": "IT"}},
                               "roles": {"guest": ["help"], "family": ["help"]},
                               "users": {"giulia": {"roles": ["family"], "sms": ["06 1234 5678"]}}})
    auth = Auth(settings)
    user = auth.user_for(Identity("sms", "+390612345678"))
    assert user is not None and user.name == "giulia"
    assert auth.user_for(Identity("sms", "+33612345678")) is None


@pytest.mark.parametrize("value", ["FR", "fr", "+33", "+39", "IT", "GB", "+44", "US", "+1"])
def test_default_country_takes_a_region_or_a_calling_code(value: str) -> None:
    settings = parse_settings({"hub": {"default_country": value}, "adapters": {"sms": {"default_country": value}}})
    assert settings.hub.default_country == (value.upper() if value[0] != "+" else value)


@pytest.mark.parametrize("value", ["33", "XX", "+999", "France", "+0"])
def test_an_unknown_country_is_refused_with_the_key_named(value: str) -> None:
    with pytest.raises(ConfigError, match="default_country") as caught:
        parse_settings({"hub": {"default_country": value}})
    assert "pattern" not in caught.value.problems[0] and 'write e.g. "+33" or "FR"' in caught.value.problems[0]
    with pytest.raises(ConfigError, match="adapters.sms.default_country"):
        parse_settings({"adapters": {"sms": {"default_country": value}}})


def test_a_german_number_written_with_a_slash_is_accepted_and_matched() -> None:
    """`0171/1234567` is how Germans write a mobile: the config refused it as no phone number."""
    settings = parse_settings({"hub": {"default_country": "DE"}, "roles": {"guest": ["help"], "family": ["help"]},
                               "users": {"jonas": {"roles": ["family"], "sms": ["0171/1234567"]}}})
    user = Auth(settings).user_for(Identity("sms", "+491711234567"))
    assert user is not None and user.name == "jonas"
