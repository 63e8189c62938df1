"""Every page of the portal, in English and in French, in a real browser against a real
``gpuhours serve --demo`` (SQLite and PostgreSQL): axe-core finds no serious or critical
accessibility violation, nothing is requested outside the server's origin, and every page fits
a phone's width (only a table may scroll, inside its own focusable region)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from allocator.periods import period_containing
from tests.web.conftest import Server, offline_context, signed_in

pytestmark = pytest.mark.slow

ALICES = ("proj-thesis-01", "proj-nlp-rnd", "proj-law-01")
LOCALES = {"en": "en-GB", "fr": "fr-FR"}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}


def a_round(server: Server) -> int:
    """The demo's open round over every pool in the current period (opened the first time)."""
    found = server.api("/rounds")["items"]
    if found:
        return int(found[0]["id"])
    pools = [p["id"] for p in server.api("/pools")["items"]]
    now = datetime.now(UTC)
    body = {
        "period": period_containing(now).label,
        "pool_ids": pools,
        "deadline": (now + timedelta(days=1)).isoformat(),
    }
    request = urllib.request.Request(
        f"{server.url}/api/v1/rounds",
        data=json.dumps(body).encode(),
        headers={
            "Authorization": f"Bearer {server.admin_token}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return int(json.loads(answer.read())["id"])


def pages(server: Server) -> dict[str | None, list[tuple[str, int]]]:
    """``(path, status)`` of each page, by who opens it (``None``: nobody signed in)."""
    every = server.api("/requests")["items"]
    alices = next(r["id"] for r in every if r["project_id"] in ALICES)
    waiting = next(r["id"] for r in every if r["state"] == "submitted")
    return {
        None: [("/portal/signin", 200)],
        "alice": [
            ("/portal/projects", 200),
            ("/portal/projects/proj-thesis-01", 200),
            ("/portal/projects/proj-thesis-01/jobs", 200),
            ("/portal/chairs/chair-nlp", 200),
            ("/portal/requests", 200),
            ("/portal/requests/new", 200),
            ("/portal/notifications", 200),
            ("/portal/tokens", 200),
            (f"/portal/requests/{alices}", 200),
            ("/portal/projects/proj-rnd-01", 404),
        ],
        "admin": [
            ("/portal/queue", 200),
            ("/portal/quarter", 200),
            ("/portal/rounds", 200),
            (f"/portal/rounds/{a_round(server)}", 200),
            ("/portal/lending", 200),
            ("/portal/regulation?pool=ai2f-jz", 200),
            ("/portal/quarter?pool=enact-local", 200),
            ("/portal/quarter/close?pool=enact-local", 200),
            ("/portal/reports/" + period_containing(datetime.now(UTC)).label, 200),
            ("/portal/allocations", 200),
            ("/portal/journal", 200),
            ("/portal/journal?pool=enact-local", 200),
            ("/portal/audit", 200),
            ("/portal/pools", 200),
            ("/portal/organisation", 200),
            ("/portal/users", 200),
            ("/portal/notifications/site", 200),
            ("/portal/notifications/outbox", 200),
            ("/portal/pools/ai2f-jz", 200),
            ("/portal/projects/proj-thesis-01/members", 200),
            ("/portal/projects", 200),
            (f"/portal/requests/{waiting}", 200),
        ],
        "eng-marie": [
            ("/portal/ingestion", 200),
            ("/portal/unmapped", 200),
            ("/portal/burn", 200),
            ("/portal/burn?sort=rate", 200),
            ("/portal/enforcement", 200),
        ],
    }


def open_as(browser: Any, server: Server, who: str | None, **options: Any) -> Any:
    if who is None:
        return offline_context(browser, server, **options).new_page()
    return signed_in(browser, server, who, **options)


def serious(page: Any) -> list[str]:
    """axe-core's serious and critical violations on ``page``: ``rule: target``."""
    from axe_playwright_python.sync_playwright import Axe

    found = Axe().run(page).response["violations"]
    return [
        f"{v['id']} ({v['impact']}): {node['target']}"
        for v in found
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def refused_form(page: Any, server: Server) -> None:
    """The request form as shown after a refusal: errors beside the fields, a summary."""
    page.goto(f"{server.url}/portal/requests/new")
    page.fill("input[name^='hours-']", "12,5")
    page.locator("form.card button[type=submit]").click()
    page.wait_for_selector(".error-summary")


@pytest.mark.parametrize("lang", sorted(LOCALES))
def test_every_page_passes_axe_and_stays_on_the_server(
    browser: Any, server: Server, lang: str
) -> None:
    problems: dict[str, list[str]] = {}
    for who, paths in pages(server).items():
        page = open_as(browser, server, who, locale=LOCALES[lang])
        for path, status in paths:
            answer = page.goto(server.url + path)
            assert answer is not None and answer.status == status, (who, path)
            assert page.get_attribute("html", "lang") == lang, path
            problems[f"{who} {path}"] = serious(page)
        if who == "alice":
            refused_form(page, server)
            problems["alice: the refused request form"] = serious(page)
        page.context.close()
    assert {k: v for k, v in problems.items() if v} == {}
    assert server.blocked == []


def test_axe_runs_under_the_portals_content_security_policy(browser: Any, server: Server) -> None:
    """The audit above can fail: with its label taken away, the token field is reported."""
    page = open_as(browser, server, None)
    page.goto(f"{server.url}/portal/signin")
    assert serious(page) == []
    page.evaluate("document.querySelector('label[for=token]').remove()")
    assert [v for v in serious(page) if v.startswith("label (critical)")]
    page.context.close()


def test_every_page_fits_a_phone(browser: Any, server: Server) -> None:
    wider: dict[str, int] = {}
    for who, paths in pages(server).items():
        page = open_as(browser, server, who, **PHONE)
        for path, _status in paths:
            page.goto(server.url + path)
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > 390:
                wider[f"{who} {path}"] = width
        page.context.close()
    assert wider == {}
    assert server.blocked == []


def _me(server: Server, token: str) -> int:
    request = urllib.request.Request(
        f"{server.url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_a_token_made_in_the_browser_works_on_the_api_until_revoked_there(
    browser: Any, server: Server
) -> None:
    """Token self-service end to end: alice makes a token in the portal (its secret shown
    once), the API accepts it, she revokes it in the portal, the next request is refused."""
    page = signed_in(browser, server, "alice")
    page.goto(f"{server.url}/portal/tokens")
    note = f"browser-{datetime.now(UTC):%H%M%S%f}"
    page.fill("#token-note", note)
    page.fill("#token-days", "7")
    with page.expect_navigation():
        page.get_by_role("button", name="Create the token").click()
    secret = page.locator("#new-token").inner_text().strip()
    assert secret.startswith("gph_")
    assert _me(server, secret) == 200
    page.goto(f"{server.url}/portal/tokens")
    assert secret not in page.content()  # shown once
    with page.expect_navigation():
        page.get_by_role("button", name=f"Revoke {note}").click()
    assert _me(server, secret) == 401
    page.context.close()
