"""The scheduler's runtime: APScheduler 3 jobs kept in the database, run by the leader.

* Jobs are kept in the database (``SQLAlchemyJobStore``, table ``scheduler_jobs``), so next run
  times survive restarts and fail-overs. APScheduler creates and owns that table; Alembic
  creates everything else, and autogenerate ignores it
  (``connectors.db.migrate.not_scheduler_table``).
* :class:`SchedulerService` campaigns for the leader lock (``connectors.leader``) and, while it
  holds it, runs a job table (``connectors.scheduler.JOB_TABLE``); a job returning ``False``
  failed, any other return is a success whose time ``/metrics`` shows.
* The leader checks its lock as often as standbys retry, and stops scheduling when it is lost.
  If two leaders ever overlap briefly, ingestion stays correct: it upserts by key.
* Signals: :func:`run_in_background` (``serve``) and :func:`run_until_signalled` (``worker``).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.events import EVENT_JOB_EXECUTED, JobExecutionEvent  # type: ignore[import-untyped]
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import BaseScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from apscheduler.util import obj_to_ref  # type: ignore[import-untyped]

from connectors.bootstrap import Services
from connectors.db.engine import make_engine
from connectors.db.migrate import JOBS_TABLE
from connectors.leader import Leader, leader_for
from connectors.settings import Settings

#: The scheduler's logger (log lines name it), shared by its modules.
log = logging.getLogger("connectors.scheduler")


#: APScheduler's job table (created by APScheduler, excluded from Alembic's comparisons).
@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduled job. ``func`` must be a module-level function, because the store keeps
    its name (and ``args``) rather than the function itself."""

    id: str
    func: Callable[..., bool | None]
    args: tuple[str, ...]
    every: timedelta


#: A kind of job: the jobs the settings call for.
JobsOf = Callable[[Settings], list[JobSpec]]


def plan(settings: Settings, table: Mapping[str, JobsOf]) -> list[JobSpec]:
    """The jobs a job table calls for with ``settings``."""
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


class SchedulerService:
    """Campaigns for the leader lock; while it holds the lock, runs the job table ``jobs``.

    ``bind`` receives the services when this process starts leading: persisted jobs hold only
    names and plain arguments, so they find the services where ``bind`` puts them.
    """

    def __init__(
        self,
        services: Services,
        leader: Leader | None = None,
        *,
        jobs: Mapping[str, JobsOf],
        bind: Callable[[Services], None] | None = None,
        retry_seconds: float | None = None,
        heartbeat_seconds: float = 60.0,
    ) -> None:
        self.services = services
        self.leader = leader if leader is not None else leader_for(services.engine.url)
        self.jobs = jobs
        self.bind = bind
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
        if self.bind is not None:
            self.bind(self.services)  # the jobs find their services there
        url = self.services.engine.url.render_as_string(hide_password=False)
        store = SQLAlchemyJobStore(
            engine=make_engine(url, pool_size=2, max_overflow=2), tablename=JOBS_TABLE
        )
        scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
        scheduler.add_listener(self._executed, EVENT_JOB_EXECUTED)
        try:
            scheduler.start(paused=True)  # creates the job table if need be
            register(scheduler, plan(self.services.settings, self.jobs))
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


def run_in_background(service: SchedulerService) -> SchedulerService:
    """Campaign in the background of ``serve``; stop it with ``stop()`` in a ``finally``.

    After its graceful shutdown on SIGTERM, uvicorn sends SIGTERM to the process again. Here
    that signal raises ``SystemExit`` instead of killing the process, so the caller's
    ``finally`` runs and the scheduler stops cleanly.
    """
    service.start()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    return service


def run_until_signalled(service: SchedulerService) -> None:
    """Campaign until SIGTERM or SIGINT (``worker``; the calling thread waits), then step down."""

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
