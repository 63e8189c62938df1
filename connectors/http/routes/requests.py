"""``/requests``: submit, comment, approve (in full or in part), reject, withdraw."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Response

from allocator import services as svc
from allocator.errors import NotFound
from allocator.model import RequestState
from connectors.http import schemas as s
from connectors.http.deps import ActorDep, CalendarDep, NowDep, UnitsDep, UowDep
from connectors.http.pages import Page, PageQ, paged

router = APIRouter(prefix="/api/v1")


@router.get("/requests", tags=["requests"])
def list_requests(
    uow: UowDep, actor: ActorDep, units: UnitsDep, pages: PageQ, state: RequestState | None = None
) -> Page[s.RequestOut]:
    """The requests of the projects the caller may see (in one state), newest first."""
    rows = svc.list_requests(uow, actor, state)
    return paged(
        "requests",
        rows,
        lambda r: (r.id,),
        pages,
        lambda x: s.RequestOut.of(x, units),
        newest_first=True,
    )


@router.post("/requests", status_code=201, tags=["requests"])
def submit_request(
    body: s.RequestIn,
    response: Response,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
) -> s.RequestOut:
    amounts = [(p.period, s.to_seconds(p.hours)) for p in body.periods]
    request = svc.submit_request(
        uow,
        actor,
        now,
        body.project_id,
        body.pool_id,
        amounts,
        body.justification,
        body.gpu_type,
        calendar=calendar,
    )
    response.headers["Location"] = f"/api/v1/requests/{request.id}"
    return s.RequestOut.of(request, units)


@router.get("/requests/{request_id}", tags=["requests"])
def get_request(request_id: int, uow: UowDep, actor: ActorDep, units: UnitsDep) -> s.RequestOut:
    _check_id(request_id)
    with uow:
        return s.RequestOut.of(svc.get_request(uow, request_id, actor), units)


@router.post("/requests/{request_id}/comments", tags=["requests"])
def comment(
    request_id: int, body: s.CommentIn, uow: UowDep, actor: ActorDep, units: UnitsDep, now: NowDep
) -> s.RequestOut:
    _check_id(request_id)
    return s.RequestOut.of(svc.comment_request(uow, actor, now, request_id, body.text), units)


@router.post("/requests/{request_id}/approve", tags=["requests"])
def approve(
    request_id: int,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    calendar: CalendarDep,
    body: Annotated[s.ApproveIn | None, Body()] = None,
) -> s.RequestOut:
    """Approve in full (no body, or no ``granted``) or in part (``granted`` per period)."""
    _check_id(request_id)
    body = body or s.ApproveIn()
    granted = None
    if body.granted is not None:
        granted = [(g.period, s.to_seconds(g.hours)) for g in body.granted]
    request = svc.approve_request(
        uow, actor, now, request_id, granted, body.reason, calendar=calendar
    )
    return s.RequestOut.of(request, units)


@router.post("/requests/{request_id}/reject", tags=["requests"])
def reject(
    request_id: int, body: s.ReasonIn, uow: UowDep, actor: ActorDep, units: UnitsDep, now: NowDep
) -> s.RequestOut:
    _check_id(request_id)
    return s.RequestOut.of(svc.reject_request(uow, actor, now, request_id, body.reason), units)


@router.post("/requests/{request_id}/withdraw", tags=["requests"])
def withdraw(
    request_id: int,
    uow: UowDep,
    actor: ActorDep,
    units: UnitsDep,
    now: NowDep,
    body: Annotated[s.OptionalReasonIn | None, Body()] = None,
) -> s.RequestOut:
    """Withdraw a request (the requester or an admin); the body (a ``reason``) is optional."""
    _check_id(request_id)
    reason = "" if body is None else body.reason
    return s.RequestOut.of(svc.withdraw_request(uow, actor, now, request_id, reason), units)


def _check_id(request_id: int) -> None:
    if not 0 < request_id < 2**31:
        raise NotFound("request", request_id, field="request_id")
