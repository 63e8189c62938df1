"""CSV cells a spreadsheet would run are neutralised; numbers stay numbers (OWASP CSV
injection: a leading ``'`` makes the cell text)."""

from __future__ import annotations

import pytest

from accounting.report import spreadsheet_safe


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x","y")', '\'=HYPERLINK("http://x","y")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("-", "'-"),
        ("-1e3", "'-1e3"),
        # plain numbers and ordinary text are written as they are
        ("-2.00", "-2.00"),
        ("-0.25", "-0.25"),
        ("12", "12"),
        ("gpu-hour", "gpu-hour"),
        ("normalised=gpu", "normalised=gpu"),
        ("", ""),
        (None, ""),
    ],
)
def test_a_cell_a_spreadsheet_would_run_gets_a_leading_quote(cell: object, written: str) -> None:
    assert spreadsheet_safe(cell) == written
