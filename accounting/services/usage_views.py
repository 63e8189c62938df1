"""Views of ingested usage: for engineers and admins, ingestion health per cluster, usage per
Slurm account, the quarantine; for everyone, the jobs charged to a project ("my jobs")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from accounting.ports import (
    AccountingUnitOfWork,
    AccountUsage,
    IngestStates,
    JobCharge,
    QuarantinedRecord,
)
from allocator import rules
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import Role, User
from allocator.periods import Calendar
from allocator.ports import Newest


@dataclass(frozen=True, slots=True)
class ClusterHealth:
    """A cluster's ingestion: configured or only known from the past, watermark and lag,
    last success, attempt and error, counts (times as epoch seconds)."""

    cluster: str
    configured: bool
    source: str
    watermark: int | None
    lag_seconds: int | None
    last_success: int | None
    last_attempt: int | None
    last_error: str
    last_error_kind: str
    errors_total: dict[str, int] = field(default_factory=dict)
    records_total: int = 0
    quarantined: int = 0


def cluster_health(
    uow: AccountingUnitOfWork,
    actor: User,
    states: IngestStates,
    configured: Mapping[str, str],
    now: int,
) -> list[ClusterHealth]:
    """Every cluster configured (``configured``: name -> source) or ever ingested, by name."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    known = {s.cluster: s for s in states.clusters()}
    quarantined: dict[str, int] = {}
    with uow:
        for q in uow.usage.quarantine(None):
            quarantined[q.cluster] = quarantined.get(q.cluster, 0) + 1
    out = []
    for name in sorted(set(known) | set(configured)):
        state = known.get(name) or states.state(name)
        out.append(
            ClusterHealth(
                cluster=name,
                configured=name in configured,
                source=configured.get(name, ""),
                watermark=state.watermark,
                lag_seconds=None if state.watermark is None else now - state.watermark,
                last_success=state.last_success,
                last_attempt=state.last_attempt,
                last_error=state.last_error,
                last_error_kind=state.last_error_kind,
                errors_total=state.errors_total,
                records_total=state.records_total,
                quarantined=quarantined.get(name, 0),
            )
        )
    return out


def account_usage(
    uow: AccountingUnitOfWork,
    actor: User,
    cluster: str | None = None,
    unmapped: bool = False,
    period: str | None = None,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[AccountUsage]:
    """GPU-seconds per Slurm account (``unmapped``: accounts no project claims yet); with
    ``period``, only the usage that falls in it: each run split at the period's bounds (in
    the site's time zone), as it is charged."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    span = None
    if period is not None:
        bounds = calendar.check(period, now)
        span = (_epoch(bounds.start), _epoch(bounds.end))
    with uow:
        return list(uow.usage.account_usage(cluster, unmapped, span))


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def quarantine(
    uow: AccountingUnitOfWork,
    actor: User,
    cluster: str | None = None,
    window: Newest | None = None,
) -> list[QuarantinedRecord]:
    """Records that could not be normalised, with the reason: all, oldest first, or one
    ``window`` of them, newest first."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    with uow:
        return list(uow.usage.quarantine(cluster, window))


@dataclass(frozen=True, slots=True)
class ProjectJob:
    """A job charged to a project in a pool and period."""

    project_id: str
    pool_id: str
    job: JobCharge


def project_jobs(
    uow: AccountingUnitOfWork,
    actor: User,
    period: str | None,
    project_id: str | None = None,
    pool_id: str | None = None,
    limit: int = 1000,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ProjectJob]:
    """The jobs charged in a period (``None``: the current one) to one project, or to every
    project of a researcher ("my jobs"), in every pool or one; at most ``limit``. Staff name
    the project (every project's jobs is the reconciliation's view, per pool)."""
    label = calendar.check_or_current(period, now).label
    with uow:
        if project_id is not None:
            projects = [svc.get_project(uow, project_id, actor)]
        elif rules.can_read_everything(actor):
            raise InvalidInput("project_id", "name a project (a researcher's default: theirs)")
        else:
            projects = svc.list_projects(uow, actor)
        pools = [svc.get_pool(uow, pool_id)] if pool_id else list(uow.pools.list())
        found: list[ProjectJob] = []
        for project in projects:
            for pool in pools:
                left = limit - len(found)
                if left <= 0:
                    return found
                jobs = uow.consumption.jobs_behind(pool.id, label, project.id, left)
                found += [ProjectJob(project.id, pool.id, j) for j in jobs]
        return found
