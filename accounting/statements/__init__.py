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

from accounting.charging import UTC_QUARTERS
from accounting.statements.mapped import parse_mapped_csv
from accounting.statements.model import (
    MAPPED_CSV,
    MAX_HOURS,
    NATIONAL_CSV,
    SEPARATOR_PATTERN,
    SEPARATORS,
    SREPORT,
    ColumnMapping,
    Statement,
    StatementLine,
    check_accounts,
)
from accounting.statements.national import parse_national_csv
from accounting.statements.sreport import parse_sreport
from allocator.errors import InvalidInput
from allocator.periods import Calendar

__all__ = [
    "FORMATS",
    "MAPPED_CSV",
    "MAX_HOURS",
    "NATIONAL_CSV",
    "SEPARATORS",
    "SEPARATOR_PATTERN",
    "SREPORT",
    "ColumnMapping",
    "Statement",
    "StatementLine",
    "check_accounts",
    "parse_mapped_csv",
    "parse_national_csv",
    "parse_sreport",
    "parse_statement",
]

FORMATS = (NATIONAL_CSV, SREPORT, MAPPED_CSV)


def parse_statement(
    fmt: str,
    data: bytes,
    period: str,
    file_name: str,
    mapping: ColumnMapping | None = None,
    calendar: Calendar = UTC_QUARTERS,
) -> Statement:
    """Parse a statement file of one of :data:`FORMATS` (``mapped-csv`` needs a mapping)."""
    if fmt == NATIONAL_CSV:
        return parse_national_csv(data, period=period, file_name=file_name, calendar=calendar)
    if fmt == SREPORT:
        return parse_sreport(data, period=period, file_name=file_name, calendar=calendar)
    if fmt == MAPPED_CSV:
        if mapping is None:
            raise InvalidInput("mapping", "a mapped-csv import needs a column mapping")
        return parse_mapped_csv(
            data, period=period, file_name=file_name, mapping=mapping, calendar=calendar
        )
    raise InvalidInput("format", f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
