"""The detector on fakes: thresholds crossed, un-crossed by an adjustment and crossed again;
a stale cluster; a national grant under-consumed before its check date. Each told once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounting.ingestion import IngestState
from accounting.services import DetectorSettings, detect
from allocator import services as svc
from allocator.notices import Event
from tests.builders import ADMIN, CAL, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q4, consumed, quarter_world

QUIET = DetectorSettings(period_days=0, stale_seconds=3600)


def q4_world(hours: int = 100, chair_hours: int = 200) -> FakeAccountingUnitOfWork:
    """Chair A receives ``chair_hours`` of ``loc`` in 2026Q4 and gives ``hours`` to p1."""
    uow, _ = quarter_world()
    svc.allocate_to_chair(uow, ADMIN, NOW, "loc", "chair-a", Q4, chair_hours * H, "b", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, NOW, "loc", "p1", Q4, hours * H, "s", calendar=CAL)
    return uow


def usage(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.key) for e in events if e.kind.value.startswith("usage.")]


def told(uow: FakeAccountingUnitOfWork, kind: str) -> list[str]:
    return sorted(n.recipient for n in uow.committed_store.notices.values() if n.event.kind == kind)


def test_crossed_uncrossed_by_an_adjustment_and_crossed_again_is_told_twice() -> None:
    uow = q4_world()
    consumed(uow, "p1", 79, period=Q4)
    assert usage(detect(uow, NOW, CAL, QUIET)) == []
    consumed(uow, "p1", 80, period=Q4)
    assert usage(detect(uow, NOW, CAL, QUIET)) == [("usage.80", "usage.80:project:p1:loc:2026Q4:1")]
    assert usage(detect(uow, NOW, CAL, QUIET)) == []  # the same figures again: nothing
    svc.adjust(uow, ADMIN, NOW, "loc", "p1", Q4, 50 * H, "extra hours", calendar=CAL)
    assert usage(detect(uow, NOW, CAL, QUIET)) == []  # 80 of 150: below again
    consumed(uow, "p1", 150, period=Q4)
    assert usage(detect(uow, NOW, CAL, QUIET)) == [
        ("usage.80", "usage.80:project:p1:loc:2026Q4:2"),
        ("usage.100", "usage.100:project:p1:loc:2026Q4:1"),
    ]
    assert told(uow, "usage.80") == ["alice", "alice"]  # alice is p1's PI; two crossings


def test_a_chair_whose_projects_used_80_percent_of_what_it_received_tells_their_pis() -> None:
    uow = q4_world(hours=60, chair_hours=100)
    svc.allocate_to_project(uow, ADMIN, NOW, "loc", "p1b", Q4, 40 * H, "s", calendar=CAL)
    consumed(uow, "p1", 50, period=Q4)  # 83 % of p1's 60 h
    consumed(uow, "p1b", 20, period=Q4)  # 50 % of p1b's 40 h; the chair: 70 of 100
    assert usage(detect(uow, NOW, CAL, QUIET)) == [("usage.80", "usage.80:project:p1:loc:2026Q4:1")]
    consumed(uow, "p1b", 31, period=Q4)  # the chair: 81 of 100
    (event,) = [e for e in detect(uow, NOW, CAL, QUIET) if e.kind.value == "usage.80"]
    assert event.key == "usage.80:chair:chair-a:loc:2026Q4:1"
    assert event.link == "/portal/chairs/chair-a" and event.param("chair") == "chair-a"
    chair_notices = [
        n.recipient for n in uow.committed_store.notices.values() if n.event.key == event.key
    ]
    assert chair_notices == ["alice"]  # the PI of both of chair A's projects


def test_a_stale_cluster_is_told_to_the_engineers_once_per_stall() -> None:
    uow = q4_world()
    epoch = int(NOW.timestamp())
    stale = IngestState("enact-dev", last_success=epoch - 7200, last_attempt=epoch - 60)
    fresh = IngestState("jean-zay", last_success=epoch - 60, last_attempt=epoch - 60)
    never = IngestState("new-cluster")
    found = detect(uow, NOW, CAL, QUIET, [stale, fresh, never])
    (event,) = [e for e in found if e.kind.value == "ingestion.stale"]
    assert event.param("cluster") == "enact-dev"
    assert detect(uow, NOW, CAL, QUIET, [stale, fresh, never]) == []
    assert told(uow, "ingestion.stale") == ["eng"]


def test_a_national_grant_off_pace_is_warned_a_month_before_its_check_date() -> None:
    uow, _ = quarter_world()
    # the grant runs 2026-05-01 .. 2027-05-01: its check is on 2026-11-01, warned from 2 October
    early = datetime(2026, 10, 1, tzinfo=UTC)
    warned = datetime(2026, 10, 5, tzinfo=UTC)
    svc.allocate_to_chair(uow, ADMIN, early, "nat", "chair-a", Q4, 100 * H, "b", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, early, "nat", "p1", Q4, 100 * H, "s", calendar=CAL)
    consumed(uow, "p1", 300, pool="nat")  # 300 h in 2026Q3: far from the ~2,500 h needed
    assert [e for e in detect(uow, early, CAL, QUIET) if e.kind.value.startswith("grant")] == []
    (event,) = [e for e in detect(uow, warned, CAL, QUIET) if e.kind.value.startswith("grant")]
    assert event.key == "grant.under_consumption:pool:nat:2026-11-01"
    assert told(uow, "grant.under_consumption") == ["admin", "alice"]
    later = warned + timedelta(days=3)
    assert [e for e in detect(uow, later, CAL, QUIET) if e.kind.value.startswith("grant")] == []


def test_a_thesis_ending_within_a_month_tells_its_pi_and_the_admins_once_per_end_date() -> None:
    uow = q4_world()
    defence = NOW + timedelta(days=45)
    svc.set_project_end(uow, ADMIN, NOW, "p1", defence)

    def ending(at: datetime) -> list[str]:
        return [e.key for e in detect(uow, at, CAL, QUIET) if e.kind.value == "project.ending"]

    assert ending(NOW) == []  # 45 days ahead: not yet
    soon = NOW + timedelta(days=20)
    assert ending(soon) == ["project.ending:p1:2027-01-05"]
    assert ending(soon + timedelta(days=1)) == []  # told once
    assert told(uow, "project.ending") == ["admin", "alice"]  # alice is p1's PI
    svc.set_project_end(uow, ADMIN, soon, "p1", defence + timedelta(days=7))  # moved later
    assert ending(soon + timedelta(days=2)) == ["project.ending:p1:2027-01-12"]
    assert ending(defence + timedelta(days=8)) == []  # ended: its hours return, no notice
