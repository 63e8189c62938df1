"""The books in the portal, in process, on SQLite and PostgreSQL: the journal newest first, 50
a page with an "older" link that keeps the filters, the audit trail by subject, the allocation
table's headroom at each level; researchers are refused them."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from allocator import services as svc
from connectors.bootstrap import Services
from tests.builders import ADMIN
from tests.web.inprocess import client_of, sign_in

H = 3600


def allocate(services: Services, chair: str, project: str | None, hours: int) -> None:
    now, calendar = services.clock(), services.settings.calendar
    svc.allocate_to_chair(
        services.uow(), ADMIN, now, "loc", chair, "2026Q4", hours * H, "share", calendar=calendar
    )
    if project is not None:
        svc.allocate_to_project(
            services.uow(), ADMIN, now, "loc", project, "2026Q4", hours // 2 * H, "thesis",
            calendar=calendar,
        )  # fmt: skip


def ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr><td class="num">(\d+)</td>', html)]


def test_the_journal_pages_newest_first_and_keeps_its_filters(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    for _ in range(30):
        allocate(services, "chair-a", "p1", 2)  # 60 entries of loc
    sign_in(client, tokens["admin"])
    first = client.get("/portal/journal?pool=loc")
    assert first.status_code == 200
    shown = ids(first.text)
    assert len(shown) == 50 and shown == sorted(shown, reverse=True)
    older = re.search(r'href="(/portal/journal\?[^"]*before=\d+)"', first.text)
    assert older is not None and "pool=loc" in older.group(1)
    rest = ids(client.get(older.group(1).replace("&amp;", "&")).text)
    with services.uow() as uow:
        every = sorted((e.id for e in uow.ledger.entries(pool_id="loc")), reverse=True)
    assert shown + rest == every  # each entry once, newest first, across the two pages
    mine = client.get("/portal/journal?account=project:p1").text
    assert ids(mine) and all("project:p1" in row for row in re.findall(r"<tr><td.*?</tr>", mine))
    assert client.get("/portal/journal?period=2026-11").status_code == 404


def test_the_audit_trail_shows_a_subjects_events(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    page = client.get("/portal/audit?subject=pool:nat")
    assert page.status_code == 200
    assert "pool.created" in page.text and "pool:loc" not in page.text


def test_the_allocation_table_shows_the_headroom_at_each_level(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    allocate(services, "chair-a", "p1", 100)  # chair-a: 100 h, 50 given to p1
    allocate(services, "chair-b", None, 40)
    sign_in(client, tokens["admin"])
    page = client.get("/portal/allocations?period=2026Q4&pool=loc")
    assert page.status_code == 200
    assert "allocated to chairs 140 h" in page.text

    def figures(html: str, name: str) -> list[str]:
        row = re.search(rf"<tr[^>]*><th scope=\"row\"><a [^>]*>{name}</a></th>(.*?)</tr>", html)
        assert row is not None, name
        return re.findall(r'class="num">([\d,.]+)<', row.group(1))

    assert figures(page.text, "chair-a") == ["100", "50", "0", "50", "1"]
    assert figures(page.text, "chair-b") == ["40", "0", "0", "40", "0"]
    assert "Projects of chair-a" not in page.text  # a chair's projects: on asking
    opened = client.get("/portal/allocations?period=2026Q4&pool=loc&chair=chair-a").text
    p1 = re.search(
        r'<td><a href="/portal/projects/p1\?period=2026Q4">p1</a></td>(.*?)</tr>', opened
    )
    assert p1 is not None
    assert re.findall(r'class="num">([\d,.]+)<', p1.group(1)) == ["50", "0", "50"]
    assert client.get("/portal/allocations?pool=nope").status_code == 404
    assert client.get("/portal/allocations?pool=loc&chair=nope").status_code == 404


@pytest.mark.parametrize("path", ["/portal/journal", "/portal/audit", "/portal/allocations"])
def test_a_researcher_is_refused_the_books(
    services: Services, tokens: dict[str, str], path: str
) -> None:
    with client_of(services) as client:
        sign_in(client, tokens["alice"])
        assert client.get(path).status_code == 403
