"""My API tokens, self-service: the tokens I hold (when each was made, used last, expires or
was revoked), a new one (a name and a validity; its secret shown once, on the page that
answers the form), and revoking one. The same code as the API's and the CLI's
(``connectors.tokens``); every mint and revocation is audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator.errors import AllocatorError
from allocator.model import User
from connectors import tokens
from connectors.web import forms
from connectors.web.render import page
from connectors.web.visit import Visit, form_of, visit_of

router = APIRouter()
MAX_DAYS = 3650


def _mine(visit: Visit, user: User) -> dict[str, Any]:
    now = visit.services.clock()
    found = tokens.list_tokens(visit.services.session_factory, user, now, user.username)
    return {
        "tokens": sorted(found, key=lambda t: -t.id),
        "now": now,
        "default_days": visit.services.settings.token_days,
    }


def _show(
    visit: Visit, found: dict[str, Any], errors: dict[str, str], done: str = "", secret: str = ""
) -> Response:
    _ = visit.speaker.gettext
    return page(
        visit, "tokens.html", 422 if errors else 200, title=_("My API tokens"), errors=errors,
        done=done, secret=secret, **found,
    )  # fmt: skip


@router.get("/tokens")
async def mine(request: Request, done: str = "") -> Response:
    visit = await visit_of(request)
    found = await run_in_threadpool(_mine, visit, visit.user)
    return _show(visit, found, {}, done if done.isalpha() else "")


def _create(visit: Visit, user: User, form: dict[str, str]) -> str:
    _ = visit.speaker.gettext
    note = form.get("note", "").strip()
    days_text = form.get("days", "").strip()
    errors: dict[str, str] = {}
    if not note or len(note) > 200:
        errors["token-note"] = _("Name the token (where it is used), 200 characters at most.")
    if not days_text.isdigit() or not 1 <= int(days_text) <= MAX_DAYS:
        errors["token-days"] = _("Enter a number of days from 1 to 3650.")
    if errors:
        raise forms.FieldErrors(errors)
    now = visit.services.clock()
    try:
        minted = tokens.mint(
            visit.services.session_factory, user, user.username, now,
            expires_at=now + timedelta(days=int(days_text)), note=note,
        )  # fmt: skip
    except AllocatorError as exc:
        raise forms.FieldErrors({"token-days": exc.message}) from None
    return minted.token


@router.post("/tokens")
async def create(request: Request) -> Response:
    visit = await visit_of(request)
    form = await form_of(visit)
    try:
        secret = await run_in_threadpool(_create, visit, visit.user, form)
    except forms.FieldErrors as refused:
        found = await run_in_threadpool(_mine, visit, visit.user)
        return _show(visit, found, refused.errors)
    found = await run_in_threadpool(_mine, visit, visit.user)
    return _show(visit, found, {}, "created", secret)  # shown once: this answer only


def _revoke(visit: Visit, user: User, token_id: int) -> None:
    tokens.revoke(
        visit.services.session_factory, user, token_id, visit.services.clock(), "in the portal"
    )


@router.post("/tokens/{token_id}/revoke")
async def revoke(request: Request, token_id: int) -> Response:
    visit = await visit_of(request)
    await form_of(visit)  # the CSRF token
    await run_in_threadpool(_revoke, visit, visit.user, token_id)
    return RedirectResponse(f"{visit.base}/tokens?done=revoked", status_code=303)
