"""Bad input through the HTTP API: one table, one row per refused call.

Every row is a call that must be refused with a 4xx whose body
``{"error": {"code", "field", "message"}}`` names the offending field and says why, and that
leaves no trace: the journal, the audit log, the requests and the pools read through
``services.uow()`` are exactly what they were before the call (setup steps of a row, such as
submitting the request that is then wrongly approved, run before the "before" snapshot).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import World

Setup = Callable[[TestClient, dict[str, str]], dict[str, Any]]

CODES = {
    400: "malformed_json",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    415: "unsupported_media_type",
    422: "invalid_input",
}

_ABSENT = object()


# --- setups: state that a row needs, built through the API before the snapshot -------------


def _submit(c: TestClient, h: dict[str, str]) -> int:
    r = c.post(
        "/api/v1/requests",
        headers=h,
        json={
            "project_id": "p1",
            "pool_id": "nat",
            "periods": [{"period": "2026Q4", "hours": 5}, {"period": "2027Q1", "hours": 3}],
            "justification": "experiments",
        },
    )
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def submitted(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    return {"rid": _submit(c, h)}


def rejected(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/reject", headers=h, json={"reason": "no plan"})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def approved(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/approve", headers=h, json={})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def withdrawn(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    rid = _submit(c, h)
    r = c.post(f"/api/v1/requests/{rid}/withdraw", headers=h, json={"reason": "changed plans"})
    assert r.status_code == 200, r.text
    return {"rid": rid}


def chair_a_has_10h(c: TestClient, h: dict[str, str]) -> dict[str, Any]:
    r = c.post("/api/v1/allocations/chairs", headers=h, json={**CHAIR, "hours": 10})
    assert r.status_code == 201, r.text
    return {}


# --- the table --------------------------------------------------------------------------------

CHAIR = {"pool_id": "nat", "chair_id": "chair-a", "period": "2026Q4", "hours": 1, "reason": "x"}
PROJECT = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 1, "reason": "x"}
TRANSFER = {
    "pool_id": "nat",
    "period": "2026Q4",
    "from_project": "p1",
    "to_project": "p1b",
    "hours": 1,
    "reason": "x",
}
ADJUST = {"pool_id": "nat", "project_id": "p1", "period": "2026Q4", "hours": 1, "reason": "x"}
REQUEST = {
    "project_id": "p1",
    "pool_id": "nat",
    "periods": [{"period": "2026Q4", "hours": 5}],
    "justification": "experiments",
}
LOCAL_POOL = {
    "id": "loc2",
    "name": "second local cluster",
    "kind": "local",
    "inventory": [{"gpu_type": "a100", "count": 1}],
}
NEW_PROJECT = {"id": "p9", "chair_id": "chair-a", "name": "Project 9", "pi": "alice"}
RATE = {"gpu_type": "a100", "rate": 1, "effective_from": "2026-01-01T00:00:00Z"}
SHAPE = {"partition": "gpu", "gpus": 4, "cpus": 64, "mem_mb": 512_000}
ACCOUNT = {"cluster": "enact-dev", "account": "acct-p9"}


@dataclass(frozen=True)
class Bad:
    """One refused call: what is sent, and the status, field and reason expected back."""

    id: str
    method: str
    path: str
    status: int
    field: str | None
    reason: str
    json: Any = _ABSENT
    content: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    user: str = "admin"
    setup: Setup | None = None


def case(bad: Bad) -> Any:
    return pytest.param(bad, id=bad.id)


def post(
    name: str, path: str, body: Any, status: int, field: str | None, reason: str, **kw: Any
) -> Any:
    return case(Bad(name, "POST", path, status, field, reason, json=body, **kw))


def get(name: str, path: str, status: int, field: str | None, reason: str, **kw: Any) -> Any:
    return case(Bad(name, "GET", path, status, field, reason, **kw))


A = "/api/v1/allocations/chairs"
P = "/api/v1/allocations/projects"
T = "/api/v1/transfers"
ADJ = "/api/v1/adjustments"
R = "/api/v1/requests"
BIG = int("9" * 400)

CASES = [
    # hours
    post("hours-zero", A, {**CHAIR, "hours": 0}, 422, "hours", "greater than 0"),
    post("hours-negative", A, {**CHAIR, "hours": -5}, 422, "hours", "greater than 0"),
    post("hours-1e12", A, {**CHAIR, "hours": 1e12}, 422, "hours", "less than or equal"),
    post("hours-400-digits", A, {**CHAIR, "hours": BIG}, 422, "hours", "20 digits"),
    post("hours-non-numeric", A, {**CHAIR, "hours": "lots"}, 422, "hours", "decimal"),
    post("hours-nan", A, {**CHAIR, "hours": "NaN"}, 422, "hours", "finite number"),
    post("hours-boolean", A, {**CHAIR, "hours": True}, 422, "hours", "Decimal input"),
    post(
        "hours-sub-second", A, {**CHAIR, "hours": "0.0001"}, 422, "hours", "whole number of seconds"
    ),
    post(
        "hours-sub-second-project",
        P,
        {**PROJECT, "hours": "1.00001"},
        422,
        "hours",
        "whole number of seconds",
    ),
    post(
        "hours-sub-second-request",
        R,
        {**REQUEST, "periods": [{"period": "2026Q4", "hours": "0.50001"}]},
        422,
        "periods.0.hours",
        "whole number of seconds",
    ),
    # hours are ASCII decimals with at most 3 decimals (allocator/hours.py), strings and numbers
    post("hours-underscore", A, {**CHAIR, "hours": "1_000"}, 422, "hours", "not written as hours"),
    post(
        "hours-arabic-indic-digits",
        A,
        {**CHAIR, "hours": "\u0661\u0662"},
        422,
        "hours",
        "not written as hours",
    ),
    post("hours-surrounding-spaces", A, {**CHAIR, "hours": " 1 "}, 422, "hours", "not written"),
    post("hours-exponent-string", A, {**CHAIR, "hours": "1e1"}, 422, "hours", "not written"),
    post("hours-plus-sign", A, {**CHAIR, "hours": "+1"}, 422, "hours", "not written as hours"),
    post("hours-four-decimals", A, {**CHAIR, "hours": "0.0025"}, 422, "hours", "3 decimals"),
    post("hours-four-decimals-number", A, {**CHAIR, "hours": 0.0025}, 422, "hours", "3 decimals"),
    post(
        "hours-underscore-request",
        R,
        {**REQUEST, "periods": [{"period": "2026Q4", "hours": "1_0"}]},
        422,
        "periods.0.hours",
        "not written as hours",
    ),
    post("hours-spaces-adjustment", ADJ, {**ADJUST, "hours": " -1"}, 422, "hours", "not written"),
    post(
        "hours-arabic-indic-grant",
        "/api/v1/pools/nat/grants",
        {"hours": "\u0665", "reason": "x"},
        422,
        "hours",
        "not written as hours",
    ),
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
    # over-commit
    post(
        "overcommit-national-pool",
        A,
        {**CHAIR, "hours": 5000},
        409,
        "hours",
        "over-commit refused: pool nat",
    ),
    post(
        "overcommit-local-pool",
        A,
        {**CHAIR, "pool_id": "loc", "hours": 100_000},
        409,
        "hours",
        "over-commit refused: pool loc",
    ),
    post(
        "overcommit-chair-without-draw-from-pool",
        P,
        {**PROJECT, "hours": 11},
        409,
        "hours",
        "over-commit refused: chair chair-a",
        setup=chair_a_has_10h,
    ),
    post(
        "overcommit-draw-from-pool-beyond-the-pool",
        P,
        {**PROJECT, "hours": 5000, "draw_from_pool": True},
        409,
        "hours",
        "over-commit refused: pool nat",
    ),
    post(
        "overcommit-transfer-more-than-the-project-holds",
        T,
        {**TRANSFER, "hours": 2},
        409,
        "hours",
        "over-commit refused: project p1",
    ),
    # request transitions
    post(
        "approve-a-rejected-request",
        f"{R}/{{rid}}/approve",
        {},
        409,
        "state",
        "is rejected; it cannot be approved",
        setup=rejected,
    ),
    post(
        "withdraw-an-approved-request",
        f"{R}/{{rid}}/withdraw",
        {},
        409,
        "state",
        "is approved; it cannot be withdrawn",
        setup=approved,
    ),
    post(
        "reject-a-withdrawn-request",
        f"{R}/{{rid}}/reject",
        {"reason": "late"},
        409,
        "state",
        "is withdrawn",
        setup=withdrawn,
    ),
    post(
        "approve-an-approved-request",
        f"{R}/{{rid}}/approve",
        {},
        409,
        "state",
        "is approved; it cannot be approved",
        setup=approved,
    ),
    post(
        "comment-on-a-rejected-request",
        f"{R}/{{rid}}/comments",
        {"text": "hm"},
        409,
        "state",
        "cannot be commented",
        setup=rejected,
    ),
    # partial approval
    post(
        "partial-approval-more-than-requested",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q4", "hours": 6}]},
        422,
        "granted",
        "more than the 18000s requested",
        setup=submitted,
    ),
    post(
        "partial-approval-of-a-period-not-requested",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q3", "hours": 1}]},
        422,
        "granted",
        "2026Q3 was not requested",
        setup=submitted,
    ),
    post(
        "partial-approval-same-period-twice",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q4", "hours": 1}, {"period": "2026Q4", "hours": 2}]},
        422,
        "granted",
        "2026Q4 appears twice",
        setup=submitted,
    ),
    post(
        "partial-approval-of-nothing",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q4", "hours": 0}]},
        422,
        "granted",
        "grants nothing",
        setup=submitted,
    ),
    post(
        "partial-approval-sub-second",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q4", "hours": "1.0001"}]},
        422,
        "granted.0.hours",
        "whole number of seconds",
        setup=submitted,
    ),
    post(
        "partial-approval-negative",
        f"{R}/{{rid}}/approve",
        {"granted": [{"period": "2026Q4", "hours": -1}]},
        422,
        "granted.0.hours",
        "greater than or equal to 0",
        setup=submitted,
    ),
    # transfers and adjustments
    post(
        "transfer-across-chairs",
        T,
        {**TRANSFER, "to_project": "p2"},
        422,
        "to_project",
        "inside one chair",
    ),
    post(
        "transfer-to-itself", T, {**TRANSFER, "to_project": "p1"}, 422, "to_project", "must differ"
    ),
    post(
        "transfer-blank-reason",
        T,
        {**TRANSFER, "reason": "  "},
        422,
        "reason",
        "a transfer needs a reason",
    ),
    post("adjustment-zero-hours", ADJ, {**ADJUST, "hours": 0}, 422, "hours", "not be zero"),
    post(
        "adjustment-blank-reason",
        ADJ,
        {**ADJUST, "hours": -1, "reason": " "},
        422,
        "reason",
        "needs a reason",
    ),
    post(
        "adjustment-sub-second",
        ADJ,
        {**ADJUST, "hours": "-0.0001"},
        422,
        "hours",
        "whole number of seconds",
    ),
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
    # requests
    post(
        "request-empty-justification",
        R,
        {**REQUEST, "justification": ""},
        422,
        "justification",
        "at least 1 character",
    ),
    post(
        "request-blank-justification",
        R,
        {**REQUEST, "justification": "   "},
        422,
        "justification",
        "must not be empty",
    ),
    post(
        "request-duplicate-period",
        R,
        {
            **REQUEST,
            "periods": [{"period": "2026Q4", "hours": 5}, {"period": "2026Q4", "hours": 2}],
        },
        422,
        "periods",
        "2026Q4 appears twice",
    ),
    post(
        "request-without-periods", R, {**REQUEST, "periods": []}, 422, "periods", "at least 1 item"
    ),
    post(
        "request-unknown-gpu-type",
        R,
        {**REQUEST, "gpu_type": "z80"},
        422,
        "gpu_type",
        "not a GPU type of pool",
    ),
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

FORBIDDEN = [
    post(
        "researcher-allocates-to-a-chair",
        A,
        CHAIR,
        403,
        None,
        "alice is researcher; this needs admin",
        user="alice",
    ),
    post(
        "engineer-approves-a-request",
        f"{R}/{{rid}}/approve",
        {},
        403,
        None,
        "eng is engineer; this needs admin",
        user="eng",
        setup=submitted,
    ),
    post(
        "engineer-withdraws-someone-elses-request",
        f"{R}/{{rid}}/withdraw",
        {},
        403,
        None,
        "only the requester or an admin",
        user="eng",
        setup=submitted,
    ),
    post(
        "engineer-requests-hours-for-a-project-not-theirs",
        R,
        REQUEST,
        403,
        None,
        "only members of the project (or an admin) may request hours",
        user="eng",
    ),
    get(
        "researcher-reads-the-journal",
        "/api/v1/journal",
        403,
        None,
        "this needs admin or engineer",
        user="bob",
    ),
]


def snapshot(services: Services) -> dict[str, list[Any]]:
    """Everything a refused call must leave untouched, read straight from the database."""
    with services.uow() as uow:
        return {
            "journal": list(uow.ledger.entries()),
            "audit": list(uow.audit.list()),
            "requests": list(uow.requests.list()),
            "pools": list(uow.pools.list()),
            "chairs": list(uow.chairs.list()),
            "projects": list(uow.projects.list()),
        }


def check_refused(client: TestClient, services: Services, world: World, bad: Bad) -> dict[str, Any]:
    """Send ``bad`` (after its setup) and check the refusal and that nothing changed."""
    context = bad.setup(client, auth(world, "admin")) if bad.setup else {}
    kwargs: dict[str, Any] = {"headers": {**auth(world, bad.user), **bad.headers}}
    if bad.json is not _ABSENT:
        kwargs["json"] = bad.json
    if bad.content is not None:
        kwargs["content"] = bad.content
    before = snapshot(services)
    r = client.request(bad.method, bad.path.format(**context), **kwargs)
    after = snapshot(services)

    assert r.status_code == bad.status, r.text
    assert r.headers["content-type"] == "application/json", r.text
    error = r.json()["error"]
    assert error["code"] == CODES[bad.status], error
    assert error["field"] == bad.field, error
    assert bad.reason in error["message"], error
    assert after == before, "a refused call changed the stored state"
    return error


@pytest.mark.parametrize("bad", CASES)
def test_bad_input_is_refused_with_field_and_reason_and_changes_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    check_refused(client, services, world, bad)


@pytest.mark.parametrize("bad", FORBIDDEN)
def test_forbidden_calls_are_403_and_change_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    error = check_refused(client, services, world, bad)
    assert error["message"].startswith("forbidden: "), error


def test_the_table_covers_every_status_of_the_error_contract() -> None:
    statuses = {p.values[0].status for p in CASES}
    assert statuses == {400, 404, 409, 415, 422}
    assert {p.values[0].status for p in FORBIDDEN} == {403}
    assert len({p.id for p in [*CASES, *FORBIDDEN]}) == len(CASES) + len(FORBIDDEN)
