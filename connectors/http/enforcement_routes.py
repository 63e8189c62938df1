"""Enforcement over HTTP (engineers and admins), as ``gpuhours enforce``: a cluster's plan (what
differs between the ledger's desired state and Slurm's; changes nothing), one account's
diagnosis (expected and actual, and the ``sacctmgr`` commands that fix it), and an apply
(writes only what differs, each change audited; clusters set to ``enforce: apply``)."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from allocator import rules
from allocator.enforcement import drift
from allocator.errors import Conflict, NotFound
from allocator.model import Role
from allocator.services import enforcement as enf
from connectors import enforcement as wiring
from connectors.bootstrap import Services
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, ServicesDep
from connectors.presenters import enforcement as present
from connectors.settings import ClusterConfig

router = APIRouter(prefix="/api/v1", tags=["enforcement"])


class ChangeOut(BaseModel):
    cluster: str
    account: str
    attribute: str = Field(
        description="GrpTRESMins (billing minutes), QOS, or RawUsage (Slurm's usage counter,"
        " reset to 0 once a period)"
    )
    before: str
    after: str
    tightens: bool
    action: str = Field(description='"change", or "skip: <why>" when gpuhours is unsure')
    command: str = Field(description="the sacctmgr command that makes the change")


class AppliedOut(ChangeOut):
    outcome: str = Field(description='"applied", or "failed: <why>" (the next run retries)')


class PlanOut(BaseModel):
    cluster: str
    period: str
    read_error: str = Field(description="why Slurm could not be read (nothing is tightened)")
    changes: list[ChangeOut]


class ApplyOut(BaseModel):
    cluster: str
    applied: list[AppliedOut]
    skipped: list[ChangeOut]
    failed: int


class DriftOut(BaseModel):
    cluster: str
    account: str
    project_id: str
    gpuhours_hours: float = Field(description="the project's use this period, by gpuhours")
    slurm_hours: float | None = Field(description="Slurm's usage counter (null: unread)")
    difference_hours: float | None = Field(description="Slurm's minus gpuhours'")
    flagged: bool = Field(description="beyond the tolerance (or Slurm's counter unread)")


class DriftReportOut(BaseModel):
    cluster: str
    period: str
    read_error: str
    accounts: list[DriftOut]


class ExpectedOut(BaseModel):
    project_id: str
    available_hours: float
    used_hours: float
    limit_billing_minutes: int
    limit_hours: float
    level: str
    qos: str


class ActualOut(BaseModel):
    limit_billing_minutes: int | None
    limit_hours: float | None
    qos: list[str]
    default_qos: str
    used_billing_minutes: int | None
    used_hours: float | None


class DiagnosisOut(BaseModel):
    cluster: str
    account: str
    expected: ExpectedOut
    actual: ActualOut | None
    read_error: str
    billing_weights: dict[str, str]
    differences: list[ChangeOut]
    commands: list[str]


def _config(services: Services, actor: ActorDep, name: str, need: tuple[str, ...]) -> ClusterConfig:
    """The cluster's configuration, if its ``enforce`` is one of ``need`` (asked by staff:
    anyone else learns nothing of the clusters)."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    try:
        config = services.settings.cluster(name)
    except ValueError:
        raise NotFound("cluster", name, field="cluster") from None
    if config.enforce not in need:
        raise Conflict(
            f"cluster {name}: enforce is {config.enforce!r}; set it to {' or '.join(need)}"
            " in GPUHOURS_CLUSTERS",
            field="cluster",
        )
    return config


def _plan(services: Services, actor: ActorDep, config: ClusterConfig) -> enf.Plan:
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    return wiring.plan(services, actor, config)


@router.get("/enforcement/{cluster}/plan")
def plan_enforcement(cluster: str, services: ServicesDep, actor: ActorDep) -> PlanOut:
    """What differs between the ledger's desired state and Slurm's; changes nothing."""
    result = _plan(services, actor, _config(services, actor, cluster, ("plan", "apply")))
    changes = [ChangeOut.model_validate(present.change(c)) for c in result.changes]
    return PlanOut(
        cluster=result.cluster, period=result.period, read_error=result.read_error, changes=changes
    )


@router.get("/enforcement/{cluster}/accounts/{account}")
def diagnose_account(
    cluster: str, account: str, services: ServicesDep, actor: ActorDep
) -> DiagnosisOut:
    """One account's expected and actual limit, usage and QOS, and the commands fixing them."""
    config = _config(services, actor, cluster, ("plan", "apply"))
    found = enf.diagnose(_plan(services, actor, config), account)
    return DiagnosisOut.model_validate(present.diagnosis(found, wiring.weights(services, config)))


@router.post("/enforcement/{cluster}/apply")
def apply_enforcement(cluster: str, services: ServicesDep, actor: ActorDep) -> ApplyOut:
    """Write what differs into Slurm, each change audited (who, when, before, after,
    outcome); what gpuhours is unsure of is skipped and said."""
    config = _config(services, actor, cluster, ("apply",))
    result = _plan(services, actor, config)
    done = wiring.apply(services, actor, config, result)
    return ApplyOut(
        cluster=result.cluster,
        applied=[AppliedOut.model_validate(present.applied(a)) for a in done],
        skipped=[ChangeOut.model_validate(present.change(c)) for c in result.changes if c.skipped],
        failed=sum(1 for a in done if a.error),
    )


@router.get("/enforcement/{cluster}/drift")
def drift_report(
    cluster: str,
    services: ServicesDep,
    actor: ActorDep,
    tolerance_seconds: int = Query(default=60, ge=0, le=10**12),
    tolerance_percent: Decimal = s.decimal(1, 0, 100, make=Query, default=Decimal(5)),
) -> DriftReportOut:
    """Slurm's usage counter of each managed account beside gpuhours' use this period,
    flagged beyond ``max(tolerance_seconds, tolerance_percent of the larger figure)``."""
    result = _plan(services, actor, _config(services, actor, cluster, ("plan", "apply")))
    found = drift(
        result.desired,
        result.actual,
        absolute=tolerance_seconds,
        relative_milli=int(tolerance_percent * 10),
    )
    return DriftReportOut(
        cluster=result.cluster,
        period=result.period,
        read_error=result.read_error,
        accounts=[DriftOut.model_validate(present.drift(d)) for d in found],
    )
