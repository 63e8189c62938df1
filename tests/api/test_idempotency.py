"""``Idempotency-Key`` on the POSTs that move hours (Stripe's semantics), SQLite and PostgreSQL:
a retry with the key gets the first answer and writes nothing; another request under the same
key is a 422; two users' keys are independent; a 5xx is not kept; keys are kept 24 h."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import exc as sa

import allocator.services
from connectors.bootstrap import Services
from connectors.db import idempotency as keys
from connectors.http.idempotency import Idempotency
from tests.api.conftest import auth
from tests.builders import World
from tests.conftest import FixedClock

PERIOD = "2026Q4"
ALLOCATE = "/api/v1/allocations/chairs"
BODY = {"pool_id": "nat", "chair_id": "chair-a", "period": PERIOD, "hours": "10",
        "reason": "retry me"}  # fmt: skip


def journal(services: Services) -> int:
    with services.uow() as uow:
        return len(uow.ledger.entries())


def keyed(world: World, who: str, key: str) -> dict[str, str]:
    return {**auth(world, who), "Idempotency-Key": key}


def allocate(client: TestClient, world: World, key: str, **changes: Any) -> httpx.Response:
    return client.post(ALLOCATE, json={**BODY, **changes}, headers=keyed(world, "admin", key))


def test_a_retry_with_the_same_key_gets_the_first_answer_and_writes_nothing(
    client: TestClient, services: Services, world: World
) -> None:
    before = journal(services)
    first = allocate(client, world, "alloc-1")
    retries = [allocate(client, world, "alloc-1") for _ in range(3)]
    assert first.status_code == 201
    assert journal(services) == before + 1
    for retry in retries:
        assert (retry.status_code, retry.content) == (first.status_code, first.content)
        assert retry.headers["content-type"] == first.headers["content-type"]
        assert retry.headers["idempotent-replayed"] == "true"
        assert retry.headers["x-content-type-options"] == "nosniff"  # still a secured answer
    assert "idempotent-replayed" not in first.headers


def test_the_same_key_for_another_request_is_a_422_naming_the_header(
    client: TestClient, services: Services, world: World
) -> None:
    assert allocate(client, world, "alloc-2").status_code == 201
    before = journal(services)
    other_body = allocate(client, world, "alloc-2", hours="11")
    other_path = client.post(
        "/api/v1/adjustments",
        json={"pool_id": "nat", "project_id": "p1", "period": PERIOD, "hours": "1", "reason": "x"},
        headers=keyed(world, "admin", "alloc-2"),
    )
    for r in (other_body, other_path):
        assert r.status_code == 422
        assert r.json()["error"]["field"] == "Idempotency-Key"
        assert r.json()["error"]["code"] == "invalid_input"
    assert journal(services) == before


def test_two_users_keys_never_collide(client: TestClient, services: Services, world: World) -> None:
    body = {"pool_id": "nat", "periods": [{"period": PERIOD, "hours": "5"}], "justification": "t"}
    ids = []
    for who, project in (("alice", "p1"), ("bob", "p2")):
        r = client.post(
            "/api/v1/requests", json={**body, "project_id": project}, headers=keyed(world, who, "k")
        )
        assert r.status_code == 201, r.text
        assert "idempotent-replayed" not in r.headers
        ids.append(r.json()["id"])
    assert ids[0] != ids[1]


def test_without_the_header_each_post_writes_as_before(
    client: TestClient, services: Services, world: World
) -> None:
    before = journal(services)
    for _ in range(2):
        r = client.post(ALLOCATE, json=BODY, headers=auth(world, "admin"))
        assert r.status_code == 201
        assert "idempotent-replayed" not in r.headers
    assert journal(services) == before + 2


@pytest.mark.parametrize(
    "key", ["", "x" * 256, "caf\u00e9", "tab\there"], ids=["empty", "long", "latin1", "control"]
)
def test_a_malformed_key_is_a_422_naming_the_header(
    client: TestClient, services: Services, world: World, key: str
) -> None:
    before = journal(services)
    headers = {**auth(world, "admin"), "Idempotency-Key": key.encode("latin-1")}
    r = client.post(ALLOCATE, json=BODY, headers=headers)  # type: ignore[arg-type]
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "Idempotency-Key"
    assert journal(services) == before


def test_a_key_of_255_printable_characters_is_accepted(client: TestClient, world: World) -> None:
    assert allocate(client, world, "k y~" + "x" * 251).status_code == 201


def test_a_refusal_is_kept_and_replayed_too(
    client: TestClient, services: Services, world: World
) -> None:
    """A 4xx is final: the same request with the key gets it again, even once it would pass."""
    first = allocate(client, world, "alloc-3", chair_id="nosuch")
    assert first.status_code == 404
    again = allocate(client, world, "alloc-3", chair_id="nosuch")
    assert (again.status_code, again.content) == (404, first.content)
    assert again.headers["idempotent-replayed"] == "true"


def test_a_5xx_is_not_kept_and_the_retry_runs(
    client: TestClient, services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = allocator.services.allocate_to_chair
    calls = []

    def unavailable_once(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise sa.OperationalError("BEGIN", {}, Exception("database is locked"))
        return real(*args, **kwargs)

    monkeypatch.setattr(allocator.services, "allocate_to_chair", unavailable_once)
    before = journal(services)
    assert allocate(client, world, "alloc-4").status_code == 503
    assert journal(services) == before
    retry = allocate(client, world, "alloc-4")
    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers
    assert journal(services) == before + 1


def test_a_write_whose_answer_was_lost_is_never_applied_again(
    client: TestClient, services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process "dies" between the write and storing its answer: the claim committed with
    the write, so the retry is a 409 that says so, and the journal holds one entry."""

    def lost(*_args: Any) -> None:
        raise sa.OperationalError("INSERT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(keys, "store", lost)
    before = journal(services)
    assert allocate(client, world, "alloc-5").status_code == 201
    monkeypatch.undo()
    retry = allocate(client, world, "alloc-5")
    assert retry.status_code == 409
    assert retry.json()["error"]["field"] == "Idempotency-Key"
    assert "answer was lost" in retry.json()["error"]["message"]
    assert journal(services) == before + 1


def test_a_key_is_kept_24_hours_then_forgotten(
    client: TestClient, services: Services, world: World, clock: FixedClock
) -> None:
    start = clock.now
    before = journal(services)
    first = allocate(client, world, "alloc-6")
    clock.now = start + timedelta(hours=23, minutes=59)
    assert allocate(client, world, "alloc-6").content == first.content
    assert journal(services) == before + 1
    clock.now = start + timedelta(hours=24, minutes=1)
    assert keys.purge(services.engine, clock.now) == 1
    later = allocate(client, world, "alloc-6")
    assert later.status_code == 201
    assert "idempotent-replayed" not in later.headers
    assert journal(services) == before + 2
    clock.now = start + timedelta(hours=49)  # an expired row not purged yet counts as absent
    assert allocate(client, world, "alloc-6").status_code == 201
    assert journal(services) == before + 3


def test_token_creation_takes_no_key(client: TestClient, services: Services, world: World) -> None:
    """Its answer holds the token: it is never stored, so the header is ignored there."""
    url = "/api/v1/users/alice/tokens"
    answers = [
        client.post(url, json={"note": "x"}, headers=keyed(world, "admin", "tok")) for _ in "ab"
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["token"] != answers[1].json()["token"]


def test_the_openapi_document_offers_the_header_on_the_posts(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    posts = {
        op["operationId"]: [p["name"] for p in op.get("parameters", [])]
        for item in doc["paths"].values()
        if (op := item.get("post")) is not None
    }
    path_of = {item["post"]["operationId"]: path for path, item in doc["paths"].items()
               if "post" in item}  # fmt: skip
    moving = ("allocateToProject", "allocateToChair", "transferHours", "adjustHours",
              "addGrant", "approveRequest", "decideReconciliation", "closePeriod")  # fmt: skip
    for operation in moving:
        assert posts[operation].count("Idempotency-Key") == 1, operation
    assert "Idempotency-Key" not in posts["createToken"]
    # the middleware takes the header exactly where the document offers it
    for item in doc["paths"].values():
        if (op := item.get("post")) is not None:
            offered = "Idempotency-Key" in posts[op["operationId"]]
            example = re.sub(r"\{[^}]*\}", "x", path_of[op["operationId"]])
            assert Idempotency._covered({"path": example}) is offered, op["operationId"]


def test_a_key_changes_nothing_for_a_request_without_a_valid_token(
    client: TestClient, world: World
) -> None:
    headers = {"Authorization": "Bearer gph_nosuchtoken", "Idempotency-Key": "x" * 300}
    r = client.post(ALLOCATE, json=BODY, headers=headers)
    assert r.status_code == 401
    assert "idempotent-replayed" not in r.headers


def test_two_keys_in_one_request_are_a_422(client: TestClient, world: World) -> None:
    headers = [("Authorization", auth(world, "admin")["Authorization"]),
               ("Idempotency-Key", "a"), ("Idempotency-Key", "b")]  # fmt: skip
    r = client.post(ALLOCATE, json=BODY, headers=headers)
    assert r.status_code == 422
    assert r.json()["error"]["field"] == "Idempotency-Key"


def test_the_keys_table_unavailable_is_a_503_not_a_500(
    client: TestClient, services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_args: Any) -> None:
        raise sa.OperationalError("SELECT", {}, Exception("could not connect to server"))

    monkeypatch.setattr(keys, "find", down)
    before = journal(services)
    r = allocate(client, world, "alloc-7")
    assert r.status_code == 503
    assert r.headers["retry-after"]
    assert journal(services) == before
