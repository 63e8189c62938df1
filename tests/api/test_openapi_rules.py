"""The OpenAPI document states the rules the API applies: the site's periods, the statement
upload's body, amounts and factors as the validation reads them, the rules between fields.

(Whether every request the document calls valid is accepted is checked by generating them:
``test_documented_inputs_are_accepted.py``.)
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.conftest import FixedClock


def _document(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return dict(r.json())


def _period_schemas(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The schema of every period the API takes: parameters, and properties of request bodies
    (``...In``); of an optional one, its string branch."""
    found = [
        p["schema"]
        for methods in doc["paths"].values()
        for op in methods.values()
        for p in op.get("parameters", [])
        if p["name"] == "period"
    ]
    found += [
        schema["properties"]["period"]
        for name, schema in doc["components"]["schemas"].items()
        if name.endswith("In") and "period" in schema.get("properties", {})
    ]
    return [next(o for o in s.get("anyOf", [s]) if o.get("type") == "string") for s in found]


def test_every_period_is_documented_as_a_quarter_of_this_site_within_five_years(
    client: TestClient,
) -> None:
    periods = _period_schemas(_document(client))
    assert len(periods) >= 20
    for schema in periods:
        pattern = re.compile(schema["pattern"])
        assert pattern.fullmatch("2026Q4") and pattern.fullmatch("2021Q1"), schema
        assert pattern.fullmatch("2031Q4"), schema
        for refused in ("2020Q4", "2032Q1", "2026-11", "2026", "0000", "2026Q5"):
            assert not pattern.fullmatch(refused), (refused, schema)
        assert "quarters, labelled like 2026Q3" in schema["description"]


def test_a_month_site_documents_months_and_the_document_follows_the_new_year(
    engine: Engine, clock: FixedClock
) -> None:
    settings = Settings(database_url=engine.url.render_as_string(False), period_scheme="month")
    services: Services = build(settings, engine=engine)
    services.clock = clock
    with TestClient(create_app(services=services)) as client:
        pattern = re.compile(
            _document(client)["components"]["schemas"]["TransferIn"]["properties"]["period"][
                "pattern"
            ]
        )
        assert pattern.fullmatch("2026-11") and pattern.fullmatch("2021-01")
        assert not pattern.fullmatch("2026Q4") and not pattern.fullmatch("2032-01")
        clock.now = datetime(2027, 1, 1, 9, tzinfo=UTC)
        later = _document(client)["components"]["schemas"]["TransferIn"]["properties"]
        assert re.fullmatch(later["period"]["pattern"], "2032-01")
        assert not re.fullmatch(later["period"]["pattern"], "2021-12")


def test_the_statement_upload_documents_its_file_in_each_media_type(client: TestClient) -> None:
    upload = _document(client)["paths"]["/api/v1/statements"]["post"]
    body = upload["requestBody"]
    assert body["required"] is True
    assert "413" in upload["responses"] and "415" in upload["responses"]
    content = body["content"]
    for media in ("text/csv", "text/plain", "application/octet-stream"):
        assert content[media]["schema"]["format"] == "binary", media
        assert content[media]["schema"]["minLength"] == 1
    form = content["multipart/form-data"]["schema"]
    assert form["required"] == ["file"]
    assert form["properties"]["file"]["format"] == "binary"
    assert content["text/csv"]["example"].startswith("project_account,hardware,period")
    mapped = {p["name"]: p for p in upload["parameters"]}
    assert "mapped-csv only" in mapped["map_account"]["description"]


def test_amounts_are_documented_as_the_validation_reads_them(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    number, text = schemas["ChairAllocationIn"]["properties"]["hours"]["anyOf"]
    assert number == {
        "type": "number",
        "multipleOf": 0.005,
        "exclusiveMinimum": 0,
        "maximum": 1_000_000_000,
    }
    for written in ("1", "2.5", "0.005", "1000000000"):
        assert re.fullmatch(text["pattern"], written), written
    for written in ("0", "0.001", "1000000001", "1e3", " 1", "-1", "2.5001"):
        assert not re.fullmatch(text["pattern"], written), written
    adjustment = schemas["AdjustmentIn"]["properties"]["hours"]["anyOf"]
    assert adjustment[0]["not"] == {"const": 0} and re.fullmatch(adjustment[1]["pattern"], "-2")
    rate = schemas["RateIn"]["properties"]["rate"]
    assert rate == {
        "type": "number",
        "multipleOf": 0.001,
        "exclusiveMinimum": 0,
        "maximum": 1000,
        "title": "Rate",
    }


def test_the_rules_between_fields_are_stated(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    pool = {
        rule["if"]["properties"]["kind"]["const"]: rule["then"]
        for rule in schemas["PoolIn"]["allOf"]
    }
    assert pool["national"]["required"] == ["valid_from", "valid_until"]
    assert pool["local"]["required"] == ["inventory"]
    assert pool["local"]["properties"]["grant_hours"] == {"type": "null"}
    assert schemas["PoolIn"]["properties"]["id"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]*$"
    token = schemas["TokenIn"]
    assert token["not"] if "not" in token else token["allOf"][0]["not"]
    decision = {
        rule["if"]["properties"]["action"]["const"]: rule["then"]
        for rule in schemas["DecisionIn"]["allOf"]
    }
    assert decision["adjust"]["required"] == ["hours"]
    granted = next(
        o
        for o in schemas["ApproveIn"]["properties"]["granted"]["anyOf"]
        if o.get("type") == "array"
    )
    assert granted["minItems"] == 1 and "contains" in granted
