"""The outbox on both databases: events written with the change that causes them, once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from accounting.services import DetectorSettings, detect
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.periods import Calendar
from connectors.db.engine import make_session_factory
from connectors.db.notify_tables import NotifyDeliveryRow, NotifyEventRow
from connectors.db.uow import SqlUnitOfWork
from tests.builders import ADMIN, ALICE, CAL, H
from tests.db.test_accounting import rec, store
from tests.scheduler.test_housekeeping import NOV, org


def uow_of(engine: Engine) -> SqlUnitOfWork:
    return SqlUnitOfWork(make_session_factory(engine))


def deliveries(engine: Engine) -> list[tuple[str, str, str]]:
    """(event kind, recipient, reason) of every delivery, sorted."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(NotifyEventRow.kind, NotifyDeliveryRow.recipient, NotifyDeliveryRow.why).join(
                NotifyEventRow, NotifyEventRow.id == NotifyDeliveryRow.event_id
            )
        )
        return sorted(tuple(r) for r in rows)


def test_a_decision_writes_its_notices_in_its_own_transaction(engine: Engine) -> None:
    org(engine)
    now = datetime(2026, 11, 2, tzinfo=UTC)
    request = svc.submit_request(
        uow_of(engine), ALICE, now, "p1", "nat", [("2026Q4", 5 * H)], "thesis", calendar=CAL
    )
    assert deliveries(engine) == [("request.submitted", "admin", "admin")]
    with pytest.raises(InvalidInput):
        svc.reject_request(uow_of(engine), ADMIN, now, request.id, "")
    assert len(deliveries(engine)) == 1  # a refused decision told nobody
    svc.reject_request(uow_of(engine), ADMIN, now, request.id, "no budget")
    assert deliveries(engine) == [
        ("request.decided", "alice", "requester"),
        ("request.submitted", "admin", "admin"),
    ]


def test_a_project_crossing_80_percent_is_told_once_and_a_reingest_tells_nothing(
    engine: Engine,
) -> None:
    org(engine)  # p1 (PI alice) has 50 h of the local pool in 2026Q4
    now = datetime.fromtimestamp(NOV + 86400, UTC)
    settings = DetectorSettings(period_days=0)
    store(engine, [rec(1, NOV - 86400, 30 * 3600)], NOV + 86400)
    first = detect(uow_of(engine), now, Calendar(), settings)
    # 60 %: no threshold; but at this pace the hours run out in November, and 2026Q3 is open
    assert sorted(e.kind.value for e in first) == ["period.unclosed", "usage.exhaustion_forecast"]
    store(engine, [rec(1, NOV - 86400, 41 * 3600)], NOV + 86400)  # the job ran on: 82 %
    (event,) = detect(uow_of(engine), now, Calendar(), settings)
    assert event.kind.value == "usage.80"
    assert event.param("project") == "p1" and event.link == "/portal/projects/p1"
    store(engine, [rec(1, NOV - 86400, 41 * 3600)], NOV + 86400)  # the same window again
    assert detect(uow_of(engine), now, Calendar(), settings) == []
    assert [d for d in deliveries(engine) if d[0].startswith("usage.8")] == [
        ("usage.80", "alice", "pi")
    ]
