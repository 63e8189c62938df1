"""The engineers' pages, in process, on SQLite and PostgreSQL: ingestion health and the
quarantine, the unmapped accounts and mapping one to a project (its usage then counts for
the project; a refusal is shown beside the row's field and nothing is written), the burn
rates sorted and flagged; a researcher is refused every one of them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from allocator import services as svc
from allocator.model import SlurmAccount
from connectors.auth import mint_token
from connectors.bootstrap import Services
from tests.builders import ADMIN, ENGINEER, usage_record
from tests.db.test_accounting import store
from tests.web.inprocess import client_of, csrf_of, sign_in

NOV = int(datetime(2026, 11, 2, 10, tzinfo=UTC).timestamp())


def engineer(client: TestClient, services: Services) -> TestClient:
    token = mint_token(services.session_factory, "eng", services.clock())
    return sign_in(client, token)


def unmapped_usage(services: Services) -> None:
    store(
        services.engine,
        [
            usage_record(NOV, 3600, 2, job_id=21, account="acct-x"),
            usage_record(NOV + 7200, 1800, 1, job_id=22, account="acct-x"),
        ],
        NOV + 86400,
    )


def _row(html: str, account: str) -> str:
    found = re.search(rf"<tr>\s*<td>enact-dev</td>\s*<td>{account}</td>.*?</tr>", html, re.S)
    assert found is not None, f"no row of {account}"
    return found.group(0)


def test_an_engineer_maps_an_unmapped_account_and_its_usage_moves_to_the_project(
    client: TestClient, services: Services
) -> None:
    unmapped_usage(services)
    engineer(client, services)
    page = client.get("/portal/unmapped?period=2026Q4")
    assert page.status_code == 200
    row = _row(page.text, "acct-x")
    assert ">2<" in row and ">2.5<" in row  # 2 jobs, 2.5 GPU-hours finished
    csrf = csrf_of(client, "/portal/unmapped?period=2026Q4")
    form = {"csrf": csrf, "period": "2026Q4", "cluster": "enact-dev", "account": "acct-x"}
    done = client.post("/portal/unmapped/map", data=form | {"project": "p1b"})
    assert done.status_code == 303, done.text
    after = client.get(done.headers["location"])
    assert "acct-x@enact-dev → p1b" in after.text
    assert "<td>acct-x</td>" not in after.text
    token = mint_token(services.session_factory, "eng", services.clock())
    api = client.get(
        "/api/v1/usage/accounts?period=2026Q4", headers={"Authorization": f"Bearer {token}"}
    )
    [usage] = [u for u in api.json()["items"] if u["account"] == "acct-x"]
    assert (usage["project_id"], usage["gpu_seconds"]) == ("p1b", 9000)


@pytest.mark.parametrize(
    ("project", "says"),
    [("", "Choose a project."), ("no-such-project", "Choose one of the list.")],
    ids=["empty", "unknown"],
)
def test_a_refused_mapping_is_shown_beside_its_row_and_nothing_is_written(
    client: TestClient, services: Services, project: str, says: str
) -> None:
    unmapped_usage(services)
    engineer(client, services)
    csrf = csrf_of(client, "/portal/unmapped?period=2026Q4")
    form = {"csrf": csrf, "period": "2026Q4", "cluster": "enact-dev", "account": "acct-x"}
    refused = client.post("/portal/unmapped/map", data=form | {"project": project})
    assert refused.status_code == 422, refused.text
    field = "project-enact-dev-acct-x"
    beside = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', refused.text)
    assert beside is not None and says in beside.group(1)
    assert f'aria-describedby=" {field}-error" aria-invalid="true"' in refused.text
    assert mappings(services) == BEFORE


def test_an_account_mapped_meanwhile_is_refused_at_the_head_of_the_page(
    client: TestClient, services: Services
) -> None:
    unmapped_usage(services)
    engineer(client, services)
    csrf = csrf_of(client, "/portal/unmapped?period=2026Q4")
    svc.map_slurm_account(  # another engineer, a moment earlier
        services.uow(), ENGINEER, services.clock(), "p1b", SlurmAccount("enact-dev", "acct-x")
    )
    form = {"csrf": csrf, "period": "2026Q4", "cluster": "enact-dev", "account": "acct-x"}
    refused = client.post("/portal/unmapped/map", data=form | {"project": "p1"})
    assert refused.status_code == 422, refused.text
    assert 'class="error-summary"' in refused.text and "mapped to p1b" in refused.text
    assert mappings(services) == BEFORE | {"p1b": ["acct-x"]}


BEFORE = {"p1": ["acct-p1"], "p1b": [], "p2": ["acct-p2"]}


def mappings(services: Services) -> dict[str, list[str]]:
    with services.uow() as uow:
        return {p.id: [a.account for a in p.slurm_accounts] for p in uow.projects.list(None, None)}


def test_ingestion_shows_each_cluster_and_the_burn_rates_sort_and_flag(
    client: TestClient, services: Services
) -> None:
    unmapped_usage(services)
    for project, chair, hours in (("p2", "chair-b", 40), ("p1", "chair-a", 400)):
        svc.allocate_to_chair(
            services.uow(), ADMIN, services.clock(), "loc", chair, "2026Q4", hours * 3600,
            "share", calendar=services.settings.calendar,
        )  # fmt: skip
        svc.allocate_to_project(
            services.uow(), ADMIN, services.clock(), "loc", project, "2026Q4", hours * 3600,
            "share", calendar=services.settings.calendar,
        )  # fmt: skip
    store(  # p2 burns 30 h/day of its 40 h: it runs out in November
        services.engine,
        [
            usage_record(NOV + i * 86400, 3600 * 10, 3, job_id=40 + i, account="acct-p2")
            for i in range(2)
        ],
        NOV + 3 * 86400,
    )
    engineer(client, services)
    page = client.get("/portal/ingestion")
    assert page.status_code == 200
    assert "<td>enact-dev" in page.text
    burn = client.get("/portal/burn?period=2026Q4&sort=project")
    assert burn.status_code == 200
    projects = re.findall(r'<td><a href="/portal/projects/([\w-]+)\?period=2026Q4">', burn.text)
    assert projects == sorted(projects) and {"p1", "p2"} <= set(projects)
    soonest = client.get("/portal/burn?period=2026Q4").text
    first = re.search(r'<tr( class="flagged")?>\s*<td><a href="/portal/projects/([\w-]+)', soonest)
    assert first is not None and first.groups() == (' class="flagged"', "p2")
    assert "1 balance runs out before the period ends." in soonest
    assert client.get("/portal/burn?period=2026Q4&sort=nonsense").status_code == 200
    assert client.get("/portal/burn?period=2026-11").status_code == 404


@pytest.mark.parametrize("path", ["/portal/ingestion", "/portal/unmapped", "/portal/burn"])
def test_a_researcher_is_refused_the_engineers_pages(
    services: Services, tokens: dict[str, str], path: str
) -> None:
    with client_of(services) as client:
        sign_in(client, tokens["alice"])
        assert client.get(path).status_code == 403
        assert f'href="{path}"' not in client.get("/portal/projects").text
