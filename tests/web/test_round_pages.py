"""The administrators' allocation rounds in process, on SQLite and PostgreSQL: a round opened
from the list, its chairs weighed, its proposal read with each line's sentence, a line edited
above its request refused beside the field (nothing written), the round approved with its
CSRF token; in English and French; nobody but an administrator reaches the pages."""

from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient

from allocator import services as svc
from connectors.bootstrap import Services
from tests.builders import ADMIN, ALICE, BOB, CAL, H
from tests.conftest import FixedClock
from tests.web.inprocess import csrf_of, sign_in


def beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def test_an_admin_opens_weighs_edits_and_approves_a_round_in_the_portal(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FixedClock
) -> None:
    sign_in(client, tokens["admin"])
    assert 'href="/portal/rounds"' in client.get("/portal/projects").text
    csrf = csrf_of(client, "/portal/rounds")
    refused = client.post("/portal/rounds", data={"csrf": csrf, "period": "2026Q4"})
    assert refused.status_code == 422 and beside(refused.text, "round-pools")
    form = {"csrf": csrf, "period": "2026Q4", "pool-nat": "yes", "deadline": "2026-11-21T09:30"}
    opened = client.post("/portal/rounds", data=form)
    assert opened.status_code == 303, opened.text
    path = opened.headers["location"].split("?")[0]
    asks = [
        svc.submit_request(
            services.uow(), who, clock(), p, "nat", [("2026Q4", 2000 * H)], "x", calendar=CAL
        )
        for who, p in ((ALICE, "p1"), (BOB, "p2"))
    ]
    weighed = client.post(
        f"{path}/weights", data={"csrf": csrf, "weight-chair-a": "1", "weight-chair-b": "2"}
    )
    assert weighed.status_code == 303, weighed.text

    clock.now += timedelta(minutes=40)  # past the deadline, within the session
    answer = client.get(path)
    page = answer.text
    assert answer.status_code == 200, (answer.status_code, answer.headers)
    assert "Demand against supply" in page and "share of chair-a" in page
    assert "at weight 2" in page and "Approve every line in one transaction" in page
    with services.uow() as uow:
        journal = len(uow.ledger.entries())
    line = {"csrf": csrf, "request": str(asks[0].id), "hours": "5000", "reason": "all of it"}
    too_much = client.post(f"{path}/lines", data=line)
    assert too_much.status_code == 422
    assert "exceeds the 2 000 h asked" in beside(too_much.text, f"edit-hours-{asks[0].id}")
    edited = client.post(f"{path}/lines", data=line | {"hours": "100"})
    assert edited.status_code == 303, edited.text
    assert "edited by admin: all of it" in client.get(path).text

    approved = client.post(f"{path}/approve", data={"csrf": csrf, "reason": "committee"})
    assert approved.status_code == 303, approved.text
    page = client.get(approved.headers["location"]).text
    assert "The round was approved" in page and "round:1" in page
    with services.uow() as uow:
        entries = uow.ledger.entries()[journal:]
    assert entries and {e.reference for e in entries} == {"round:1"}

    client.cookies.set("gpuhours_lang", "fr")
    french = client.get(path).text
    assert "Campagne 1 : 2026Q4" in french and "Les lignes approuvées" in french


def test_only_administrators_reach_the_rounds(client: TestClient, tokens: dict[str, str]) -> None:
    sign_in(client, tokens["alice"])
    assert client.get("/portal/rounds").status_code == 403
    assert 'href="/portal/rounds"' not in client.get("/portal/projects").text


def test_a_rounds_page_shows_each_gpu_types_supply_beside_its_demand(
    client: TestClient, services: Services, tokens: dict[str, str], clock: FixedClock
) -> None:
    """loc holds 2 a100: its a100 supply (4 416 h over 2026Q4) shows on a100's row, and the
    pool's total on the row of every type, in English and French."""
    sign_in(client, tokens["admin"])
    opened = svc.open_round(
        services.uow(),
        ADMIN,
        clock(),
        "2026Q4",
        ["loc"],
        clock() + timedelta(minutes=30),
        calendar=CAL,
    )
    svc.submit_request(
        services.uow(),
        ALICE,
        clock(),
        "p1",
        "loc",
        [("2026Q4", 5000 * H)],
        "x",
        "a100",
        calendar=CAL,
    )
    clock.now += timedelta(minutes=40)
    page = client.get(f"/portal/rounds/{opened.id}").text
    row = re.search(r"<tr><th scope=\"row\">loc</th><td>a100</td>.*?</tr>", page)
    assert row is not None and ">5,000<" in row.group(0) and ">4,416<" in row.group(0)
    assert "every type (pool total)" in page and "less what is already approved" in page
    client.cookies.set("gpuhours_lang", "fr")
    assert "tous types (total de l’enveloppe)" in client.get(f"/portal/rounds/{opened.id}").text
