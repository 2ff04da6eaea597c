"""Building the translation catalogues with Babel: extract, update, compile, check.

Run `python -m chatops.i18n_catalogue` after changing a user-facing text: it extracts every
`_()`, `ngettext()`, `N_()`, `pgettext()` and `NP_()` of chatops/, commands/ and adapters/, and the
first docstring line of every command (what `help` shows), into chatops/locale/chatops.pot; merges
that into each language's .po (new texts arrive untranslated, gone ones are dropped); and compiles
the .mo files the hub reads. `--check` changes nothing and lists what is missing or stale (the
tests run it). Babel is a build tool here: the running hub needs only the compiled .mo.

`--plugin PACKAGE [--language fr]` does the same for an installed plugin's own catalogue, in
its package: `PACKAGE/locale/PACKAGE.pot` and `PACKAGE/locale/<lang>/LC_MESSAGES/PACKAGE.po|.mo`,
which its `_ = chatops.i18n.translator(__name__)` reads (docs/plugins.md).
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from .i18n import CORE_PACKAGES, DOMAIN, LANGUAGES, LOCALE_DIR, plugin_locale_dir

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2), "NP_": ((1, "c"), 2)}


@dataclass(frozen=True)
class Project:
    """One catalogue: the hub's, or a plugin's."""

    domain: str
    root: Path                      # the folder holding the source packages
    sources: tuple[str, ...]        # top-level packages whose texts and command help it holds
    locale_dir: Path
    languages: tuple[str, ...]      # the translated ones (English is the source)

    @property
    def template(self) -> Path:
        return self.locale_dir / f"{self.domain}.pot"

    def po_path(self, language: str) -> Path:
        return self.locale_dir / language / "LC_MESSAGES" / f"{self.domain}.po"

    def shown(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


CORE = Project(DOMAIN, ROOT, CORE_PACKAGES, LOCALE_DIR, tuple(lang for lang in LANGUAGES if lang != "en"))
TEMPLATE = CORE.template


def po_path(language: str) -> Path:
    return CORE.po_path(language)


def plugin_project(package: str, languages: list[str]) -> Project:
    """The catalogue of the installed plugin `package`: the languages it has, and `languages`."""
    locale = plugin_locale_dir(package)
    if locale is None:
        raise SystemExit(f"no installed package {package!r} (pip install it first)")
    folder = locale.parent
    existing = sorted(p.name for p in locale.iterdir() if (p / "LC_MESSAGES").is_dir()) if locale.is_dir() else []
    chosen = tuple(dict.fromkeys([*existing, *languages]))
    if not chosen:
        raise SystemExit(f"{package} has no catalogue yet: say which language with --language fr")
    return Project(package, folder.parent, (package,), locale, chosen)


def installed_copy(folder: Path) -> bool:
    """Whether `folder` is inside site-packages or dist-packages (a plain install), where a
    catalogue written would not be in the plugin author's sources."""
    return any(part in ("site-packages", "dist-packages") for part in folder.resolve().parts)


def extract(project: Project = CORE) -> object:
    """The template catalogue: every marked text of the sources and every command's help line."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    from .command import CommandSet

    catalog = Catalog(project=project.domain, domain=project.domain, charset="utf-8")
    for folder in project.sources:
        for filename, lineno, message, comments, context in extract_from_dir(
                project.root / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, strip_comment_tags=True):
            if filename.endswith("i18n_catalogue.py"):
                continue
            catalog.add(message, locations=[(f"{folder}/{filename}", lineno)], auto_comments=comments,
                        context=context)
    for spec in CommandSet.from_modules().specs:
        if spec.help and spec.func.__module__.split(".")[0] in project.sources:     # this project's commands only
            catalog.add(spec.help, locations=[(f"command:{spec.name}", 0)])
    return catalog


def problems(language: str, template: object, project: Project = CORE) -> list[str]:
    """What is wrong with `language`'s catalogue against `template`: missing texts, texts without a
    translation or marked fuzzy, a .mo older than its .po."""
    from babel.messages.pofile import read_po

    path = project.po_path(language)
    if not path.exists():
        return [f"{project.shown(path)} does not exist"]
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
        found.append(f"{project.shown(mo)} is not compiled from its .po")
    return found


def compiled(catalog: object) -> bytes:
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)               # type: ignore[arg-type]
    return buffer.getvalue()


def build(project: Project = CORE) -> None:
    """Write the template, merge it into every .po, compile every .mo."""
    from babel.messages.pofile import read_po, write_po

    template = extract(project)
    project.template.parent.mkdir(parents=True, exist_ok=True)
    with project.template.open("wb") as handle:
        write_po(handle, template, width=100, omit_header=False, sort_output=True)   # type: ignore[arg-type]
    for language in project.languages:
        path = project.po_path(language)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as handle:
                catalog = read_po(handle, locale=language)
        else:
            from babel.messages.catalog import Catalog
            catalog = Catalog(locale=language, domain=project.domain, project=project.domain, charset="utf-8")
        catalog.update(template, no_fuzzy_matching=True)       # type: ignore[arg-type]
        with path.open("wb") as handle:
            write_po(handle, catalog, width=100, sort_output=True, ignore_obsolete=True)
        with path.open("rb") as handle:                        # compiled from the file, as --check reads it
            path.with_suffix(".mo").write_bytes(compiled(read_po(handle)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; list what is missing or stale")
    parser.add_argument("--plugin", metavar="PACKAGE", help="an installed plugin's own catalogue, in its package")
    parser.add_argument("--language", action="append", default=[], metavar="LANG",
                        help="with --plugin: a language to start a catalogue for (fr, de...)")
    args = parser.parse_args(argv)
    project = plugin_project(args.plugin, args.language) if args.plugin else CORE
    if args.plugin and not args.check and installed_copy(project.root):
        # A plain `pip install`: the catalogue would be written into the installed copy, and
        # lost at the next install, while the sources it belongs with stay without it.
        print(f"{args.plugin} is imported from {project.root} (an installed copy, not your sources): install it "
              f"with `pip install -e YOUR_SOURCE_FOLDER` and run this again, so the catalogue is written beside "
              f"your code", file=sys.stderr)
        return 2
    if not args.check:
        build(project)
    template = extract(project)
    found = [p for language in project.languages for p in problems(language, template, project)]
    for line in found:
        print(line)
    return 1 if args.check and found else 0


if __name__ == "__main__":
    sys.exit(main())
