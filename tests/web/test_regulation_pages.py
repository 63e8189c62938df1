"""The administrators' regulation page in process, on SQLite and PostgreSQL: a rule with a
parameter out of bounds refused beside its field, the GENCI rule set on the national pool, the
simulation showing p1's 400 h and their date, the clawback applied once with the CSRF token;
in English and French; nobody but an administrator reaches the page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from allocator import services as svc
from connectors.bootstrap import Services
from tests.builders import ADMIN, CAL, H
from tests.conftest import FixedClock
from tests.web.inprocess import csrf_of, sign_in
from tests.web.test_round_pages import beside


def test_an_admin_regulates_a_pool_simulates_and_applies_once_in_the_portal(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FixedClock
) -> None:
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", "2026Q4", 1000 * H, "x", True, calendar=CAL
    )
    sign_in(client, tokens["admin"])
    assert 'href="/portal/regulation"' in client.get("/portal/projects").text
    csrf = csrf_of(client, "/portal/regulation")
    rule = {"csrf": csrf, "pool": "nat", "rule": "genci", "destination": "chair"}
    refused = client.post("/portal/regulation", data=rule | {"reclaim_percent": "101"})
    assert refused.status_code == 422 and "from 1 to 100" in beside(
        refused.text, "rule-reclaim_percent"
    )
    saved = client.post("/portal/regulation", data=rule)
    assert saved.status_code == 303, saved.text
    page = client.get(saved.headers["location"]).text
    assert "The pool&#39;s rule was saved." in page and "400 h on Oct 1, 2026" in page

    with services.uow() as uow:
        journal = len(uow.ledger.entries())
    applied = client.post("/portal/regulation/apply", data={"csrf": csrf, "pool": "nat"})
    assert applied.status_code == 303, applied.text
    assert (
        client.post("/portal/regulation/apply", data={"csrf": csrf, "pool": "nat"}).status_code
        == 303
    )
    with services.uow() as uow:
        posted = uow.ledger.entries()[journal:]
    assert [(e.reference, e.amount) for e in posted] == [("clawback:genci:p1:2026-10-01", 400 * H)]
    assert "none" in client.get("/portal/regulation?pool=nat").text

    client.cookies.set("gpuhours_lang", "fr")
    french = client.get("/portal/regulation?pool=nat").text
    assert "Régulation des allocations" in french and "Simulation pour nat" in french


def test_only_administrators_reach_the_regulation_page(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    assert client.get("/portal/regulation").status_code == 403


def test_an_admin_sets_a_thesis_end_on_the_project_page(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    csrf = csrf_of(client, "/portal/projects/p1/members")
    refused = client.post("/portal/projects/p1/end", data={"csrf": csrf, "end": "15/12/2026"})
    assert refused.status_code == 422 and "2026-12-15" in beside(refused.text, "end")
    saved = client.post("/portal/projects/p1/end", data={"csrf": csrf, "end": "2026-12-15"})
    assert saved.status_code == 303, saved.text
    page = client.get(saved.headers["location"]).text
    assert "The project&#39;s end was saved" in page and 'value="2026-12-15"' in page
    with services.uow() as uow:
        end = uow.projects.get("p1")
    assert end is not None and end.end is not None and end.end.isoformat().startswith("2026-12-15")
