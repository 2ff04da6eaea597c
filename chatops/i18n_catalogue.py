"""Building the translation catalogues with Babel: extract, update, compile, check.

Run `python -m chatops.i18n_catalogue` after changing a user-facing text: it extracts every
`_()`, `ngettext()`, `N_()`, `pgettext()` and `NP_()` of chatops/, commands/ and adapters/, and the
first docstring line of every command (what `help` shows), into chatops/locale/chatops.pot; merges
that into each language's .po (new texts arrive untranslated, gone ones are dropped); and compiles
the .mo files the hub reads. `--check` changes nothing and lists what is missing or stale (the
tests run it). Babel is a build tool here: the running hub needs only the compiled .mo.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from .i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("chatops", "commands", "adapters")
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "NP_": ((1, "c"), 2)}
TEMPLATE = LOCALE_DIR / f"{DOMAIN}.pot"


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def extract() -> object:
    """The template catalogue: every marked text of the sources and every command's help line."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    from .command import CommandSet

    catalog = Catalog(project="chatops", domain=DOMAIN, charset="utf-8")
    for folder in SOURCES:
        for filename, lineno, message, comments, context in extract_from_dir(
                ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, strip_comment_tags=True):
            if filename.endswith("i18n_catalogue.py"):
                continue
            catalog.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    for spec in CommandSet.from_modules().specs:
        if spec.help and spec.func.__module__.split(".")[0] in SOURCES:     # ours, not a plugin's
            catalog.add(spec.help, locations=[(f"command:{spec.name}", 0)])
    return catalog


def problems(language: str, template: object) -> list[str]:
    """What is wrong with `language`'s catalogue against `template`: missing texts, texts without a
    translation or marked fuzzy, a .mo older than its .po."""
    from babel.messages.pofile import read_po

    path = po_path(language)
    if not path.exists():
        return [f"{path.relative_to(ROOT)} does not exist"]
    with path.open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in template:                                  # type: ignore[attr-defined]
        if not message.id:
            continue
        known = catalog.get(message.id, message.context)
        if known is None:
            found.append(f"missing from {language}: {message.id!r}")
        elif known.fuzzy or not (all(known.string) if isinstance(known.string, tuple) else known.string):
            found.append(f"not translated in {language}: {message.id!r}")
    mo = path.with_suffix(".mo")
    if not mo.exists() or mo.read_bytes() != compiled(catalog):
        found.append(f"{mo.relative_to(ROOT)} is not compiled from its .po")
    return found


def compiled(catalog: object) -> bytes:
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)               # type: ignore[arg-type]
    return buffer.getvalue()


def build() -> None:
    """Write the template, merge it into every .po, compile every .mo."""
    from babel.messages.pofile import read_po, write_po

    template = extract()
    TEMPLATE.parent.mkdir(parents=True, exist_ok=True)
    with TEMPLATE.open("wb") as handle:
        write_po(handle, template, width=100, omit_header=False, sort_output=True)   # type: ignore[arg-type]
    for language in LANGUAGES:
        if language == "en":
            continue                                           # the source language
        path = po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            from babel.messages.catalog import Catalog
            catalog = Catalog(locale=language, domain=DOMAIN, project="chatops", charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)       # type: ignore[arg-type]
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=True, ignore_obsolete=True)
        with path.open("rb") as handle:                        # compiled from the file, as --check reads it
            path.with_suffix(".mo").write_bytes(compiled(read_po(handle)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list what is missing or stale")
    args = parser.parse_args(argv)
    if not args.check:
        build()
    template = extract()
    found = [p for language in LANGUAGES if language != "en" for p in problems(language, template)]
    for line in found:
        print(line)
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
