"""A visit of the portal: who (the session behind the cookie), in which language, and the CSRF
token its forms carry.

Cookies:

* ``gpuhours_session``: the session's secret (``connectors.db.web_sessions``). ``HttpOnly``,
  ``SameSite=Lax``, ``Path=/portal``, and ``Secure`` unless the server listens on a loopback
  address over plain HTTP (the developer's ``127.0.0.1``): anywhere else a browser sends it
  over HTTPS only. No ``Max-Age``: it ends with the browser, and the server ends it sooner
  (idle or absolute expiry, sign-out).
* ``gpuhours_csrf``: before sign-in only, the token of the sign-in and language forms (a
  double-submit: the form's hidden field must equal the cookie). Once signed in, every form
  carries the session's own token (a synchronizer token, stored with the session).
* ``gpuhours_lang``: the language chosen with the switch (a year).

Every POST is refused (403) unless its ``csrf`` field matches, and unless its ``Origin``
header, when sent, is this server's.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from allocator.model import Role, User
from connectors.bootstrap import Services
from connectors.db.web_sessions import SqlWebSessions, WebSession
from connectors.uploads import MULTIPART, Multipart, read_multipart
from connectors.web import i18n

SESSION_COOKIE = "gpuhours_session"
CSRF_COOKIE = "gpuhours_csrf"
PATH = "/portal"
MAX_FORM_BYTES = 64 * 1024


class SignInRequired(Exception):
    """The page needs a signed-in user: the portal answers with the sign-in page."""


class FormRefused(Exception):
    """A POST without a valid CSRF token, from another origin, or too large: 403/413."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Visit:
    request: Request
    services: Services
    sessions: SqlWebSessions
    speaker: i18n.Speaker
    session: WebSession | None
    #: a pre-sign-in CSRF token to set as a cookie with the answer
    new_csrf_cookie: str | None = None
    cookies: list[tuple[str, str, dict[str, object]]] = field(default_factory=list)

    @property
    def user(self) -> User:
        if self.session is None:
            raise SignInRequired
        return self.session.user

    @property
    def is_admin(self) -> bool:
        return self.session is not None and self.session.user.role is Role.ADMIN

    @property
    def is_staff(self) -> bool:
        """Engineers and administrators read every project."""
        return self.session is not None and self.session.user.role in (Role.ADMIN, Role.ENGINEER)

    @property
    def base(self) -> str:
        """The portal's path prefix (``/portal``, behind any proxy's root path)."""
        return str(self.request.scope.get("root_path", ""))

    def csrf(self) -> str:
        """The token this visit's forms carry."""
        if self.session is not None:
            return self.session.csrf
        token = self.request.cookies.get(CSRF_COOKIE) or self.new_csrf_cookie
        if not token or len(token) > 100:
            token = self.new_csrf_cookie = secrets.token_urlsafe(32)
        return token

    def secure(self) -> bool:
        return secure_cookies(self.request)

    def finish(self, response: Response) -> Response:
        """Set the cookies this visit decided on."""
        if self.new_csrf_cookie is not None:
            response.set_cookie(
                CSRF_COOKIE,
                self.new_csrf_cookie,
                path=PATH,
                httponly=True,
                samesite="strict",
                secure=self.secure(),
            )
        for name, value, options in self.cookies:
            response.set_cookie(name, value, **options)  # type: ignore[arg-type]
        return response


def secure_cookies(request: Request) -> bool:
    """``Secure`` cookies, unless served over plain HTTP on a loopback address."""
    if request.url.scheme == "https":
        return True
    server = request.scope.get("server") or ("", 0)
    host = str(server[0])
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host != "localhost"


async def visit_of(request: Request) -> Visit:
    """The visit of ``request``: its session (looked up off the event loop), its language."""
    visit = anonymous_visit(request)
    secret = request.cookies.get(SESSION_COOKIE, "")
    if secret:
        now = visit.services.clock()
        visit.session = await run_in_threadpool(visit.sessions.find, secret, now)
    return visit


def anonymous_visit(request: Request) -> Visit:
    """The visit of ``request`` without looking its session up (the database may be down)."""
    services: Services = request.app.state.services
    sessions: SqlWebSessions = request.app.state.sessions
    lang = i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("accept-language", ""))
    speaker = i18n.Speaker(lang, services.settings.calendar.zone_name)
    return Visit(request, services, sessions, speaker, None)


async def form_of(visit: Visit) -> dict[str, str]:
    """The POSTed form (``application/x-www-form-urlencoded``), its CSRF token checked."""
    body = await _body(visit, MAX_FORM_BYTES)
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, max_num_fields=200)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "form") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value.replace("\x00", ""))
    _check_csrf(visit, form.get("csrf", ""))
    return form


async def upload_of(visit: Visit, limit: int) -> Multipart:
    """The POSTed ``multipart/form-data`` form with its file (at most ``limit`` bytes in all),
    its CSRF token checked."""
    body = await _body(visit, limit)
    content_type = visit.request.headers.get("content-type", "")
    if not content_type.lower().startswith(MULTIPART):
        raise FormRefused(400, "form")
    form = read_multipart(content_type, body)
    _check_csrf(visit, form.fields.get("csrf", ""))
    return form


async def _body(visit: Visit, limit: int) -> bytes:
    """The body of a POST from this origin, at most ``limit`` bytes."""
    request = visit.request
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise FormRefused(403, "origin")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FormRefused(413, "size")
    body = await request.body()
    if len(body) > limit:
        raise FormRefused(413, "size")
    return body


def _check_csrf(visit: Visit, given: str) -> None:
    expected = (
        visit.session.csrf
        if visit.session is not None
        else visit.request.cookies.get(CSRF_COOKIE, "")
    )
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        raise FormRefused(403, "csrf")
