"""Who scrapes what, and the HTTP latency histogram: an anonymous scrape gets only the process
and health families, a scraper's (engineer's, admin's) token everything, any other token a
401/403; the latency histogram is labelled by route template, every label bounded.
"""

from __future__ import annotations

from fastapi.testclient import TestClient

from allocator.model import Role
from connectors.bootstrap import Services
from connectors.http.app import create_app
from tests.ops.metrics_support import (
    BUSINESS_LABELS,
    samples,
    scrape,
    scrape_token,
)


def test_http_latency_is_labelled_by_route_template(sqlite_services: Services) -> None:
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/api/v1/projects/proj-thesis-01/balances")  # 401: no token
        c.get("/api/v1/projects/another/balances")
        c.get("/no/such/path/123")
        c.get("/api/v1/openapi.json")
        found = samples(c.get("/metrics").text)
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["code"]): s.value
        for s in found
        if s.name == "gpuhours_http_request_duration_seconds_count"
    }
    assert counts == {
        ("GET", "/api/v1/projects/{project_id}/balances", "401"): 2,
        ("GET", "<unmatched>", "404"): 1,
        ("GET", "/api/v1/openapi.json", "200"): 1,
    }


def test_an_anonymous_scrape_gets_only_the_process_and_health_families(
    sqlite_services: Services,
) -> None:
    with TestClient(create_app(services=sqlite_services)) as c:
        c.get("/healthz")
        anonymous = samples(c.get("/metrics").text)
        full = samples(scrape(c, sqlite_services).text)
    assert [s for s in anonymous if BUSINESS_LABELS & set(s.labels)] == []
    names = {s.name for s in anonymous}
    assert "gpuhours_http_request_duration_seconds_count" in names
    assert "gpuhours_scheduler_leader" in names
    assert "process_cpu_seconds_total" in names
    assert not {n for n in names if n.startswith(("gpuhours_project_", "gpuhours_pool_"))}
    assert "gpuhours_project_allocated_gpu_seconds" in {s.name for s in full}
    assert any(BUSINESS_LABELS & set(s.labels) for s in full)


def test_who_may_scrape_the_business_families(sqlite_services: Services) -> None:
    sv = sqlite_services
    with TestClient(create_app(services=sv)) as c:
        for role, username in [(Role.SCRAPER, "prometheus"), (Role.ENGINEER, "eng-1")]:
            token = scrape_token(sv, role, username)
            r = c.get("/metrics", headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, (role, r.text)
            assert "gpuhours_project_allocated_gpu_seconds" in r.text, role
            assert r.headers["cache-control"] == "no-store"
        researcher = scrape_token(sv, Role.RESEARCHER, "res-1")
        r = c.get("/metrics", headers={"Authorization": f"Bearer {researcher}"})
        assert (r.status_code, r.json()["error"]["code"]) == (403, "forbidden")
        assert "gpuhours_" not in r.text
        for wrong in ("Bearer gph_not-a-token", "Basic cHJvbTpwcm9t", "Bearer "):
            r = c.get("/metrics", headers={"Authorization": wrong})
            assert (r.status_code, r.json()["error"]["code"]) == (401, "unauthenticated"), wrong
            assert r.headers["www-authenticate"] == "Bearer"


def test_made_up_methods_and_paths_add_no_series(sqlite_services: Services) -> None:
    """Every label of the latency histogram is bounded, whatever clients send."""

    def histogram_series(c: TestClient) -> set[tuple[str, ...]]:
        return {
            tuple(sorted(s.labels.items()))
            for s in samples(c.get("/metrics").text)
            if s.name.startswith("gpuhours_http_request_duration_seconds")
        }

    with TestClient(create_app(services=sqlite_services)) as c:
        c.request("FOO", "/healthz")
        c.request("FOO", "/no/such/path")
        c.get("/no/such/path")
        c.get("/metrics")
        before = histogram_series(c)
        for i in range(300):
            c.request(f"X{i}METHOD", "/healthz")
            c.request(f"Y{i}", f"/no/such/path/{i}")
            c.get(f"/random/{i}/{'a' * (i % 50)}")
        after = histogram_series(c)
        counts = {
            (s.labels["method"], s.labels["route"], s.labels["code"]): s.value
            for s in samples(c.get("/metrics").text)
            if s.name == "gpuhours_http_request_duration_seconds_count"
        }
    assert after == before
    assert counts[("other", "/healthz", "405")] == 301
    assert counts[("other", "<unmatched>", "404")] == 301
    assert counts[("GET", "<unmatched>", "404")] == 301
    assert {m for m, _r, _c in counts} <= {"GET", "other"}
