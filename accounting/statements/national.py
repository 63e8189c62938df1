"""The national centre's CSV (format in :mod:`accounting.statements`)."""

from __future__ import annotations

from accounting.charging import UTC_QUARTERS
from accounting.errors import StatementError
from accounting.statements.cells import Columns, cell_amount, cell_text, refuse_duplicate
from accounting.statements.model import (
    NATIONAL_CSV,
    SECONDS_PER_HOUR,
    Statement,
    StatementLine,
    make_statement,
    require_period,
)
from accounting.statements.table import Table, decode, read_csv
from allocator.periods import Calendar

_NATIONAL_HEADER = ("project_account", "hardware", "period", "hours_consumed", "normalised_hours")


def _national_columns(table: Table) -> Columns:
    """The header must be exactly the five columns (any order, case and spaces ignored)."""
    indices: dict[str, int] = {}
    expected = ", ".join(_NATIONAL_HEADER)
    for index, name in enumerate(table.header):
        canonical = name.lower()
        if canonical not in _NATIONAL_HEADER:
            raise StatementError(
                f"unexpected column (the header is {expected})", line=table.header_line, column=name
            )
        if canonical in indices:
            raise StatementError("repeated column", line=table.header_line, column=name)
        indices[canonical] = index
    for name in _NATIONAL_HEADER:
        if name not in indices:
            raise StatementError(
                f"missing column (the header is {expected})", line=table.header_line, column=name
            )
    return Columns(table.header, indices)


def parse_national_csv(
    data: bytes, *, period: str, file_name: str, calendar: Calendar = UTC_QUARTERS
) -> Statement:
    """Parse a national-centre CSV statement of ``period`` (format in the module docstring)."""
    require_period(period, calendar)
    table = read_csv(decode(data), delimiters=(",", ";"), delimiter=None)
    columns = _national_columns(table)
    decimal_comma = table.delimiter != ","
    lines: list[StatementLine] = []
    seen: dict[tuple[str, ...], int] = {}
    for row in table.rows():
        account = cell_text(row, columns, "project_account")
        hardware = cell_text(row, columns, "hardware").lower()
        if (row_period := cell_text(row, columns, "period")) != period:
            raise row.error(columns.spelled("period"), f"period {row_period!r} is not {period}")
        gpu_seconds = cell_amount(row, columns, "hours_consumed", SECONDS_PER_HOUR, decimal_comma)
        units = cell_amount(row, columns, "normalised_hours", SECONDS_PER_HOUR, decimal_comma)
        where = columns.spelled("project_account")
        refuse_duplicate(seen, (account, hardware), row, where, "project_account and hardware")
        lines.append(StatementLine(row.line, account, hardware, period, gpu_seconds, units))
    return make_statement(NATIONAL_CSV, file_name, data, period, lines)
