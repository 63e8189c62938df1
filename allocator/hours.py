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
from decimal import Decimal

MAX_DECIMALS = 3

#: A positive (or zero) amount, as a regular expression (also the OpenAPI ``pattern``).
PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,3})?$"
#: A signed amount.
SIGNED_PATTERN = r"^-?[0-9]{1,10}(\.[0-9]{1,3})?$"

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
