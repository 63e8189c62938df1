"""Importing and listing statements, on in-memory fakes: all or nothing, once per file."""

from __future__ import annotations

import pytest

from accounting import services as acc
from accounting.errors import PeriodClosed, StatementError
from accounting.statements import ColumnMapping
from allocator.errors import Forbidden, InvalidInput, NotFound
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3, national


def test_a_statement_is_stored_with_its_lines_and_the_import_is_journaled(
    uow: FakeAccountingUnitOfWork,
) -> None:
    data = national(("acct-p1", 100), ("acct-p2", 40.5))
    info = acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", data, "q3.csv", calendar=CAL
    )
    assert info.created and (info.pool_id, info.period, info.lines) == ("loc", Q3, 2)
    assert (info.format, info.origin, info.imported_by) == (
        "national-csv",
        "national-csv:q3.csv",
        "admin",
    )
    store = uow.committed_store
    assert [(a.account, a.units) for a in store.statement_lines] == [
        ("acct-p1", 100 * H),
        ("acct-p2", 40 * H + H // 2),
    ]
    [event] = [e for e in store.audit if e.action == "statement.import"]
    assert event.subject == "pool:loc" and f"sha256={info.sha256} lines=2" in event.detail


def test_the_same_file_again_is_a_no_op(uow: FakeAccountingUnitOfWork) -> None:
    data = national(("acct-p1", 100))
    first = acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", data, "a.csv", calendar=CAL
    )
    again = acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", data, "b.csv", calendar=CAL
    )
    assert not again.created and again.id == first.id and again.file_name == "a.csv"
    assert len(uow.committed_store.statements) == 1
    assert len([e for e in uow.committed_store.audit if e.action == "statement.import"]) == 1


def test_a_statement_naming_an_account_no_project_claims_is_refused_whole(
    uow: FakeAccountingUnitOfWork,
) -> None:
    data = national(("acct-p1", 100), ("acct-unknown", 3))
    with pytest.raises(StatementError, match="acct-unknown"):
        acc.import_statement(
            uow, ADMIN, NOW, "loc", Q3, "national-csv", data, "q3.csv", calendar=CAL
        )
    assert uow.committed_store.statements == [] and uow.committed_store.statement_lines == []


def test_a_bad_line_rejects_the_whole_file(uow: FakeAccountingUnitOfWork) -> None:
    data = national(("acct-p1", 100)) + b"acct-p2,a100,2026Q3,-1,-1\n"
    with pytest.raises(StatementError):
        acc.import_statement(
            uow, ADMIN, NOW, "loc", Q3, "national-csv", data, "q3.csv", calendar=CAL
        )
    assert uow.committed_store.statements == []


def test_no_statement_is_imported_into_a_closed_period(uow: FakeAccountingUnitOfWork) -> None:
    acc.close_period(uow, ADMIN, NOW, Q3, "signed off", force=True, calendar=CAL)
    with pytest.raises(PeriodClosed):
        acc.import_statement(
            uow,
            ADMIN,
            NOW,
            "loc",
            Q3,
            "national-csv",
            national(("acct-p1", 1)),
            "late.csv",
            calendar=CAL,
        )
    assert uow.committed_store.statements == []


def test_only_an_administrator_imports_and_the_pool_must_exist(
    uow: FakeAccountingUnitOfWork,
) -> None:
    data = national(("acct-p1", 1))
    with pytest.raises(Forbidden):
        acc.import_statement(
            uow, ENGINEER, NOW, "loc", Q3, "national-csv", data, "q3.csv", calendar=CAL
        )
    with pytest.raises(NotFound):
        acc.import_statement(
            uow, ADMIN, NOW, "nope", Q3, "national-csv", data, "q3.csv", calendar=CAL
        )


@pytest.mark.parametrize(
    ("fmt", "file_name", "field"),
    [
        ("mapped-csv", "q3.csv", "mapping"),
        ("excel", "q3.csv", "format"),
        ("national-csv", " ", "file_name"),
        ("national-csv", "x" * 256, "file_name"),
    ],
)
def test_an_import_the_use_case_cannot_read_is_refused_naming_the_field(
    uow: FakeAccountingUnitOfWork, fmt: str, file_name: str, field: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        acc.import_statement(
            uow, ADMIN, NOW, "loc", Q3, fmt, national(("acct-p1", 1)), file_name, calendar=CAL
        )
    assert err.value.field == field


def test_a_mapped_csv_reads_the_columns_its_mapping_names(uow: FakeAccountingUnitOfWork) -> None:
    data = b"compte;heures\nacct-p1;12,5\n"
    mapping = ColumnMapping("compte", units_hours="heures")
    info = acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "mapped-csv", data, "m.csv", mapping, calendar=CAL
    )
    assert info.format == "mapped-csv"
    assert [a.units for a in uow.committed_store.statement_lines] == [12 * H + H // 2]


def test_statements_are_listed_by_pool_and_period_for_engineers_not_researchers(
    uow: FakeAccountingUnitOfWork,
) -> None:
    acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", national(("acct-p1", 1)), "a.csv", calendar=CAL
    )
    acc.import_statement(
        uow, ADMIN, NOW, "loc", Q3, "national-csv", national(("acct-p1", 2)), "b.csv", calendar=CAL
    )
    listed = acc.list_statements(uow, ENGINEER, "loc", Q3, now=NOW, calendar=CAL)
    assert [i.file_name for i in listed] == ["a.csv", "b.csv"]
    assert acc.list_statements(uow, ADMIN, "nat", None, now=NOW, calendar=CAL) == []
    with pytest.raises(Forbidden):
        acc.list_statements(uow, ALICE, None, None, now=NOW, calendar=CAL)
