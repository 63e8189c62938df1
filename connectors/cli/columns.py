"""The columns of each table (``-o table``, the default): what a person scans for. ``-o json``
and ``-o csv`` carry every field."""

from __future__ import annotations

from typing import Any


def _periods(request: Any) -> str:
    """A request's lines: ``2026Q4 200.0h (granted 150.0h)``."""
    out = []
    for line in request.get("lines", []):
        text = f"{line.get('period')} {line.get('requested_hours')}h"
        if request.get("state") in ("approved", "partially_approved"):
            text += f" (granted {line.get('granted_hours')}h)"
        out.append(text)
    return ", ".join(out)


USER = ("username", "role", "full_name", "email")
POOL = ("id", "name", "kind", "unit", "valid_from", "valid_until", "close_policy")
CHAIR = ("id", "name", "institution", "holder")
PROJECT = ("id", "chair_id", "name", "kind", "pi", "members", "slurm_accounts")
REQUEST = ("id", "project_id", "pool_id", "state", "requester", "created_at", ("periods", _periods))
BALANCE = (
    "project_id",
    "pool_id",
    "period",
    "allocated_hours",
    "consumed_hours",
    "remaining_hours",
    "utilisation",
)
ENTRY = ("id", "kind", "pool_id", "period", "source", "target", "amount_hours", "actor", "at")
TOKEN = ("id", "username", "prefix", "note", "state", "expires_at", "last_used_at")
STATEMENT = ("id", "pool_id", "period", "format", "file_name", "imported_at", "lines")
BURN = (
    "project_id",
    "pool_id",
    "allocated_hours",
    "consumed_hours",
    "remaining_hours",
    "burn_rate_7d_hours_per_day",
    "burn_rate_30d_hours_per_day",
    "projected_exhaustion",
)
PROJECT_JOB = (
    "project_id",
    "pool_id",
    "cluster",
    "job_id",
    "submit",
    "account",
    "gpu_seconds",
    "units_hours",
    "provisional",
)
JOB = ("cluster", "job_id", "submit", "account", "gpu_seconds", "units_hours", "provisional")
