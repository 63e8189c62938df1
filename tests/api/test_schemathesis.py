"""Property-based fuzzing of the whole HTTP API from its own OpenAPI document.

Schemathesis generates valid and invalid requests for every operation of
``/api/v1/openapi.json`` and sends them, authenticated as the admin of the seeded world, to the
ASGI app in process. The only check is that no request ever ends in a server error (5xx):
every bad input must be answered with a 4xx naming the field.

Bounded and reproducible: ``derandomize=True`` and a fixed number of examples per operation.
SQLite only (the ``engine`` fixture is overridden below): the point is the HTTP edge and the
core, which are the same on both backends; PostgreSQL-only faults (NUL characters in text, for
instance) are covered by ``test_bad_input.py``, which runs on both.
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
from hypothesis.internal.conjecture import utils as conjecture_utils
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.schemas import BaseOpenAPISchema
from sqlalchemy import Engine

from connectors.bootstrap import Services
from connectors.db.engine import make_engine
from connectors.http.app import create_app
from tests.api.conftest import auth
from tests.builders import World

MAX_EXAMPLES = 25


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
    return create_app(services=services)


@pytest.fixture
def api_schema(fuzz_app: FastAPI) -> Iterator[BaseOpenAPISchema]:
    if not hasattr(conjecture_utils.many, "more"):
        pytest.fail(
            "hypothesis >= 6.170.10 removed the internal many.more() that hypothesis-jsonschema"
            " 0.23.1 (used by schemathesis 3.x) calls: pin hypothesis<6.170.10"
        )
    # FastAPI publishes OpenAPI 3.1, which schemathesis 3.x reads behind an experimental flag.
    openapi_31 = schemathesis.experimental.OPEN_API_3_1
    was_enabled = openapi_31.is_enabled
    openapi_31.enable()
    try:
        yield schemathesis.from_asgi(
            "/api/v1/openapi.json",
            fuzz_app,
            data_generation_methods=[
                schemathesis.DataGenerationMethod.positive,
                schemathesis.DataGenerationMethod.negative,
            ],
        )
    finally:
        if not was_enabled:
            openapi_31.disable()


schema = schemathesis.from_pytest_fixture("api_schema")

#: Values the seeded world knows. Generated ids are almost never these, so every call would stop
#: at a 404; half of the generated bodies, paths and queries get them swapped in instead, to
#: reach the allocator's rules (over-commit, transitions, validity windows).
KNOWN: dict[str, list[Any]] = {
    "pool_id": ["nat", "loc"],
    "chair_id": ["chair-a", "chair-b"],
    "project_id": ["p1", "p1b", "p2"],
    "from_project": ["p1", "p1b", "p2"],
    "to_project": ["p1", "p1b", "p2"],
    "username": ["alice", "bob", "eng"],
    "request_id": [1, 2, 3],
    "period": ["2026Q4", "2027Q1", "2028Q1"],
    "hours": [1, "2.5", 2500, 1_000_000],
}


def _steer(value: Any) -> st.SearchStrategy[Any]:
    if not isinstance(value, dict):
        return st.just(value)
    swaps = {key: st.sampled_from(KNOWN[key]) for key in value if key in KNOWN}
    if not swaps:
        return st.just(value)
    return st.one_of(st.just(value), st.fixed_dictionaries(swaps).map(lambda s: {**value, **s}))


@schema.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return _steer(body)


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    return _steer(path_parameters)


@schema.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return _steer(query)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_request_ends_in_a_server_error(case: Any, world: World) -> None:
    response = case.call(headers=auth(world, "admin"))
    case.validate_response(response, checks=(not_a_server_error,))
