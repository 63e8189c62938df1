"""Reconciliation through the HTTP API, on both backends: the recorded statement reconciles;
an altered one is adjusted and accepted, each decision with its reason."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from tests.api.conftest import auth
from tests.api.quarter.support import (
    RECONCILIATION,
    STATEMENTS,
    decide,
    lines,
    reconciliation,
    upload,
)
from tests.builders import World
from tests.quarter_support import (
    ALTERED,
    ALTERED_HEALTH,
    POOL,
    SREPORT,
)

# --- reconciliation against the recorded statement -------------------------------------------


def test_the_recorded_statement_reconciles_then_an_altered_one_is_adjusted_and_accepted(
    client: TestClient, rig: World
) -> None:
    assert reconciliation(client, rig)["statement"] is None

    r = upload(client, rig, SREPORT, file_name="sreport_hour07.psv")
    assert r.status_code == 201, r.text
    body = reconciliation(client, rig)
    assert body["statement"]["id"] == r.json()["id"]
    assert body["tolerance"] == {"seconds": 60, "percent": 1.0}
    got = lines(body)
    assert {p: (ln["ours"], ln["theirs"]) for p, ln in got.items()} == {
        "nlp": (128, 128),
        "health": (19, 19),
        "thesis": (87, 87),
    }
    assert {ln["status"] for ln in got.values()} == {"match"}
    assert {ln["basis"] for ln in got.values()} == {"gpu_seconds"}
    # the file's lines each figure comes from (sreport: the first user row summed; line 5 is
    # the header after four banner lines, and account totals are never counted)
    assert [got[p]["statement_lines"] for p in ("health", "nlp", "thesis")] == [[7], [9], [11]]

    # alice's chair-nlp line 128 -> 200 (and the account total 215 -> 287)
    r = upload(client, rig, ALTERED, file_name="sreport_hour07_altered.psv")
    assert r.status_code == 201, r.text
    got = lines(reconciliation(client, rig))
    nlp = got["nlp"]
    assert (nlp["ours"], nlp["theirs"], nlp["difference"]) == (128, 200, -72)
    assert (nlp["raw_status"], nlp["status"]) == ("under", "under")
    assert nlp["relative_percent"] == 36.0  # 72 / 200
    assert nlp["difference_hours"] == -0.02
    assert (got["health"]["status"], got["thesis"]["status"]) == ("match", "match")
    # within a wider tolerance, it matches
    wide = lines(reconciliation(client, rig, tolerance_seconds=100))
    assert wide["nlp"]["status"] == "match"
    assert lines(reconciliation(client, rig, tolerance_percent="40"))["nlp"]["status"] == "match"

    # the jobs behind the line: the seven chair-nlp jobs, 128 GPU-seconds
    jobs = client.get(
        f"{RECONCILIATION}/jobs",
        params={"pool_id": POOL, "period": "2026Q4", "project_id": "nlp"},
        headers=auth(rig, "eng"),
    ).json()["items"]
    assert sorted(j["job_id"] for j in jobs) == [1, 6, 10, 11, 12, 13, 14]
    assert sum(j["gpu_seconds"] for j in jobs) == 128
    assert {j["account"] for j in jobs} == {"chair-nlp"}
    unmapped = client.get(
        f"{RECONCILIATION}/jobs",
        params={"pool_id": POOL, "period": "2026Q4", "project_id": ""},
        headers=auth(rig, "eng"),
    )
    assert unmapped.status_code == 200 and unmapped.json() == {"items": [], "next": None}

    # refused decisions change nothing
    journal = client.get("/api/v1/journal", headers=auth(rig, "admin")).json()["items"]
    for user, fields, status, field in [
        ("alice", {"project_id": "nlp", "action": "accept"}, 403, None),
        ("eng", {"project_id": "nlp", "action": "accept"}, 403, None),
        ("admin", {"project_id": "nlp", "action": "accept", "hours": "1"}, 422, "hours"),
        ("admin", {"project_id": "nlp", "action": "adjust"}, 422, "hours"),
        ("admin", {"project_id": "nlp", "action": "adjust", "hours": "0.0001"}, 422, "hours"),
        ("admin", {"project_id": "nlp", "action": "delete"}, 422, "action"),
        ("admin", {"project_id": "p1", "action": "accept"}, 404, "project_id"),
        ("admin", {"project_id": "nlp", "action": "accept", "reason": " "}, 422, "reason"),
    ]:
        r = decide(client, rig, user, **fields)
        assert r.status_code == status, (fields, r.text)
        assert field is None or r.json()["error"]["field"] == field, r.text
    assert client.get("/api/v1/journal", headers=auth(rig, "admin")).json()["items"] == journal

    # -0.02 h = -72 s: debits nlp the 72 GPU-seconds sreport saw and we did not
    r = decide(client, rig, project_id="nlp", action="adjust", hours="-0.02", reason="sreport+72")
    assert r.status_code == 200, r.text
    nlp = lines(r.json())["nlp"]
    assert (nlp["status"], nlp["raw_status"], nlp["adjustments"]) == ("adjusted", "under", -72)
    assert lines(reconciliation(client, rig))["nlp"]["status"] == "adjusted"
    entries = client.get(
        "/api/v1/journal", params={"pool_id": POOL}, headers=auth(rig, "admin")
    ).json()["items"]
    adjustment = [e for e in entries if e["kind"] == "adjustment"]
    assert len(adjustment) == 1
    assert adjustment[0]["amount_seconds"] == 72
    assert (adjustment[0]["source"], adjustment[0]["target"]) == ("project:nlp", "ext:adjustments")
    assert adjustment[0]["reason"] == "sreport+72"
    assert adjustment[0]["period"] == "2026Q4"
    assert adjustment[0]["reference"].startswith("reconciliation:2026Q4:statement-")
    (balance,) = client.get(
        "/api/v1/projects/nlp/balances",
        params={"period": "2026Q4", "pool_id": POOL},
        headers=auth(rig, "admin"),
    ).json()["items"]
    # the project now bears what the statement says it used: 128 consumed + 72 debited
    assert (balance["adjustments_seconds"], balance["remaining_seconds"]) == (-72, -200)

    # a third statement: health 19 -> 100 as well; its difference is accepted as it stands
    assert upload(client, rig, ALTERED_HEALTH).status_code == 201
    got = lines(reconciliation(client, rig))
    assert (got["health"]["difference"], got["health"]["status"]) == (-81, "under")
    assert got["nlp"]["status"] == "adjusted"
    r = decide(client, rig, project_id="health", action="accept", reason="their rounding")
    assert r.status_code == 200, r.text
    got = lines(r.json())
    assert (got["health"]["status"], got["nlp"]["status"], got["thesis"]["status"]) == (
        "accepted",
        "adjusted",
        "match",
    )
    # an acceptance moves no hours
    entries = client.get("/api/v1/journal", params={"pool_id": POOL}, headers=auth(rig, "admin"))
    assert len([e for e in entries.json()["items"] if e["kind"] == "adjustment"]) == 1
    audit = client.get("/api/v1/audit", headers=auth(rig, "admin")).json()["items"]
    # newest first: the acceptance came after the adjustment
    assert [e["action"] for e in audit if e["action"].startswith("reconciliation.")] == [
        "reconciliation.accept",
        "reconciliation.adjust",
    ]


def test_an_adjustment_and_its_decision_are_one_transaction(
    client: TestClient, rig: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing the decision fails, the adjustment it came with is not left behind."""
    from connectors.db import repositories

    assert upload(client, rig, ALTERED).status_code == 201
    journal = client.get("/api/v1/journal", headers=auth(rig, "admin")).json()["items"]
    original = repositories.SqlAudit.append

    def failing(self: Any, event: Any) -> None:
        if event.action.startswith("reconciliation."):
            raise RuntimeError("disk full")
        original(self, event)

    monkeypatch.setattr(repositories.SqlAudit, "append", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        decide(client, rig, project_id="nlp", action="adjust", hours="-0.02")
    monkeypatch.undo()
    assert client.get("/api/v1/journal", headers=auth(rig, "admin")).json()["items"] == journal
    assert lines(reconciliation(client, rig))["nlp"]["status"] == "under"


def test_reconciliation_is_for_staff(client: TestClient, rig: World) -> None:
    for path in (RECONCILIATION, f"{RECONCILIATION}/jobs", STATEMENTS):
        r = client.get(
            path, params={"pool_id": POOL, "period": "2026Q4"}, headers=auth(rig, "alice")
        )
        assert r.status_code == 403, (path, r.text)
    r = client.get(
        RECONCILIATION, params={"pool_id": "nope", "period": "2026Q4"}, headers=auth(rig, "eng")
    )
    assert r.status_code == 404
