"""Every list endpoint reads in a constant number of SQL statements, whatever the number of
projects and pools: three times the projects and pools, the same count (no query per row)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from allocator import services as svc
from allocator.model import Chair, ClusterRoute, Project, ProjectKind, SlurmAccount
from allocator.ports import UnitOfWork
from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import ADMIN, BOB, CAL, H, World, local_pool, national_pool

PERIOD = "2026Q4"

#: (who, path): every GET that lists rows (plus the one-row balance reads), admin and researcher
ENDPOINTS = [
    ("admin", f"/api/v1/balances?period={PERIOD}"),
    ("alice", f"/api/v1/balances?period={PERIOD}"),
    ("admin", f"/api/v1/balances?period={PERIOD}&include_empty=true"),
    ("admin", f"/api/v1/burn?period={PERIOD}"),
    ("alice", f"/api/v1/burn?period={PERIOD}"),
    ("admin", f"/api/v1/projects/p1/balances?period={PERIOD}"),
    ("alice", f"/api/v1/projects/p1/balances?period={PERIOD}"),
    ("admin", f"/api/v1/chairs/chair-a/balances?pool_id=nat&period={PERIOD}"),
    ("alice", f"/api/v1/chairs/chair-a/balances?pool_id=nat&period={PERIOD}"),
    ("admin", f"/api/v1/pools/nat/balances?period={PERIOD}"),
    ("admin", "/api/v1/projects"),
    ("alice", "/api/v1/projects"),
    ("admin", "/api/v1/projects?chair_id=chair-a"),
    ("admin", "/api/v1/chairs"),
    ("alice", "/api/v1/chairs"),
    ("admin", "/api/v1/pools"),
    ("alice", "/api/v1/pools"),
    ("admin", "/api/v1/users"),
    ("admin", "/api/v1/requests"),
    ("alice", "/api/v1/requests"),
    ("admin", "/api/v1/journal"),
    ("admin", f"/api/v1/journal?period={PERIOD}"),
    ("admin", "/api/v1/audit"),
    ("admin", "/api/v1/clusters"),
    ("admin", "/api/v1/usage/accounts"),
    ("admin", "/api/v1/usage/quarantine"),
    ("admin", "/api/v1/statements"),
    ("admin", f"/api/v1/reconciliation?pool_id=nat&period={PERIOD}"),
    ("admin", f"/api/v1/reports/{PERIOD}"),
]


def grow(uow: UnitOfWork, now: datetime, pools: range, projects: range) -> None:
    """Pools ``pool-<i>`` (national and local in turn), one chair per three projects, projects
    ``proj-<j>`` each with a member, a Slurm account, an allocation from every pool (through the
    chair) and a request."""
    for i in pools:
        make = national_pool if i % 2 == 0 else local_pool
        route = ClusterRoute(f"cluster-{i}", "")
        svc.create_pool(uow, ADMIN, now, make(id=f"pool-{i}", name=f"pool {i}", routes=(route,)))
        if i % 2 == 0:
            svc.add_grant(uow, ADMIN, now, f"pool-{i}", 10_000 * H, "grant", calendar=CAL)
    for j in projects:
        chair = f"chair-{j // 3}"
        with uow:
            missing = uow.chairs.get(chair) is None
        if missing:
            svc.create_chair(uow, ADMIN, now, Chair(chair, chair))
        project = Project(
            f"proj-{j}",
            chair,
            f"project {j}",
            ProjectKind.RND,
            "bob",
            members=("alice",) if j % 2 else (),
            slurm_accounts=(SlurmAccount("enact-dev", f"acct-{j}"),),
        )
        svc.create_project(uow, ADMIN, now, project)
    with uow:
        pool_ids = list(uow.pools.ids())
        project_ids = [p.id for p in uow.projects.list() if p.id.startswith("proj-")]
    for pool_id in pool_ids:
        for project_id in project_ids:
            with uow:
                done = uow.ledger.entries(pool_id, PERIOD, f"project:{project_id}")
            if not done:
                svc.allocate_to_project(
                    uow,
                    ADMIN,
                    now,
                    pool_id,
                    project_id,
                    PERIOD,
                    H,
                    "share",
                    draw_from_pool=True,
                    calendar=CAL,
                )
    for j in projects:
        svc.submit_request(uow, BOB, now, f"proj-{j}", "nat", [(PERIOD, H)], "more", calendar=CAL)


@pytest.fixture
def statements(services: Services) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(services.engine, "before_cursor_execute", count)
    yield seen
    event.remove(services.engine, "before_cursor_execute", count)


def counts(client: TestClient, world: World, seen: list[str]) -> dict[tuple[str, str], int]:
    out = {}
    for who, path in ENDPOINTS:
        headers = auth(world, who)
        assert client.get(path, headers=headers).status_code == 200, path  # warm (token cache)
        seen.clear()
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        out[(who, path)] = len(seen)
    return out


def test_list_endpoints_read_in_a_constant_number_of_statements(
    client: TestClient, services: Services, world: World, statements: list[str]
) -> None:
    now = services.clock()
    grow(services.uow(), now, range(1), range(4))
    small = counts(client, world, statements)
    grow(services.uow(), now, range(1, 7), range(4, 18))
    with services.uow() as uow:  # 3x the pools (3 -> 9) and the projects (7 -> 21)
        assert (len(uow.pools.ids()), len(uow.projects.list())) == (9, 21)
    large = counts(client, world, statements)
    grown = {key: (small[key], large[key]) for key in small if large[key] != small[key]}
    assert grown == {}, "\n".join(
        f"{who} {path}: {a} -> {b}" for (who, path), (a, b) in grown.items()
    )


def test_balances_of_many_projects_are_the_balances_of_each(
    client: TestClient, services: Services, world: World
) -> None:
    """The batched read gives, row for row, what each project's own balance read gives."""
    now = services.clock()
    grow(services.uow(), now, range(3), range(7))
    svc.adjust(services.uow(), ADMIN, now, "pool-1", "proj-2", PERIOD, -H // 2, "fix", calendar=CAL)
    for who in ("admin", "alice", "bob"):
        h = auth(world, who)
        rows = client.get(f"/api/v1/balances?period={PERIOD}&include_empty=true", headers=h).json()[
            "items"
        ]
        assert rows, who
        by_project: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_project.setdefault(row["project_id"], []).append(row)
        for project_id, mine in by_project.items():
            one = client.get(f"/api/v1/projects/{project_id}/balances?period={PERIOD}", headers=h)
            assert one.status_code == 200
            assert one.json()["items"] == mine
        visible = {p["id"] for p in client.get("/api/v1/projects", headers=h).json()["items"]}
        assert set(by_project) == visible
