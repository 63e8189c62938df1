"""The portal's requests are in ``/metrics``: the same latency histogram as the API's, each
labelled by its route template under ``/portal`` (never the raw path), every unknown path one
``<unmatched>`` label, whatever is asked."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from connectors.bootstrap import Services
from tests.web.inprocess import sign_in


def routes(client: TestClient) -> dict[str, float]:
    """Requests observed per route label (every method and code summed)."""
    text = client.get("/metrics").text
    seen: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "gpuhours_http_request_duration_seconds_count":
                seen[s.labels["route"]] = seen.get(s.labels["route"], 0) + s.value
    return seen


def test_portal_pages_are_observed_by_route_template(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    for _ in range(3):
        assert client.get("/portal/projects/p1").status_code == 200
    assert client.get("/portal/projects/p1b").status_code == 200
    for n in range(5):
        client.get(f"/portal/no-such-page-{n}")
    seen = routes(client)
    assert seen["/portal/projects/{project_id}"] == 4  # two projects, one template
    assert seen["/portal/signin"] >= 2  # the form, then the token posted
    assert not [r for r in seen if "p1" in r or "no-such-page" in r]
    assert seen["<unmatched>"] >= 5
