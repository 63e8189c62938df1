"""The sign-in's security at the edges.

* Its cookies: ``Secure`` over https, ``HttpOnly``, ``SameSite=Lax``.
* No token or secret in the logs of a whole run: gpuhours served by uvicorn (its access log
  on, as in production) in a thread of this process, every log record of every logger kept
  at DEBUG, while a user signs in through a provider (authorization code, ID token, client
  secret), opens a portal session, makes a gpuhours token there, uses it, revokes it, and
  uses the provider's JWT and an opaque token on the API; refused tokens, one of them in a
  query string, are tried too. None of those secrets may appear in any record.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine

from connectors.auth import TokenAuthenticator, mint_token
from connectors.bootstrap import Services
from connectors.composition import compose
from connectors.db.identities import SqlIdentities
from connectors.identity.bearer import FirstOf, OidcBearerAuthenticator
from connectors.web.visit import SESSION_COOKIE
from tests.identity.conftest import SECRET_FILE, FakeIdP, services_with
from tests.web.inprocess import client_of

pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Kept(logging.Handler):
    """Every record, formatted with its arguments and any traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage() + (self.format(record) if record.exc_info else "")
        self.lines.append((record.name, f"{text} {record.__dict__}"))


@contextmanager
def every_log_record() -> Iterator[Kept]:
    """``Kept`` on the root logger and on every logger that does not propagate to it, all
    at DEBUG (SQLAlchemy's at INFO: every statement); everything restored after."""
    kept = Kept()
    loggers = [logging.getLogger()] + [
        logging.getLogger(name)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access", *logging.root.manager.loggerDict)
    ]
    saved = [(lg, lg.level) for lg in loggers]
    for lg in loggers:
        # SQLAlchemy's DEBUG is a dump of result rows (the database itself); its INFO, every
        # statement, is kept (the parameters must not show)
        lg.setLevel(logging.INFO if lg.name.startswith("sqlalchemy") else logging.DEBUG)
        if lg is logging.getLogger() or not lg.propagate:
            lg.addHandler(kept)
    try:
        yield kept
    finally:
        for lg, level in saved:
            lg.setLevel(level)
            lg.removeHandler(kept)


@contextmanager
def served(services: Services) -> Iterator[str]:
    """gpuhours (API and portal) by uvicorn on a free loopback port, access log on."""
    config = uvicorn.Config(
        compose(services), host="127.0.0.1", port=0, log_config=None, access_log=True
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "the test server did not start"
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(20)


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def sso(engine: Engine, idp: FakeIdP) -> Services:
    sv = services_with(engine)
    provider = idp.provider()
    sv.identity_providers = {"inria": provider}
    sv.authenticator = FirstOf(
        TokenAuthenticator(sv.session_factory),
        OidcBearerAuthenticator([provider], SqlIdentities(sv.engine)),
    )
    return sv


def journey(url: str, idp: FakeIdP, admin: str) -> list[str]:
    """The run; the secrets it handled."""
    seen: list[str] = [admin, SECRET_FILE.read_text().strip()]
    with httpx.Client(base_url=url, follow_redirects=False) as browser:
        start = browser.get("/portal/signin/oidc/inria")
        assert start.status_code == 303, start.text
        query = parse_qs(urlsplit(start.headers["location"]).query)
        idp.id_token = idp.sign(idp.claims(nonce=query["nonce"][0]))
        code = "c0de-" + secrets.token_urlsafe(12)
        back = browser.get(
            "/portal/signin/oidc/inria/callback",
            params={"code": code, "state": query["state"][0]},
        )
        assert back.status_code == 303, back.text
        session = browser.cookies[SESSION_COOKIE]
        csrf = CSRF.search(browser.get("/portal/tokens").text)
        assert csrf is not None
        made = browser.post("/portal/tokens", data={"csrf": csrf[1], "note": "laptop", "days": "7"})
        found = re.search(r'<code id="new-token">(gph_[^<]+)</code>', made.text)
        assert found is not None
        token = found[1]
        seen += [idp.id_token, code, query["state"][0], query["nonce"][0], session, csrf[1], token]
    with httpx.Client(base_url=f"{url}/api/v1") as api:

        def me(secret: str, **params: str) -> int:
            headers = {"Authorization": f"Bearer {secret}"}
            return api.get("/me", headers=headers, params=params).status_code

        assert me(token) == 200
        [mine] = api.get("/tokens", headers={"Authorization": f"Bearer {token}"}).json()["items"]
        revoked = api.post(
            f"/tokens/{mine['id']}/revoke", headers={"Authorization": f"Bearer {admin}"}
        )
        assert revoked.status_code == 200, revoked.text
        assert me(token) == 401
        jwt = idp.sign(idp.claims())
        idp.opaque["at-" + secrets.token_hex(16)] = "dave-42"
        [opaque] = idp.opaque
        forged = "gph_" + secrets.token_urlsafe(30)
        assert me(jwt) == 200 and me(opaque) == 200
        assert me(forged) == 401 and me(forged, access_token=forged) == 401
        seen += [jwt, opaque, forged]
    return seen


def test_a_whole_run_logs_no_token_code_cookie_or_secret(sso: Services, idp: FakeIdP) -> None:
    admin = mint_token(sso.session_factory, "admin", sso.clock())
    with every_log_record() as kept, served(sso) as url:
        handled = journey(url, idp, admin)
    assert any(name == "uvicorn.access" for name, _ in kept.lines)  # the access log was on
    # The test's own HTTP client logs what it asks and is answered (a browser's history, not
    # gpuhours' logs): httpcore (the provider here is behind a MockTransport, so every
    # httpcore line is the test client's), and httpx's lines naming the test server.
    lines = [
        text
        for name, text in kept.lines
        if not name.startswith("httpcore") and not (name == "httpx" and url in text)
    ]
    for secret in handled:
        leaked = [line for line in lines if secret in line]
        assert leaked == [], f"{secret[:8]}… is in the logs: {leaked[0][:300]}"


def attributes(answer: httpx.Response, name: str) -> set[str]:
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(f"{name}="))
    return {a.strip().lower() for a in cookie.split(";")[1:]}


def test_the_sign_ins_cookies_are_http_only_same_site_and_secure_over_https(
    sso: Services, idp: FakeIdP
) -> None:
    """Behind https, the provider round trip's cookie and the session cookie it opens are
    ``Secure``, ``HttpOnly`` and ``SameSite=Lax`` (Lax: the provider's redirect back is a
    top-level cross-site navigation that must carry the state cookie)."""
    with client_of(sso, "https://gpuhours.example") as portal:
        start = portal.get("/portal/signin/oidc/inria")
        flags = {"secure", "httponly", "samesite=lax", "path=/portal"}
        assert flags <= attributes(start, "gpuhours_oidc")
        query = parse_qs(urlsplit(start.headers["location"]).query)
        idp.id_token = idp.sign(idp.claims(nonce=query["nonce"][0]))
        back = portal.get(
            "/portal/signin/oidc/inria/callback",
            params={"code": "c0de", "state": query["state"][0]},
        )
        assert back.status_code == 303, back.text
        assert flags <= attributes(back, SESSION_COOKIE)
