"""Plain builders with valid defaults, and a small organisation used by many tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import (
    MILLI,
    Chair,
    ClusterRoute,
    GpuInventory,
    Pool,
    PoolKind,
    Project,
    ProjectKind,
    Rate,
    Role,
    SlurmAccount,
    User,
)
from allocator.periods import Calendar
from allocator.ports import UnitOfWork

H = 3600
#: The calendar of the tests' site: quarters in UTC (the default settings).
CAL = Calendar()
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
ADMIN = User("admin", Role.ADMIN)
ENGINEER = User("eng", Role.ENGINEER)
ALICE = User("alice", Role.RESEARCHER)
BOB = User("bob", Role.RESEARCHER)


def usage_record(start: int, elapsed: int, gpus: int = 1, **fields: object) -> UsageRecord:
    """A finished job of ``gpus`` A100s from ``start`` for ``elapsed`` seconds; any field of
    :class:`UsageRecord` can be given."""
    values: dict[str, object] = {
        "cluster": "enact-dev",
        "job_id": 1,
        "submit": start - 10,
        "account": "acct",
        "user": "alice",
        "partition": "gpu",
        "qos": "normal",
        "state": "COMPLETED",
        "start": start,
        "end": start + elapsed,
        "elapsed": elapsed,
        "gpus": gpus,
        "gpus_by_type": (("a100", gpus),),
    }
    values.update(fields)
    return UsageRecord(**values)  # type: ignore[arg-type]


def national_pool(**overrides: object) -> Pool:
    values: dict[str, object] = {
        "id": "nat",
        "name": "national grant",
        "kind": PoolKind.NATIONAL,
        "unit": "normalised-gpu-hour",
        "valid_from": datetime(2026, 5, 1, tzinfo=UTC),
        "valid_until": datetime(2027, 5, 1, tzinfo=UTC),
        "rates": (Rate("a100", 2 * MILLI, EPOCH), Rate("h100", 4 * MILLI, EPOCH)),
        "routes": (ClusterRoute("jean-zay", ""),),
    }
    values.update(overrides)
    return Pool(**values)  # type: ignore[arg-type]


def local_pool(**overrides: object) -> Pool:
    values: dict[str, object] = {
        "id": "loc",
        "name": "local cluster",
        "kind": PoolKind.LOCAL,
        "unit": "gpu-hour",
        "inventory": (GpuInventory("a100", 2),),
        "availability_milli": MILLI,
        "rates": (Rate("a100", MILLI, EPOCH),),
        "routes": (ClusterRoute("enact-dev", ""),),
    }
    values.update(overrides)
    return Pool(**values)  # type: ignore[arg-type]


@dataclass
class World:
    """Two chairs, one project each (alice in p1 of chair A, bob in p2 of chair B), plus p1b."""

    national: Pool
    local: Pool
    grant_seconds: int
    tokens: dict[str, str] = field(default_factory=dict)


def seed_world(
    uow: UnitOfWork, now: datetime, grant_hours: int = 10_000, calendar: Calendar = CAL
) -> World:
    with uow:
        for user in (ADMIN, ENGINEER, ALICE, BOB):
            uow.users.add(user)
        uow.commit()
    national = svc.create_pool(uow, ADMIN, now, national_pool())
    local = svc.create_pool(uow, ADMIN, now, local_pool())
    svc.add_grant(uow, ADMIN, now, national.id, grant_hours * H, "test grant", calendar=calendar)
    svc.create_chair(uow, ADMIN, now, Chair("chair-a", "Chair A"))
    svc.create_chair(uow, ADMIN, now, Chair("chair-b", "Chair B"))
    svc.create_project(
        uow,
        ADMIN,
        now,
        Project(
            "p1",
            "chair-a",
            "Project 1",
            ProjectKind.THESIS,
            "alice",
            slurm_accounts=(SlurmAccount("enact-dev", "acct-p1"),),
        ),
    )
    svc.create_project(
        uow, ADMIN, now, Project("p1b", "chair-a", "Project 1b", ProjectKind.RND, "alice")
    )
    svc.create_project(
        uow,
        ADMIN,
        now,
        Project(
            "p2",
            "chair-b",
            "Project 2",
            ProjectKind.RND,
            "bob",
            slurm_accounts=(SlurmAccount("enact-dev", "acct-p2"),),
        ),
    )
    return World(national, local, grant_hours * H)
