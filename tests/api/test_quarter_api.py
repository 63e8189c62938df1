"""The quarter's accounting through the HTTP API: statements, reconciliation, decisions, reports,
the close and burn rates, on both backends.

Figures are worked out by hand from the recorded rig pair (see ``tests/quarter_support.py``):
our 128 / 19 / 87 GPU-seconds for nlp / health / thesis against sreport's direct usage.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from connectors.bootstrap import Services
from connectors.http import quarter_routes
from tests.api.conftest import auth
from tests.builders import World
from tests.conftest import FixedClock
from tests.quarter_support import (
    ALTERED,
    ALTERED_HEALTH,
    POOL,
    SREPORT,
    q3_job,
    recorded_jobs,
    seed_rig,
    statement_counts,
    store,
)

STATEMENTS = "/api/v1/statements"
RECONCILIATION = "/api/v1/reconciliation"
DECISIONS = "/api/v1/reconciliation/decisions"


@pytest.fixture
def rig(services: Services, world: World, clock: FixedClock, engine: Engine) -> World:
    """The world, plus the rig pool, its three projects and the recorded hour-07 jobs."""
    seed_rig(services.uow(), clock())
    store(engine, recorded_jobs(), clock())
    return world


def upload(
    client: TestClient,
    world: World,
    data: bytes,
    *,
    user: str = "admin",
    period: str = "2026Q4",
    fmt: str = "sreport",
    content_type: str = "text/plain",
    **params: str,
) -> Response:
    query = {"pool_id": POOL, "period": period, "format": fmt, **params}
    headers = {**auth(world, user), "Content-Type": content_type}
    return client.post(STATEMENTS, params=query, content=data, headers=headers)


def reconciliation(client: TestClient, world: World, **params: Any) -> dict[str, Any]:
    query = {"pool_id": POOL, "period": "2026Q4", **params}
    r = client.get(RECONCILIATION, params=query, headers=auth(world, "eng"))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def lines(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {ln["project_id"]: ln for ln in body["lines"]}


def decide(client: TestClient, world: World, user: str = "admin", **fields: Any) -> Response:
    body = {"pool_id": POOL, "period": "2026Q4", "reason": "checked with the centre", **fields}
    return client.post(DECISIONS, json=body, headers=auth(world, user))


# --- statements: bad files are refused whole, naming the line and the column ---------------

NATIONAL = "project_account,hardware,period,hours_consumed,normalised_hours\n"
HEADER = "Cluster|Account|Login|Proper Name|TRES Name|Used\n"

#: (case, format, file, line, column (None: the file as a whole), reason)
BAD_FILES: list[tuple[str, str, str, int, str | None, str]] = [
    (
        "missing-column",
        "sreport",
        "Cluster|Account|Login|Proper Name|TRES Name\nenact-local|chair-nlp|alice||gres/gpu\n",
        1,
        "Used",
        "missing column",
    ),
    (
        "wrong-column",
        "national-csv",
        "project_account,hardware,period,hours,normalised_hours\nchair-nlp,a100,2026Q4,1,1\n",
        1,
        "hours",
        "unexpected column",
    ),
    (
        "bad-number",
        "sreport",
        HEADER
        + "enact-local|chair-nlp|alice||gres/gpu|128\nenact-local|chair-health|bob||gres/gpu|1x9\n",
        3,
        "Used",
        "'1x9' is not a number of seconds",
    ),
    (
        "negative-number",
        "national-csv",
        NATIONAL + "chair-nlp,a100,2026Q4,1,1\nchair-nlp,h100,2026Q4,-2,1\n",
        3,
        "hours_consumed",
        "'-2' is negative",
    ),
    (
        "unknown-account",
        "sreport",
        HEADER + "enact-local|chair-nlp|alice||gres/gpu|128\nenact-local|ghost|alice||gres/gpu|5\n",
        3,
        "account",
        "unknown account 'ghost'",
    ),
    (
        "duplicate-row",
        "sreport",
        HEADER
        + "enact-local|chair-nlp|alice||gres/gpu|128\nenact-local|chair-nlp|alice||gres/gpu|3\n",
        3,
        "Login",
        "duplicate row",
    ),
    (
        "another-period",
        "national-csv",
        NATIONAL + "chair-nlp,a100,2026Q4,1,1\nchair-health,a100,2026Q3,1,1\n",
        3,
        "period",
        "period '2026Q3' is not 2026Q4",
    ),
    (
        "sreport-of-another-period",
        "sreport",
        "Cluster/Account/User Utilization 2026-08-01T00:00:00 - 2026-08-01T00:59:59 (3600 secs)\n"
        + HEADER
        + "enact-local|chair-nlp|alice||gres/gpu|128\n",
        1,
        None,
        "not inside 2026Q4",
    ),
    (
        "empty-body",
        "sreport",
        "",
        1,
        None,
        "the file is empty",
    ),
    (
        "short-row",
        "national-csv",
        NATIONAL + "chair-nlp,a100,2026Q4,1\n",
        2,
        "normalised_hours",
        "the row ends before this column",
    ),
]


def test_bad_statements_are_refused_naming_line_and_column_and_import_nothing(
    client: TestClient, rig: World, engine: Engine
) -> None:
    audit = client.get("/api/v1/audit", headers=auth(rig, "admin")).json()
    for case, fmt, text, line, column, reason in BAD_FILES:
        r = upload(client, rig, text.encode(), fmt=fmt)
        assert r.status_code == 422, (case, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_input", case
        assert error["line"] == line, (case, error)
        assert error["field"] == (column or "body"), (case, error)
        assert f"line {line}" in error["message"], (case, error)
        if column is not None:
            assert f"column {column!r}" in error["message"], (case, error)
        assert reason in error["message"], (case, error)
        assert statement_counts(engine) == (0, 0), case
    assert client.get("/api/v1/audit", headers=auth(rig, "admin")).json() == audit


def test_an_unknown_format_is_refused_naming_the_format(
    client: TestClient, rig: World, engine: Engine
) -> None:
    r = upload(client, rig, SREPORT, fmt="excel")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "format"
    assert statement_counts(engine) == (0, 0)


def test_a_mapped_csv_is_read_through_its_declared_columns(
    client: TestClient, rig: World, engine: Engine
) -> None:
    text = "Compte;Heures GPU;Type\nchair-nlp;0,5;a100\nchair-health;0,25;h100\n"
    mapping = {"map_account": "Compte", "map_hours": "Heures GPU", "map_gpu_type": "Type"}
    r = upload(client, rig, text.encode(), fmt="mapped-csv", content_type="text/csv", **mapping)
    assert r.status_code == 201, r.text
    assert r.json()["format"] == "mapped-csv" and r.json()["lines"] == 2
    got = lines(reconciliation(client, rig))
    assert got["nlp"]["theirs"] == 1800 and got["health"]["theirs"] == 900

    # a mapped column missing from the file: refused naming it; a mapping without account
    bad = {**mapping, "map_hours": "Hours"}
    r = upload(client, rig, text.encode(), fmt="mapped-csv", **bad)
    assert r.status_code == 422, r.text
    assert (r.json()["error"]["field"], r.json()["error"]["line"]) == ("Hours", 1)
    r = upload(client, rig, text.encode(), fmt="mapped-csv", map_hours="Heures GPU")
    assert r.status_code == 422 and r.json()["error"]["field"] == "map_account", r.text
    r = upload(client, rig, SREPORT, fmt="sreport", map_account="Account")
    assert r.status_code == 422 and r.json()["error"]["field"] == "map_account", r.text
    r = upload(client, rig, text.encode(), fmt="mapped-csv", **mapping, map_gpu_seconds="Type")
    assert r.status_code == 422 and r.json()["error"]["field"] == "map_hours", r.text
    assert statement_counts(engine) == (1, 2)


def test_the_same_file_twice_is_one_statement(
    client: TestClient, rig: World, engine: Engine
) -> None:
    first = upload(client, rig, SREPORT, file_name="sreport_hour07.psv")
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    assert first.json()["origin"] == "sreport:sreport_hour07.psv"
    assert first.json()["imported_by"] == "admin"
    # sreport's direct usage summed per account: 3 lines
    assert first.json()["lines"] == 3
    again = upload(client, rig, SREPORT, file_name="another-name.psv")
    assert again.status_code == 200, again.text
    assert again.json() == {**first.json(), "created": False}
    assert statement_counts(engine) == (1, 3)
    listed = client.get(STATEMENTS, params={"pool_id": POOL}, headers=auth(rig, "eng")).json()
    assert [s["id"] for s in listed] == [first.json()["id"]]


def test_a_statement_as_a_multipart_form_file(client: TestClient, rig: World) -> None:
    r = client.post(
        STATEMENTS,
        params={"pool_id": POOL, "period": "2026Q4", "format": "sreport"},
        files={"file": ("dir/hour07.psv", SREPORT, "text/plain")},
        headers=auth(rig, "admin"),
    )
    assert r.status_code == 201, r.text
    assert r.json()["file_name"] == "hour07.psv"
    # the same bytes as a raw body: recognised as the same file
    again = upload(client, rig, SREPORT)
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    r = client.post(
        STATEMENTS,
        params={"pool_id": POOL, "period": "2026Q4", "format": "sreport"},
        files={"other": ("x.psv", SREPORT, "text/plain")},
        headers=auth(rig, "admin"),
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "file", r.text


def test_upload_limits_media_types_and_roles(
    client: TestClient, rig: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    r = upload(client, rig, b"x" * (quarter_routes.MAX_STATEMENT_BYTES + 1))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["field"] == "body"
    monkeypatch.setattr(quarter_routes, "MAX_STATEMENT_BYTES", len(SREPORT) - 1)
    assert upload(client, rig, SREPORT).status_code == 413
    monkeypatch.undo()
    r = upload(client, rig, SREPORT, content_type="application/json")
    assert r.status_code == 415, r.text
    assert r.json()["error"]["field"] == "content-type"
    for user in ("eng", "alice"):
        r = upload(client, rig, SREPORT, user=user)
        assert r.status_code == 403, r.text
    r = upload(client, rig, SREPORT, pool_id="nope")
    assert r.status_code == 404, r.text
    assert statement_counts(engine) == (0, 0)


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
    ).json()
    assert sorted(j["job_id"] for j in jobs) == [1, 6, 10, 11, 12, 13, 14]
    assert sum(j["gpu_seconds"] for j in jobs) == 128
    assert {j["account"] for j in jobs} == {"chair-nlp"}
    unmapped = client.get(
        f"{RECONCILIATION}/jobs",
        params={"pool_id": POOL, "period": "2026Q4", "project_id": ""},
        headers=auth(rig, "eng"),
    )
    assert unmapped.status_code == 200 and unmapped.json() == []

    # refused decisions change nothing
    journal = client.get("/api/v1/journal", headers=auth(rig, "admin")).json()
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
    assert client.get("/api/v1/journal", headers=auth(rig, "admin")).json() == journal

    # -0.02 h = -72 s: debits nlp the 72 GPU-seconds sreport saw and we did not
    r = decide(client, rig, project_id="nlp", action="adjust", hours="-0.02", reason="sreport+72")
    assert r.status_code == 200, r.text
    nlp = lines(r.json())["nlp"]
    assert (nlp["status"], nlp["raw_status"], nlp["adjustments"]) == ("adjusted", "under", -72)
    assert lines(reconciliation(client, rig))["nlp"]["status"] == "adjusted"
    entries = client.get(
        "/api/v1/journal", params={"pool_id": POOL}, headers=auth(rig, "admin")
    ).json()
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
    ).json()
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
    assert len([e for e in entries.json() if e["kind"] == "adjustment"]) == 1
    audit = client.get("/api/v1/audit", headers=auth(rig, "admin")).json()
    assert [e["action"] for e in audit if e["action"].startswith("reconciliation.")] == [
        "reconciliation.adjust",
        "reconciliation.accept",
    ]


def test_an_adjustment_and_its_decision_are_one_transaction(
    client: TestClient, rig: World, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If writing the decision fails, the adjustment it came with is not left behind."""
    from connectors.db import repositories

    assert upload(client, rig, ALTERED).status_code == 201
    journal = client.get("/api/v1/journal", headers=auth(rig, "admin")).json()
    original = repositories.SqlAudit.append

    def failing(self: Any, event: Any) -> None:
        if event.action.startswith("reconciliation."):
            raise RuntimeError("disk full")
        original(self, event)

    monkeypatch.setattr(repositories.SqlAudit, "append", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        decide(client, rig, project_id="nlp", action="adjust", hours="-0.02")
    monkeypatch.undo()
    assert client.get("/api/v1/journal", headers=auth(rig, "admin")).json() == journal
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


# --- reports ----------------------------------------------------------------------------------


def test_report_formats(client: TestClient, rig: World) -> None:
    assert upload(client, rig, ALTERED).status_code == 201
    h = auth(rig, "eng")

    r = client.get("/api/v1/reports/2026Q4", params={"format": "json"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    doc = json.loads(r.text)
    assert doc["period"] == "2026Q4" and doc["closed_at"] is None
    projects = {
        row["project"]: row
        for row in doc["rows"]
        if row["level"] == "project" and row["pool"] == POOL
    }
    assert {p: row["consumed"] for p, row in projects.items()} == {
        "nlp": 128,
        "health": 19,
        "thesis": 87,
    }
    assert (projects["nlp"]["statement"], projects["nlp"]["status"]) == (200, "under")
    assert client.get("/api/v1/reports/2026Q4", headers=h).text == r.text  # json by default

    r = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="gpuhours-2026Q4.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert r.text.splitlines()[0].startswith("period,level,pool,chair,project,unit,")
    nlp = next(row for row in rows if row["project"] == "nlp")
    assert (nlp["pool"], nlp["chair"], nlp["consumed_hours"]) == (POOL, "rig-chair", "0.04")
    assert (nlp["statement_hours"], nlp["difference_hours"], nlp["status"]) == (
        "0.06",
        "-0.02",
        "under",
    )
    assert {row["level"] for row in rows} == {"pool", "chair", "project"}

    r = client.get("/api/v1/reports/2026Q4", params={"format": "html"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "<svg" in r.text and "rig-chair" in r.text and "</html>" in r.text

    r = client.get("/api/v1/reports/2026Q4", params={"format": "pdf"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "format"
    r = client.get("/api/v1/reports/2026Q9", headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"


def test_researchers_get_403_on_reports_close_and_decisions(client: TestClient, rig: World) -> None:
    h = auth(rig, "alice")
    assert client.get("/api/v1/reports/2026Q4", headers=h).status_code == 403
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "end"}, headers=h)
    assert r.status_code == 403
    assert decide(client, rig, "alice", project_id="nlp", action="accept").status_code == 403
    r = client.post(
        "/api/v1/periods/2026Q3/close", json={"reason": "end"}, headers=auth(rig, "eng")
    )
    assert r.status_code == 403
    state = client.get("/api/v1/periods/2026Q3", headers=h).json()
    assert state["closed"] is False


# --- the close --------------------------------------------------------------------------------


def _allocate_q3(client: TestClient, world: World) -> None:
    h = auth(world, "admin")
    r = client.post(
        "/api/v1/allocations/chairs",
        json={
            "pool_id": POOL,
            "chair_id": "rig-chair",
            "period": "2026Q3",
            "hours": 10,
            "reason": "Q3",
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/allocations/projects",
        json={"pool_id": POOL, "project_id": "nlp", "period": "2026Q3", "hours": 4, "reason": "Q3"},
        headers=h,
    )
    assert r.status_code == 201, r.text


def test_close_freezes_the_period_and_late_usage_lands_in_the_next(
    client: TestClient, rig: World, engine: Engine, clock: FixedClock
) -> None:
    h = auth(rig, "admin")
    # 2026Q4 has not ended (the clock says 2026-11-21)
    r = client.post("/api/v1/periods/2026Q4/close", json={"reason": "too early"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "period"
    assert "has not ended" in r.json()["error"]["message"]

    _allocate_q3(client, rig)
    store(engine, [q3_job(101, 10, 3600)], clock())  # 1 GPU-hour of nlp in September
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": " "}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "reason"

    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3 signed off"}, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    signed = r.text
    doc = json.loads(signed)
    assert doc["closed_by"] == "admin"
    assert datetime.fromisoformat(doc["closed_at"]) == clock()
    nlp = next(row for row in doc["rows"] if row["project"] == "nlp")
    # 4 h allocated, 1 h consumed: 3 h expire (the pool's close policy)
    assert (nlp["allocated"], nlp["consumed"], nlp["expired"]) == (14400, 3600, 10800)
    state = client.get("/api/v1/periods/2026Q3", headers=auth(rig, "alice")).json()
    assert state == {
        "period": "2026Q3",
        "start": "2026-07-01T00:00:00Z",
        "end": "2026-10-01T00:00:00Z",
        "closed": True,
        "closed_at": "2026-11-21T09:00:00Z",
        "closed_by": "admin",
    }

    before = client.get("/api/v1/reports/2026Q3", headers=h)
    assert before.text == signed
    before_csv = client.get("/api/v1/reports/2026Q3", params={"format": "csv"}, headers=h).text
    q4_before = _nlp_q4_consumed(client, rig)

    # a job of September arrives after the close: 2 GPU-hours
    store(engine, [q3_job(102, 20, 7200)], clock())
    assert client.get("/api/v1/reports/2026Q3", headers=h).content == before.content
    after_csv = client.get("/api/v1/reports/2026Q3", params={"format": "csv"}, headers=h).text
    assert after_csv == before_csv
    # ... and is booked in 2026Q4, as late usage
    assert _nlp_q4_consumed(client, rig) == q4_before + 7200
    q4 = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h).text
    nlp_q4 = next(row for row in csv.DictReader(io.StringIO(q4)) if row["project"] == "nlp")
    assert nlp_q4["late_hours"] == "2.00"
    jobs = client.get(
        f"{RECONCILIATION}/jobs",
        params={"pool_id": POOL, "period": "2026Q4", "project_id": "nlp"},
        headers=h,
    ).json()
    assert [(j["job_id"], j["late"]) for j in jobs if j["late"]] == [(102, True)]

    # nothing moves into a closed period any more
    journal = client.get("/api/v1/journal", headers=h).json()
    for path, target in [
        ("/api/v1/allocations/chairs", {"chair_id": "rig-chair"}),
        ("/api/v1/allocations/projects", {"project_id": "nlp"}),
        ("/api/v1/adjustments", {"project_id": "nlp"}),
    ]:
        body = {"pool_id": POOL, "period": "2026Q3", "hours": 1, "reason": "late", **target}
        r = client.post(path, json=body, headers=h)
        assert r.status_code == 409, (path, r.text)
        assert r.json()["error"]["field"] == "period"
    r = upload(
        client,
        rig,
        HEADER.encode() + b"enact-local|chair-nlp|alice||gres/gpu|3600\n",
        period="2026Q3",
    )
    assert r.status_code == 409 and r.json()["error"]["field"] == "period", r.text
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "again"}, headers=h)
    assert r.status_code == 409 and r.json()["error"]["field"] == "period", r.text
    assert client.get("/api/v1/journal", headers=h).json() == journal


def _nlp_q4_consumed(client: TestClient, world: World) -> int:
    rows = client.get(
        "/api/v1/balances",
        params={"period": "2026Q4", "pool_id": POOL, "include_empty": "true"},
        headers=auth(world, "admin"),
    ).json()
    (nlp,) = [r for r in rows if r["project_id"] == "nlp"]
    return int(nlp["consumed_seconds"])


def test_an_unresolved_reconciliation_blocks_the_close_unless_forced(
    client: TestClient, rig: World, engine: Engine, clock: FixedClock
) -> None:
    h = auth(rig, "admin")
    store(engine, [q3_job(101, 10, 3600)], clock())
    # the statement says 3 000 GPU-seconds; we counted 3 600: over
    r = upload(
        client,
        rig,
        HEADER.encode() + b"enact-local|chair-nlp|alice||gres/gpu|3000\n",
        period="2026Q3",
    )
    assert r.status_code == 201, r.text
    journal = client.get("/api/v1/journal", headers=h).json()
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3"}, headers=h)
    assert r.status_code == 409, r.text
    assert r.json()["error"]["field"] == "period" and "is over" in r.json()["error"]["message"]
    assert client.get("/api/v1/periods/2026Q3", headers=h).json()["closed"] is False
    assert client.get("/api/v1/journal", headers=h).json() == journal
    r = client.post("/api/v1/periods/2026Q3/close", json={"reason": "Q3", "force": True}, headers=h)
    assert r.status_code == 200, r.text
    nlp = next(row for row in json.loads(r.text)["rows"] if row["project"] == "nlp")
    assert (nlp["statement"], nlp["difference"], nlp["status"]) == (3000, 600, "over")


# --- burn rates -------------------------------------------------------------------------------


def test_burn_rates_and_projected_exhaustion(client: TestClient, rig: World) -> None:
    h = auth(rig, "admin")
    r = client.post(
        "/api/v1/allocations/projects",
        json={
            "pool_id": POOL,
            "project_id": "nlp",
            "period": "2026Q4",
            "hours": 1,
            "reason": "Q4",
            "draw_from_pool": True,
        },
        headers=h,
    )
    assert r.status_code == 201, r.text
    rows = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=h).json()
    by_key = {(row["project_id"], row["pool_id"]): row for row in rows}
    assert set(by_key) == {("nlp", POOL), ("health", POOL), ("thesis", POOL)}
    nlp = by_key[("nlp", POOL)]
    assert (nlp["allocated_seconds"], nlp["consumed_seconds"], nlp["remaining_seconds"]) == (
        3600,
        128,
        3472,
    )
    # 128 unit-seconds today, by 09:00: over 7 days that is 128 / (6 d + 9 h) = 128 / 550 800
    # per second = 0.00558 h/day; over 30 days 128 / (29 d + 9 h) = 0.00121 h/day.
    assert nlp["burn_rate_7d_hours_per_day"] == 0.006
    assert nlp["burn_rate_30d_hours_per_day"] == 0.001
    # 3 472 remaining at 128 / 550 800 per second: 14 940 450 s = 172 d 22:07:30 from now
    assert nlp["projected_exhaustion"] == "2027-05-13T07:07:30Z"
    # nothing allocated to health: no exhaustion to project
    assert by_key[("health", POOL)]["projected_exhaustion"] is None
    assert by_key[("health", POOL)]["burn_rate_7d_hours_per_day"] == 0.001  # 19 s

    # a researcher sees the projects she belongs to only
    mine = client.get("/api/v1/burn", params={"period": "2026Q4"}, headers=auth(rig, "alice"))
    assert [(row["project_id"], row["pool_id"]) for row in mine.json()] == [("nlp", POOL)]
    assert mine.json() == [nlp]  # her accounts' usage alone gives the same burn as everyone's
    only = client.get(
        "/api/v1/burn", params={"period": "2026Q4", "pool_id": "nat"}, headers=h
    ).json()
    assert only == []
    r = client.get("/api/v1/burn", params={"period": "Q4"}, headers=h)
    assert r.status_code == 422 and r.json()["error"]["field"] == "period"


def test_an_open_period_reads_as_open_to_anyone(client: TestClient, rig: World) -> None:
    r = client.get("/api/v1/periods/2026Q4", headers=auth(rig, "bob"))
    assert r.status_code == 200, r.text
    start = datetime.fromisoformat(r.json()["start"])
    assert start == datetime(2026, 10, 1, tzinfo=UTC) and r.json()["closed"] is False
