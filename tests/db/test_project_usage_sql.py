"""A project's daily use by pool and GPU type, from the daily rollup (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from accounting.ports import DailyUse
from accounting.services import project_usage
from tests.builders import ALICE, CAL, H
from tests.db.test_accounting import NOV, rec, store, world


def test_a_projects_use_is_read_by_pool_day_and_gpu_type(engine: Engine) -> None:
    uow = world(engine)
    day = CAL.day_of(datetime.fromtimestamp(NOV, UTC))
    store(
        engine,
        [
            rec(1, NOV, 3600, 2),
            rec(2, NOV + 7200, 1800, gpus_by_type=(("h100", 1),)),
            rec(3, NOV + 86400, 3600),
            rec(4, NOV, 3600, account="acct-p2"),  # another project's account
        ],
        NOV + 3 * 86400,
    )
    with uow:
        found = uow.consumption.daily_of("p1", "2026Q4")
    assert list(found) == [
        DailyUse("loc", day, "a100", 2 * H, 2 * H),
        DailyUse("loc", day, "h100", 1800, 0),  # no rate for h100 in ``loc``: kept, unpriced
        DailyUse("loc", day + 1, "a100", H, H),
    ]
    now = datetime.fromtimestamp(NOV + 3 * 86400, UTC)
    shown = project_usage(uow, ALICE, "p1", "2026Q4", now=now, calendar=CAL)
    (loc,) = shown.pools
    assert [(t.gpu_type, t.gpu_seconds) for t in loc.by_type] == [("a100", 3 * H), ("h100", 1800)]
    assert loc.balance.consumed == sum(t.units for t in loc.by_type) == 3 * H


def test_a_projects_jobs_are_read_with_their_user_and_gpu_types(engine: Engine) -> None:
    uow = world(engine)
    store(
        engine,
        [
            rec(1, NOV, 3600, 2, user="carol"),
            rec(2, NOV + 7200, 1800, gpus_by_type=(("a100", 1), ("h100", 1)), gpus=2),
            rec(3, NOV, 3600, account="acct-p2"),  # another project's account
        ],
        NOV + 86400,
    )
    with uow:
        found = uow.consumption.job_lines("p1", "2026Q4")
    assert [(j.job_id, j.user, j.gpu_type, j.gpu_seconds, j.units) for j in found] == [
        (1, "carol", "a100", 2 * H, 2 * H),
        (2, "alice", "a100", 1800, 1800),
        (2, "alice", "h100", 1800, 0),
    ]
    assert {j.pool_id for j in found} == {"loc"} and not any(j.provisional for j in found)
