"""Signing in to the portal: the one seam every way of signing in goes through.

A way of signing in establishes *who* the visitor is, then calls :func:`open_session`, which
opens a server-side session (``connectors.db.web_sessions``) and sets its cookie. Today there
is one way: pasting an API token (``POST /signin``), checked by the same authenticator as the
API's bearer tokens and throttled per client address like the API (``connectors.throttle``:
the same counter, so guesses at the portal and at the API add up). The university's SSO
(OpenID Connect, ``connectors.web.signin_oidc``) is the other: its callback authenticates,
then calls :func:`open_session` with ``method="oidc"``.

The token itself is not kept: the session is what the browser holds. Sign-out deletes the
session. The one-click links of the demo put the token in the URL's fragment (never sent to
a server, never logged); ``static/signin.js`` posts it as if pasted.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from allocator.model import Role, User
from connectors.throttle import client_key
from connectors.web.render import page
from connectors.web.visit import (
    CSRF_COOKIE,
    PATH,
    SESSION_COOKIE,
    Visit,
    form_of,
    secure_cookies,
    visit_of,
)

router = APIRouter()
HOME = "/projects"


def safe_next(target: str) -> str:
    """A portal path to go on to after sign-in: never another site (``//host``, ``\\``)."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return HOME
    if any(ord(c) < 0x20 for c in target) or len(target) > 500:
        return HOME
    return target


def signin_url(visit: Visit) -> str:
    """Where a visitor who is not signed in is sent: the sign-in page, then back here."""
    here = visit.request.url.path[len(visit.base) :]
    if visit.request.url.query:
        here += "?" + visit.request.url.query
    return f"{visit.base}/signin?next={quote(safe_next(here), safe='/')}"


def open_session(
    visit: Visit, user: User, target: str, method: str, provider: str = "", id_token: str = ""
) -> Response:
    """The seam: a new session for ``user`` (whoever established who they are), its cookie
    set, and on to ``target`` (a portal path). The session the browser had, if any, is
    closed: a sign-in always changes the session's id. A provider's ``id_token`` is kept
    sealed with the session, for its logout's ``id_token_hint``."""
    previous = visit.request.cookies.get(SESSION_COOKIE, "")
    if previous:
        visit.sessions.close(previous)
    opened = visit.sessions.open(user, visit.services.clock(), method, provider, id_token)
    response = RedirectResponse(visit.base + safe_next(target), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.secret,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(visit.request),
    )
    response.delete_cookie(CSRF_COOKIE, path=PATH)
    return response


def _refused(visit: Visit, target: str, status: int, message: str) -> Response:
    _ = visit.speaker.gettext
    return page(
        visit,
        "signin.html",
        status,
        title=_("Sign in"),
        errors={"token": message},
        next=safe_next(target),
        providers=list(visit.services.identity_providers.values()),
    )


@router.get("/signin")
async def signin_page(request: Request, next: str = HOME) -> Response:
    visit = await visit_of(request)
    if visit.session is not None:
        return RedirectResponse(visit.base + safe_next(next), status_code=303)
    _ = visit.speaker.gettext
    return page(
        visit,
        "signin.html",
        title=_("Sign in"),
        errors={},
        next=safe_next(next),
        providers=list(visit.services.identity_providers.values()),
    )


@router.post("/signin")
async def signin(request: Request) -> Response:
    """An API token pasted (or posted by a one-click link): a session, or the reason beside
    the field."""
    visit = await visit_of(request)
    form = await form_of(visit)
    target = form.get("next", HOME)
    token = form.get("token", "").strip()
    _ = visit.speaker.gettext
    throttle = visit.services.auth_throttle
    client = client_key(request.client.host if request.client else None)
    wait = throttle.retry_after(client)
    if wait is not None:
        message = _("Too many failed sign-ins from this address: try again in %(s)s s.")
        return _refused(visit, target, 429, message % {"s": wait})
    if not token:
        return _refused(visit, target, 422, _("Enter your API token."))
    user = await run_in_threadpool(visit.services.authenticator.authenticate, token)
    if user is None:
        throttle.failed(client)
        return _refused(visit, target, 422, _("This token is unknown, expired or revoked."))
    if user.role is Role.SCRAPER:
        return _refused(visit, target, 422, _("A scrape token reads /metrics only."))
    return await run_in_threadpool(open_session, visit, user, target, "token")


@router.post("/signout")
async def signout(request: Request) -> Response:
    """The session ends here; signed in with a provider that offers RP-initiated logout
    (``end_session_endpoint``), the browser goes on to end the provider's session too, then
    comes back to the sign-in page."""
    visit = await visit_of(request)
    await form_of(visit)
    secret = request.cookies.get(SESSION_COOKIE, "")
    session = visit.session
    provider = visit.services.identity_providers.get(session.provider) if session else None
    hint = ""
    if secret and provider is not None:
        hint = await run_in_threadpool(visit.sessions.id_token_hint, secret)
    if secret:
        await run_in_threadpool(visit.sessions.close, secret)
    target = f"{visit.base}/signin"
    if provider is not None:
        back = visit.services.settings.public_url.rstrip("/") + PATH + "/signin"
        target = await run_in_threadpool(provider.end_session_url, back, hint) or target
    response = RedirectResponse(target, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    return response
