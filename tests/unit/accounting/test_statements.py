"""External statements: sreport, the national centre's CSV, any CSV through a column mapping.

A statement file is taken whole or not at all: every bad file raises a ``StatementError`` that
names the line (the header of a CSV is line 1) and the file's column, and returns nothing.
Amounts are exact integer seconds: GPU-seconds, and pool unit-seconds for normalised hours.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounting.errors import StatementError
from accounting.statements import (
    MAX_HOURS,
    ColumnMapping,
    Statement,
    StatementLine,
    check_accounts,
    parse_mapped_csv,
    parse_national_csv,
    parse_sreport,
)
from allocator.periods import Calendar

DATA = Path(__file__).resolve().parents[2] / "data" / "statements"
H = 3600
Q3 = "2026Q3"
#: The recorded sreport statement covers 2026-11-21 07:00-07:59:59, which lies in 2026Q4.
Q4 = "2026Q4"


def data(name: str) -> bytes:
    return (DATA / name).read_bytes()


def rejected(caught: pytest.ExceptionInfo[StatementError], line: int | None, column: str | None):
    """The error names exactly this line and column, in its attributes and in its message."""
    error = caught.value
    assert (error.line, error.column) == (line, column)
    if line is not None:
        assert f"line {line}" in str(error)
    if column is not None:
        assert f"column {column!r}" in str(error)
    return str(error)


# --------------------------------------------------------------------------------------------
# sreport: direct (Login) usage per account; account totals are never counted

SREPORT = data("sreport_gpu_seconds_hour07.psv")
SREPORT_TEXT = SREPORT.decode()
#: What the recorded slurmrestd reply gives per account for the same hour (tests/slurm).
DIRECT = {"chair-nlp": 128, "chair-health": 19, "proj-thesis-01": 87}


def test_sreport_direct_usage_per_account_matches_the_recorded_hour():
    statement = parse_sreport(SREPORT, period=Q4, file_name="sreport_gpu_seconds_hour07.psv")

    assert {line.account: line.gpu_seconds for line in statement.lines} == DIRECT
    # one line per account, at the line of its first Login row, every GPU type together
    assert statement.lines == (
        StatementLine(7, "chair-health", "", Q4, 19, None, "", "enact-local"),
        StatementLine(9, "chair-nlp", "", Q4, 128, None, "", "enact-local"),
        StatementLine(11, "proj-thesis-01", "", Q4, 87, None, "", "enact-local"),
    )
    assert statement.origin == "sreport:sreport_gpu_seconds_hour07.psv"
    assert statement.format == "sreport"
    assert statement.file_name == "sreport_gpu_seconds_hour07.psv"
    assert statement.period == Q4


def test_sreport_account_totals_are_ignored_because_summing_every_row_double_counts():
    rows = [line.split("|") for line in SREPORT_TEXT.splitlines() if line.count("|") == 5][1:]
    every_row = sum(int(row[5]) for row in rows)
    totals = {row[1]: int(row[5]) for row in rows if not row[2]}

    # chair-nlp's total row (215) holds its own 128 and its child proj-thesis-01's 87
    assert totals == {"chair-health": 19, "chair-nlp": 215, "proj-thesis-01": 87}
    assert totals["chair-nlp"] == DIRECT["chair-nlp"] + DIRECT["proj-thesis-01"]
    statement = parse_sreport(SREPORT, period=Q4, file_name="h07.psv")
    direct = sum(line.gpu_seconds or 0 for line in statement.lines)
    assert direct == 234
    assert every_row == 555 != direct
    assert sum(totals.values()) == 321 != direct


def test_sreport_per_user_keeps_each_login_direct_usage():
    statement = parse_sreport(SREPORT, period=Q4, file_name="h07.psv", per_user=True)

    assert [(x.line, x.account, x.user, x.gpu_seconds) for x in statement.lines] == [
        (7, "chair-health", "bob", 19),
        (9, "chair-nlp", "alice", 128),
        (11, "proj-thesis-01", "alice", 6),
        (12, "proj-thesis-01", "carol", 81),
    ]


def test_sreport_without_banner_and_with_typed_tres_and_trailing_separator():
    """``-Q`` drops the banner; ``--tres=gres/gpu:a100`` types the rows; ``-p`` ends with '|'."""
    body = "\n".join(SREPORT_TEXT.splitlines()[4:])  # header on line 1
    assert [x.line for x in parse_sreport(body.encode(), period=Q4, file_name="q").lines] == [
        3,
        5,
        7,
    ]
    typed = body.replace("gres/gpu|", "gres/gpu:a100|").replace("\n", "|\n") + "|\n"
    statement = parse_sreport(typed.encode(), period=Q4, file_name="p")
    assert {(x.account, x.gpu_type): x.gpu_seconds for x in statement.lines} == {
        ("chair-health", "a100"): 19,
        ("chair-nlp", "a100"): 128,
        ("proj-thesis-01", "a100"): 87,
    }


def test_sreport_of_a_whole_quarter_in_local_time_is_inside_the_quarter():
    quarter = SREPORT_TEXT.replace(
        "2026-11-21T07:00:00 - 2026-11-21T07:59:59 (3600 secs)",
        "2026-10-01T00:00:00 - 2026-12-31T23:59:59 (7952400 secs)",
    )
    statement = parse_sreport(quarter.encode(), period=Q4, file_name="q4.psv")
    assert {x.account: x.gpu_seconds for x in statement.lines} == DIRECT


def test_sreport_windows_are_read_in_the_site_time_zone():
    """sreport prints local time: in Paris 2026Q4 runs to 2026-12-31T23:59:59 local, which is
    22:59:59 UTC, and the next hour is 2027Q1's."""
    paris = Calendar(zone_name="Europe/Paris")
    quarter = SREPORT_TEXT.replace(
        "2026-11-21T07:00:00 - 2026-11-21T07:59:59 (3600 secs)",
        "2026-10-01T00:00:00 - 2026-12-31T23:59:59 (7956000 secs)",
    )
    statement = parse_sreport(quarter.encode(), period=Q4, file_name="q4.psv", calendar=paris)
    assert {x.account: x.gpu_seconds for x in statement.lines} == DIRECT
    new_year = SREPORT_TEXT.replace(
        "2026-11-21T07:00:00 - 2026-11-21T07:59:59 (3600 secs)",
        "2027-01-01T00:00:00 - 2027-01-01T00:59:59 (3600 secs)",
    )
    assert parse_sreport(new_year.encode(), period="2027Q1", file_name="h.psv", calendar=paris)
    with pytest.raises(StatementError, match="not inside 2026Q4") as caught:
        parse_sreport(new_year.encode(), period=Q4, file_name="h.psv", calendar=paris)
    rejected(caught, 2, None)


def sreport_with(line_number: int, new: str) -> bytes:
    """The recorded statement with one line replaced."""
    lines = SREPORT_TEXT.splitlines()
    lines[line_number - 1] = new
    return ("\n".join(lines) + "\n").encode()


ALICE = "enact-local|chair-nlp|alice|"
#: name: (line, what replaces it, column, reason); the period is the right one (2026Q4)
BAD_SREPORT_LINES = {
    "another-tres": (9, f"{ALICE}|cpu|128", "TRES Name", "'cpu' is not gres/gpu"),
    "gpu-memory-tres": (9, f"{ALICE}|gres/gpumem|128", "TRES Name", "'gres/gpumem'"),
    "fractional-seconds": (9, f"{ALICE}|gres/gpu|12.5", "Used", "not a whole number of seconds"),
    "not-a-number": (9, f"{ALICE}|gres/gpu|abc", "Used", "'abc' is not a number of seconds"),
    "too-large": (9, f"{ALICE}|gres/gpu|{MAX_HOURS * H + 1}", "Used", "more than 1000000000"),
    "negative-total": (10, "enact-local|proj-thesis-01|||gres/gpu|-87", "Used", "negative"),
    "empty-account": (9, "enact-local||alice||gres/gpu|128", "Account", "empty"),
    "short-row": (9, f"{ALICE}|gres/gpu", "Used", "ends before this column"),
    "missing-column": (5, "Cluster|Account|Proper Name|TRES Name|Used", "Login", "missing column"),
    "minutes": (3, "Usage reported in TRES Minutes", None, "run sreport with -t Seconds"),
}
#: name: (file, period, line, column, reason)
BAD_SREPORT_FILES = {
    "duplicate-user-row": (SREPORT + f"{ALICE}|gres/gpu|1\n".encode(), Q4, 13, "Login", "line 9"),
    "latin-1-proper-name": (
        sreport_with(9, f"{ALICE}Alice Dupré|gres/gpu|128").replace(b"\xc3\xa9", b"\xe9"),
        Q4,
        9,
        "Proper Name",
        "not UTF-8",
    ),
    "window-of-another-period": (SREPORT, Q3, 2, None, "not inside 2026Q3"),
    "banner-and-header-only": (b"\n".join(SREPORT.splitlines()[:5]), Q4, 6, None, "no data rows"),
    "empty-file": (b"", Q4, 1, None, "no data rows"),
    "totals-only": (
        b"\n".join(x for x in SREPORT.splitlines() if not re.search(rb"\|\w+\|\|gres", x)),
        Q4,
        5,
        "Login",
        "no row with a Login",
    ),
}


@pytest.mark.parametrize(
    ("number", "new", "column", "reason"), BAD_SREPORT_LINES.values(), ids=BAD_SREPORT_LINES
)
def test_bad_sreport_line_is_rejected_whole(number, new, column, reason):
    with pytest.raises(StatementError) as caught:
        parse_sreport(sreport_with(number, new), period=Q4, file_name="bad.psv")
    assert reason in rejected(caught, number, column)


@pytest.mark.parametrize(
    ("bad", "period", "line", "column", "reason"),
    BAD_SREPORT_FILES.values(),
    ids=BAD_SREPORT_FILES,
)
def test_bad_sreport_file_is_rejected_whole(bad, period, line, column, reason):
    with pytest.raises(StatementError) as caught:
        parse_sreport(bad, period=period, file_name="bad.psv")
    assert reason in rejected(caught, line, column)


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


# --------------------------------------------------------------------------------------------
# any CSV through a declared column mapping

MESOCENTRE = ColumnMapping(
    account="Projet",
    hours="Heures GPU",
    units_hours="Heures normalisées",
    gpu_type="Type GPU",
    period="Trimestre",
)


def test_mapped_csv_reads_a_custom_header_and_ignores_unmapped_columns():
    statement = parse_mapped_csv(
        data("mesocentre_2026Q3.csv"), period=Q3, file_name="meso.csv", mapping=MESOCENTRE
    )

    assert statement.origin == "mapped-csv:meso.csv"
    assert statement.lines == (
        StatementLine(2, "chair-nlp", "a100", Q3, 45_000, 90_000),
        StatementLine(3, "chair-health", "h100", Q3, 10_800, 21_600),
    )


def test_mapped_csv_in_gpu_seconds_with_a_declared_separator_and_no_type_or_units():
    text = "account\tused_s\tnote\nchair-nlp\t128\tfrom sacct\nproj-thesis-01\t87\t\n"
    mapping = ColumnMapping(account="account", gpu_seconds="used_s", delimiter="\t")
    statement = parse_mapped_csv(text.encode(), period=Q4, file_name="s.tsv", mapping=mapping)
    assert statement.lines == (
        StatementLine(2, "chair-nlp", "", Q4, 128, None),
        StatementLine(3, "proj-thesis-01", "", Q4, 87, None),
    )
    units_only = ColumnMapping(account="account", units_hours="used_s", delimiter="\t")
    statement = parse_mapped_csv(text.encode(), period=Q4, file_name="s.tsv", mapping=units_only)
    assert [(x.gpu_seconds, x.units) for x in statement.lines] == [(None, 128 * H), (None, 87 * H)]


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"gpu_seconds": "s", "hours": "h"}, id="seconds-and-hours"),
        pytest.param({}, id="no-amount"),
        pytest.param({"hours": " "}, id="empty-column-name"),
        pytest.param({"hours": "h", "delimiter": ";;"}, id="two-character-separator"),
    ],
)
def test_a_mapping_must_name_one_gpu_amount(fields):
    with pytest.raises(StatementError, match="column mapping") as caught:
        ColumnMapping(account="a", **fields)
    rejected(caught, None, None)


MESO = data("mesocentre_2026Q3.csv").decode()
#: name: (file, line, column, reason)
BAD_MAPPED = {
    "missing": (MESO.replace("Heures GPU", "Heures").encode(), 1, "Heures GPU", "missing column"),
    "repeated": (MESO.replace("Commentaire", "Projet").encode(), 1, "Projet", "repeated column"),
    "another-period": (
        (MESO + "chair-health;h100;2026Q2;1;2;\n").encode(),
        4,
        "Trimestre",
        "period '2026Q2' is not 2026Q3",
    ),
    "duplicate": (
        (MESO + "chair-nlp;a100;2026Q3;1;2;encore\n").encode(),
        4,
        "Projet",
        "same account and GPU type ('chair-nlp'/'a100') as line 2",
    ),
    "empty-account": ((MESO + ";a100;2026Q3;1;2;\n").encode(), 4, "Projet", "empty"),
    "negative": ((MESO + "chair-x;a100;2026Q3;-1;2;\n").encode(), 4, "Heures GPU", "negative"),
    "fraction-of-second": (
        (MESO + "chair-x;a100;2026Q3;1;2,00001;\n").encode(),
        4,
        "Heures normalisées",
        "not a whole number of seconds",
    ),
    "latin-1-file": (MESO.encode("latin-1"), 1, None, "not UTF-8"),
    "latin-1-ignored-column": (
        (MESO + "chair-x;a100;2026Q3;1;2;").encode() + "thèse\n".encode("latin-1"),
        4,
        "Commentaire",
        "not UTF-8",
    ),
    "header-only": (MESO.splitlines()[0].encode(), 2, None, "no data rows"),
}


@pytest.mark.parametrize(("bad", "line", "column", "reason"), BAD_MAPPED.values(), ids=BAD_MAPPED)
def test_bad_mapped_csv_is_rejected_whole(bad, line, column, reason):
    with pytest.raises(StatementError) as caught:
        parse_mapped_csv(bad, period=Q3, file_name="bad.csv", mapping=MESOCENTRE)
    assert reason in rejected(caught, line, column)


# --------------------------------------------------------------------------------------------
# unknown accounts, and the digest that makes imports idempotent


def test_check_accounts_names_the_first_unknown_account():
    statement = parse_sreport(SREPORT, period=Q4, file_name="h07.psv")
    check_accounts(statement, DIRECT.__contains__)  # all known: nothing to say

    with pytest.raises(StatementError) as caught:
        check_accounts(statement, {"chair-health"}.__contains__)
    assert "'chair-nlp'" in rejected(caught, 9, "account")


def test_same_bytes_same_digest_one_byte_changed_another():
    first = parse_sreport(SREPORT, period=Q4, file_name="h07.psv")
    again = parse_sreport(bytes(SREPORT), period=Q4, file_name="renamed.psv")
    assert first.sha256 == again.sha256 == hashlib.sha256(SREPORT).hexdigest()
    assert first.lines == again.lines

    changed = SREPORT.replace(b"alice||gres/gpu|128", b"alice||gres/gpu|129")
    assert len(changed) == len(SREPORT)
    other = parse_sreport(changed, period=Q4, file_name="h07.psv")
    assert other.sha256 != first.sha256
    assert {x.account: x.gpu_seconds for x in other.lines}["chair-nlp"] == 129
