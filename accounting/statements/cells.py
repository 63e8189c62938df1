"""The header's columns and the cells' values: text, exact amounts, GPU types, no
duplicate rows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from accounting.errors import StatementError
from accounting.statements.model import MAX_DECIMALS, MAX_HOURS, MAX_SECONDS, SECONDS_PER_HOUR
from accounting.statements.table import CONTROL, Row, Table


class Columns:
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


def required_columns(table: Table, names: Iterable[str], optional: Iterable[str] = ()) -> Columns:
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
    return Columns(table.header, indices)


def cell_text(row: Row, columns: Columns, name: str, *, required: bool = True) -> str:
    """A cell's text without surrounding spaces; ``""`` for an absent optional column."""
    if name not in columns:
        return ""
    value = row.cells[columns.index(name)].strip()
    if required and not value:
        raise row.error(columns.spelled(name), "empty; a value is required")
    if CONTROL.search(value):
        raise row.error(columns.spelled(name), f"{value!r} contains a control character")
    return value


_NUMBER = re.compile(r"(-?)([0-9]+)(?:\.([0-9]+))?")


def cell_amount(row: Row, columns: Columns, name: str, scale: int, decimal_comma: bool) -> int:
    """A non-negative decimal of hours (``scale`` 3600) or of seconds (1), as exact seconds."""
    column = columns.spelled(name)
    raw = cell_text(row, columns, name)
    text = raw.replace(",", ".") if decimal_comma else raw
    unit = "hours" if scale == SECONDS_PER_HOUR else "seconds"
    if not (m := _NUMBER.fullmatch(text)):
        hint = " (a decimal comma needs the ';' separator)" if "," in raw else ""
        raise row.error(column, f"{raw!r} is not a number of {unit}{hint}")
    sign, whole, fraction = m.group(1), m.group(2).lstrip("0"), (m.group(3) or "").rstrip("0")
    if sign and (whole or fraction):
        raise row.error(column, f"{raw!r} is negative")
    too_large = f"{raw!r} {unit} is more than {MAX_HOURS} hours"
    if len(whole) > len(str(MAX_SECONDS)):
        raise row.error(column, too_large)
    if len(fraction) > MAX_DECIMALS:
        raise row.error(column, f"{raw!r} has more than {MAX_DECIMALS} decimals")
    numerator = int(whole + fraction or "0") * scale
    denominator: int = 10 ** len(fraction)
    if numerator % denominator:
        seconds = numerator / denominator
        raise row.error(column, f"{raw!r} {unit} is not a whole number of seconds ({seconds} s)")
    value = numerator // denominator
    if value > MAX_SECONDS:
        raise row.error(column, too_large)
    return value


def tres_gpu_type(row: Row, columns: Columns, name: str) -> str:
    """``gres/gpu`` → ``""`` (every type), ``gres/gpu:a100`` → ``a100``; anything else fails."""
    tres = cell_text(row, columns, name)
    if tres == "gres/gpu":
        return ""
    if tres.startswith("gres/gpu:") and (gpu_type := tres.removeprefix("gres/gpu:")):
        return gpu_type
    raise row.error(columns.spelled(name), f"TRES {tres!r} is not gres/gpu or gres/gpu:<type>")


def refuse_duplicate(
    seen: dict[tuple[str, ...], int], key: tuple[str, ...], row: Row, column: str, what: str
) -> None:
    """Refuse a second row with the same key, naming both lines."""
    if (first := seen.setdefault(key, row.line)) != row.line:
        shown = "/".join(repr(part) for part in key)
        raise row.error(column, f"duplicate row: same {what} ({shown}) as line {first}")
