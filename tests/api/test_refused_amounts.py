"""Refused amounts of hours: malformed, out of bounds, over-committed; bad transfers and
adjustments.

Each row is a call refused with a 4xx naming the field and saying why, that changes nothing
(``tests.api.refusals``).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.refusals import (
    ADJ,
    ADJUST,
    BIG,
    CHAIR,
    PROJECT,
    REQUEST,
    TRANSFER,
    A,
    Bad,
    P,
    R,
    T,
    chair_a_has_10h,
    check_refused,
    post,
)
from tests.builders import World

AMOUNTS = [
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
        "must not be blank",
    ),
    post("adjustment-zero-hours", ADJ, {**ADJUST, "hours": 0}, 422, "hours", "not be zero"),
    post(
        "adjustment-blank-reason",
        ADJ,
        {**ADJUST, "hours": -1, "reason": " "},
        422,
        "reason",
        "must not be blank",
    ),
    post(
        "adjustment-sub-second",
        ADJ,
        {**ADJUST, "hours": "-0.0001"},
        422,
        "hours",
        "whole number of seconds",
    ),
]


@pytest.mark.parametrize("bad", AMOUNTS)
def test_a_bad_amount_is_refused_naming_the_field_and_changes_nothing(
    client: TestClient, services: Services, world: World, bad: Bad
) -> None:
    check_refused(client, services, world, bad)
