"""Charges and the rollups, kept in step with ingestion, on SQLite and PostgreSQL.

Invariant checked after every store: ``usage_daily`` and ``usage_period`` equal ``charges``
summed by their keys, so the rollups that balances, reports and burn rates read are never
stale.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from sqlalchemy import Engine, func, select

from accounting.ingestion import UsageBatch, Window
from accounting.services import close_period, report
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import ClusterRoute, Rate
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnRow, UsageBurnStateRow
from connectors.db.consumption import SqlConsumption, consumption_by_project
from connectors.db.engine import make_session_factory
from connectors.db.uow import SqlUnitOfWork
from connectors.db.usage_store import SqlUsageStore
from tests.builders import ADMIN, CAL, EPOCH, H, seed_world, usage_record

Q3_END = int(datetime(2026, 10, 1, tzinfo=UTC).timestamp())
NOV = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


def rec(job_id: int, start: int, elapsed: int, gpus: int = 1, **kw: object) -> UsageRecord:
    return usage_record(start, elapsed, gpus, **{"job_id": job_id, "account": "acct-p1", **kw})


def store(engine: Engine, records: list[UsageRecord], now: int) -> None:
    SqlUsageStore(engine).store_window(
        "enact-dev", Window(now - 86400 * 200, now), UsageBatch(records), now, None
    )


def rollup_matches_charges(engine: Engine) -> None:
    C, D = t.ChargeRow, t.UsageDailyRow
    key = [C.period, C.pool_id, C.cluster, C.account, C.day, C.gpu_type, C.provisional, C.late]
    with engine.connect() as conn:
        from_charges = {
            tuple(r[:-2]): (int(r[-2]), int(r[-1]))
            for r in conn.execute(
                select(*key, C.priced, func.sum(C.gpu_seconds), func.sum(C.units)).group_by(
                    *key, C.priced
                )
            )
        }
        rollup = {
            tuple(r[:-2]): (int(r[-2]), int(r[-1]))
            for r in conn.execute(
                select(
                    D.period,
                    D.pool_id,
                    D.cluster,
                    D.account,
                    D.day,
                    D.gpu_type,
                    D.provisional,
                    D.late,
                    D.priced,
                    D.gpu_seconds,
                    D.units,
                )
            )
            if (r.gpu_seconds, r.units) != (0, 0)
        }
    assert rollup == from_charges
    by_period: dict[tuple[object, ...], tuple[int, int]] = {}
    for k, (secs, units) in from_charges.items():
        pk = k[:4] + k[5:]
        old = by_period.get(pk, (0, 0))
        by_period[pk] = (old[0] + secs, old[1] + units)
    P = t.UsagePeriodRow
    with engine.connect() as conn:
        period_rollup = {
            (
                r.period,
                r.pool_id,
                r.cluster,
                r.account,
                r.gpu_type,
                r.provisional,
                r.late,
                r.priced,
            ): (
                r.gpu_seconds,
                r.units,
            )
            for r in conn.execute(select(P))
            if (r.gpu_seconds, r.units) != (0, 0)
        }
    assert period_rollup == {k: v for k, v in by_period.items() if v != (0, 0)}
    burn_matches_daily(engine)


def burn_matches_daily(engine: Engine) -> None:
    """``usage_burn`` holds the non-late units of ``usage_daily`` over the 7 and 30 days
    ending on the day its state names, and the units of ``usage_period`` in the period it
    names, final and provisional (nothing to check while it names none)."""
    D, P, B, S = t.UsageDailyRow, t.UsagePeriodRow, UsageBurnRow, UsageBurnStateRow
    with engine.connect() as conn:
        state = conn.execute(select(S.day, S.period).where(S.id == 1)).first()
        if state is None or state.day is None:
            return
        today, period = state.day, state.period
        summed: dict[tuple[str, str, str], tuple[int, int, int, int]] = {}
        for r in conn.execute(select(D).where(~D.late, D.day > today - 30, D.day <= today)):
            key = (r.pool_id, r.cluster, r.account)
            w7, w30, final, provisional = summed.get(key, (0, 0, 0, 0))
            w7 += r.units if r.day > today - 7 else 0
            summed[key] = (w7, w30 + r.units, final, provisional)
        for r in conn.execute(select(P).where(P.period == period)):
            key = (r.pool_id, r.cluster, r.account)
            w7, w30, final, provisional = summed.get(key, (0, 0, 0, 0))
            if r.provisional:
                summed[key] = (w7, w30, final, provisional + r.units)
            else:
                summed[key] = (w7, w30, final + r.units, provisional)
        kept = {
            (r.pool_id, r.cluster, r.account): (
                r.units_7d,
                r.units_30d,
                r.final_units,
                r.provisional_units,
            )
            for r in conn.execute(select(B))
        }
    nothing = (0, 0, 0, 0)
    assert {k: v for k, v in kept.items() if v != nothing} == {
        k: v for k, v in summed.items() if v != nothing
    }


def world(engine: Engine) -> SqlUnitOfWork:
    uow = SqlUnitOfWork(make_session_factory(engine))
    now = datetime(2026, 7, 1, tzinfo=UTC)
    seed_world(uow, now)
    for period in ("2026Q3", "2026Q4"):
        svc.allocate_to_chair(
            uow, ADMIN, now, "loc", "chair-a", period, 100 * H, "share", calendar=CAL
        )
        svc.allocate_to_project(
            uow, ADMIN, now, "loc", "p1", period, 50 * H, "thesis", calendar=CAL
        )
    return uow


def test_ingested_usage_is_consumed_in_balances_and_reingesting_changes_nothing(
    engine: Engine,
) -> None:
    world(engine)
    jobs = [rec(1, NOV, 3600, 2), rec(2, NOV + 7200, 1800)]
    store(engine, jobs, NOV + 86400)
    consumption = SqlConsumption(engine)
    assert consumption.consumed("p1", "loc", "2026Q4") == (2 * 3600 + 1800, 0)
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(t.ChargeRow)).scalar_one()
    store(engine, jobs, NOV + 90000)
    store(engine, list(reversed(jobs)), NOV + 95000)
    with engine.connect() as conn:
        after = conn.execute(select(func.count()).select_from(t.ChargeRow)).scalar_one()
    assert after == before == 2
    assert consumption.consumed("p1", "loc", "2026Q4") == (9000, 0)
    rollup_matches_charges(engine)


def test_a_running_job_accrues_provisionally_and_the_final_record_replaces_it(
    engine: Engine,
) -> None:
    world(engine)
    running = rec(7, NOV, 600, 2, state="RUNNING", end=None)
    store(engine, [running], NOV + 600)
    assert SqlConsumption(engine).consumed("p1", "loc", "2026Q4") == (0, 1200)
    store(engine, [rec(7, NOV, 1800, 2, state="RUNNING", end=None)], NOV + 1800)
    assert SqlConsumption(engine).consumed("p1", "loc", "2026Q4") == (0, 3600)
    store(engine, [rec(7, NOV, 2000, 2)], NOV + 3000)
    assert SqlConsumption(engine).consumed("p1", "loc", "2026Q4") == (4000, 0)
    rollup_matches_charges(engine)


def test_a_job_across_the_quarter_boundary_is_consumed_in_both_quarters_once(
    engine: Engine,
) -> None:
    world(engine)
    store(engine, [rec(3, Q3_END - 1800, 5400)], NOV)
    c = SqlConsumption(engine)
    assert c.consumed("p1", "loc", "2026Q3") == (1800, 0)
    assert c.consumed("p1", "loc", "2026Q4") == (3600, 0)
    with engine.connect() as conn:
        days = sorted(conn.scalars(select(t.UsageDailyRow.day)))
    assert days == [Q3_END // 86400 - 1, Q3_END // 86400]
    rollup_matches_charges(engine)


def test_usage_no_pool_routes_and_gpus_no_rate_prices_are_kept_not_lost(engine: Engine) -> None:
    world(engine)
    elsewhere = rec(4, NOV, 100, cluster="other-cluster", account="x")
    h100 = rec(5, NOV, 100, gpus_by_type=(("h100", 1),))  # pool "loc" prices a100 only
    SqlUsageStore(engine).store_window(
        "other-cluster", Window(NOV - 10, NOV + 200), UsageBatch([elsewhere]), NOV + 200, None
    )
    store(engine, [h100], NOV + 200)
    by_project = consumption_by_project(engine, "2026Q4")
    assert by_project[("", "")].gpu_seconds == 100  # unmapped account, unrouted cluster
    assert by_project[("", "")].unpriced_gpu_seconds == 100
    assert by_project[("p1", "loc")].gpu_seconds == 100
    assert by_project[("p1", "loc")].unpriced_gpu_seconds == 100
    assert by_project[("p1", "loc")].final == 0
    rollup_matches_charges(engine)


def test_untyped_gpus_take_the_gpu_type_their_route_names(engine: Engine) -> None:
    uow = world(engine)
    with uow:
        pool = uow.pools.get("nat")
        assert pool is not None
        uow.pools.update(
            replace(
                pool,
                routes=(ClusterRoute("jean-zay", "gpu_p5", "a100"),),
                rates=(*pool.rates, Rate("", 1000, EPOCH)),
            )
        )
        uow.commit()
    job = rec(6, NOV, 3600, 1, cluster="jean-zay", partition="gpu_p5", gpus_by_type=())
    SqlUsageStore(engine).store_window(
        "jean-zay", Window(NOV - 10, NOV + 4000), UsageBatch([job]), NOV + 4000, None
    )
    with engine.connect() as conn:
        row = conn.execute(select(t.ChargeRow)).one()
    assert (row.pool_id, row.gpu_type, row.units) == ("nat", "a100", 2 * 3600)


def test_usage_arriving_after_the_close_is_booked_late_in_the_next_period(engine: Engine) -> None:
    uow = world(engine)
    sept = Q3_END - 86400 * 3
    store(
        engine,
        [rec(10, sept, 3600), rec(11, Q3_END - 600, 7200, state="RUNNING", end=None)],
        Q3_END,
    )
    closed_at = datetime(2026, 10, 2, tzinfo=UTC)
    before = report(uow, ADMIN, "2026Q3", now=closed_at, calendar=CAL)
    signed = close_period(
        uow, ADMIN, closed_at, "2026Q3", "Q3 reconciled", force=True, calendar=CAL
    )
    assert signed.rows == before.rows
    q3 = SqlConsumption(engine).consumed("p1", "loc", "2026Q3")
    assert q3 == (3600, 600)  # job 11 was running at the close: 600 s of it in Q3
    # A job of Q3 that arrives after the close, and job 11's final record (its Q3 part is
    # still 600 s: nothing late for it; its Q4 part is ordinary Q4 usage):
    late = rec(12, sept + 7200, 1800)
    store(engine, [late, rec(11, Q3_END - 600, 7200)], NOV)
    assert SqlConsumption(engine).consumed("p1", "loc", "2026Q3") == q3  # Q3 never changes
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                t.ChargeRow.job_id,
                t.ChargeRow.period,
                t.ChargeRow.origin_period,
                t.ChargeRow.gpu_seconds,
            )
            .where(t.ChargeRow.late)
            .order_by(t.ChargeRow.job_id)
        ).all()
    assert [tuple(r) for r in rows] == [(12, "2026Q4", "2026Q3", 1800)]
    q4 = consumption_by_project(engine, "2026Q4")[("p1", "loc")]
    assert q4.late == 1800
    assert q4.final == 1800 + 6600  # the late job + job 11's Q4 part
    # storing the same again books nothing more
    store(engine, [late, rec(11, Q3_END - 600, 7200)], NOV + 100)
    assert consumption_by_project(engine, "2026Q4")[("p1", "loc")] == q4
    assert report(uow, ADMIN, "2026Q3", now=closed_at, calendar=CAL) == signed
    rollup_matches_charges(engine)


def test_a_changed_record_of_a_closed_period_books_only_the_difference(engine: Engine) -> None:
    uow = world(engine)
    sept = Q3_END - 86400 * 3
    store(engine, [rec(20, sept, 1000, state="RUNNING", end=None)], sept + 1000)
    close_period(
        uow, ADMIN, datetime(2026, 10, 2, tzinfo=UTC), "2026Q3", "close", force=True, calendar=CAL
    )
    store(engine, [rec(20, sept, 1500)], NOV)  # final: 500 s more than booked in Q3
    store(engine, [rec(20, sept, 1500)], NOV + 10)
    with engine.connect() as conn:
        late = conn.execute(
            select(t.ChargeRow.period, t.ChargeRow.gpu_seconds).where(t.ChargeRow.late)
        ).all()
    assert [tuple(r) for r in late] == [("2026Q4", 500)]
    rollup_matches_charges(engine)
