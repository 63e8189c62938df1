"""The scheduled accounting jobs: rollup check, reminders, automatic close, accrual refresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, update

from accounting.ingestion import UsageBatch, Window, ingest
from accounting.services import auto_close, check_rollups, remind
from allocator import services as svc
from allocator.periods import Calendar
from connectors import scheduler
from connectors.bootstrap import build
from connectors.db import idempotency as keys
from connectors.db import tables as t
from connectors.db.engine import make_session_factory
from connectors.db.uow import SqlUnitOfWork
from connectors.db.usage_store import SqlUsageStore
from connectors.scheduler import planned_jobs
from connectors.settings import ClusterConfig, Settings
from tests.builders import ADMIN, CAL, H, seed_world
from tests.conftest import NOW, FixedClock
from tests.db.test_accounting import rec, rollup_matches_charges, store

NOV = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


def org(engine: Engine) -> SqlUnitOfWork:
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


def audits(engine: Engine, action: str) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.scalars(
                select(t.AuditEventRow.detail)
                .where(t.AuditEventRow.action == action)
                .order_by(t.AuditEventRow.id)
            )
        )


def test_the_rollup_check_rebuilds_a_drifted_row_from_the_journal_and_says_so(
    engine: Engine,
) -> None:
    org(engine)
    store(engine, [rec(1, NOV, 3600, 2), rec(2, NOV + 86400, 600)], NOV + 2 * 86400)
    now = datetime.fromtimestamp(NOV + 2 * 86400, UTC)
    assert check_rollups(SqlUnitOfWork(make_session_factory(engine)), now) == 0
    with engine.begin() as conn:
        conn.execute(update(t.UsageDailyRow).values(units=t.UsageDailyRow.units + 5))
    assert check_rollups(SqlUnitOfWork(make_session_factory(engine)), now) == 2
    rollup_matches_charges(engine)
    assert len(audits(engine, "rollup.repaired")) == 1
    assert check_rollups(SqlUnitOfWork(make_session_factory(engine)), now) == 0


def test_a_reminder_is_written_once_per_period_before_its_end(engine: Engine) -> None:
    org(engine)
    early = datetime(2026, 11, 1, tzinfo=UTC)
    said = remind(SqlUnitOfWork(make_session_factory(engine)), early, Calendar(), 14)
    # 2026Q4 is more than 14 days away; 2026Q3 ended and is not closed
    assert said == ["2026Q3 ended 2026-10-01 and is not closed"]
    late = datetime(2026, 12, 20, tzinfo=UTC)
    uow = SqlUnitOfWork(make_session_factory(engine))
    said = remind(uow, late, Calendar(), 14)
    assert said[0].startswith("2026Q4 ends 2027-01-01: 1 project(s) have used less than half")
    assert "p1" in said[0]
    assert remind(uow, late, Calendar(), 14) == []  # once per period / per day
    assert len(audits(engine, "period.reminder")) == 1


def test_auto_close_is_off_by_default_and_waits_for_unresolved_differences(
    engine: Engine,
) -> None:
    uow = org(engine)
    after = datetime(2026, 10, 20, tzinfo=UTC)
    assert auto_close(uow, after, Calendar(), None) is None
    assert auto_close(uow, datetime(2026, 10, 3, tzinfo=UTC), Calendar(), 7) is None
    assert auto_close(uow, after, Calendar(), 7) == "2026Q3"
    with uow:
        assert uow.ledger.is_closed("2026Q3")
    # p1 had 50 h allocated and used none; the local pool's policy (expire) expired them
    with engine.connect() as conn:
        expired = conn.scalar(
            select(func.sum(t.LedgerEntryRow.amount)).where(
                t.LedgerEntryRow.kind == "expiry", t.LedgerEntryRow.period == "2026Q3"
            )
        )
    assert expired == 50 * H
    assert auto_close(uow, after, Calendar(), 7) is None  # already closed


def test_the_accrual_refresh_never_moves_the_watermark(engine: Engine) -> None:
    org(engine)
    s = SqlUsageStore(engine)
    s.store_window("enact-dev", Window(0, NOV), UsageBatch([]), NOV, NOV)

    class Running:
        def fetch(self, window: Window) -> UsageBatch:
            return UsageBatch([rec(9, NOV, 7200, state="RUNNING", end=None)])

    report = ingest("enact-dev", Running(), s, NOV + 7200, since=NOV + 7140, advance=False)
    assert report.ok and report.inserted == 1
    assert s.state("enact-dev").watermark == NOV


def test_the_scheduler_plans_accrual_and_daily_jobs_and_close_only_when_allowed() -> None:
    base = Settings(
        database_url="sqlite://",
        clusters=[ClusterConfig(name="alpha", url="http://slurm:6820")],
    )
    ids = {spec.id for spec in planned_jobs(base)}
    daily = {"rollup", "remind", "purge", "project-end", "loans-return"}
    assert ids == {"ingest:alpha", "accrue:alpha", *daily}
    closing = base.model_copy(update={"auto_close_days": 10})
    assert "close" in {spec.id for spec in planned_jobs(closing)}


def test_the_hourly_purge_job_deletes_idempotency_keys_past_their_24_hours(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = FixedClock(NOW)
    answer = keys.Answer(201, [], b"{}")
    for name, age in (("old", 25), ("recent", 23)):
        claim = keys.Claim("admin", name, "fp", NOW - timedelta(hours=age))
        keys.store(engine, claim, answer, NOW - timedelta(days=30))  # no lazy purge since
    assert "purge" in {spec.id for spec in planned_jobs(Settings(database_url="sqlite://"))}
    monkeypatch.setattr(scheduler, "_services", services)
    assert scheduler.purge_idempotency_keys() is True
    with engine.connect() as conn:
        kept = set(conn.scalars(select(t.IdempotencyKeyRow.key)))
    assert kept == {"recent"}


def test_the_project_end_job_returns_an_ended_projects_hours_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = FixedClock(datetime(2026, 11, 21, tzinfo=UTC))
    seed_world(services.uow(), services.clock())
    now = services.clock()
    svc.allocate_to_project(services.uow(), ADMIN, now, "nat", "p1", "2026Q4", 5 * H, "x", True,
                            calendar=CAL)  # fmt: skip
    svc.set_project_end(services.uow(), ADMIN, now, "p1", datetime(2026, 12, 1, tzinfo=UTC))
    services.clock = FixedClock(datetime(2026, 12, 2, tzinfo=UTC))
    monkeypatch.setattr(scheduler, "_services", services)
    assert scheduler.project_ends() and scheduler.project_ends()
    with services.uow() as uow:
        back = [e for e in uow.ledger.entries() if e.reference == "project-end:p1"]
    assert [(e.amount, e.actor) for e in back] == [(5 * H, "gpuhours-scheduler")]


def test_the_loans_return_job_brings_back_the_ended_periods_loans_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    services.clock = FixedClock(datetime(2026, 11, 21, tzinfo=UTC))
    seed_world(services.uow(), services.clock())
    now = services.clock()
    svc.allocate_to_project(services.uow(), ADMIN, now, "nat", "p1", "2026Q4", 5 * H, "x", True,
                            calendar=CAL)  # fmt: skip
    uow = services.uow()
    svc.lend(uow, ADMIN, now, "nat", "2026Q4", "p1", "p1b", 2 * H, "paper",
             services.consumption.within(uow), calendar=CAL)  # fmt: skip
    services.clock = FixedClock(datetime(2027, 1, 2, tzinfo=UTC))
    monkeypatch.setattr(scheduler, "_services", services)
    assert scheduler.loans_return() and scheduler.loans_return()
    with services.uow() as uow:
        back = [e for e in uow.ledger.entries() if e.reference == "loan:1:return"]
    assert [(e.amount, e.period, e.actor) for e in back] == [
        (2 * H, "2026Q4", "gpuhours-scheduler")
    ]
