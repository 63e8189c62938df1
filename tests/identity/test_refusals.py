"""Answers not to be trusted, each refused with its reason and nothing created: ID tokens
crafted with the test's own keys (a provider behind ``httpx.MockTransport``), and a provider
that cannot be reached while sessions and gpuhours tokens go on working."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import TokenAuthenticator, mint_token
from connectors.bootstrap import Services
from connectors.db.identities import SqlIdentities
from connectors.identity.bearer import FirstOf, OidcBearerAuthenticator
from tests.api.test_docs_in_a_browser import _free_port
from tests.identity.conftest import (
    FakeIdP,
    config_of,
    rsa_key,
    services_with,
    world,
)
from tests.web.inprocess import client_of, sign_in

#: What is refused here is a token's, not the database's: SQLite only (the sign-in's journey
#: and its writes run on both databases in test_signin and test_browser).
pytestmark = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def idp() -> FakeIdP:
    return FakeIdP()


@pytest.fixture
def fake_sso(engine: Engine, idp: FakeIdP) -> Services:
    """gpuhours with the crafted provider as ``inria`` (portal and API bearer tokens)."""
    sv = services_with(engine)
    provider = idp.provider()
    sv.identity_providers = {"inria": provider}
    sv.authenticator = FirstOf(
        TokenAuthenticator(sv.session_factory),
        OidcBearerAuthenticator([provider], SqlIdentities(sv.engine)),
    )
    return sv


@pytest.fixture
def portal(fake_sso: Services) -> Iterator[TestClient]:
    with client_of(fake_sso) as c:
        yield c


def callback_with(portal: TestClient, idp: FakeIdP, **claims: Any) -> Any:
    """A sign-in whose provider answers an ID token of ``claims`` (over the valid ones),
    signed with ``key`` when given."""
    answer = portal.get("/portal/signin/oidc/inria")
    assert answer.status_code == 303, answer.text
    query = parse_qs(urlsplit(answer.headers["location"]).query)
    key = claims.pop("key", None)
    idp.id_token = idp.sign(idp.claims(**({"nonce": query["nonce"][0]} | claims)), key)
    state = query["state"][0]
    return portal.get("/portal/signin/oidc/inria/callback", params={"code": "c0de", "state": state})


def test_a_well_formed_answer_signs_in(
    portal: TestClient, idp: FakeIdP, fake_sso: Services
) -> None:
    """The crafted provider's valid answer is accepted: the refusals below are the claims'."""
    assert callback_with(portal, idp).status_code == 303
    assert world(fake_sso).identities == 1


REFUSALS = {
    "wrong audience": ({"aud": "another-app"}, "meant for another application"),
    "wrong issuer": ({"iss": "https://evil.example.org"}, "names another issuer"),
    "expired": (
        {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
        "has expired",
    ),
    "wrong nonce": ({"nonce": "not-this-sign-in"}, "belongs to another sign-in (nonce)"),
}


@pytest.mark.parametrize("case", REFUSALS, ids=list(REFUSALS))
def test_an_untrusted_id_token_is_refused_and_nothing_is_created(
    portal: TestClient, idp: FakeIdP, fake_sso: Services, case: str
) -> None:
    claims, reason = REFUSALS[case]
    before = world(fake_sso)
    answer = callback_with(portal, idp, **claims)
    assert answer.status_code == 400 and reason in answer.text
    assert world(fake_sso) == before


def test_a_bad_signature_is_refused(portal: TestClient, idp: FakeIdP, fake_sso: Services) -> None:
    """Signed by another key that claims the published key's id."""
    impostor = rsa_key("k1", 1)
    before = world(fake_sso)
    answer = callback_with(portal, idp, key=impostor)
    assert answer.status_code == 400 and "invalid signature" in answer.text
    assert world(fake_sso) == before


def test_keys_are_read_again_for_a_new_key_id_and_a_key_rotated_out_is_refused(
    portal: TestClient, idp: FakeIdP, fake_sso: Services
) -> None:
    assert callback_with(portal, idp).status_code == 303  # keys read once: k1
    reads = idp.jwks_reads
    old = idp.key
    idp.key = rsa_key("k2")
    idp.published = [idp.key]  # the provider rotates: k2 only
    portal.cookies.clear()
    assert callback_with(portal, idp).status_code == 303  # unknown kid: JWKS read again
    assert idp.jwks_reads == reads + 1
    portal.cookies.clear()
    before = world(fake_sso)
    answer = callback_with(portal, idp, key=old)
    assert answer.status_code == 400 and "a key it no longer publishes" in answer.text
    assert world(fake_sso) == before


def test_an_unreachable_provider_is_said_while_sessions_and_tokens_keep_working(
    engine: Engine,
) -> None:
    down = config_of(f"http://127.0.0.1:{_free_port()}", name="down", timeout_seconds=2)
    sv = services_with(engine, down)
    token = mint_token(sv.session_factory, "alice", sv.clock())
    with client_of(sv) as portal:
        sign_in(portal, token)  # a session opened before
        with client_of(sv) as other:
            before = world(sv)
            answer = other.get("/portal/signin/oidc/down")
            assert answer.status_code == 503
            assert "The sign-in service down cannot be reached now" in answer.text
            assert world(sv) == before
        assert portal.get("/portal/projects").status_code == 200
        api = portal.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
        assert api.status_code == 200


def test_a_provider_gone_during_the_sign_in_is_said_and_nothing_is_created(
    portal: TestClient, idp: FakeIdP, fake_sso: Services
) -> None:
    answer = portal.get("/portal/signin/oidc/inria")
    state = parse_qs(urlsplit(answer.headers["location"]).query)["state"][0]
    idp.down = True  # the code exchange finds no provider
    before = world(fake_sso)
    params = {"code": "c0de", "state": state}
    refused = portal.get("/portal/signin/oidc/inria/callback", params=params)
    assert refused.status_code == 503 and "cannot be reached now" in refused.text
    assert world(fake_sso) == before


class TestBearerJwtOnTheApi:
    def signed_in(self, portal: TestClient, idp: FakeIdP) -> None:
        assert callback_with(portal, idp).status_code == 303
        portal.cookies.clear()

    def bearer(self, portal: TestClient, token: str) -> int:
        answer = portal.get("/api/v1/projects", headers={"Authorization": f"Bearer {token}"})
        return int(answer.status_code)

    def test_a_providers_jwt_reads_as_its_linked_user(
        self, portal: TestClient, idp: FakeIdP
    ) -> None:
        self.signed_in(portal, idp)
        assert self.bearer(portal, idp.sign(idp.claims())) == 200
        me = portal.get(
            "/api/v1/tokens", headers={"Authorization": f"Bearer {idp.sign(idp.claims())}"}
        )
        assert me.status_code == 200

    @pytest.mark.parametrize(
        "claims",
        [
            {"aud": "another-app"},
            {"iss": "https://evil.example.org"},
            {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200},
            {"sub": "nobody-linked"},
        ],
        ids=["wrong audience", "wrong issuer", "expired", "no linked user"],
    )
    def test_an_untrusted_or_unknown_jwt_is_refused(
        self, portal: TestClient, idp: FakeIdP, claims: dict[str, Any]
    ) -> None:
        self.signed_in(portal, idp)
        assert self.bearer(portal, idp.sign(idp.claims(**claims))) == 401

    def test_an_opaque_token_is_introspected_once_a_minute_and_an_inactive_one_refused(
        self, portal: TestClient, idp: FakeIdP
    ) -> None:
        self.signed_in(portal, idp)
        idp.opaque["at-0f1e2d"] = "dave-42"
        assert self.bearer(portal, "at-0f1e2d") == 200
        assert self.bearer(portal, "at-0f1e2d") == 200
        assert idp.introspections == 1  # the answer is kept a minute
        assert self.bearer(portal, "at-unknown") == 401
        assert self.bearer(portal, "gph_unknown") == 401  # gpuhours' own: no provider asked
        assert idp.introspections == 2

    def test_a_jwt_of_another_key_is_refused(self, portal: TestClient, idp: FakeIdP) -> None:
        self.signed_in(portal, idp)
        rotated, impostor = rsa_key("gone"), rsa_key("k1", 1)
        assert self.bearer(portal, idp.sign(idp.claims(), rotated)) == 401
        assert self.bearer(portal, idp.sign(idp.claims(), impostor)) == 401

    def test_a_deactivated_users_jwt_and_gpuhours_token_are_refused(
        self, portal: TestClient, idp: FakeIdP, fake_sso: Services
    ) -> None:
        self.signed_in(portal, idp)
        token = mint_token(fake_sso.session_factory, "dave@inria.fr", fake_sso.clock())
        assert self.bearer(portal, token) == 200
        SqlIdentities(fake_sso.engine).set_active("dave@inria.fr", False, "admin", fake_sso.clock())
        assert self.bearer(portal, idp.sign(idp.claims())) == 401
        assert self.bearer(portal, token) == 401
