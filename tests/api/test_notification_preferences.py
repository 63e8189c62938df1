"""Notification preferences over the API: one's own, the site's defaults, the outbox."""

from __future__ import annotations

from fastapi.testclient import TestClient

from allocator import services as svc
from connectors.bootstrap import Services
from tests.api.conftest import auth
from tests.builders import ALICE, CAL, H, World
from tests.conftest import FixedClock

ME = "/api/v1/me/notifications"


def setting(body: dict[str, object], kind: str) -> dict[str, object]:
    settings = body["settings"]
    assert isinstance(settings, list)
    return next(s for s in settings if s["kind"] == kind)


def test_a_researcher_chooses_the_digest_for_comments_and_sees_it(
    client: TestClient, world: World
) -> None:
    start = client.get(ME, headers=auth(world, "alice")).json()
    assert start["language"] == "en"
    assert setting(start, "request.commented") == {
        "kind": "request.commented",
        "channel": "email",
        "mode": "immediate",
        "source": "default",
        "mandatory": False,
        "audience": ["requester", "pi"],
    }
    r = client.put(f"{ME}/request.commented", json={"mode": "digest"}, headers=auth(world, "alice"))
    assert r.status_code == 200, r.text
    r = client.put(f"{ME}/language", json={"language": "fr"}, headers=auth(world, "alice"))
    assert r.status_code == 200
    after = client.get(ME, headers=auth(world, "alice")).json()
    assert after["language"] == "fr"
    assert setting(after, "request.commented")["mode"] == "digest"
    assert setting(after, "request.commented")["source"] == "user"
    # bob's are untouched
    bob = client.get(ME, headers=auth(world, "bob")).json()
    assert setting(bob, "request.commented")["mode"] == "immediate"


def test_what_cannot_be_turned_off_is_refused_naming_the_field(
    client: TestClient, world: World
) -> None:
    r = client.put(f"{ME}/request.decided", json={"mode": "off"}, headers=auth(world, "alice"))
    assert r.status_code == 422
    assert "mode" in r.text and "cannot be turned off" in r.text
    start = client.get(ME, headers=auth(world, "alice")).json()
    assert setting(start, "request.decided")["mandatory"] is True
    r = client.put(f"{ME}/usage.80", json={"mode": "weekly"}, headers=auth(world, "alice"))
    assert r.status_code == 422 and "mode" in r.text
    r = client.put(f"{ME}/no.such", json={"mode": "off"}, headers=auth(world, "alice"))
    assert r.status_code == 422 and "kind" in r.text
    r = client.put(f"{ME}/language", json={"language": "de"}, headers=auth(world, "alice"))
    assert r.status_code == 422 and "language" in r.text


def test_site_defaults_are_the_admins_and_apply_to_those_who_chose_nothing(
    client: TestClient, world: World
) -> None:
    url = "/api/v1/notifications/defaults/usage.80"
    assert client.put(url, json={"mode": "digest"}, headers=auth(world, "alice")).status_code == 403
    assert client.put(url, json={"mode": "digest"}, headers=auth(world, "admin")).status_code == 200
    bob = client.get(ME, headers=auth(world, "bob")).json()
    assert setting(bob, "usage.80")["mode"] == "digest"
    assert setting(bob, "usage.80")["source"] == "site"
    other = "/api/v1/users/bob/notifications/usage.80"
    assert client.put(other, json={"mode": "off"}, headers=auth(world, "alice")).status_code == 403
    assert client.put(other, json={"mode": "off"}, headers=auth(world, "admin")).status_code == 200
    bob = client.get("/api/v1/users/bob/notifications", headers=auth(world, "admin")).json()
    assert setting(bob, "usage.80") | {"audience": []} == {
        "kind": "usage.80",
        "channel": "email",
        "mode": "off",
        "source": "user",
        "mandatory": False,
        "audience": [],
    }


def test_admins_see_the_outbox_and_researchers_do_not(
    client: TestClient, world: World, services: Services, clock: FixedClock
) -> None:
    svc.submit_request(
        services.uow(), ALICE, clock(), "p1", "nat", [("2026Q4", H)], "x", calendar=CAL
    )
    assert client.get("/api/v1/notifications/outbox", headers=auth(world, "bob")).status_code == 403
    body = client.get("/api/v1/notifications/outbox", headers=auth(world, "admin")).json()
    assert body == {"counts": {"email": {"pending": 1}}, "parked": []}


def test_a_retry_names_ids_the_database_can_hold(client: TestClient, world: World) -> None:
    url = "/api/v1/notifications/outbox/retry"
    for ids in ([0], [2**63], [-1], []):
        r = client.post(url, json={"ids": ids}, headers=auth(world, "admin"))
        assert r.status_code == 422 and "ids" in r.text, (ids, r.text)
    r = client.post(url, json={"ids": [1]}, headers=auth(world, "admin"))
    assert r.json() == {"released": 0}
