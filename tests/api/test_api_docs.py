"""The API documentation works offline: gpuhours serves Swagger UI from an installed package.

The page names no other origin; the files it loads come from the ``fastapi-offline`` wheel
(``connectors/http/docs.py``); ``/`` leads to it. That a browser renders it with the network
cut is ``tests/api/test_docs_in_a_browser.py``.
"""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from connectors.http.docs import SWAGGER_UI


def test_the_docs_page_names_no_other_origin(client: TestClient) -> None:
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "http" not in r.text.lower()  # no http:// or https:// URL, no CDN
    assert "<script>" not in r.text  # no inline script: the CSP allows 'self' only
    assert 'data-openapi-url="/api/v1/openapi.json"' in r.text


def test_everything_the_docs_page_loads_is_served_by_gpuhours(client: TestClient) -> None:
    page = client.get("/api/v1/docs").text
    urls = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert len(urls) == 4  # icon, style sheet, Swagger UI, the lines that start it
    for url in urls:
        assert url.startswith("/api/v1/docs/assets/"), url
        r = client.get(url)
        assert r.status_code == 200, url
        assert r.content, url
    bundle = client.get("/api/v1/docs/assets/swagger-ui-bundle.js")
    assert bundle.content == (SWAGGER_UI / "swagger-ui-bundle.js").read_bytes()  # the wheel's
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert (
        client.get("/api/v1/docs/assets/swagger-ui.css")
        .headers["content-type"]
        .startswith("text/css")
    )
    start = client.get("/api/v1/docs/assets/docs.js").text
    assert "SwaggerUIBundle(" in start and "http" not in start


def test_only_the_files_the_page_needs_are_served(client: TestClient) -> None:
    for name in ("redoc.standalone.js", "..%2F__init__.py", "core.py", "nosuch.js"):
        r = client.get(f"/api/v1/docs/assets/{name}")
        assert r.status_code == 404, name
        assert r.json()["error"]["code"] == "not_found"


def test_the_root_leads_to_the_docs_until_the_portal_exists(client: TestClient) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == "/api/v1/docs"
    assert client.get("/").status_code == 200


def test_the_docs_are_not_operations_of_the_api(client: TestClient) -> None:
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert not [p for p in paths if p == "/" or p.startswith("/api/v1/docs")]
