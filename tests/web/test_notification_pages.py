"""Notifications in the portal, in process, on SQLite and PostgreSQL: a researcher chooses how
each kind reaches her and her language; a mandatory kind offers no "off", and a form that
asks for it is refused beside that field with nothing written; an administrator sets the
site's defaults and reads the outbox; nobody else does."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from allocator import services as svc
from allocator.notices import SITE
from connectors.bootstrap import Services
from tests.builders import ADMIN, ALICE
from tests.web.inprocess import csrf_of, sign_in


def modes(services: Services, username: str) -> dict[str, str]:
    found = svc.preferences(services.uow(), ADMIN, username)
    return {s.kind.value: s.mode.value for s in found.settings}


def test_a_researcher_chooses_how_each_event_reaches_her_and_her_language(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    page = client.get("/portal/notifications")
    assert page.status_code == 200
    mandatory = re.search(r'<select id="mode-usage.100".*?</select>', page.text, re.S)
    assert mandatory is not None and 'value="off"' not in mandatory.group(0)
    form = {"csrf": csrf_of(client, "/portal/notifications"), "language": "fr"}
    form |= {"mode-request.commented": "off", "mode-usage.80": "digest"}
    done = client.post("/portal/notifications", data=form)
    assert done.status_code == 303, done.text
    chosen = modes(services, "alice")
    assert (chosen["request.commented"], chosen["usage.80"]) == ("off", "digest")
    assert svc.preferences(services.uow(), ALICE).language == "fr"
    assert "Your choices were saved." in client.get(done.headers["location"]).text


def test_a_mandatory_kind_asked_off_is_refused_beside_it_and_nothing_is_written(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    before = modes(services, "alice")
    form = {"csrf": csrf_of(client, "/portal/notifications"), "language": "fr"}
    form |= {"mode-request.commented": "off", "mode-usage.100": "off"}
    refused = client.post("/portal/notifications", data=form)
    assert refused.status_code == 422
    beside = re.search(r'<p class="field-error" id="mode-usage.100-error">(.*?)</p>', refused.text)
    assert beside is not None and "cannot be turned off" in beside.group(1)
    assert modes(services, "alice") == before  # request.commented not written either
    assert svc.preferences(services.uow(), ALICE).language == "en"


def test_an_admin_sets_the_site_defaults_and_reads_the_outbox(
    client: TestClient, services: Services, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["admin"])
    form = {"csrf": csrf_of(client, "/portal/notifications/site")}
    done = client.post(
        "/portal/notifications/site", data=form | {"mode-request.submitted": "digest"}
    )
    assert done.status_code == 303
    assert modes(services, SITE)["request.submitted"] == "digest"
    assert modes(services, "bob")["request.submitted"] == "digest"  # bob chose nothing
    outbox = client.get("/portal/notifications/outbox")
    assert outbox.status_code == 200 and "Nothing is parked." in outbox.text


def test_only_an_administrator_reaches_the_site_defaults_and_the_outbox(
    client: TestClient, tokens: dict[str, str]
) -> None:
    sign_in(client, tokens["alice"])
    assert client.get("/portal/notifications/site").status_code == 403
    assert client.get("/portal/notifications/outbox").status_code == 403
    form = {"csrf": csrf_of(client, "/portal/notifications"), "mode-request.submitted": "off"}
    assert client.post("/portal/notifications/site", data=form).status_code == 403
