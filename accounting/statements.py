"""External statements: parse the consumption files we reconcile against, all-or-nothing.

Every quarter, administrators compare what we counted with what others say was used: the
national centre's statement, ``sreport`` of the local cluster, or a spreadsheet from a partner.
This module turns such a file into a :class:`Statement` of :class:`StatementLine` values, or
rejects the **whole** file with a :class:`~accounting.errors.StatementError` that names the line
(1-based, physical lines, the header of a CSV is line 1) and the file's column. Nothing is
returned for a file with one bad line. Which accounts exist is not decided here (the parser does
not know the mappings): :func:`check_accounts` does that with a lookup supplied by the caller.

Amounts are integer seconds, as everywhere in the core: ``gpu_seconds`` are GPU-seconds,
``units`` are pool unit-seconds (3600 = one hour of the pool's unit, e.g. one normalised hour).
Hours are converted exactly (integer arithmetic, no float, no rounding): a number of hours that
is not a whole number of seconds (``0.0001`` h = 0.36 s) is rejected, as are negative numbers,
``NaN``/``inf``/exponents, thousands separators and more than 10^9 hours.

``Statement.sha256`` is the digest of the raw bytes: importing the same file twice can be
recognised and made a no-op by the caller.

Formats
=======

National-centre CSV (:func:`parse_national_csv`, origin ``national-csv:<file name>``)
    One header line, then one row per (project account, hardware)::

        project_account,hardware,period,hours_consumed,normalised_hours
        chair-nlp,a100,2026Q3,1250.5,2501
        chair-nlp,v100,2026Q3,10,10

    - the separator is ``,`` or ``;``, detected from the header (which must contain exactly one
      of them); with ``;`` a decimal comma is accepted (``1250,5``), with ``,`` it is not;
    - the header holds exactly these five columns, in any order (names compared without
      surrounding spaces and case); a missing, unexpected or repeated column is an error;
    - ``project_account``: the account the centre bills (non-empty);
    - ``hardware``: the GPU type, ``a100``, ``h100``, ``v100``… (non-empty, lower-cased);
    - ``period``: must equal the period being imported (``2026Q3``);
    - ``hours_consumed``: raw GPU hours → ``gpu_seconds``; ``normalised_hours``: hours of the
      pool's unit (normalised GPU hours) → ``units``; both required, non-negative decimals;
    - a (project_account, hardware) pair appears once;
    - UTF-8, with or without a byte-order mark; ``\\n`` or ``\\r\\n`` line ends; standard CSV
      quoting; blank lines and lines of separators only are skipped (line numbers still count
      them).

sreport (:func:`parse_sreport`, origin ``sreport:<file name>``)
    The output of ``sreport -P -t Seconds cluster AccountUtilizationByUser start=… end=…
    accounts=… --tres=gres/gpu``::

        --------------------------------------------------------------------------------
        Cluster/Account/User Utilization 2026-11-21T07:00:00 - 2026-11-21T07:59:59 (3600 secs)
        Usage reported in TRES Seconds
        --------------------------------------------------------------------------------
        Cluster|Account|Login|Proper Name|TRES Name|Used
        enact-local|chair-nlp|||gres/gpu|215
        enact-local|chair-nlp|alice||gres/gpu|128
        enact-local|proj-thesis-01|||gres/gpu|87
        enact-local|proj-thesis-01|alice||gres/gpu|6
        enact-local|proj-thesis-01|carol||gres/gpu|81

    - banner lines before the header (the first line with a ``|``) are allowed. When present,
      ``Usage reported in … Seconds`` is required (``-t Minutes`` would be 60× off) and the
      reported window, read as wall-clock time of the site's time zone (``sreport`` prints
      local time), must lie inside the period being imported: with ``Europe/Paris``,
      ``2027-01-01T00:00:00 - 2027-03-31T23:59:59`` is 2027Q1, which begins at
      ``2026-12-31 23:00 UTC``;
    - columns ``Account``, ``Login``, ``TRES Name`` and ``Used`` are required, ``Cluster``
      is used when present, others (``Proper Name``) are ignored; ``-p``'s trailing ``|`` is
      accepted;
    - a row with an **empty Login is the account's total including every child account**
      (chair-nlp 215 = its own 128 + proj-thesis-01's 87); a row with a Login is that user's
      **direct** usage in that account. Totals are validated but never counted: lines are the
      direct usage summed per (cluster, account, GPU type), or one line per user with
      ``per_user=True``. Summing every row would double-count;
    - ``TRES Name`` is ``gres/gpu`` (``gpu_type`` ``""``: every GPU) or ``gres/gpu:<type>``
      (``gpu_type`` ``<type>``). A file with both gives a total line *and* per-type lines for
      the same usage: never add an untyped line to typed ones;
    - ``Used`` is whole seconds; ``units`` is ``None`` (sreport knows no pool units);
    - a (cluster, account, TRES, login) row appears once; the period is the caller's.

Any CSV through a declared mapping (:func:`parse_mapped_csv`, origin ``mapped-csv:<file name>``)
    A :class:`ColumnMapping` names the file's column for each of our fields. The separator is
    the mapping's ``delimiter`` or, when ``None``, the one of ``,`` ``;`` tab ``|`` found in the
    header; a decimal comma is accepted unless the separator is ``,``. Column names are matched
    exactly (surrounding spaces aside); a mapped column must exist once, and its cells must not
    be empty. Unmapped columns are ignored (but must be UTF-8 like the rest). Without a
    ``gpu_type`` column the GPU type is ``""``; with a ``period`` column every row must be of
    the imported period. An (account, GPU type) pair appears once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounting.charging import UTC_QUARTERS
from accounting.errors import StatementError
from allocator.errors import InvalidInput
from allocator.periods import Calendar, Period

__all__ = [
    "MAPPED_CSV",
    "MAX_HOURS",
    "NATIONAL_CSV",
    "SREPORT",
    "ColumnMapping",
    "Statement",
    "StatementLine",
    "check_accounts",
    "parse_mapped_csv",
    "parse_national_csv",
    "parse_sreport",
]

SECONDS_PER_HOUR = 3600
#: No amount of a statement line may exceed this many hours (of GPUs or of pool units).
MAX_HOURS = 10**9
_MAX_SECONDS = MAX_HOURS * SECONDS_PER_HOUR
#: Decimals accepted in an hours amount (after trailing zeros are dropped).
_MAX_DECIMALS = 6

NATIONAL_CSV = "national-csv"
SREPORT = "sreport"
MAPPED_CSV = "mapped-csv"


@dataclass(frozen=True, slots=True)
class StatementLine:
    """What a statement says was used by one account (and GPU type, user, cluster).

    ``line`` is the file's line the figures come from (for sreport sums: the first row summed).
    ``gpu_seconds`` are GPU-seconds, ``units`` pool unit-seconds; ``None`` when the format does
    not give that amount. ``gpu_type`` ``""`` means every GPU type together.
    """

    line: int
    account: str
    gpu_type: str
    period: str
    gpu_seconds: int | None
    units: int | None
    user: str = ""
    cluster: str = ""


@dataclass(frozen=True, slots=True)
class Statement:
    """A parsed statement file: ``origin`` is ``<format>:<file name>``, ``sha256`` of its bytes."""

    origin: str
    sha256: str
    period: str
    lines: tuple[StatementLine, ...]

    @property
    def format(self) -> str:
        return self.origin.partition(":")[0]

    @property
    def file_name(self) -> str:
        return self.origin.partition(":")[2]


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which column of a foreign CSV holds each of our fields (names as in its header).

    Give exactly one of ``gpu_seconds`` (whole GPU-seconds) and ``hours`` (GPU hours), with or
    without ``units_hours`` (hours of the pool's unit), or ``units_hours`` alone.
    """

    account: str
    gpu_seconds: str | None = None
    hours: str | None = None
    units_hours: str | None = None
    gpu_type: str | None = None
    period: str | None = None
    delimiter: str | None = None

    def __post_init__(self) -> None:
        for name in ("account", "gpu_seconds", "hours", "units_hours", "gpu_type", "period"):
            value = getattr(self, name)
            if value is not None and not value.strip():
                raise StatementError(f"column mapping: {name} names an empty column")
        if self.gpu_seconds is not None and self.hours is not None:
            raise StatementError("column mapping: give gpu_seconds or hours, not both")
        if self.gpu_seconds is None and self.hours is None and self.units_hours is None:
            raise StatementError("column mapping: give gpu_seconds, hours or units_hours")
        if self.delimiter is not None and (
            len(self.delimiter) != 1 or self.delimiter in '"\r\n' or self.delimiter.isalnum()
        ):
            raise StatementError(f"column mapping: {self.delimiter!r} cannot be a separator")


# --------------------------------------------------------------------------------------------
# public entry points


def parse_national_csv(
    data: bytes, *, period: str, file_name: str, calendar: Calendar = UTC_QUARTERS
) -> Statement:
    """Parse a national-centre CSV statement of ``period`` (format in the module docstring)."""
    _require_period(period, calendar)
    table = _read_csv(_decode(data), delimiters=(",", ";"), delimiter=None)
    columns = _national_columns(table)
    decimal_comma = table.delimiter != ","
    lines: list[StatementLine] = []
    seen: dict[tuple[str, ...], int] = {}
    for row in table.rows():
        account = _text(row, columns, "project_account")
        hardware = _text(row, columns, "hardware").lower()
        if (row_period := _text(row, columns, "period")) != period:
            raise row.error(columns.spelled("period"), f"period {row_period!r} is not {period}")
        gpu_seconds = _amount(row, columns, "hours_consumed", SECONDS_PER_HOUR, decimal_comma)
        units = _amount(row, columns, "normalised_hours", SECONDS_PER_HOUR, decimal_comma)
        where = columns.spelled("project_account")
        _once(seen, (account, hardware), row, where, "project_account and hardware")
        lines.append(StatementLine(row.line, account, hardware, period, gpu_seconds, units))
    return _statement(NATIONAL_CSV, file_name, data, period, lines)


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
    table = _read_sreport(_decode(data), _require_period(period, calendar), calendar)
    columns = _required(table, ("Account", "Login", "TRES Name", "Used"), optional=("Cluster",))
    seen: dict[tuple[str, ...], int] = {}
    sums: dict[tuple[str, str, str, str], StatementLine] = {}
    for row in table.rows():
        cluster = _text(row, columns, "Cluster", required=False)
        account = _text(row, columns, "Account")
        login = _text(row, columns, "Login", required=False)
        gpu_type = _gpu_type(row, columns, "TRES Name")
        used = _amount(row, columns, "Used", 1, decimal_comma=False)
        what = "Cluster, Account, TRES Name and Login"
        _once(seen, (cluster, account, gpu_type, login), row, "Login", what)
        if not login:
            continue  # an account total, child accounts included: counting it double-counts
        key = (cluster, account, gpu_type, login if per_user else "")
        first = row.line
        if (previous := sums.get(key)) is not None:
            first, used = previous.line, used + (previous.gpu_seconds or 0)
            if used > _MAX_SECONDS:
                raise row.error("Used", f"the sum for {account!r} is more than {MAX_HOURS} hours")
        sums[key] = StatementLine(first, account, gpu_type, period, used, None, key[3], cluster)
    if not sums:
        raise StatementError(
            "no row with a Login: account totals alone cannot be split into direct usage "
            "(use AccountUtilizationByUser)",
            line=table.header_line,
            column="Login",
        )
    return _statement(SREPORT, file_name, data, period, sums.values())


def parse_mapped_csv(
    data: bytes,
    *,
    period: str,
    file_name: str,
    mapping: ColumnMapping,
    calendar: Calendar = UTC_QUARTERS,
) -> Statement:
    """Parse any CSV whose columns ``mapping`` declares; unmapped columns are ignored."""
    _require_period(period, calendar)
    separators = (",", ";", "\t", "|")
    table = _read_csv(_decode(data), delimiters=separators, delimiter=mapping.delimiter)
    optional = (mapping.gpu_type, mapping.period, mapping.gpu_seconds, mapping.hours)
    wanted = [name for name in (*optional, mapping.units_hours) if name is not None]
    columns = _required(table, [mapping.account, *wanted])
    decimal_comma = table.delimiter != ","
    lines: list[StatementLine] = []
    seen: dict[tuple[str, ...], int] = {}
    for row in table.rows():
        account = _text(row, columns, mapping.account)
        gpu_type = _text(row, columns, mapping.gpu_type) if mapping.gpu_type else ""
        if mapping.period is not None and (got := _text(row, columns, mapping.period)) != period:
            raise row.error(mapping.period, f"period {got!r} is not {period}")
        gpu_seconds: int | None = None
        if mapping.gpu_seconds is not None:
            gpu_seconds = _amount(row, columns, mapping.gpu_seconds, 1, decimal_comma)
        elif mapping.hours is not None:
            gpu_seconds = _amount(row, columns, mapping.hours, SECONDS_PER_HOUR, decimal_comma)
        units: int | None = None
        if mapping.units_hours is not None:
            units = _amount(row, columns, mapping.units_hours, SECONDS_PER_HOUR, decimal_comma)
        _once(seen, (account, gpu_type), row, mapping.account, "account and GPU type")
        lines.append(StatementLine(row.line, account, gpu_type, period, gpu_seconds, units))
    return _statement(MAPPED_CSV, file_name, data, period, lines)


def check_accounts(statement: Statement, known: Callable[[str], bool]) -> None:
    """Raise for the first line (in file order) whose account ``known`` does not recognise."""
    for line in statement.lines:
        if not known(line.account):
            raise StatementError(
                f"unknown account {line.account!r} (no mapping to a project or chair)",
                line=line.line,
                column="account",
            )


# --------------------------------------------------------------------------------------------
# reading a file into a table of text cells


@dataclass(frozen=True, slots=True)
class _Row:
    line: int
    cells: tuple[str, ...]

    def error(self, column: str | None, reason: str) -> StatementError:
        return StatementError(reason, line=self.line, column=column)


@dataclass(frozen=True, slots=True)
class _Table:
    """A header and the raw rows after it, checked lazily so that errors come in file order.

    The header's columns are resolved before any row is looked at; a CSV syntax error found
    while reading is raised after the rows before it; "no data rows" comes last.
    """

    delimiter: str
    header_line: int
    header: tuple[str, ...]
    cells: tuple[tuple[int, tuple[str, ...]], ...]
    end_line: int
    broken: StatementError | None = None

    def rows(self) -> Iterator[_Row]:
        for line, cells in self.cells:
            _check_utf8(line, cells, self.header)
            yield _row(line, cells, self.header, self.delimiter)
        if self.broken is not None:
            raise self.broken
        if not self.cells:
            raise StatementError("no data rows (only a header)", line=self.end_line)


def _decode(data: bytes) -> str:
    """UTF-8 text (without a byte-order mark); undecodable bytes survive as lone surrogates.

    They are reported by :func:`_check_utf8` on the line (and column) that holds them, so that
    the first error in file order is the one reported.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    return text.removeprefix("\ufeff")


_UNDECODABLE = re.compile("[\udc80-\udcff]")
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def _check_utf8(line: int, cells: Sequence[str], header: Sequence[str] | None) -> None:
    for index, cell in enumerate(cells):
        if _UNDECODABLE.search(cell):
            column = header[index] if header is not None and index < len(header) else None
            raise StatementError(
                "not UTF-8 text (save the file as UTF-8)", line=line, column=column
            )


def _physical_lines(text: str) -> list[str]:
    """Lines as CSV sees them (``\\n``, ``\\r\\n`` or ``\\r`` ends), without their ends."""
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]


def _read_csv(text: str, *, delimiters: Sequence[str], delimiter: str | None) -> _Table:
    lines = _physical_lines(text)
    end = len(lines) + 1
    header_index = next((i for i, line in enumerate(lines) if line.strip()), None)
    if header_index is None:
        raise StatementError("no data rows (the file is empty)", line=end)
    header_line = header_index + 1
    if delimiter is None:
        found = [d for d in delimiters if d in lines[header_index]]
        if len(found) != 1:
            names = " or ".join(repr(d) for d in delimiters)
            reason = (
                f"no {names} separator in the header"
                if not found
                else f"cannot tell the separator: the header has {' and '.join(map(repr, found))}"
            )
            raise StatementError(reason, line=header_line)
        delimiter = found[0]
    reader = csv.reader(
        io.StringIO("\n".join(lines[header_index:]), newline=""),
        delimiter=delimiter,
        strict=True,
    )
    header: tuple[str, ...] | None = None
    rows: list[tuple[int, tuple[str, ...]]] = []
    broken: StatementError | None = None
    try:
        while True:
            start = header_index + reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(cell.strip() for cell in cells):
                continue  # a blank line, or one of separators only
            if header is None:
                _check_utf8(start, cells, None)
                header, header_line = tuple(cell.strip() for cell in cells), start
            else:
                rows.append((start, tuple(cells)))
    except csv.Error as exc:
        line = header_index + reader.line_num
        broken = StatementError(f"not valid CSV: {exc}", line=line)
        if header is None:
            raise broken from None
    if header is None:  # only empty quoted fields, e.g. ``""``
        raise StatementError("no data rows (no header either)", line=end)
    return _Table(delimiter, header_line, header, tuple(rows), end, broken)


def _row(line: int, cells: Sequence[str], header: Sequence[str], delimiter: str) -> _Row:
    if len(cells) < len(header):
        raise StatementError(
            f"the row ends before this column ({len(cells)} fields, the header has {len(header)})",
            line=line,
            column=header[len(cells)],
        )
    if len(cells) > len(header):
        hint = " (a decimal comma needs the ';' separator)" if delimiter == "," else ""
        raise StatementError(
            f"the row has {len(cells)} fields, the header has {len(header)}{hint}", line=line
        )
    return _Row(line, tuple(cells))


_WINDOW = re.compile(
    r"Utilization ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
    r" - ([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})"
)
_REPORTED_IN = re.compile(r"Usage reported in (.*)")


def _read_sreport(text: str, period: Period, calendar: Calendar) -> _Table:
    lines = _physical_lines(text)
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
            _check_utf8(number, header, None)
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
    return _Table("|", header_line, header, tuple(rows), end)


def _check_banner(number: int, line: str, period: Period, calendar: Calendar) -> None:
    _check_utf8(number, [line], None)
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


# --------------------------------------------------------------------------------------------
# header and cells


class _Columns:
    """Our name of a column → its index in the rows, and its spelling in the file's header."""

    def __init__(self, header: Sequence[str], indices: dict[str, int]) -> None:
        self._header = tuple(header)
        self._indices = indices

    def __contains__(self, name: str) -> bool:
        return name in self._indices

    def index(self, name: str) -> int:
        return self._indices[name]

    def spelled(self, name: str) -> str:
        return self._header[self._indices[name]]


_NATIONAL_HEADER = ("project_account", "hardware", "period", "hours_consumed", "normalised_hours")


def _national_columns(table: _Table) -> _Columns:
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
    return _Columns(table.header, indices)


def _required(table: _Table, names: Iterable[str], optional: Iterable[str] = ()) -> _Columns:
    """Find columns by their exact name; a required one missing, or any repeated, is an error."""
    names = tuple(names)
    indices: dict[str, int] = {}
    for name in (*names, *optional):
        positions = [i for i, cell in enumerate(table.header) if cell == name]
        if len(positions) > 1:
            raise StatementError("repeated column", line=table.header_line, column=name)
        if positions:
            indices[name] = positions[0]
    for name in names:
        if name not in indices:
            raise StatementError("missing column", line=table.header_line, column=name)
    return _Columns(table.header, indices)


def _text(row: _Row, columns: _Columns, name: str, *, required: bool = True) -> str:
    """A cell's text without surrounding spaces; ``""`` for an absent optional column."""
    if name not in columns:
        return ""
    value = row.cells[columns.index(name)].strip()
    if required and not value:
        raise row.error(columns.spelled(name), "empty; a value is required")
    if _CONTROL.search(value):
        raise row.error(columns.spelled(name), f"{value!r} contains a control character")
    return value


_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")


def _amount(row: _Row, columns: _Columns, name: str, scale: int, decimal_comma: bool) -> int:
    """A non-negative decimal of hours (``scale`` 3600) or of seconds (1), as exact seconds."""
    column = columns.spelled(name)
    raw = _text(row, columns, name)
    text = raw.replace(",", ".") if decimal_comma else raw
    unit = "hours" if scale == SECONDS_PER_HOUR else "seconds"
    if not (m := _NUMBER.fullmatch(text)):
        hint = " (a decimal comma needs the ';' separator)" if "," in raw else ""
        raise row.error(column, f"{raw!r} is not a number of {unit}{hint}")
    sign, whole, fraction = m.group(1), m.group(2).lstrip("0"), (m.group(3) or "").rstrip("0")
    if sign and (whole or fraction):
        raise row.error(column, f"{raw!r} is negative")
    too_large = f"{raw!r} {unit} is more than {MAX_HOURS} hours"
    if len(whole) > len(str(_MAX_SECONDS)):
        raise row.error(column, too_large)
    if len(fraction) > _MAX_DECIMALS:
        raise row.error(column, f"{raw!r} has more than {_MAX_DECIMALS} decimals")
    numerator = int(whole + fraction or "0") * scale
    denominator: int = 10 ** len(fraction)
    if numerator % denominator:
        seconds = numerator / denominator
        raise row.error(column, f"{raw!r} {unit} is not a whole number of seconds ({seconds} s)")
    value = numerator // denominator
    if value > _MAX_SECONDS:
        raise row.error(column, too_large)
    return value


def _gpu_type(row: _Row, columns: _Columns, name: str) -> str:
    """``gres/gpu`` → ``""`` (every type), ``gres/gpu:a100`` → ``a100``; anything else fails."""
    tres = _text(row, columns, name)
    if tres == "gres/gpu":
        return ""
    if tres.startswith("gres/gpu:") and (gpu_type := tres.removeprefix("gres/gpu:")):
        return gpu_type
    raise row.error(columns.spelled(name), f"TRES {tres!r} is not gres/gpu or gres/gpu:<type>")


def _once(
    seen: dict[tuple[str, ...], int], key: tuple[str, ...], row: _Row, column: str, what: str
) -> None:
    """Refuse a second row with the same key, naming both lines."""
    if (first := seen.setdefault(key, row.line)) != row.line:
        shown = "/".join(repr(part) for part in key)
        raise row.error(column, f"duplicate row: same {what} ({shown}) as line {first}")


def _require_period(label: str, calendar: Calendar) -> Period:
    try:
        return calendar.period(label)
    except InvalidInput as exc:
        raise StatementError(f"period: {exc.reason}") from None


def _statement(
    kind: str, file_name: str, data: bytes, period: str, lines: Iterable[StatementLine]
) -> Statement:
    ordered = tuple(sorted(lines, key=lambda line: line.line))
    return Statement(f"{kind}:{file_name}", hashlib.sha256(data).hexdigest(), period, ordered)
