"""``/api/v1/rounds``: allocation rounds. Staff read them; admins open, weigh, set minimums,
edit lines and approve the whole round in one transaction."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path

from allocator import services as svc
from connectors.http import round_schemas as rs
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UowDep
from connectors.http.pages import Page, PageQ, paged
from connectors.presenters import rounds as present

router = APIRouter(prefix="/api/v1", tags=["rounds"])
RoundId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the round's id")]
RequestId = Annotated[int, Path(ge=1, le=2**31 - 1, description="a pending request of the round")]


@router.get("/rounds")
def list_rounds(uow: UowDep, actor: ActorDep, now: NowDep, pages: PageQ) -> Page[rs.RoundOut]:
    """The rounds, newest first (staff)."""
    rows = svc.list_rounds(uow, actor)
    return paged(
        "rounds",
        rows,
        lambda r: (r.id,),
        pages,
        lambda r: rs.RoundOut.model_validate(present.allocation_round(r, r.state(now).value)),
        newest_first=True,
    )


@router.post("/rounds", status_code=201)
def open_round(
    body: rs.RoundIn, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> rs.RoundViewOut:
    """Open a round for a period over pools (admin); requests of that period and pools
    submitted before the deadline join it."""
    opened = svc.open_round(
        uow, actor, now, body.period, body.pool_ids, body.deadline, calendar=calendar
    )
    return _view(uow, actor, now, opened.id, calendar)


@router.get("/rounds/{round_id}")
def get_round(
    round_id: RoundId, uow: UowDep, actor: ActorDep, now: NowDep, calendar: CalendarDep
) -> rs.RoundViewOut:
    """The round, its requests, demand against supply and its lines: proposed (edits applied)
    or approved. Demand and lines show after the deadline (to admins at any time)."""
    return _view(uow, actor, now, round_id, calendar)


@router.put("/rounds/{round_id}/weights")
def set_round_weights(
    round_id: RoundId,
    body: rs.WeightsIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
) -> rs.RoundViewOut:
    """The chairs' weights for the round (admin), replacing those set."""
    weights = [(w.chair_id, w.weight) for w in body.weights]
    svc.set_weights(uow, actor, now, round_id, weights)
    return _view(uow, actor, now, round_id, calendar)


@router.put("/rounds/{round_id}/minimums")
def set_round_minimum(
    round_id: RoundId,
    body: rs.MinimumIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
) -> rs.RoundViewOut:
    """A request's guaranteed minimum in the round, with its reason (admin); 0 removes it."""
    hours = s.to_seconds(body.hours)
    svc.set_minimum(uow, actor, now, round_id, body.request_id, hours, body.reason)
    return _view(uow, actor, now, round_id, calendar)


@router.put("/rounds/{round_id}/lines/{request_id}")
def edit_round_line(
    round_id: RoundId,
    request_id: RequestId,
    body: rs.LineEditIn,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
) -> rs.RoundViewOut:
    """An admin's amount for one line, over the proposal's, with a reason."""
    hours = s.to_seconds(body.hours)
    svc.edit_line(uow, actor, now, round_id, request_id, hours, body.reason)
    return _view(uow, actor, now, round_id, calendar)


@router.post("/rounds/{round_id}/approve")
def approve_round(
    round_id: RoundId,
    uow: UowDep,
    actor: ActorDep,
    now: NowDep,
    calendar: CalendarDep,
    body: Annotated[rs.RoundApproveIn | None, Body()] = None,
) -> rs.RoundViewOut:
    """Approve the whole round after its deadline (admin), in one transaction: every line an
    allocation journaled ``round:N``, or, if a pool or chair cannot hold it, nothing (409)."""
    reason = "" if body is None else body.reason
    svc.approve_round(uow, actor, now, round_id, reason, calendar=calendar)
    return _view(uow, actor, now, round_id, calendar)


def _view(
    uow: UowDep, actor: ActorDep, now: NowDep, round_id: int, calendar: CalendarDep
) -> rs.RoundViewOut:
    shown = svc.show_round(uow, actor, now, round_id, calendar=calendar)
    return rs.RoundViewOut.model_validate(present.view(shown))
