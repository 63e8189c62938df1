"""Where a documented schema was looser than the validation, the two now say the same: a
justification or comment with something in it, a separator the statement reader takes, the
kinds one chooses a mode for; an unknown user in a path is a 404 as for every unknown thing
in a path; a grant's window lies in the periods the site counts (the years of every period
label's pattern), refused naming the field the window came from, nothing written."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from accounting.statements import SEPARATOR_PATTERN, SEPARATORS
from allocator.notices import Kind
from connectors.bootstrap import Services
from connectors.http.schemas.values import NOT_BLANK
from tests.api.conftest import auth
from tests.builders import World


class _Text(BaseModel):
    text: str = Field(pattern=NOT_BLANK)


def test_not_blank_reads_white_space_as_the_services_strip_does() -> None:
    """The pattern (checked by pydantic's Rust regex) and ``str.strip`` (the use cases' check)
    agree on every character of the Basic Multilingual Plane."""
    disagree = []
    for code in range(1, 0x10000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        try:
            _Text(text=char)
            accepted = True
        except ValidationError:
            accepted = False
        if accepted != bool(char.strip()):
            disagree.append(hex(code))
    assert disagree == []


def test_the_separator_pattern_accepts_exactly_the_separators_the_reader_takes() -> None:
    accepted = "".join(chr(c) for c in range(0x3000) if re.fullmatch(SEPARATOR_PATTERN, chr(c)))
    assert accepted == SEPARATORS
    assert {",", ";", "\t", "|"} <= set(SEPARATORS)
    assert not {'"', "a", "7", "\n", "Ì"} & set(SEPARATORS)


def _request(justification: str) -> dict[str, Any]:
    return {
        "project_id": "p1",
        "pool_id": "nat",
        "periods": [{"period": "2026Q4", "hours": 3}],
        "justification": justification,
    }


@pytest.mark.parametrize("blank", [" ", "\t\n", " \x1c\x1f", "\u3000"])
def test_a_blank_justification_is_refused_by_the_schema_naming_it(
    client: TestClient, world: World, blank: str
) -> None:
    r = client.post("/api/v1/requests", json=_request(blank), headers=auth(world, "alice"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "justification"
    doc = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    assert doc["RequestIn"]["properties"]["justification"]["pattern"] == NOT_BLANK


def test_a_separator_the_reader_refuses_is_refused_naming_delimiter(
    client: TestClient, world: World
) -> None:
    r = client.post(
        "/api/v1/statements",
        params={"pool_id": "nat", "period": "2026Q3", "format": "mapped-csv", "delimiter": "Ì"},
        content=b"account,gpu_seconds\nacct,1\n",
        headers={**auth(world, "admin"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "delimiter"


def test_the_digest_is_no_kind_one_chooses_and_the_document_says_so(
    client: TestClient, world: World
) -> None:
    r = client.put(
        "/api/v1/me/notifications/digest",
        json={"channel": "email", "mode": "off"},
        headers=auth(world, "alice"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "kind"
    doc = client.get("/api/v1/openapi.json").json()
    [kind] = [
        p
        for p in doc["paths"]["/api/v1/me/notifications/{kind}"]["put"]["parameters"]
        if p["name"] == "kind"
    ]
    schema = kind["schema"]
    if "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    assert set(schema["enum"]) == {k.value for k in Kind} - {"digest"}
    ok = client.put(
        "/api/v1/me/notifications/request.commented",
        json={"mode": "digest"},
        headers=auth(world, "alice"),
    )
    assert ok.status_code == 200, ok.text


def test_an_unknown_user_in_the_path_is_a_404_naming_username(
    client: TestClient, world: World
) -> None:
    for method, path in [
        ("GET", "/api/v1/users/nobody/notifications"),
        ("PUT", "/api/v1/users/nobody/notifications/request.commented"),
    ]:
        r = client.request(method, path, json={"mode": "off"}, headers=auth(world, "admin"))
        assert r.status_code == 404, r.text
        assert r.json()["error"]["field"] == "username"


def _journal(services: Services) -> int:
    with services.uow() as uow:
        return len(uow.ledger.entries())


@pytest.mark.parametrize(
    ("valid_from", "valid_until", "field"),
    [
        ("0108-01-14T09:57:28Z", "2026-12-31T00:00:00Z", "valid_from"),
        ("2026-10-01T00:00:00Z", "2099-01-01T00:00:00Z", "valid_until"),
    ],
    ids=["from-year-108", "until-2099"],
)
def test_a_grant_outside_the_sites_periods_is_refused_naming_where_its_window_came_from(
    client: TestClient,
    world: World,
    services: Services,
    valid_from: str,
    valid_until: str,
    field: str,
) -> None:
    before = _journal(services)
    body = {
        "id": "far",
        "name": "Far",
        "kind": "national",
        "valid_from": valid_from,
        "valid_until": valid_until,
        "grant_hours": 1000,
    }
    r = client.post("/api/v1/pools", json=body, headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
    assert "outside this site's periods" in r.json()["error"]["message"]
    assert _journal(services) == before
    assert client.get("/api/v1/pools/far", headers=auth(world, "admin")).status_code == 404
    without_grant = {k: v for k, v in body.items() if k != "grant_hours"}
    r = client.post("/api/v1/pools", json=without_grant, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text  # a validity alone deposits nothing


def test_a_grant_window_given_outside_the_sites_periods_is_refused_naming_start(
    client: TestClient, world: World, services: Services
) -> None:
    body = {
        "id": "long",
        "name": "Long",
        "kind": "national",
        "valid_from": "1990-01-01T00:00:00Z",
        "valid_until": "2027-01-01T00:00:00Z",
    }
    assert client.post("/api/v1/pools", json=body, headers=auth(world, "admin")).is_success
    before = _journal(services)
    grant = {"hours": 10, "reason": "old", "start": "1990-01-01T00:00:00Z"}
    r = client.post("/api/v1/pools/long/grants", json=grant, headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "start"
    assert _journal(services) == before
    grant["start"] = "2026-10-01T00:00:00Z"
    r = client.post("/api/v1/pools/long/grants", json=grant, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text


def test_a_file_name_with_a_control_character_is_refused_by_the_schema_naming_it(
    client: TestClient, world: World
) -> None:
    r = client.post(
        "/api/v1/statements",
        params={
            "pool_id": "nat",
            "period": "2026Q3",
            "format": "national-csv",
            "file_name": "a\x11b",
        },
        content=b"",
        headers={**auth(world, "admin"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "file_name"
    doc = client.get("/api/v1/openapi.json").json()
    [param] = [
        p
        for p in doc["paths"]["/api/v1/statements"]["post"]["parameters"]
        if p["name"] == "file_name"
    ]
    assert "pattern" in str(param["schema"])


def test_every_required_reason_is_documented_and_checked_as_not_blank(
    client: TestClient, world: World
) -> None:
    schemas = client.get("/api/v1/openapi.json").json()["components"]["schemas"]
    reasons = {
        name: schema["properties"]["reason"]
        for name, schema in schemas.items()
        if name.endswith("In")  # what a caller sends, not what the API answers
        and "reason" in schema.get("properties", {})
        and "reason" in schema.get("required", [])
    }
    assert len(reasons) >= 8, sorted(reasons)
    assert {name for name, r in reasons.items() if r.get("pattern") != NOT_BLANK} == set()
    r = client.post(
        "/api/v1/pools/nat/overcommit",
        json={"factor": 1.5, "reason": " \x1d"},
        headers=auth(world, "admin"),
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "reason"
