"""The administrators' users page: every user with their role, state and the provider
identities linked to them (issuer, subject, last sign-in), and a button to deactivate one
(no sign-in any more; their tokens and sessions refused from the next request) or reactivate
them. The same rules and audit as ``POST /api/v1/users/{name}/deactivate``
(``connectors.identity.accounts``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator.errors import InvalidInput
from allocator.model import User
from connectors.db.identities import SqlIdentities
from connectors.identity import accounts
from connectors.web.render import page, paginate
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
DONE = ("deactivated", "reactivated")


def _people(visit: Visit, user: User, number: int) -> dict[str, Any]:
    found = accounts.people(SqlIdentities(visit.services.engine), user)
    shown, number, pages = paginate(found, number)
    return {"people": shown, "page_number": number, "pages": pages, "total": len(found)}


def _show(visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str) -> Response:
    _ = visit.speaker.gettext
    return page(
        visit, "users.html", 422 if errors else 200, title=_("Users and sign-in"),
        errors=errors, done=done, **found,
    )  # fmt: skip


@router.get("/users")
async def people(request: Request, done: str = "", page: int = 1) -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_people, visit, visit.user, page)
    return _show(visit, found, {}, done if done in DONE else "")


async def _set_active(request: Request, username: str, active: bool) -> Response:
    visit = await visit_of(request)
    await form_of(visit)  # the CSRF token
    identities = SqlIdentities(visit.services.engine)
    now = visit.services.clock()
    try:
        await run_in_threadpool(accounts.set_active, identities, visit.user, now, username, active)
    except InvalidInput:
        found = await run_in_threadpool(_people, visit, visit.user, 1)
        refusal = visit.speaker.gettext("You cannot deactivate your own account.")
        return _show(visit, found, {"people": refusal}, "")
    done = DONE[1] if active else DONE[0]
    return RedirectResponse(f"{visit.base}/users?done={done}", status_code=303)


@router.post("/users/{username}/deactivate")
async def deactivate(request: Request, username: str) -> Response:
    return await _set_active(request, username, False)


@router.post("/users/{username}/reactivate")
async def reactivate(request: Request, username: str) -> Response:
    return await _set_active(request, username, True)
