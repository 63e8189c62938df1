"""sreport statements: direct (Login) usage per account; account totals are never counted;
the window is read in the site's time zone. A bad file is rejected whole, naming line and
column.
"""

from __future__ import annotations

import re

import pytest

from accounting.errors import StatementError
from accounting.statements import (
    MAX_HOURS,
    StatementLine,
    parse_sreport,
)
from allocator.periods import Calendar
from tests.unit.accounting.statements_support import DIRECT, Q3, Q4, SREPORT, H, rejected

# --------------------------------------------------------------------------------------------
# sreport: direct (Login) usage per account; account totals are never counted

SREPORT_TEXT = SREPORT.decode()


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
