"""The statement files of the parser tests (``tests/data/statements``), and how a rejection
is checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from accounting.errors import StatementError

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


SREPORT = data("sreport_gpu_seconds_hour07.psv")
#: What the recorded slurmrestd reply gives per account for the same hour (tests/slurm).
DIRECT = {"chair-nlp": 128, "chair-health": 19, "proj-thesis-01": 87}
