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

from accounting.statements import SEPARATOR_PATTERN
from allocator import hours as hours_rule
from allocator.hours import in_hours as hours
from allocator.hours import to_milli, to_seconds
from allocator.rules import MAX_HOURS
from connectors.values import SLUG_MAX, SLUG_PATTERN

__all__ = ["hours", "to_milli", "to_seconds"]

Slug = Annotated[str, Field(min_length=1, max_length=SLUG_MAX, pattern=SLUG_PATTERN)]
#: A new pool's id: a slug without '@' (``allocator.rules.check_pool_definition``).
PoolId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
#: The shape of a period label of any scheme; the use cases accept only the site's scheme
#: (``GPUHOURS_PERIOD_SCHEME``), within a few years of today, and refuse the rest with a 422
#: naming the field, the scheme and an example.
#: A text with something in it: one character that is not white space (as ``str.strip``
#: reads it: Unicode's White_Space and the four ASCII separators ``\x1c``-``\x1f``).
NOT_BLANK = r"[^\s\x1c-\x1f]"

#: A statement's file name: no control character.
FILE_NAME_PATTERN = r"^[^\x00-\x1f\x7f]*$"

#: What a refusal says, instead of quoting the pattern, for the patterns people meet.
PATTERN_WORDS = {
    NOT_BLANK: "must not be blank",
    FILE_NAME_PATTERN: "must not contain control characters",
    SEPARATOR_PATTERN: "must be one tab, space or ASCII punctuation mark but the quote",
}

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


def hours_json_schema(sign: hours_rule.Sign) -> dict[str, Any]:
    """The amounts the API accepts for a field of ``sign`` (``allocator.hours``: bounds, whole
    seconds, at most 3 decimals), as a JSON number or a string."""
    bounds: dict[hours_rule.Sign, dict[str, Any]] = {
        hours_rule.Sign.POSITIVE: {"exclusiveMinimum": 0, "maximum": MAX_HOURS},
        hours_rule.Sign.ZERO_OR_MORE: {"minimum": 0, "maximum": MAX_HOURS},
        hours_rule.Sign.SIGNED: {"minimum": -MAX_HOURS, "maximum": MAX_HOURS, "not": {"const": 0}},
    }
    step = float(hours_rule.STEP)
    return {
        "anyOf": [
            {"type": "number", "multipleOf": step, **bounds[sign]},
            {"type": "string", "pattern": hours_rule.STRICT_PATTERNS[sign]},
        ],
        "description": hours_rule.RULE,
    }


def _hours_schema(sign: hours_rule.Sign) -> WithJsonSchema:
    return WithJsonSchema(hours_json_schema(sign))


Hours = Annotated[
    Decimal,
    Field(gt=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.Sign.POSITIVE),
]
#: Signed hours, not zero (an adjustment: the use case refuses zero).
SignedHours = Annotated[
    Decimal,
    Field(ge=-MAX_HOURS, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.Sign.SIGNED),
]
#: Hours that may be zero (a partial approval granting nothing for one period).
HoursOrZero = Annotated[
    Decimal,
    Field(ge=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(hours_rule.check_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.Sign.ZERO_OR_MORE),
]
TypeAdapterHours: TypeAdapter[Decimal] = TypeAdapter(Hours)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


#: An aware datetime, converted to UTC here (a year-9999 time at -05:00 has no UTC equivalent).
UtcDatetime = Annotated[
    AwareDatetime,
    AfterValidator(_utc),
    Field(
        description="an ISO 8601 time with its offset, which once converted to UTC lies in"
        " years 1 to 9999"
    ),
]


def decimal(
    places: int, low: int, high: int, *, above_low: bool = False, make: Any = Field, **more: Any
) -> Any:
    """A decimal within ``[low, high]`` (``(low, high]`` if ``above_low``) with at most
    ``places`` decimals, declared once for validation and for the document: a JSON number, a
    multiple of ``10**-places`` (a numeric string is read too, but not documented). ``make``:
    ``Field`` (a body's), or FastAPI's ``Query`` (with ``more``, e.g. its default)."""
    documented: dict[str, Any] = {
        "type": "number",
        "multipleOf": float(Decimal(1).scaleb(-places)),
        "exclusiveMinimum" if above_low else "minimum": low,
        "maximum": high,
    }

    if isinstance(more.get("default"), Decimal):  # pydantic would write it as a string
        value = more["default"]
        integral = value == value.to_integral_value()
        documented["default"] = int(value) if integral else float(value)

    def document(schema: dict[str, Any]) -> None:
        schema.pop("anyOf", None)
        schema.update(documented)

    low_bound = {"gt": low} if above_low else {"ge": low}
    digits = {"le": high, "max_digits": 12, "decimal_places": places}
    return make(**low_bound, **digits, json_schema_extra=document, **more)


Factor = Annotated[Decimal, decimal(3, 0, 1000, above_low=True)]


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


def when(field: str, value: str, then: dict[str, Any]) -> dict[str, Any]:
    """A rule of the document (JSON Schema ``if``/``then``): ``then`` holds when ``field`` is
    ``value``."""
    return {"if": {"properties": {field: {"const": value}}, "required": [field]}, "then": then}


def rules(*conditions: dict[str, Any], described: str = "") -> ConfigDict:
    """A model's ``model_config``: the rules between its fields the API checks, stated in
    the document (``conditions``) and, for those a schema cannot state, in words."""

    def document(schema: dict[str, Any]) -> None:
        if conditions:
            schema["allOf"] = list(conditions)
        if described:
            schema["description"] = described

    return ConfigDict(json_schema_extra=document)
