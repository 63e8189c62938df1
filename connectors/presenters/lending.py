"""A chair's lending as a plain dict (the API's answers and the CLI's output)."""

from __future__ import annotations

from typing import Any

from allocator.hours import in_hours
from allocator.services.lending import LendingView

Plain = dict[str, Any]


def _hours(seconds: int | None) -> float | None:
    return None if seconds is None else in_hours(seconds)


def lending(v: LendingView) -> Plain:
    unused, lendable = dict(v.unused), dict(v.lendable)
    return {
        "chair_id": v.terms.chair_id,
        "pool_id": v.terms.pool_id,
        "period": v.terms.period,
        "policy": v.terms.policy.value,
        "projects": [
            {
                "project_id": x.project_id,
                "lending_limit_hours": _hours(x.lending_limit),
                "borrowing_limit_hours": _hours(x.borrowing_limit),
                "unused_hours": in_hours(unused.get(x.project_id, 0)),
                "lendable_hours": in_hours(lendable.get(x.project_id, 0)),
            }
            for x in v.terms.limits
        ],
        "loans": [
            {
                "reference": f"loan:{x.number}",
                "lender": x.lender,
                "borrower": x.borrower,
                "lent_hours": in_hours(x.lent),
                "returned_hours": in_hours(x.returned),
                "outstanding_hours": in_hours(x.outstanding),
            }
            for x in v.loans
        ],
    }
