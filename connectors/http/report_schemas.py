"""The JSON report's schema (``accounting.report.to_json``), for the OpenAPI document: the
renderings are the core's text, so this model only describes them (``tests`` validate a real
report against it, unknown keys refused)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Seconds = int
Hours = float


class ReportRowOut(BaseModel):
    """One row: a pool, a chair or a project (``project: ""`` under a pool: usage of Slurm
    accounts no project is mapped to). Amounts in unit-seconds of the pool's unit, and the
    same in hours (``*_hours``, to the millihour)."""

    model_config = ConfigDict(extra="forbid")

    level: Literal["pool", "chair", "project"]
    pool: str
    chair: str
    project: str
    unit: str
    capacity: Seconds
    capacity_hours: Hours
    allocated: Seconds
    allocated_hours: Hours
    adjustments: Seconds
    adjustments_hours: Hours
    clawed: Seconds = Field(
        description="reclaimed by regulation (GENCI, TGCC) in the period; already out of allocated",
    )
    clawed_hours: Hours
    available: Seconds
    available_hours: Hours
    consumed: Seconds = Field(description="final consumption, late usage included")
    consumed_hours: Hours
    provisional: Seconds = Field(description="running jobs, so far")
    provisional_hours: Hours
    late: Seconds
    late_hours: Hours
    remaining: Seconds
    remaining_hours: Hours
    utilisation_permille: int | None
    gpu_seconds: Seconds = Field(description="raw GPU-seconds (not normalised)")
    gpu_hours: Hours
    unpriced_gpu_seconds: Seconds
    unpriced_gpu_hours: Hours
    statement: Seconds | None
    statement_hours: Hours | None
    basis: str
    difference: Seconds | None = Field(description="ours - statement")
    difference_hours: Hours | None
    status: str
    expired: Seconds | None = Field(description="at close; null while the period is open")
    expired_hours: Hours | None
    carried: Seconds | None = Field(description="at close; null while the period is open")
    carried_hours: Hours | None
    returned: Seconds | None = Field(description="at close; null while the period is open")
    returned_hours: Hours | None


class ReportOut(BaseModel):
    """A period's report: ``state`` says whether it is ``open`` (figures may still change;
    the close figures are null) or ``closed`` (signed off at ``closed_at``, final)."""

    model_config = ConfigDict(extra="forbid")

    period: str
    state: Literal["open", "closed"]
    closed_at: str | None
    closed_by: str | None
    amounts: str
    close_figures: str
    rows: list[ReportRowOut]
