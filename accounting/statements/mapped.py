"""Any CSV through a declared column mapping (format in :mod:`accounting.statements`)."""

from __future__ import annotations

from accounting.charging import UTC_QUARTERS
from accounting.statements.cells import cell_amount, cell_text, refuse_duplicate, required_columns
from accounting.statements.model import (
    MAPPED_CSV,
    SECONDS_PER_HOUR,
    ColumnMapping,
    Statement,
    StatementLine,
    make_statement,
    require_period,
)
from accounting.statements.table import decode, read_csv
from allocator.periods import Calendar


def parse_mapped_csv(
    data: bytes,
    *,
    period: str,
    file_name: str,
    mapping: ColumnMapping,
    calendar: Calendar = UTC_QUARTERS,
) -> Statement:
    """Parse any CSV whose columns ``mapping`` declares; unmapped columns are ignored."""
    require_period(period, calendar)
    separators = (",", ";", "\t", "|")
    table = read_csv(decode(data), delimiters=separators, delimiter=mapping.delimiter)
    optional = (mapping.gpu_type, mapping.period, mapping.gpu_seconds, mapping.hours)
    wanted = [name for name in (*optional, mapping.units_hours) if name is not None]
    columns = required_columns(table, [mapping.account, *wanted])
    decimal_comma = table.delimiter != ","
    lines: list[StatementLine] = []
    seen: dict[tuple[str, ...], int] = {}
    for row in table.rows():
        account = cell_text(row, columns, mapping.account)
        gpu_type = cell_text(row, columns, mapping.gpu_type) if mapping.gpu_type else ""
        if (
            mapping.period is not None
            and (got := cell_text(row, columns, mapping.period)) != period
        ):
            raise row.error(mapping.period, f"period {got!r} is not {period}")
        gpu_seconds: int | None = None
        if mapping.gpu_seconds is not None:
            gpu_seconds = cell_amount(row, columns, mapping.gpu_seconds, 1, decimal_comma)
        elif mapping.hours is not None:
            gpu_seconds = cell_amount(row, columns, mapping.hours, SECONDS_PER_HOUR, decimal_comma)
        units: int | None = None
        if mapping.units_hours is not None:
            units = cell_amount(row, columns, mapping.units_hours, SECONDS_PER_HOUR, decimal_comma)
        refuse_duplicate(seen, (account, gpu_type), row, mapping.account, "account and GPU type")
        lines.append(StatementLine(row.line, account, gpu_type, period, gpu_seconds, units))
    return make_statement(MAPPED_CSV, file_name, data, period, lines)
