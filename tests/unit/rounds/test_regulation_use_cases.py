"""Regulation through the use cases on the in-memory fakes: a pool's GENCI rule, a 12-month
grant with a project 25 % used at month 5; ``simulate`` shows the amount and the date,
``apply`` posts it once (journaled ``clawback:...``, back to the chair), a second apply posts
nothing; a clawback never takes more than the project has unused in the period."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.errors import Forbidden, InvalidInput, NotFound
from allocator.model import Chair, EntryKind, PoolKind, Project, ProjectKind
from allocator.periods import Calendar, PeriodScheme
from allocator.regulation import Destination, LinearPlanRule, Regulation, UnderuseRule
from tests.builders import ADMIN, ALICE, ENGINEER, H, national_pool
from tests.fakes import FakeUnitOfWork

YEARS = Calendar(PeriodScheme.YEAR)
START = datetime(2026, 1, 1, tzinfo=UTC)
MONTH_5 = datetime(2026, 6, 1, tzinfo=UTC)
GENCI = Regulation("genci", UnderuseRule())


class Consumption:
    def __init__(self) -> None:
        self.used: dict[tuple[str, str], tuple[int, int]] = {}

    def __call__(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        return self.used if period == "2026" else {}


@pytest.fixture
def uow() -> FakeUnitOfWork:
    """A 12-month national grant of 1 000 h, all of it allocated to thesis-ana."""
    u = FakeUnitOfWork()
    with u:
        u.users.add(ADMIN)
        u.users.add(ENGINEER)
        u.users.add(ALICE)
        u.commit()
    pool = national_pool(id="genci", valid_from=START, valid_until=datetime(2027, 1, 1, tzinfo=UTC))
    assert pool.kind is PoolKind.NATIONAL
    svc.create_pool_with_grant(u, ADMIN, START, pool, 1000 * H, calendar=YEARS)
    svc.create_chair(u, ADMIN, START, Chair("chair-nlp", "NLP"))
    svc.create_project(
        u, ADMIN, START, Project("thesis-ana", "chair-nlp", "Ana", ProjectKind.THESIS, "alice")
    )
    svc.allocate_to_project(
        u, ADMIN, START, "genci", "thesis-ana", "2026", 1000 * H, "grant", True, calendar=YEARS
    )
    return u


def test_a_grant_25_percent_used_at_month_5_is_simulated_applied_once_and_journaled(
    uow: FakeUnitOfWork,
) -> None:
    used = Consumption()
    used.used[("thesis-ana", "genci")] = (250 * H, 0)
    svc.set_regulation(uow, ADMIN, START, GENCI)
    april = datetime(2026, 4, 1, tzinfo=UTC)
    (outlook,) = svc.simulate_regulation(uow, ENGINEER, april, "genci", used, calendar=YEARS)
    assert outlook.standing.grant.amount == 1000 * H and outlook.standing.consumed == 250 * H
    # 250 h over 90 days burn on to 333 h by 1 June: 33 %, above 30 %: nothing ahead
    assert outlook.ahead == ()
    (outlook,) = svc.simulate_regulation(uow, ENGINEER, MONTH_5, "genci", used, calendar=YEARS)
    assert [(c.on, c.amount) for c in outlook.ahead] == [(MONTH_5, 400 * H)]

    entries = svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", used, calendar=YEARS)
    assert [(e.kind, e.source, e.target, e.amount, e.period, e.reference) for e in entries] == [
        (
            EntryKind.RELEASE,
            "project:thesis-ana",
            "chair:chair-nlp",
            400 * H,
            "2026",
            "clawback:genci:thesis-ana:2026-06-01",
        )
    ]
    assert "25 % of 1 000 h used 5 months into the grant" in entries[0].reason
    assert svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", used, calendar=YEARS) == []
    later = datetime(2026, 7, 1, tzinfo=UTC)
    assert svc.apply_regulation(uow, ADMIN, later, "genci", used, calendar=YEARS) == []
    (outlook,) = svc.simulate_regulation(uow, ENGINEER, MONTH_5, "genci", used, calendar=YEARS)
    assert outlook.ahead == () and outlook.standing.clawed_total == 400 * H


def test_a_clawback_takes_no_more_than_the_project_has_unused(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    used.used[("thesis-ana", "genci")] = (250 * H, 0)
    svc.set_regulation(uow, ADMIN, START, GENCI)
    svc.release(uow, ADMIN, START, "genci", "thesis-ana", "2026", 500 * H, "lent to nobody",
                calendar=YEARS)  # fmt: skip
    # the grant is now 500 h, 250 h used: 50 %, above 30 %: nothing
    assert svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", used, calendar=YEARS) == []


def test_a_clawback_is_capped_at_the_hours_the_project_has_unused(uow: FakeUnitOfWork) -> None:
    used = Consumption()
    used.used[("thesis-ana", "genci")] = (250 * H, 0)
    svc.set_regulation(uow, ADMIN, START, GENCI)
    svc.create_project(
        uow, ADMIN, START, Project("rnd-bob", "chair-nlp", "Bob", ProjectKind.RND, "alice")
    )
    svc.transfer(uow, ADMIN, START, "genci", "2026", "thesis-ana", "rnd-bob", 600 * H, "moved",
                 calendar=YEARS)  # fmt: skip
    (entry,) = svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", used, calendar=YEARS)
    assert entry.amount == 150 * H  # 1 000 - 600 - 250 unused, not the 400 h the rule says
    assert entry.reason.endswith("150 h unused in 2026, so 150 h reclaimed")


def test_the_pool_regulated_back_to_the_pool_moves_the_chairs_hours_too(
    uow: FakeUnitOfWork,
) -> None:
    used = Consumption()
    svc.set_regulation(uow, ADMIN, START, Regulation("genci", UnderuseRule(), Destination.POOL))
    entries = svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", used, calendar=YEARS)
    assert [(e.source, e.target, e.amount) for e in entries] == [
        ("project:thesis-ana", "chair:chair-nlp", 400 * H),
        ("chair:chair-nlp", "pool:genci", 400 * H),
    ]


def test_rules_are_an_admins_with_bounded_parameters(uow: FakeUnitOfWork) -> None:
    with pytest.raises(Forbidden):
        svc.set_regulation(uow, ENGINEER, START, GENCI)
    with pytest.raises(InvalidInput) as refused:
        svc.set_regulation(uow, ADMIN, START, Regulation("genci", UnderuseRule(reclaim_milli=0)))
    assert refused.value.field == "reclaim_milli"
    with pytest.raises(InvalidInput) as refused:
        svc.set_regulation(uow, ADMIN, START, Regulation("genci", LinearPlanRule(check_day=32)))
    assert refused.value.field == "check_day"
    with pytest.raises(NotFound) as unknown:
        svc.apply_regulation(uow, ADMIN, MONTH_5, "genci", Consumption(), calendar=YEARS)
    assert unknown.value.field == "pool_id"
    svc.set_regulation(uow, ADMIN, START, Regulation("genci", LinearPlanRule()))
    assert [r.rule.name for r in svc.list_regulations(uow, ENGINEER)] == ["tgcc"]
