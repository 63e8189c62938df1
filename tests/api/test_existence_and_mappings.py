"""No existence leak: a 404 for what the caller may not see names nothing beyond what the
caller sent. Mappings validated: a Slurm account mapping names a cluster gpuhours knows
(configured, or routed by a pool), else a 422 listing the known ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from connectors.http.app import create_app
from connectors.settings import ClusterConfig
from tests.api.conftest import auth
from tests.builders import World


def _bobs_request(client: TestClient, world: World) -> int:
    body = {
        "project_id": "p2",
        "pool_id": "nat",
        "periods": [{"period": "2026Q4", "hours": 10}],
        "justification": "bob's training run",
    }
    r = client.post("/api/v1/requests", json=body, headers=auth(world, "bob"))
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("post", "/comments", {"text": "what is this?"}),
        ("post", "/withdraw", {"reason": "not mine"}),
        ("post", "/withdraw", None),
    ],
)
def test_anothers_request_reads_as_unknown_and_names_only_its_id(
    client: TestClient, world: World, method: str, suffix: str, body: object
) -> None:
    rid = _bobs_request(client, world)
    r = client.request(
        method, f"/api/v1/requests/{rid}{suffix}", json=body, headers=auth(world, "alice")
    )
    assert r.status_code == 404, r.text
    error = r.json()["error"]
    assert error["field"] == "request_id"
    assert error["message"] == f"unknown request {rid}"
    assert "p2" not in r.text and "nat" not in r.text and "bob" not in r.text
    # ... exactly what an id that does not exist answers
    missing = client.request(
        method, f"/api/v1/requests/{rid + 100}{suffix}", json=body, headers=auth(world, "alice")
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"unknown request {rid + 100}"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/projects/p2",
        "/api/v1/projects/p2/balances",
        "/api/v1/chairs/chair-b/balances",
        "/api/v1/chairs/chair-b/balances?pool_id=nat",
        "/api/v1/projects/p2/balances?pool_id=nope",
    ],
)
def test_invisible_projects_and_chairs_read_as_unknown(
    client: TestClient, world: World, path: str
) -> None:
    r = client.get(path, headers=auth(world, "alice"))
    assert r.status_code == 404, r.text
    named = path.split("/")[4].split("?")[0]
    assert r.json()["error"]["message"].endswith(f"{named!r}")
    assert "bob" not in r.text and "Chair B" not in r.text and "Project 2" not in r.text


def test_anothers_token_reads_as_unknown(client: TestClient, world: World) -> None:
    mine = client.get("/api/v1/tokens", headers=auth(world, "bob")).json()["items"]
    token_id = mine[0]["id"]
    r = client.post(f"/api/v1/tokens/{token_id}/revoke", headers=auth(world, "alice"))
    assert r.status_code == 404, r.text
    assert r.json()["error"]["message"] == f"unknown token {token_id}"
    assert "bob" not in r.text


# --- Slurm account mappings -------------------------------------------------------------------


def test_a_mapping_on_an_unknown_cluster_is_refused_listing_the_known_ones(
    client: TestClient, world: World
) -> None:
    h = auth(world, "eng")
    before = client.get("/api/v1/projects/p1", headers=h).json()
    r = client.post(
        "/api/v1/projects/p1/slurm-accounts",
        json={"cluster": "nosuch-cluster", "account": "acct"},
        headers=h,
    )
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["field"] == "cluster"
    # the world's pools route jean-zay (national) and enact-dev (local); none is configured
    assert error["message"] == (
        "cluster: 'nosuch-cluster' is not a cluster gpuhours knows (configured, or routed by a"
        " pool); known clusters: enact-dev, jean-zay"
    )
    assert client.get("/api/v1/projects/p1", headers=h).json() == before


def test_a_pool_name_is_not_a_cluster(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/projects/p1/slurm-accounts",
        json={"cluster": "nat", "account": "acct"},
        headers=auth(world, "eng"),
    )
    assert r.status_code == 422, r.text
    assert "'nat' is not a cluster gpuhours knows" in r.json()["error"]["message"]


def test_a_project_created_with_a_mapping_on_an_unknown_cluster_is_refused(
    client: TestClient, world: World
) -> None:
    body = {
        "id": "p9",
        "chair_id": "chair-a",
        "name": "Project 9",
        "pi": "alice",
        "slurm_accounts": [{"cluster": "nosuch", "account": "acct"}],
    }
    r = client.post("/api/v1/projects", json=body, headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "slurm_accounts"
    assert "known clusters: enact-dev, jean-zay" in r.json()["error"]["message"]
    assert client.get("/api/v1/projects/p9", headers=auth(world, "admin")).status_code == 404


@pytest.fixture
def configured(services: Services) -> Iterator[TestClient]:
    """The service with one configured cluster that no pool routes (its usage is ingested
    before any pool draws from it)."""
    services.settings.clusters = [ClusterConfig(name="enact-new", source="file")]
    with TestClient(create_app(services=services)) as c:
        yield c


def test_a_mapping_on_a_configured_or_routed_cluster_is_accepted(
    configured: TestClient, world: World
) -> None:
    h = auth(world, "eng")
    for cluster in ("enact-new", "jean-zay"):
        r = configured.post(
            "/api/v1/projects/p1/slurm-accounts",
            json={"cluster": cluster, "account": "acct-new"},
            headers=h,
        )
        assert r.status_code == 200, r.text
        assert {"cluster": cluster, "account": "acct-new"} in r.json()["slurm_accounts"]
    r = configured.post(
        "/api/v1/projects/p1/slurm-accounts",
        json={"cluster": "other", "account": "acct"},
        headers=h,
    )
    assert "known clusters: enact-dev, enact-new, jean-zay" in r.json()["error"]["message"]
