"""Reading a file into a table of text cells: UTF-8 decoding, CSV lines, the header, rows
checked lazily so that the first error in file order is the one reported."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from accounting.errors import StatementError


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    cells: tuple[str, ...]

    def error(self, column: str | None, reason: str) -> StatementError:
        return StatementError(reason, line=self.line, column=column)


@dataclass(frozen=True, slots=True)
class Table:
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

    def rows(self) -> Iterator[Row]:
        for line, cells in self.cells:
            check_utf8(line, cells, self.header)
            yield _row(line, cells, self.header, self.delimiter)
        if self.broken is not None:
            raise self.broken
        if not self.cells:
            raise StatementError("no data rows (only a header)", line=self.end_line)


def decode(data: bytes) -> str:
    """UTF-8 text (without a byte-order mark); undecodable bytes survive as lone surrogates.

    They are reported by :func:`check_utf8` on the line (and column) that holds them, so that
    the first error in file order is the one reported.
    """
    text = data.decode("utf-8", errors="surrogateescape")
    return text.removeprefix("\ufeff")


_UNDECODABLE = re.compile("[\udc80-\udcff]")
CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


def check_utf8(line: int, cells: Sequence[str], header: Sequence[str] | None) -> None:
    for index, cell in enumerate(cells):
        if _UNDECODABLE.search(cell):
            column = header[index] if header is not None and index < len(header) else None
            raise StatementError(
                "not UTF-8 text (save the file as UTF-8)", line=line, column=column
            )


def physical_lines(text: str) -> list[str]:
    """Lines as CSV sees them (``\\n``, ``\\r\\n`` or ``\\r`` ends), without their ends."""
    return [line.rstrip("\r\n") for line in io.StringIO(text, newline="")]


def read_csv(text: str, *, delimiters: Sequence[str], delimiter: str | None) -> Table:
    lines = physical_lines(text)
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
                check_utf8(start, cells, None)
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
    return Table(delimiter, header_line, header, tuple(rows), end, broken)


def _row(line: int, cells: Sequence[str], header: Sequence[str], delimiter: str) -> Row:
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
    return Row(line, tuple(cells))
