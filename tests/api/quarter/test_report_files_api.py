"""``GET /api/v1/reports/{period}`` as files: each format has its own file name, says whether
the period is open or closed, and shows the close's figures only once it happened (both
backends)."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from connectors.http.report_schemas import ReportOut
from tests.api.conftest import auth
from tests.builders import World
from tests.quarter_support import POOL

REPORT = "/api/v1/reports/{period}"


def allocate(client: TestClient, world: World, period: str, hours: str) -> None:
    h = auth(world, "admin")
    for path, body in (
        ("chairs", {"chair_id": "rig-chair"}),
        ("projects", {"project_id": "nlp"}),
    ):
        r = client.post(
            f"/api/v1/allocations/{path}",
            json={"pool_id": POOL, "period": period, "hours": hours, "reason": "q", **body},
            headers=h,
        )
        assert r.status_code == 201, r.text


def formats(client: TestClient, world: World, period: str) -> dict[str, str]:
    """Each format's text; checks its Content-Disposition names a file of that format."""
    out, names = {}, set()
    for fmt in ("json", "csv", "html"):
        r = client.get(
            REPORT.format(period=period), params={"format": fmt}, headers=auth(world, "eng")
        )
        assert r.status_code == 200, r.text
        disposition = r.headers["content-disposition"]
        assert disposition.endswith(f'; filename="gpuhours-{period}.{fmt}"'), disposition
        names.add(disposition.split("filename=")[1])
        out[fmt] = r.text
    assert len(names) == 3  # curl -OJ saves each under its own name
    return out


def test_an_open_report_says_open_and_shows_no_close_forecast_in_any_format(
    client: TestClient, rig: World
) -> None:
    allocate(client, rig, "2026Q4", "2")  # nlp: 2 h, 128 s used: what a close would expire
    texts = formats(client, rig, "2026Q4")
    doc = json.loads(texts["json"])
    assert doc["state"] == "open"
    ReportOut.model_validate_json(texts["json"], strict=True)  # the documented schema, exactly
    nlp = next(row for row in doc["rows"] if row["project"] == "nlp")
    assert (nlp["consumed"], nlp["consumed_hours"]) == (128, 0.036)
    assert (nlp["expired"], nlp["expired_hours"], nlp["carried"]) == (None, None, None)
    rows = list(csv.DictReader(io.StringIO(texts["csv"])))
    assert {row["state"] for row in rows} == {"open"}
    assert {row["expired_hours"] for row in rows} == {""}
    assert 'data-state="open"' in texts["html"] and "<th>expired</th>" not in texts["html"]


def test_a_closed_report_says_closed_and_shows_what_the_close_did_in_every_format(
    client: TestClient, rig: World
) -> None:
    allocate(client, rig, "2026Q3", "4")
    h = auth(rig, "admin")
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "signed off"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-disposition"] == 'inline; filename="gpuhours-2026Q3.json"'
    texts = formats(client, rig, "2026Q3")
    assert texts["json"] == r.text
    doc = json.loads(texts["json"])
    assert doc["state"] == "closed"
    ReportOut.model_validate_json(texts["json"], strict=True)
    nlp = next(row for row in doc["rows"] if row["project"] == "nlp")
    assert (nlp["expired"], nlp["expired_hours"]) == (4 * 3600, 4.0)  # nothing used in Q3
    [csv_nlp] = [r for r in csv.DictReader(io.StringIO(texts["csv"])) if r["project"] == "nlp"]
    assert (csv_nlp["state"], csv_nlp["expired_hours"]) == ("closed", "4.00")
    assert 'data-state="closed"' in texts["html"]
    assert "<th>expired</th>" in texts["html"] and "expired 4.00 h" in texts["html"]
