"""Borrowing and lending inside a chair: the chair's total never changes, loans come back."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from allocator.errors import AllocatorError, Conflict, OverCommit
from allocator.lending import (
    Limits,
    Move,
    ReturnPolicy,
    Terms,
    borrow,
    lend,
    lent_out,
    loans_of,
    owed,
    period_end,
    recall,
)
from allocator.model import EntryKind, LedgerEntry, project_account
from tests.conftest import NOW

PROJECTS = ["thesis-ana", "rnd-bob", "rnd-cyd", "teach-dan"]
MOVE = Move("admin", NOW, "loan inside chair-nlp")


@dataclass
class Chair:
    """A chair's projects in one pool and period: unused hours, consumption and the journal."""

    terms: Terms
    unused: dict[str, int]
    consumed: dict[str, int] = field(default_factory=dict)
    journal: list[LedgerEntry] = field(default_factory=list)

    def post(self, entries: list[LedgerEntry]) -> None:
        for e in entries:
            source = e.source.removeprefix(project_account(""))
            target = e.target.removeprefix(project_account(""))
            assert e.kind is EntryKind.TRANSFER and {source, target} <= set(PROJECTS)
            assert e.amount > 0
            self.unused[source] -= e.amount
            self.unused[target] += e.amount
            self.journal.append(e)

    @property
    def total(self) -> int:
        return sum(self.unused.values()) + sum(self.consumed.values())


project = st.sampled_from(PROJECTS)
amount = st.integers(1, 400)
operations = st.lists(
    st.one_of(
        st.tuples(st.just("lend"), project, project, amount),
        st.tuples(st.just("borrow"), project, amount),
        st.tuples(st.just("recall"), project, amount),
        st.tuples(st.just("consume"), project, amount),
        st.tuples(st.just("period_end")),
    ),
    max_size=25,
)
limit = st.one_of(st.none(), st.integers(0, 600))


@st.composite
def chairs(draw: st.DrawFn) -> Chair:
    limits = tuple(Limits(p, draw(limit), draw(limit)) for p in PROJECTS)
    policy = draw(st.sampled_from(list(ReturnPolicy)))
    terms = Terms("chair-nlp", "jz", "2027Q1", policy, limits)
    return Chair(terms, {p: draw(st.integers(0, 1000)) for p in PROJECTS})


def run(chair: Chair, operation: tuple[object, ...]) -> None:
    loans = loans_of(chair.journal)
    name, *args = operation
    if name == "consume":
        who, hours = str(args[0]), min(int(str(args[1])), chair.unused[str(args[0])])
        chair.unused[who] -= hours
        chair.consumed[who] = chair.consumed.get(who, 0) + hours
        return
    try:
        if name == "lend":
            chair.post(
                lend(chair.terms, loans, chair.unused, *map(str, args[:2]), int(str(args[2])), MOVE)
            )
        elif name == "borrow":
            chair.post(
                borrow(chair.terms, loans, chair.unused, str(args[0]), int(str(args[1])), MOVE)
            )
        elif name == "recall":
            chair.post(
                recall(chair.terms, loans, chair.unused, str(args[0]), int(str(args[1])), MOVE)
            )
        else:
            chair.post(period_end(chair.terms, loans, chair.unused, MOVE))
    except AllocatorError:
        pass  # refused whole: nothing posted


def check_limits(chair: Chair) -> None:
    loans = loans_of(chair.journal)
    for limits in chair.terms.limits:
        if limits.lending_limit is not None:
            assert lent_out(loans, limits.project_id) <= limits.lending_limit
        if limits.borrowing_limit is not None:
            assert owed(loans, limits.project_id) <= limits.borrowing_limit
        assert not (lent_out(loans, limits.project_id) and owed(loans, limits.project_id))


class TestLendingProperties:
    @settings(max_examples=120, deadline=None)
    @given(chairs(), operations)
    def test_the_chairs_total_never_changes_and_loans_return_at_period_end(
        self, chair: Chair, sequence: list[tuple[object, ...]]
    ) -> None:
        """Through any lends, borrows, recalls, consumption and period ends: the chair's total is
        the same, no project goes below zero, the limits hold, and at the period's end every
        loan is back, but for hours its borrower consumed."""
        total = chair.total
        for operation in sequence:
            run(chair, operation)
            assert chair.total == total
            assert min(chair.unused.values()) >= 0
            check_limits(chair)
        chair.post(period_end(chair.terms, loans_of(chair.journal), chair.unused, MOVE))
        for loan in loans_of(chair.journal):
            assert loan.outstanding == 0 or chair.unused[loan.borrower] == 0
        assert period_end(chair.terms, loans_of(chair.journal), chair.unused, MOVE) == []


TERMS = Terms(
    "chair-nlp",
    "jz",
    "2027Q1",
    ReturnPolicy.RECALL,
    (
        Limits("thesis-ana", lending_limit=300),
        Limits("rnd-bob", borrowing_limit=500),
        Limits("rnd-cyd"),
    ),
)


class TestLoans:
    def test_a_loan_is_a_transfer_the_journal_remembers(self) -> None:
        entries = lend(TERMS, (), {"thesis-ana": 1000}, "thesis-ana", "rnd-bob", 200, MOVE)
        assert [(e.kind, e.source, e.target, e.amount, e.reference) for e in entries] == [
            (EntryKind.TRANSFER, "project:thesis-ana", "project:rnd-bob", 200, "loan:1")
        ]
        assert loans_of(entries)[0].outstanding == 200

    def test_lending_beyond_the_lending_limit_is_refused(self) -> None:
        with pytest.raises(OverCommit, match="lending limit"):
            lend(TERMS, (), {"thesis-ana": 1000}, "thesis-ana", "rnd-bob", 301, MOVE)

    def test_borrowing_beyond_the_borrowing_limit_is_refused(self) -> None:
        with pytest.raises(OverCommit, match="borrowing limit"):
            borrow(TERMS, (), {"thesis-ana": 300, "rnd-cyd": 900}, "rnd-bob", 501, MOVE)

    def test_borrowing_takes_from_the_projects_with_most_to_lend_first(self) -> None:
        unused = {"thesis-ana": 1000, "rnd-cyd": 250}
        entries = borrow(TERMS, (), unused, "rnd-bob", 450, MOVE)
        assert [(e.source, e.amount, e.reference) for e in entries] == [
            ("project:thesis-ana", 300, "loan:1"),  # its lending limit
            ("project:rnd-cyd", 150, "loan:2"),
        ]

    def test_a_recall_returns_the_newest_loans_first_as_far_as_the_borrower_has_hours(self) -> None:
        journal = lend(TERMS, (), {"rnd-cyd": 900}, "rnd-cyd", "rnd-bob", 100, MOVE)
        journal += lend(TERMS, loans_of(journal), {"rnd-cyd": 800}, "rnd-cyd", "rnd-bob", 200, MOVE)
        back = recall(TERMS, loans_of(journal), {"rnd-bob": 250}, "rnd-cyd", 280, MOVE)
        assert [(e.reference, e.amount) for e in back] == [
            ("loan:2:return", 200),
            ("loan:1:return", 50),
        ]

    def test_a_chair_that_returns_at_period_end_refuses_a_recall(self) -> None:
        terms = Terms("chair-nlp", "jz", "2027Q1", ReturnPolicy.PERIOD_END, TERMS.limits)
        journal = lend(terms, (), {"rnd-cyd": 900}, "rnd-cyd", "rnd-bob", 100, MOVE)
        with pytest.raises(Conflict, match="period's end only"):
            recall(terms, loans_of(journal), {"rnd-bob": 100}, "rnd-cyd", 100, MOVE)
        assert [
            e.reference for e in period_end(terms, loans_of(journal), {"rnd-bob": 100}, MOVE)
        ] == ["loan:1:return"]

    def test_a_project_outside_the_chair_neither_lends_nor_borrows(self) -> None:
        with pytest.raises(AllocatorError, match="not a project of chair-nlp"):
            lend(TERMS, (), {"rnd-cyd": 900}, "rnd-cyd", "vision-eve", 100, MOVE)


def test_a_project_that_owes_hours_does_not_lend() -> None:
    journal = lend(TERMS, (), {"rnd-cyd": 900}, "rnd-cyd", "rnd-bob", 100, MOVE)
    with pytest.raises(Conflict, match="owes hours"):
        lend(TERMS, loans_of(journal), {"rnd-bob": 500}, "rnd-bob", "thesis-ana", 50, MOVE)
