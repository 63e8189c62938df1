"""The quarter of the use-case unit tests: ``tests.builders.seed_world`` on in-memory fakes,
with helpers to say what was consumed and what a statement says, in the domain's words.

2026Q3 has ended (NOW is in 2026Q4). The local pool ``loc`` routes cluster ``enact-dev``,
where Slurm account ``acct-p1`` is project p1's (chair A, alice) and ``acct-p2`` is p2's
(chair B, bob). Amounts are unit-seconds (H = one hour of the pool's unit).
"""

from __future__ import annotations

from datetime import UTC, datetime

from accounting.ports import Consumed
from allocator import services as svc
from tests.builders import ADMIN, CAL, H, World, seed_world
from tests.fakes_accounting import FakeAccountingUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
Q3 = "2026Q3"
Q4 = "2026Q4"
NATIONAL_HEADER = "project_account,hardware,period,hours_consumed,normalised_hours\n"


def quarter_world() -> tuple[FakeAccountingUnitOfWork, World]:
    """The organisation, with 100 h of ``loc`` in 2026Q3 for p1 and 50 h for p2."""
    uow = FakeAccountingUnitOfWork()
    world = seed_world(uow, NOW)
    svc.open_period(uow, ADMIN, NOW, "loc", Q3, calendar=CAL)
    for chair, project, hours in (("chair-a", "p1", 100), ("chair-b", "p2", 50)):
        svc.allocate_to_chair(uow, ADMIN, NOW, "loc", chair, Q3, hours * H, "budget", calendar=CAL)
        svc.allocate_to_project(
            uow, ADMIN, NOW, "loc", project, Q3, hours * H, "share", calendar=CAL
        )
    return uow, world


def consumed(
    uow: FakeAccountingUnitOfWork,
    project: str,
    hours: int,
    period: str = Q3,
    pool: str = "loc",
    provisional: int = 0,
) -> None:
    """``project`` consumed ``hours`` (final) of ``pool`` in ``period``, on A100s at rate 1."""
    uow.committed_store.consumed[(period, project, pool)] = Consumed(
        final=hours * H, provisional=provisional * H, gpu_seconds=(hours + provisional) * H
    )


def national(*lines: tuple[str, float], period: str = Q3) -> bytes:
    """A national-centre CSV: one (account, normalised hours) per line, on A100s."""
    return (
        NATIONAL_HEADER
        + "".join(f"{account},a100,{period},{hours},{hours}\n" for account, hours in lines)
    ).encode()
