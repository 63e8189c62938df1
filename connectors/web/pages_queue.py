"""The administrators' request queue: the requests waiting for a decision, oldest first; each
is approved in full or in part (hours granted per period, with a reason) or rejected (with a
reason) on its own page (``pages_requests``)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, NotFound
from allocator.hours import Sign
from allocator.model import AllocationRequest, RequestState, Role, User
from connectors.web import forms
from connectors.web.pages_requests import act
from connectors.web.render import page
from connectors.web.visit import Visit, visit_of

router = APIRouter()


def _queue(visit: Visit, user: User) -> list[AllocationRequest]:
    rules.require_role(user, Role.ADMIN)
    waiting = svc.list_requests(visit.services.uow(read_only=True), user, RequestState.SUBMITTED)
    return sorted(waiting, key=lambda r: (r.created_at, r.id))


@router.get("/queue")
async def queue(request: Request) -> Response:
    visit = await visit_of(request)
    waiting = await run_in_threadpool(_queue, visit, visit.user)
    _ = visit.speaker.gettext
    return page(visit, "queue.html", title=_("Request queue"), requests=waiting)


def _approve(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)  # before reading the form: a 403, not a 422
    services = visit.services
    uow = services.uow()
    with uow:
        found = svc.get_request(uow, number, user)
    errors: dict[str, str] = {}
    granted = []
    for line in found.lines:
        name = f"granted-{line.period}"
        try:
            granted.append(
                (line.period, forms.hours(form.get(name, ""), visit.speaker, Sign.ZERO_OR_MORE))
            )
        except ValueError as exc:
            errors[name] = str(exc)
    if errors:
        raise forms.FieldErrors(errors)
    full = all(g == line.requested for (_p, g), line in zip(granted, found.lines, strict=True))
    reason = form.get("reason", "").strip()
    if not full and not reason:
        text = visit.speaker.gettext("Give the reason for granting less than asked.")
        raise forms.FieldErrors({"approve-reason": text})
    try:
        svc.approve_request(
            uow,
            user,
            services.clock(),
            number,
            None if full else granted,
            reason,
            calendar=services.settings.calendar,
        )
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.place(
            exc, {"granted": "granted", "reason": "approve-reason"}, visit.speaker
        ) from None


def _reject(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)
    reason = form.get("reason", "")
    if not reason.strip():
        raise forms.FieldErrors(
            {"reject-reason": visit.speaker.gettext("A rejection needs a reason.")}
        )
    try:
        svc.reject_request(visit.services.uow(), user, visit.services.clock(), number, reason)
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.place(exc, {"reason": "reject-reason"}, visit.speaker) from None


@router.post("/requests/{request_id}/approve")
async def approve(request: Request, request_id: str) -> Response:
    return await act(request, request_id, _approve, "approved")


@router.post("/requests/{request_id}/reject")
async def reject(request: Request, request_id: str) -> Response:
    return await act(request, request_id, _reject, "rejected")
