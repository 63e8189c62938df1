"""The scheduler: periodic jobs, run by exactly one replica.

* Jobs are APScheduler 3 jobs kept in the database (``SQLAlchemyJobStore``, table
  ``scheduler_jobs``), so next run times survive restarts and fail-overs. APScheduler creates
  and owns that table; Alembic creates everything else, and autogenerate ignores it.
* A job is wiring: one call of a use case, its outcome logged. A job never raises. A failing
  source is recorded by the use case itself (ingestion records the failure and holds the
  watermark). Anything else is logged with its traceback. In both cases the next run retries.
  A job returns ``False`` when its run failed; any other return is a success, whose time
  ``/metrics`` shows (``gpuhours_scheduler_job_last_success_timestamp_seconds{task=<job id>}``).
* Leader election: every ``serve`` and ``worker`` replica on one database campaigns, and only
  the holder of the leader lock schedules. On PostgreSQL the lock is a session-level advisory
  lock held on a dedicated connection; when the leader dies, its connection closes and the
  server frees the lock. On SQLite it is an exclusive ``flock`` on a file next to the
  database. Standbys try again every ``leader_retry_seconds``. The leader checks its lock
  connection as often and stops scheduling when the connection is lost. If two leaders ever
  overlap briefly, ingestion stays correct: it upserts by key.
"""

from __future__ import annotations

import fcntl
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import BaseScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from apscheduler.util import obj_to_ref  # type: ignore[import-untyped]
from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from connectors.bootstrap import Services
from connectors.db.engine import make_engine
from connectors.ingest import run_ingest
from connectors.settings import ClusterConfig, Settings

log = logging.getLogger(__name__)

#: APScheduler's job table (created by APScheduler, excluded from Alembic's comparisons).
JOBS_TABLE = "scheduler_jobs"
#: Key of the PostgreSQL advisory lock of the scheduler leader: "gpuhours" in ASCII.
LOCK_KEY = 0x6770_7568_6F75_7273
#: libpq keepalives on the lock connection, both ways. The leader notices a dead server, and
#: the server notices a dead leader host (no FIN), within about 25 s instead of hours.
_PG_LOCK_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5"
    " -c tcp_keepalives_count=3 -c tcp_user_timeout=15000",
}


def not_scheduler_table(name: str | None, type_: str, _parent_names: object) -> bool:
    """Alembic ``include_name`` filter: APScheduler's job table is not part of our schema."""
    return not (type_ == "table" and name == JOBS_TABLE)


# --- jobs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduled job. ``func`` must be a module-level function, because the store keeps
    its name (and ``args``) rather than the function itself."""

    id: str
    func: Callable[..., bool | None]
    args: tuple[str, ...]
    every: timedelta


JobsOf = Callable[[Settings], list[JobSpec]]

#: The services the running jobs use, set when this process becomes the leader. Persisted
#: jobs can hold only names and plain arguments, so they find the services here.
_services: Services | None = None


def ingest_cluster(cluster: str) -> bool:
    """Job ``ingest:<cluster>``: one incremental ingestion, from the cluster's watermark."""
    try:
        if _services is None:
            raise RuntimeError("the scheduler's services are not set")
        sv = _services
        report = run_ingest(
            sv.usage_store(),
            sv.settings.cluster(cluster),
            sv.clock(),
            source=sv.usage_source(cluster),
        )
    except Exception:
        log.exception("ingest %s: run failed; the next run retries", cluster)
        return False
    if report.ok:
        log.info(
            "ingest %s: %d window(s), %d inserted, %d updated, %d unchanged, %d quarantined;"
            " watermark %s",
            cluster,
            report.windows,
            report.inserted,
            report.updated,
            report.unchanged,
            report.quarantined,
            report.watermark,
        )
    else:
        log.warning(
            "ingest %s: %s (recorded; watermark held at %s; the next run retries)",
            cluster,
            report.error,
            report.watermark,
        )
    return report.ok


def interval_of(cluster: ClusterConfig) -> timedelta:
    if cluster.interval_seconds is not None:
        return timedelta(seconds=cluster.interval_seconds)
    return timedelta(minutes=cluster.interval_minutes)


def ingest_jobs(settings: Settings) -> list[JobSpec]:
    """One ingestion per cluster with a source to poll (``file`` clusters only import files)."""
    return [
        JobSpec(f"ingest:{c.name}", ingest_cluster, (c.name,), interval_of(c))
        for c in settings.clusters
        if c.source != "file"
    ]


def accrue_cluster(cluster: str) -> bool:
    """Job ``accrue:<cluster>``: fetch the jobs running now and refresh their provisional
    charges. The watermark does not move: windows the ingestion has not fetched stay due."""
    try:
        if _services is None:
            raise RuntimeError("the scheduler's services are not set")
        sv = _services
        now = sv.clock()
        report = run_ingest(
            sv.usage_store(),
            sv.settings.cluster(cluster),
            now,
            since=now - timedelta(seconds=60),
            until=now,
            source=sv.usage_source(cluster),
            advance=False,
        )
    except Exception:
        log.exception("accrue %s: run failed; the next run retries", cluster)
        return False
    log.info("accrue %s: %d running job record(s) refreshed", cluster, report.updated)
    return report.ok


def accrue_jobs(settings: Settings) -> list[JobSpec]:
    return [
        JobSpec(
            f"accrue:{c.name}",
            accrue_cluster,
            (c.name,),
            timedelta(minutes=settings.accrual_minutes),
        )
        for c in settings.clusters
        if c.source != "file"
    ]


def _housekeeping(name: str, work: Callable[[Services], object]) -> bool:
    try:
        if _services is None:
            raise RuntimeError("the scheduler's services are not set")
        work(_services)
    except Exception:
        log.exception("%s: run failed; the next run retries", name)
        return False
    return True


def rollup_check() -> bool:
    """Job ``rollup``: verify (and repair) the recent daily and period rollups."""
    from accounting.services import check_rollups

    return _housekeeping(
        "rollup", lambda sv: check_rollups(sv.uow(), sv.clock(), calendar=sv.settings.calendar)
    )


def period_reminders() -> bool:
    """Job ``remind``: period-end and unclosed-period reminders."""
    from accounting.services import remind

    return _housekeeping(
        "remind",
        lambda sv: remind(sv.uow(), sv.clock(), sv.settings.calendar, sv.settings.remind_days),
    )


def period_close() -> bool:
    """Job ``close``: the automatic close, when the settings allow it."""
    from accounting.services import auto_close

    return _housekeeping(
        "close",
        lambda sv: auto_close(
            sv.uow(), sv.clock(), sv.settings.calendar, sv.settings.auto_close_days
        ),
    )


def daily_jobs(settings: Settings) -> list[JobSpec]:
    jobs = [
        JobSpec("rollup", rollup_check, (), timedelta(days=1)),
        JobSpec("remind", period_reminders, (), timedelta(hours=6)),
    ]
    if settings.auto_close_days is not None:
        jobs.append(JobSpec("close", period_close, (), timedelta(hours=6)))
    return jobs


#: Every kind of job the scheduler runs: kind -> the jobs the settings call for. Each job is a
#: module-level function that makes one use-case call and never raises.
JOB_TABLE: Mapping[str, JobsOf] = {
    "ingest": ingest_jobs,
    "accrue": accrue_jobs,
    "daily": daily_jobs,
}


def planned_jobs(settings: Settings, table: Mapping[str, JobsOf] = JOB_TABLE) -> list[JobSpec]:
    return [spec for jobs_of in table.values() for spec in jobs_of(settings)]


def register(scheduler: BaseScheduler, specs: Sequence[JobSpec]) -> None:
    """Make the stored jobs exactly ``specs``.

    A job that is already stored with the same function, arguments and interval keeps its next
    run time. A new or changed job runs at once. Stored jobs that are no longer planned are
    removed.
    """
    wanted = {spec.id for spec in specs}
    for job in scheduler.get_jobs():
        if job.id not in wanted:
            log.info("scheduler: removing job %s (no longer in the settings)", job.id)
            job.remove()
    now = datetime.now(UTC)
    for spec in specs:
        old = scheduler.get_job(spec.id)
        same = (
            old is not None
            and old.func_ref == obj_to_ref(spec.func)
            and tuple(old.args) == spec.args
            and getattr(old.trigger, "interval", None) == spec.every
        )
        seconds = spec.every.total_seconds()
        scheduler.add_job(
            spec.func,
            IntervalTrigger(seconds=seconds, timezone=UTC),
            args=spec.args,
            id=spec.id,
            name=spec.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            # With coalesce, the newest missed run time is less than one interval old, so a
            # restarted or new leader runs a missed job once, right away.
            misfire_grace_time=max(1, int(2 * seconds)),
            next_run_time=old.next_run_time if same and old and old.next_run_time else now,
        )


# --- leader election -------------------------------------------------------------------------


class Leader(Protocol):
    """The right to schedule. At most one holder at a time among the replicas of a database."""

    @property
    def held(self) -> bool: ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free; ``True`` if this process holds it (now or already)."""
        ...

    def check(self) -> bool:
        """Verify the lock is still held; ``False`` (and no longer held) if it was lost."""
        ...

    def release(self) -> None: ...


class PostgresLeader:
    """A session-level advisory lock on a dedicated connection, held for life."""

    def __init__(self, url: str | URL, key: int = LOCK_KEY) -> None:
        self.key = key
        self._engine = make_engine(
            make_url(url).render_as_string(hide_password=False),
            poolclass=NullPool,
            connect_args=_PG_LOCK_CONNECT_ARGS,
        )
        self._conn: Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            if self._conn is None:
                conn = self._engine.connect()
                self._conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            self._held = bool(got)
        except SQLAlchemyError as exc:
            log.warning("scheduler: cannot try the leader lock: %s", _first_line(exc))
            self._drop()
        return self._held

    def check(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.error("scheduler: leader lock connection lost: %s", _first_line(exc))
            self._drop()
        return self._held

    def release(self) -> None:
        if self._held and self._conn is not None:
            with suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._drop()  # closing the session frees the lock in any case
        self._engine.dispose()

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(SQLAlchemyError):
                conn.close()


class FileLeader:
    """An exclusive ``flock`` on a file; the kernel frees it when the holder dies.

    ``path=None`` (an in-memory database, which no other process can open): always held.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if self._held:
            return True
        if self.path is None:
            self._held = True
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who leads, for an operator's eyes
        self._fd, self._held = fd, True
        return True

    def check(self) -> bool:
        return self._held  # a flock lasts as long as its open file

    def release(self) -> None:
        fd, self._fd, self._held = self._fd, None, False
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leader_for(url: str | URL) -> Leader:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return PostgresLeader(parsed)
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return FileLeader(None)
        return FileLeader(Path(f"{database}.scheduler-lock"))
    raise ValueError(f"scheduler: no leader election for {backend} databases")


# --- the service -----------------------------------------------------------------------------


class SchedulerService:
    """Campaigns for the leader lock; while it holds the lock, runs the job table."""

    def __init__(
        self,
        services: Services,
        leader: Leader | None = None,
        *,
        jobs: Mapping[str, JobsOf] = JOB_TABLE,
        retry_seconds: float | None = None,
        heartbeat_seconds: float = 60.0,
    ) -> None:
        self.services = services
        self.leader = leader if leader is not None else leader_for(services.engine.url)
        self.jobs = jobs
        self.retry_seconds = retry_seconds or services.settings.leader_retry_seconds
        self.heartbeat_seconds = heartbeat_seconds
        self.scheduler: BackgroundScheduler | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_heartbeat: float | None = None

    @property
    def leading(self) -> bool:
        return self.scheduler is not None

    def start(self) -> None:
        """Campaign in a background thread and return at once (``serve``)."""
        self._thread = threading.Thread(target=self.run, name="gpuhours-scheduler", daemon=True)
        self._thread.start()

    def run(self) -> None:
        """Campaign in the calling thread until :meth:`stop`, then step down."""
        log.info(
            "scheduler: pid %d campaigning for leadership (retry every %g s)",
            os.getpid(),
            self.retry_seconds,
        )
        try:
            while not self._stopping.is_set():
                self.tick()
                self._stopping.wait(self.retry_seconds)
        finally:
            self._close()

    def stop(self, wait: bool = True) -> None:
        """Stop campaigning and step down; running jobs finish first.

        With ``wait=False`` (from a signal handler) it only asks, and the campaign thread
        ends on its own. Without a campaign thread (the caller drove :meth:`tick`), it steps
        down at once.
        """
        self._stopping.set()
        thread = self._thread
        if thread is None:
            self._close()
        elif wait and thread is not threading.current_thread():
            thread.join()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def tick(self) -> None:
        """One round: lead if the lock is free, step down if it was lost, log a heartbeat."""
        try:
            if self.scheduler is None:
                if self.leader.try_acquire():
                    self.scheduler = self._lead()
            elif not self.leader.check():
                log.error("scheduler: pid %d lost the leader lock; stepping down", os.getpid())
                self._step_down()
            self._heartbeat()
        except Exception:
            log.exception("scheduler: pid %d failed to lead; retrying", os.getpid())
            self._step_down()
            self.leader.release()

    def _lead(self) -> BackgroundScheduler:
        global _services
        _services = self.services
        url = self.services.engine.url.render_as_string(hide_password=False)
        store = SQLAlchemyJobStore(
            engine=make_engine(url, pool_size=2, max_overflow=2), tablename=JOBS_TABLE
        )
        scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
        scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED)
        try:
            scheduler.start(paused=True)  # creates the job table if need be
            register(scheduler, planned_jobs(self.services.settings, self.jobs))
            scheduler.resume()
        except BaseException:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            store.engine.dispose()
            raise
        log.info("scheduler: pid %d is the leader; %s", os.getpid(), _describe(scheduler))
        self._last_heartbeat = time.monotonic()
        self.services.scheduler_status.leader = True
        return scheduler

    def _executed(self, event: JobExecutionEvent) -> None:
        if event.retval is not False:  # a job returns False when its run failed
            self.services.scheduler_status.last_success[event.job_id] = time.time()

    def _close(self) -> None:
        self._step_down()
        self.leader.release()
        log.info("scheduler: pid %d stopped", os.getpid())

    def _step_down(self) -> None:
        scheduler, self.scheduler = self.scheduler, None
        self.services.scheduler_status.leader = False
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            log.info("scheduler: pid %d stopped scheduling", os.getpid())

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if self._last_heartbeat is not None and now - self._last_heartbeat < self.heartbeat_seconds:
            return
        self._last_heartbeat = now
        if self.scheduler is None:
            log.info("scheduler: pid %d standby (another replica leads)", os.getpid())
        else:
            log.info("scheduler: pid %d leader; %s", os.getpid(), _describe(self.scheduler))


def start_scheduler(services: Services) -> SchedulerService:
    """Campaign in the background of ``serve``; stop it with ``stop()`` in a ``finally``.

    After its graceful shutdown on SIGTERM, uvicorn sends SIGTERM to the process again. Here
    that signal raises ``SystemExit`` instead of killing the process, so the caller's
    ``finally`` runs and the scheduler stops cleanly.
    """
    service = SchedulerService(services)
    service.start()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return service


def run_worker(services: Services) -> None:
    """``gpuhours worker``: only the scheduler, until SIGTERM or SIGINT; and ``/metrics`` on
    ``host:metrics_port`` when that is set."""
    service = SchedulerService(services)
    stop_metrics = None
    if (port := services.settings.metrics_port) is not None:
        from connectors.metrics import serve_metrics

        stop_metrics = serve_metrics(services, port, services.settings.host)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("worker: %s received; stopping", signal.Signals(signum).name)
        service.stop(wait=False)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        service.start()
        service.join()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if stop_metrics is not None:
            stop_metrics()


def _exit_on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


def _describe(scheduler: BaseScheduler) -> str:
    jobs = scheduler.get_jobs()
    if not jobs:
        return "no jobs (no cluster configured)"
    return ", ".join(
        f"{job.id} every {job.trigger.interval}, next "
        + (f"{job.next_run_time:%Y-%m-%d %H:%M:%S} UTC" if job.next_run_time else "paused")
        for job in jobs
    )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
