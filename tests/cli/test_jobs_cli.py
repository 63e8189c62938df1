""" "My jobs": ``gpuhours jobs`` and ``GET /api/v1/jobs``, on the demo organisation — the jobs
charged to one's own projects, the same ones the reconciliation shows behind each line."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import build
from connectors.http.app import create_app
from connectors.settings import Settings
from connectors.tokens import mint_token
from tests.cli.test_cli import Cli, _demo_template, current_period, demo, one_error_line

__all__ = ["_demo_template", "demo"]  # fixtures


@pytest.fixture
def api(demo: Cli) -> Iterator[tuple[TestClient, dict[str, str]]]:
    services = build(Settings(database_url=demo.url))
    now = datetime.now(UTC)
    headers = {
        user: {"Authorization": f"Bearer {mint_token(services.session_factory, user, now)}"}
        for user in ("alice", "admin")
    }
    try:
        with TestClient(create_app(services=services)) as client:
            yield client, headers
    finally:
        services.engine.dispose()


def key(job: dict[str, Any]) -> tuple[str, str, str, int]:
    return job["project_id"], job["pool_id"], job["cluster"], job["job_id"]


def test_a_projects_jobs_are_the_jobs_behind_its_reconciliation_lines(demo: Cli) -> None:
    period = current_period()
    jobs = demo.json("jobs", "--project", "proj-thesis-01", "--period", period)
    assert jobs and {j["project_id"] for j in jobs} == {"proj-thesis-01"}
    for pool in {j["pool_id"] for j in jobs}:
        behind = demo.json(
            "reconcile", "--pool", pool, "--period", period, "--jobs", "proj-thesis-01"
        )
        mine = [j for j in jobs if j["pool_id"] == pool]
        assert [(j["cluster"], j["job_id"], j["units"]) for j in mine] == [
            (j["cluster"], j["job_id"], j["units"]) for j in behind
        ]
    assert demo.json("jobs", "--project", "proj-thesis-01") == jobs  # the current period


def test_a_researchers_jobs_are_those_of_her_projects_only(
    api: tuple[TestClient, dict[str, str]],
) -> None:
    client, headers = api
    listed = client.get("/api/v1/projects", headers=headers["alice"]).json()["items"]
    projects = {p["id"] for p in listed}
    r = client.get("/api/v1/jobs?limit=1000", headers=headers["alice"])  # one page: all of them
    assert r.status_code == 200, r.text
    assert r.json()["next"] is None
    jobs = r.json()["items"]
    assert jobs and {j["project_id"] for j in jobs} <= projects
    everyone = set()
    for project in projects:
        q = client.get(f"/api/v1/jobs?project_id={project}&limit=1000", headers=headers["admin"])
        everyone |= {key(j) for j in q.json()["items"]}
    assert {key(j) for j in jobs} == everyone

    other = client.get("/api/v1/jobs?project_id=proj-climate-01", headers=headers["alice"])
    assert other.status_code == 404 and other.json()["error"]["field"] == "project_id"
    staff = client.get("/api/v1/jobs", headers=headers["admin"])
    assert staff.status_code == 422 and staff.json()["error"]["field"] == "project_id"
    limited = client.get("/api/v1/jobs?limit=3", headers=headers["alice"])
    assert len(limited.json()["items"]) == 3 and limited.json()["next"]


def test_jobs_without_a_project_on_the_server_host_is_one_line(demo: Cli) -> None:
    line = one_error_line(demo("jobs"))
    assert line.startswith("gpuhours: error: project_id: name a project")
    line = one_error_line(demo("jobs", "--project", "proj-thesis-01", "--period", "2026-10"))
    assert line.startswith("gpuhours: error: period: ")
