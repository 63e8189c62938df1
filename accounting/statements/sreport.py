"""``sreport``'s pipe-separated output (format in :mod:`accounting.statements`)."""

from __future__ import annotations

import re
from datetime import datetime

from accounting.charging import UTC_QUARTERS
from accounting.errors import StatementError
from accounting.statements.cells import (
    cell_amount,
    cell_text,
    refuse_duplicate,
    required_columns,
    tres_gpu_type,
)
from accounting.statements.model import (
    MAX_HOURS,
    MAX_SECONDS,
    SREPORT,
    Statement,
    StatementLine,
    make_statement,
    require_period,
)
from accounting.statements.table import Table, check_utf8, decode, physical_lines
from allocator.periods import Calendar, Period


def parse_sreport(
    data: bytes,
    *,
    period: str,
    file_name: str,
    per_user: bool = False,
    calendar: Calendar = UTC_QUARTERS,
) -> Statement:
    """Parse ``sreport -P -t Seconds cluster AccountUtilizationByUser --tres=gres/gpu`` output.

    Only rows with a Login (direct usage) are counted; account-total rows (empty Login, child
    accounts included) are checked, then ignored. Lines are the direct usage summed per
    (cluster, account, GPU type), each at the line of its first row; with ``per_user`` one line
    per (cluster, account, GPU type, login) instead. The banner's window is read in the
    ``calendar``'s time zone, as ``sreport`` prints it.
    """
    table = _read_sreport(decode(data), require_period(period, calendar), calendar)
    columns = required_columns(
        table, ("Account", "Login", "TRES Name", "Used"), optional=("Cluster",)
    )
    seen: dict[tuple[str, ...], int] = {}
    sums: dict[tuple[str, str, str, str], StatementLine] = {}
    for row in table.rows():
        cluster = cell_text(row, columns, "Cluster", required=False)
        account = cell_text(row, columns, "Account")
        login = cell_text(row, columns, "Login", required=False)
        gpu_type = tres_gpu_type(row, columns, "TRES Name")
        used = cell_amount(row, columns, "Used", 1, decimal_comma=False)
        what = "Cluster, Account, TRES Name and Login"
        refuse_duplicate(seen, (cluster, account, gpu_type, login), row, "Login", what)
        if not login:
            continue  # an account total, child accounts included: counting it double-counts
        key = (cluster, account, gpu_type, login if per_user else "")
        first = row.line
        if (previous := sums.get(key)) is not None:
            first, used = previous.line, used + (previous.gpu_seconds or 0)
            if used > MAX_SECONDS:
                raise row.error("Used", f"the sum for {account!r} is more than {MAX_HOURS} hours")
        sums[key] = StatementLine(first, account, gpu_type, period, used, None, key[3], cluster)
    if not sums:
        raise StatementError(
            "no row with a Login: account totals alone cannot be split into direct usage "
            "(use AccountUtilizationByUser)",
            line=table.header_line,
            column="Login",
        )
    return make_statement(SREPORT, file_name, data, period, sums.values())


_WINDOW = re.compile(
    r"Utilization ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r" - ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
)
_REPORTED_IN = re.compile(r"Usage reported in (.*)")


def _read_sreport(text: str, period: Period, calendar: Calendar) -> Table:
    lines = physical_lines(text)
    end = len(lines) + 1
    header: tuple[str, ...] | None = None
    header_line = 0
    trailing = False
    rows: list[tuple[int, tuple[str, ...]]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if header is None and "|" not in line:
            _check_banner(number, line, period, calendar)
            continue
        cells = line.split("|")
        if header is None:
            trailing = len(cells) > 1 and cells[-1].strip() == ""  # sreport -p ends with '|'
            header = tuple(cell.strip() for cell in (cells[:-1] if trailing else cells))
            header_line = number
            check_utf8(number, header, None)
            continue
        if trailing and len(cells) == len(header) + 1 and cells[-1] == "":
            cells.pop()
        rows.append((number, tuple(cells)))
    if header is None:
        raise StatementError(
            "no sreport header (Cluster|Account|Login|Proper Name|TRES Name|Used)"
            if lines
            else "no data rows (the file is empty)",
            line=end,
        )
    return Table("|", header_line, header, tuple(rows), end)


def _check_banner(number: int, line: str, period: Period, calendar: Calendar) -> None:
    check_utf8(number, [line], None)
    if (m := _REPORTED_IN.search(line)) and not m.group(1).strip().endswith("Seconds"):
        raise StatementError(
            f"usage is reported in {m.group(1).strip()}; run sreport with -t Seconds", line=number
        )
    if m := _WINDOW.search(line):
        first, last = (datetime.fromisoformat(m.group(i)) for i in (1, 2))
        # sreport prints local wall-clock time: the period's bounds in the site's zone
        start, stop = (calendar.local(at).replace(tzinfo=None) for at in (period.start, period.end))
        if not (start <= first <= last < stop):
            raise StatementError(
                f"the report covers {m.group(1)} - {m.group(2)}, not inside {period.label} "
                f"[{start:%Y-%m-%d}, {stop:%Y-%m-%d})",
                line=number,
            )
