"""What every config section is built from: the frozen Section base and the Duration type."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from .durations import parse_config_duration

# Every duration key of every section: "90s", "5m", "1h30m", "7d"; a bare number other than 0 is refused.
Duration = Annotated[float, BeforeValidator(parse_config_duration)]


class Section(BaseModel):
    """Base of every config section: frozen, unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
