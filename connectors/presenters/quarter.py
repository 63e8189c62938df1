"""The quarter's values as plain dicts: statements, reconciliations, the jobs behind a line,
burn rates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from accounting.ports import JobCharge, StatementInfo
from accounting.reconcile import Line
from accounting.services import ProjectBurn, ProjectJob, Reconciliation
from allocator.hours import in_hours

Plain = dict[str, Any]
DAY, HOUR = 86400, 3600


def statement(i: StatementInfo) -> Plain:
    return {
        "id": i.id,
        "pool_id": i.pool_id,
        "period": i.period,
        "format": i.format,
        "origin": i.origin,
        "file_name": i.file_name,
        "sha256": i.sha256,
        "lines": i.lines,
        "imported_by": i.imported_by,
        "imported_at": i.imported_at,
        "created": i.created,
    }


def reconciliation_line(ln: Line) -> Plain:
    return {
        "project_id": ln.project_id,
        "basis": ln.basis.value,
        "ours": ln.ours,
        "theirs": ln.theirs,
        "difference": ln.difference,
        "relative_percent": ln.relative_milli / 10,
        "raw_status": ln.raw_status.value,
        "status": ln.status.value,
        "adjustments": ln.adjustments,
        "statement_lines": list(ln.statement_lines),
        "ours_hours": in_hours(ln.ours),
        "theirs_hours": None if ln.theirs is None else in_hours(ln.theirs),
        "difference_hours": in_hours(ln.difference),
        "adjustments_hours": in_hours(ln.adjustments),
    }


def _unit(unit: str | None) -> Plain:
    """The ``unit`` field of an answer with amounts (the pool's unit), when known."""
    return {} if unit is None else {"unit": unit}


def reconciliation(r: Reconciliation) -> Plain:
    return {
        "pool_id": r.pool_id,
        "period": r.period,
        "statement": None if r.statement is None else statement(r.statement),
        "tolerance": {"seconds": r.tolerance.absolute, "percent": r.tolerance.relative_milli / 10},
        "lines": [reconciliation_line(ln) for ln in r.lines],
    }


def job(j: JobCharge) -> Plain:
    return {
        "cluster": j.cluster,
        "job_id": j.job_id,
        "submit": datetime.fromtimestamp(j.submit, UTC),
        "account": j.account,
        "gpu_seconds": j.gpu_seconds,
        "units": j.units,
        "units_hours": in_hours(j.units),
        "provisional": j.provisional,
        "late": j.late,
    }


def project_job(pj: ProjectJob) -> Plain:
    return {"project_id": pj.project_id, "pool_id": pj.pool_id} | job(pj.job)


def burn(p: ProjectBurn, unit: str | None = None) -> Plain:
    b, rates = p.balance, p.burn
    return {
        "project_id": b.project_id,
        "pool_id": b.pool_id,
        **_unit(unit),
        "period": b.period,
        "allocated_seconds": b.allocated,
        "adjustments_seconds": b.adjustments,
        "consumed_seconds": p.consumed,
        "remaining_seconds": b.remaining,
        "allocated_hours": in_hours(b.allocated),
        "adjustments_hours": in_hours(b.adjustments),
        "consumed_hours": in_hours(p.consumed),
        "remaining_hours": in_hours(b.remaining),
        "burn_rate_7d_hours_per_day": round(rates.rate_7d * DAY / HOUR, 3),
        "burn_rate_30d_hours_per_day": round(rates.rate_30d * DAY / HOUR, 3),
        "projected_exhaustion": None
        if rates.exhaustion is None
        else datetime.fromtimestamp(rates.exhaustion, UTC),
        "exhausts_before_period_end": rates.exhausts_before_period_end,
        "exhaustion_outlook": rates.outlook.value,
    }
