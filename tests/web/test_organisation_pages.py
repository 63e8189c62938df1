"""Creating chairs and projects in the portal, in process, on SQLite and PostgreSQL: a chair,
then a project of it (which leads to its members and accounts); each refused value shown
beside its field, typed values kept, nothing written; administrators only."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from connectors.auth import mint_token
from connectors.bootstrap import Services
from tests.web.inprocess import client_of, csrf_of, sign_in

PAGE = "/portal/organisation"


def counts(services: Services) -> tuple[int, int, int]:
    with services.uow() as uow:
        return len(uow.chairs.list()), len(uow.projects.list(None, None)), len(uow.audit.list())


def beside(html: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', html, re.S)
    assert found is not None, f"no error beside {field}"
    return found.group(1)


def test_an_admin_creates_a_chair_then_a_project_of_it(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    form = {"csrf": csrf_of(client, PAGE), "id": "chair-z", "name": "Chair Z", "institution": "UL"}
    done = client.post(PAGE + "/chairs", data=form)
    assert done.status_code == 303 and "Chair Z" in client.get(PAGE).text
    form = {"csrf": csrf_of(client, PAGE), "id": "pz", "name": "Project Z", "chair_id": "chair-z"}
    done = client.post(PAGE + "/projects", data=form | {"kind": "thesis", "pi": "alice"})
    assert done.status_code == 303
    assert done.headers["location"] == "/portal/projects/pz/members?done=created"
    with services.uow() as uow:
        made = uow.projects.get("pz")
    assert made is not None and (made.chair_id, made.pi, made.kind.value) == (
        "chair-z",
        "alice",
        "thesis",
    )


@pytest.mark.parametrize(
    ("action", "form", "field", "says"),
    [
        ("chairs", {"id": "bad id!", "name": "X"}, "chair-id", "letters, digits"),
        ("chairs", {"id": "chair-a", "name": "Again"}, "chair-id", "already exists"),
        ("chairs", {"id": "chair-y", "name": " "}, "chair-name", "name"),
        ("projects", {"id": "p9", "name": "P9", "chair_id": "chair-a", "kind": "thesis",
                      "pi": "nobody"}, "project-pi", "nobody"),
        ("projects", {"id": "p1", "name": "P1", "chair_id": "chair-a", "kind": "thesis",
                      "pi": "alice"}, "project-id", "already exists"),
        ("projects", {"id": "p9", "name": "P9", "chair_id": "chair-a", "kind": "party",
                      "pi": "alice"}, "project-kind", ""),
    ],
)  # fmt: skip
def test_a_refused_value_is_shown_beside_its_field_kept_and_nothing_is_written(
    client: TestClient, services: Services, tokens: dict[str, str],
    action: str, form: dict[str, str], field: str, says: str,
) -> None:  # fmt: skip
    sign_in(client, tokens["admin"])
    before = counts(services)
    refused = client.post(f"{PAGE}/{action}", data={"csrf": csrf_of(client, PAGE)} | form)
    assert refused.status_code == 422, refused.text
    assert says in beside(refused.text, field)
    assert f'value="{form["id"]}"' in refused.text  # what was typed is kept
    assert counts(services) == before


def test_only_an_administrator_creates_chairs_and_projects(
    services: Services, tokens: dict[str, str]
) -> None:
    token = mint_token(services.session_factory, "eng", services.clock())
    with client_of(services) as client:
        sign_in(client, token)
        assert client.get(PAGE).status_code == 403
