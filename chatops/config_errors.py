"""Config errors as a user can act on them: the key path, what is wrong, and a right value.

chatops.schema reports a location tuple and a message; this module walks that location through
the section models to find the field (for its example) or the table (for the keys it knows), so
`chatops check` can say `mqtt.port: ...; for example: port = 1883` instead of a bare list of
locations.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from .durations import format_duration, parse_duration
from .schema import Model, ValidationError
from .url_secrets import masked

def secret_keys(model: type[Model]) -> tuple[str, ...]:
    """The secrets a section takes: each KEY with KEY_env and KEY_file beside it, the convention
    every section follows (a plugin's too), so that no list in the core names them."""
    fields = model.model_fields
    return tuple(name[:-4] for name in fields if name.endswith("_env") and f"{name[:-4]}_file" in fields)


def _walk(model: type[Model], loc: tuple[Any, ...]) -> tuple[Any, Any]:
    """Follow an error location through the section models: (model reached, field of the last part).

    Keys of a dict of sections (`devices.salon`) and list indexes leave the model unchanged."""
    current: Any = model
    field_info = None
    for part in loc:
        field_info = None
        if isinstance(current, type) and issubclass(current, Model) and isinstance(part, str):
            fields = current.model_fields
            field_info = fields.get(part) or next((f for f in fields.values() if f.alias == part), None)
            if field_info is not None:
                current = _inner_model(field_info.annotation)
    return current, field_info


def _example_for(model: type[Model], loc: tuple[Any, ...]) -> str | None:
    """The first example of the field an error is about, if it has one."""
    _, field_info = _walk(model, loc)
    if field_info is None or not field_info.examples:
        return None
    example = str(field_info.examples[0])
    # Examples are written as TOML (`'"data"'`); a plugin's bare `/var/lib/x` is quoted, so the
    # fix shown can be pasted as it is.
    if re.fullmatch(r'["\'\[{].*|-?\d[\d._:eE+-]*|true|false', example, re.S):
        return example
    return '"' + example.replace("\\", "\\\\").replace('"', '\\"') + '"'



def _inner_model(annotation: Any) -> Any:
    for candidate in (annotation, *getattr(annotation, "__args__", ())):
        if isinstance(candidate, type) and issubclass(candidate, Model):
            return candidate
        for inner in getattr(candidate, "__args__", ()):
            if isinstance(inner, type) and issubclass(inner, Model):
                return inner
    return None


def format_errors(exc: ValidationError, model: type[Model], prefix: str = "", data: Any = None) -> list[str]:
    """One line per validation error: the key path as the user wrote it, what is wrong, what was
    given, and the field's example as the fix (or, for an unknown key, the keys known there).

    `data`, the document validated, lets an entry of a list of tables be named by its `name`
    as well as its index: in a file of twenty [[automations]], `automations[7]` is hard to find."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        path = _path(prefix, loc, data)
        if err["type"] == "extra_forbidden":
            known = _known_keys(model, loc[:-1])
            hint = f"; known keys here: {', '.join(known)}" if known else ""
            close = difflib.get_close_matches(str(loc[-1]) if loc else "", [k.split(" ")[0] for k in known], n=1)
            twin = next((k for k in known if f" (or {loc[-1]})" in k or k.startswith(f"{loc[-1]} (or ")), None) \
                if loc else None
            home = _section_of(model, loc) if not prefix else None
            if twin:                        # `topic` beside `state_topic`: one key under two names
                name, alias = twin.removesuffix(")").split(" (or ")
                hint = f"; {name} and {alias} are one key under two names: keep one of them"
            elif close and (home is None or len(loc) > 2):    # `topik`: the one meant, before the list of forty
                hint = f"; did you mean {close[0]!r}? Known keys here: {', '.join(known)}"
            elif home is not None:          # `name` under [mqtt]: [hub]'s exactly, not `username` roughly
                # `language = "fr"` added at the end of the file lands in its last table ([[automations]]).
                hint = (f"; {loc[-1]} is a key of [{home}]: a key belongs to the table whose header is above it, "
                        f"so move it under [{home}]")
            section, _field = _walk(model, loc[:-1])
            secret = str(loc[-1]) if loc and isinstance(section, type) and issubclass(section, Model) \
                and str(loc[-1]) in secret_keys(section) else None
            if secret:
                hint = (f"; secrets never go in config.toml: use {secret}_env = \"VAR\" "
                        f"or {secret}_file = \"/path\"")
            problems.append(f"{path or '(top level)'}: unknown key{hint}")
            continue
        shown = err.get("input")
        wrong_shape = _wrong_shape(model, loc, err["type"], shown, path)
        if wrong_shape is not None:
            problems.append(wrong_shape)
            continue
        message = err["msg"].removeprefix("Value error, ")
        got = ""
        if err["type"] in ("enum", "literal_error") and isinstance(shown, str):
            message = _not_one_of(shown, message)
        elif err["type"] != "missing" and not isinstance(shown, (dict, list)) \
                and not (isinstance(shown, str) and repr(shown) in message):
            got = f" (got {shown!r})"          # (a message that quotes the value already says it)
        if (limit := _duration_limit(model, loc, err["type"])) is not None and isinstance(shown, (int, float)):
            message, got = limit, f" (got {format_duration(float(shown))})"   # `10s`, not `10` and `1.0`
        example = _example_for(model, loc)
        fix = f"; for example: {loc[-1] if loc and isinstance(loc[-1], str) else 'value'} = {example}" \
            if example and "did you mean" not in message else ""
        problems.append(f"{path or '(top level)'}: {message}{got}{fix}")
    return [masked(problem) for problem in problems]     # a password in a URL is never echoed


def _section_of(model: type[Model], loc: tuple[Any, ...]) -> str | None:
    """The one top-level table (`hub`) that knows the key an error found elsewhere
    (`automations[2].language`); None when none or several do (`enabled`: which one?)."""
    if len(loc) < 2 or not isinstance(loc[-1], str):
        return None
    homes = [name for name, field_info in model.model_fields.items()
             if name != loc[0] and isinstance(field_info.annotation, type)
             and issubclass(field_info.annotation, Model) and loc[-1] in field_info.annotation.model_fields]
    return homes[0] if len(homes) == 1 else None


def _not_one_of(shown: str, message: str) -> str:
    """`'sensr' is not one of sensor, binary_sensor, ...; did you mean 'sensor'?` for a value
    outside a fixed list (the schema says "Input should be 'sensor', ..." and nothing of the typo)."""
    known = re.findall(r"'([^']*)'", message)
    close = difflib.get_close_matches(shown, known, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{shown!r} is not one of {', '.join(known)}{hint}"


def named_entry(key: str, index: int, name: object) -> str:
    """`automations[7] (soir)`: an entry of a list of tables by its index and, when it has one,
    its name, as every message about such an entry writes it."""
    return f"{key}[{index}]" + (f" ({name})" if isinstance(name, str) and name else "")


def _path(prefix: str, loc: tuple[Any, ...], data: Any) -> str:
    """The key path of an error as the user wrote it: `alerts[0] (smoke).repeat`."""
    path = prefix.rstrip(".")
    for i, part in enumerate(loc):
        if isinstance(part, int):
            data = data[part] if isinstance(data, list) and 0 <= part < len(data) else None
            path = named_entry(path, part, data.get("name") if isinstance(data, dict) else None)
        else:
            data = data.get(part) if isinstance(data, dict) else None
            path += f".{part}" if i or prefix else str(part)
    return path


_LIMIT_WORDS = {"greater_than": ("gt", "more than"), "greater_than_equal": ("ge", "at least"),
                "less_than": ("lt", "less than"), "less_than_equal": ("le", "at most")}


def _duration_limit(model: type[Model], loc: tuple[Any, ...], kind: str) -> str | None:
    """`must be at least 10s` for a duration key out of its limits: the validator's words give
    the bound in bare seconds, where the config writes `10s`."""
    _, field_info = _walk(model, loc)
    if kind not in _LIMIT_WORDS or field_info is None or not any(
            getattr(meta, "func", None) is parse_duration for meta in field_info.metadata):
        return None
    attribute, words = _LIMIT_WORDS[kind]
    bound = getattr(field_info, attribute, None)
    return None if bound is None else f"must be {words} {format_duration(float(bound))}"


def _wrong_shape(model: type[Model], loc: tuple[Any, ...], kind: str, given: Any, path: str) -> str | None:
    """What to write for a table written as a value, or a list of tables written as one table
    (`[alerts]` for `[[alerts]]`, the commonest slip of someone coming from another tool), or
    None for any other error. The validator's own words name classes and types, not TOML."""
    key = loc[-1] if loc and isinstance(loc[-1], str) else "key"
    current, field_info = _walk(model, loc)
    table = isinstance(current, type) and issubclass(current, Model)
    if kind == "dict_type" and table and isinstance(given, list) and getattr(
            field_info.annotation if field_info is not None else None, "__origin__", None) is dict:
        first = given[0].get("name") if given and isinstance(given[0], dict) else None
        example = first if isinstance(first, str) and re.fullmatch(r"[A-Za-z0-9_-]+", first) else "NAME"
        return (f"{path}: each entry is its own [{path}.NAME] table, named in its header, for example "
                f"[{path}.{example}]; a list of [[{path}]] tables is not read here "
                f"(known keys: {', '.join(_known_keys(model, loc))})")
    if kind == "list_type" and isinstance(given, dict):
        if table and field_info is not None:          # a list of tables: [[alerts]]
            return (f"{path}: each entry is its own [[{path}]] table, with double brackets "
                    f"(known keys: {', '.join(_known_keys(model, loc))})")
        return f'{path}: must be a list, not a table; for example: {key} = ["help", "temp"]' \
            if path.startswith("roles.") else f"{path}: must be a list, e.g. {key} = [...], not a table"
    if kind in ("model_type", "dict_type", "model_attributes_type") and table and not isinstance(given, dict):
        identities = ", and a list of identities per network: NETWORK = [...]" if path.startswith("users.") else ""
        return (f"{path}: must be a table, not {given!r}: write [{path}] on a line of its own, then its keys "
                f"(known keys: {', '.join(_known_keys(model, loc))}{identities})")
    return None


def toml_problem(message: str, text: str) -> str:
    """What is wrong in TOML that does not parse, as the person who edited it can fix it: a table
    declared twice (adding `[hub]` again at the end, as a guide says to set a key in it) names
    both lines; a key set twice, its line; anything else, the parser's words and where to look."""
    twice = re.fullmatch(r"Cannot declare \((.*)\) twice \(at line (\d+), column \d+\)", message)
    if twice:
        name = ".".join(part.strip().strip("'\"") for part in twice.group(1).split(",") if part.strip())
        second = int(twice.group(2))
        header = re.compile(rf"^\s*\[\s*{re.escape(name)}\s*\]\s*(#.*)?$")
        first = next((n for n, line in enumerate(text.splitlines(), 1) if n < second and header.match(line)), None)
        where = f"lines {first} and {second}" if first else f"line {second}"
        if first is None and re.search(rf"^\s*\[\[\s*{re.escape(name)}\s*\]\]", text, re.M):
            # `[alerts]` after `[[alerts]]` entries: a new entry of that list, written with one bracket.
            return f"line {second}: [{name}] after [[{name}]] entries: each entry of that list starts with [[{name}]]"
        return f"[{name}] appears twice ({where}): put the keys of the second into the first, and delete the second [{name}]"
    overwrite = re.fullmatch(r"Cannot overwrite a value \(at line (\d+), column \d+\)", message)
    if overwrite:
        line = int(overwrite.group(1))
        shown = text.splitlines()[line - 1].strip()[:60] if line <= len(text.splitlines()) else ""
        return f"line {line} ({shown}) sets a key that is already set in the same table: keep one of the two"
    return f"{message}; check quotes and brackets on that line"


def _known_keys(model: type[Model], loc: tuple[Any, ...]) -> list[str]:
    """The keys a table accepts, as users write them: a field with an alias accepts both
    (`topic (or state_topic)`), and the field's own name is the one the README uses."""
    current, _ = _walk(model, loc)
    if isinstance(current, type) and issubclass(current, Model):
        return [f"{n} (or {f.alias})" if f.alias and f.alias != n else n
                for n, f in current.model_fields.items() if not f.exclude]
    return []
