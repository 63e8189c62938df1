"""``/api/v1/chairs/{chair_id}/lending`` and ``/api/v1/loans``: lending and borrowing inside a
chair. Staff read a chair's lending; admins set its terms, lend, borrow, recall and return the
loans at the period's end. Every move answers the ledger entries it journaled.

``/api/v1/projects/{project_id}/end`` and ``/api/v1/ended-projects/return``: a project's end
(a thesis's defence), after which it gets no allocation and its unused hours return to its
chair."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from allocator import services as svc
from allocator.lending import Limits
from connectors.http import lending_schemas as ls
from connectors.http import schemas as s
from connectors.http.deps import (
    ActorDep,
    CalendarDep,
    NowDep,
    ServicesDep,
    UnitsDep,
    UowDep,
)
from connectors.http.params import PeriodQ
from connectors.presenters import lending as present

router = APIRouter(prefix="/api/v1", tags=["lending"])
ChairId = Annotated[str, Path(min_length=1, max_length=64, description="the chair's id")]
ProjectId = Annotated[str, Path(min_length=1, max_length=64, description="the project's id")]


def _seconds(hours: s.Hours | None) -> int | None:
    return None if hours is None else s.to_seconds(hours)


@router.get("/chairs/{chair_id}/lending")
def get_chair_lending(
    chair_id: ChairId,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    pool_id: str = Query(min_length=1, max_length=64),
    period: str = PeriodQ,
) -> ls.LendingOut:
    """The chair's policy, its projects' limits, unused and lendable hours, and its loans in
    a pool and period (staff)."""
    view = svc.lending_view(
        uow, actor, now, chair_id, pool_id, period, services.consumption.within(uow),
        calendar=calendar,
    )  # fmt: skip
    return ls.LendingOut.model_validate(present.lending(view))


@router.put("/chairs/{chair_id}/lending")
def set_chair_lending(
    chair_id: ChairId,
    body: ls.TermsIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
) -> ls.TermsIn:
    """The chair's return policy and its projects' limits (admin)."""
    limits = [
        Limits(x.project_id, _seconds(x.lending_limit_hours), _seconds(x.borrowing_limit_hours))
        for x in body.limits
    ]
    svc.set_lending_terms(uow, actor, now, chair_id, body.policy, limits)
    return body


@router.post("/loans", status_code=201)
def lend_hours(
    body: ls.LoanIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """``lender`` lends unused hours to ``borrower`` of its chair (admin): one ``loan:N``
    transfer."""
    entries = svc.lend(
        uow, actor, now, body.pool_id, body.period, body.lender, body.borrower,
        s.to_seconds(body.hours), body.reason, services.consumption.within(uow),
        calendar=calendar,
    )  # fmt: skip
    return [s.EntryOut.of(e, units) for e in entries]


@router.post("/loans/borrow", status_code=201)
def borrow_hours(
    body: ls.BorrowIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """``borrower`` borrows from its chair's other projects, most lendable first (admin)."""
    entries = svc.borrow(
        uow, actor, now, body.pool_id, body.period, body.borrower, s.to_seconds(body.hours),
        body.reason, services.consumption.within(uow), calendar=calendar,
    )  # fmt: skip
    return [s.EntryOut.of(e, units) for e in entries]


@router.post("/loans/recall", status_code=201)
def recall_loans(
    body: ls.RecallIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """The lender takes hours back, newest loans first (admin; a chair whose policy is
    ``recall``, else 409 on ``policy``)."""
    entries = svc.recall(
        uow, actor, now, body.pool_id, body.period, body.lender, s.to_seconds(body.hours),
        body.reason, services.consumption.within(uow), calendar=calendar,
    )  # fmt: skip
    return [s.EntryOut.of(e, units) for e in entries]


@router.post("/loans/return")
def return_loans(
    body: ls.ReturnIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """Every open loan of the pool and period returns, once the period has ended (admin);
    again, nothing more is returned."""
    entries = svc.return_loans(
        uow, actor, now, body.pool_id, body.period, services.consumption.within(uow),
        calendar=calendar,
    )  # fmt: skip
    return [s.EntryOut.of(e, units) for e in entries]


@router.put("/projects/{project_id}/end", tags=["projects"])
def set_project_end(
    project_id: ProjectId, body: ls.ProjectEndIn, uow: UowDep, actor: ActorDep, now: NowDep
) -> s.ProjectOut:
    """The project's end, a thesis's defence (admin; ``null`` removes it): no allocation for
    a period beginning after it, and its unused hours return to its chair once it has passed."""
    return s.ProjectOut.of(svc.set_project_end(uow, actor, now, project_id, body.end))


@router.post("/ended-projects/return", tags=["projects"])
def return_after_end(
    body: ls.EndedReturnIn,
    services: ServicesDep,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> list[s.EntryOut]:
    """The unused hours of every project whose end has passed (or of ``project_id``) return
    to its chair (admin), each once: run again, nothing more is posted."""
    entries = svc.return_after_end(
        uow, actor, now, services.consumption.within(uow), calendar=calendar,
        project_id=body.project_id,
    )  # fmt: skip
    return [s.EntryOut.of(e, units) for e in entries]
