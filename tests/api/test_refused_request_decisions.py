"""Refused requests and decisions on them: transitions a request's state forbids, partial
approvals that do not fit, malformed submissions.

Each row is a call refused with a 4xx naming the field and saying why, that changes nothing
(``tests.api.refusals``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.refusals import (
    REQUEST,
    Bad,
    R,
    approved,
    check_refused,
    post,
    rejected,
    submitted,
    withdrawn,
)
from tests.builders import World

REQUESTS = [
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
        "more than the 5 h requested",
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
        "must not be blank",
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
]


@pytest.mark.parametrize("bad", REQUESTS)
def test_a_bad_request_or_decision_is_refused_and_changes_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    check_refused(client, services, world, bad)
