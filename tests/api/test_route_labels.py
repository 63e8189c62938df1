"""Every documented API route keeps its full template as the request latency histogram's
``route`` label, whichever module of the face declares it (``/api/v1/burn``, not ``/burn``)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from connectors.bootstrap import Services
from connectors.http.app import create_app


def test_every_documented_route_is_labelled_by_its_full_template(services: Services) -> None:
    app = create_app(services=services)
    with TestClient(app) as client:
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        templates = {p for p in paths if p.startswith("/api/v1/")}
        for path in sorted(templates):  # without a token: refused, but routed
            method = sorted(paths[path])[0]
            client.request(method.upper(), path.replace("{", "").replace("}", ""))
        text = client.get("/metrics").text
    labels = {
        s.labels["route"]
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "gpuhours_http_request_duration_seconds_count"
    }
    assert labels - {"/api/v1/openapi.json"} == templates
