"""Enforcement plans, applies and diagnoses as plain dicts (the CLI's rows, the API's JSON)."""

from __future__ import annotations

from typing import Any

from allocator.enforcement import (
    ActualAccount,
    Change,
    DesiredAccount,
    Drift,
    unit_seconds_of,
)
from allocator.hours import in_hours
from allocator.services.enforcement import Applied, Diagnosis

Plain = dict[str, Any]


def change(c: Change) -> Plain:
    return {
        "cluster": c.cluster,
        "account": c.account,
        "attribute": c.attribute.value,
        "before": c.before,
        "after": c.after,
        "tightens": c.tightens,
        "action": f"skip: {c.skipped}" if c.skipped else "change",
        "command": " ".join(c.command),
    }


def applied(a: Applied) -> Plain:
    return {**change(a.change), "outcome": f"failed: {a.error}" if a.error else "applied"}


def desired(d: DesiredAccount) -> Plain:
    return {
        "project_id": d.project_id,
        "available_hours": in_hours(d.available),
        "used_hours": in_hours(d.used),
        "limit_billing_minutes": d.limit_minutes,
        "limit_hours": in_hours(unit_seconds_of(d.limit_minutes)),
        "level": d.level.value,
        "qos": d.qos,
    }


def actual(a: ActualAccount | None) -> Plain | None:
    if a is None:
        return None
    return {
        "limit_billing_minutes": a.limit_minutes,
        "limit_hours": None
        if a.limit_minutes is None
        else in_hours(unit_seconds_of(a.limit_minutes)),
        "qos": list(a.qos),
        "default_qos": a.default_qos,
        "used_billing_minutes": a.used_minutes,
        "used_hours": None if a.used_minutes is None else in_hours(unit_seconds_of(a.used_minutes)),
    }


def diagnosis(d: Diagnosis, weights: dict[str, str]) -> Plain:
    return {
        "cluster": d.desired.cluster,
        "account": d.desired.account,
        "expected": desired(d.desired),
        "actual": actual(d.actual),
        "read_error": d.read_error,
        "billing_weights": weights,
        "differences": [change(c) for c in d.changes],
        "commands": [" ".join(c.command) for c in d.changes if c.command],
    }


def drift(d: Drift) -> Plain:
    """One account's use by gpuhours and by Slurm's counter, in hours, and whether flagged."""
    return {
        "cluster": d.cluster,
        "account": d.account,
        "project_id": d.project_id,
        "gpuhours_hours": in_hours(d.ours),
        "slurm_hours": None if d.slurm is None else in_hours(d.slurm),
        "difference_hours": None if d.difference is None else in_hours(d.difference),
        "flagged": d.flagged,
    }
