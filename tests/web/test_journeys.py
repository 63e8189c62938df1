"""Journeys of the portal in a real browser, against a real ``gpuhours serve --demo``, on
SQLite and PostgreSQL: a researcher asks for hours, an administrator (in a second browser
context) comments and grants part of them, and the researcher sees the new balance; another
chair's pages are "not found" and name nothing; refused values are shown beside their field
and nothing is written."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.web.conftest import Server, offline_context, signed_in

pytestmark = pytest.mark.slow

LOCAL = "ENACT local GPU cluster"
#: A project of another chair than alice's, and what would name it.
OTHERS = ("proj-rnd-01", "ICU early warning", "chair-health", "AI for health")


def figure(page: Any, pool_name: str, label: str) -> float:
    """A figure of a pool's section on a project page, in hours (``1,234.5 h`` -> 1234.5)."""
    section = page.get_by_role("region", name=pool_name)
    text = section.locator(f"dt:text-is('{label}') + dd").inner_text()
    return float(re.sub(r"[^0-9.]", "", text))


def first_period(page: Any) -> str:
    """The current period: the first of the request form's hours fields."""
    name = page.locator("input[name^='hours-']").first.get_attribute("name")
    assert name is not None
    return name.removeprefix("hours-")


def test_a_request_granted_in_part_shows_in_the_researchers_balance(
    browser: Any, server: Server
) -> None:
    alice = signed_in(browser, server, "alice")
    admin = signed_in(browser, server, "admin")  # a second browser context
    alice.goto(f"{server.url}/portal/projects/proj-thesis-01")
    allocated = figure(alice, LOCAL, "Allocated")
    remaining = figure(alice, LOCAL, "Remaining")

    alice.goto(f"{server.url}/portal/requests/new")
    period = first_period(alice)
    alice.select_option("#project_id", "proj-thesis-01")
    alice.select_option("#pool_id", "enact-local")
    alice.select_option("#gpu_type", "a100")
    alice.fill(f"#hours-{period}", "40")
    alice.fill("#justification", "Fine-tuning runs for chapter 3")
    alice.get_by_role("button", name="Submit the request").click()
    alice.wait_for_url(re.compile(r".*/portal/requests/\d+\?done=submitted$"))
    number = int(alice.url.split("/")[-1].split("?")[0])
    assert "Your request was submitted." in alice.inner_text("main")

    admin.goto(f"{server.url}/portal/queue")
    admin.get_by_role("link", name=f"Request {number}", exact=True).click()
    admin.fill("#comment-text", "Granting 25 h now; ask again next quarter")
    admin.get_by_role("button", name="Add the comment").click()
    admin.wait_for_url(re.compile(r".*\?done=commented$"))
    admin.fill(f"#granted-{period}", "25")
    admin.fill("#approve-reason", "the local cluster is busy this quarter")
    admin.get_by_role("button", name="Approve").click()
    admin.wait_for_url(re.compile(r".*\?done=approved$"))
    assert "partially approved" in admin.inner_text("h1")

    alice.goto(f"{server.url}/portal/projects/proj-thesis-01")
    assert figure(alice, LOCAL, "Allocated") == allocated + 25
    assert figure(alice, LOCAL, "Remaining") == remaining + 25
    alice.goto(f"{server.url}/portal/requests/{number}")
    shown = alice.inner_text("main")
    assert "partially approved" in shown and "Granting 25 h now" in shown
    assert "the local cluster is busy this quarter" in shown
    row = alice.get_by_role("row").filter(has_text=period)
    assert re.search(r"40\s+25", row.inner_text())
    assert server.blocked == []


def test_a_researcher_cannot_reach_another_chairs_pages(browser: Any, server: Server) -> None:
    alice = signed_in(browser, server, "alice")
    theirs = [r["id"] for r in server.api("/requests")["items"] if r["project_id"] == OTHERS[0]]
    assert theirs, "the demo has requests of proj-rnd-01"
    paths = [
        f"/portal/projects/{OTHERS[0]}",
        f"/portal/projects/{OTHERS[0]}?period=2026Q1",
        f"/portal/chairs/{OTHERS[2]}",
        f"/portal/requests/{theirs[0]}",
    ]
    for path in paths:
        answer = alice.goto(server.url + path)
        assert answer is not None and answer.status == 404, path
        shown = alice.content()
        assert "Page not found" in shown
        assert not [name for name in OTHERS if name in shown], (path, shown)
    csrf = alice.locator("input[name=csrf]").first.get_attribute("value")
    posted = alice.request.post(
        f"{server.url}/portal/requests/{theirs[0]}/comment", form={"csrf": csrf, "text": "hi"}
    )
    assert posted.status == 404 and not [n for n in OTHERS if n in posted.text()]
    alice.goto(f"{server.url}/portal/projects")
    assert not [name for name in OTHERS if name in alice.content()]
    assert server.blocked == []


def _written(server: Server) -> tuple[int, int, int]:
    """What the journal, the audit trail and the requests hold."""
    lists = ("/journal?limit=1000", "/audit?limit=1000", "/requests?limit=1000")
    answers = [server.api(path) for path in lists]
    assert all(answer["next"] is None for answer in answers), "a count of every row: one page"
    return tuple(len(answer["items"]) for answer in answers)


def test_refused_values_are_shown_beside_their_fields_and_nothing_is_written(
    browser: Any, server: Server
) -> None:
    before = _written(server)
    alice = signed_in(browser, server, "alice")
    alice.goto(f"{server.url}/portal/requests/new")
    period = first_period(alice)
    alice.select_option("#project_id", "proj-thesis-01")
    alice.select_option("#pool_id", "enact-local")
    alice.fill(f"#hours-{period}", "12,5")
    alice.get_by_role("button", name="Submit the request").click()
    error = alice.locator(f"#hours-{period}-error")
    assert "Enter a number of hours above 0" in error.inner_text()
    assert alice.get_attribute(f"#hours-{period}", "aria-invalid") == "true"
    assert alice.input_value(f"#hours-{period}") == "12,5"  # what was typed is kept
    assert "Explain what the hours are for." in alice.inner_text("#justification-error")
    summary = alice.get_by_role("alert")
    assert f"Hours for {period}" in summary.inner_text()

    alice.fill(f"#hours-{period}", "12.5")
    alice.fill("#justification", "Ablations")
    alice.select_option("#gpu_type", "v100")  # a type of the national pool only
    alice.get_by_role("button", name="Submit the request").click()
    refused = alice.inner_text("#gpu_type-error")
    assert "'v100' is not a GPU type of pool 'enact-local'" in refused
    assert alice.get_attribute("#gpu_type", "aria-invalid") == "true"

    admin = signed_in(browser, server, "admin")
    waiting = [r["id"] for r in server.api("/requests?state=submitted")["items"]]
    admin.goto(f"{server.url}/portal/requests/{waiting[0]}")
    granted = admin.locator("input[name^='granted-']").first
    granted.fill("lots")
    admin.get_by_role("button", name="Approve").click()
    name = granted.get_attribute("id")
    assert "0 or more" in admin.inner_text(f"#{name}-error")
    admin.get_by_role("button", name="Reject").click()
    assert "A rejection needs a reason." in admin.inner_text("#reject-reason-error")
    assert _written(server) == before
    assert server.blocked == []


def test_a_bad_token_is_refused_beside_the_field(browser: Any, server: Server) -> None:
    context = offline_context(browser, server)
    page = context.new_page()
    page.goto(f"{server.url}/portal/")
    assert page.url.endswith("/portal/signin")
    page.fill("#token", "gph_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    assert "unknown, expired or revoked" in page.inner_text("#token-error")
    assert page.get_attribute("#token", "aria-invalid") == "true"
    page.goto(f"{server.url}/portal/projects")  # still not signed in
    assert "/portal/signin?next=/projects" in page.url
    context.close()
    assert server.blocked == []


def test_an_engineer_maps_an_unmapped_account_and_its_usage_moves_to_the_project(
    browser: Any, server: Server
) -> None:
    engineer = signed_in(browser, server, "eng-marie")
    engineer.goto(f"{server.url}/portal/projects/proj-nlp-rnd")
    consumed = figure(engineer, LOCAL, "Consumed")
    engineer.get_by_role("link", name="Unmapped accounts").click()
    row = engineer.get_by_role("row").filter(has_text="unmapped-lab")
    hours = float(row.locator("td.num").nth(1).inner_text().replace(",", ""))
    assert hours > 0  # the demo's unmapped account used GPUs this period
    row.get_by_label("Project for unmapped-lab").fill("proj-nlp-rnd")
    row.get_by_role("button", name="Map").click()
    engineer.wait_for_url(re.compile(r".*/portal/unmapped\?period=.*&mapped=.*"))
    assert "unmapped-lab@" in engineer.get_by_role("status").inner_text()
    assert engineer.get_by_role("row").filter(has_text="unmapped-lab").count() == 0
    engineer.goto(f"{server.url}/portal/projects/proj-nlp-rnd")
    assert figure(engineer, LOCAL, "Consumed") > consumed
    assert server.blocked == []


def test_an_admin_imports_a_statement_accepts_a_difference_and_closes_a_period(
    browser: Any, server: Server
) -> None:
    admin = signed_in(browser, server, "admin")
    admin.get_by_role("link", name="Quarter").click()
    period = admin.inner_text("h1").split()[-1]  # the period before the current one
    admin.select_option("#pool", "enact-local")
    admin.get_by_role("button", name="Show").click()
    statement = (
        "project_account,hardware,period,hours_consumed,normalised_hours\n"
        f"proj-thesis-01,a100,{period},12.5,12.5\n"
    )
    admin.select_option("#statement-format", "national-csv")
    admin.set_input_files(
        "#statement-file",
        files=[{"name": "q.csv", "mimeType": "text/csv", "buffer": statement.encode()}],
    )
    admin.get_by_role("button", name="Import the statement").click()
    admin.wait_for_url(re.compile(r".*done=imported$"))
    lines = admin.get_by_role("table", name=re.compile("Our figures against the statement"))
    row = lines.get_by_role("row").filter(has_text="proj-thesis-01")
    assert "missing ours" in row.inner_text()  # 12.5 h on the statement, none of ours
    row.get_by_label("Reason for proj-thesis-01").fill("the centre's figure stands")
    row.get_by_role("button", name="Accept").click()
    admin.wait_for_url(re.compile(r".*done=decided$"))
    assert "accepted" in lines.get_by_role("row").filter(has_text="proj-thesis-01").inner_text()
    admin.get_by_role("link", name="Preview the close").click()
    assert "projects keep" in admin.inner_text("main")  # the pool's unused hours, and fate
    admin.fill("#close-reason", "quarter signed off")
    admin.get_by_role("button", name="Close the period for every pool").click()
    admin.wait_for_url(re.compile(rf".*/portal/reports/{period}\?done=closed$"))
    assert "signed off by admin" in admin.inner_text("main")
    with admin.expect_download() as download:
        admin.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename == f"gpuhours-{period}.csv"
    assert server.blocked == []
