"""The scheduler: periodic jobs, run by exactly one replica. Here, the jobs.

* A job is wiring: one call of a use case, its outcome logged. A job never raises. A failing
  source is recorded by the use case itself (ingestion records the failure and holds the
  watermark). Anything else is logged with its traceback. In both cases the next run retries.
  A job returns ``False`` when its run failed; any other return is a success, whose time
  ``/metrics`` shows (``gpuhours_scheduler_job_last_success_timestamp_seconds{task=<job id>}``).
* Each job is a module-level function of this module: the job store keeps its name
  (``connectors.scheduler:ingest_cluster``) and plain arguments, never the function.
* :data:`JOB_TABLE` is every kind of job; :func:`start_scheduler` (``serve``) and
  :func:`run_worker` (``worker``) run it.

The runtime is in two rooms of its own: ``connectors.scheduler_runtime`` (APScheduler, the job
store, the campaign, signals) and ``connectors.leader`` (leader election); their names are
re-exported here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import timedelta

from connectors.bootstrap import Services
from connectors.ingest import run_ingest
from connectors.leader import LOCK_KEY, FileLeader, Leader, PostgresLeader, leader_for
from connectors.scheduler_runtime import (
    JobsOf,
    JobSpec,
    SchedulerService,
    plan,
    register,
    run_in_background,
    run_until_signalled,
)
from connectors.settings import ClusterConfig, Settings

__all__ = [
    "JOB_TABLE",
    "LOCK_KEY",
    "FileLeader",
    "JobSpec",
    "JobsOf",
    "Leader",
    "PostgresLeader",
    "SchedulerService",
    "accrue_cluster",
    "enforce_cluster",
    "ingest_cluster",
    "leader_for",
    "planned_jobs",
    "purge_idempotency_keys",
    "register",
    "run_worker",
    "start_scheduler",
]

log = logging.getLogger(__name__)

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


def enforce_cluster(cluster: str) -> bool:
    """Job ``enforce:<cluster>``: plan and apply on a cluster set to ``enforce: apply`` (what
    differs, written; what gpuhours is unsure of, skipped and said); ``False`` when a change
    failed (the next run retries it)."""
    try:
        if _services is None:
            raise RuntimeError("the scheduler's services are not set")
        from accounting.services import SYSTEM
        from connectors.enforcement import plan_and_apply

        sv = _services
        done = plan_and_apply(sv, SYSTEM, sv.settings.cluster(cluster))
    except Exception:
        log.exception("enforce %s: run failed; the next run retries", cluster)
        return False
    failed = [a for a in done if a.error]
    log.info("enforce %s: %d change(s) applied, %d failed", cluster, len(done) - len(failed),
             len(failed))  # fmt: skip
    return not failed


def enforce_jobs(settings: Settings) -> list[JobSpec]:
    """One plan + apply per cluster set to ``enforce: apply``."""
    return [
        JobSpec(
            f"enforce:{c.name}",
            enforce_cluster,
            (c.name,),
            timedelta(minutes=c.enforce_interval_minutes),
        )
        for c in settings.clusters
        if c.enforce == "apply"
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


def purge_idempotency_keys() -> bool:
    """Job ``purge``: delete the ``Idempotency-Key`` answers past their retention (24 h).

    Storing an answer also purges, at most every 10 minutes; this hourly job keeps the table
    bounded when no keyed request comes (``connectors.db.idempotency.purge``)."""
    from connectors.db.idempotency import purge

    return _housekeeping("purge", lambda sv: purge(sv.engine, sv.clock()))


def project_ends() -> bool:
    """Job ``project-end``: the unused hours of projects whose end (a thesis's defence) has
    passed return to their chairs, each once (``allocator.services.return_after_end``)."""
    from accounting.services import SYSTEM
    from allocator import services as svc

    def work(sv: Services) -> object:
        uow = sv.uow()
        used = sv.consumption.within(uow)
        return svc.return_after_end(uow, SYSTEM, sv.clock(), used, calendar=sv.settings.calendar)

    return _housekeeping("project-end", work)


def loans_return() -> bool:
    """Job ``loans-return``: once a period has ended (and until it is closed), every open loan
    of every pool in it returns, once (``allocator.services.return_loans``)."""
    from accounting.services import SYSTEM
    from allocator import services as svc
    from allocator.errors import AllocatorError

    def work(sv: Services) -> object:
        calendar, now = sv.settings.calendar, sv.clock()
        ended = calendar.previous(calendar.containing(now)).label
        for pool in svc.list_pools(sv.uow(read_only=True), SYSTEM):
            uow = sv.uow()
            try:
                svc.return_loans(
                    uow, SYSTEM, now, pool.id, ended, sv.consumption.within(uow),
                    calendar=calendar,
                )  # fmt: skip
            except AllocatorError:  # closed, or outside the pool's validity: nothing to return
                continue
        return None

    return _housekeeping("loans-return", work)


def daily_jobs(settings: Settings) -> list[JobSpec]:
    jobs = [
        JobSpec("rollup", rollup_check, (), timedelta(days=1)),
        JobSpec("project-end", project_ends, (), timedelta(hours=6)),
        JobSpec("loans-return", loans_return, (), timedelta(hours=6)),
        JobSpec("remind", period_reminders, (), timedelta(hours=6)),
        JobSpec("purge", purge_idempotency_keys, (), timedelta(hours=1)),
    ]
    if settings.auto_close_days is not None:
        jobs.append(JobSpec("close", period_close, (), timedelta(hours=6)))
    return jobs


def deliver_notifications() -> bool:
    """Job ``notify``: deliver the outbox's due notifications (retries, backoff, parking)."""
    return _housekeeping("notify", lambda sv: sv.notifier().deliver())


def detect_notifications() -> bool:
    """Job ``notify-detect``: thresholds, forecasts, under-consumption, period ends, stale
    ingestion, written to the outbox once each."""
    from accounting.services import DetectorSettings, detect

    def work(sv: Services) -> object:
        settings = DetectorSettings(
            period_days=sv.settings.remind_days, stale_seconds=sv.settings.notify_stale_seconds
        )
        states = sv.usage_store().clusters() if sv.settings.clusters else []
        return detect(sv.uow(), sv.clock(), sv.settings.calendar, settings, states)

    return _housekeeping("notify-detect", work)


def notification_digests() -> bool:
    """Job ``notify-digest``: the daily digests, once the local digest hour has come."""
    return _housekeeping("notify-digest", lambda sv: sv.notifier().digest())


def notify_jobs(settings: Settings) -> list[JobSpec]:
    """The notification jobs, when a channel (SMTP relay or webhook) is configured."""
    if not settings.notifications:
        return []
    return [
        JobSpec(
            "notify",
            deliver_notifications,
            (),
            timedelta(seconds=settings.notify_interval_seconds),
        ),
        JobSpec(
            "notify-detect",
            detect_notifications,
            (),
            timedelta(minutes=settings.notify_detect_minutes),
        ),
        JobSpec("notify-digest", notification_digests, (), timedelta(minutes=15)),
    ]


#: Every kind of job the scheduler runs: kind -> the jobs the settings call for. Each job is a
#: module-level function that makes one use-case call and never raises.
JOB_TABLE: Mapping[str, JobsOf] = {
    "ingest": ingest_jobs,
    "accrue": accrue_jobs,
    "daily": daily_jobs,
    "notify": notify_jobs,
    "enforce": enforce_jobs,
}


def planned_jobs(settings: Settings, table: Mapping[str, JobsOf] = JOB_TABLE) -> list[JobSpec]:
    return plan(settings, table)


def _bind(services: Services) -> None:
    """Set the services the running jobs use (when this process becomes the leader)."""
    global _services
    _services = services


def scheduler_service(services: Services) -> SchedulerService:
    """The scheduler of ``serve`` and ``worker``: :data:`JOB_TABLE`, bound to ``services``."""
    return SchedulerService(services, jobs=JOB_TABLE, bind=_bind)


def start_scheduler(services: Services) -> SchedulerService:
    """Campaign in the background of ``serve``; stop it with ``stop()`` in a ``finally``
    (see :func:`connectors.scheduler_runtime.run_in_background`)."""
    return run_in_background(scheduler_service(services))


def run_worker(services: Services) -> None:
    """``gpuhours worker``: only the scheduler, until SIGTERM or SIGINT; and ``/metrics`` on
    ``host:metrics_port`` when that is set."""
    service = scheduler_service(services)
    stop_metrics = None
    if (port := services.settings.metrics_port) is not None:
        from connectors.metrics import serve_metrics

        stop_metrics = serve_metrics(services, port, services.settings.host)
    try:
        run_until_signalled(service)
    finally:
        if stop_metrics is not None:
            stop_metrics()
