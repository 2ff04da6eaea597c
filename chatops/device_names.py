"""How people say a device's name around the name itself: an article (`le volet`, `l'entrée`),
a plural (`ferme les volets`), the word before a value (`règle le thermostat à 21`, `set
thermostat to 21`), `de` inside it (`le volet du salon` for `volet salon`). Names are compared
folded (chatops.auth.fold: no case, no accents)."""

from __future__ import annotations

import re
from typing import Any

from .auth import fold

ARTICLES = ("le", "la", "les", "l'", "l’", "du", "des", "au", "aux", "de", "the")
# `le volet`, `l'entrée`, with de/à folded in (`du salon`, `de la chambre`, `au salon`), `the lamp`
_ARTICLE = re.compile(r"^(?:(?:de )?l['’] ?|d['’] ?|(?:de la|du|des|au|aux|le|la|les|de|the) )(?=\S)", re.IGNORECASE)
_BEFORE_A_VALUE = re.compile(r"(?<=\S) (?:a|au|to|sur)$")          # `thermostat à`: fold makes à a
_PLURAL = re.compile(r"(?<=[^s])[sx]$")                               # `volets`, `rideaux` -> volet, rideau
# `volet du salon`, `lampe de la chambre`: French joins the parts of a name (`volet salon`) with de.
_INNER_DE = re.compile(r"(?<=\S) (?:de la |de l['’] ?|du |des |de |d['’] ?)(?=\S)")


def spoken_forms(key: str) -> list[str]:
    """The folded name `key` as written, then without what people put around a name, then in
    the singular: the forms to look up, in that order (the name itself always wins)."""
    bare = _BEFORE_A_VALUE.sub("", _ARTICLE.sub("", key, count=1), count=1)
    joined = _INNER_DE.sub(" ", bare)
    forms = (bare, _PLURAL.sub("", bare), *((joined, _PLURAL.sub("", joined)) if joined != bare else ()))
    return [key, *(form for form in forms if form != key)]


def unspoken(name: str) -> str:
    """`name` as typed without the article before it (`la lamp`: lamp, `the lamp`: lamp): what an
    answer echoes of a name that names no device, rather than blame the article."""
    return _ARTICLE.sub("", name, count=1)


def _names(device: Any) -> list[str]:
    """The names a house knows `device` (a chatops.home.Device) by, as written: its name, its
    label, its aliases, its name with spaces."""
    s = device.settings
    return [word for word in (device.name, s.label or "", *s.aliases, device.name.replace("_", " ")) if word]


def called(device: Any, said: str) -> str:
    """The name or alias of `device` the asker said (`le chauffage`: chauffage), else its name:
    the one a hint repeats (`dites éteins chauffage`, not the config's `heater`)."""
    forms = spoken_forms(fold(" ".join(said.split())))
    return next((w for w in _names(device) if fold(w) in forms), device.name)


def names_of(device: Any) -> set[str]:
    """The folded names `find` knows `device` by (`_names`)."""
    return {fold(word) for word in _names(device)}
