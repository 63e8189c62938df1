"""The journal and the audit trail grow for ever: a page of either is read from the database
as its window (the page's rows below the cursor, and one more), never as the whole list cut
in memory; filters and cursors combine, newest first, every row once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event

from connectors.bootstrap import Services
from connectors.db import tables as t
from tests.api.conftest import auth
from tests.builders import World


def _allocate(client: TestClient, world: World, times: int, chair: str = "chair-a") -> None:
    for i in range(times):
        body = {"pool_id": "nat", "chair_id": chair, "period": "2026Q4", "hours": i + 1}
        body["reason"] = f"share {i}"
        r = client.post("/api/v1/allocations/chairs", json=body, headers=auth(world, "admin"))
        assert r.status_code == 201, r.text


@contextmanager
def _rows_loaded(table: type[Any]) -> Iterator[list[int]]:
    """The ids of the rows of ``table`` read from the database meanwhile."""
    loaded: list[int] = []

    def on_load(row: Any, _context: object) -> None:
        loaded.append(row.id)

    event.listen(table, "load", on_load)
    try:
        yield loaded
    finally:
        event.remove(table, "load", on_load)


def _walk(client: TestClient, world: World, path: str, limit: int, **query: str) -> list[int]:
    """The ids of every page of a list, following ``next``."""
    ids: list[int] = []
    params: dict[str, Any] = {**query, "limit": limit}
    for _ in range(100):
        r = client.get(path, params=params, headers=auth(world, "admin"))
        assert r.status_code == 200, r.text
        assert len(r.json()["items"]) <= limit
        ids += [row["id"] for row in r.json()["items"]]
        if r.json()["next"] is None:
            return ids
        params = {**query, "limit": limit, "cursor": r.json()["next"]}
    raise AssertionError("next never ends")


def test_a_journal_page_reads_its_window_not_the_journal(client: TestClient, world: World) -> None:
    _allocate(client, world, 30)
    h = auth(world, "admin")
    with _rows_loaded(t.LedgerEntryRow) as loaded:
        first = client.get("/api/v1/journal?limit=5", headers=h).json()
    assert len(first["items"]) == 5
    assert len(loaded) <= 6, f"{len(loaded)} entries read for a page of 5"
    with _rows_loaded(t.LedgerEntryRow) as loaded:
        second = client.get(f"/api/v1/journal?limit=5&cursor={first['next']}", headers=h).json()
    assert len(loaded) <= 6
    assert max(e["id"] for e in second["items"]) < min(e["id"] for e in first["items"])


def test_an_audit_page_reads_its_window_not_the_trail(client: TestClient, world: World) -> None:
    for i in range(12):
        body = {"username": f"user{i}", "role": "researcher", "full_name": f"User {i}"}
        assert client.post("/api/v1/users", json=body, headers=auth(world, "admin")).is_success
    with _rows_loaded(t.AuditEventRow) as loaded:
        page = client.get("/api/v1/audit?limit=3", headers=auth(world, "admin")).json()
    assert [e["subject"] for e in page["items"]] == ["user:user11", "user:user10", "user:user9"]
    assert len(loaded) <= 4, f"{len(loaded)} events read for a page of 3"


def test_a_filtered_journal_pages_through_its_own_entries_newest_first_each_once(
    client: TestClient, world: World
) -> None:
    _allocate(client, world, 4, "chair-a")
    _allocate(client, world, 3, "chair-b")
    whole = client.get(
        "/api/v1/journal", params={"account": "chair:chair-b"}, headers=auth(world, "admin")
    ).json()
    expected = [e["id"] for e in whole["items"]]
    assert len(expected) == 3
    assert expected == sorted(expected, reverse=True)
    assert _walk(client, world, "/api/v1/journal", 1, account="chair:chair-b") == expected
    assert _walk(client, world, "/api/v1/journal", 2, account="chair:chair-b") == expected


def test_the_audit_trail_of_one_subject_pages_newest_first_each_event_once(
    client: TestClient, world: World
) -> None:
    h = auth(world, "admin")
    for factor in (1.1, 1.2, 1.3):
        body = {"factor": factor, "reason": f"to {factor}"}
        r = client.post("/api/v1/pools/nat/overcommit", json=body, headers=h)
        assert r.status_code == 200, r.text
    whole = client.get("/api/v1/audit", params={"subject": "pool:nat"}, headers=h).json()
    expected = [e["id"] for e in whole["items"]]
    assert len(expected) >= 3
    assert expected == sorted(expected, reverse=True)
    assert "1.3" in whole["items"][0]["detail"] + whole["items"][0]["action"]
    assert _walk(client, world, "/api/v1/audit", 1, subject="pool:nat") == expected
    everything = _walk(client, world, "/api/v1/audit", 2)
    assert len(everything) == len(set(everything))
    assert set(expected) <= set(everything)


def test_the_quarantine_pages_newest_first_each_record_once_per_cluster(
    client: TestClient, world: World, services: Services
) -> None:
    with services.session_factory.begin() as session:
        for i in range(7):
            session.add(
                t.QuarantineRow(
                    cluster="c1" if i % 3 else "c2",
                    job_id=100 + i,
                    reason="missing field 'time'",
                    raw=f'{{"job_id": {100 + i}}}',
                    raw_hash=f"h{i}",
                    window_start=0,
                    window_end=60,
                    first_seen=1_700_000_000 + i,
                    last_seen=1_700_000_000 + i,
                )
            )
    c1 = _walk(client, world, "/api/v1/usage/quarantine", 2, cluster="c1")
    assert len(c1) == 4 and c1 == sorted(c1, reverse=True)
    everything = _walk(client, world, "/api/v1/usage/quarantine", 3)
    assert len(everything) == 7 and everything == sorted(everything, reverse=True)
    assert set(c1) < set(everything)
