"""``GET /metrics`` against the contract (``dashboards/METRICS.md``): ``promtool check metrics``
finds nothing to say about a real scrape; every family of the contract is in the scrape, with
exactly its labels, and nothing else named ``gpuhours_*`` is; the collector's own rendering
equals ``prometheus_client``'s; a collection is reused for a few seconds.
"""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from accounting.ingestion import UsageBatch, Window
from connectors.bootstrap import Services
from connectors.db.usage_store import SqlUsageStore
from connectors.http.app import create_app
from tests.conftest import NOW
from tests.ops import promql
from tests.ops.conftest import Promtool
from tests.ops.metrics_support import (
    H,
    Sample,
    record,
    samples,
    scrape,
    series,
)


def enforced(services: Services) -> None:
    """One scheduled enforcement run recorded (its families have data)."""
    runs = services.enforce_runs
    runs.last_run["enact-dev"] = NOW.timestamp()
    runs.differences["enact-dev"] = 2
    runs.applied["enact-dev"], runs.failed["enact-dev"], runs.skipped["enact-dev"] = 1, 0, 1


def test_promtool_check_metrics_finds_no_problem_in_a_scrape(
    sqlite_services: Services, promtool: Promtool
) -> None:
    sqlite_services.scheduler_status.last_success["ingest:enact-dev"] = NOW.timestamp()
    enforced(sqlite_services)
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        response = scrape(c, sqlite_services)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    result = promtool("check", "metrics", stdin=response.text)
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_the_scrape_has_every_family_of_the_contract_with_its_labels(
    sqlite_services: Services,
) -> None:
    sqlite_services.scheduler_status.last_success["ingest:enact-dev"] = NOW.timestamp()
    enforced(sqlite_services)
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        text = scrape(c, sqlite_services).text
    contract = promql.contract()
    found: dict[str, set[frozenset[str]]] = {}
    for s in samples(text):
        if s.name.startswith("gpuhours_"):
            found.setdefault(s.name, set()).add(frozenset(s.labels))
    assert sorted(set(found) - set(contract)) == []  # nothing outside the contract
    assert sorted(set(contract) - set(found)) == []  # every family has data
    wrong = {name: labels for name, labels in found.items() if labels != {contract[name]}}
    assert wrong == {}


def test_metrics_is_not_in_the_openapi_document_and_answers_without_a_token(
    client: TestClient,
) -> None:
    assert "/metrics" not in client.get("/api/v1/openapi.json").json()["paths"]
    assert client.get("/metrics").status_code == 200  # the anonymous families, see below


def test_the_exposition_equals_prometheus_clients_rendering_of_the_same_registry(
    sqlite_services: Services,
) -> None:
    """The collector renders its text itself; ``generate_latest`` of the registry (what the
    worker serves) says the same."""
    app = create_app(services=sqlite_services)
    metrics = app.state.metrics
    ours = [s for s in samples(metrics.exposition().decode()) if s.name.startswith("gpuhours_")]
    theirs = [
        s
        for s in samples(generate_latest(metrics.registry).decode())
        if s.name.startswith("gpuhours_")
    ]

    def normal(found: list[Sample]) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
        return sorted((s.name, tuple(sorted(s.labels.items())), float(s.value)) for s in found)

    assert len(ours) > 100
    assert normal(ours) == normal(theirs)


def test_the_cache_reuses_a_collection_for_a_few_seconds(sqlite_services: Services) -> None:
    sqlite_services.settings.metrics_cache_seconds = 60
    with TestClient(create_app(services=sqlite_services)) as c:
        before = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
        SqlUsageStore(sqlite_services.engine).store_window(
            "enact-dev",
            Window(int(NOW.timestamp()) - 86400, int(NOW.timestamp())),
            UsageBatch([record("enact-dev", 77, "law-01", int(NOW.timestamp()) - 9 * H, 8)]),
            int(NOW.timestamp()),
            None,
        )
        cached = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
    assert cached == before
    with TestClient(create_app(services=sqlite_services)) as c:  # a new app, a new cache
        after = series(
            samples(scrape(c, sqlite_services).text), "gpuhours_pool_consumed_gpu_seconds"
        )
    assert after[("enact-local",)] == before[("enact-local",)] + 8 * H
