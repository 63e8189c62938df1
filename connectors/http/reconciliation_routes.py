"""Reconciliation over HTTP: our consumption against the latest statement, the jobs behind a
line, and the decisions (accept a difference, or adjust the project)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from accounting import services as acc
from accounting.ports import JobCharge
from accounting.reconcile import Line, Tolerance
from allocator.errors import InvalidInput
from allocator.model import Role
from allocator.rules import require_role
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.quarter_params import PoolQ
from connectors.http.routes import PeriodQ
from connectors.http.statement_routes import StatementOut

router = APIRouter()


class ToleranceOut(BaseModel):
    seconds: int
    percent: float


class ReconciliationLineOut(BaseModel):
    project_id: str = Field(description='"" = Slurm accounts no project is mapped to')
    basis: str = Field(description="units (pool unit-seconds) or gpu_seconds")
    ours: int
    theirs: int | None
    difference: int = Field(description="ours - theirs")
    relative_percent: float
    raw_status: str
    status: str
    adjustments: int
    statement_lines: list[int]
    ours_hours: float
    theirs_hours: float | None
    difference_hours: float
    adjustments_hours: float

    @classmethod
    def of(cls, ln: Line) -> ReconciliationLineOut:
        return cls(
            project_id=ln.project_id,
            basis=ln.basis.value,
            ours=ln.ours,
            theirs=ln.theirs,
            difference=ln.difference,
            relative_percent=ln.relative_milli / 10,
            raw_status=ln.raw_status.value,
            status=ln.status.value,
            adjustments=ln.adjustments,
            statement_lines=list(ln.statement_lines),
            ours_hours=s.hours(ln.ours),
            theirs_hours=None if ln.theirs is None else s.hours(ln.theirs),
            difference_hours=s.hours(ln.difference),
            adjustments_hours=s.hours(ln.adjustments),
        )


class ReconciliationOut(BaseModel):
    pool_id: str
    period: str
    statement: StatementOut | None
    tolerance: ToleranceOut
    lines: list[ReconciliationLineOut]

    @classmethod
    def of(cls, r: acc.Reconciliation) -> ReconciliationOut:
        return cls(
            pool_id=r.pool_id,
            period=r.period,
            statement=None if r.statement is None else StatementOut.of(r.statement),
            tolerance=ToleranceOut(
                seconds=r.tolerance.absolute, percent=r.tolerance.relative_milli / 10
            ),
            lines=[ReconciliationLineOut.of(ln) for ln in r.lines],
        )


class JobOut(BaseModel):
    cluster: str
    job_id: int
    submit: datetime
    account: str
    gpu_seconds: int
    units: int
    units_hours: float
    provisional: bool
    late: bool

    @classmethod
    def of(cls, j: JobCharge) -> JobOut:
        return cls(
            cluster=j.cluster,
            job_id=j.job_id,
            submit=datetime.fromtimestamp(j.submit, UTC),
            account=j.account,
            gpu_seconds=j.gpu_seconds,
            units=j.units,
            units_hours=s.hours(j.units),
            provisional=j.provisional,
            late=j.late,
        )


class DecisionIn(s.Strict):
    pool_id: s.Slug
    period: s.PeriodLabel
    project_id: str = Field(max_length=64, description='the line\'s project ("" = unmapped)')
    action: Literal["accept", "adjust"]
    hours: s.SignedHours = Field(
        default=Decimal(0),
        description="adjust: signed hours of the pool's unit (negative debits the project); "
        "accept: 0",
    )
    reason: str = Field(min_length=1, max_length=2000)


# --- reconciliation -------------------------------------------------------------------------

_DEFAULT = Tolerance()


@router.get("/reconciliation")
def reconciliation(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    tolerance_seconds: int = Query(default=_DEFAULT.absolute, ge=0, le=10**12),
    tolerance_percent: Decimal = Query(
        default=Decimal(_DEFAULT.relative_milli) / 10, ge=0, le=100, decimal_places=1
    ),
) -> ReconciliationOut:
    """Our consumption against the latest statement, per project: a line matches within
    ``max(tolerance_seconds, tolerance_percent of the larger figure)``."""
    tolerance = Tolerance(tolerance_seconds, int(tolerance_percent * 10))
    rec = acc.reconcile(uow, actor, pool_id, period, tolerance, now=now, calendar=calendar)
    return ReconciliationOut.of(rec)


@router.get("/reconciliation/jobs")
def reconciliation_jobs(
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = PoolQ,
    period: str = PeriodQ,
    project_id: str = Query(default="", max_length=64, description='"" = unmapped accounts'),
    limit: int = Query(default=1000, ge=1, le=10_000),
) -> list[JobOut]:
    """The jobs whose charges make up a reconciliation line."""
    jobs = acc.jobs_behind(
        uow, actor, pool_id, period, project_id, limit, now=now, calendar=calendar
    )
    return [JobOut.of(j) for j in jobs]


def decision_amount(action: str, hours: Decimal) -> int:
    """The signed seconds a decision moves, exactly (``hours`` validated as whole seconds):
    none for an acceptance, some for an adjustment."""
    amount = s.to_seconds(abs(hours)) * (1 if hours >= 0 else -1)
    if action == "accept" and amount:
        raise InvalidInput("hours", "an acceptance moves no hours: leave hours out (or 0)")
    if action == "adjust" and not amount:
        raise InvalidInput("hours", "an adjustment needs a non-zero signed number of hours")
    return amount


@router.post("/reconciliation/decisions")
def decide(
    body: DecisionIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> ReconciliationOut:
    """Accept a line's difference, or post a signed adjustment; both journaled with the reason.
    Answers the updated reconciliation."""
    require_role(actor, Role.ADMIN)
    amount = decision_amount(body.action, body.hours)
    rec = acc.decide(
        uow,
        actor,
        now,
        body.pool_id,
        body.period,
        body.project_id,
        body.action,
        amount,
        body.reason,
        calendar=calendar,
    )
    return ReconciliationOut.of(rec)
