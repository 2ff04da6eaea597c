"""What every config section is built from: the frozen Section base and the Duration type."""

from __future__ import annotations

from typing import Annotated

from .durations import parse_duration
from .schema import BeforeValidator, Model

# Every duration key of every section: "90s", "5m", "1h30m", "7d"; a bare number other than 0 is refused.
Duration = Annotated[float, BeforeValidator(parse_duration)]


class Section(Model):
    """Base of every config section: frozen, unknown keys are errors (chatops.schema)."""
