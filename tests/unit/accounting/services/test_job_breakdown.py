"""The jobs behind a project's consumption (the portal's jobs page), on in-memory fakes."""

from __future__ import annotations

import pytest

from accounting import services as acc
from accounting.ports import JobLine
from allocator.errors import NotFound
from tests.builders import ALICE, BOB, CAL, H
from tests.fakes_accounting import FakeAccountingUnitOfWork
from tests.unit.accounting.services.quarter_world import NOW, Q3


def line(job: int, user: str, gpu: str, hours: int, running: bool = False) -> JobLine:
    return JobLine("loc", "enact-dev", job, user, gpu, hours * H, hours * H, running)


def test_the_top_jobs_and_the_use_by_user_and_gpu_type(uow: FakeAccountingUnitOfWork) -> None:
    uow.committed_store.job_lines[(Q3, "p1")] = [
        line(1, "alice", "a100", 5),
        line(1, "alice", "h100", 2),  # one job on two GPU types
        line(2, "bob", "a100", 9, running=True),
        line(3, "alice", "a100", 1),
    ]
    (loc,) = acc.job_breakdown(uow, ALICE, "p1", Q3, now=NOW, calendar=CAL)
    assert [(j.job_id, j.units, j.gpu_types, j.running) for j in loc.top] == [
        (2, 9 * H, ("a100",), True),
        (1, 7 * H, ("a100", "h100"), False),
        (3, 1 * H, ("a100",), False),
    ]
    assert [(s.name, s.jobs, s.units) for s in loc.by_user] == [
        ("bob", 1, 9 * H),
        ("alice", 2, 8 * H),
    ]
    assert [(s.name, s.jobs, s.gpu_seconds) for s in loc.by_type] == [
        ("a100", 3, 15 * H),
        ("h100", 1, 2 * H),
    ]


def test_the_top_is_the_twenty_largest(uow: FakeAccountingUnitOfWork) -> None:
    uow.committed_store.job_lines[(Q3, "p1")] = [line(n, "alice", "a100", n) for n in range(1, 31)]
    (loc,) = acc.job_breakdown(uow, ALICE, "p1", Q3, now=NOW, calendar=CAL)
    assert len(loc.jobs) == 30 and [j.job_id for j in loc.top] == list(range(30, 10, -1))


def test_another_chairs_jobs_are_unknown(uow: FakeAccountingUnitOfWork) -> None:
    uow.committed_store.job_lines[(Q3, "p1")] = [line(1, "alice", "a100", 5)]
    with pytest.raises(NotFound):
        acc.job_breakdown(uow, BOB, "p1", Q3, now=NOW, calendar=CAL)
