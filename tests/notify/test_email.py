"""E-mail notifications through a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from allocator import services as svc
from connectors.db.notify_tables import NotifyAttemptRow, NotifyDeliveryRow
from tests.builders import ADMIN, BOB, CAL, H
from tests.conftest import FixedClock
from tests.notify.conftest import Make, uow_of
from tests.notify.servers import PASSWORD, USER, Inbox, smtp_server


def decide_a_request(engine: Engine, clock: FixedClock) -> int:
    """bob (French, member of p1) asks; the admin approves; alice is p1's PI."""
    uow = uow_of(engine)
    request = svc.submit_request(
        uow, BOB, clock(), "p1", "nat", [("2026Q4", 10 * H)], "more epochs", calendar=CAL
    )
    svc.approve_request(uow, ADMIN, clock(), request.id, calendar=CAL)
    return request.id


def states(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.scalars(select(NotifyDeliveryRow.state)))


def test_a_decision_mails_the_requester_and_the_pi_once_each_in_their_languages(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    rid = decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox) as port:
        notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port)
        assert notifier.deliver()["sent"] == 3  # the admin heard of the submission
        assert notifier.deliver() == {}  # nothing twice
    (to_bob,) = inbox.to("bob@example.org")
    (to_alice,) = inbox.to("alice@example.org")
    (to_admin,) = inbox.to("admin@example.org")
    assert len(inbox.copies) == 3
    assert to_bob["Subject"] == f"Demande {rid} de p1 : acceptée"
    assert to_alice["Subject"] == f"Request {rid} of p1: approved"
    assert to_admin["Subject"] == f"Request {rid} for p1 submitted"
    link = f"https://gpuhours.example.org/portal/requests/{rid}"
    text = to_bob.get_body(("plain",))
    html = to_bob.get_body(("html",))
    assert text is not None and html is not None
    assert link in text.get_content() and f'href="{link}"' in html.get_content()
    assert "car vous avez fait la demande" in text.get_content()
    assert "because you are the project's PI" in to_alice.get_body(("plain",)).get_content()
    assert to_bob["Content-Language"] == "fr" and to_bob["Reply-To"] is None
    assert states(org) == ["sent", "sent", "sent"]


def test_starttls_with_login_and_reply_to(
    org: Engine, clock: FixedClock, make_notifier: Make, tls_cert: tuple[Path, Path]
) -> None:
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox, tls_context=context, require_starttls=True, auth_required=True) as port:
        notifier = make_notifier(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_security="starttls",
            smtp_ca_file=cert,
            smtp_user=USER,
            smtp_password=PASSWORD,
            mail_from="ENACT gpuhours <gpuhours@enact.example.org>",
            mail_reply_to="hpc-support@enact.example.org",
        )
        assert notifier.deliver()["sent"] == 3
    _, first = inbox.messages[0]
    assert first["From"] == "ENACT gpuhours <gpuhours@enact.example.org>"
    assert first["Reply-To"] == "hpc-support@enact.example.org"


def test_implicit_tls(
    org: Engine, clock: FixedClock, make_notifier: Make, tls_cert: tuple[Path, Path]
) -> None:
    cert, key = tls_cert
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox, ssl_context=context) as port:
        notifier = make_notifier(
            smtp_host="127.0.0.1", smtp_port=port, smtp_security="tls", smtp_ca_file=cert
        )
        assert notifier.deliver()["sent"] == 3
    assert len(inbox.messages) == 3


def test_a_refusing_server_is_retried_with_backoff_then_delivered(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    decide_a_request(org, clock)
    inbox = Inbox(refuse=4)
    with smtp_server(inbox) as port:
        notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=port)
        first = notifier.deliver()
        assert first == {"pending": 3}
        assert notifier.deliver() == {}  # not due before the backoff
        assert notifier.status.problems["smtp"].startswith("SMTP 451")
        clock.now += timedelta(seconds=61)
        assert notifier.deliver() == {"pending": 1, "sent": 2}
        clock.now += timedelta(seconds=60)
        assert notifier.deliver() == {}  # the second wait is twice as long
        clock.now += timedelta(seconds=61)
        assert notifier.deliver() == {"sent": 1}
    assert len(inbox.messages) == 3 and len(inbox.copies) == 3
    assert "smtp" not in notifier.status.problems
    with org.connect() as conn:
        attempts = conn.execute(select(NotifyAttemptRow.ok)).scalars().all()
    assert sorted(attempts) == [False] * 4 + [True] * 3


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_bad_credentials_are_retried_then_parked_never_dropped(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    decide_a_request(org, clock)
    inbox = Inbox()
    with smtp_server(inbox, auth_required=True) as port:
        notifier = make_notifier(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_user=USER,
            smtp_password="wrong",
            notify_max_attempts=2,
        )
        assert notifier.deliver() == {"pending": 3}
        assert "authentication refused (535)" in notifier.status.problems["smtp"]
        clock.now += timedelta(minutes=2)
        assert notifier.deliver() == {"parked": 3}
        clock.now += timedelta(days=1)
        assert notifier.deliver() == {}
    assert inbox.copies == []
    assert states(org) == ["parked"] * 3
    assert notifier.status.parked["email"] == 3


def test_an_unreachable_relay_is_a_failure_not_a_crash(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    from tests.notify.servers import free_port

    decide_a_request(org, clock)
    notifier = make_notifier(smtp_host="127.0.0.1", smtp_port=free_port())
    assert notifier.deliver() == {"pending": 3}
    assert "ConnectionRefusedError" in notifier.status.problems["smtp"]


def test_without_a_relay_e_mails_wait_in_the_outbox(
    org: Engine, clock: FixedClock, make_notifier: Make
) -> None:
    decide_a_request(org, clock)
    assert make_notifier().deliver() == {}
    assert states(org) == ["pending"] * 3
