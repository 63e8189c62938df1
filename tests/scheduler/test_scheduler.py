"""The job table, job registration, the ingestion job, the leader locks and the service, in
one process (the two-process behaviour is in ``test_replicas.py``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from sqlalchemy import Engine, text

from connectors import scheduler as sched
from connectors.bootstrap import build
from connectors.db.engine import make_engine
from connectors.db.migrate import JOBS_TABLE, not_scheduler_table, upgrade
from connectors.db.tables import Base
from connectors.db.usage_store import SqlUsageStore
from connectors.scheduler import (
    JOB_TABLE,
    FileLeader,
    JobSpec,
    PostgresLeader,
    SchedulerService,
    planned_jobs,
    register,
)
from connectors.settings import Settings
from tests.conftest import NO_PG, PG_URL


def rest(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": "http://127.0.0.1:9", "token_env": "NO_SUCH_TOKEN", **extra}


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture
def paused(db_url: str) -> Iterator[BackgroundScheduler]:
    """A started but paused scheduler on the job table: registration without running jobs."""
    scheduler = new_scheduler(db_url)
    yield scheduler
    scheduler.shutdown(wait=False)


def new_scheduler(url: str) -> BackgroundScheduler:
    store = SQLAlchemyJobStore(engine=make_engine(url), tablename=JOBS_TABLE)
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.start(paused=True)
    return scheduler


# --- the job table ----------------------------------------------------------------------------


def test_one_ingestion_job_per_polled_cluster_at_its_interval() -> None:
    settings = Settings(
        database_url="sqlite://",
        clusters=[
            rest("alpha"),
            rest("beta", interval_minutes=3),
            rest("gamma", interval_minutes=3, interval_seconds=7),
            {"name": "national", "source": "file"},  # imports only: nothing to poll
        ],
    )
    jobs = sched.ingest_jobs(settings)
    assert [(j.id, j.args, j.every) for j in jobs] == [
        ("ingest:alpha", ("alpha",), timedelta(minutes=10)),
        ("ingest:beta", ("beta",), timedelta(minutes=3)),
        ("ingest:gamma", ("gamma",), timedelta(seconds=7)),
    ]
    assert {j.func for j in jobs} == {sched.ingest_cluster}
    assert list(JOB_TABLE) == ["ingest", "accrue", "daily", "notify", "enforce"]
    polled = {j.id for j in planned_jobs(settings) if ":" in j.id}
    assert polled == {
        f"{kind}:{c}" for kind in ("ingest", "accrue") for c in ("alpha", "beta", "gamma")
    }


def test_no_cluster_no_job() -> None:
    assert [j.id for j in planned_jobs(Settings(database_url="sqlite://"))] == [
        "rollup",
        "project-end",
        "loans-return",
        "remind",
        "purge",
    ]


def test_jobs_are_stored_single_instance_and_coalesced(paused: BackgroundScheduler) -> None:
    settings = Settings(
        database_url="sqlite://", clusters=[rest("alpha"), rest("beta", interval_seconds=30)]
    )
    register(paused, planned_jobs(settings))
    jobs = {job.id: job for job in paused.get_jobs()}
    assert set(jobs) == {
        "ingest:alpha",
        "ingest:beta",
        "accrue:alpha",
        "accrue:beta",
        "rollup",
        "project-end",
        "loans-return",
        "remind",
        "purge",
    }
    assert all(job.max_instances == 1 and job.coalesce for job in jobs.values())
    for job, every in ((jobs["ingest:alpha"], 600), (jobs["ingest:beta"], 30)):
        assert job.trigger.interval == timedelta(seconds=every)
        assert job.max_instances == 1
        assert job.coalesce is True
        assert job.misfire_grace_time == 2 * every
        assert job.func_ref == "connectors.scheduler:ingest_cluster"
    assert jobs["ingest:beta"].args == ("beta",)


def test_a_new_leader_keeps_the_stored_next_run_time(db_url: str) -> None:
    spec = JobSpec("ingest:alpha", sched.ingest_cluster, ("alpha",), timedelta(minutes=10))
    first = new_scheduler(db_url)
    register(first, [spec])
    planned = first.get_job(spec.id).next_run_time + timedelta(minutes=5)
    first.modify_job(spec.id, next_run_time=planned)
    first.shutdown(wait=False)

    second = new_scheduler(db_url)  # another process, later
    try:
        register(second, [spec])
        assert second.get_job(spec.id).next_run_time == planned
        register(second, [JobSpec(spec.id, spec.func, spec.args, timedelta(minutes=1))])
        changed = second.get_job(spec.id)  # a changed interval: runs at once
        assert changed.trigger.interval == timedelta(minutes=1)
        assert changed.next_run_time <= datetime.now(UTC)
    finally:
        second.shutdown(wait=False)


def test_jobs_no_longer_configured_are_removed(paused: BackgroundScheduler) -> None:
    every = timedelta(minutes=10)
    register(paused, [JobSpec(f"ingest:{n}", sched.ingest_cluster, (n,), every) for n in "ab"])
    register(paused, [JobSpec("ingest:b", sched.ingest_cluster, ("b",), every)])
    assert [job.id for job in paused.get_jobs()] == ["ingest:b"]


# --- the ingestion job ------------------------------------------------------------------------


def test_the_ingestion_job_never_raises_and_the_use_case_records_the_failure(
    db_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("GPUHOURS_TEST_TOKEN", "t")
    services = build(
        Settings(
            database_url=db_url,
            clusters=[rest("alpha", token_env="GPUHOURS_TEST_TOKEN", retries=0)],
        )
    )
    monkeypatch.setattr(sched, "_services", services)
    caplog.set_level(logging.INFO, logger="connectors.scheduler")
    try:
        sched.ingest_cluster("alpha")  # nothing listens on port 9
        sched.ingest_cluster("removed")  # e.g. a cluster taken out of the settings
    finally:
        services.engine.dispose()
    state = SqlUsageStore(make_engine(db_url)).state("alpha")
    assert state.last_error_kind == "unavailable"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("ingest alpha: unavailable") for m in messages), messages
    assert any(m.startswith("ingest removed: run failed") for m in messages), messages


# --- leaders ----------------------------------------------------------------------------------


def test_a_file_lock_has_one_holder_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "gpuhours.db.scheduler-lock"
    first, second = FileLeader(path), FileLeader(path)
    assert first.try_acquire() and first.held and first.check()
    assert not second.try_acquire() and not second.held
    first.release()
    assert not first.held
    assert second.try_acquire()
    assert path.read_text().strip().isdigit()  # the leader's pid
    second.release()


def test_an_in_memory_database_is_led_by_its_only_process() -> None:
    leader = sched.leader_for("sqlite://")
    assert leader.try_acquire() and leader.check()
    leader.release()


@pytest.mark.postgres
@pytest.mark.skipif(not PG_URL, reason=NO_PG)
def test_the_advisory_lock_frees_when_the_leader_session_dies(
    request: pytest.FixtureRequest,
) -> None:
    pg: Engine = request.getfixturevalue("_pg_engine")  # the session's own database
    first, second = PostgresLeader(pg.url), PostgresLeader(pg.url)
    try:
        assert first.try_acquire() and first.check()
        assert not second.try_acquire() and not second.check()
        with pg.connect() as conn:  # the leader's session dies (e.g. its host does)
            killed = conn.scalar(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
                    " AND granted AND database ="
                    " (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert killed
        assert not first.check() and not first.held  # noticed: stops scheduling
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


# --- the service ------------------------------------------------------------------------------

RUNS: list[str] = []


def record_run(name: str) -> None:
    RUNS.append(name)


def recorded_jobs(settings: Settings) -> list[JobSpec]:
    return [JobSpec("record", record_run, ("x",), timedelta(seconds=60))]


class FakeLeader:
    def __init__(self) -> None:
        self.held = False
        self.free = True
        self.releases = 0

    def try_acquire(self) -> bool:
        self.held = self.held or self.free
        return self.held

    def check(self) -> bool:
        return self.held

    def release(self) -> None:
        self.held = False
        self.releases += 1


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_service_schedules_only_while_it_leads(db_url: str) -> None:
    RUNS.clear()
    leader = FakeLeader()
    leader.free = False
    service = SchedulerService(
        build(Settings(database_url=db_url)),
        leader,
        jobs={"record": recorded_jobs},
        retry_seconds=60,
    )
    service.tick()
    assert not service.leading
    leader.free = True
    service.tick()
    assert service.leading
    assert wait_until(lambda: RUNS == ["x"])  # a new job runs at once
    assert [j.id for j in service.scheduler.get_jobs()] == ["record"]

    leader.held = leader.free = False  # e.g. the lock connection broke
    service.tick()
    assert not service.leading

    leader.free = True
    service.tick()
    assert service.leading
    service.stop()
    assert not service.leading and leader.releases == 1
    assert RUNS == ["x"]  # the re-elected leader kept the stored next run time


def test_a_failure_to_lead_releases_the_lock_and_retries(db_url: str) -> None:
    def broken(settings: Settings) -> list[JobSpec]:
        raise RuntimeError("boom")

    leader = FakeLeader()
    service = SchedulerService(
        build(Settings(database_url=db_url)), leader, jobs={"broken": broken}, retry_seconds=60
    )
    service.tick()
    assert not service.leading and not leader.held and leader.releases == 1
    service.stop()


def test_stop_ends_the_campaign_thread(db_url: str) -> None:
    service = SchedulerService(
        build(Settings(database_url=db_url)), FakeLeader(), jobs={}, retry_seconds=0.05
    )
    service.start()
    assert wait_until(lambda: service.leading)
    service.stop()
    assert not service.leading
    assert not any(t.name == "gpuhours-scheduler" for t in threading.enumerate())


# --- the job table is APScheduler's, not Alembic's --------------------------------------------


def test_migrations_ignore_the_scheduler_table(db_url: str) -> None:
    store_engine = make_engine(db_url)
    scheduler = new_scheduler(db_url)  # creates scheduler_jobs, as a leader does
    scheduler.shutdown(wait=False)
    with store_engine.connect() as conn:
        plain = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        filtered = compare_metadata(
            MigrationContext.configure(conn, opts={"include_name": not_scheduler_table}),
            Base.metadata,
        )
    store_engine.dispose()
    assert ("remove_table", JOBS_TABLE) in {(d[0], getattr(d[1], "name", "")) for d in plain}
    assert filtered == []
