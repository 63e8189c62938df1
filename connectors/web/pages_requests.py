"""Requests for hours: the request form, my requests, one request with its comments, withdraw.

A refused form is shown again, each refusal beside its field, with the values typed; the use
case refused before writing anything. A request another chair's member made is "not found".
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import services as svc
from allocator.errors import AllocatorError, NotFound
from allocator.model import AllocationRequest, Pool, Project, RequestState, Role, User
from connectors.web import forms
from connectors.web.pages_projects import rates_of
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
#: Periods a request may ask for: the current one and the next ones.
AHEAD = 4
SUBMIT_FIELDS = {
    "project_id": "project_id",
    "pool_id": "pool_id",
    "gpu_type": "gpu_type",
    "justification": "justification",
    "periods": "periods",
    "hours": "periods",
}


def request_id_of(text: str) -> int:
    """A request id from the path: anything but a plausible id is "not found"."""
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise NotFound("request", text, field="request_id")
    return int(text)


# --- my requests -------------------------------------------------------------------------------


@router.get("/requests")
async def my_requests(request: Request) -> Response:
    visit = await visit_of(request)
    user = visit.user
    found = await run_in_threadpool(svc.list_requests, visit.services.uow(read_only=True), user)
    _ = visit.speaker.gettext
    title = _("Requests") if visit.is_staff else _("My requests")
    shown = sorted(found, key=lambda r: r.id, reverse=True)
    return page(visit, "requests.html", title=title, requests=shown)


# --- the request form ----------------------------------------------------------------------------


def _form_choices(visit: Visit, user: User) -> dict[str, Any]:
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    uow = services.uow(read_only=True)
    with uow:
        projects = [
            p
            for p in svc.list_projects(uow, user)
            if p.has_member(user.username) or user.role is Role.ADMIN
        ]
        pools = list(svc.list_pools(uow, user))
    periods = [calendar.containing(now)]
    while len(periods) < AHEAD:
        periods.append(calendar.next(periods[-1]))
    gpu_types = sorted({g for p in pools for g in p.gpu_types()})
    return {
        "projects": projects,
        "pools": pools,
        "periods": [p.label for p in periods],
        "gpu_types": gpu_types,
        "rates": {p.id: rates_of(p, now) for p in pools},
    }


def _show_form(
    visit: Visit, choices: dict[str, Any], values: dict[str, str], errors: dict[str, str]
) -> Response:
    _ = visit.speaker.gettext
    status = 422 if errors else 200
    return page(
        visit,
        "request_form.html",
        status,
        title=_("Request hours"),
        values=values,
        errors=errors,
        **choices,
    )


@router.get("/requests/new")
async def request_form(request: Request, project: str = "") -> Response:
    visit = await visit_of(request)
    choices = await run_in_threadpool(_form_choices, visit, visit.user)
    return _show_form(visit, choices, {"project_id": project}, {})


def _amounts(form: dict[str, str], periods: list[str], visit: Visit) -> list[tuple[str, int]]:
    """The hours asked per period; refusals by field."""
    errors: dict[str, str] = {}
    amounts = []
    for label in periods:
        typed = form.get(f"hours-{label}", "").strip()
        if not typed:
            continue
        try:
            amounts.append((label, forms.hours(typed, visit.speaker)))
        except ValueError as exc:
            errors[f"hours-{label}"] = str(exc)
    _ = visit.speaker.gettext
    if not amounts and not errors:
        errors["periods"] = _("Enter the hours you need for at least one period.")
    if not form.get("justification", "").strip():
        errors["justification"] = _("Explain what the hours are for.")
    for name, label in (("project_id", _("Choose a project.")), ("pool_id", _("Choose a pool."))):
        if not form.get(name):
            errors[name] = label
    if errors:
        raise forms.FieldErrors(errors)
    return amounts


def _submit(visit: Visit, user: User, form: dict[str, str], periods: list[str]) -> int:
    amounts = _amounts(form, periods, visit)
    services = visit.services
    try:
        made = svc.submit_request(
            services.uow(),
            user,
            services.clock(),
            form["project_id"],
            form["pool_id"],
            amounts,
            form["justification"],
            form.get("gpu_type") or None,
            calendar=services.settings.calendar,
        )
    except AllocatorError as exc:
        raise forms.place(exc, SUBMIT_FIELDS, visit.speaker) from None
    return made.id


@router.post("/requests/new")
async def submit(request: Request) -> Response:
    visit = await visit_of(request)
    user = visit.user
    form = await form_of(visit)
    choices = await run_in_threadpool(_form_choices, visit, user)
    try:
        made = await run_in_threadpool(_submit, visit, user, form, choices["periods"])
    except forms.FieldErrors as refused:
        return _show_form(visit, choices, form, refused.errors)
    return RedirectResponse(f"{visit.base}/requests/{made}?done=submitted", status_code=303)


# --- one request ---------------------------------------------------------------------------------


def _request_page(visit: Visit, user: User, request_id: int) -> dict[str, Any]:
    uow = visit.services.uow(read_only=True)
    with uow:
        found: AllocationRequest = svc.get_request(uow, request_id, user)
        project: Project = svc.get_project(uow, found.project_id, user)
        pool: Pool = svc.get_pool(uow, found.pool_id)
    return {"req": found, "project": project, "pool": pool}


def show_request(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str = "", status: int = 200
) -> Response:
    user = visit.user
    req: AllocationRequest = found["req"]
    open_ = req.state is RequestState.SUBMITTED
    _ = visit.speaker.gettext
    return page(
        visit,
        "request.html",
        422 if errors else status,
        title=_("Request %(id)s") % {"id": req.id},
        errors=errors,
        done=done,
        may_withdraw=open_ and (user.username == req.requester or user.role is Role.ADMIN),
        may_decide=open_ and user.role is Role.ADMIN,
        **found,
    )


@router.get("/requests/{request_id}")
async def one_request(request: Request, request_id: str, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_request_page, visit, visit.user, request_id_of(request_id))
    return show_request(visit, found, {}, done if done.isalpha() else "")


async def act(request: Request, request_id: str, action: Any, done: str) -> Response:
    """A POST on a request (comment, withdraw, approve, reject): ``action(visit, user, id,
    form)`` calls the use case; its refusal is shown beside its field on the request's page."""
    visit = await visit_of(request)
    user = visit.user
    form = await form_of(visit)
    number = request_id_of(request_id)
    try:
        await run_in_threadpool(action, visit, user, number, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_request_page, visit, user, number)
        return show_request(visit, found, refused.errors)
    return RedirectResponse(f"{visit.base}/requests/{number}?done={done}", status_code=303)


def _comment(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    text = form.get("text", "")
    if not text.strip():
        raise forms.FieldErrors({"comment-text": visit.speaker.gettext("Write a comment.")})
    now = visit.services.clock()
    try:
        svc.comment_request(visit.services.uow(), user, now, number, text)
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.place(exc, {"text": "comment-text"}, visit.speaker) from None


def _withdraw(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    now = visit.services.clock()
    reason = form.get("reason", "")
    try:
        svc.withdraw_request(visit.services.uow(), user, now, number, reason)
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.place(exc, {"reason": "withdraw-reason"}, visit.speaker) from None


@router.post("/requests/{request_id}/comment")
async def comment(request: Request, request_id: str) -> Response:
    return await act(request, request_id, _comment, "commented")


@router.post("/requests/{request_id}/withdraw")
async def withdraw(request: Request, request_id: str) -> Response:
    return await act(request, request_id, _withdraw, "withdrawn")
