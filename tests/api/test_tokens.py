"""The life of an API token through the HTTP API: minted with an expiry, listed without its
secret, revoked at once, every step audited; failed authentications are throttled."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, text

from connectors.bootstrap import Services
from connectors.http.app import create_app
from connectors.throttle import AuthThrottle
from tests.api.conftest import auth
from tests.builders import World
from tests.conftest import NOW, FixedClock

API = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def mint(client: TestClient, world: World, username: str, **body: Any) -> dict[str, Any]:
    r = client.post(f"{API}/users/{username}/tokens", headers=auth(world, "admin"), json=body)
    assert r.status_code == 201, r.text
    minted: dict[str, Any] = r.json()
    return minted


class Statements:
    """SQL statements sent to the database while counting, those touching ``api_tokens``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []

    def _record(self, *args: Any) -> None:
        statement = str(args[2])
        if "api_tokens" in statement:
            self.seen.append(statement.split(None, 1)[0].upper())

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


# --- expiry ----------------------------------------------------------------------------------


def test_a_minted_token_expires_after_the_default_ninety_days(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    minted = mint(client, world, "alice", note="laptop")
    assert minted["username"] == "alice"
    assert minted["expires_at"] == (NOW + timedelta(days=90)).isoformat().replace("+00:00", "Z")
    assert isinstance(minted["id"], int) and minted["token"].startswith(minted["prefix"])
    assert client.get(f"{API}/me", headers=bearer(minted["token"])).status_code == 200

    clock.now = NOW + timedelta(days=90, seconds=-1)
    assert client.get(f"{API}/me", headers=bearer(minted["token"])).status_code == 200
    clock.now = NOW + timedelta(days=90)
    r = client.get(f"{API}/me", headers=bearer(minted["token"]))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthenticated"


def test_an_expiry_is_given_in_days_or_as_a_time(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    in_days = mint(client, world, "bob", expires_in_days=7)
    assert in_days["expires_at"].startswith("2026-11-28T09:00:00")
    at = mint(client, world, "bob", expires_at="2026-12-01T00:00:00+01:00")
    assert at["expires_at"].startswith("2026-11-30T23:00:00")

    clock.now = NOW + timedelta(days=8)
    assert client.get(f"{API}/me", headers=bearer(in_days["token"])).status_code == 401
    assert client.get(f"{API}/me", headers=bearer(at["token"])).status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_in_days": 0}, "expires_in_days"),
        ({"expires_in_days": 3651}, "expires_in_days"),
        ({"expires_at": "2026-11-21T08:59:59Z"}, "expires_at"),
        ({"expires_at": "2026-11-21T09:00:00"}, "expires_at"),
        ({"expires_at": "2040-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "2026-12-01T00:00:00Z", "expires_in_days": 3}, "expires_at"),
    ],
)
def test_an_expiry_in_the_past_too_far_or_given_twice_is_refused(
    client: TestClient, world: World, body: dict[str, Any], field: str
) -> None:
    r = client.post(f"{API}/users/bob/tokens", headers=auth(world, "admin"), json=body)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    listed = client.get(f"{API}/users/bob/tokens", headers=auth(world, "admin")).json()["items"]
    assert len(listed) == 1  # only the fixture's token: nothing was minted


# --- listing -----------------------------------------------------------------------------------


def test_a_user_lists_own_tokens_without_secret_or_hash(client: TestClient, world: World) -> None:
    minted = mint(client, world, "alice", note="laptop", expires_in_days=30)
    r = client.get(f"{API}/tokens", headers=bearer(minted["token"]))
    assert r.status_code == 200, r.text
    rows = r.json()["items"]
    assert [row["username"] for row in rows] == ["alice", "alice"]
    mine = next(row for row in rows if row["id"] == minted["id"])
    assert mine["note"] == "laptop" and mine["state"] == "active"
    assert mine["created_by"] == "admin" and mine["prefix"] == minted["prefix"]
    assert mine["expires_at"] == minted["expires_at"]
    assert mine["last_used_at"] is not None  # the listing request itself used it
    assert set(mine) == {
        "id",
        "username",
        "prefix",
        "note",
        "state",
        "created_at",
        "created_by",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    }
    secret, digest = minted["token"], _hash_of(client, minted["id"])
    assert secret not in r.text and digest not in r.text


def _hash_of(client: TestClient, token_id: int) -> str:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    with services.engine.connect() as conn:
        digest = conn.execute(
            text("SELECT token_hash FROM api_tokens WHERE id = :id"), {"id": token_id}
        ).scalar_one()
    return str(digest)


def test_only_an_admin_lists_another_users_tokens(client: TestClient, world: World) -> None:
    assert client.get(f"{API}/users/alice/tokens", headers=auth(world, "alice")).status_code == 200
    for who in ("bob", "eng"):
        r = client.get(f"{API}/users/alice/tokens", headers=auth(world, who))
        assert r.status_code == 403, (who, r.text)
    rows = client.get(f"{API}/users/alice/tokens", headers=auth(world, "admin")).json()["items"]
    assert [row["username"] for row in rows] == ["alice"]
    r = client.get(f"{API}/users/nobody/tokens", headers=auth(world, "admin"))
    assert r.status_code == 404 and r.json()["error"]["field"] == "username"


# --- revocation --------------------------------------------------------------------------------


def test_a_revoked_token_is_refused_on_the_very_next_request(
    client: TestClient, world: World
) -> None:
    minted = mint(client, world, "alice")
    assert client.get(f"{API}/me", headers=bearer(minted["token"])).status_code == 200
    r = client.post(f"{API}/tokens/{minted['id']}/revoke", headers=bearer(minted["token"]))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoked_by"] == "alice"
    assert client.get(f"{API}/me", headers=bearer(minted["token"])).status_code == 401
    assert client.get(f"{API}/me", headers=auth(world, "alice")).status_code == 200


def test_a_token_revoked_in_the_database_stops_working_at_once(
    client: TestClient, world: World, services: Services
) -> None:
    """The finding: a revocation made in SQL left the token working for 10 s (the cache)."""
    h = auth(world, "bob")
    assert client.get(f"{API}/me", headers=h).status_code == 200
    with services.engine.begin() as conn:
        conn.execute(
            text("UPDATE api_tokens SET revoked_at = :now WHERE username = 'bob'"), {"now": NOW}
        )
    assert client.get(f"{API}/me", headers=h).status_code == 401


def test_an_admin_revokes_anyones_token_a_researcher_only_their_own(
    client: TestClient, world: World
) -> None:
    alices = mint(client, world, "alice")
    r = client.post(f"{API}/tokens/{alices['id']}/revoke", headers=auth(world, "bob"))
    assert r.status_code == 404, r.text  # another user's token reads as unknown
    assert r.json()["error"]["field"] == "token_id"
    assert client.get(f"{API}/me", headers=bearer(alices["token"])).status_code == 200

    r = client.post(
        f"{API}/tokens/{alices['id']}/revoke",
        headers=auth(world, "admin"),
        json={"reason": "laptop stolen"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["revoked_by"] == "admin"
    assert client.get(f"{API}/me", headers=bearer(alices["token"])).status_code == 401
    again = client.post(f"{API}/tokens/{alices['id']}/revoke", headers=auth(world, "admin"))
    assert again.status_code == 200 and again.json()["revoked_at"] == r.json()["revoked_at"]
    r = client.post(f"{API}/tokens/999999/revoke", headers=auth(world, "admin"))
    assert r.status_code == 404


# --- audit -------------------------------------------------------------------------------------


def _token_events(client: TestClient, world: World, username: str) -> list[dict[str, Any]]:
    r = client.get(
        f"{API}/audit", params={"subject": f"user:{username}"}, headers=auth(world, "admin")
    )
    assert r.status_code == 200, r.text
    assert r.json()["next"] is None
    oldest_first = reversed(r.json()["items"])  # the audit trail lists the newest first
    return [e for e in oldest_first if e["action"].startswith("token.")]


def test_minting_and_revoking_are_audited_without_the_secret(
    client: TestClient, world: World
) -> None:
    before = _token_events(client, world, "alice")
    minted = mint(client, world, "alice", note="ci", expires_in_days=10)
    client.post(
        f"{API}/tokens/{minted['id']}/revoke",
        headers=auth(world, "admin"),
        json={"reason": "rotated"},
    )
    events = _token_events(client, world, "alice")[len(before) :]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("token.minted_for_user", "admin"),
        ("token.revoked", "admin"),
    ]
    minted_detail, revoked_detail = events[0]["detail"], events[1]["detail"]
    assert f"token {minted['id']} ({minted['prefix']})" in minted_detail
    assert "for alice (researcher)" in minted_detail
    assert "expires 2026-12-01T09:00:00+00:00" in minted_detail
    assert f"token {minted['id']} ({minted['prefix']})" in revoked_detail
    assert "rotated" in revoked_detail
    secret, digest = minted["token"], _hash_of(client, minted["id"])
    for e in events:
        assert secret not in e["detail"] and digest not in e["detail"]
        assert secret[len(minted["prefix"]) :][:8] not in e["detail"]


def test_an_admin_mints_for_another_admin_only_when_saying_so(
    client: TestClient, world: World
) -> None:
    h = auth(world, "admin")
    r = client.post(f"{API}/users", headers=h, json={"username": "root2", "role": "admin"})
    assert r.status_code == 201, r.text
    r = client.post(f"{API}/users/root2/tokens", headers=h, json={"note": "x"})
    assert r.status_code == 403, r.text
    assert r.json()["error"]["field"] == "for_another_admin"
    assert _token_events(client, world, "root2") == []

    minted = mint(client, world, "root2", for_another_admin=True)
    assert client.get(f"{API}/me", headers=bearer(minted["token"])).json()["username"] == "root2"
    events = _token_events(client, world, "root2")
    assert [(e["action"], e["actor"]) for e in events] == [("token.minted_for_admin", "admin")]
    # An admin's own tokens need no such flag.
    own = mint(client, world, "admin")
    assert _token_events(client, world, "admin")[-1]["action"] == "token.minted"
    assert own["username"] == "admin"


def test_anyone_mints_their_own_tokens_only_an_admin_anyone_elses(
    client: TestClient, world: World
) -> None:
    for who, other in (("alice", "bob"), ("eng", "alice")):
        r = client.post(f"{API}/users/{other}/tokens", headers=auth(world, who), json={})
        assert r.status_code == 403, r.text
        r = client.post(f"{API}/users/{who}/tokens", headers=auth(world, who), json={})
        assert r.status_code == 201, r.text
        mine = {"Authorization": f"Bearer {r.json()['token']}"}
        assert client.get(f"{API}/me", headers=mine).json()["username"] == who


# --- last use ----------------------------------------------------------------------------------


def test_last_use_is_written_at_most_once_a_minute_per_token(
    client: TestClient, world: World, clock: FixedClock, engine: Engine
) -> None:
    minted = mint(client, world, "alice")
    h = bearer(minted["token"])
    with Statements(engine) as sql:
        for _ in range(30):
            assert client.get(f"{API}/me", headers=h).status_code == 200
        clock.now = NOW + timedelta(seconds=59)
        for _ in range(10):
            assert client.get(f"{API}/me", headers=h).status_code == 200
    assert sql.seen.count("UPDATE") == 1, sql.seen
    assert sql.seen.count("SELECT") == 40  # one indexed look-up per request, no cache
    rows = client.get(f"{API}/tokens", headers=h).json()["items"]
    assert next(r for r in rows if r["id"] == minted["id"])["last_used_at"].startswith(
        "2026-11-21T09:00:00"
    )
    clock.now = NOW + timedelta(seconds=61)
    rows = client.get(f"{API}/tokens", headers=h).json()["items"]
    assert next(r for r in rows if r["id"] == minted["id"])["last_used_at"].startswith(
        "2026-11-21T09:01:01"
    )


# --- throttling ---------------------------------------------------------------------------------


@pytest.fixture
def throttled(services: Services) -> Iterator[tuple[TestClient, FixedClock]]:
    """The app with a throttle of 5 failures a minute, on a clock the test moves."""
    ticks = FixedClock()
    start = ticks.now
    services.auth_throttle = AuthThrottle(
        max_failures=5, window_seconds=60, clock=lambda: (ticks.now - start).total_seconds()
    )
    with TestClient(create_app(services=services)) as c:
        yield c, ticks


def test_failed_authentications_are_throttled_per_client_before_any_lookup(
    throttled: tuple[TestClient, FixedClock], world: World, engine: Engine
) -> None:
    client, ticks = throttled
    for i in range(5):
        r = client.get(f"{API}/me", headers=bearer(f"gph_guess{i}"))
        assert r.status_code == 401, r.text
    with Statements(engine) as sql:
        r = client.get(f"{API}/me", headers=bearer("gph_guess5"))
        valid = client.get(f"{API}/me", headers=auth(world, "alice"))
    assert sql.seen == []  # refused before the database is asked
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "too_many_requests"
    assert r.json()["error"]["field"] == "authorization"
    assert r.headers["Retry-After"] == "60"
    assert valid.status_code == 429  # a blocked address is blocked whatever it sends

    other = TestClient(client.app, client=("192.0.2.7", 50000))
    assert other.get(f"{API}/me", headers=auth(world, "alice")).status_code == 200

    ticks.now += timedelta(seconds=45)
    r = client.get(f"{API}/me", headers=auth(world, "alice"))
    assert r.status_code == 429 and r.headers["Retry-After"] == "15"
    ticks.now += timedelta(seconds=15)
    assert client.get(f"{API}/me", headers=auth(world, "alice")).status_code == 200


def test_requests_without_credentials_are_not_counted_as_failures(
    throttled: tuple[TestClient, FixedClock], world: World
) -> None:
    client, _ = throttled
    for _ in range(20):
        assert client.get(f"{API}/me").status_code == 401
    assert client.get(f"{API}/me", headers=auth(world, "bob")).status_code == 200


# --- logs ----------------------------------------------------------------------------------------


def test_tokens_never_reach_the_access_log(
    client: TestClient,
    world: World,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access = logging.getLogger("uvicorn.access")
    # a live uvicorn started by an earlier test configures its loggers not to propagate
    monkeypatch.setattr(access, "handlers", [*access.handlers, caplog.handler])
    monkeypatch.setattr(access, "propagate", False)
    secret = world.tokens["alice"]
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        for query in (f"token={secret}", f"period=2026Q4&access_token={secret}", "period=2026Q4"):
            access.info(
                '%s - "%s %s HTTP/%s" %d',
                "127.0.0.1:5000",
                "GET",
                f"/api/v1/balances?{query}",
                "1.1",
                200,
            )
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert all(secret not in line for line in lines), lines
    assert '"GET /api/v1/balances HTTP/1.1" 200' in lines[0]
    assert '"GET /api/v1/balances HTTP/1.1" 200' in lines[1]
    assert '"GET /api/v1/balances?period=2026Q4 HTTP/1.1" 200' in lines[2]
