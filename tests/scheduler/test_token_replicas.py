"""Two real API processes (``gpuhours serve --no-scheduler``) on one database: a token revoked
through one is refused by the other on the very next request, and neither logs a token."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from allocator import services as svc
from allocator.model import Role, User
from connectors.bootstrap import build
from connectors.db.engine import make_engine
from connectors.db.migrate import upgrade
from connectors.settings import Settings
from connectors.tokens import mint_token
from tests.conftest import NO_PG, PG_URL
from tests.scheduler.test_replicas import Worker, pg_database_url, start_worker, stop
from tests.scheduler.test_serve import free_port, healthy

ADMIN = User("admin", Role.ADMIN)
__all__ = ["pg_database_url"]  # the fixture, used through request.getfixturevalue


def call(port: int, path: str, token: str, method: str = "GET") -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1{path}",
        method=method,
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def revoke(port: int, token_id: int, token: str) -> dict[str, object]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/tokens/{token_id}/revoke",
        method="POST",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        body: dict[str, object] = json.loads(r.read())
        return body


@pytest.fixture(params=["postgres", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        if not PG_URL:
            pytest.skip(NO_PG)
        yield request.getfixturevalue("pg_database_url")
        return
    url = f"sqlite:///{tmp_path / 'gpuhours.db'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url


@pytest.mark.slow
def test_a_token_revoked_through_one_replica_is_refused_by_the_other_at_once(
    database_url: str, tmp_path: Path
) -> None:
    services = build(Settings(database_url=database_url))
    now = datetime.now(UTC)
    try:
        svc.create_user(services.uow(), ADMIN, now, ADMIN)
        svc.create_user(services.uow(), ADMIN, now, User("alice", Role.RESEARCHER))
        admin = mint_token(services.session_factory, "admin", now)
        alice = mint_token(services.session_factory, "alice", now)
    finally:
        services.engine.dispose()

    env = {"GPUHOURS_DATABASE_URL": database_url, "GPUHOURS_LOG_LEVEL": "info"}
    ports = free_port(), free_port()
    replicas: list[Worker] = [
        start_worker(f"api-{i}", env, tmp_path, ["serve", "--no-scheduler", "--port", str(p)])
        for i, p in enumerate(ports)
    ]
    a, b = ports
    try:
        for replica, port in zip(replicas, ports, strict=True):
            assert healthy(port), replica.output()
        # Both replicas have just accepted alice's token (any cache would now hold it).
        assert [call(a, "/me", alice), call(b, "/me", alice)] == [200, 200]
        assert call(b, f"/me?access_token={alice}", alice) == 200
        [alice_row] = _tokens(a, admin, "alice")
        alice_id = int(str(alice_row["id"]))

        revoked = revoke(a, alice_id, admin)
        assert revoked["state"] == "revoked"
        assert call(b, "/me", alice) == 401  # the very next request, on the other process
        assert call(a, "/me", alice) == 401
        assert call(b, "/me", admin) == 200
    finally:
        stop(replicas)
    for replica in replicas:
        log = replica.output()
        assert "/api/v1/me" in log, log[-2000:]  # the access log is on
        assert alice not in log and admin not in log, log[-2000:]


def _tokens(port: int, admin: str, username: str) -> list[dict[str, object]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/users/{username}/tokens",
        headers={"Authorization": f"Bearer {admin}"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:
        rows: list[dict[str, object]] = json.loads(r.read())["items"]
        return rows
