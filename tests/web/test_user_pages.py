"""The administrators' users page, in process, on SQLite and PostgreSQL: every user with the
provider identities linked to them (issuer, subject, last sign-in); deactivating one refuses
their token from the next request, reactivating lets it in again, both audited; an
administrator cannot deactivate themselves, a researcher can do neither, and a refusal
writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import select

from connectors.bootstrap import Services
from connectors.db import tables as t
from connectors.db.identities import Claimed, SqlIdentities
from tests.web.inprocess import csrf_of, sign_in

ISSUER = "https://idp.unistra.fr/realms/hpc"


def audit(services: Services) -> list[tuple[str, str, str]]:
    A = t.AuditEventRow
    with services.engine.connect() as conn:
        rows = conn.execute(
            select(A.actor, A.action, A.subject)
            .where(A.action.in_(["user.deactivated", "user.reactivated"]))
            .order_by(A.id)
        )
        return [(r.actor, r.action, r.subject) for r in rows]


def deactivated(services: Services, username: str) -> bool:
    U = t.UserRow
    with services.engine.connect() as conn:
        at = conn.execute(select(U.deactivated_at).where(U.username == username)).scalar_one()
    return at is not None


def test_an_admin_sees_linked_identities_and_deactivates_then_reactivates_a_user(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    seen = datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
    erin = Claimed("unistra", ISSUER, "f81d4fae-7dec", "Erin Roux", "erin@unistra.fr")
    SqlIdentities(services.engine).sign_in(erin, seen)
    sign_in(client, tokens["admin"])
    listed = client.get("/portal/users")
    assert listed.status_code == 200
    assert "erin@unistra.fr" in listed.text and "Erin Roux" in listed.text
    assert f"<code>{ISSUER}</code>" in listed.text
    assert "<code>f81d4fae-7dec</code>" in listed.text
    assert "last sign-in 11/3/26" in listed.text
    assert 'action="/portal/users/alice/deactivate"' in listed.text
    assert 'action="/portal/users/admin/deactivate"' not in listed.text  # not oneself

    alice = {"Authorization": f"Bearer {tokens['alice']}"}
    assert client.get("/api/v1/me", headers=alice).status_code == 200
    csrf = csrf_of(client, "/portal/users")
    done = client.post("/portal/users/alice/deactivate", data={"csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"] == "/portal/users?done=deactivated"
    assert client.get("/api/v1/me", headers=alice).status_code == 401
    page = client.get("/portal/users?done=deactivated").text
    assert "The user was deactivated" in page
    assert 'action="/portal/users/alice/reactivate"' in page

    again = client.post("/portal/users/alice/reactivate", data={"csrf": csrf})
    assert again.status_code == 303
    assert client.get("/api/v1/me", headers=alice).status_code == 200
    assert audit(services) == [
        ("admin", "user.deactivated", "user:alice"),
        ("admin", "user.reactivated", "user:alice"),
    ]


def test_the_page_speaks_french(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    client.cookies.set("gpuhours_lang", "fr")
    page = client.get("/portal/users").text
    assert "Utilisateurs et connexion" in page and "Désactiver" in page


def test_an_admin_cannot_deactivate_themselves_and_nothing_is_written(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    csrf = csrf_of(client, "/portal/users")
    refused = client.post("/portal/users/admin/deactivate", data={"csrf": csrf})
    assert refused.status_code == 422
    assert "You cannot deactivate your own account." in refused.text
    assert 'role="alert"' in refused.text
    assert not deactivated(services, "admin") and audit(services) == []
    unknown = client.post("/portal/users/nobody/deactivate", data={"csrf": csrf})
    assert unknown.status_code == 404
    assert audit(services) == []


def test_a_researcher_may_neither_see_the_page_nor_deactivate_anyone(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    assert client.get("/portal/users").status_code == 403
    csrf = csrf_of(client, "/portal/tokens")
    assert client.post("/portal/users/bob/deactivate", data={"csrf": csrf}).status_code == 403
    assert not deactivated(services, "bob") and audit(services) == []
