"""Enforcement over the API without a Slurm at hand (the live apply: tests/integration): an
unknown cluster is a 404, one whose enforcement is off (or plan-only, for an apply) a 409
naming ``cluster``, a researcher a 403; a plan whose Slurm cannot be read still answers, and
says why."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.settings import ClusterConfig, Settings
from tests.builders import World, seed_world
from tests.conftest import FixedClock


@pytest.fixture
def enforced(engine: Engine, clock: FixedClock, tmp_path: Path) -> tuple[TestClient, World]:
    clusters = [
        ClusterConfig(name="planned", source="file", enforce="plan",
                      sacctmgr=str(tmp_path / "no-sacctmgr")),
        ClusterConfig(name="off", source="file", enforce="off"),
    ]  # fmt: skip
    settings = Settings(database_url=engine.url.render_as_string(False), clusters=clusters)
    services: Services = build(settings, engine=engine)
    services.clock = clock
    world = seed_world(services.uow(), clock())
    from connectors.auth import mint_token

    world.tokens = {  # type: ignore[attr-defined]
        u: mint_token(services.session_factory, u, clock()) for u in ("admin", "eng", "alice")
    }
    return TestClient(create_app(services=services)), world


def _h(world: World, who: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[who]}"}  # type: ignore[attr-defined]


def test_a_plan_whose_slurm_cannot_be_read_answers_and_says_why(
    enforced: tuple[TestClient, World],
) -> None:
    client, world = enforced
    r = client.get("/api/v1/enforcement/planned/plan", headers=_h(world, "eng"))
    assert r.status_code == 200, r.text
    assert r.json()["changes"] == [] and "no-sacctmgr" in r.json()["read_error"]
    drift = client.get("/api/v1/enforcement/planned/drift", headers=_h(world, "eng"))
    assert drift.status_code == 200, drift.text
    assert "no-sacctmgr" in drift.json()["read_error"]


@pytest.mark.parametrize(
    ("method", "path", "who", "status", "field"),
    [
        ("GET", "/api/v1/enforcement/nosuch/plan", "admin", 404, "cluster"),
        ("GET", "/api/v1/enforcement/off/plan", "admin", 409, "cluster"),
        ("POST", "/api/v1/enforcement/planned/apply", "admin", 409, "cluster"),
        ("GET", "/api/v1/enforcement/planned/plan", "alice", 403, None),
        ("POST", "/api/v1/enforcement/planned/apply", "alice", 403, None),
        ("GET", "/api/v1/enforcement/planned/accounts/acct-x", "eng", 404, "account"),
        ("GET", "/api/v1/enforcement/off/drift", "admin", 409, "cluster"),
        ("GET", "/api/v1/enforcement/planned/drift", "alice", 403, None),
        (
            "GET",
            "/api/v1/enforcement/planned/drift?tolerance_percent=101",
            "eng",
            422,
            "tolerance_percent",
        ),
    ],
)
def test_enforcement_refusals_name_what_is_wrong(
    enforced: tuple[TestClient, World],
    method: str, path: str, who: str, status: int, field: str | None,
) -> None:  # fmt: skip
    client, world = enforced
    r = client.request(method, path, headers=_h(world, who))
    assert r.status_code == status, r.text
    if field:
        assert r.json()["error"]["field"] == field
