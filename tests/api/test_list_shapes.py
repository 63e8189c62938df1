"""One list envelope: every list answers ``{"items": [...], "next": cursor | null}``, pages
of ``limit`` items (default 100, at most 1000) in the list's documented order (the journal,
the audit trail and requests newest first), an opaque cursor to pass back, a 422 naming
``cursor`` for anything else."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.http.pages import DEFAULT_LIMIT, MAX_LIMIT
from tests.api.conftest import auth
from tests.builders import World


def _allocate(client: TestClient, world: World, times: int) -> None:
    for i in range(times):
        body = {
            "pool_id": "nat",
            "chair_id": "chair-a",
            "period": "2026Q4",
            "hours": i + 1,
            "reason": f"share {i}",
        }
        r = client.post("/api/v1/allocations/chairs", json=body, headers=auth(world, "admin"))
        assert r.status_code == 201, r.text


def _pages(
    client: TestClient, world: World, path: str, limit: int, **query: str
) -> list[dict[str, Any]]:
    """Every page of a list (filtered by ``query``), following ``next``."""
    pages: list[dict[str, Any]] = []
    params: dict[str, Any] = {**query, "limit": limit}
    while True:
        r = client.get(path, params=params, headers=auth(world, "admin"))
        assert r.status_code == 200, r.text
        pages.append(r.json())
        if r.json()["next"] is None:
            return pages
        assert len(pages) < 100, "next never ends: a page repeats"
        params = {**query, "limit": limit, "cursor": r.json()["next"]}


def test_the_journal_pages_newest_first_and_every_entry_once(
    client: TestClient, world: World
) -> None:
    _allocate(client, world, 7)
    whole = client.get("/api/v1/journal", headers=auth(world, "admin")).json()
    assert whole["next"] is None
    ids = [e["id"] for e in whole["items"]]
    assert ids == sorted(ids, reverse=True), "newest first"
    assert whole["items"][0]["reason"] == "share 6"
    first = client.get("/api/v1/journal?limit=5", headers=auth(world, "admin")).json()
    assert [e["id"] for e in first["items"]] == ids[:5]
    assert first["next"]
    pages = _pages(client, world, "/api/v1/journal", 5)
    assert [e["id"] for p in pages for e in p["items"]] == ids
    assert all(len(p["items"]) == 5 for p in pages[:-1])


def test_an_entry_written_between_pages_is_neither_repeated_nor_skipped_behind_the_cursor(
    client: TestClient, world: World
) -> None:
    _allocate(client, world, 4)
    h = auth(world, "admin")
    first = client.get("/api/v1/journal?limit=2", headers=h).json()
    _allocate(client, world, 1)  # newer than every entry: before the first page
    rest = client.get(f"/api/v1/journal?limit=100&cursor={first['next']}", headers=h).json()
    seen = [e["id"] for e in first["items"]] + [e["id"] for e in rest["items"]]
    assert len(seen) == len(set(seen))
    assert max(e["id"] for e in rest["items"]) < min(e["id"] for e in first["items"])


@pytest.mark.parametrize("path", ["/api/v1/pools", "/api/v1/projects", "/api/v1/users"])
def test_reference_lists_page_by_key(client: TestClient, world: World, path: str) -> None:
    whole = client.get(path, headers=auth(world, "admin")).json()["items"]
    pages = _pages(client, world, path, 1)
    assert [row for p in pages for row in p["items"]] == whole
    assert len(pages) == len(whole)


@pytest.mark.parametrize(
    "cursor",
    ["garbage!", "bm90IGpzb24", "WyJwb29scyIsWyJuYXQiXV0", "WyJqb3VybmFsIixbInRleHQiXV0"],
    ids=["not-base64", "not-json", "another-lists-cursor", "a-key-of-another-shape"],
)
def test_a_cursor_the_list_did_not_give_is_refused_naming_cursor(
    client: TestClient, world: World, cursor: str
) -> None:
    _allocate(client, world, 2)
    r = client.get("/api/v1/journal", params={"cursor": cursor}, headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "cursor"
    assert "`next`" in r.json()["error"]["message"]


@pytest.mark.parametrize("limit", [0, MAX_LIMIT + 1, "ten"])
def test_a_limit_out_of_bounds_is_refused_naming_limit(
    client: TestClient, world: World, limit: object
) -> None:
    r = client.get("/api/v1/pools", params={"limit": limit}, headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "limit"


def _list_operations(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path, item in doc["paths"].items():
        op = item.get("get")
        if op is None:
            continue
        schema = op["responses"]["200"].get("content", {}).get("application/json", {})
        found.append((path, schema.get("schema", {})))
    return found


def test_every_list_is_documented_as_the_envelope_with_limit_and_cursor(
    client: TestClient,
) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    schemas = doc["components"]["schemas"]
    lists = 0
    for path, schema in _list_operations(doc):
        assert schema.get("type") != "array", f"{path} answers a bare array"
        ref = schema.get("$ref", "")
        if not ref.rsplit("/", 1)[-1].startswith("Page"):
            continue
        lists += 1
        page = schemas[ref.rsplit("/", 1)[-1]]
        assert set(page["properties"]) == {"items", "next"}, path
        params = {p["name"]: p for p in doc["paths"][path]["get"]["parameters"]}
        assert params["limit"]["schema"]["maximum"] == MAX_LIMIT, path
        assert params["limit"]["schema"]["default"] == DEFAULT_LIMIT, path
        assert "next" in params["cursor"]["description"], path
    assert lists >= 17


# --- creates ------------------------------------------------------------------------------------

CREATES = [
    (
        "admin",
        "/api/v1/pools",
        {
            "id": "gpu2",
            "name": "GPU 2",
            "kind": "local",
            "inventory": [{"gpu_type": "a100", "count": 1}],
        },
    ),
    ("admin", "/api/v1/projects", {"id": "p7", "chair_id": "chair-a", "name": "P7", "pi": "alice"}),
    (
        "alice",
        "/api/v1/requests",
        {
            "project_id": "p1",
            "pool_id": "nat",
            "periods": [{"period": "2026Q4", "hours": 3}],
            "justification": "more",
        },
    ),
]


CREATES += [
    ("admin", "/api/v1/chairs", {"id": "chair-z", "name": "Chair Z", "institution": "UL"}),
    ("admin", "/api/v1/users", {"username": "zoe", "role": "researcher", "full_name": "Zoe"}),
]


@pytest.mark.parametrize(
    ("who", "path", "body"), CREATES, ids=["pool", "project", "request", "chair", "user"]
)
def test_a_create_answers_201_the_object_and_its_location(
    client: TestClient, world: World, who: str, path: str, body: dict[str, Any]
) -> None:
    r = client.post(path, json=body, headers=auth(world, who))
    assert r.status_code == 201, r.text
    location = r.headers["Location"]
    assert location == f"{path}/{r.json().get('id', r.json().get('username'))}"
    again = client.get(location, headers=auth(world, who))
    assert again.status_code == 200
    assert again.json() == r.json()


def test_an_allocation_to_a_project_answers_one_object_like_every_allocation(
    client: TestClient, world: World
) -> None:
    body = {
        "pool_id": "nat",
        "project_id": "p1",
        "period": "2026Q4",
        "hours": 5,
        "reason": "thesis",
        "draw_from_pool": True,
    }
    r = client.post("/api/v1/allocations/projects", json=body, headers=auth(world, "admin"))
    assert r.status_code == 201, r.text
    allocation = r.json()
    assert (allocation["kind"], allocation["target"]) == ("allocate", "project:p1")
    assert allocation["amount_seconds"] == 5 * 3600
    drawn = allocation["drawn_from_pool"]
    assert (drawn["source"], drawn["target"], drawn["amount_seconds"]) == (
        "pool:nat",
        "chair:chair-a",
        5 * 3600,
    )
    body["draw_from_pool"] = False
    r = client.post("/api/v1/allocations/projects", json=body, headers=auth(world, "admin"))
    assert r.status_code == 409  # the chair has nothing left: nothing drawn this time


@pytest.mark.parametrize("include_empty", [False, True])
@pytest.mark.parametrize("limit", [1, 2])
def test_balances_page_by_pool_then_project_and_every_row_once(
    client: TestClient, world: World, include_empty: bool, limit: int
) -> None:
    for project in ("p1", "p1b", "p2"):  # three of the six rows are not empty
        body = {"pool_id": "nat", "project_id": project, "period": "2026Q4", "hours": "1",
                "reason": "share", "draw_from_pool": True}  # fmt: skip
        r = client.post("/api/v1/allocations/projects", json=body, headers=auth(world, "admin"))
        assert r.status_code == 201, r.text
    query = {"period": "2026Q4", "include_empty": str(include_empty).lower()}
    whole = client.get("/api/v1/balances", params=query, headers=auth(world, "admin")).json()
    assert whole["next"] is None
    keys = [(b["pool_id"], b["project_id"]) for b in whole["items"]]
    assert keys == sorted(keys) and len(keys) > limit
    pages = _pages(client, world, "/api/v1/balances", limit, **query)
    assert [b for p in pages for b in p["items"]] == whole["items"]
    assert all(len(p["items"]) == limit for p in pages[:-1])


def test_a_balances_cursor_past_the_last_row_is_an_empty_last_page(
    client: TestClient, world: World
) -> None:
    past = "WyJiYWxhbmNlcyIsWyJ6enoiLCJ6enoiXV0"  # ["balances",["zzz","zzz"]]
    r = client.get(f"/api/v1/balances?period=2026Q4&cursor={past}", headers=auth(world, "admin"))
    assert r.status_code == 200, r.text
    assert r.json() == {"items": [], "next": None}


@pytest.mark.parametrize(
    "cursor",
    ["WyJiYWxhbmNlcyIsWzEsMl1d", "WyJiYWxhbmNlcyIsWyJuYXQiXV0"],
    ids=["numbers", "one-name"],
)
def test_a_balances_cursor_of_another_shape_is_refused_naming_cursor(
    client: TestClient, world: World, cursor: str
) -> None:
    r = client.get(f"/api/v1/balances?period=2026Q4&cursor={cursor}", headers=auth(world, "admin"))
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "cursor"


ENTRY_CREATES = [
    ("/api/v1/allocations/chairs",
     {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "hours": 9, "reason": "r"}),
    ("/api/v1/allocations/projects",
     {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 4, "reason": "r"}),
    ("/api/v1/transfers",
     {"pool_id": "nat", "period": "2026Q4", "from_project": "p1", "to_project": "p1b",
      "hours": 1, "reason": "r"}),
    ("/api/v1/adjustments",
     {"pool_id": "nat", "project_id": "p1b", "period": "2026Q4", "hours": "-0.5", "reason": "r"}),
]  # fmt: skip


def test_every_move_of_hours_answers_its_journal_entry_and_where_it_is(
    client: TestClient, world: World
) -> None:
    for path, body in ENTRY_CREATES:  # in this order: each needs the hours of the one before
        r = client.post(path, json=body, headers=auth(world, "admin"))
        assert r.status_code == 201, (path, r.text)
        assert r.headers["Location"] == f"/api/v1/journal/{r.json()['id']}"
        again = client.get(r.headers["Location"], headers=auth(world, "eng"))
        assert again.status_code == 200
        entry = {k: v for k, v in r.json().items() if k != "drawn_from_pool"}
        assert again.json() == entry


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/v1/chairs/chair-b", "chair_id"), ("/api/v1/users/bob", "username")],
)
def test_what_a_researcher_may_not_see_reads_as_unknown_naming_only_what_she_sent(
    client: TestClient, world: World, path: str, field: str
) -> None:
    r = client.get(path, headers=auth(world, "alice"))  # chair-b funds bob's p2 only
    assert r.status_code == 404, r.text
    assert r.json()["error"]["field"] == field
    assert path.rsplit("/", 1)[1] in r.json()["error"]["message"]


def test_a_researcher_reads_herself_and_the_chairs_of_her_projects(
    client: TestClient, world: World
) -> None:
    assert client.get("/api/v1/users/alice", headers=auth(world, "alice")).json()["username"] == (
        "alice"
    )
    assert client.get("/api/v1/chairs/chair-a", headers=auth(world, "alice")).json()["id"] == (
        "chair-a"
    )


def test_the_journal_is_staffs_own_entry_by_entry(client: TestClient, world: World) -> None:
    path, body = ENTRY_CREATES[0]
    r = client.post(path, json=body, headers=auth(world, "admin"))
    assert client.get(r.headers["Location"], headers=auth(world, "alice")).status_code == 403
    missing = client.get("/api/v1/journal/999999", headers=auth(world, "admin"))
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "entry_id"
