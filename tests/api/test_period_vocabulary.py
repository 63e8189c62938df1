"""One period vocabulary: every period the API takes is a label of the site's scheme, near today.

With the quarter scheme (the default), a month label (``2026-10``), a year label (``2026``) or a
quarter far from today (``0001Q1``, ``9999Q4``) is refused with a 422 naming the field, the
scheme and an example, and changes nothing: no capacity deposit, no allocation, no request.
The last test enumerates every operation of the OpenAPI document that takes a period, so that a
new endpoint cannot forget the rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from accounting import services as acc
from allocator import services as svc
from allocator.periods import Calendar, PeriodScheme
from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.http.app import create_app
from connectors.http.routes import PERIOD_PATTERN
from connectors.settings import Settings
from tests.api.conftest import auth
from tests.builders import ADMIN, ALICE, CAL, H, World, seed_world
from tests.conftest import FixedClock

#: A month, a year, and quarters of the first and the last representable years.
BAD_LABELS = ["2026-10", "2026", "0001Q1", "9999Q4"]
OTHER_SCHEMES = ["2026", "2026-10", "2026-11", "2027-02", "2026-08"]
FAR_OFF = ["0001Q1", "1970Q1", "2020Q4", "2032Q1", "9999Q4"]


def chair_allocation(period: str, pool_id: str = "loc") -> dict[str, Any]:
    return {"pool_id": pool_id, "chair_id": "chair-a", "period": period, "hours": 1, "reason": "x"}


def journal(client: TestClient, world: World) -> list[dict[str, Any]]:
    r = client.get("/api/v1/journal", headers=auth(world, "admin"))
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def assert_refused(r: Any, field: str, label: str) -> None:
    assert r.status_code == 422, (label, r.text)
    error = r.json()["error"]
    assert error["field"] == field, (label, error)
    assert error["message"].startswith(f"{field}: "), error
    assert label in error["message"] and "quarter" in error["message"], error
    assert "2026Q3" in error["message"] or "2021Q1 to 2031Q4" in error["message"], error


# --- what was found ---------------------------------------------------------------------------


@pytest.mark.parametrize("label", OTHER_SCHEMES + FAR_OFF)
def test_a_quarter_site_refuses_other_labels_for_an_allocation_and_deposits_nothing(
    client: TestClient, world: World, label: str
) -> None:
    before = journal(client, world)
    for pool_id in ("loc", "nat"):
        r = client.post(
            "/api/v1/allocations/chairs",
            json=chair_allocation(label, pool_id),
            headers=auth(world, "admin"),
        )
        assert_refused(r, "period", label)
    # no local capacity deposited for a month or a year: the local cluster is not allocated twice
    assert journal(client, world) == before


def test_the_same_hours_cannot_be_allocated_twice_through_a_month_and_its_quarter(
    client: TestClient, world: World
) -> None:
    h = auth(world, "admin")
    r = client.post("/api/v1/allocations/chairs", json=chair_allocation("2026Q4"), headers=h)
    assert r.status_code == 201, r.text
    deposits = [
        e for e in journal(client, world) if e["kind"] == "deposit" and e["pool_id"] == "loc"
    ]
    assert [e["period"] for e in deposits] == ["2026Q4"]
    for month in ("2026-10", "2026-11", "2026-12"):
        r = client.post("/api/v1/allocations/chairs", json=chair_allocation(month), headers=h)
        assert r.status_code == 422, r.text
    after = [e for e in journal(client, world) if e["kind"] == "deposit" and e["pool_id"] == "loc"]
    assert after == deposits


def test_a_closed_quarter_cannot_be_reached_through_one_of_its_months(
    services: Services, client: TestClient, world: World, clock: FixedClock
) -> None:
    acc.close_period(services.uow(), ADMIN, clock(), "2026Q3", "signed off", calendar=CAL)
    h = auth(world, "admin")
    before = journal(client, world)
    r = client.post("/api/v1/allocations/chairs", json=chair_allocation("2026-08"), headers=h)
    assert_refused(r, "period", "2026-08")
    r = client.post("/api/v1/allocations/chairs", json=chair_allocation("2026Q3"), headers=h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "period", r.text
    assert journal(client, world) == before


def test_a_request_for_a_month_is_refused_at_once_instead_of_never_approvable(
    client: TestClient, world: World
) -> None:
    body = {
        "project_id": "p1",
        "pool_id": "nat",
        "periods": [{"period": "2027-02", "hours": 5}],
        "justification": "February runs",
    }
    r = client.post("/api/v1/requests", json=body, headers=auth(world, "alice"))
    assert_refused(r, "periods", "2027-02")
    assert client.get("/api/v1/requests", headers=auth(world, "admin")).json()["items"] == []


def test_reads_refuse_another_scheme_too(client: TestClient, world: World) -> None:
    r = client.get("/api/v1/balances", params={"period": "2026-10"}, headers=auth(world, "admin"))
    assert_refused(r, "period", "2026-10")


def test_a_month_site_speaks_months(engine: Engine, clock: FixedClock) -> None:
    settings = Settings(database_url=engine.url.render_as_string(False), period_scheme="month")
    services = build(settings, engine=engine)
    services.clock = clock
    assert services.settings.calendar == Calendar(PeriodScheme.MONTH)
    world = seed_world(services.uow(), clock(), calendar=services.settings.calendar)
    token = mint_token(services.session_factory, "admin", clock())
    h = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(services=services)) as client:
        r = client.post("/api/v1/allocations/chairs", json=chair_allocation("2026-11"), headers=h)
        assert r.status_code == 201, r.text
        r = client.post("/api/v1/allocations/chairs", json=chair_allocation("2026Q4"), headers=h)
        assert r.status_code == 422, r.text
        assert "months, labelled like 2026-07" in r.json()["error"]["message"]
        r = client.get("/api/v1/balances", params={"period": "2026-11"}, headers=h)
        assert r.status_code == 200, r.text
    # the national grant was split by month
    with services.uow() as uow:
        months = {e.period for e in uow.ledger.entries(pool_id=world.national.id)}
    assert {"2026-05", "2026-11", "2027-04"} <= months


# --- grants and closed periods ------------------------------------------------------------------


def test_a_grant_whose_window_covers_a_closed_period_is_refused_naming_it(
    services: Services, client: TestClient, world: World, clock: FixedClock
) -> None:
    acc.close_period(services.uow(), ADMIN, clock(), "2026Q3", "signed off", calendar=CAL)
    h = auth(world, "admin")
    before = journal(client, world)
    for window in (
        {},  # the pool's validity: 2026-05-01 .. 2027-05-01
        {"start": "2026-09-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"},
    ):
        r = client.post(
            "/api/v1/pools/nat/grants", json={"hours": 300, "reason": "top-up", **window}, headers=h
        )
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["field"] == "start" and "2026Q3 is closed" in error["message"], error
    assert journal(client, world) == before
    # a window after the closed period is deposited, split over its open quarters
    r = client.post(
        "/api/v1/pools/nat/grants",
        json={"hours": 300, "reason": "top-up", "start": "2026-10-01T00:00:00Z"},
        headers=h,
    )
    assert r.status_code == 201, r.text
    assert {e["period"] for e in r.json()} == {"2026Q4", "2027Q1", "2027Q2"}
    assert sum(e["amount_seconds"] for e in r.json()) == 300 * H


# --- every endpoint that takes a period ---------------------------------------------------------


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = doc["components"]["schemas"][name]
    return schema


def _is_period_schema(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(doc, schema)
    if schema.get("pattern") == PERIOD_PATTERN:
        return True
    return any(_is_period_schema(doc, s) for s in schema.get("anyOf", []))


def _carries_period(doc: dict[str, Any], name: str, schema: dict[str, Any], depth: int = 0) -> bool:
    """Is this property a period, or a list or object holding one?"""
    if name in ("period", "periods") or _is_period_schema(doc, schema):
        return True
    schema = _resolve(doc, schema)
    if depth > 3:
        return False
    if schema.get("type") == "array":
        return _carries_period(doc, "", schema.get("items", {}), depth + 1)
    props = schema.get("properties", {})
    options = schema.get("anyOf", [])
    return any(_carries_period(doc, n, s, depth + 1) for n, s in props.items()) or any(
        _carries_period(doc, "", s, depth + 1) for s in options
    )


#: Valid values of the other inputs, by name, so that only the period can be wrong.
VALUES: dict[str, Any] = {
    "pool_id": "nat",
    "chair_id": "chair-a",
    "project_id": "p1",
    "from_project": "p1",
    "to_project": "p1b",
    "hours": "1",
    "reason": "a reason",
    "justification": "why",
    "action": "accept",
    "format": "national-csv",
    "text": "a comment",
    "username": "alice",
    "deadline": "2026-12-15T18:00:00Z",
}


def _value(doc: dict[str, Any], name: str, schema: dict[str, Any], label: str) -> Any:
    schema = _resolve(doc, schema)
    options = [o for o in schema.get("anyOf", []) if o.get("type") != "null"]
    if options and not _is_period_schema(doc, schema):  # Optional[X]: an X
        return _value(doc, name, options[0], label)
    if (
        _carries_period(doc, name, schema)
        and schema.get("type") != "array"
        and not schema.get("properties")
    ):
        return label
    if name in VALUES:
        return VALUES[name]
    if "enum" in schema:
        return schema["enum"][0]
    if schema.get("type") == "array":
        return [_value(doc, "", schema["items"], label)]
    if schema.get("type") == "object" or "properties" in schema:
        required = set(schema.get("required", []))
        return {
            n: _value(doc, n, s, label)
            for n, s in schema.get("properties", {}).items()
            if n in required or _carries_period(doc, n, s)
        }
    if schema.get("type") == "boolean":
        return False
    if schema.get("type") == "integer":
        return 1
    return "x"


def period_operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, str, str]]:
    """``(method, path, where, field)`` of every input of every operation that is a period."""
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                if p["name"] in ("period", "periods") or _is_period_schema(doc, p["schema"]):
                    yield method, path, p["in"], p["name"]
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                schema = _resolve(doc, body["schema"])
                for name, prop in schema.get("properties", {}).items():
                    if _carries_period(doc, name, prop):
                        yield method, path, "body", name


KNOWN = {
    ("post", "/api/v1/allocations/chairs", "body", "period"),
    ("post", "/api/v1/allocations/projects", "body", "period"),
    ("post", "/api/v1/transfers", "body", "period"),
    ("post", "/api/v1/adjustments", "body", "period"),
    ("post", "/api/v1/requests", "body", "periods"),
    ("post", "/api/v1/requests/{request_id}/approve", "body", "granted"),
    ("post", "/api/v1/reconciliation/decisions", "body", "period"),
    ("post", "/api/v1/pools/{pool_id}/periods/{period}/open", "path", "period"),
    ("post", "/api/v1/periods/{period}/close", "path", "period"),
    ("get", "/api/v1/periods/{period}", "path", "period"),
    ("get", "/api/v1/reports/{period}", "path", "period"),
    ("post", "/api/v1/statements", "query", "period"),
    ("get", "/api/v1/statements", "query", "period"),
    ("get", "/api/v1/reconciliation", "query", "period"),
    ("get", "/api/v1/reconciliation/jobs", "query", "period"),
    ("get", "/api/v1/pools/{pool_id}/balances", "query", "period"),
    ("get", "/api/v1/chairs/{chair_id}/balances", "query", "period"),
    ("get", "/api/v1/projects/{project_id}/balances", "query", "period"),
    ("get", "/api/v1/balances", "query", "period"),
    ("get", "/api/v1/burn", "query", "period"),
    ("get", "/api/v1/journal", "query", "period"),
}


def test_every_operation_that_takes_a_period_refuses_labels_of_another_scheme_or_far_off(
    services: Services, client: TestClient, world: World, clock: FixedClock
) -> None:
    request = svc.submit_request(
        services.uow(), ALICE, clock(), "p1", "nat", [("2026Q4", H)], "hours", calendar=CAL
    )
    doc = client.get("/api/v1/openapi.json").json()
    found = list(period_operations(doc))
    assert set(found) >= KNOWN, KNOWN - set(found)
    assert "map_period" not in {name for *_, name in found}  # a column name, not a period
    h = auth(world, "admin")
    before = journal(client, world)
    for method, path, _where, name in found:
        op = doc["paths"][path][method]
        for label in BAD_LABELS:
            path_values = {"request_id": request.id, "period": label}
            url = path.format(**{k: path_values.get(k, VALUES.get(k, "x")) for k in _names(path)})
            params = {
                p["name"]: label
                if p["name"] == name
                else _value(doc, p["name"], p["schema"], label)
                for p in op.get("parameters", [])
                if p["in"] == "query" and (p.get("required") or p["name"] == name)
            }
            kwargs: dict[str, Any] = {"params": params, "headers": h}
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" in content:
                kwargs["json"] = _value(doc, "", content["application/json"]["schema"], label)
            elif content:
                kwargs["content"] = b"cluster|account\n"
                kwargs["headers"] = {**h, "Content-Type": "text/csv"}
            r = client.request(method.upper(), url, **kwargs)
            assert r.status_code == 422, (method, path, label, r.text)
            error = r.json()["error"]
            assert error["field"] == name, (method, path, label, error)
            assert "quarter" in error["message"] and label in error["message"], (path, error)
    assert journal(client, world) == before


def _names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


def test_the_period_of_a_request_is_checked_again_when_it_is_approved(
    services: Services, client: TestClient, world: World, clock: FixedClock
) -> None:
    """A request stored before the rule (or before the site changed scheme) cannot be approved
    into a period the site does not count in."""
    request = svc.submit_request(
        services.uow(), ALICE, clock(), "p1", "nat", [("2026Q4", H)], "hours", calendar=CAL
    )
    with services.engine.begin() as conn:
        conn.execute(update(t.RequestLineRow).values(period="2026-11"))
    before = journal(client, world)
    r = client.post(f"/api/v1/requests/{request.id}/approve", json={}, headers=auth(world, "admin"))
    assert_refused(r, "period", "2026-11")
    assert journal(client, world) == before
    state = client.get(f"/api/v1/requests/{request.id}", headers=auth(world, "admin")).json()
    assert state["state"] == "submitted"
