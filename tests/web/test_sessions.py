"""Signing in to the portal, its sessions and its forms' CSRF protection, on SQLite and
PostgreSQL (the composed application, in process; no browser)."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from allocator.model import Role, User
from connectors.bootstrap import Services
from connectors.db.web_sessions import SqlWebSessions, hash_id, unseal
from tests.conftest import FixedClock
from tests.web.inprocess import CSRF, client_of, csrf_of, request_form, sessions, sign_in


def test_the_root_leads_to_the_portal_and_the_portal_to_its_sign_in(client: TestClient) -> None:
    assert client.get("/").headers["location"] == "/portal/"
    assert client.get("/portal/").headers["location"] == "/portal/signin"
    assert client.get("/portal/projects").headers["location"] == "/portal/signin?next=/projects"


def test_a_pasted_token_opens_a_session_stored_hashed_behind_a_strict_cookie(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    csrf = csrf_of(client, "/portal/signin")
    answer = client.post("/portal/signin", data={"csrf": csrf, "token": tokens["alice"]})
    assert answer.headers["location"] == "/portal/projects"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "gpuhours_session=" in c)
    secret = cookie.split(";")[0].split("=", 1)[1]
    attributes = {a.strip().lower() for a in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/portal"} <= attributes
    assert "secure" not in attributes  # plain HTTP on 127.0.0.1: the developer's server
    (row,) = sessions(services)
    assert (
        row.username == "alice"
        and row.id_hash == hash_id(secret)
        and secret
        not in (
            row.id_hash,
            row.csrf,
        )
    )
    assert row.expires_at == services.clock() + timedelta(hours=12)
    assert "Sign out" in client.get("/portal/projects").text


def test_the_session_cookie_is_secure_anywhere_but_loopback(
    services: Services, tokens: dict[str, str]
) -> None:
    with client_of(services, "https://portal.enact.example") as c:
        csrf = csrf_of(c, "/portal/signin")
        answer = c.post("/portal/signin", data={"csrf": csrf, "token": tokens["alice"]})
    cookie = next(c for c in answer.headers.get_list("set-cookie") if "gpuhours_session=" in c)
    assert "secure" in cookie.lower()


def test_a_bad_token_is_refused_beside_the_field_and_opens_nothing(
    client: TestClient, services: Services
) -> None:
    csrf = csrf_of(client, "/portal/signin")
    answer = client.post("/portal/signin", data={"csrf": csrf, "token": "gph_nope"})
    assert answer.status_code == 422
    assert re.search(r'id="token-error"[^>]*>.*unknown, expired or revoked', answer.text)
    assert 'aria-invalid="true"' in answer.text
    assert sessions(services) == []


def test_failed_sign_ins_are_throttled_with_the_apis_counter(
    client: TestClient, tokens: dict[str, str]
) -> None:
    csrf = csrf_of(client, "/portal/signin")
    for _ in range(3):
        client.post("/portal/signin", data={"csrf": csrf, "token": "gph_guess"})
    answer = client.post("/portal/signin", data={"csrf": csrf, "token": tokens["alice"]})
    assert answer.status_code == 429 and "try again in" in answer.text
    api = client.get("/api/v1/pools", headers={"Authorization": f"Bearer {tokens['alice']}"})
    assert api.status_code == 429  # the same address, the same window


def test_forms_without_the_sessions_csrf_token_are_refused_and_write_nothing(
    services: Services, tokens: dict[str, str]
) -> None:
    with client_of(services) as alice, client_of(services) as other:
        sign_in(alice, tokens["alice"])
        sign_in(other, tokens["alice"])  # another session of the same user
        theirs = csrf_of(other, "/portal/requests/new")
        for token in ("", "forged", theirs):
            refused = alice.post("/portal/requests/new", data=request_form(token))
            assert refused.status_code == 403, token
        cross = alice.post(
            "/portal/requests/new",
            data=request_form(csrf_of(alice, "/portal/requests/new")),
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403
        with services.uow() as uow:
            assert list(uow.requests.list(None, None)) == []
        mine = csrf_of(alice, "/portal/requests/new")
        made = alice.post("/portal/requests/new", data=request_form(mine))
        assert made.status_code == 303 and "/portal/requests/" in made.headers["location"]


def test_sign_in_needs_its_own_csrf_cookie(client: TestClient, tokens: dict[str, str]) -> None:
    csrf = csrf_of(client, "/portal/signin")
    client.cookies.clear()
    answer = client.post("/portal/signin", data={"csrf": csrf, "token": tokens["alice"]})
    assert answer.status_code == 403


def test_a_session_ends_when_idle_and_at_its_absolute_end(
    client: TestClient, services: Services, clock: FixedClock, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    end = sessions(services)[0].expires_at
    while True:  # active every 50 minutes: never idle for an hour...
        clock.now += timedelta(minutes=50)
        if clock.now >= end:
            break
        assert client.get("/portal/projects").status_code == 200
    # ... yet over after 12 hours
    assert client.get("/portal/projects").headers["location"].startswith("/portal/signin")
    sign_in(client, tokens["alice"])
    clock.now += timedelta(minutes=61)
    assert client.get("/portal/projects").headers["location"].startswith("/portal/signin")


def test_signing_out_ends_the_session_for_good(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    secret = client.cookies.get("gpuhours_session")
    csrf = csrf_of(client, "/portal/projects")
    answer = client.post("/portal/signout", data={"csrf": csrf})
    assert answer.headers["location"] == "/portal/signin"
    assert sessions(services) == []
    client.cookies.set("gpuhours_session", str(secret), path="/portal")  # a replayed cookie
    assert client.get("/portal/projects").headers["location"].startswith("/portal/signin")


def test_after_sign_in_the_portal_never_sends_one_elsewhere(
    client: TestClient, tokens: dict[str, str]
) -> None:
    for target, landing in [
        ("//evil.example/x", "/portal/projects"),
        ("https://evil.example", "/portal/projects"),
        ("/requests/new", "/portal/requests/new"),
    ]:
        client.cookies.clear()
        csrf = csrf_of(client, "/portal/signin")
        answer = client.post(
            "/portal/signin", data={"csrf": csrf, "token": tokens["alice"], "next": target}
        )
        assert answer.headers["location"] == landing, target


def test_the_language_follows_the_browser_then_the_switch(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    french = client.get("/portal/projects", headers={"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr">' in french.text and "Mes projets" in french.text
    csrf = CSRF.search(french.text).group(1)  # type: ignore[union-attr]
    switched = client.post(
        "/portal/language", data={"csrf": csrf, "lang": "en", "next": "/portal/projects"}
    )
    assert switched.headers["location"] == "/portal/projects"
    english = client.get("/portal/projects", headers={"Accept-Language": "fr"})
    assert '<html lang="en">' in english.text and "My projects" in english.text


def test_another_chairs_project_is_not_found_and_not_named(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    for path in ("/portal/projects/p2", "/portal/chairs/chair-b", "/portal/projects/nope"):
        answer = client.get(path)
        assert answer.status_code == 404
        # the page's random values (CSP nonce, CSRF token) may hold "p2" by chance: not a name
        named = re.sub(r'(nonce|value|content)="[^"]*"', "", answer.text)
        assert not [n for n in ("p2", "Project 2", "chair-b", "Chair B") if n in named]
    assert client.get("/portal/projects/p1").status_code == 200
    assert client.get("/portal/queue").status_code == 403  # administrators only


def test_a_providers_id_token_is_kept_sealed_and_read_back_only_with_the_session_id(
    services: Services, clock: FixedClock
) -> None:
    store = SqlWebSessions(services.engine, timedelta(hours=1), timedelta(hours=12))
    carol = User("alice", Role.RESEARCHER)
    id_token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJjYXJvbC0wMDAxIn0.c2lnbmF0dXJl"
    opened = store.open(carol, clock(), "oidc", "unistra", id_token)
    pasted = store.open(carol, clock(), "token")
    [row] = [r for r in sessions(services) if r.id_hash == opened.session.id_hash]
    assert row.id_token_sealed and id_token.split(".")[1] not in row.id_token_sealed
    assert store.id_token_hint(opened.secret) == id_token
    assert store.id_token_hint(pasted.secret) == ""  # signed in with a pasted token
    assert store.id_token_hint(pasted.secret + "x") == ""  # no such session
    # the sealed value under another session's id reads as nothing
    assert unseal(pasted.secret, row.id_token_sealed) == ""
