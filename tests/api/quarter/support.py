"""Requests of the quarter's API tests: upload a statement, read the reconciliation, decide.

Figures are worked out by hand from the recorded rig pair (see ``tests/quarter_support.py``):
our 128 / 19 / 87 GPU-seconds for nlp / health / thesis against sreport's direct usage.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from tests.api.conftest import auth
from tests.builders import World
from tests.quarter_support import (
    POOL,
)

STATEMENTS = "/api/v1/statements"
RECONCILIATION = "/api/v1/reconciliation"
DECISIONS = "/api/v1/reconciliation/decisions"
#: the header of an sreport statement
HEADER = "Cluster|Account|Login|Proper Name|TRES Name|Used\n"


def upload(
    client: TestClient,
    world: World,
    data: bytes,
    *,
    user: str = "admin",
    period: str = "2026Q4",
    fmt: str = "sreport",
    content_type: str = "text/plain",
    **params: str,
) -> Response:
    query = {"pool_id": POOL, "period": period, "format": fmt, **params}
    headers = {**auth(world, user), "Content-Type": content_type}
    return client.post(STATEMENTS, params=query, content=data, headers=headers)


def reconciliation(client: TestClient, world: World, **params: Any) -> dict[str, Any]:
    query = {"pool_id": POOL, "period": "2026Q4", **params}
    r = client.get(RECONCILIATION, params=query, headers=auth(world, "eng"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def lines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ln["project_id"]: ln for ln in body["lines"]}


def decide(client: TestClient, world: World, user: str = "admin", **fields: Any) -> Response:
    body = {"pool_id": POOL, "period": "2026Q4", "reason": "checked with the centre", **fields}
    return client.post(DECISIONS, json=body, headers=auth(world, user))
