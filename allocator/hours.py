"""Hours as people write them: the one rule every face (API, CLI) applies.

An amount of hours is ASCII: digits, at most :data:`MAX_DECIMALS` (3) of them after a ``.``,
and a leading ``-`` where a signed amount is allowed (adjustments): ``12``, ``0.5``,
``-1.25``. Nothing else: no ``_`` (``1_000``), no other digit system (Arabic-Indic ``١``), no
surrounding spaces (``" 1 "``), no exponent (``1e3``), no ``+``, no ``,``. A JSON number is held
to the same rule through its shortest decimal form (``0.5`` yes, ``0.1234`` no). The amount
must also be a whole number of seconds of the pool's unit: ``0.005`` h (18 s) is fine, ``0.001``
h (3.6 s) is refused.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum

from allocator.model import MILLI, SECONDS_PER_HOUR
from allocator.rules import MAX_HOURS

MAX_DECIMALS = 3


class Sign(StrEnum):
    """Which amounts a field takes: positive (a grant), zero too (a partial approval's
    period), or signed (an adjustment)."""

    POSITIVE = "positive"
    ZERO_OR_MORE = "zero_or_more"
    SIGNED = "signed"


#: The shape of an amount (at most 3 decimals), as a regular expression.
PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,3})?$"
#: A signed amount.
SIGNED_PATTERN = r"^-?[0-9]{1,10}(\.[0-9]{1,3})?$"

# The amounts :func:`parse` accepts, as the API documents them (each an OpenAPI ``pattern``):
# no leading zero, at most MAX_HOURS, a whole number of seconds (a third decimal is 0 or 5:
# 0.005 h = 18 s). Leading zeros (``007``) are accepted but not documented.
_WHOLE = r"[1-9][0-9]{0,8}(\.[0-9]{1,2}|\.[0-9]{2}[05])?|1000000000(\.0{1,3})?"
_FRACTION = r"0\.([1-9][0-9]?|0[1-9]|[1-9][0-9][05]|0[1-9][05]|005)"
_ZERO = r"0(\.0{1,3})?"
#: Sign.POSITIVE, ZERO_OR_MORE and SIGNED (not zero: an adjustment) amounts written as strings.
STRICT_PATTERNS = {
    Sign.POSITIVE: f"^({_WHOLE}|{_FRACTION})$",
    Sign.ZERO_OR_MORE: f"^({_WHOLE}|{_FRACTION}|{_ZERO})$",
    Sign.SIGNED: f"^-?({_WHOLE}|{_FRACTION})$",
}
#: A JSON number of hours is a multiple of this (whole seconds, at most 3 decimals).
STEP = Decimal("0.005")

RULE = (
    "hours: ASCII digits with at most 3 decimals after a '.' (no '_', no spaces, no exponent,"
    " no other digit system), a whole number of seconds (0.005 h = 18 s; 0.001 h is refused);"
    " a JSON number or a string alike"
)

_FORM = re.compile(r"-?[0-9]+(\.[0-9]+)?", re.ASCII)


def written_form(value: object) -> str | None:
    """How ``value`` is written as a decimal: the string itself, an integer's digits, a float's
    shortest form; ``None`` for anything else (left to the type check)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, Decimal):
        return str(value)
    return None


def check_form(value: object) -> None:
    """Raise ``ValueError`` (with the reason) unless ``value`` is written as the rule says."""
    text = written_form(value)
    if text is None:
        return
    if _FORM.fullmatch(text) is None:
        raise ValueError(
            f"{text!r} is not written as hours: ASCII digits and one '.', no '_', spaces,"
            " exponent or other digit system"
        )
    decimals = text.partition(".")[2]
    if len(decimals) > MAX_DECIMALS:
        raise ValueError(f"{text!r} has more than {MAX_DECIMALS} decimals")


# --- amounts: hours <-> integer seconds -------------------------------------------------------

_MAX_DIGITS, _MAX_PLACES = 20, 6
WHOLE_SECONDS = "must be a whole number of seconds (0.005 h = 18 s is; 0.001 h = 3.6 s is not)"


def to_seconds(hours: Decimal) -> int:
    """Hours (validated as a whole number of seconds) as integer seconds."""
    return int((hours * SECONDS_PER_HOUR).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def signed_seconds(hours: Decimal) -> int:
    """Signed hours as signed integer seconds, exactly (rounded away from zero alike)."""
    return to_seconds(abs(hours)) * (1 if hours >= 0 else -1)


def to_milli(value: Decimal) -> int:
    """A factor (availability, over-commit, a rate) in thousandths."""
    return int((value * MILLI).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def in_hours(seconds: int) -> float:
    """Seconds as hours, to the millihour: how every answer shows an amount beside its seconds.
    Never a negative zero: -1 s is ``0.0`` h, not ``-0.0``."""
    return round(seconds / SECONDS_PER_HOUR, 3) + 0.0


def check_whole_seconds(hours: Decimal) -> Decimal:
    if hours * SECONDS_PER_HOUR != (hours * SECONDS_PER_HOUR).to_integral_value():
        raise ValueError(WHOLE_SECONDS)
    return hours


def parse(text: str, sign: Sign = Sign.POSITIVE) -> Decimal:
    """An amount of hours typed by a person: the API's checks in the API's order (decimal,
    finite, digits, bounds, whole seconds, then how it is written); ``ValueError`` naming the
    first one it fails, in the API's words."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError("Input should be a valid decimal") from None
    if not value.is_finite():
        raise ValueError("Input should be a finite number")
    _check_digits(value)
    _check_bounds(value, sign)
    check_whole_seconds(value)
    check_form(text)
    return value


def _check_digits(value: Decimal) -> None:
    _, digit_tuple, exponent = value.normalize().as_tuple()
    assert isinstance(exponent, int)  # finite
    if exponent >= 0:
        places, digits = 0, len(digit_tuple) + exponent
    else:
        places, digits = -exponent, max(len(digit_tuple), -exponent)
    if digits > _MAX_DIGITS:
        raise ValueError(f"Decimal input should have no more than {_MAX_DIGITS} digits in total")
    if places > _MAX_PLACES:
        raise ValueError(f"Decimal input should have no more than {_MAX_PLACES} decimal places")
    if digits - places > _MAX_DIGITS - _MAX_PLACES:
        whole = _MAX_DIGITS - _MAX_PLACES
        raise ValueError(
            f"Decimal input should have no more than {whole} digits before the decimal point"
        )


def _check_bounds(value: Decimal, sign: Sign) -> None:
    if sign is Sign.POSITIVE and not value > 0:
        raise ValueError("Input should be greater than 0")
    if sign is Sign.ZERO_OR_MORE and not value >= 0:
        raise ValueError("Input should be greater than or equal to 0")
    if sign is Sign.SIGNED and not value >= -MAX_HOURS:
        raise ValueError(f"Input should be greater than or equal to -{MAX_HOURS}")
    if not value <= MAX_HOURS:
        raise ValueError(f"Input should be less than or equal to {MAX_HOURS}")
