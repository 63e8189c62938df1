"""Thesis-aware projects through the use cases on the fakes: an admin sets p1's end (its
defence, 15 December 2026); no request, approval or allocation for a period beginning after
it (a 4xx naming the field), the period it falls in still allowed; once it has passed, p1's
unused hours return to its chair, journaled, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.errors import Forbidden, InvalidInput
from allocator.model import EntryKind
from tests.builders import ADMIN, ALICE, CAL, H, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
DEFENCE = datetime(2026, 12, 15, tzinfo=UTC)
AFTER = datetime(2026, 12, 20, tzinfo=UTC)


class Consumption:
    def __init__(self) -> None:
        self.used: dict[tuple[str, str], tuple[int, int]] = {}

    def __call__(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        return self.used if period == "2026Q4" else {}


@pytest.fixture
def uow() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    seed_world(u, NOW)
    svc.allocate_to_project(u, ADMIN, NOW, "nat", "p1", "2026Q4", 100 * H, "x", True, calendar=CAL)
    return u


def test_no_allocation_for_a_period_after_the_defence(uow: FakeUnitOfWork) -> None:
    with pytest.raises(Forbidden):
        svc.set_project_end(uow, ALICE, NOW, "p1", DEFENCE)
    asked = svc.submit_request(
        uow, ALICE, NOW, "p1", "nat", [("2027Q1", 10 * H)], "before", calendar=CAL
    )
    svc.set_project_end(uow, ADMIN, NOW, "p1", DEFENCE)
    assert uow.committed_store.projects["p1"].end == DEFENCE
    with pytest.raises(InvalidInput) as refused:
        svc.submit_request(uow, ALICE, NOW, "p1", "nat", [("2027Q1", H)], "more", calendar=CAL)
    assert refused.value.field == "periods" and "end of project p1" in str(refused.value)
    with pytest.raises(InvalidInput) as refused:
        svc.approve_request(uow, ADMIN, NOW, asked.id, calendar=CAL)
    assert refused.value.field == "periods"
    with pytest.raises(InvalidInput) as refused:
        svc.allocate_to_project(uow, ADMIN, NOW, "nat", "p1", "2027Q1", H, "x", True, calendar=CAL)
    assert refused.value.field == "period"
    # the quarter the defence falls in is still the project's
    svc.submit_request(uow, ALICE, NOW, "p1", "nat", [("2026Q4", H)], "last runs", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, NOW, "nat", "p1", "2026Q4", H, "x", True, calendar=CAL)


def test_after_the_defence_the_unused_hours_return_to_the_chair_once(
    uow: FakeUnitOfWork,
) -> None:
    used = Consumption()
    used.used[("p1", "nat")] = (30 * H, 0)
    svc.set_project_end(uow, ADMIN, NOW, "p1", DEFENCE)
    assert svc.return_after_end(uow, ADMIN, NOW, used, calendar=CAL) == []  # not yet ended
    back = svc.return_after_end(uow, ADMIN, AFTER, used, calendar=CAL)
    assert [(e.kind, e.source, e.target, e.amount, e.period, e.reference) for e in back] == [
        (EntryKind.RELEASE, "project:p1", "chair:chair-a", 70 * H, "2026Q4", "project-end:p1")
    ]
    assert "ended 2026-12-15" in back[0].reason
    assert svc.return_after_end(uow, ADMIN, AFTER, used, calendar=CAL) == []
    with pytest.raises(InvalidInput) as refused:
        svc.return_after_end(uow, ADMIN, AFTER, used, calendar=CAL, project_id="p2")
    assert refused.value.field == "project_id"
