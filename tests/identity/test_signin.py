"""The portal's sign-in with a real OpenID provider (the mock, its own process), driven
without a browser: the portal's redirects followed by hand, the provider's form posted."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from connectors.bootstrap import Services
from connectors.db import tables as t
from connectors.db.identities import SqlIdentities
from connectors.db.identity_tables import IdentityRow, OidcLoginRow
from connectors.db.oidc_logins import hash_state
from connectors.web.visit import SESSION_COOKIE
from tests.identity.conftest import CAROL, CLIENT_ID, MockProvider, local, start, state_of, world
from tests.web.inprocess import sessions

#: refusals write nothing on either database: these run on SQLite only (the journeys that
#: write run on both)
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


def sign_in(portal: TestClient, provider: MockProvider, sub: str) -> httpx.Response:
    callback = provider.authorize(start(portal), sub)
    return portal.get(local(callback))


def test_first_sign_in_creates_the_researcher_from_the_claims_with_no_project(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    provider.set_user(
        "erin-7",
        {"name": "Erin Roux", "email": "erin@univ-lorraine.fr", "eppn": "erin@univ-lorraine.fr"},
    )
    before = world(sso)
    answer = sign_in(portal, provider, "erin-7")
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == "/portal/projects"
    with sso.engine.connect() as conn:
        user = conn.execute(
            select(t.UserRow).where(t.UserRow.username == "erin@univ-lorraine.fr")
        ).one()
        link = conn.execute(select(IdentityRow)).one()
        audit = conn.execute(select(t.AuditEventRow).order_by(t.AuditEventRow.id.desc())).first()
    assert (user.role, user.full_name, user.email) == (
        "researcher",
        "Erin Roux",
        "erin@univ-lorraine.fr",
    )
    assert (link.issuer, link.subject, link.provider) == (provider.url, "erin-7", "unistra")
    assert link.eppn == "erin@univ-lorraine.fr"
    assert audit is not None and (audit.actor, audit.action) == ("oidc:unistra", "user.created")
    assert world(sso).users == before.users + 1
    [session] = sessions(sso)
    assert (session.username, session.method, session.provider) == (
        user.username,
        "oidc",
        "unistra",
    )
    page = portal.get("/portal/projects")
    assert "Ask the principal investigator of your project to add you" in page.text


def test_a_group_claim_makes_an_administrator_and_the_next_sign_in_finds_the_same_user(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    assert sign_in(portal, provider, CAROL["sub"]).status_code == 303
    first = portal.cookies.get(SESSION_COOKIE)
    assert sign_in(portal, provider, CAROL["sub"]).status_code == 303
    assert portal.cookies.get(SESSION_COOKIE) != first  # a sign-in changes the session's id
    with sso.engine.connect() as conn:
        users = conn.execute(select(t.UserRow).where(t.UserRow.email == CAROL["email"])).all()
    assert [(u.username, u.role) for u in users] == [("carol@unistra.fr", "admin")]
    assert len(sessions(sso)) == 1  # the first session was closed by the second sign-in


def test_an_account_created_by_an_administrator_is_claimed_by_its_email_and_audited(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    with sso.engine.begin() as conn:
        conn.execute(
            update(t.UserRow).where(t.UserRow.username == "bob").values(email="bob@inserm.fr")
        )
    provider.set_user("bob-inserm", {"email": "bob@inserm.fr", "name": "Bob Petit"})
    assert sign_in(portal, provider, "bob-inserm").status_code == 303
    with sso.engine.connect() as conn:
        link = conn.execute(select(IdentityRow)).one()
        claimed = conn.execute(
            select(t.AuditEventRow).where(t.AuditEventRow.action == "user.claimed")
        ).one()
        bob = conn.execute(select(t.UserRow).where(t.UserRow.username == "bob")).one()
    assert link.username == "bob" and claimed.subject == "user:bob"
    assert claimed.detail == f"{provider.url} bob-inserm"
    assert bob.full_name == "Bob Petit"


@SQLITE_ONLY
def test_a_replayed_state_is_refused_and_nothing_is_created(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    provider.set_user("frank-1", {"email": "frank@cnrs.fr"})
    callback = local(provider.authorize(start(portal), "frank-1"))
    assert portal.get(callback).status_code == 303
    portal.cookies.delete(SESSION_COOKIE)
    before = world(sso)
    portal.cookies.set("gpuhours_oidc", state_of(callback), path="/portal")
    again = portal.get(callback)
    assert again.status_code == 400
    assert "This sign-in has expired or was already used" in again.text
    assert world(sso) == before


@SQLITE_ONLY
def test_a_callback_whose_state_is_not_this_browsers_is_refused(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    """Login CSRF: a callback carried to another browser (no state cookie) signs nobody in."""
    callback = local(provider.authorize(start(portal), CAROL["sub"]))
    portal.cookies.clear()
    before = world(sso)
    answer = portal.get(callback)
    assert answer.status_code == 400 and "expired or was already used" in answer.text
    assert world(sso) == before


@SQLITE_ONLY
def test_a_wrong_nonce_is_refused_and_nothing_is_created(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    authorization = start(portal)
    with sso.engine.begin() as conn:
        conn.execute(
            update(OidcLoginRow)
            .where(OidcLoginRow.state_hash == hash_state(state_of(authorization)))
            .values(nonce="another-sign-in")
        )
    before = world(sso)
    answer = portal.get(local(provider.authorize(authorization, CAROL["sub"])))
    assert answer.status_code == 400
    assert "belongs to another sign-in (nonce)" in answer.text
    assert world(sso) == before


@SQLITE_ONLY
def test_the_providers_refusal_is_said_and_nothing_is_created(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    authorization = start(portal)
    denied = httpx.post(authorization, data={"action": "deny"}, timeout=10)
    before = world(sso)
    answer = portal.get(local(denied.headers["location"]))
    assert answer.status_code == 400 and "did not sign you in (access_denied)" in answer.text
    assert world(sso) == before


def test_sign_out_ends_the_session_and_goes_on_to_the_providers_logout(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    assert sign_in(portal, provider, CAROL["sub"]).status_code == 303
    [kept] = sessions(sso)
    page = portal.get("/portal/projects")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    answer = portal.post("/portal/signout", data={"csrf": csrf})
    assert answer.status_code == 303
    location = answer.headers["location"]
    assert location.startswith(f"{provider.url}/oauth2/end_session?client_id={CLIENT_ID}")
    assert "post_logout_redirect_uri=http%3A%2F%2F127.0.0.1%2Fportal%2Fsignin" in location
    # the ID token of this sign-in names the session at the provider's logout...
    [hint] = parse_qs(urlsplit(location).query)["id_token_hint"]
    claims = sso.identity_providers["unistra"].verify(hint, CLIENT_ID)
    assert claims["sub"] == CAROL["sub"]
    # ... and was kept sealed: the table alone does not reveal it
    assert kept.id_token_sealed.startswith("eyJhbGciOiJkaXIi")  # a JWE, "alg": "dir"
    assert hint not in kept.id_token_sealed and hint.split(".")[1] not in kept.id_token_sealed
    assert sessions(sso) == []
    assert portal.get("/portal/projects").status_code == 303  # to the sign-in page


@SQLITE_ONLY
def test_the_sign_in_page_offers_the_provider_beside_the_token(portal: TestClient) -> None:
    page = portal.get("/portal/signin").text
    assert "Sign in with Université de Strasbourg" in page
    assert 'href="/portal/signin/oidc/unistra?next=/projects"' in page
    assert 'name="token"' in page
    french = portal.get("/portal/signin", headers={"accept-language": "fr"}).text
    assert "Se connecter avec Université de Strasbourg" in french


def test_a_deactivated_user_cannot_sign_in_and_her_sessions_and_tokens_stop(
    portal: TestClient, provider: MockProvider, sso: Services
) -> None:
    assert sign_in(portal, provider, CAROL["sub"]).status_code == 303
    assert portal.get("/portal/projects").status_code == 200
    identities = SqlIdentities(sso.engine)
    assert identities.set_active("carol@unistra.fr", False, "admin", sso.clock())
    assert portal.get("/portal/projects").status_code == 303  # the session is found no more
    before = world(sso)
    answer = sign_in(portal, provider, CAROL["sub"])
    assert answer.status_code == 403 and "Your account is deactivated" in answer.text
    assert world(sso) == before


@SQLITE_ONLY
def test_an_id_token_of_the_provider_is_a_bearer_token_of_the_api_and_its_opaque_token_is_not(
    portal: TestClient, provider: MockProvider
) -> None:
    """A script's own code flow with the provider; its JWT is checked against the provider's
    JWKS; the opaque access token is not introspected (the mock has no introspection
    endpoint)."""
    assert sign_in(portal, provider, CAROL["sub"]).status_code == 303
    tokens = provider.tokens(CAROL["sub"])
    for token, status in ((tokens["id_token"], 200), (tokens["access_token"], 401)):
        answer = portal.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, answer.text
