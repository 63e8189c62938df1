"""Regulation as plain dicts (the API's answers and the CLI's output)."""

from __future__ import annotations

from typing import Any

from allocator.hours import in_hours
from allocator.regulation import Regulation, UnderuseRule
from allocator.services.regulation import Outlook, describe

Plain = dict[str, Any]


def rule(r: Regulation) -> Plain:
    genci = r.rule if isinstance(r.rule, UnderuseRule) else None
    tgcc = None if isinstance(r.rule, UnderuseRule) else r.rule
    return {
        "pool_id": r.pool_id,
        "rule": r.rule.name,
        "destination": r.destination.value,
        "description": describe(r),
        "after_months": genci.after_months if genci else None,
        "threshold_percent": genci.threshold_milli / 10 if genci else None,
        "reclaim_percent": genci.reclaim_milli / 10 if genci else None,
        "check_day": tgcc.check_day if tgcc else None,
        "late_days": tgcc.late_days if tgcc else None,
        "deduct_days": tgcc.deduct_days if tgcc else None,
    }


def outlook(o: Outlook) -> Plain:
    s = o.standing
    return {
        "project_id": s.grant.project_id,
        "chair_id": s.grant.chair_id,
        "grant_seconds": s.grant.amount,
        "grant_hours": in_hours(s.grant.amount),
        "consumed_seconds": s.consumed,
        "consumed_hours": in_hours(s.consumed),
        "clawed_seconds": s.clawed_total,
        "clawed_hours": in_hours(s.clawed_total),
        "ahead": [
            {
                "on": c.on,
                "seconds": c.amount,
                "hours": in_hours(c.amount),
                "reference": c.reference,
                "explanation": c.explanation,
            }
            for c in o.ahead
        ],
    }
