"""Webhooks through a real HTTP receiver; the daily digest; a worker that died mid-send."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from allocator import services as svc
from allocator.notices import Channel, Kind, Mode, Preference
from connectors.db import delivery_queue as queue
from connectors.db.engine import make_session_factory
from connectors.db.notify_tables import NotifyDeliveryRow
from tests.builders import ALICE, BOB, CAL, ENGINEER, H
from tests.conftest import FixedClock
from tests.notify.conftest import Make, uow_of
from tests.notify.servers import Hook, Inbox, smtp_server, webhook_receiver
from tests.notify.test_email import decide_a_request


def hooks(url: str, **extra: object) -> list[dict[str, object]]:
    return [
        {"name": "hpc", "url": url, "secret": "k3y", **extra},
        {"name": "team", "url": url, "format": "slack", "kinds": ["request.decided"]},
    ]


def test_webhooks_get_signed_json_and_the_mattermost_shape_once(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    rid = decide_a_request(org, clock)
    hook = Hook(fail=1)
    with webhook_receiver(hook) as url:
        notifier = make_notifier(webhooks=hooks(url))
        # hpc: submitted + decided; team: decided only; the first answer is a 500
        assert notifier.deliver() == {"pending": 1, "sent": 2}
        assert notifier.status.failed == {"webhook": 1}
        clock.now += timedelta(minutes=2)
        assert notifier.deliver() == {"sent": 1}
        assert notifier.deliver() == {}
    generic = [(h, b) for h, b in hook.requests if "x-gpuhours-signature" in h]
    assert len(generic) == 2
    for headers, body in generic:
        expected = hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
        assert headers["x-gpuhours-signature"] == f"sha256={expected}"
    decided = next(json.loads(b) for _, b in generic if b'"request.decided"' in b)
    assert decided["link"] == f"https://gpuhours.example.org/portal/requests/{rid}"
    assert decided["params"]["state"] == "approved"
    (slack,) = [json.loads(b) for h, b in hook.requests if "x-gpuhours-signature" not in h]
    assert set(slack) == {"text"} and f"Request {rid} of p1: approved" in slack["text"]
    assert len(hook.bodies()) == 3


def test_a_digest_user_gets_one_mail_a_day_listing_the_days_events(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    with uow_of(org) as uow:
        uow.preferences.put(Preference("alice", Kind.REQUEST_COMMENTED, Channel.EMAIL, Mode.DIGEST))
        uow.commit()
    clock.now = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    request = svc.submit_request(
        uow_of(org), BOB, clock(), "p1", "nat", [("2026Q4", 10 * H)], "more", calendar=CAL
    )
    inbox = Inbox()
    with smtp_server(inbox) as port:
        notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port, notify_digest_hour=18)
        for text in ("which GPUs?", "how long?"):
            svc.comment_request(uow_of(org), ENGINEER, clock(), request.id, text)
            notifier.deliver()
        assert inbox.to("alice@example.org") == []  # nothing in between
        assert notifier.digest() == 0  # before 18:00
        clock.now = datetime(2026, 11, 21, 18, 5, tzinfo=UTC)
        assert notifier.digest() == 1
        notifier.deliver()
        svc.comment_request(uow_of(org), ENGINEER, clock(), request.id, "and after?")
        notifier.deliver()
        assert notifier.digest() == 0  # today's went: the late one waits for tomorrow
        notifier.deliver()
    (digest,) = inbox.to("alice@example.org")
    assert digest["Subject"] == "gpuhours: your digest of 2026-11-21"
    body = digest.get_body(("plain",)).get_content()
    assert body.count(f"Request {request.id} of p1: new comment") == 2
    assert "because you chose the daily digest" in body
    assert len(inbox.to("bob@example.org")) == 3  # bob (requester) hears each comment at once


def test_a_worker_killed_mid_send_is_replaced_and_the_receiver_drops_the_copy(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port)
        factory = make_session_factory(org)
        # a worker claims, sends one, and dies before recording it
        with factory.begin() as session:
            claimed = queue.claim(session, clock(), notifier.lease, 1, "en", ["email"])
        notifier._send(claimed[0])
        assert notifier.deliver() == {"sent": 2}  # the leased one is not taken meanwhile
        clock.now += notifier.lease + timedelta(seconds=1)
        assert notifier.deliver() == {"sent": 1}  # the lease expired: sent again
    assert len(inbox.copies) == 4 and len(inbox.messages) == 3
    with org.connect() as conn:
        assert set(conn.scalars(select(NotifyDeliveryRow.state))) == {"sent"}


def test_a_preference_off_keeps_the_notice_but_sends_nothing(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    with uow_of(org) as uow:
        uow.preferences.put(Preference("*", Kind.REQUEST_SUBMITTED, Channel.EMAIL, Mode.OFF))
        uow.commit()
    svc.submit_request(uow_of(org), ALICE, clock(), "p1", "nat", [("2026Q4", H)], "x", calendar=CAL)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        assert make_notifier(smtp_host="127.0.0.1", smtp_port=port).deliver() == {}
    assert inbox.copies == []
    with org.connect() as conn:
        assert list(conn.scalars(select(NotifyDeliveryRow.state))) == ["off"]
