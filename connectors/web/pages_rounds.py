"""The administrators' allocation rounds: the list (and a form to open one), then a round's
page: demand against supply per pool, GPU type and chair, the chairs' weights, the proposal
with each line's sentence, a form per line (its amount, or its guaranteed minimum, with a
reason; a refusal beside its field) and the button approving the whole round."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator import rules
from allocator import services as svc
from allocator.errors import AllocatorError, InvalidInput, NotFound
from allocator.hours import Sign
from allocator.model import Role, User
from connectors.web import forms
from connectors.web.pages_projects import periods_around
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
DONE = ("opened", "weighed", "edited", "minimum", "approved")


def _id(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 0 < int(text) < 2**31:
        raise NotFound("round", text, field="round_id")
    return int(text)


# --- the list -------------------------------------------------------------------------------------


def _rounds(visit: Visit, user: User) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    calendar, now = services.settings.calendar, services.clock()
    return {
        "rounds": [(r, r.state(now)) for r in svc.list_rounds(services.uow(read_only=True), user)],
        "pools": svc.list_pools(services.uow(read_only=True), user),
        "periods": [p.label for p in periods_around(calendar, now, back=0, ahead=4)],
    }


def _show_list(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], typed: dict[str, str]
) -> Response:
    _ = visit.speaker.gettext
    return page(
        visit, "rounds.html", 422 if errors else 200, title=_("Allocation rounds"),
        errors=errors, typed=typed, **found,
    )  # fmt: skip


@router.get("/rounds")
async def rounds(request: Request) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_rounds, visit, visit.user)
    return _show_list(visit, found, {}, {})


def _open(visit: Visit, user: User, form: dict[str, str]) -> int:
    rules.require_role(user, Role.ADMIN)
    _ = visit.speaker.gettext
    services = visit.services
    calendar = services.settings.calendar
    pools = sorted(key[5:] for key, value in form.items() if key.startswith("pool-") and value)
    errors: dict[str, str] = {}
    if not pools:
        errors["round-pools"] = _("Choose at least one pool.")
    try:
        deadline = datetime.fromisoformat(form.get("deadline", ""))
    except ValueError:
        errors["round-deadline"] = _("Enter a date and time, such as 2026-12-15 18:00.")
    if errors:
        raise forms.FieldErrors(errors)
    if deadline.tzinfo is None:  # typed in the site's time zone
        deadline = deadline.replace(tzinfo=calendar.zone)
    try:
        opened = svc.open_round(
            services.uow(), user, services.clock(), form.get("period", ""), pools, deadline,
            calendar=calendar,
        )  # fmt: skip
    except AllocatorError as exc:
        fields = {"period": "round-period", "pool_ids": "round-pools"}
        raise forms.place(exc, fields, visit.speaker) from None
    return opened.id


@router.post("/rounds")
async def open_round(request: Request) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        number = await run_in_threadpool(_open, visit, visit.user, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_rounds, visit, visit.user)
        return _show_list(visit, found, refused.errors, form)
    return RedirectResponse(f"{visit.base}/rounds/{number}?done=opened", status_code=303)


# --- a round ------------------------------------------------------------------------------------


def _round(visit: Visit, user: User, number: int) -> dict[str, Any]:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    shown = svc.show_round(
        services.uow(read_only=True), user, services.clock(), number,
        calendar=services.settings.calendar,
    )  # fmt: skip
    projects = {p.id: p for p in svc.list_projects(services.uow(read_only=True), user)}
    members = {r.id: r for r in shown.members}
    chairs = sorted({projects[r.project_id].chair_id for r in shown.members})
    weights = dict(shown.round.weights)
    minimums = {m.request_id: m for m in shown.round.minimums}
    return {
        "shown": shown,
        "members": members,
        "projects": projects,
        "chairs": [(c, weights.get(c, 1)) for c in sorted(set(chairs) | set(weights))],
        "minimums": minimums,
        "totals": [d for d in shown.demand or () if not d.chair_id],
        "by_chair": [d for d in shown.demand or () if d.chair_id],
    }


def _show(
    visit: Visit,
    found: dict[str, Any],
    errors: dict[str, str],
    typed: dict[str, str],
    done: str = "",
) -> Response:
    _ = visit.speaker.gettext
    title = _("Round %(id)s: %(period)s") % {
        "id": found["shown"].round.id,
        "period": found["shown"].round.period,
    }
    return page(
        visit, "round.html", 422 if errors else 200, title=title, errors=errors, typed=typed,
        done=done, **found,
    )  # fmt: skip


@router.get("/rounds/{round_id}")
async def allocation_round(request: Request, round_id: str, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_round, visit, visit.user, _id(round_id))
    return _show(visit, found, {}, {}, done if done in DONE else "")


async def _act(request: Request, round_id: str, action: Any, done: str) -> Response:
    """A POST on a round: ``action(visit, user, number, form)`` calls the use case; its
    refusal is shown beside its field on the round's page, and nothing was written."""
    visit = await visit_of(request)
    form = await form_of(visit)
    number = _id(round_id)
    try:
        await run_in_threadpool(action, visit, visit.user, number, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_round, visit, visit.user, number)
        return _show(visit, found, refused.errors, form)
    return RedirectResponse(f"{visit.base}/rounds/{number}?done={done}", status_code=303)


def _weigh(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)
    weights, errors = [], {}
    for key, value in form.items():
        if not key.startswith("weight-"):
            continue
        chair = key[len("weight-") :]
        if not value.strip().isdigit():
            errors[key] = visit.speaker.gettext("Enter a whole weight, 1 or more.")
            continue
        weights.append((chair, int(value)))
    if errors:
        raise forms.FieldErrors(errors)
    try:
        svc.set_weights(visit.services.uow(), user, visit.services.clock(), number, weights)
    except NotFound:
        raise
    except AllocatorError as exc:
        raise forms.place(exc, {}, visit.speaker) from None


def _line(kind: str) -> Any:
    """The action of a line's form: its amount (``edit``) or its minimum (``minimum``)."""

    def action(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
        rules.require_role(user, Role.ADMIN)
        request_id = _id(form.get("request", ""))
        names = {"hours": f"{kind}-hours-{request_id}", "reason": f"{kind}-reason-{request_id}"}
        try:
            amount = forms.hours(form.get("hours", ""), visit.speaker, Sign.ZERO_OR_MORE)
        except ValueError as exc:
            raise forms.FieldErrors({names["hours"]: str(exc)}) from None
        use_case = svc.edit_line if kind == "edit" else svc.set_minimum
        now, reason = visit.services.clock(), form.get("reason", "")
        try:
            use_case(visit.services.uow(), user, now, number, request_id, amount, reason)
        except NotFound:
            raise
        except AllocatorError as exc:
            raise forms.place(exc, names, visit.speaker) from None

    return action


def _approve(visit: Visit, user: User, number: int, form: dict[str, str]) -> None:
    rules.require_role(user, Role.ADMIN)
    services = visit.services
    try:
        svc.approve_round(
            services.uow(), user, services.clock(), number, form.get("reason", ""),
            calendar=services.settings.calendar,
        )  # fmt: skip
    except NotFound:
        raise
    except (AllocatorError, InvalidInput) as exc:
        raise forms.FieldErrors({"approve-reason": forms.reason(exc)}) from None


@router.post("/rounds/{round_id}/weights")
async def weigh(request: Request, round_id: str) -> Response:
    return await _act(request, round_id, _weigh, "weighed")


@router.post("/rounds/{round_id}/lines")
async def edit(request: Request, round_id: str) -> Response:
    return await _act(request, round_id, _line("edit"), "edited")


@router.post("/rounds/{round_id}/minimums")
async def minimum(request: Request, round_id: str) -> Response:
    return await _act(request, round_id, _line("minimum"), "minimum")


@router.post("/rounds/{round_id}/approve")
async def approve(request: Request, round_id: str) -> Response:
    return await _act(request, round_id, _approve, "approved")
