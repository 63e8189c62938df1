"""A project's hours pool by pool (the portal's project page), on in-memory fakes."""

from __future__ import annotations

import pytest

from accounting import services as acc
from accounting.ports import DailyUse
from allocator.errors import NotFound
from tests.builders import ALICE, BOB, CAL, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3, consumed


def test_a_projects_pools_show_balance_burn_use_by_gpu_type_and_day(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p1", 30)
    uow.committed_store.windows[("p1", "loc")] = (14 * H, 30 * H)
    day = CAL.day_of(CAL.period(Q3).start)
    uow.committed_store.daily[(Q3, "p1")] = [
        DailyUse("loc", day + 1, "h100", 10 * H, 10 * H),
        DailyUse("loc", day, "a100", 12 * H, 12 * H),
        DailyUse("loc", day + 1, "a100", 8 * H, 8 * H),
    ]
    found = acc.project_usage(uow, ALICE, "p1", Q3, now=NOW, calendar=CAL)
    assert found.period.label == Q3
    (loc,) = found.pools  # pools without hours in the period are left out
    assert loc.pool.id == "loc"
    assert (loc.balance.available, loc.balance.remaining) == (100 * H, 70 * H)
    # burning now, but 2026Q3 has ended: no exhaustion date for it
    assert loc.burn.rate_7d > 0 and loc.burn.exhaustion is None
    assert [(t.gpu_type, t.gpu_seconds) for t in loc.by_type] == [
        ("a100", 20 * H),
        ("h100", 10 * H),
    ]
    assert loc.daily == ((day, 12 * H), (day + 1, 18 * H))


def test_another_chairs_project_is_unknown(uow: FakeAccountingUnitOfWork) -> None:
    with pytest.raises(NotFound):
        acc.project_usage(uow, BOB, "p1", Q3, now=NOW, calendar=CAL)
