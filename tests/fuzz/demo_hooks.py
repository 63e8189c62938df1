"""Schemathesis hooks for the long run against the demo organisation.

Loaded by the schemathesis CLI through ``SCHEMATHESIS_HOOKS=tests.fuzz.demo_hooks`` (see
``tests/fuzz/run_schemathesis.py``).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import strategies as st

from tests.fuzz.steering import DEMO, steer


@schemathesis.hook
def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
    return steer(body, DEMO)


@schemathesis.hook
def flatmap_path_parameters(context: Any, path_parameters: Any) -> st.SearchStrategy[Any]:
    return steer(path_parameters, DEMO)


@schemathesis.hook
def flatmap_query(context: Any, query: Any) -> st.SearchStrategy[Any]:
    return steer(query, DEMO)
