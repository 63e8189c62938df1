"""The administrators' organisation pages, in process, on SQLite and PostgreSQL: a grant, a
rate and the over-commit factor of a pool; a project's members and Slurm accounts. Each done
lands in the journal or the audit trail; each refusal is shown beside its field and writes
nothing; nobody else reaches them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connectors.auth import mint_token
from connectors.bootstrap import Services
from tests.web.inprocess import client_of, csrf_of, sign_in


def written(services: Services) -> tuple[int, int]:
    with services.uow() as uow:
        return len(uow.ledger.entries()), len(uow.audit.list())


def beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def post(client: TestClient, page: str, action: str, form: dict[str, Any]) -> Any:
    return client.post(action, data={"csrf": csrf_of(client, page)} | form)


def test_an_admin_grants_rates_and_overcommits_a_pool(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    listing = client.get("/portal/pools")
    assert listing.status_code == 200 and 'href="/portal/pools/nat"' in listing.text
    journal, audit = written(services)
    done = post(client, "/portal/pools/nat", "/portal/pools/nat/grant",
                {"hours": "120", "reason": "second call"})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].endswith("done=granted")
    assert written(services)[0] > journal  # one deposit per period of the validity
    done = post(client, "/portal/pools/nat", "/portal/pools/nat/rate",
                {"gpu_type": "l40s", "rate": "1.5", "effective_from": "2027-01-01"})  # fmt: skip
    assert done.status_code == 303
    page = client.get("/portal/pools/nat").text
    assert "<td>l40s</td>" in page
    done = post(client, "/portal/pools/nat", "/portal/pools/nat/overcommit",
                {"factor": "1.25", "reason": "idle quarter"})  # fmt: skip
    assert done.status_code == 303
    assert "1.25" in client.get("/portal/pools/nat").text
    assert written(services)[1] >= audit + 2  # the rate and the factor, audited


@pytest.mark.parametrize(
    ("action", "form", "field", "says"),
    [
        ("grant", {"hours": "0", "reason": "x"}, "grant-hours", "above 0"),
        ("grant", {"hours": "10", "reason": " "}, "grant-reason", ""),
        ("rate", {"gpu_type": "l40s", "rate": "1.5", "effective_from": "someday"}, "rate-from", ""),
        ("rate", {"gpu_type": "", "rate": "-1", "effective_from": "2027-01-01"}, "rate-value", ""),
        ("overcommit", {"factor": "11", "reason": "more"}, "overcommit-factor", ""),
        ("overcommit", {"factor": "1.5", "reason": ""}, "overcommit-reason", "reason"),
    ],
)
def test_a_refused_pool_form_shows_why_beside_its_field_and_writes_nothing(
    client: TestClient, services: Services, tokens: dict[str, str],
    action: str, form: dict[str, str], field: str, says: str,
) -> None:  # fmt: skip
    sign_in(client, tokens["admin"])
    before = written(services)
    refused = post(client, "/portal/pools/nat", f"/portal/pools/nat/{action}", form)
    assert refused.status_code == 422, refused.text
    assert says in beside(refused.text, field)
    assert written(services) == before


def test_an_admin_adds_a_member_and_maps_then_unmaps_an_account(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    page = "/portal/projects/p1/members"
    assert client.get(page).status_code == 200
    assert post(client, page, page, {"username": "bob"}).status_code == 303
    assert "<li>bob</li>" in client.get(page).text
    accounts = "/portal/projects/p1/accounts"
    done = post(client, page, accounts, {"cluster": "enact-dev", "account": "acct-new"})
    assert done.status_code == 303 and "acct-new @ enact-dev" in client.get(page).text
    done = post(client, page, accounts + "/remove", {"cluster": "enact-dev", "account": "acct-new"})
    assert done.status_code == 303 and "acct-new" not in client.get(page).text
    before = written(services)
    refused = post(client, page, page, {"username": "nobody"})
    assert refused.status_code == 422 and "nobody" in beside(refused.text, "member")
    refused = post(client, page, accounts, {"cluster": "enact-dev", "account": "acct-p2"})
    assert refused.status_code == 422 and "mapped to p2" in beside(refused.text, "account")
    refused = post(client, page, accounts, {"cluster": "nosuch", "account": "a"})
    assert refused.status_code == 422 and "enact-dev" in beside(refused.text, "cluster")
    assert written(services) == before


@pytest.mark.parametrize("who", ["alice", "eng"])
def test_only_an_administrator_reaches_the_organisation_pages(services: Services, who: str) -> None:
    token = mint_token(services.session_factory, who, services.clock())
    with client_of(services) as client:
        sign_in(client, token)
        for path in ("/portal/pools", "/portal/pools/nat", "/portal/projects/p1/members"):
            assert client.get(path).status_code in (403, 404), path
