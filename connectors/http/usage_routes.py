"""Ingestion health and usage read endpoints (engineers and admins)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from accounting import services as acc
from accounting.ports import AccountUsage, QuarantinedRecord
from allocator.model import User
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork
from connectors.http.deps import ActorDep, CalendarDep, NowDep, ServicesDep, UowDep
from connectors.http.pages import Page, PageQ, newest_window, paged, windowed
from connectors.http.params import OptionalPeriodQ
from connectors.presenters import usage as present

router = APIRouter(prefix="/api/v1", tags=["usage"])


class ClusterStatusOut(BaseModel):
    cluster: str
    configured: bool
    source: str
    watermark: datetime | None
    lag_seconds: int | None
    last_success: datetime | None
    last_attempt: datetime | None
    last_error: str
    last_error_kind: str
    errors_total: dict[str, int]
    records_total: int
    quarantined: int


class AccountUsageOut(BaseModel):
    """A Slurm account's usage: finished jobs (final) and unfinished ones (provisional: running
    so far, or pending) apart; each total is the sum of its split by GPU type."""

    cluster: str
    account: str
    project_id: str | None = Field(description="the project the account maps to now, if any")
    jobs: int = Field(description="every job of the account: finished and unfinished")
    provisional_jobs: int = Field(description="of which not finished (running or pending)")
    gpu_seconds: int = Field(description="GPU-seconds of the finished jobs (final)")
    gpu_seconds_by_type: dict[str, int] = Field(
        description="gpu_seconds by GPU type ('': GPUs without a type); sums to gpu_seconds"
    )
    provisional_gpu_seconds: int = Field(
        description="GPU-seconds of the unfinished jobs so far (they grow until final)"
    )
    provisional_gpu_seconds_by_type: dict[str, int] = Field(
        description="provisional_gpu_seconds by GPU type; sums to provisional_gpu_seconds"
    )


class QuarantinedOut(BaseModel):
    id: int
    cluster: str
    job_id: int | None
    reason: str
    raw: str
    first_seen: datetime | None
    last_seen: datetime | None


def cluster_statuses(
    services: Services, uow: SqlUnitOfWork, actor: User, now: datetime
) -> list[ClusterStatusOut]:
    """Ingestion health of every configured or ingested cluster."""
    configured = {c.name: c.source for c in services.settings.clusters}
    found = acc.cluster_health(uow, actor, services.usage_store(), configured, int(now.timestamp()))
    return [ClusterStatusOut.model_validate(present.cluster_health(h)) for h in found]


@router.get("/clusters")
def clusters(
    services: ServicesDep, uow: UowDep, actor: ActorDep, now: NowDep, pages: PageQ
) -> Page[ClusterStatusOut]:
    """Ingestion health per cluster (by name): last success, lag, errors by kind, quarantined
    records."""
    rows = cluster_statuses(services, uow, actor, now)
    return paged("clusters", rows, lambda c: (c.cluster,), pages, lambda c: c)


@router.get("/usage/accounts")
def account_usage(
    uow: UowDep,
    actor: ActorDep,
    pages: PageQ,
    now: NowDep,
    calendar: CalendarDep,
    cluster: str | None = Query(default=None, max_length=64),
    unmapped: bool = False,
    period: str | None = OptionalPeriodQ,
) -> Page[AccountUsageOut]:
    """GPU-seconds per Slurm account (``unmapped=true``: accounts no project claims yet):
    finished jobs' (``gpu_seconds``) and unfinished jobs' (``provisional_gpu_seconds``) apart,
    each with its split by GPU type; by cluster and account. With ``period``, only what falls
    in it: a run across the period's bounds counts its seconds inside them (as it is
    charged), and ``jobs`` counts the jobs whose run meets the period (a job not started: that
    was submitted in it); without, every period."""
    rows = acc.account_usage(uow, actor, cluster, unmapped, period, now=now, calendar=calendar)
    return paged("usage-accounts", rows, lambda u: (u.cluster, u.account), pages, _account)


def _account(u: AccountUsage) -> AccountUsageOut:
    return AccountUsageOut.model_validate(present.account_usage(u))


@router.get("/usage/quarantine")
def quarantine(
    uow: UowDep,
    actor: ActorDep,
    pages: PageQ,
    cluster: str | None = Query(default=None, max_length=64),
) -> Page[QuarantinedOut]:
    """Records that could not be normalised, with the reason; newest first."""
    rows = acc.quarantine(uow, actor, cluster, newest_window("quarantine", pages))
    return windowed("quarantine", rows, lambda q: (q.id,), pages, _quarantined)


def _quarantined(q: QuarantinedRecord) -> QuarantinedOut:
    return QuarantinedOut.model_validate(present.quarantined(q))
