"""Forbidden calls: a 403 naming the role needed, and nothing changed; and the tables together
cover every status of the error contract."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from connectors.bootstrap import Services
from tests.api.refusals import CHAIR, REQUEST, A, Bad, R, check_refused, get, post, submitted
from tests.api.test_refused_amounts import AMOUNTS
from tests.api.test_refused_bodies import BODIES
from tests.api.test_refused_references import REFERENCES
from tests.api.test_refused_request_decisions import REQUESTS
from tests.builders import World

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

CASES = [*AMOUNTS, *REFERENCES, *REQUESTS, *BODIES]


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
