"""Every request the OpenAPI document describes as valid is accepted, but for rules it states
in words only.

Schemathesis generates requests in positive mode only (each one valid for the document:
types, patterns, bounds, enums, required fields, the ``if``/``then`` rules between fields) and
sends them to the app in process, as the admin of the seeded world, ids steered to known ones
(``tests/fuzz/steering.py``). The check (``positive_data_acceptance``) is that none is refused
as malformed: no 400, 413, 415 or 422. The exceptions are the refusals listed in
``tests.fuzz.steering.STATED_IN_WORDS``: rules that depend on the state (a pool's validity,
its GPU types, a request's periods), on the clock (an expiry, a rate's date), or compare two
fields or two list items (``end`` after ``start``; a period twice), which JSON Schema cannot
state and the document says in words. A refusal outside that list is a documented schema
looser than the validation.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema

from tests.api.conftest import auth
from tests.api.test_schemathesis import _steered, engine, fuzz_app  # noqa: F401 (fixtures)
from tests.builders import World
from tests.fuzz.steering import WORLD, fresh_idempotency_key, stated_in_words

MAX_EXAMPLES = 300


@pytest.fixture
def positive_schema(fuzz_app: FastAPI) -> OpenApiSchema:  # noqa: F811 (the imported fixture)
    loaded = schemathesis.openapi.from_asgi("/api/v1/openapi.json", fuzz_app)
    # NUL characters are refused everywhere: a rule of the whole API (the document's
    # description), not of each string.
    loaded.config.generation.update(modes=[GenerationMode.POSITIVE], allow_x00=False)
    # Known ids and periods swapped in; not hours, which would break the rules between
    # fields (an acceptance moves no hours).
    return _steered(loaded, {k: v for k, v in WORLD.items() if k != "hours"})


schema = schemathesis.pytest.from_fixture("positive_schema")
_KEYS = itertools.count()


_selected = schema.exclude(operation_id="revokeToken")


@_selected.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_a_request_the_document_calls_valid_is_not_refused_as_malformed(
    case: Any, world: World
) -> None:
    # A key used for another request is a 422 by design (tests/api/test_idempotency.py).
    case.headers = fresh_idempotency_key(case.headers, next(_KEYS))
    response = case.call(headers=auth(world, "admin"))
    if response.status_code == 422 and stated_in_words(response.json()["error"]):
        return
    case.validate_response(response, checks=(positive_data_acceptance,))
