"""Refused references: unknown pools, chairs, projects and requests; malformed or
out-of-range periods.

Each row is a call refused with a 4xx naming the field and saying why, that changes nothing
(``tests.api.refusals``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.refusals import (
    CHAIR,
    PROJECT,
    REQUEST,
    TRANSFER,
    A,
    Bad,
    P,
    R,
    T,
    check_refused,
    get,
    post,
)
from tests.builders import World

REFERENCES = [
    # unknown things
    post("unknown-pool", A, {**CHAIR, "pool_id": "nope"}, 404, "pool_id", "unknown pool"),
    post("unknown-chair", A, {**CHAIR, "chair_id": "nope"}, 404, "chair_id", "unknown chair"),
    post(
        "unknown-project",
        P,
        {**PROJECT, "project_id": "nope"},
        404,
        "project_id",
        "unknown project",
    ),
    post(
        "unknown-project-transfer",
        T,
        {**TRANSFER, "from_project": "nope"},
        404,
        "from_project",
        "unknown project",
    ),
    post("unknown-pool-request", R, {**REQUEST, "pool_id": "nope"}, 404, "pool_id", "unknown pool"),
    post("unknown-request-approve", f"{R}/999/approve", {}, 404, "request_id", "unknown request"),
    get(
        "unknown-pool-balance",
        "/api/v1/pools/nope/balances?period=2026Q4",
        404,
        "pool_id",
        "unknown pool",
    ),
    get(
        "unknown-chair-balance",
        "/api/v1/chairs/nope/balances?pool_id=nat&period=2026Q4",
        404,
        "chair_id",
        "unknown chair",
    ),
    post(
        "project-of-another-chair-is-unknown-to-researcher",
        R,
        {**REQUEST, "project_id": "p2"},
        404,
        "project_id",
        "unknown project",
        user="alice",
    ),
    # periods
    post(
        "period-outside-validity",
        A,
        {**CHAIR, "period": "2028Q1"},
        422,
        "period",
        "outside the validity",
    ),
    post(
        "period-outside-validity-request",
        R,
        {**REQUEST, "periods": [{"period": "2028Q1", "hours": 5}]},
        422,
        "periods",
        "outside the validity",
    ),
    post("period-malformed-q5", A, {**CHAIR, "period": "2026Q5"}, 422, "period", "pattern"),
    post("period-malformed-words", A, {**CHAIR, "period": "Q4-2026"}, 422, "period", "pattern"),
    post(
        "period-non-ascii-digits",
        A,
        {**CHAIR, "pool_id": "loc", "period": "\u0662\u0660\u0662\u0666Q4"},
        422,
        "period",
        "not a period label",
    ),
    get("period-year-zero", "/api/v1/balances?period=0000Q1", 422, "period", "out of range"),
    get("period-malformed-query", "/api/v1/balances?period=2026Q9", 422, "period", "pattern"),
    post(
        "period-malformed-path-local",
        "/api/v1/pools/loc/periods/Q4-2026/open",
        None,
        422,
        "period",
        "not a period label",
    ),
    post(
        "period-malformed-path-national",
        "/api/v1/pools/nat/periods/2026Q9/open",
        None,
        422,
        "period",
        "not a period label",
    ),
    post(
        "period-trailing-newline-path",
        "/api/v1/pools/loc/periods/2026Q4%0A/open",
        None,
        422,
        "period",
        "not a period",
    ),
]


@pytest.mark.parametrize("bad", REFERENCES)
def test_a_bad_reference_is_refused_naming_the_field_and_changes_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    check_refused(client, services, world, bad)
