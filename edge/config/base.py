"""Building blocks shared by every config section."""
from __future__ import annotations

import math
import unicodedata
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from ..i18n import _



class Section(BaseModel):
    """Every config model: unknown keys are errors, values are checked on assignment too.

    No value may be infinite or NaN, and no text may hold control characters or lone surrogates:
    such values validate nowhere and break far from the config (a timeout of inf, a site name
    that cannot be encoded into an incident)."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)
    # fields whose text may span lines (spoken prompts written as YAML block scalars)
    MULTILINE_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after", check_fields=False)
    @classmethod
    def _plain_values(cls, value: Any, info: ValidationInfo) -> Any:
        check_plain(value, multiline=info.field_name in cls.MULTILINE_FIELDS)
        return value


_ALLOWED_CONTROLS = {False: frozenset(), True: frozenset("\n\t")}
MAX_DEPTH = 32


def check_plain(value: Any, *, multiline: bool = False, _depth: int = 0) -> None:
    """Raise ValueError for a non-finite number or unusable text anywhere inside `value`."""
    if _depth > MAX_DEPTH:
        raise ValueError(_("nested too deeply"))
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(_("must be a finite number, got {value}").format(value=value))
    if isinstance(value, str):
        check_text(value, multiline=multiline)
    elif isinstance(value, dict):
        for k, v in value.items():
            check_plain(k, _depth=_depth + 1)
            check_plain(v, multiline=multiline, _depth=_depth + 1)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_plain(v, multiline=multiline, _depth=_depth + 1)
    elif isinstance(value, BaseModel):
        return  # a nested section checked its own fields


def check_text(text: str, *, multiline: bool = False) -> str:
    allowed = _ALLOWED_CONTROLS[multiline]
    for i, ch in enumerate(text):
        if "\ud800" <= ch <= "\udfff":
            raise ValueError(_("holds a broken character (a lone surrogate {code}) at position {pos}: "
                               "retype the text").format(code=f"U+{ord(ch):04X}", pos=i + 1))
        if unicodedata.category(ch) == "Cc" and ch not in allowed:
            raise ValueError(_("holds a control character ({code}) at position {pos}: "
                               "remove it").format(code=f"U+{ord(ch):04X}", pos=i + 1))
    return text



DAY_S = 86400.0
# durations: a day at most unless a field says otherwise (a timeout of 1e300 s overflows the C library)
NonNegSeconds = Annotated[float, Field(ge=0, le=DAY_S)]
PosSeconds = Annotated[float, Field(gt=0, le=DAY_S)]


def seconds(default: float, *, high: float, zero_ok: bool = False) -> Any:
    """A duration field with its own upper bound (Annotated bounds cannot be tightened per field)."""
    return Field(default, ge=0, le=high) if zero_ok else Field(default, gt=0, le=high)

Point = tuple[float, float]


def _polygon(points: list[Point]) -> list[Point]:
    if len(points) < 3:
        raise ValueError(_("needs at least 3 points"))
    return points


Polygon = Annotated[list[Point], AfterValidator(_polygon)]

# messages.PATTERN_WORDS says it in words; a subset of contract.PLATFORM_ID_PATTERN (what the platform takes)
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
