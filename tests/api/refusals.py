"""Bad input through the HTTP API: the harness of the refusal tables (``test_refused_*``).

Every row is a call that must be refused with a 4xx whose body
``{"error": {"code", "field", "message"}}`` names the offending field and says why, and that
leaves no trace: the journal, the audit log, the requests and the pools read through
``services.uow()`` are exactly what they were before the call (setup steps of a row, such as
submitting the request that is then wrongly approved, run before the "before" snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import World

Setup = Callable[[TestClient, dict[str, str]], dict[str, Any]]

CODES = {
    400: "malformed_json",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_input",
}

_ABSENT = object()


# --- setups: state that a row needs, built through the API before the snapshot -------------


def _submit(c: TestClient, h: dict[str, str]) -> int:
    r = c.post(
        "/api/v1/requests",
        headers=h,
        json={
            "project_id": "p1",
            "pool_id": "nat",
            "periods": [{"period": "2026Q4", "hours": 5}, {"period": "2027Q1", "hours": 3}],
            "justification": "experiments",
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def submitted(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    return {"rid": _submit(c, h)}


def rejected(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/reject", headers=h, json={"reason": "no plan"})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def approved(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/approve", headers=h, json={})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def withdrawn(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/withdraw", headers=h, json={"reason": "changed plans"})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def chair_a_has_10h(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    r = c.post("/api/v1/allocations/chairs", headers=h, json={**CHAIR, "hours": 10})
    assert r.status_code == 201, r.text
    return {}


# --- the table --------------------------------------------------------------------------------

CHAIR = {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "hours": 1, "reason": "x"}
PROJECT = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 1, "reason": "x"}
TRANSFER = {
    "pool_id": "nat",
    "period": "2026Q4",
    "from_project": "p1",
    "to_project": "p1b",
    "hours": 1,
    "reason": "x",
}
ADJUST = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 1, "reason": "x"}
REQUEST = {
    "project_id": "p1",
    "pool_id": "nat",
    "periods": [{"period": "2026Q4", "hours": 5}],
    "justification": "experiments",
}
LOCAL_POOL = {
    "id": "loc2",
    "name": "second local cluster",
    "kind": "local",
    "inventory": [{"gpu_type": "a100", "count": 1}],
}
NEW_PROJECT = {"id": "p9", "chair_id": "chair-a", "name": "Project 9", "pi": "alice"}
RATE = {"gpu_type": "a100", "rate": 1, "effective_from": "2026-01-01T00:00:00Z"}
SHAPE = {"partition": "gpu", "gpus": 4, "cpus": 64, "mem_mb": 512_000}
ACCOUNT = {"cluster": "enact-dev", "account": "acct-p9"}


@dataclass(frozen=True)
class Bad:
    """One refused call: what is sent, and the status, field and reason expected back."""

    id: str
    method: str
    path: str
    status: int
    field: str | None
    reason: str
    json: Any = _ABSENT
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    user: str = "admin"
    setup: Setup | None = None


def case(bad: Bad) -> Any:
    return pytest.param(bad, id=bad.id)


def post(
    name: str, path: str, body: Any, status: int, field: str | None, reason: str, **kw: Any
) -> Any:
    return case(Bad(name, "POST", path, status, field, reason, json=body, **kw))


def get(name: str, path: str, status: int, field: str | None, reason: str, **kw: Any) -> Any:
    return case(Bad(name, "GET", path, status, field, reason, **kw))


A = "/api/v1/allocations/chairs"
P = "/api/v1/allocations/projects"
T = "/api/v1/transfers"
ADJ = "/api/v1/adjustments"
R = "/api/v1/requests"
BIG = int("9" * 400)


def snapshot(services: Services) -> dict[str, list[Any]]:
    """Everything a refused call must leave untouched, read straight from the database."""
    with services.uow() as uow:
        return {
            "journal": list(uow.ledger.entries()),
            "audit": list(uow.audit.list()),
            "requests": list(uow.requests.list()),
            "pools": list(uow.pools.list()),
            "chairs": list(uow.chairs.list()),
            "projects": list(uow.projects.list()),
        }


def check_refused(client: TestClient, services: Services, world: World, bad: Bad) -> dict[str, Any]:
    """Send ``bad`` (after its setup) and check the refusal and that nothing changed."""
    context = bad.setup(client, auth(world, "admin")) if bad.setup else {}
    kwargs: dict[str, Any] = {"headers": {**auth(world, bad.user), **bad.headers}}
    if bad.json is not _ABSENT:
        kwargs["json"] = bad.json
    if bad.content is not None:
        kwargs["content"] = bad.content
    before = snapshot(services)
    r = client.request(bad.method, bad.path.format(**context), **kwargs)
    after = snapshot(services)

    assert r.status_code == bad.status, r.text
    assert r.headers["content-type"] == "application/json", r.text
    error = r.json()["error"]
    assert error["code"] == CODES[bad.status], error
    assert error["field"] == bad.field, error
    assert bad.reason in error["message"], error
    assert after == before, "a refused call changed the stored state"
    return error
