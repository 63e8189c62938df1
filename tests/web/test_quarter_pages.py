"""The administrators' quarter in process, on SQLite and PostgreSQL: a statement uploaded,
its difference accepted, the close previewed then done, the signed report read and
downloaded; each refusal (a bad file, hours of nothing, a close without reason) is shown
beside its field and writes nothing; nobody but an administrator reaches the page."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from connectors.auth import mint_token
from connectors.bootstrap import Services
from tests.web.inprocess import client_of, csrf_of, sign_in

Q3 = "2026Q3"
HEADER = "project_account,hardware,period,hours_consumed,normalised_hours\n"


def statement(*lines: tuple[str, float]) -> bytes:
    return (HEADER + "".join(f"{a},a100,{Q3},{h},{h}\n" for a, h in lines)).encode()


def upload(client: TestClient, content: bytes, name: str = "q3.csv") -> object:
    csrf = csrf_of(client, "/portal/quarter?pool=loc")
    return client.post(
        "/portal/quarter/statements",
        data={"csrf": csrf, "period": Q3, "pool": "loc", "format": "national-csv"},
        files={"file": (name, content, "text/csv")},
    )


def written(services: Services) -> tuple[int, int, int]:
    """Ledger entries, audit events, statements: what a refusal must leave alone."""
    with services.uow() as uow:
        journal, audit = len(uow.ledger.entries()), len(uow.audit.list())
    from tests.quarter_support import statement_counts

    return journal, audit, statement_counts(services.engine)[0]


def beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def test_an_admin_imports_a_statement_accepts_its_difference_and_closes_the_period(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    page = client.get("/portal/quarter?pool=loc")
    assert page.status_code == 200 and "Quarter 2026Q3" in page.text  # the period to close
    done = upload(client, statement(("acct-p1", 10)))
    assert done.status_code == 303, done.text  # type: ignore[attr-defined]
    page = client.get(done.headers["location"])  # type: ignore[attr-defined]
    assert "The statement was imported." in page.text and "q3.csv" in page.text
    assert re.search(r"<td>p1</td>.*?missing ours", page.text, re.S)
    assert "1 line of this pool is unresolved" in page.text
    preview = client.get("/portal/quarter/close?period=2026Q3&pool=loc")
    assert preview.status_code == 200 and "Close even with unresolved lines" in preview.text

    csrf = csrf_of(client, "/portal/quarter?pool=loc")
    decision = {"csrf": csrf, "period": Q3, "pool": "loc", "project": "p1", "action": "accept"}
    done = client.post("/portal/quarter/decide", data=decision | {"reason": "the centre's figure"})
    assert done.status_code == 303, done.text
    page = client.get(done.headers["location"])
    assert re.search(r"<td>p1</td>.*?<td>accepted</td>", page.text, re.S)

    close = {"csrf": csrf, "period": Q3, "pool": "loc", "reason": "quarter signed off"}
    done = client.post("/portal/quarter/close", data=close)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/portal/reports/{Q3}?done=closed"
    report = client.get(done.headers["location"])
    assert "this is its signed report" in report.text and "signed off by admin" in report.text
    csv = client.get(f"/portal/reports/{Q3}.csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"].startswith("attachment;")
    assert "closed" in csv.text
    assert "Closed on" in client.get("/portal/quarter?pool=loc").text


def test_refusals_are_shown_beside_their_fields_and_write_nothing(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    assert upload(client, statement(("acct-p1", 10))).status_code == 303  # type: ignore[attr-defined]
    before = written(services)
    refused = upload(client, statement(("acct-p1", 1), ("nobody-knows", 2)), "bad.csv")
    assert refused.status_code == 422  # type: ignore[attr-defined]
    assert "line 3" in beside(refused.text, "statement-file")  # type: ignore[attr-defined]
    csrf = csrf_of(client, "/portal/quarter?pool=loc")
    decision = {"csrf": csrf, "period": Q3, "pool": "loc", "project": "p1", "reason": "r"}
    refused = client.post(
        "/portal/quarter/decide", data=decision | {"action": "adjust", "hours": "0"}
    )
    assert refused.status_code == 422
    assert "other than 0" in beside(refused.text, "hours-p1")
    refused = client.post(
        "/portal/quarter/decide", data=decision | {"action": "accept", "reason": " "}
    )
    assert refused.status_code == 422
    assert beside(refused.text, "reason-p1")
    close = {"csrf": csrf, "period": Q3, "pool": "loc", "reason": ""}
    refused = client.post("/portal/quarter/close", data=close)
    assert refused.status_code == 422 and beside(refused.text, "close-reason")
    refused = client.post("/portal/quarter/close", data=close | {"reason": "done"})
    assert refused.status_code == 422  # p1's difference is unresolved
    assert "adjust or accept it first" in beside(refused.text, "close-force")
    assert written(services) == before


@pytest.mark.parametrize("who", ["alice", "eng"])
def test_only_an_administrator_reaches_the_quarter(services: Services, who: str) -> None:
    token = mint_token(services.session_factory, who, services.clock())
    with client_of(services) as client:
        sign_in(client, token)
        assert client.get("/portal/quarter").status_code == 403
        assert 'href="/portal/quarter"' not in client.get("/portal/projects").text
