"""Steering for schemathesis: swap known ids into generated requests.

Generated ids are almost never ones the database knows, so every call would stop at a 404;
half of the generated bodies, paths and queries get known values swapped in instead, to reach
the allocator's rules (over-commit, transitions, validity windows, closed periods). Used by the
bounded in-process test (``tests/api/test_schemathesis.py``, the seeded test world) and by the
long run against a real server (``tests/fuzz/run_schemathesis.py``, the demo organisation).
Also: a fresh ``Idempotency-Key`` per case, and the refusals of the rules the document states
in words only (:data:`STATED_IN_WORDS`), which a request valid for the document may meet.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

#: Known values of the seeded test world (``tests/builders.py``).
WORLD: dict[str, list[Any]] = {
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

#: Known values of the demo organisation (``connectors/demo.py``).
DEMO: dict[str, list[Any]] = {
    "pool_id": ["ai2f-jz", "enact-local"],
    "chair_id": ["chair-nlp", "chair-health", "chair-vision"],
    "project_id": ["proj-thesis-01", "proj-nlp-rnd", "proj-rnd-01"],
    "from_project": ["proj-thesis-01", "proj-nlp-rnd"],
    "to_project": ["proj-thesis-02", "proj-rnd-01"],
    "username": ["alice", "bob", "admin"],
    "request_id": [1, 2, 3, 4, 5],
    "period": ["2026Q3", "2026Q4", "2027Q1"],
    "hours": [1, "2.5", 2500, 1_000_000],
}


def steer(value: Any, known: dict[str, list[Any]]) -> st.SearchStrategy[Any]:
    """``value`` as generated, or with its known keys set to known values (half and half)."""
    if not isinstance(value, dict):
        return st.just(value)
    # An acceptance moves no hours: known amounts are not swapped into one.
    keys = [
        k for k in value if k in known and not (k == "hours" and value.get("action") == "accept")
    ]
    swaps = {key: st.sampled_from(known[key]) for key in keys}
    if not swaps:
        return st.just(value)
    return st.one_of(st.just(value), st.fixed_dictionaries(swaps).map(lambda s: {**value, **s}))


IDEMPOTENCY_KEY = "Idempotency-Key"


def fresh_idempotency_key(headers: dict[str, Any] | None, serial: int) -> dict[str, Any] | None:
    """``headers`` with a generated ``Idempotency-Key`` made unique by ``serial`` (a suffix,
    within the key's 255 printable characters); without one, unchanged."""
    if not headers or not isinstance(headers.get(IDEMPOTENCY_KEY), str):
        return headers
    suffix = f"-{serial}"
    return {**headers, IDEMPOTENCY_KEY: headers[IDEMPOTENCY_KEY][: 255 - len(suffix)] + suffix}


#: ``(field, message)`` regular expressions of the refusals the document states in words only.
STATED_IN_WORDS = [
    # the state: a pool's validity and GPU types, a request's periods and amounts
    (r"periods?|granted", r"is outside the validity of pool|was not requested|more than the"),
    (r"start|end", r"the grant window must lie inside|a grant needs a window"),
    (r"gpu_type", r"is not a GPU type of pool"),
    (r"to_project", r"transfers stay inside one chair"),
    (r"borrower|limits", r"is not of .*'s chair|is not a project of"),
    (r"pool_id", r"has no validity window"),
    (r"periods?|granted", r"begins after the end of project"),
    (r"project_id", r"has no end date passed"),
    (r"cluster|slurm_accounts(\.\d+\.cluster)?", r"is not a cluster gpuhours knows"),
    (r"hours|granted", r"over-commit|not enough|exceeds"),
    # the clock
    (r"effective_from", r"must not be in the past"),
    (r"expires_at", r"is not in the future|at most \d+ days ahead"),
    (r"start|end|valid_from|valid_until", r"is outside this site's periods"),
    # the caller's role: staff name the project whose jobs they read
    (r"project_id", r"name a project \(a researcher's default: theirs\)"),
    # a path parameter and the body compared: a mandatory kind is never off
    (r"mode", r"cannot be turned off"),
    # two fields, two list items, or query parameters compared
    (r"end|valid_until", r"must be after"),
    (r"to_project", r"must differ from from_project"),
    (r"borrower", r"must differ from the lender"),
    # a list's cursor is opaque: only a `next` the same list gave is one (the parameter's text)
    (r"cursor", r"not a cursor of this list"),
    (
        r"periods|granted|inventory|rates|routes|node_shapes|members|slurm_accounts|weights|limits",
        r"twice",
    ),
    (r"map_\w+|delimiter", r"only for the mapped-csv format|names|give "),
    # the whole API: no NUL character anywhere (the document's description)
    (r".*", r"must not contain NUL"),
    # a statement file's content: its rows are checked line by line (a refusal names the line,
    # and the column, whose name is then the field: a period the file gives, a mapped column)
    (r"body", r"^line \d+: "),
    (r".*", r"^line \d+, column '[^']*': "),
    # a time whose offset takes it out of years 1..9999 in UTC (the type's description)
    (r".*", r"out of range once converted to UTC"),
]


def stated_in_words(error: dict[str, Any]) -> bool:
    """Is ``error`` (an answer's ``error``) the refusal of a rule the OpenAPI document states
    in words only (:data:`STATED_IN_WORDS`)?"""
    field, message = str(error.get("field")), str(error.get("message"))
    text = message.removeprefix(f"{field}: ")
    return any(re.fullmatch(f, field) and re.search(m, text) for f, m in STATED_IN_WORDS)
