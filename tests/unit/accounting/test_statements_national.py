"""The national centre's CSV statements: either separator, exact hours, any column order; a
bad file is rejected whole, naming line and column.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting.errors import StatementError
from accounting.statements import (
    MAX_HOURS,
    Statement,
    StatementLine,
    parse_national_csv,
)
from tests.unit.accounting.statements_support import Q3, H, data, rejected

# --------------------------------------------------------------------------------------------
# the national centre's CSV

NATIONAL = "project_account,hardware,period,hours_consumed,normalised_hours\n"
GOOD = "chair-nlp,a100,2026Q3,1250.5,2501\n"


def test_national_csv_comma_and_semicolon_with_decimal_comma_give_the_same_lines():
    comma = parse_national_csv(data("national_2026Q3_comma.csv"), period=Q3, file_name="a.csv")
    semicolon = parse_national_csv(
        data("national_2026Q3_semicolon.csv"), period=Q3, file_name="b.csv"
    )

    # hours → seconds exactly: 1250.5 h = 4 501 800 s, 0.25 h = 900 s, 1.0025 h = 3609 s
    assert comma.lines == (
        StatementLine(2, "chair-nlp", "a100", Q3, 4_501_800, 9_003_600),
        StatementLine(3, "chair-nlp", "v100", Q3, 36_000, 36_000),
        StatementLine(4, "proj-thesis-01", "h100", Q3, 900, 3609),
    )
    # ';' with decimal commas, CRLF, a byte-order mark, quoting and 'A100' read the same
    assert semicolon.lines == comma.lines
    assert comma.origin == "national-csv:a.csv"
    assert semicolon.sha256 != comma.sha256


def test_national_csv_columns_in_any_order_and_the_largest_amount():
    text = (
        "hardware,normalised_hours,project_account,period,hours_consumed\n"
        f"h100,{MAX_HOURS},chair-health,2026Q3,0000.000100000000\n"
    )
    with pytest.raises(StatementError, match="whole number of seconds"):
        parse_national_csv(text.encode(), period=Q3, file_name="x.csv")
    text = text.replace("0000.000100000000", "0.0025000")
    (line,) = parse_national_csv(text.encode(), period=Q3, file_name="x.csv").lines
    assert (line.account, line.gpu_type, line.gpu_seconds, line.units) == (
        "chair-health",
        "h100",
        9,
        MAX_HOURS * H,
    )


@given(seconds=st.integers(min_value=0, max_value=MAX_HOURS * H // 9).map(lambda n: 9 * n))
def test_every_whole_number_of_seconds_written_in_hours_is_read_back_exactly(seconds):
    """A whole number of seconds has a finite decimal in hours iff it is a multiple of 9 s."""
    hours = format(Decimal(seconds) / H, "f")
    for text in (
        f"{NATIONAL}chair-nlp,a100,2026Q3,{hours},{hours}\n",
        f"{NATIONAL.replace(',', ';')}chair-nlp;a100;2026Q3;{hours.replace('.', ',')};0\n",
    ):
        (line,) = parse_national_csv(text.encode(), period=Q3, file_name="x.csv").lines
        assert line.gpu_seconds == seconds


def national(*rows: str, header: str = NATIONAL) -> bytes:
    return (header + GOOD + "".join(rows)).encode()


#: name: (the row after a good one, on line 3; column; reason)
BAD_NATIONAL_ROWS = {
    "abc": ("chair-health,h100,2026Q3,abc,2", "hours_consumed", "'abc' is not a number of hours"),
    "negative": ("chair-health,h100,2026Q3,1,-2", "normalised_hours", "'-2' is negative"),
    "nan": ("chair-health,h100,2026Q3,NaN,2", "hours_consumed", "'NaN' is not a number"),
    "infinity": ("chair-health,h100,2026Q3,inf,2", "hours_consumed", "'inf' is not a number"),
    "exponent": ("chair-health,h100,2026Q3,1e3,2", "hours_consumed", "'1e3' is not a number"),
    "thousands": ("chair-health,h100,2026Q3,1 000,2", "hours_consumed", "not a number"),
    "too-large": (
        f"chair-x,h100,2026Q3,{MAX_HOURS + 1},2",
        "hours_consumed",
        "more than 1000000000 hours",
    ),
    "fraction-of-second": ("chair-x,h100,2026Q3,0.0001,2", "hours_consumed", "(0.36 s)"),
    "seven-decimals": ("chair-x,h100,2026Q3,0.1234567,2", "hours_consumed", "more than 6"),
    "empty-amount": ("chair-health,h100,2026Q3,,2", "hours_consumed", "empty"),
    "empty-account": (" ,h100,2026Q3,1,2", "project_account", "empty"),
    "empty-hardware": ("chair-health,,2026Q3,1,2", "hardware", "empty"),
    "duplicate-row": (
        "chair-nlp,A100,2026Q3,1,2",
        "project_account",
        "same project_account and hardware ('chair-nlp'/'a100') as line 2",
    ),
    "another-period": ("chair-health,h100,2026Q2,1,2", "period", "'2026Q2' is not 2026Q3"),
    "decimal-comma-with-comma": ("chair-health,h100,2026Q3,12,5,2", None, "decimal comma"),
    "short-row": ("chair-health,h100,2026Q3,1", "normalised_hours", "ends before this column"),
    "open-quote": ('"chair-health,h100,2026Q3,1,2', None, "not valid CSV"),
    "nul-byte": ("chair\x00nlp,h100,2026Q3,1,2", "project_account", "control character"),
}
#: name: (file, line, column, reason)
BAD_NATIONAL_FILES = {
    "unexpected-column": (
        national(header=NATIONAL.replace("hours_consumed", "hours")),
        1,
        "hours",
        "unexpected column",
    ),
    "missing-column": (
        b"project_account,hardware,period,hours_consumed\nchair-nlp,a100,2026Q3,1\n",
        1,
        "normalised_hours",
        "missing column",
    ),
    "repeated-column": (
        national(header=NATIONAL.replace("hardware", "Period")),
        1,
        "period",
        "repeated column",
    ),
    "two-separators": (
        national(header=NATIONAL.replace(",period,", ";period,")),
        1,
        None,
        "cannot tell the separator",
    ),
    "no-separator": (b"project_account hardware\nx y\n", 1, None, "no ',' or ';' separator"),
    "header-after-blank-lines": (
        b"\n,,,,\nproject_account,hardware,period,hours_consumed\nchair-nlp,a100,2026Q3,1\n",
        3,
        "normalised_hours",
        "missing column",
    ),
    "empty-file": (b"", 1, None, "no data rows"),
    "only-empty-fields": (b'"",""\n', 2, None, "no data rows"),
    "header-only": (NATIONAL.encode(), 2, None, "no data rows"),
    "latin-1-row": (
        national() + "chaire-santé,h100,2026Q3,1,2\n".encode("latin-1"),
        3,
        "project_account",
        "not UTF-8",
    ),
    "latin-1-header": ("projet_é,hardware\n".encode("latin-1") + GOOD.encode(), 1, None, "UTF-8"),
}


@pytest.mark.parametrize(
    ("row", "column", "reason"), BAD_NATIONAL_ROWS.values(), ids=BAD_NATIONAL_ROWS
)
def test_bad_national_csv_row_is_rejected_whole(row, column, reason):
    with pytest.raises(StatementError) as caught:
        parse_national_csv(national(row + "\n"), period=Q3, file_name="bad.csv")
    assert reason in rejected(caught, 3, column)


@pytest.mark.parametrize(
    ("bad", "line", "column", "reason"), BAD_NATIONAL_FILES.values(), ids=BAD_NATIONAL_FILES
)
def test_bad_national_csv_file_is_rejected_whole(bad, line, column, reason):
    with pytest.raises(StatementError) as caught:
        parse_national_csv(bad, period=Q3, file_name="bad.csv")
    assert reason in rejected(caught, line, column)


def test_a_bad_last_row_rejects_the_good_rows_before_it():
    good = data("national_2026Q3_semicolon.csv")
    assert len(parse_national_csv(good, period=Q3, file_name="ok.csv").lines) == 3

    result: Statement | None = None
    with pytest.raises(StatementError) as caught:
        result = parse_national_csv(
            good + b"chair-health;h100;2026Q3;1;x\r\n", period=Q3, file_name="bad.csv"
        )
    assert result is None
    rejected(caught, 5, "normalised_hours")  # CRLF line ends counted once


def test_lone_carriage_returns_count_as_line_ends():
    text = f"{NATIONAL}{GOOD}chair-health,h100,2026Q3,1,x\n".replace("\n", "\r")
    with pytest.raises(StatementError) as caught:
        parse_national_csv(text.encode(), period=Q3, file_name="mac.csv")
    rejected(caught, 3, "normalised_hours")


def test_blank_lines_and_rows_of_separators_are_skipped_but_keep_their_numbers():
    text = f"\n{NATIONAL}\n{GOOD}\n,,,,\n"
    (line,) = parse_national_csv(text.encode(), period=Q3, file_name="x.csv").lines
    assert line.line == 4


def test_the_requested_period_must_be_a_period_label():
    with pytest.raises(StatementError, match="not a period label of this site") as caught:
        parse_national_csv(national(), period="2026-Q3", file_name="x.csv")
    rejected(caught, None, None)
