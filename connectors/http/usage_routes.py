"""Ingestion health and usage read endpoints (engineers and admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from accounting import services as acc
from allocator.model import User
from connectors.bootstrap import Services
from connectors.db.uow import SqlUnitOfWork
from connectors.http.deps import ActorDep, NowDep, ServicesDep, UowDep

router = APIRouter(prefix="/api/v1", tags=["usage"])


def _at(epoch: int | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


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
    cluster: str
    account: str
    project_id: str | None
    jobs: int
    gpu_seconds: int
    provisional_gpu_seconds: int
    gpu_seconds_by_type: dict[str, int]


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
    return [
        ClusterStatusOut(
            cluster=h.cluster,
            configured=h.configured,
            source=h.source,
            watermark=_at(h.watermark),
            lag_seconds=h.lag_seconds,
            last_success=_at(h.last_success),
            last_attempt=_at(h.last_attempt),
            last_error=h.last_error,
            last_error_kind=h.last_error_kind,
            errors_total=h.errors_total,
            records_total=h.records_total,
            quarantined=h.quarantined,
        )
        for h in found
    ]


@router.get("/clusters")
def clusters(
    services: ServicesDep, uow: UowDep, actor: ActorDep, now: NowDep
) -> list[ClusterStatusOut]:
    """Ingestion health per cluster: last success, lag, errors by kind, quarantined records."""
    return cluster_statuses(services, uow, actor, now)


@router.get("/usage/accounts")
def account_usage(
    uow: UowDep,
    actor: ActorDep,
    cluster: str | None = Query(default=None, max_length=64),
    unmapped: bool = False,
) -> list[AccountUsageOut]:
    """GPU-seconds per Slurm account (``unmapped=true``: accounts no project claims yet)."""
    return [
        AccountUsageOut(
            cluster=u.cluster,
            account=u.account,
            project_id=u.project_id,
            jobs=u.jobs,
            gpu_seconds=u.gpu_seconds,
            provisional_gpu_seconds=u.provisional_gpu_seconds,
            gpu_seconds_by_type=u.by_type,
        )
        for u in acc.account_usage(uow, actor, cluster, unmapped)
    ]


@router.get("/usage/quarantine")
def quarantine(
    uow: UowDep,
    actor: ActorDep,
    cluster: str | None = Query(default=None, max_length=64),
) -> list[QuarantinedOut]:
    """Records that could not be normalised, with the reason."""
    return [
        QuarantinedOut(
            id=q.id,
            cluster=q.cluster,
            job_id=q.job_id,
            reason=q.reason,
            raw=q.raw,
            first_seen=_at(q.first_seen),
            last_seen=_at(q.last_seen),
        )
        for q in acc.quarantine(uow, actor, cluster)
    ]
