"""What a parsed statement is: lines of usage per account, the file's origin and digest;
the column mapping of a foreign CSV; the limits every amount is held to."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from accounting.errors import StatementError
from allocator.errors import InvalidInput
from allocator.periods import Calendar, Period

SECONDS_PER_HOUR = 3600
#: No amount of a statement line may exceed this many hours (of GPUs or of pool units).
MAX_HOURS = 10**9
MAX_SECONDS = MAX_HOURS * SECONDS_PER_HOUR
#: Decimals accepted in an hours amount (after trailing zeros are dropped).
MAX_DECIMALS = 6

NATIONAL_CSV = "national-csv"
SREPORT = "sreport"
MAPPED_CSV = "mapped-csv"

#: The separators a mapped CSV may name: tab, space and ASCII punctuation but the quote.
SEPARATORS = "\t !#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
#: :data:`SEPARATORS` as one regular expression (the API documents it as the pattern).
SEPARATOR_PATTERN = r"^[\t !#-/:-@\[-`{-~]$"


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
            len(self.delimiter) != 1 or self.delimiter not in SEPARATORS
        ):
            raise StatementError(f"column mapping: {self.delimiter!r} cannot be a separator")


def check_accounts(statement: Statement, known: Callable[[str], bool]) -> None:
    """Raise for the first line (in file order) whose account ``known`` does not recognise."""
    for line in statement.lines:
        if not known(line.account):
            raise StatementError(
                f"unknown account {line.account!r} (no mapping to a project or chair)",
                line=line.line,
                column="account",
            )


def require_period(label: str, calendar: Calendar) -> Period:
    try:
        return calendar.period(label)
    except InvalidInput as exc:
        raise StatementError(f"period: {exc.reason}") from None


def make_statement(
    kind: str, file_name: str, data: bytes, period: str, lines: Iterable[StatementLine]
) -> Statement:
    ordered = tuple(sorted(lines, key=lambda line: line.line))
    return Statement(f"{kind}:{file_name}", hashlib.sha256(data).hexdigest(), period, ordered)
