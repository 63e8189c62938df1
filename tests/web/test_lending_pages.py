"""The administrators' lending page in process, on SQLite and PostgreSQL: the chair's terms
saved, a loan above the lending limit refused beside its field (nothing written), a loan
journaled ``loan:1``, a recall the policy forbids refused beside the lender; in English and
French; nobody but an administrator reaches the page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from allocator import services as svc
from connectors.bootstrap import Services
from tests.builders import ADMIN, CAL, H
from tests.conftest import FixedClock
from tests.web.inprocess import csrf_of, sign_in
from tests.web.test_round_pages import beside

WHERE = {"chair": "chair-a", "pool": "nat", "period": "2026Q4"}


def test_an_admin_sets_terms_and_lends_in_the_portal(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FixedClock
) -> None:
    svc.allocate_to_project(
        services.uow(), ADMIN, clock(), "nat", "p1", "2026Q4", 100 * H, "x", True, calendar=CAL
    )
    sign_in(client, tokens["admin"])
    assert 'href="/portal/lending"' in client.get("/portal/projects").text
    csrf = csrf_of(client, "/portal/lending?chair=chair-a&pool=nat&period=2026Q4")
    page = client.get("/portal/lending", params=WHERE).text
    assert "Projects of the chair" in page and "p1b" in page

    terms = {"csrf": csrf, **WHERE, "policy": "period_end", "limit-lend-p1": "40"}
    saved = client.post("/portal/lending/terms", data=terms | {"limit-borrow-p1": "x"})
    assert saved.status_code == 422 and beside(saved.text, "limit-borrow-p1")
    saved = client.post("/portal/lending/terms", data=terms | {"limit-borrow-p1": ""})
    assert saved.status_code == 303, saved.text

    with services.uow() as uow:
        journal = len(uow.ledger.entries())
    loan = {
        "csrf": csrf,
        **WHERE,
        "lend-lender": "p1",
        "lend-borrower": "p1b",
        "lend-reason": "paper",
    }
    too_much = client.post("/portal/lending/lend", data=loan | {"lend-hours": "41"})
    assert too_much.status_code == 422
    assert "lending limit" in beside(too_much.text, "lend-hours")
    with services.uow() as uow:
        assert len(uow.ledger.entries()) == journal
    lent = client.post("/portal/lending/lend", data=loan | {"lend-hours": "30"})
    assert lent.status_code == 303, lent.text
    page = client.get(lent.headers["location"]).text
    assert "The loan was journaled." in page and "loan:1" in page
    with services.uow() as uow:
        assert [e.reference for e in uow.ledger.entries()[journal:]] == ["loan:1"]

    recall = {"csrf": csrf, **WHERE, "recall-lender": "p1", "recall-hours": "5"}
    recall["recall-reason"] = "need it"
    refused = client.post("/portal/lending/recall", data=recall)
    assert refused.status_code == 422
    assert "period&#39;s end only" in beside(refused.text, "recall-lender")

    client.cookies.set("gpuhours_lang", "fr")
    french = client.get("/portal/lending", params=WHERE).text
    assert "Prêts au sein d’une chaire" in french and "Projets de la chaire" in french


def test_only_administrators_reach_the_lending_page(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    assert client.get("/portal/lending").status_code == 403
    assert 'href="/portal/lending"' not in client.get("/portal/projects").text
