"""The API's value types: slugs, period labels, hours, aware times, and the strict input base.

Hours follow ``allocator.hours`` (the one rule every face applies); the conversions to and from
integer seconds are the core's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)

from allocator import hours as hours_rule
from allocator.hours import in_hours as hours
from allocator.hours import to_milli, to_seconds
from allocator.rules import MAX_HOURS

__all__ = ["hours", "to_milli", "to_seconds"]

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
#: The shape of a period label of any scheme; the use cases accept only the site's scheme
#: (``GPUHOURS_PERIOD_SCHEME``), within a few years of today, and refuse the rest with a 422
#: naming the field, the scheme and an example.
PERIOD_PATTERN = r"^\d{4}(Q[1-4]|-(0[1-9]|1[0-2]))?$"
PERIOD_DOC = (
    "a period of the site's scheme (GPUHOURS_PERIOD_SCHEME): 2026Q3 (quarter, the default),"
    " 2026-07 (month) or 2026 (year), at most 5 years from the current one"
)
#: What an answer's ``unit`` says.
UNIT_DOC = (
    "the pool's unit (gpu-hour, normalised-gpu-hour, ...): every *_seconds amount of this object"
    " is integer seconds of it, every *_hours amount the same in hours (to the millihour)"
)
PeriodLabel = Annotated[str, Field(pattern=PERIOD_PATTERN, max_length=7, description=PERIOD_DOC)]


def _written_as_hours(value: Any, handler: ValidatorFunctionWrapHandler) -> Decimal:
    """The value's checks (bounds, whole seconds) first, then how it is written
    (``allocator.hours``: ASCII, at most 3 decimals)."""
    result: Decimal = handler(value)
    hours_rule.check_form(value)
    return result


def _hours_schema(pattern: str, minimum: dict[str, int]) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", **minimum, "maximum": MAX_HOURS},
                {"type": "string", "pattern": pattern},
            ],
            "description": hours_rule.RULE,
        }
    )


Hours = Annotated[
    Decimal,
    Field(gt=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.PATTERN, {"exclusiveMinimum": 0}),
]
SignedHours = Annotated[
    Decimal,
    Field(ge=-MAX_HOURS, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.SIGNED_PATTERN, {"minimum": -MAX_HOURS}),
]
#: Hours that may be zero (a partial approval granting nothing for one period).
HoursOrZero = Annotated[
    Decimal,
    Field(ge=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.PATTERN, {"minimum": 0}),
]
TypeAdapterHours: TypeAdapter[Decimal] = TypeAdapter(Hours)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


#: An aware datetime, converted to UTC here (a year-9999 time at -05:00 has no UTC equivalent).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Factor = Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=3)]


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if _has_nul(value):
            raise ValueError("must not contain NUL (\\x00) characters")
        return value
