"""Enforcement in the portal without a Slurm at hand (the live plan and apply:
tests/integration/test_rig_enforce.py): the enforced clusters listed, a plan whose Slurm
cannot be read shown with the reason and nothing to apply, an unknown cluster not found,
researchers refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.settings import ClusterConfig, Settings
from tests.builders import seed_world
from tests.conftest import FixedClock
from tests.web.inprocess import client_of, sign_in


@pytest.fixture
def services(engine: Engine, clock: FixedClock, tmp_path: Path) -> Services:
    clusters = [
        ClusterConfig(name="planned", source="file", enforce="plan",
                      sacctmgr=str(tmp_path / "no-sacctmgr")),
        ClusterConfig(name="off", source="file", enforce="off"),
    ]  # fmt: skip
    settings = Settings(database_url=engine.url.render_as_string(False), clusters=clusters)
    sv = build(settings, engine=engine)
    sv.clock = clock
    seed_world(sv.uow(), clock())
    return sv


def signed(services: Services, who: str) -> TestClient:
    client = client_of(services)
    return sign_in(client, mint_token(services.session_factory, who, services.clock()))


def test_an_engineer_reads_the_plan_of_an_enforced_cluster(services: Services) -> None:
    with signed(services, "eng") as client:
        listing = client.get("/portal/enforcement").text
        assert 'href="/portal/enforcement/planned"' in listing and "/enforcement/off" not in listing
        page = client.get("/portal/enforcement/planned")
        assert page.status_code == 200
        assert "Slurm could not be read" in page.text and "no-sacctmgr" in page.text
        assert "Apply the differences" not in page.text  # plan only, and an engineer
        assert client.get("/portal/enforcement/off").status_code == 404
        assert client.get("/portal/enforcement/nosuch").status_code == 404


def test_a_researcher_is_refused_enforcement(services: Services) -> None:
    with signed(services, "alice") as client:
        assert client.get("/portal/enforcement").status_code == 403
        assert client.get("/portal/enforcement/planned").status_code == 403
