"""Ingestion health and usage read endpoints (engineers and admins)."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Query
from pydantic import BaseModel

from allocator.model import Role
from allocator.rules import require_role
from connectors.db import usage_queries
from connectors.http.deps import ActorDep, NowDep, ServicesDep

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


def cluster_statuses(services: ServicesDep, now: datetime) -> list[ClusterStatusOut]:
    store = services.usage_store()
    states = {s.cluster: s for s in store.clusters()}
    configured = {c.name: c for c in services.settings.clusters}
    quarantined: dict[str, int] = {}
    for q in usage_queries.quarantine(services.reader):
        quarantined[q.cluster] = quarantined.get(q.cluster, 0) + 1
    out = []
    for name in sorted(set(states) | set(configured)):
        state = states.get(name) or store.state(name)
        config = configured.get(name)
        out.append(
            ClusterStatusOut(
                cluster=name,
                configured=config is not None,
                source=config.source if config else "",
                watermark=_at(state.watermark),
                lag_seconds=None
                if state.watermark is None
                else int(now.timestamp()) - state.watermark,
                last_success=_at(state.last_success),
                last_attempt=_at(state.last_attempt),
                last_error=state.last_error,
                last_error_kind=state.last_error_kind,
                errors_total=state.errors_total,
                records_total=state.records_total,
                quarantined=quarantined.get(name, 0),
            )
        )
    return out


@router.get("/clusters")
def clusters(services: ServicesDep, actor: ActorDep, now: NowDep) -> list[ClusterStatusOut]:
    """Ingestion health per cluster: last success, lag, errors by kind, quarantined records."""
    require_role(actor, Role.ADMIN, Role.ENGINEER)
    return cluster_statuses(services, now)


@router.get("/usage/accounts")
def account_usage(
    services: ServicesDep,
    actor: ActorDep,
    cluster: str | None = Query(default=None, max_length=64),
    unmapped: bool = False,
) -> list[AccountUsageOut]:
    """GPU-seconds per Slurm account (``unmapped=true``: accounts no project claims yet)."""
    require_role(actor, Role.ADMIN, Role.ENGINEER)
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
        for u in usage_queries.account_usage(services.reader, cluster, unmapped)
    ]


@router.get("/usage/quarantine")
def quarantine(
    services: ServicesDep,
    actor: ActorDep,
    cluster: str | None = Query(default=None, max_length=64),
) -> list[QuarantinedOut]:
    """Records that could not be normalised, with the reason."""
    require_role(actor, Role.ADMIN, Role.ENGINEER)
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
        for q in usage_queries.quarantine(services.reader, cluster)
    ]
