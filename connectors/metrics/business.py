"""The database collection: every database-derived family at one moment.

The **current** period's balances are what the API's balances show
(``tests/ops/test_metrics_figures.py`` checks the figures against ``GET /api/v1/balances``):
``allocator.ledger``'s balances of the pool and chair accounts, from their flows summed by
kind (:func:`~connectors.db.metrics_reads.account_flows`), and each project's
``ProjectBalance`` figures summed in SQL from the journal and the period rollup
(:func:`~connectors.db.metrics_reads.project_figures`). Burn rates are ``accounting.burn``'s,
over the daily rollup; usage counters and grants come from the period rollup; the ingestion
and reconciliation families are in :mod:`connectors.metrics.operations`.

Speed (``tests/bench/bench_metrics.py``): a fixed number of queries per scrape, whatever the
number of projects, every sum made by the database (one row per project and pool comes back,
nothing per ledger entry or per Slurm account); each project's figures and burn windows in
one query from what the ingestion keeps per Slurm account (``connectors.db.burn_windows``);
the reads sent together on two connections (``connectors.db.read_batch``) while the families
of the first ones are written; the per-project lines written as text directly, the label
strings of each project built once and kept from one collection to the next.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from operator import itemgetter

from sqlalchemy import Connection

from accounting.burn import WINDOWS, elapsed_in, outlook_of, rate_in
from accounting.charging import local_days
from allocator.ledger import Flows, all_chair_balances, pool_balance, pool_capacity
from allocator.model import EntryKind
from allocator.periods import Calendar, Period
from connectors.bootstrap import Services
from connectors.db import metrics_reads as reads
from connectors.db import project_figures as figures_of
from connectors.db.consumption import project_windows as summed_windows
from connectors.db.metrics_reads import PeriodUsage, PoolInfo
from connectors.db.project_figures import ProjectFigures
from connectors.db.read_batch import batch
from connectors.metrics.families import Samples, escape, sample_name
from connectors.metrics.operations import ingestion, reconciliation, unmapped

#: The counterpart of every summed flow in :func:`_flows` (no account is named so).
_ANY = ""

#: (project, pool, remaining, allocated, the beginnings of its lines (``ProjectLines.of``),
#: its 7-day units, its 30-day units)
BurnInput = tuple[str, str, int, int, tuple[str, ...], int, int]
#: A :data:`ProjectFigures` row's project.
_PROJECT = itemgetter(1)
#: The ``window`` labels of the burn rates.
W7, W30 = (f"{days}d" for days in WINDOWS)


def collect_database(services: Services, now: datetime) -> Samples:
    """Every database-derived family at ``now``, from one read-only transaction: every read
    sent at once (:func:`~connectors.db.read_batch.batch`; on PostgreSQL the server works
    through them while the families of the first ones are written)."""
    calendar = services.settings.calendar
    current = calendar.containing(now)
    period = current.label
    epoch, end = int(now.timestamp()), int(current.end.timestamp())
    out = Samples()
    with services.uow(read_only=True) as uow:
        conn = uow.session.connection()
        with batch(conn, services.reader) as send:
            # two connections, each running its reads in this order
            today = local_days(calendar).of(epoch)
            kept = send(figures_of.PROJECTS_KEPT, today=today, period=period)
            states = send(reads.INGEST_STATES)
            errors = send(reads.INGEST_ERRORS)
            quarantined = send(reads.QUARANTINED)
            closes = send(reads.PERIOD_CLOSES)
            pools = send(reads.POOLS, apart="rollup")
            flows = send(reads.ACCOUNT_FLOWS, apart="rollup", period=period)
            found = send(reads.UNMAPPED, apart="rollup", period=period)
            by_period = send(reads.USAGE_BY_PERIOD, apart="rollup")
            capacity = send(reads.CAPACITY, apart="rollup")
            # the projects' balances and burn while the rest is read
            flowed = _flows(flows.result())
            figures = kept.result()
            if figures is not None:
                burns = Burns(epoch, calendar, end)
                _burns(out, _balances(out, pools.result(), flowed, figures, period), burns)
            health = reads.IngestHealth(states.result(), errors.result(), quarantined.result())
            unmapped(out, found.result(), ingestion(out, health, services, epoch), period)
            _usage_counters(out, by_period.result())
        if figures is None:  # usage_burn holds another day's figures: summed from the rollups
            windows = summed_windows(conn, epoch, calendar)
            figures = [
                (*r[:7], *windows.get((r[1], r[0]), (0, 0)))
                for r in figures_of.project_figures(conn, period)
            ]
            burn_input = _balances(out, pools.result(), flowed, figures, period)
            _burns(out, burn_input, Burns(epoch, calendar, end))
        _grants(out, conn, pools.result(), by_period.result(), calendar, capacity.result())
        reconciliation(out, uow, closes.result(), pools.result(), calendar)
    _current_period(out, current)
    return out


# --- the current period's balances and burn ----------------------------------------------------


def _flows(rows: Sequence[reads.AccountFlows]) -> dict[str, dict[tuple[str, str, EntryKind], int]]:
    """Pool -> the flows of its pool and chair accounts, each summed over its counterparts
    (``_ANY``): every balance of those accounts (``allocator.ledger``) is the same."""
    out: dict[str, dict[tuple[str, str, EntryKind], int]] = defaultdict(dict)
    for pool_id, account, kind, inflow, outflow in rows:
        flows = out[pool_id]
        flows[(_ANY, account, kind)] = inflow
        flows[(account, _ANY, kind)] = outflow
    return out


def _balances(
    out: Samples,
    pools: Sequence[PoolInfo],
    flows: Mapping[str, Flows],
    projects: Sequence[ProjectFigures],
    period: str,
) -> list[BurnInput]:
    """Pool, chair and project balances of the current period; the projects to burn."""
    by_pool: dict[str, list[ProjectFigures]] = defaultdict(list)
    pool_used: dict[str, int] = defaultdict(int)
    for row in projects:
        pool_used[row[0]] += row[5] + row[6]
        if row[1]:  # "" = unmapped accounts: in the pool's figures only
            by_pool[row[0]].append(row)
    burn_input: list[BurnInput] = []
    LINES.forget_beyond(len(projects))
    for pool in pools:
        f = flows.get(pool.id, {})
        _pool(out, f, pool.id, period, pool_used.get(pool.id, 0))
        rows = sorted(by_pool.get(pool.id, ()), key=_PROJECT)  # one row per project
        chair_used = _projects(out, rows, pool.id, period, burn_input)
        _chairs(out, f, pool.id, period, chair_used)
    return burn_input


def _pool(out: Samples, f: Flows, pool_id: str, period: str, used: int) -> None:
    pb = pool_balance(f, pool_id, period)
    labels: tuple[str, ...] = (pool_id, period)
    out.add("pool_capacity_gpu_seconds", labels, pb.capacity)
    out.add("pool_allocated_gpu_seconds", labels, pb.allocated)
    out.add("pool_consumed_gpu_seconds", labels, used)
    out.add("pool_remaining_gpu_seconds", labels, pb.capacity - used)
    if pb.capacity > 0:
        out.add("pool_utilisation_ratio", labels, used / pb.capacity)


def _projects(
    out: Samples,
    projects: Sequence[ProjectFigures],
    pool_id: str,
    period: str,
    burn_input: list[BurnInput],
) -> dict[str, int]:
    """The project families of one pool: ``allocator.ledger.ProjectBalance``'s figures from
    :data:`ProjectFigures`, the projects with nothing allocated, adjusted or consumed left
    out (``ProjectBalance.is_empty``). The hot part: each family's lines written by one
    comprehension from the beginnings :data:`LINES` keeps; each project to burn goes to
    ``burn_input``. Returns what each chair's projects consumed."""
    rows = [r for r in projects if r[3] or r[4] or r[5] or r[6]]  # allocated, balance, used
    begin = LINES.of
    starts = [begin(pool_id, r[1], r[2], period) for r in rows]
    used = [r[5] + r[6] for r in rows]  # final + provisional
    available = [r[4] for r in rows]  # the balance: allocated + adjustments
    remaining = [a - u for a, u in zip(available, used, strict=True)]
    lines = out.lines
    lines[_BALANCE[0]] += [f"{s[0]}{a}\n" for s, a in zip(starts, available, strict=True)]
    lines[_BALANCE[1]] += [f"{s[1]}{u}\n" for s, u in zip(starts, used, strict=True)]
    lines[_BALANCE[2]] += [f"{s[2]}{r[6]}\n" for s, r in zip(starts, rows, strict=True)]
    lines[_BALANCE[3]] += [f"{s[3]}{left}\n" for s, left in zip(starts, remaining, strict=True)]
    lines[_BALANCE[4]] += [
        f"{s[4]}{u / a}\n" for s, a, u in zip(starts, available, used, strict=True) if a > 0
    ]
    burn_input += [
        (r[1], pool_id, left, a, s, r[7], r[8])
        for r, s, a, left in zip(rows, starts, available, remaining, strict=True)
    ]
    chair_used: dict[str, int] = defaultdict(int)
    for r, u in zip(rows, used, strict=True):
        chair_used[r[2]] += u
    return chair_used


class ProjectLines:
    """The beginnings of a project's lines in one pool and period, up to the value
    (``gpuhours_project_allocated_gpu_seconds{pool="a",chair="c",project="p",period="2026Q4"} ``):
    one per family of :data:`_BALANCE`, then the 7-day rate, the 30-day rate and the
    exhaustion. Pure functions of the names, built once and kept from one collection to the
    next: a thousand projects' labels cost more to write than their values."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str, str], tuple[str, ...]] = {}

    def forget_beyond(self, live: int) -> None:
        """Start afresh once far more are kept than ``live`` (projects gone, periods past)."""
        if len(self._known) > 4 * live + 1000:
            self._known = {}

    def of(self, pool_id: str, project: str, chair: str, period: str) -> tuple[str, ...]:
        key = (pool_id, project, chair, period)
        found = self._known.get(key)
        if found is None:
            found = self._known[key] = _beginnings(*map(escape, key))
        return found


def _beginnings(pool: str, project: str, chair: str, period: str) -> tuple[str, ...]:
    base = f'pool="{pool}",chair="{chair}",project="{project}"'
    labels = f'{{{base},period="{period}"}} '
    burn = sample_name("project_burn_rate")
    return (
        *(f"{sample_name(name)}{labels}" for name in _BALANCE),
        f'{burn}{{{base},window="{W7}"}} ',
        f'{burn}{{{base},window="{W30}"}} ',
        f"{sample_name('project_projected_exhaustion_timestamp_seconds')}{labels}",
    )


#: Kept across collections (a dictionary's reads and writes are atomic: concurrent
#: collections at worst build a beginning twice).
LINES = ProjectLines()


#: The balance families of :func:`_projects`, in the order of its names.
_BALANCE = (
    "project_allocated_gpu_seconds",
    "project_consumed_gpu_seconds",
    "project_consumed_provisional_gpu_seconds",
    "project_remaining_gpu_seconds",
    "project_utilisation_ratio",
)


class Burns:
    """``accounting.burn.burn_of`` of many projects at one instant: the windows' lengths
    computed once; an exhaustion only when it falls before ``period_end``."""

    def __init__(self, epoch: int, calendar: Calendar, period_end: int):
        short, long = WINDOWS
        self.epoch, self.period_end = epoch, period_end
        self.elapsed = (elapsed_in(epoch, short, calendar), elapsed_in(epoch, long, calendar))

    def exhaustion(self, remaining: int, allocated: int, rate_7d: float) -> int | None:
        if allocated > 0 and remaining > 0 and rate_7d > 0:  # else outlook_of gives none
            return outlook_of(remaining, allocated, rate_7d, self.epoch, self.period_end)[1]
        return None


def _burns(out: Samples, projects: Sequence[BurnInput], burns: Burns) -> None:
    """The burn rates of each project, and its exhaustion (their label strings were built
    with its balance's)."""
    e7, e30 = burns.elapsed
    r7 = [rate_in(p[5], e7) for p in projects]
    r30 = map(repr, [rate_in(p[6], e30) for p in projects])
    out.lines["project_burn_rate"] += [
        f"{p[4][5]}{a}\n{p[4][6]}{b}\n"
        for p, a, b in zip(projects, map(repr, r7), r30, strict=True)
    ]
    exhaustions = [burns.exhaustion(p[2], p[3], r) for p, r in zip(projects, r7, strict=True)]
    out.lines["project_projected_exhaustion_timestamp_seconds"] += [
        f"{p[4][7]}{at}\n" for p, at in zip(projects, exhaustions, strict=True) if at is not None
    ]


def _chairs(
    out: Samples, f: Flows, pool_id: str, period: str, chair_used: Mapping[str, int]
) -> None:
    chairs = all_chair_balances(f, pool_id, period)
    for chair in sorted(chairs.keys() | chair_used.keys()):
        cb = chairs.get(chair)
        received = cb.received if cb is not None else 0
        used_c = chair_used.get(chair, 0)
        given = cb.allocated_to_projects if cb is not None else 0
        if not chair or not (received or used_c or given):
            continue
        labels = (pool_id, chair, period)
        out.add("chair_allocated_gpu_seconds", labels, received)
        out.add("chair_consumed_gpu_seconds", labels, used_c)
        out.add("chair_remaining_gpu_seconds", labels, received - used_c)
        if received > 0:
            out.add("chair_utilisation_ratio", labels, used_c / received)


def _current_period(out: Samples, current: Period) -> None:
    period = current.label
    out.add("period_start_timestamp_seconds", (period,), current.start.timestamp())
    out.add("period_end_timestamp_seconds", (period,), current.end.timestamp())


# --- usage counters and grants -----------------------------------------------------------------


def _usage_counters(out: Samples, by_period: Sequence[PeriodUsage]) -> None:
    """Final GPU-seconds ever charged, by pool, cluster and GPU type."""
    counter: dict[tuple[str, str, str], int] = defaultdict(int)
    for _period, pool_id, cluster, gpu_type, final, _units in by_period:
        counter[(pool_id, cluster, gpu_type)] += final
    for (pool_id, cluster, gpu_type), seconds in sorted(counter.items()):
        out.add("consumed_gpu_seconds", (pool_id, cluster, gpu_type), seconds)


def _grant_days(pool: PoolInfo, calendar: Calendar) -> tuple[int, int] | None:
    """The local days of a pool's validity ``[first, last)``, or ``None`` without one."""
    if pool.valid_from is None or pool.valid_until is None:
        return None
    days = local_days(calendar)
    first = days.of(int(pool.valid_from.timestamp()))
    last = days.of(int(pool.valid_until.timestamp()) - 1) + 1  # days beginning before the end
    return first, last


def _grants(
    out: Samples,
    conn: Connection,
    pools: Sequence[PoolInfo],
    by_period: Sequence[PeriodUsage],
    calendar: Calendar,
    capacity: Mapping[tuple[str, str], reads.CapacityFlows],
) -> None:
    """Pools with a validity window: the capacity deposited in the periods it overlaps, and
    the units charged over it (whole periods from the period rollup, the days of a period
    it only partly covers from the daily one)."""
    granted = {p.id: p for p in pools if _grant_days(p, calendar) is not None}
    if not granted:
        return
    used = _grant_usage(conn, granted, by_period, calendar)
    for pool_id, pool in granted.items():
        assert pool.valid_from is not None and pool.valid_until is not None
        total = 0
        for (p, label), f in capacity.items():
            span = calendar.period(label)
            if p == pool_id and span.start < pool.valid_until and pool.valid_from < span.end:
                total += pool_capacity(f, pool_id)
        labels = (pool_id,)
        out.add("grant_gpu_seconds", labels, total)
        out.add("grant_consumed_gpu_seconds", labels, used.get(pool_id, 0))
        out.add("grant_start_timestamp_seconds", labels, pool.valid_from.timestamp())
        out.add("grant_end_timestamp_seconds", labels, pool.valid_until.timestamp())


def _grant_usage(
    conn: Connection,
    granted: Mapping[str, PoolInfo],
    by_period: Sequence[PeriodUsage],
    calendar: Calendar,
) -> dict[str, int]:
    """Units charged to each granted pool over its validity."""
    charged: dict[tuple[str, str], int] = defaultdict(int)
    for period, pool_id, _cluster, _gpu_type, _final, units in by_period:
        if pool_id in granted:
            charged[(period, pool_id)] += units
    used: dict[str, int] = defaultdict(int)
    partial: list[reads.DaySpan] = []
    for (label, pool_id), units in sorted(charged.items()):
        pool = granted[pool_id]
        assert pool.valid_from is not None and pool.valid_until is not None
        span = calendar.period(label)
        if pool.valid_from <= span.start and span.end <= pool.valid_until:
            used[pool_id] += units
        elif span.start < pool.valid_until and pool.valid_from < span.end:
            first, last = _grant_days(pool, calendar) or (0, 0)
            partial.append((label, pool_id, first, last))
    for pool_id, units in reads.units_on_days(conn, partial).items():
        used[pool_id] += units
    return used
