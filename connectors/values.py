"""Values every face parses alike, beyond hours and periods (``allocator.hours``,
``allocator.periods``): a statement import's column mapping, a decision's amount.

No framework here: the API, the CLI and the portal import it with their own
parameter parsing in front.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

from accounting.errors import StatementError
from accounting.statements import MAPPED_CSV, NATIONAL_CSV, SREPORT, ColumnMapping
from allocator.errors import InvalidInput
from allocator.hours import signed_seconds

#: An id people type (a chair's, a project's, a user's): letters, digits and ``_.@-``, at most
#: 64 characters, starting with a letter or a digit.
SLUG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"
SLUG_MAX = 64


def is_slug(value: str) -> bool:
    return len(value) <= SLUG_MAX and re.fullmatch(SLUG_PATTERN, value) is not None


#: The formats of a statement file, as both faces name them.
STATEMENT_FORMATS = (NATIONAL_CSV, SREPORT, MAPPED_CSV)
#: The fields a ``mapped-csv`` import may map (``map_<field>``), in the order they are named.
MAPPED_FIELDS = ("account", "gpu_seconds", "hours", "units_hours", "gpu_type", "period")

_MAPPING = re.compile(r"column mapping: (\w+) names an empty column")


def column_mapping(
    fmt: str, columns: Mapping[str, str | None], delimiter: str | None
) -> ColumnMapping | None:
    """The mapping a ``mapped-csv`` import declares (``columns``: our field -> the file's
    column); refused, naming the ``map_<field>`` parameter, when incomplete or given for
    another format."""
    columns = dict(columns)
    given = [f"map_{k}" for k, v in columns.items() if v is not None]
    if delimiter is not None:
        given.append("delimiter")
    if fmt != MAPPED_CSV:
        if given:
            raise InvalidInput(given[0], f"only for the {MAPPED_CSV} format")
        return None
    account = columns.pop("account")
    if account is None:
        raise InvalidInput("map_account", f"a {MAPPED_CSV} import names its account column")
    try:
        return ColumnMapping(account, delimiter=delimiter, **columns)
    except StatementError as exc:
        reason = exc.message.removeprefix("column mapping: ")
        raise InvalidInput(_field_of(exc.message), reason) from None


def _field_of(message: str) -> str:
    if m := _MAPPING.match(message):
        return f"map_{m.group(1)}"
    if "separator" in message:
        return "delimiter"
    if "not both" in message:
        return "map_hours"
    return "map_gpu_seconds"


def decision_amount(action: str, hours: Decimal) -> int:
    """The signed seconds a decision moves, exactly (``hours`` validated as whole seconds):
    none for an acceptance, some for an adjustment."""
    amount = signed_seconds(hours)
    if action == "accept" and amount:
        raise InvalidInput("hours", "an acceptance moves no hours: leave hours out (or 0)")
    if action == "adjust" and not amount:
        raise InvalidInput("hours", "an adjustment needs a non-zero signed number of hours")
    return amount
