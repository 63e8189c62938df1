"""Self-service API tokens in the portal, in process, on SQLite and PostgreSQL: a researcher
makes a token (its secret shown once), uses it on the API, revokes it, and it is refused on
the very next request; a bad name or validity is refused beside its field with nothing made."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.web.inprocess import csrf_of, sign_in


def held(services: Services) -> int:
    from connectors.db import tables as t

    with services.session_factory() as session:
        return session.query(t.ApiTokenRow).filter_by(username="alice").count()


def test_a_researcher_makes_uses_and_revokes_her_own_token(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    form = {"csrf": csrf_of(client, "/portal/tokens"), "note": "laptop", "days": "30"}
    made = client.post("/portal/tokens", data=form)
    assert made.status_code == 200
    secret = re.search(r'<code id="new-token">(gph_[^<]+)</code>', made.text)
    assert secret is not None
    bearer = {"Authorization": f"Bearer {secret.group(1)}"}
    assert client.get("/api/v1/me", headers=bearer).json()["username"] == "alice"
    page = client.get("/portal/tokens").text
    assert secret.group(1) not in page  # shown once only
    assert "<td>laptop</td>" in page
    token_id = re.search(r'action="/portal/tokens/(\d+)/revoke"', page)
    assert token_id is not None
    csrf = csrf_of(client, "/portal/tokens")
    done = client.post(f"/portal/tokens/{token_id.group(1)}/revoke", data={"csrf": csrf})
    assert done.status_code == 303
    assert client.get("/api/v1/me", headers=bearer).status_code == 401


def test_a_bad_name_or_validity_is_refused_beside_it_and_nothing_is_made(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    before = held(services)
    form = {"csrf": csrf_of(client, "/portal/tokens"), "note": " ", "days": "9999"}
    refused = client.post("/portal/tokens", data=form)
    assert refused.status_code == 422
    assert 'id="token-note-error"' in refused.text and 'id="token-days-error"' in refused.text
    assert held(services) == before


def test_a_researcher_cannot_revoke_anothers_token(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["bob"])
    csrf = csrf_of(client, "/portal/tokens")
    with services.session_factory() as session:
        from connectors.db import tables as t

        alices = session.query(t.ApiTokenRow).filter_by(username="alice").first()
        assert alices is not None
    assert client.post(f"/portal/tokens/{alices.id}/revoke", data={"csrf": csrf}).status_code == 404
    assert (
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {tokens['alice']}"}).status_code
        == 200
    )
