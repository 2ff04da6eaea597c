"""chatops.schema, the config validator that replaced pydantic: what it accepts, converts and
refuses, and that it reports every problem of a document at once."""

from __future__ import annotations

import subprocess
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import pytest

from chatops.schema import BeforeValidator, Field, Model, ValidationError, field_validator, model_validator


class Colour(str, Enum):
    RED = "red"
    BLUE = "blue"


class Room(Model):
    jid: str
    nick: str | None = Field(None, min_length=1, max_length=8)


def _seconds(value: Any) -> float:
    if isinstance(value, str) and value.endswith("s"):
        return float(value[:-1])
    raise ValueError(f"{value!r} is not a duration; write e.g. \"30s\"")


class Sample(Model):
    name: str = Field(pattern=r"^[a-z]+$", examples=['"lamp"'])
    port: int = Field(1883, ge=1, le=65535)
    ratio: float = Field(0.5, gt=0, lt=1)
    on: bool = True
    path: Path = Path("data")
    language: Literal["en", "fr"] = "en"
    colour: Colour = Colour.RED
    wait: Annotated[float, BeforeValidator(_seconds)] = 10.0
    later_wait: Annotated[float, BeforeValidator(_seconds)] = Field("90s")
    tags: list[str] = Field(default_factory=list, max_length=2)
    rooms: list[str | Room] = Field(default_factory=list)
    limits: dict[str, int] = Field(default_factory=dict)
    topic: str | None = Field(None, alias="state_topic")
    later: Later | None = None

    @field_validator("tags", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return value.split(",") if isinstance(value, str) else value

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value == "hub":
            raise ValueError("hub is reserved")
        return value

    @model_validator(mode="after")
    def _check(self) -> Sample:
        if self.language == "fr" and self.colour is Colour.BLUE:
            raise ValueError("no blue in French here")
        return self


class Later(Model):
    """Declared after the model that names it: annotations are resolved on first use."""
    depth: int = 0


def _errors(data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    with pytest.raises(ValidationError) as caught:
        Sample.model_validate(data)
    return [(e["loc"], e["msg"]) for e in caught.value.errors()]


def test_values_are_converted_as_a_config_would_expect() -> None:
    s = Sample.model_validate({"name": "lamp", "port": "1884", "ratio": 0.25, "on": "yes", "path": "/var/x",
                               "colour": "blue", "wait": "3s", "tags": "a,b", "state_topic": "z/x",
                               "rooms": ["r@c", {"jid": "s@c", "nick": "m"}], "limits": {"a": 1},
                               "later": {"depth": 2}})
    assert (s.port, s.on, s.path, s.colour, s.wait, s.tags, s.topic) == \
        (1884, True, Path("/var/x"), Colour.BLUE, 3.0, ["a", "b"], "z/x")
    assert s.rooms == ["r@c", Room(jid="s@c", nick="m")]
    assert s.later == Later(depth=2)
    assert Sample.model_validate({"name": "x"}).tags == []          # a fresh default each time
    assert Sample.model_validate({"name": "x"}).later_wait == 90.0    # Field("90s") on a Duration: seconds too


def test_every_problem_is_reported_with_its_location_and_pydantics_words() -> None:
    errors = _errors({"port": 0, "ratio": 1, "on": "maybe", "language": "de", "colour": "green",
                      "wait": 5, "tags": ["a", "b", "c"], "rooms": [7, {"jid": 1}], "limits": {"a": "x"},
                      "extra": 1})
    assert errors == [
        (("name",), "Field required"),
        (("port",), "Input should be greater than or equal to 1"),
        (("ratio",), "Input should be less than 1"),
        (("on",), "Input should be a valid boolean, unable to interpret input"),
        (("language",), "Input should be 'en' or 'fr'"),
        (("colour",), "Input should be 'red' or 'blue'"),
        (("wait",), "Value error, 5 is not a duration; write e.g. \"30s\""),
        (("tags",), "List should have at most 2 items after validation, not 3"),
        (("rooms", 0), "Input should be a valid string or a table"),
        (("rooms", 1, "jid"), "Input should be a valid string"),
        (("limits", "a"), "Input should be a valid integer, unable to parse string as an integer"),
        (("extra",), "Extra inputs are not permitted"),
    ]


def test_validators_speak_after_the_types_are_right() -> None:
    assert _errors({"name": "Lamp"}) == [(("name",), "String should match pattern '^[a-z]+$'")]
    assert _errors({"name": "hub"}) == [(("name",), "Value error, hub is reserved")]
    assert _errors({"name": "x", "language": "fr", "colour": "blue"}) == [((), "Value error, no blue in French here")]
    assert _errors({"name": "x", "rooms": [{"jid": "r", "nick": "much too long"}]}) == \
        [(("rooms", 0, "nick"), "String should have at most 8 characters")]


def test_records_are_frozen_and_copied_with_changes() -> None:
    s = Sample(name="lamp")
    with pytest.raises(AttributeError, match="frozen"):
        s.port = 1                                                   # type: ignore[misc]
    t = s.model_copy(update={"port": 2})
    assert (s.port, t.port, t.name) == (1883, 2, "lamp")
    assert s == Sample(name="lamp") and s != t


def test_extra_keys_are_kept_when_the_model_allows_them() -> None:
    class Person(Model):
        model_config = {"extra": "allow"}
        roles: list[str] = Field(default_factory=list)

    bob = Person.model_validate({"roles": ["family"], "irc": ["bob"]})
    assert bob.model_extra == {"irc": ["bob"]} and bob.irc == ["bob"]   # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        bob.xmpp                                                      # type: ignore[attr-defined]


def test_fields_describe_themselves_for_the_reference() -> None:
    fields = Sample.model_fields
    assert fields["topic"].alias == "state_topic" and fields["name"].examples == ['"lamp"']
    assert fields["name"].is_required() and not fields["port"].is_required()
    assert fields["wait"].annotation is float and isinstance(fields["wait"].metadata[0], BeforeValidator)


def test_the_hub_runs_without_pydantic() -> None:
    """Reading the shipped config and loading the hub imports no pydantic (it cost 12 MiB)."""
    code = ("import sys; from pathlib import Path; from chatops.config import load_settings; "
            "load_settings(Path('config.toml')); import chatops.hub, chatops.router; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
