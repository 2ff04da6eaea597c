"""Typed, frozen records checked against their annotations: what config.toml needs, in 400 lines.

The hub validated its config with pydantic, which costs about 14 MiB of resident memory (its
import and the schemas it compiles) on a Raspberry Pi where the whole hub should fit in 38. The
config is read once, at start; this module checks it with plain Python from the same class
declarations (`name: str = Field("maison", min_length=1)`), keeps every problem, not the first
one, and words them as pydantic did, so `chatops check` says as much as before.

What it understands, and nothing more: str, int, float, bool, Path, Any, None, Literal, Enum,
`X | Y`, list, tuple, dict, nested models, `Annotated[T, BeforeValidator(f)]`; the constraints
gt, ge, lt, le, min_length, max_length, pattern; `field_validator` (before or after the type
check) and `model_validator(mode="after")`; unknown keys refused unless `model_config` says
`{"extra": "allow"}`. Models are frozen; `model_copy(update=...)` makes a changed copy.
"""

from __future__ import annotations

import enum
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterator


class _Missing:
    """The default of a required field."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
_INVALID: Any = _Missing()


class FieldInfo:
    """One field of a model: its type, default, limits, and the words the docs show."""

    __slots__ = ("annotation", "default", "default_factory", "alias", "description", "examples", "exclude",
                 "gt", "ge", "lt", "le", "min_length", "max_length", "pattern", "metadata", "_regex")

    def __init__(self, default: Any = MISSING, *, default_factory: Callable[[], Any] | None = None,
                 alias: str | None = None, description: str | None = None, examples: list[Any] | None = None,
                 exclude: bool = False, gt: float | None = None, ge: float | None = None, lt: float | None = None,
                 le: float | None = None, min_length: int | None = None, max_length: int | None = None,
                 pattern: str | None = None) -> None:
        self.annotation: Any = None
        self.default = default
        self.default_factory = default_factory
        self.alias = alias
        self.description = description
        self.examples = examples
        self.exclude = exclude
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le
        self.min_length, self.max_length = min_length, max_length
        self.pattern = pattern
        self.metadata: tuple[Any, ...] = ()
        self._regex = re.compile(pattern) if pattern is not None else None

    def is_required(self) -> bool:
        return self.default is MISSING and self.default_factory is None

    def default_value(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def Field(default: Any = MISSING, **options: Any) -> Any:  # noqa: N802 (reads like the type it describes)
    """A field's default and limits, written where the field is declared."""
    return FieldInfo(default, **options)


class BeforeValidator:
    """In `Annotated[T, BeforeValidator(f)]`: `f` turns the raw value into a T (or raises ValueError)."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


class _FieldCheck:
    def __init__(self, func: Any, names: tuple[str, ...], mode: str) -> None:
        self.func = func.__func__ if isinstance(func, classmethod) else func
        self.names, self.mode = names, mode


class _ModelCheck:
    def __init__(self, func: Callable[[Any], Any]) -> None:
        self.func = func


def field_validator(*names: str, mode: str = "after") -> Callable[[Any], Any]:
    """Decorates a classmethod `(cls, value) -> value` run on fields `names`; ValueError is the error."""
    if mode not in ("before", "after"):
        raise ValueError(f"field_validator mode {mode!r}: use 'before' or 'after'")
    return lambda func: _FieldCheck(func, names, mode)


def model_validator(*, mode: str = "after") -> Callable[[Any], Any]:
    """Decorates a method `(self) -> self` run once every field is valid; ValueError is the error."""
    if mode != "after":
        raise ValueError("only model_validator(mode='after') is supported")
    return _ModelCheck


class ValidationError(ValueError):
    """Every problem found in one document: `errors()` gives type, loc, msg and input of each."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        self.title = title
        self._errors = errors
        lines = [f"{len(errors)} validation error{'s' if len(errors) != 1 else ''} for {title}"]
        for err in errors:
            lines.append(".".join(str(p) for p in err["loc"]) or "(top level)")
            lines.append(f"  {err['msg']}")
        super().__init__("\n".join(lines))

    def errors(self) -> list[dict[str, Any]]:
        return list(self._errors)


class _Problems:
    """The errors of one validation, collected as they are found."""

    def __init__(self) -> None:
        self.errors: list[dict[str, Any]] = []

    def add(self, kind: str, loc: tuple[Any, ...], msg: str, value: Any) -> Any:
        self.errors.append({"type": kind, "loc": loc, "msg": msg, "input": value})
        return _INVALID


def _words(values: Any) -> str:
    """'a', 'b' or 'c'."""
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


class ModelMeta(type):
    """Gives every model class its `model_fields`, with annotations resolved on first use (so
    that a field may name a model declared further down the same module)."""

    @property
    def model_fields(cls) -> dict[str, FieldInfo]:
        resolved: dict[str, FieldInfo] | None = cls.__dict__.get("_resolved_fields")
        if resolved is None:
            resolved = cls._resolve()
        return resolved


class Model(metaclass=ModelMeta):
    """Base of a validated, frozen record; subclasses declare annotated fields."""

    model_config: ClassVar[dict[str, Any]] = {"extra": "forbid"}
    _declared: ClassVar[dict[str, FieldInfo]] = {}
    _field_checks: ClassVar[list[_FieldCheck]] = []
    _model_checks: ClassVar[list[Callable[[Any], Any]]] = []
    _local_names: ClassVar[dict[str, Any] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared: dict[str, FieldInfo] = {}
        field_checks: list[_FieldCheck] = []
        model_checks: list[Callable[[Any], Any]] = []
        for base in reversed(cls.__mro__[1:]):
            if isinstance(base, ModelMeta):
                declared.update(base.__dict__.get("_declared", {}))
                field_checks += base.__dict__.get("_field_checks", [])
                model_checks += base.__dict__.get("_model_checks", [])
        for name in cls.__dict__.get("__annotations__", {}):
            if name.startswith("_") or name == "model_config":
                continue
            value = cls.__dict__.get(name, MISSING)
            info = value if isinstance(value, FieldInfo) else FieldInfo(value)
            declared[name] = info
            if name in cls.__dict__:
                delattr(cls, name)
        for name, value in list(cls.__dict__.items()):
            if isinstance(value, _FieldCheck):
                field_checks.append(value)
                delattr(cls, name)
            elif isinstance(value, _ModelCheck):
                model_checks.append(value.func)
                delattr(cls, name)
        cls._declared, cls._field_checks, cls._model_checks = declared, field_checks, model_checks
        caller = sys._getframe(1)           # the code holding the class statement (type.__new__ is C)
        cls._local_names = dict(caller.f_locals) if caller.f_locals is not caller.f_globals else None
        unknown = {n for check in field_checks for n in check.names} - set(declared)
        if unknown:
            raise TypeError(f"{cls.__name__}: field_validator names unknown fields {sorted(unknown)}")

    @classmethod
    def _resolve(cls) -> dict[str, FieldInfo]:
        hints = typing.get_type_hints(cls, localns=cls.__dict__.get("_local_names"), include_extras=True)
        for name, info in cls._declared.items():
            annotation = hints[name]
            if typing.get_origin(annotation) is typing.Annotated:
                info.metadata = annotation.__metadata__
                annotation = annotation.__origin__
            info.annotation = annotation
        cls._resolved_fields = dict(cls._declared)
        return cls._resolved_fields

    # --- building ---

    def __init__(self, **values: Any) -> None:
        built = type(self).model_validate(values)
        object.__setattr__(self, "__dict__", built.__dict__)

    @classmethod
    def model_validate(cls, data: Any) -> Any:
        """A valid instance of `cls` from a dict (as tomllib reads it), or ValidationError listing
        every problem."""
        if isinstance(data, cls):
            return data
        problems = _Problems()
        built = _check(cls, data, (), problems)
        if problems.errors:
            raise ValidationError(cls.__name__, problems.errors)
        return built

    @classmethod
    def _build(cls, data: dict[str, Any], loc: tuple[Any, ...], problems: _Problems) -> Any:
        fields = cls.model_fields
        before = len(problems.errors)
        values: dict[str, Any] = {}
        used: set[str] = set()
        for name, info in fields.items():
            key = info.alias if info.alias is not None and info.alias in data else name
            if key not in data:
                if info.is_required():
                    problems.add("missing", loc + (info.alias or name,), "Field required", data)
                else:
                    default = info.default_value()
                    if isinstance(default, str) and any(isinstance(m, BeforeValidator) for m in info.metadata):
                        # `Field("1s")` on a Duration: seconds, as if the config had said it
                        default = cls._field(name, info, default, loc + (name,), problems)
                    values[name] = default
                continue
            used.add(key)
            values[name] = cls._field(name, info, data[key], loc + (key,), problems)
        extra = {k: v for k, v in data.items() if k not in used}
        if extra and cls.model_config.get("extra") != "allow":
            for key, value in extra.items():
                problems.add("extra_forbidden", loc + (key,), "Extra inputs are not permitted", value)
            extra = {}
        if len(problems.errors) > before:
            return _INVALID
        record = object.__new__(cls)
        values["__extra__"] = extra if cls.model_config.get("extra") == "allow" else None
        object.__setattr__(record, "__dict__", values)
        for check in cls._model_checks:
            try:
                record = check(record)
            except (ValueError, AssertionError) as exc:
                return problems.add("value_error", loc, f"Value error, {exc}", data)
        return record

    @classmethod
    def _field(cls, name: str, info: FieldInfo, value: Any, loc: tuple[Any, ...], problems: _Problems) -> Any:
        checks = [c for c in cls._field_checks if name in c.names]
        try:
            for check in checks:
                if check.mode == "before":
                    value = check.func(cls, value)
        except (ValueError, AssertionError) as exc:
            return problems.add("value_error", loc, f"Value error, {exc}", value)
        for meta in info.metadata:
            if isinstance(meta, BeforeValidator):
                try:
                    value = meta.func(value)
                except (ValueError, AssertionError) as exc:
                    return problems.add("value_error", loc, f"Value error, {exc}", value)
        value = _check(info.annotation, value, loc, problems)
        if value is _INVALID or not _within(info, value, loc, problems):
            return _INVALID
        try:
            for check in checks:
                if check.mode == "after":
                    value = check.func(cls, value)
        except (ValueError, AssertionError) as exc:
            return problems.add("value_error", loc, f"Value error, {exc}", value)
        return value

    # --- a frozen record ---

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use model_copy(update={{{name!r}: ...}})")

    def __getattr__(self, name: str) -> Any:
        """An extra key (`{"extra": "allow"}`) reads like a field."""
        extra = self.__dict__.get("__extra__") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n}={v!r}" for n, v in self._items())
        return f"{type(self).__name__}({shown})"

    def _items(self) -> Iterator[tuple[str, Any]]:
        for name in type(self).model_fields:
            yield name, self.__dict__[name]
        yield from (self.__dict__.get("__extra__") or {}).items()

    @property
    def model_extra(self) -> dict[str, Any] | None:
        """The keys a model with `{"extra": "allow"}` was given beyond its fields."""
        extra: dict[str, Any] | None = self.__dict__.get("__extra__")
        return extra

    def model_copy(self, update: dict[str, Any] | None = None) -> Any:
        """A copy with some fields replaced, not validated again (as for pydantic)."""
        record = object.__new__(type(self))
        object.__setattr__(record, "__dict__", {**self.__dict__, **(update or {})})
        return record


def _within(info: FieldInfo, value: Any, loc: tuple[Any, ...], problems: _Problems) -> bool:
    """Whether `value` keeps the field's limits; adds the error when it does not."""
    if value is None:
        return True
    before = len(problems.errors)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        for bound, kind, ok, words in ((info.gt, "greater_than", lambda b: value > b, "greater than"),
                                       (info.ge, "greater_than_equal", lambda b: value >= b,
                                        "greater than or equal to"),
                                       (info.lt, "less_than", lambda b: value < b, "less than"),
                                       (info.le, "less_than_equal", lambda b: value <= b,
                                        "less than or equal to")):
            if bound is not None and not ok(bound):
                problems.add(kind, loc, f"Input should be {words} {bound}", value)
                return False
    if isinstance(value, (str, list, tuple, dict)):
        what, unit = ("String", "character") if isinstance(value, str) else ("List", "item")
        after = "" if isinstance(value, str) else f" after validation, not {len(value)}"
        if info.min_length is not None and len(value) < info.min_length:
            problems.add("string_too_short" if what == "String" else "too_short", loc,
                         f"{what} should have at least {_plural(info.min_length, unit)}{after}", value)
        elif info.max_length is not None and len(value) > info.max_length:
            problems.add("string_too_long" if what == "String" else "too_long", loc,
                         f"{what} should have at most {_plural(info.max_length, unit)}{after}", value)
    if isinstance(value, str) and info._regex is not None and not info._regex.search(value):
        problems.add("string_pattern_mismatch", loc, f"String should match pattern '{info.pattern}'", value)
    return len(problems.errors) == before


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _check(annotation: Any, value: Any, loc: tuple[Any, ...], problems: _Problems) -> Any:
    """`value` as `annotation` (converted where a config would expect it), or _INVALID with the
    error added."""
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return value
    if annotation is None or annotation is type(None):
        return None if value is None else problems.add("none_required", loc, "Input should be None", value)
    if origin is typing.Annotated:
        for meta in annotation.__metadata__:
            if isinstance(meta, BeforeValidator):
                try:
                    value = meta.func(value)
                except (ValueError, AssertionError) as exc:
                    return problems.add("value_error", loc, f"Value error, {exc}", value)
        return _check(annotation.__origin__, value, loc, problems)
    if origin in (typing.Union, types.UnionType):
        return _check_union(typing.get_args(annotation), value, loc, problems)
    if origin is typing.Literal:
        choices = typing.get_args(annotation)
        if value in choices and not (isinstance(value, bool) and not any(c is value for c in choices)):
            return value
        return problems.add("literal_error", loc, f"Input should be {_words(choices)}", value)
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            return problems.add("list_type" if origin is list else "tuple_type", loc,
                                f"Input should be a valid {origin.__name__}", value)
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        item_type = args[0] if args else Any
        items = [_check(item_type, item, loc + (index,), problems) for index, item in enumerate(value)]
        if any(item is _INVALID for item in items):
            return _INVALID
        return items if origin is list else tuple(items)
    if origin is dict:
        if not isinstance(value, dict):
            return problems.add("dict_type", loc, "Input should be a valid dictionary", value)
        _, value_type = typing.get_args(annotation) or (str, Any)
        checked = {key: _check(value_type, item, loc + (key,), problems) for key, item in value.items()}
        return _INVALID if any(v is _INVALID for v in checked.values()) else checked
    if isinstance(annotation, type):
        return _check_class(annotation, value, loc, problems)
    raise TypeError(f"schema: cannot check values of type {annotation!r}")


def _check_union(members: tuple[Any, ...], value: Any, loc: tuple[Any, ...], problems: _Problems) -> Any:
    """The first member `value` is valid as; the errors of the likeliest member when none."""
    if value is None and type(None) in members:
        return None
    members = tuple(m for m in members if m is not type(None))
    attempts = []
    for member in members:
        trial = _Problems()
        checked = _check(member, value, loc, trial)
        if not trial.errors:
            return checked
        attempts.append((member, trial))
    tables = [t for m, t in attempts if isinstance(m, type) and issubclass(m, Model)]
    if len(attempts) == 1 or (isinstance(value, dict) and len(tables) == 1):
        chosen = attempts[0][1] if len(attempts) == 1 else tables[0]
        problems.errors.extend(chosen.errors)
        return _INVALID
    names = " or ".join(_kind_name(m) for m in members)
    return problems.add("union_error", loc, f"Input should be {names}", value)


def _kind_name(annotation: Any) -> str:
    if typing.get_origin(annotation) is typing.Literal:
        return _words(typing.get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, Model):
        return "a table"
    names = {bool: "a valid boolean", int: "a valid integer", float: "a valid number", str: "a valid string"}
    return names.get(annotation, f"a valid {getattr(annotation, '__name__', annotation)}")


def _check_class(kind: type, value: Any, loc: tuple[Any, ...], problems: _Problems) -> Any:
    if issubclass(kind, Model):
        if isinstance(value, kind):
            return value
        if not isinstance(value, dict):
            return problems.add("model_type", loc, f"Input should be a valid dictionary or instance of "
                                                   f"{kind.__name__}", value)
        return kind._build(value, loc, problems)
    if issubclass(kind, enum.Enum):
        try:
            return kind(value)
        except ValueError:
            return problems.add("enum", loc, f"Input should be {_words(m.value for m in kind)}", value)
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, (int, float)) and value in (0, 1):
            return bool(value)
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        return problems.add("bool_parsing", loc, "Input should be a valid boolean, unable to interpret input",
                            value)
    if kind is int:
        if isinstance(value, bool):
            return problems.add("int_type", loc, "Input should be a valid integer", value)
        if isinstance(value, int):
            return value
        if isinstance(value, float):
            if value.is_integer():
                return int(value)
            return problems.add("int_from_float", loc,
                                "Input should be a valid integer, got a number with a fractional part", value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                return problems.add("int_parsing", loc,
                                    "Input should be a valid integer, unable to parse string as an integer", value)
        return problems.add("int_type", loc, "Input should be a valid integer", value)
    if kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                return problems.add("float_parsing", loc,
                                    "Input should be a valid number, unable to parse string as a number", value)
        return problems.add("float_type", loc, "Input should be a valid number", value)
    if kind is str:
        if isinstance(value, str):
            return value
        return problems.add("string_type", loc, "Input should be a valid string", value)
    if issubclass(kind, Path):
        if isinstance(value, (str, Path)):
            return kind(value)
        return problems.add("path_type", loc, "Input is not a valid path", value)
    if isinstance(value, kind):
        return value
    return problems.add("is_instance_of", loc, f"Input should be an instance of {kind.__name__}", value)
