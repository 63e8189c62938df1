"""Allocation rounds as plain dicts (the API's answers and the CLI's output)."""

from __future__ import annotations

from typing import Any

from allocator.hours import in_hours
from allocator.round_model import AllocationRound
from allocator.services.rounds import RoundView

Plain = dict[str, Any]


def allocation_round(r: AllocationRound, state: str) -> Plain:
    return {
        "id": r.id,
        "period": r.period,
        "pool_ids": list(r.pool_ids),
        "deadline": r.deadline,
        "state": state,
        "opened_by": r.opened_by,
        "opened_at": r.opened_at,
        "decided_by": r.decided_by,
        "decided_at": r.decided_at,
        "reference": r.reference,
        "weights": [{"chair_id": c, "weight": w} for c, w in r.weights],
        "minimums": [
            {
                "request_id": m.request_id,
                "seconds": m.amount,
                "hours": in_hours(m.amount),
                "reason": m.reason,
            }
            for m in r.minimums
        ],
    }


def view(v: RoundView) -> Plain:
    """The round, its members, and its demand and lines (``None`` until they may be seen)."""
    members = {r.id: r for r in v.members}
    return {
        **allocation_round(v.round, v.state.value),
        "requests": [
            {
                "id": r.id,
                "project_id": r.project_id,
                "pool_id": r.pool_id,
                "gpu_type": r.gpu_type,
                "requested_seconds": r.requested_total,
                "requested_hours": in_hours(r.requested_total),
            }
            for r in v.members
        ],
        "demand": None
        if v.demand is None
        else [
            {
                "pool_id": d.pool_id,
                "gpu_type": d.gpu_type,
                "chair_id": d.chair_id,
                "requested_seconds": d.requested,
                "requested_hours": in_hours(d.requested),
                "minimums_seconds": d.minimums,
                "minimums_hours": in_hours(d.minimums),
                "available_seconds": d.available,
                "available_hours": in_hours(d.available),
            }
            for d in v.demand
        ],
        "lines": None
        if v.lines is None
        else [
            {
                "request_id": line.request_id,
                "project_id": members[line.request_id].project_id
                if line.request_id in members
                else "",
                "seconds": line.amount,
                "hours": in_hours(line.amount),
                "basis": line.basis,
                "explanation": line.explanation,
                "edited": line.edited,
            }
            for line in v.lines
        ],
    }
