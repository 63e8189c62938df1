"""The OpenAPI document tells the truth about errors.

One error schema, ``{"error": {"code", "field", "message"}}``, on every operation for every
status it can answer, with examples that are valid answers; FastAPI's ``HTTPValidationError``
(a body the API never sends) is gone; the answers the API really gives fit the document. The
schemathesis conformance checks (``test_schemathesis.py``) prove the same over generated
requests.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from fastapi.testclient import TestClient

from allocator.model import Role, User
from connectors.auth import mint_token
from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import World


@pytest.fixture
def spec(client: TestClient) -> dict[str, Any]:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


def error_schema(spec: dict[str, Any]) -> dict[str, Any]:
    return {"$ref": "#/components/schemas/Error", "components": spec["components"]}


def expected_statuses(method: str, path: str, operation: dict[str, Any]) -> set[str]:
    """What every operation must document, at least (the rules of the issue)."""
    wanted = {"422"}
    if operation["operationId"] != "getHealth":
        wanted.add("503")
    if operation.get("security"):
        wanted |= {"401", "403", "429"}
        if "{" in path:
            wanted.add("404")
    if method != "get":
        wanted.add("409")
    if operation["operationId"] == "importStatement":
        wanted.add("413")
    return wanted


def test_every_operation_documents_its_error_answers_with_the_one_error_schema(
    spec: dict[str, Any],
) -> None:
    validator = jsonschema.Draft202012Validator(error_schema(spec))
    seen = 0
    for method, path, operation in operations(spec):
        responses = operation["responses"]
        missing = expected_statuses(method, path, operation) - set(responses)
        assert not missing, (operation["operationId"], missing)
        for status, response in responses.items():
            if int(status) < 400 or (operation["operationId"], status) == ("getReadiness", "503"):
                continue
            media = response["content"]["application/json"]
            assert media["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)
            validator.validate(media["example"])  # the example is a valid answer
            assert media["example"]["error"]["code"], (path, status)
            seen += 1
    assert seen > 300  # 52 operations, 6 to 10 error statuses each


def test_fastapis_validation_error_body_is_documented_nowhere(spec: dict[str, Any]) -> None:
    text = json.dumps(spec)
    assert "HTTPValidationError" not in text
    assert "ValidationError" not in spec["components"]["schemas"]
    assert {"Error", "ErrorDetail", "FieldError"} <= set(spec["components"]["schemas"])


def test_throttling_and_unavailability_document_their_retry_after(spec: dict[str, Any]) -> None:
    pools = spec["paths"]["/api/v1/pools"]["get"]["responses"]
    assert "Retry-After" in pools["429"]["headers"]
    assert "Retry-After" in pools["503"]["headers"]
    assert "WWW-Authenticate" in pools["401"]["headers"]


def test_operation_ids_and_links_survive_the_error_documentation(spec: dict[str, Any]) -> None:
    create = spec["paths"]["/api/v1/pools"]["post"]
    assert create["operationId"] == "createPool"
    assert "GetPool" in create["responses"]["201"]["links"]
    readiness = spec["paths"]["/readyz"]["get"]["responses"]["503"]
    assert readiness["description"] == "not ready"  # its own body, not the error schema


def test_the_answers_the_api_gives_are_the_documented_ones(
    client: TestClient, services: Services, world: World, spec: dict[str, Any], clock: Any
) -> None:
    with services.uow() as uow:
        uow.users.add(User("prometheus", Role.SCRAPER))
        uow.commit()
    scraper = mint_token(services.session_factory, "prometheus", clock())
    admin, alice = auth(world, "admin"), auth(world, "alice")
    chair = {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "reason": "x"}
    calls: list[tuple[str, str, dict[str, Any], int]] = [
        ("get", "/api/v1/pools", {}, 401),
        ("get", "/api/v1/pools", {"headers": {"Authorization": f"Bearer {scraper}"}}, 403),
        ("get", "/api/v1/users", {"headers": alice}, 403),
        ("get", "/api/v1/pools/{pool_id}", {"headers": admin, "path": {"pool_id": "nosuch"}}, 404),
        ("get", "/api/v1/pools/{pool_id}/balances", {"headers": admin, "path": {"pool_id": "nat"},
                                                     "params": {"period": "2026Q9"}}, 422),
        ("post", "/api/v1/allocations/chairs",
         {"headers": admin, "json": {**chair, "hours": 10_000_000}}, 409),
        ("post", "/api/v1/allocations/chairs",
         {"headers": {**admin, "Content-Type": "application/json"}, "content": b"{"}, 400),
        ("post", "/api/v1/allocations/chairs",
         {"headers": {**admin, "Content-Type": "text/plain"}, "content": b"x"}, 415),
        ("get", "/healthz", {"params": {"x": "\x00"}}, 422),
    ]  # fmt: skip
    validator = jsonschema.Draft202012Validator(error_schema(spec))
    for method, template, kwargs, status in calls:
        path = template.format(**kwargs.pop("path", {}))
        r = client.request(method, path, **kwargs)
        assert r.status_code == status, (method, path, r.text)
        assert str(status) in spec["paths"][template][method]["responses"], (template, status)
        validator.validate(r.json())


def test_unknown_query_parameters_are_ignored_as_the_document_says(
    client: TestClient, world: World, spec: dict[str, Any]
) -> None:
    admin = auth(world, "admin")
    plain = client.get("/api/v1/pools", headers=admin)
    odd = client.get("/api/v1/pools", params={"no_such_parameter": "1"}, headers=admin)
    assert odd.status_code == plain.status_code == 200
    assert odd.json() == plain.json()
    nul = client.get("/api/v1/pools", params={"no_such_parameter": "\x00"}, headers=admin)
    assert nul.status_code == 422, nul.text
    assert "Unknown query parameters are ignored" in spec["info"]["description"]
