"""Schemathesis hooks for the long run against the demo organisation.

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS=tests.fuzz.demo_hooks`` (see
``tests/fuzz/run_schemathesis.py``).
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis
from hypothesis import strategies as st

from tests.fuzz.steering import DEMO, fresh_idempotency_key, steer


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return steer(body, DEMO)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    return steer(path_parameters, DEMO)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return steer(query, DEMO)


_KEYS = itertools.count()


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """A fresh ``Idempotency-Key`` for every case: schemathesis draws the same few keys for
    different requests, and a key used for another request is a 422 by design (tested in
    ``tests/api/test_idempotency.py``), not an input the document could rule out."""
    case.headers = fresh_idempotency_key(case.headers, next(_KEYS))
