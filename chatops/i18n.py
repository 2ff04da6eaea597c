"""The language a user reads: gettext catalogues and locale-aware numbers.

The language is a context variable, set where a message enters (the user's `language`, else
`[hub] language`) and where an alert is rendered for one recipient. asyncio copies the context
into every task it starts, so a handler and everything it calls speak the asker's language
without passing it along, and two users answering at once never see each other's language.

Catalogues are compiled with Babel (`scripts/i18n`) and ship in the package as
`chatops/locale/<lang>/LC_MESSAGES/chatops.mo`; at run time only the standard `gettext` reads them.
"""

from __future__ import annotations

import contextlib
import functools
import gettext
import importlib.util
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar, Token
from pathlib import Path

DOMAIN = "chatops"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
_DECIMAL_COMMA = {"fr"}

_language: ContextVar[str] = ContextVar("chatops_language", default=DEFAULT_LANGUAGE)


@functools.cache
def catalogue(language: str) -> gettext.NullTranslations:
    """The compiled catalogue of `language` (English, the source language, needs none)."""
    return gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[language], fallback=True)


def _(message: str) -> str:
    """`message` in the current language."""
    return catalogue(_language.get()).gettext(message)


CORE_PACKAGES = ("chatops", "commands", "adapters")     # their texts are in the catalogue above


def plugin_locale_dir(package: str) -> Path | None:
    """`PACKAGE/locale`, where an installed plugin keeps its catalogue; None when not installed."""
    found = importlib.util.find_spec(package)
    return Path(found.origin).parent / "locale" if found is not None and found.origin else None


@functools.cache
def translator(module: str) -> Callable[[str], str]:
    """The `_` of a plugin's module (`_ = translator(__name__)`): its own catalogue first,
    `locale/<lang>/LC_MESSAGES/<package>.mo` in its top-level package (built with
    `python -m chatops.i18n_catalogue --plugin PACKAGE`), then the hub's, in the current
    language. A plugin translates its texts without a line in the core's catalogue; the core's
    own modules get `_` itself."""
    package = module.split(".")[0]
    if package in CORE_PACKAGES:
        return _
    folder = plugin_locale_dir(package)

    @functools.cache
    def plugin_catalogue(language: str) -> gettext.NullTranslations | None:
        if folder is None:
            return None
        try:
            return gettext.translation(package, localedir=folder, languages=[language])
        except OSError:                    # no catalogue for this language: the hub's, or English
            return None

    def translate(message: str) -> str:
        language = _language.get()
        own = plugin_catalogue(language)
        text = own.gettext(message) if own is not None else message
        return text if text != message else catalogue(language).gettext(message)
    return translate


def ngettext(singular: str, plural: str, count: int) -> str:
    """The singular or plural form for `count`, in the current language."""
    return catalogue(_language.get()).ngettext(singular, plural, count)


def pgettext(context: str, message: str) -> str:
    """`message` in the current language, where the same English word means another thing
    elsewhere (a thermostat's mode `off` is not a lamp's state `off`)."""
    return catalogue(_language.get()).pgettext(context, message)


def N_(message: str) -> str:
    """Mark `message` for the catalogue without translating it now (a constant translated when shown)."""
    return message


def NP_(context: str, message: str) -> str:
    """Mark `message` in `context` for the catalogue (see pgettext) without translating it now."""
    return message


def current_language() -> str:
    return _language.get()


def set_language(language: str) -> Token[str]:
    """Speak `language` from here on in this context; give the token to `reset_language`."""
    return _language.set(language)


def reset_language(token: Token[str]) -> None:
    try:
        _language.reset(token)
    except ValueError:          # an async generator closed from another context: nothing to undo there
        pass


@contextlib.contextmanager
def speaking(language: str | None) -> Iterator[None]:
    """Render everything inside in `language` (None keeps the current one)."""
    if not language:
        yield
        return
    token = _language.set(language)
    try:
        yield
    finally:
        _language.reset(token)


_FIRST_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")      # `Aucun`, `L'état`


def mid_sentence(sentence: str, names: Iterable[str] = ()) -> str:
    """`sentence` as it reads after a colon (`Non programmé : aucun appareil…`): its first word in
    lower case, as French typography wants and English allows. An acronym (`MQTT`) and a name
    among `names` (a device labelled `Kitchen Light`) keep their capitals."""
    word = _FIRST_WORD.match(sentence)
    if word is None or not (word.group()[0].isupper() and word.group()[1:].islower()):
        return sentence
    if any(name and sentence.startswith(name) for name in names):
        return sentence
    return sentence[0].lower() + sentence[1:]


def format_number(value: float, decimals: int = 1) -> str:
    """`20.5` in English, `20,5` in French, with `decimals` digits after the separator."""
    text = f"{value:.{decimals}f}" if abs(value) < 10000 else f"{value:g}"
    return text.replace(".", ",") if _language.get() in _DECIMAL_COMMA else text


# A number on its own, not the digits of a key such as `DS18B20` or `pm25`.
_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.(\d+))?(?:[eE][-+]?\d+)?(?![\w.])")


@functools.lru_cache(maxsize=512)
def reported_decimals(raw: str, value: object) -> int | None:
    """How many decimals the device wrote `value` with in its payload (`21` -> 0, `19.25` -> 2),
    so that a reading is shown as precisely as it was reported; None when it cannot be told.
    Cached: `temp salon` asked a thousand times reads the same payload (bench.throughput)."""
    if not isinstance(value, float) or isinstance(value, bool):
        return None
    for match in _NUMBER.finditer(raw):
        try:
            if float(match.group()) == value:
                return min(len(match.group(1) or ""), 4)
        except ValueError:
            continue
    # Not in this payload (a thermostat's partial update kept the temperature from an earlier
    # one): as many decimals as the number holds, so 26.25 is not shown 26.2 beside an alert's 26.25.
    fraction = repr(value).partition(".")[2]
    return min(len(fraction), 4) if fraction.isdigit() and fraction != "0" else None


def format_count(count: int) -> str:
    """`1,447` in English, `1 447` in French (a narrow no-break space groups the thousands)."""
    text = f"{count:,}"
    return text.replace(",", "\u202f") if _language.get() in _DECIMAL_COMMA else text
