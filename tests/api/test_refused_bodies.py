"""Refused bodies: the wrong shape (not JSON, not an object, unknown fields, NUL characters)
and bad definitions of pools, chairs and projects.

Each row is a call refused with a 4xx naming the field and saying why, that changes nothing
(``tests.api.refusals``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.refusals import (
    ACCOUNT,
    CHAIR,
    LOCAL_POOL,
    NEW_PROJECT,
    RATE,
    SHAPE,
    A,
    Bad,
    case,
    check_refused,
    get,
    post,
)
from tests.builders import World

BODIES = [
    # shape of the body
    post(
        "unknown-extra-field",
        A,
        {**CHAIR, "colour": "red"},
        422,
        "colour",
        "Extra inputs are not permitted",
    ),
    post(
        "missing-required-field",
        A,
        {k: v for k, v in CHAIR.items() if k != "reason"},
        422,
        "reason",
        "required",
    ),
    post("body-is-a-list", A, [CHAIR], 422, "body", "valid dictionary"),
    case(
        Bad(
            "malformed-json",
            "POST",
            A,
            400,
            "body",
            "malformed JSON",
            content='{"pool_id": "nat",',
            headers={"Content-Type": "application/json"},
        ),
    ),
    case(
        Bad(
            "wrong-content-type",
            "POST",
            A,
            415,
            "content-type",
            "must be application/json, not 'text/plain'",
            content='{"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "hours": 1,'
            ' "reason": "x"}',
            headers={"Content-Type": "text/plain"},
        ),
    ),
    case(
        Bad(
            "form-instead-of-json",
            "POST",
            A,
            415,
            "content-type",
            "must be application/json",
            content="pool_id=nat&chair_id=chair-a&period=2026Q4&hours=1&reason=x",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        ),
    ),
    post(
        "nul-character-in-body",
        A,
        {**CHAIR, "reason": "a\x00b"},
        422,
        "reason",
        "must not contain NUL",
    ),
    get(
        "nul-character-in-query",
        "/api/v1/audit?subject=pool%00nat",
        422,
        "subject",
        "must not contain NUL",
    ),
    get("nul-character-in-path", "/api/v1/pools/na%00t", 422, "pool_id", "must not contain NUL"),
    # pools, chairs
    post(
        "local-pool-with-a-grant",
        "/api/v1/pools",
        {**LOCAL_POOL, "grant_hours": 5},
        422,
        "grant_hours",
        "a local pool has no grant",
    ),
    post(
        "pool-inventory-gpu-type-twice",
        "/api/v1/pools",
        {**LOCAL_POOL, "inventory": [{"gpu_type": "a100", "count": 1}] * 2},
        422,
        "inventory",
        "gpu_type 'a100' appears twice",
    ),
    post(
        "pool-rate-twice",
        "/api/v1/pools",
        {**LOCAL_POOL, "rates": [RATE, RATE]},
        422,
        "rates",
        "'a100' from 2026-01-01T00:00:00+00:00 appears twice",
    ),
    post(
        "pool-route-twice",
        "/api/v1/pools",
        {**LOCAL_POOL, "routes": [{"cluster": "lab", "partition": "gpu"}] * 2},
        422,
        "routes",
        "cluster 'lab' partition 'gpu' appears twice",
    ),
    post(
        "pool-route-of-another-pool",
        "/api/v1/pools",
        {**LOCAL_POOL, "routes": [{"cluster": "enact-dev"}]},
        409,
        "routes",
        "enact-dev (drawn by pool loc)",
    ),
    post(
        "pool-node-shape-twice",
        "/api/v1/pools",
        {**LOCAL_POOL, "node_shapes": [SHAPE, SHAPE]},
        422,
        "node_shapes",
        "partition 'gpu' appears twice",
    ),
    post(
        "project-member-twice",
        "/api/v1/projects",
        {**NEW_PROJECT, "members": ["bob", "bob"]},
        422,
        "members",
        "member 'bob' appears twice",
    ),
    post(
        "project-slurm-account-twice",
        "/api/v1/projects",
        {**NEW_PROJECT, "slurm_accounts": [ACCOUNT, ACCOUNT]},
        422,
        "slurm_accounts",
        "acct-p9@enact-dev appears twice",
    ),
    post(
        "project-unknown-pi",
        "/api/v1/projects",
        {**NEW_PROJECT, "pi": "nobody"},
        404,
        "pi",
        "unknown user 'nobody'",
    ),
    post(
        "project-unknown-member",
        "/api/v1/projects",
        {**NEW_PROJECT, "members": ["nobody"]},
        404,
        "members",
        "unknown user 'nobody'",
    ),
    post(
        "pool-id-taken", "/api/v1/pools", {**LOCAL_POOL, "id": "loc"}, 409, "id", "already exists"
    ),
    post(
        "chair-id-taken",
        "/api/v1/chairs",
        {"id": "chair-a", "name": "again"},
        409,
        "id",
        "already exists",
    ),
    post(
        "datetime-without-timezone",
        "/api/v1/pools/nat/grants",
        {"hours": 1, "reason": "x", "start": "2026-06-01T00:00:00"},
        422,
        "start",
        "timezone",
    ),
    post(
        "datetime-out-of-range-in-utc",
        "/api/v1/chairs",
        {"id": "chair-z", "name": "Z", "start": "9999-12-31T23:00:00-05:00"},
        422,
        "start",
        "out of range",
    ),
    post(
        "grant-window-outside-validity",
        "/api/v1/pools/nat/grants",
        {"hours": 1, "reason": "x", "start": "2026-01-01T00:00:00Z"},
        422,
        "start",
        "inside the pool's validity",
    ),
    post(
        "overcommit-factor-above-10",
        "/api/v1/pools/nat/overcommit",
        {"factor": 11, "reason": "x"},
        422,
        "factor",
        "less than or equal to 10",
    ),
]


@pytest.mark.parametrize("bad", BODIES)
def test_a_malformed_body_or_definition_is_refused_and_changes_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    check_refused(client, services, world, bad)
