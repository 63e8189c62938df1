"""Statements through the HTTP API, on both backends: a bad file is refused whole, naming the
line and the column; the same file twice is one statement; uploads as a body or a form file,
within limits."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.http import statement_routes
from tests.api.conftest import auth
from tests.api.quarter.support import (
    HEADER,
    STATEMENTS,
    lines,
    reconciliation,
    upload,
)
from tests.builders import World
from tests.quarter_support import (
    POOL,
    SREPORT,
    statement_counts,
)

# --- statements: bad files are refused whole, naming the line and the column ---------------

NATIONAL = "project_account,hardware,period,hours_consumed,normalised_hours\n"

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
    audit = client.get("/api/v1/audit", headers=auth(rig, "admin")).json()["items"]
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
    assert client.get("/api/v1/audit", headers=auth(rig, "admin")).json()["items"] == audit


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
    listed = client.get(STATEMENTS, params={"pool_id": POOL}, headers=auth(rig, "eng")).json()[
        "items"
    ]
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
    r = upload(client, rig, b"x" * (statement_routes.MAX_STATEMENT_BYTES + 1))
    assert r.status_code == 413, r.text
    assert r.json()["error"]["field"] == "body"
    monkeypatch.setattr(statement_routes, "MAX_STATEMENT_BYTES", len(SREPORT) - 1)
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
