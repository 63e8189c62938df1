"""The scheduler's notification jobs: planned when a channel is configured, and run through
the services the leader binds."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine

from connectors import scheduler
from connectors.bootstrap import build
from connectors.scheduler import planned_jobs
from connectors.settings import Settings
from tests.conftest import FixedClock
from tests.notify.servers import Inbox, smtp_server
from tests.notify.test_email import decide_a_request

JOBS = {"notify", "notify-detect", "notify-digest"}


def test_the_notification_jobs_are_planned_only_when_a_channel_is_configured() -> None:
    assert not {j.id for j in planned_jobs(Settings(database_url="sqlite://"))} & JOBS
    mail = Settings(database_url="sqlite://", smtp_host="mail.example.org")
    assert {j.id for j in planned_jobs(mail)} >= JOBS
    hook = Settings(database_url="sqlite://", webhooks=[{"name": "t", "url": "http://h/x"}])
    assert {j.id for j in planned_jobs(hook)} >= JOBS


def test_the_jobs_detect_deliver_and_digest_through_the_leaders_services(
    org: Engine, clock: FixedClock
) -> None:
    decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        settings = Settings(
            database_url=org.url.render_as_string(False),
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="none",
        )
        services = build(settings, engine=org)
        clock.now = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
        services.clock = clock
        scheduler._bind(services)
        try:
            assert scheduler.detect_notifications()
            assert scheduler.deliver_notifications()
            assert scheduler.notification_digests()
        finally:
            scheduler._bind(None)  # type: ignore[arg-type]
    # the request's three, and the detector's: 2026Q3 is not closed 14 days after its end
    subjects = sorted(m["Subject"] for _, m in inbox.messages)
    assert "2026Q3 ended 2026-10-01 and is not closed" in subjects
    assert len(subjects) == 4
