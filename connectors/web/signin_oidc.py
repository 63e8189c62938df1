"""Signing in with the university's account: OpenID Connect's authorization code flow.

``GET /signin/oidc/<provider>`` starts it: a fresh ``state`` (kept by the browser in the
``gpuhours_oidc`` cookie and by the server, hashed, with the ``nonce`` and the PKCE verifier:
``connectors.db.oidc_logins``), then on to the provider. The provider sends the browser back
to ``GET /signin/oidc/<provider>/callback?code&state``: the state must be the cookie's and is
taken once, the code is exchanged (with the verifier), the ID token checked (signature,
issuer, audience, expiry, nonce: ``connectors.identity.provider``), the person found or
created (``connectors.db.identities``), and :func:`~connectors.web.signin.open_session` opens
a new session. Any refusal shows the sign-in page with its reason and writes nothing.

A link starts the flow, not a form: the portal's ``form-action 'self'`` would stop a form's
redirect to the provider; the start writes nothing a visitor could be tricked into.
"""

from __future__ import annotations

import logging
import secrets

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from connectors.db.identities import Deactivated, SqlIdentities
from connectors.db.oidc_logins import Login, SqlOidcLogins
from connectors.identity.claims import claimed, projects_of
from connectors.identity.errors import OidcError, ProviderUnreachable
from connectors.identity.memberships import join_projects
from connectors.identity.provider import Provider
from connectors.web.render import page
from connectors.web.signin import HOME, open_session, safe_next
from connectors.web.visit import PATH, Visit, visit_of

router = APIRouter()
log = logging.getLogger(__name__)
STATE_COOKIE = "gpuhours_oidc"


def providers(visit: Visit) -> list[Provider]:
    return list(visit.services.identity_providers.values())


def redirect_uri(visit: Visit, provider: Provider) -> str:
    public = visit.services.settings.public_url.rstrip("/")
    return f"{public}{PATH}/signin/oidc/{provider.name}/callback"


def refused(visit: Visit, status: int, message: str, target: str = HOME) -> Response:
    _ = visit.speaker.gettext
    response = page(
        visit,
        "signin.html",
        status,
        title=_("Sign in"),
        errors={},
        sso_error=message,
        next=safe_next(target),
        providers=providers(visit),
    )
    response.delete_cookie(STATE_COOKIE, path=PATH)
    return response


def reason_text(visit: Visit, error: OidcError) -> str:
    _ = visit.speaker.gettext
    if isinstance(error, ProviderUnreachable):
        text = _(
            "The sign-in service %(provider)s cannot be reached now. Try again later, or sign"
            " in with an API token."
        )
        return text % {"provider": error.provider}
    texts = {
        "issuer": _("The sign-in service's answer names another issuer: refused."),
        "audience": _("The sign-in service's answer is meant for another application: refused."),
        "expired": _(
            "The sign-in service's answer has expired (or the clocks differ too much). Sign in"
            " again."
        ),
        "signature": _("The sign-in service's answer has an invalid signature: refused."),
        "key": _(
            "The sign-in service's answer is signed with a key it no longer publishes: refused."
        ),
        "nonce": _("The sign-in service's answer belongs to another sign-in (nonce): refused."),
    }
    return texts.get(error.reason, _("The sign-in service's answer could not be used: refused."))


@router.get("/signin/oidc/{name}")
async def start(request: Request, name: str, next: str = HOME) -> Response:
    visit = await visit_of(request)
    provider = visit.services.identity_providers.get(name)
    _ = visit.speaker.gettext
    if provider is None:
        return refused(visit, 404, _("This sign-in service is not configured."), next)
    state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(48)
    try:
        url = await run_in_threadpool(
            provider.authorization_url, redirect_uri(visit, provider), state, nonce, verifier
        )
    except OidcError as exc:
        log.warning("sign-in with %s: %s", name, exc)
        return refused(visit, 503, reason_text(visit, exc), next)
    logins = SqlOidcLogins(visit.services.engine)
    login = Login(name, nonce, verifier, safe_next(next))
    await run_in_threadpool(logins.start, state, login, visit.services.clock())
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(
        STATE_COOKIE,
        state,
        max_age=600,
        path=PATH,
        httponly=True,
        samesite="lax",
        secure=visit.secure(),
    )
    return response


@router.get("/signin/oidc/{name}/callback")
async def callback(request: Request, name: str) -> Response:
    visit = await visit_of(request)
    _ = visit.speaker.gettext
    query = request.query_params
    provider = visit.services.identity_providers.get(name)
    if provider is None:
        return refused(visit, 404, _("This sign-in service is not configured."))
    state = query.get("state", "")
    cookie = request.cookies.get(STATE_COOKIE, "")
    logins = SqlOidcLogins(visit.services.engine)
    login = None
    if state and secrets.compare_digest(state.encode(), cookie.encode()):
        login = await run_in_threadpool(logins.take, state, visit.services.clock())
    if "error" in query:
        # nothing is done with an error, whatever its state (some providers drop it here)
        error = query.get("error", "")[:100]
        log.info("sign-in with %s: the provider answered %s", name, error)
        message = _("The sign-in service did not sign you in (%(error)s).") % {"error": error}
        return refused(visit, 400, message, login.next if login else HOME)
    if login is None or login.provider != name or not query.get("code"):
        message = _("This sign-in has expired or was already used. Sign in again.")
        return refused(visit, 400, message)
    try:
        return await run_in_threadpool(_finish, visit, provider, login, query["code"])
    except OidcError as exc:
        log.warning("sign-in with %s refused: %s", name, exc)
        status = 503 if isinstance(exc, ProviderUnreachable) else 400
        return refused(visit, status, reason_text(visit, exc), login.next)
    except Deactivated:
        message = _("Your account is deactivated: ask an administrator.")
        return refused(visit, 403, message, login.next)


def _finish(visit: Visit, provider: Provider, login: Login, code: str) -> Response:
    tokens = provider.exchange(code, redirect_uri(visit, provider), login.verifier)
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise OidcError(provider.name, "claims", "no id_token")
    claims = provider.verify(id_token, provider.config.client_id, nonce=login.nonce)
    now = visit.services.clock()
    signed_in = SqlIdentities(visit.services.engine).sign_in(claimed(provider.config, claims), now)
    log.info("signed in with %s: %s (%s)", provider.name, signed_in.user.username, signed_in.how)
    projects = projects_of(claims, provider.config.project_rules)
    if projects:
        join_projects(visit.services.uow, provider.name, signed_in.user.username, projects, now)
    user = signed_in.user
    response = open_session(visit, user, login.next, "oidc", provider.name, id_token)
    response.delete_cookie(STATE_COOKIE, path=PATH)
    return response
