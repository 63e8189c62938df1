"""The request pages in process, on SQLite and PostgreSQL: a request submitted, commented,
withdrawn; a partial approval; refused values beside their fields with nothing written."""

from __future__ import annotations

import html
import re

from fastapi.testclient import TestClient

from allocator import services as svc
from allocator.model import RequestState
from connectors.bootstrap import Services
from tests.builders import ADMIN
from tests.web.inprocess import client_of, csrf_of, request_form, sign_in


def written(services: Services) -> tuple[int, int, int]:
    """How many journal entries, audit events and requests there are."""
    with services.uow() as uow:
        return (
            len(list(uow.ledger.entries(None, None, None, None))),
            len(list(uow.audit.list(None))),
            len(list(uow.requests.list(None, None))),
        )


def error_beside(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page, re.S)
    assert found is not None, field
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip()


def test_a_request_is_submitted_commented_and_withdrawn_by_its_requester(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    made = client.post(
        "/portal/requests/new", data=request_form(csrf_of(client, "/portal/requests/new"))
    )
    page = made.headers["location"].split("?")[0]
    csrf = csrf_of(client, page)
    client.post(f"{page}/comment", data={"csrf": csrf, "text": "for chapter 2"})
    client.post(f"{page}/withdraw", data={"csrf": csrf, "reason": "found hours elsewhere"})
    shown = client.get(page).text
    assert "withdrawn" in shown and "for chapter 2" in shown and "found hours elsewhere" in shown
    (request,) = svc.list_requests(services.uow(), ADMIN)
    assert request.state is RequestState.WITHDRAWN and request.requested_total == 10 * 3600
    assert "/withdraw" not in shown  # nothing left to withdraw


def test_refused_values_are_shown_beside_their_fields_and_nothing_is_written(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    before = written(services)
    csrf = csrf_of(client, "/portal/requests/new")
    cases = [
        ({"hours-2026Q4": "1e3"}, "hours-2026Q4", "Enter a number of hours above 0"),
        ({"hours-2026Q4": "-2"}, "hours-2026Q4", "Enter a number of hours above 0"),
        ({"hours-2026Q4": "0.001"}, "hours-2026Q4", "Enter a number of hours above 0"),
        ({"hours-2026Q4": ""}, "periods", "at least one period"),
        ({"justification": "  "}, "justification", "Explain what the hours are for."),
        ({"project_id": "p2"}, "project_id", "Choose one of the list."),  # not hers
        ({"pool_id": "atlantis"}, "pool_id", "Choose one of the list."),
        ({"gpu_type": "v100"}, "gpu_type", "'v100' is not a GPU type of pool 'nat'"),
    ]
    for change, field, reason in cases:
        answer = client.post("/portal/requests/new", data=request_form(csrf) | change)
        assert answer.status_code == 422, change
        assert reason in error_beside(answer.text, field), (change, answer.text)
        assert 'aria-invalid="true"' in answer.text
    assert written(services) == before


def test_an_administrator_grants_part_of_a_request_with_a_reason(
    services: Services, tokens: dict[str, str]
) -> None:
    with client_of(services) as alice, client_of(services) as admin:
        sign_in(alice, tokens["alice"])
        sign_in(admin, tokens["admin"])
        form = request_form(csrf_of(alice, "/portal/requests/new")) | {"hours-2027Q1": "5"}
        page = alice.post("/portal/requests/new", data=form).headers["location"].split("?")[0]
        assert f'href="{page}"' in admin.get("/portal/queue").text
        csrf = csrf_of(admin, page)
        before = written(services)
        grant = {"csrf": csrf, "granted-2026Q4": "4", "granted-2027Q1": "5"}
        refused = admin.post(f"{page}/approve", data=grant)  # less than asked: why?
        assert "Give the reason" in error_beside(refused.text, "approve-reason")
        refused = admin.post(f"{page}/approve", data=grant | {"granted-2027Q1": "9", "reason": "x"})
        assert "more than the" in error_beside(refused.text, "granted")
        assert written(services) == before
        admin.post(f"{page}/approve", data=grant | {"reason": "half now"})
        with services.uow() as uow:
            assert "request.partially_approved" in [e.action for e in uow.audit.list(None)]
        shown = alice.get(page).text
        assert "partially approved" in shown and "half now" in shown
        assert (
            alice.post(f"{page}/approve", data=grant | {"csrf": csrf_of(alice, page)}).status_code
            == 403
        )
