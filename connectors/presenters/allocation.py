"""Pools, chairs, projects, requests, ledger entries and balances as plain dicts."""

from __future__ import annotations

from typing import Any

from allocator.hours import in_hours
from allocator.ledger import ChairBalance, PoolBalance, ProjectBalance
from allocator.model import (
    MILLI,
    AllocationRequest,
    AuditEvent,
    Chair,
    LedgerEntry,
    Pool,
    Project,
    User,
)

Plain = dict[str, Any]


def user(u: User) -> Plain:
    return {"username": u.username, "role": u.role, "full_name": u.full_name, "email": u.email}


def pool(p: Pool) -> Plain:
    return {
        "id": p.id,
        "name": p.name,
        "kind": p.kind,
        "unit": p.unit,
        "valid_from": p.valid_from,
        "valid_until": p.valid_until,
        "inventory": {i.gpu_type: i.count for i in p.inventory},
        "availability": p.availability_milli / MILLI,
        "overcommit": p.overcommit_milli / MILLI,
        "billing_mode": p.billing_mode,
        "close_policy": p.close_policy,
        "carryover_cap": p.carryover_cap_milli / MILLI,
        "routes": [
            {"cluster": r.cluster, "partition": r.partition, "gpu_type": r.gpu_type}
            for r in p.routes
        ],
        "rates": [
            {
                "gpu_type": r.gpu_type,
                "rate": r.rate_milli / MILLI,
                "effective_from": r.effective_from,
            }
            for r in p.rates
        ],
        "description": p.description,
    }


def chair(c: Chair) -> Plain:
    return {
        "id": c.id,
        "name": c.name,
        "institution": c.institution,
        "holder": c.holder,
        "start": c.start,
        "end": c.end,
    }


def project(p: Project) -> Plain:
    return {
        "id": p.id,
        "chair_id": p.chair_id,
        "name": p.name,
        "kind": p.kind,
        "pi": p.pi,
        "members": list(p.members),
        "start": p.start,
        "end": p.end,
        "slurm_accounts": [{"cluster": a.cluster, "account": a.account} for a in p.slurm_accounts],
    }


def _unit(unit: str | None) -> Plain:
    """The ``unit`` field of an answer with amounts (the pool's unit), when known."""
    return {} if unit is None else {"unit": unit}


def request(r: AllocationRequest, unit: str | None = None) -> Plain:
    return {
        "id": r.id,
        "project_id": r.project_id,
        "pool_id": r.pool_id,
        **_unit(unit),
        "gpu_type": r.gpu_type,
        "requester": r.requester,
        "justification": r.justification,
        "state": r.state.value,
        "created_at": r.created_at,
        "lines": [
            {
                "period": ln.period,
                "requested_seconds": ln.requested,
                "requested_hours": in_hours(ln.requested),
                "granted_seconds": ln.granted,
                "granted_hours": in_hours(ln.granted),
            }
            for ln in r.lines
        ],
        "decided_by": r.decided_by,
        "decided_at": r.decided_at,
        "decision_reason": r.decision_reason,
        "comments": [{"author": c.author, "at": c.at, "text": c.text} for c in r.comments],
    }


def entry(e: LedgerEntry, unit: str | None = None) -> Plain:
    return {
        "id": e.id,
        "kind": e.kind.value,
        "pool_id": e.pool_id,
        **_unit(unit),
        "period": e.period,
        "source": e.source,
        "target": e.target,
        "amount_seconds": e.amount,
        "amount_hours": in_hours(e.amount),
        "actor": e.actor,
        "at": e.at,
        "reason": e.reason,
        "request_id": e.request_id,
        "reference": e.reference,
    }


def audit_event(e: AuditEvent) -> Plain:
    return {
        "id": e.id,
        "actor": e.actor,
        "at": e.at,
        "action": e.action,
        "subject": e.subject,
        "detail": e.detail,
    }


def pool_balance(b: PoolBalance, unit: str | None = None) -> Plain:
    return {
        "pool_id": b.pool_id,
        **_unit(unit),
        "period": b.period,
        "capacity_seconds": b.capacity,
        "allocated_seconds": b.allocated,
        "unallocated_seconds": b.unallocated,
        "capacity_hours": in_hours(b.capacity),
        "allocated_hours": in_hours(b.allocated),
        "unallocated_hours": in_hours(b.unallocated),
    }


def chair_balance(b: ChairBalance, unit: str | None = None) -> Plain:
    return {
        "chair_id": b.chair_id,
        "pool_id": b.pool_id,
        **_unit(unit),
        "period": b.period,
        "received_seconds": b.received,
        "allocated_to_projects_seconds": b.allocated_to_projects,
        "unallocated_seconds": b.unallocated,
        "received_hours": in_hours(b.received),
        "allocated_to_projects_hours": in_hours(b.allocated_to_projects),
        "unallocated_hours": in_hours(b.unallocated),
    }


def project_balance(b: ProjectBalance, unit: str | None = None) -> Plain:
    return {
        "project_id": b.project_id,
        "pool_id": b.pool_id,
        **_unit(unit),
        "period": b.period,
        "allocated_seconds": b.allocated,
        "adjustments_seconds": b.adjustments,
        "consumed_seconds": b.consumed,
        "consumed_provisional_seconds": b.consumed_provisional,
        "remaining_seconds": b.remaining,
        "allocated_hours": in_hours(b.allocated),
        "adjustments_hours": in_hours(b.adjustments),
        "consumed_hours": in_hours(b.consumed),
        "consumed_provisional_hours": in_hours(b.consumed_provisional),
        "remaining_hours": in_hours(b.remaining),
        "utilisation": b.utilisation_milli / MILLI,
    }
