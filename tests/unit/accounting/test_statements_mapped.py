"""Any CSV through a declared column mapping; a bad file is rejected whole, naming line and
column.
"""

from __future__ import annotations

import pytest

from accounting.errors import StatementError
from accounting.statements import (
    ColumnMapping,
    StatementLine,
    parse_mapped_csv,
)
from tests.unit.accounting.statements_support import Q3, Q4, H, data, rejected

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
