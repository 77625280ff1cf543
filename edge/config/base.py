"""Building blocks shared by every config section."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|min|h)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0, None: 1.0}


class Section(BaseModel):
    """Every config model: unknown keys are errors, values are checked on assignment too."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def parse_duration(value: object) -> float:
    """Seconds from a number or a string such as `500ms`, `10s`, `2min`, `1h`."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10, 10s, 500ms or 2min")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        m = _DURATION.match(value)
        if m:
            return float(m.group(1)) * _UNIT_S[m.group(2)]
    raise ValueError(f"expected a duration such as 10, 10s, 500ms or 2min, got {value!r}")


NonNegSeconds = Annotated[float, Field(ge=0)]
PosSeconds = Annotated[float, Field(gt=0)]
Point = tuple[float, float]


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError("needs at least 3 points")
    return points


Polygon = Annotated[list[Point], AfterValidator(_polygon)]

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
