"""Reconciliation: our consumption against an external statement, per project x pool x period.

Pure. For each project that either side knows of:

* the **basis** is ``units`` (pool unit-seconds, e.g. normalised GPU-seconds) when the
  statement gives units for that project, else ``gpu_seconds`` (sreport gives GPU-seconds);
* ``difference = ours - theirs`` (positive: we counted more than the statement) and
  ``relative_milli = 1000 x |difference| / max(ours, theirs)``;
* status:

  ``match``              ``|difference| <= max(absolute, relative x max(ours, theirs))``
  ``over`` / ``under``   we counted more / less than the statement, beyond the tolerance
  ``missing_statement``  we counted usage, the statement has no line for the project
  ``missing_ours``       the statement has usage, we counted none

* resolution, from the administrators' decisions (append-only, each with who, when, why):
  an **adjustment** (a signed ledger entry: negative debits the project) moves our effective
  figure (``ours - adjustments``); when that lands within tolerance the line is ``adjusted``.
  An **acceptance** records that the difference stands; it holds while ``ours`` and ``theirs``
  are still the figures it was given for (new usage re-opens the line) -> ``accepted``.

Worked example (tolerance 60 s and 1 %): ours 10 800 GPU-s, statement 7 200 -> difference
+3 600, 333 milli, ``over``. An admin posts an adjustment of +3 600 (credits the project the
hours we over-counted): effective ours 7 200 -> ``adjusted``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

MILLI = 1000


class Status(StrEnum):
    MATCH = "match"
    OVER = "over"
    UNDER = "under"
    MISSING_STATEMENT = "missing_statement"
    MISSING_OURS = "missing_ours"
    ACCEPTED = "accepted"
    ADJUSTED = "adjusted"


class Basis(StrEnum):
    UNITS = "units"
    GPU_SECONDS = "gpu_seconds"


@dataclass(frozen=True, slots=True)
class Tolerance:
    absolute: int = 60
    relative_milli: int = 10

    def allows(self, difference: int, ours: int, theirs: int) -> bool:
        scale = max(abs(ours), abs(theirs))
        return abs(difference) <= max(self.absolute, scale * self.relative_milli // MILLI)


@dataclass(frozen=True, slots=True)
class Ours:
    units: int = 0
    gpu_seconds: int = 0


@dataclass(frozen=True, slots=True)
class Theirs:
    """A statement's figures for one project (summed over its lines)."""

    units: int | None
    gpu_seconds: int | None
    lines: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    project_id: str
    action: str  # "accept" | "adjust"
    amount: int  # signed ledger amount of an adjustment (0 for an acceptance)
    ours: int
    theirs: int | None


@dataclass(frozen=True, slots=True)
class Line:
    project_id: str
    basis: Basis
    ours: int
    theirs: int | None
    difference: int
    relative_milli: int
    raw_status: Status
    status: Status
    adjustments: int
    statement_lines: tuple[int, ...]


def _raw(ours: int, theirs: int | None, tol: Tolerance) -> tuple[int, Status]:
    if theirs is None:
        return ours, (Status.MATCH if ours == 0 else Status.MISSING_STATEMENT)
    diff = ours - theirs
    if ours == 0 and theirs > 0 and not tol.allows(diff, ours, theirs):
        return diff, Status.MISSING_OURS
    if tol.allows(diff, ours, theirs):
        return diff, Status.MATCH
    return diff, Status.OVER if diff > 0 else Status.UNDER


def reconcile(
    ours: Mapping[str, Ours],
    theirs: Mapping[str, Theirs],
    decisions: Iterable[Decision] = (),
    tolerance: Tolerance | None = None,
) -> list[Line]:
    """One line per project known to either side, sorted by project id."""
    tol = tolerance or Tolerance()
    by_project: dict[str, list[Decision]] = {}
    for d in decisions:
        by_project.setdefault(d.project_id, []).append(d)
    # A project the statement does not list is compared in the statement's own amount.
    default_basis = (
        Basis.GPU_SECONDS
        if theirs and all(th.units is None for th in theirs.values())
        else Basis.UNITS
    )
    lines = []
    for project in sorted(set(ours) | set(theirs)):
        mine = ours.get(project, Ours())
        stated = theirs.get(project)
        if stated is not None and stated.units is not None:
            basis = Basis.UNITS
        elif stated is not None and stated.gpu_seconds is not None:
            basis = Basis.GPU_SECONDS
        else:
            basis = default_basis
        ours_v = mine.units if basis is Basis.UNITS else mine.gpu_seconds
        theirs_v = (
            None
            if stated is None
            else (stated.units if basis is Basis.UNITS else stated.gpu_seconds)
        )
        diff, raw = _raw(ours_v, theirs_v, tol)
        scale = max(abs(ours_v), abs(theirs_v or 0))
        rel = abs(diff) * MILLI // scale if scale else 0
        mine_decisions: Sequence[Decision] = by_project.get(project, [])
        adjusted = sum(d.amount for d in mine_decisions if d.action == "adjust")
        status = raw
        if raw is not Status.MATCH:
            _, eff = _raw(ours_v - adjusted, theirs_v, tol)
            if adjusted and eff is Status.MATCH:
                status = Status.ADJUSTED
            elif any(
                d.action == "accept" and d.ours == ours_v and d.theirs == theirs_v
                for d in mine_decisions
            ):
                status = Status.ACCEPTED
        lines.append(
            Line(
                project,
                basis,
                ours_v,
                theirs_v,
                diff,
                rel,
                raw,
                status,
                adjusted,
                stated.lines if stated is not None else (),
            )
        )
    return lines
