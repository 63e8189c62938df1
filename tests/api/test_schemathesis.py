"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document.

Schemathesis (OpenAPI 3.1) generates valid and invalid requests for every operation of
``/api/v1/openapi.json`` and sends them, authenticated as the admin of the seeded world, to the
ASGI app in process. The checks are that no request ever ends in a server error (5xx): every
bad input must be answered with a 4xx naming the field; and that every answer is one the
document promises: its status is documented for the operation (``status_code_conformance``)
and its body fits the documented schema (``response_schema_conformance``; errors: the one
``Error`` schema, ``connectors/http/openapi_errors.py``). A stateful test follows the
document's links (create -> read -> act) through the same app, with the same checks.

Bounded and reproducible: ``derandomize=True`` and a fixed number of examples per operation;
the long run (1,000 examples per operation, against a real server) is
``tests/fuzz/run_schemathesis.py``. SQLite only (the ``engine`` fixture is overridden below):
the point is the HTTP edge and the core, which are the same on both backends; PostgreSQL-only
faults (NUL characters in text, for instance) are covered by ``test_bad_input.py``.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy import Engine

from connectors.bootstrap import Services
from connectors.db.engine import make_engine
from connectors.http.app import create_app
from connectors.throttle import AuthThrottle
from tests.api.conftest import auth
from tests.builders import World
from tests.fuzz.steering import WORLD, steer

MAX_EXAMPLES = 25
#: No server error; every status and body as the document says.
CHECKS = (not_a_server_error, status_code_conformance, response_schema_conformance)


@pytest.fixture
def engine(tmp_path: Path, _sqlite_template: Path) -> Iterator[Engine]:
    """SQLite only, for this module (overrides the two-backend fixture of tests/conftest.py)."""
    path = tmp_path / "gpuhours.db"
    shutil.copy(_sqlite_template, path)
    eng = make_engine(f"sqlite:///{path}")
    yield eng
    eng.dispose()


@pytest.fixture
def fuzz_app(services: Services, world: World) -> FastAPI:
    # Negative cases send broken Authorization headers: with the default throttle every later
    # request would be a 429 and reach nothing behind authentication.
    services.auth_throttle = AuthThrottle(10_000, 1)
    return create_app(services=services)


def _steered(loaded: OpenApiSchema, known: dict[str, list[Any]]) -> OpenApiSchema:
    @loaded.hook
    def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
        return steer(body, known)

    @loaded.hook
    def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
        return steer(path_parameters, known)

    @loaded.hook
    def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
        return steer(query, known)

    return loaded


@pytest.fixture
def api_schema(fuzz_app: FastAPI) -> OpenApiSchema:
    return _steered(schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app), WORLD)


schema = schemathesis.pytest.from_fixture("api_schema")


# Fuzzing revokeToken with small ids revokes the admin's own token, and every later case
# would be a 401; its bad input is covered by tests/api/test_tokens.py.
@schema.exclude(operation_id="revokeToken").parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_documented_and_none_is_a_server_error(case: Any, world: World) -> None:
    response = case.call(headers=auth(world, "admin"))
    case.validate_response(response, checks=CHECKS)


def test_the_document_links_creates_to_reads_and_actions(fuzz_app: FastAPI) -> None:
    spec = fuzz_app.openapi()
    submit = spec["paths"]["/api/v1/requests"]["post"]
    links = submit["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} >= {
        "getRequest",
        "approveRequest",
        "withdrawRequest",
    }
    assert submit["operationId"] == "submitRequest"


def _copy_database(engine: Engine, source: Engine) -> None:
    """Overwrite ``engine``'s SQLite database with ``source``'s (the backup API)."""
    into, out_of = engine.raw_connection(), source.raw_connection()
    try:
        out_of.driver_connection.backup(into.driver_connection)  # type: ignore[union-attr]
    finally:
        into.close()
        out_of.close()


def test_chained_calls_along_the_links_end_in_documented_answers_only(
    api_schema: OpenApiSchema, world: World, engine: Engine, tmp_path: Path
) -> None:
    machine = api_schema.as_state_machine()
    headers = auth(world, "admin")
    seeded = make_engine(f"sqlite:///{tmp_path / 'seeded.db'}")
    _copy_database(seeded, engine)

    class Chained(machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            # Every scenario starts from the seeded world, so that each one is reproducible.
            _copy_database(engine, seeded)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Chained.run(
        settings=settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            stateful_step_count=6,
            suppress_health_check=list(HealthCheck),
        )
    )
    seeded.dispose()
