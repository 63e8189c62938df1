"""Bad configuration (unreachable relay, bad credentials, a webhook answering 500) shows in
``/readyz``, in ``/metrics`` and in the admin's outbox view; the API keeps working."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from connectors.auth import mint_token
from connectors.bootstrap import Services, build
from connectors.http.app import create_app
from connectors.settings import Settings
from tests.conftest import FixedClock
from tests.notify.servers import Hook, free_port, webhook_receiver
from tests.notify.test_email import decide_a_request


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    broken = Hook(fail=1000)
    with webhook_receiver(broken) as url:
        yield broken, url


def test_a_dead_relay_and_a_failing_webhook_are_reported_and_the_api_keeps_working(
    org: Engine, clock: FixedClock, hook: tuple[Hook, str]
) -> None:
    settings = Settings(
        database_url=org.url.render_as_string(False),
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
        webhooks=[{"name": "hpc", "url": hook[1]}],
        notify_max_attempts=1,
    )
    services: Services = build(settings, engine=org)
    services.clock = clock
    decide_a_request(org, clock)
    outcome = services.notifier().deliver()
    assert outcome == {"parked": 5}  # 3 e-mails, 2 webhook posts; one try each here
    token = mint_token(services.session_factory, "admin", clock())
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(services=services)) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        notifications = ready.json()["notifications"]
        assert notifications["parked"] == 5
        assert "ConnectionRefusedError" in notifications["targets"]["smtp"]
        assert notifications["targets"]["webhook:hpc"] == "webhook hpc: HTTP 500"
        metrics = client.get("/metrics", headers=headers).text
        assert 'gpuhours_notifications_failed_total{channel="email"} 3.0' in metrics
        assert 'gpuhours_notifications_parked_total{channel="webhook"} 2.0' in metrics
        assert 'gpuhours_notifications_sent_total{channel="email"} 0.0' in metrics
        outbox = client.get("/api/v1/notifications/outbox", headers=headers).json()
        assert outbox["counts"] == {"email": {"parked": 3}, "webhook": {"parked": 2}}
        assert {p["recipient"] for p in outbox["parked"]} == {
            "admin",
            "alice",
            "bob",
            "webhook:hpc",
        }
        assert client.get("/api/v1/me", headers=headers).status_code == 200
        # the relay is fixed: an admin sends the parked ones again
        ids = [p["id"] for p in outbox["parked"]]
        released = client.post(
            "/api/v1/notifications/outbox/retry", json={"ids": ids}, headers=headers
        )
        assert released.json() == {"released": 5}


def test_the_admins_outbox_page_shows_the_failing_relays_and_sends_the_parked_again(
    org: Engine, clock: FixedClock, hook: tuple[Hook, str]
) -> None:
    from connectors.composition import compose
    from tests.web.inprocess import csrf_of, sign_in

    settings = Settings(
        database_url=org.url.render_as_string(False),
        smtp_host="127.0.0.1",
        smtp_port=free_port(),
        smtp_security="none",
        webhooks=[{"name": "hpc", "url": hook[1]}],
        notify_max_attempts=1,
    )
    services: Services = build(settings, engine=org)
    services.clock = clock
    decide_a_request(org, clock)
    assert services.notifier().deliver() == {"parked": 5}
    token = mint_token(services.session_factory, "admin", clock())
    with TestClient(
        compose(services), base_url="http://127.0.0.1", follow_redirects=False
    ) as client:
        sign_in(client, token)
        page = client.get("/portal/notifications/outbox").text
        assert "ConnectionRefusedError" in page and "webhook hpc: HTTP 500" in page
        assert "email: parked 3" in page and "webhook: parked 2" in page
        csrf = csrf_of(client, "/portal/notifications/outbox")
        ids = ",".join(re.findall(r'name="ids" value="([\d,]+)"', page))
        sent = client.post(
            "/portal/notifications/outbox/retry",
            data={"csrf": csrf, "ids": ids},
            follow_redirects=False,
        )
        assert sent.headers["location"] == "/portal/notifications/outbox?done=5"
        assert "Nothing is parked." in client.get("/portal/notifications/outbox").text
