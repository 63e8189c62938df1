"""The jobs behind a project's consumption in a period: its top jobs, and its use by Slurm user
and by GPU type, pool by pool (the portal's jobs page and its CSV)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounting.ports import AccountingUnitOfWork, JobLine
from allocator import services as svc
from allocator.model import Pool, User
from allocator.periods import Calendar

#: How many of the largest jobs each pool lists.
TOP = 20


@dataclass(frozen=True, slots=True)
class Job:
    """One job's charges in a pool (its GPU types summed)."""

    cluster: str
    job_id: int
    user: str
    gpu_types: tuple[str, ...]
    gpu_seconds: int
    units: int
    running: bool


@dataclass(frozen=True, slots=True)
class Share:
    """What a user or a GPU type used: jobs, GPU-seconds, the pool's unit-seconds."""

    name: str
    jobs: int
    gpu_seconds: int
    units: int


@dataclass(frozen=True, slots=True)
class PoolJobs:
    pool: Pool
    jobs: tuple[Job, ...]
    by_user: tuple[Share, ...]
    by_type: tuple[Share, ...]

    @property
    def top(self) -> tuple[Job, ...]:
        """The largest jobs first (by the pool's units, then GPU-seconds)."""
        ranked = sorted(self.jobs, key=lambda j: (-j.units, -j.gpu_seconds, j.cluster, j.job_id))
        return tuple(ranked[:TOP])


def job_breakdown(
    uow: AccountingUnitOfWork,
    actor: User,
    project_id: str,
    period: str,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[PoolJobs]:
    """The project's jobs of ``period`` by pool; a project the actor may not see is unknown
    (``NotFound``), as everywhere."""
    calendar.check(period, now)
    with uow:
        project = svc.get_project(uow, project_id, actor)
        lines = uow.consumption.job_lines(project.id, period)
        pools = {p.id: p for p in uow.pools.list()}
    out = []
    for pool_id in sorted({line.pool_id for line in lines}):
        mine = [line for line in lines if line.pool_id == pool_id]
        jobs = _jobs(mine)
        out.append(
            PoolJobs(
                pools[pool_id],
                jobs,
                _shares(mine, lambda line: line.user),
                _shares(mine, lambda line: line.gpu_type),
            )
        )
    return out


def _jobs(lines: Sequence[JobLine]) -> tuple[Job, ...]:
    found: dict[tuple[str, int], Job] = {}
    for line in lines:
        key = (line.cluster, line.job_id)
        seen = found.get(key)
        if seen is None:
            found[key] = Job(
                line.cluster,
                line.job_id,
                line.user,
                (line.gpu_type,),
                line.gpu_seconds,
                line.units,
                line.provisional,
            )
            continue
        found[key] = Job(
            seen.cluster,
            seen.job_id,
            seen.user or line.user,
            tuple(sorted({*seen.gpu_types, line.gpu_type})),
            seen.gpu_seconds + line.gpu_seconds,
            seen.units + line.units,
            seen.running or line.provisional,
        )
    return tuple(found[k] for k in sorted(found))


def _shares(lines: Iterable[JobLine], name: Callable[[JobLine], str]) -> tuple[Share, ...]:
    """Use per ``name`` (a user, a GPU type), the largest first."""
    sums: dict[str, tuple[set[tuple[str, int]], int, int]] = {}
    for line in lines:
        jobs, seconds, units = sums.get(name(line), (set(), 0, 0))
        jobs.add((line.cluster, line.job_id))
        sums[name(line)] = (jobs, seconds + line.gpu_seconds, units + line.units)
    shares = [Share(key, len(j), s, u) for key, (j, s, u) in sums.items()]
    return tuple(sorted(shares, key=lambda x: (-x.units, -x.gpu_seconds, x.name)))
