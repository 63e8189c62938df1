"""The database collection: every database-derived family at one moment.

The **current** period's balances are what the API's balances use: each pool's flows through
``allocator.ledger`` (all projects of a pool in one pass:
:func:`~allocator.ledger.all_project_balances`) and the consumption of
``connectors.db.consumption.by_project_on`` (``tests/ops/test_metrics_figures.py`` checks the
figures against ``GET /api/v1/balances``). Burn rates are ``accounting.burn``'s, over the
daily rollup; usage counters and grants come from the period rollup; the ingestion and
reconciliation families are in :mod:`connectors.metrics.operations`.

Speed (``tests/bench/bench_metrics.py``): a fixed number of queries per scrape, whatever the
number of projects (:mod:`connectors.db.metrics_reads`); on PostgreSQL the two biggest
(consumption, burn windows) run on connections of their own while the rest is collected; the
per-project samples are appended with label strings built once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime

from sqlalchemy import Connection, Engine

from accounting.burn import WINDOWS, burn_of
from accounting.charging import local_days
from accounting.ports import Consumed
from allocator.ledger import (
    Flows,
    ProjectBalance,
    all_chair_balances,
    all_project_balances,
    pool_balance,
    pool_capacity,
)
from allocator.periods import Calendar, Period
from connectors.bootstrap import Services
from connectors.db import metrics_reads as reads
from connectors.db.consumption import (
    WindowSums,
    account_projects,
    by_project_on,
    window_sums,
    windows_by_project,
)
from connectors.db.metrics_reads import PeriodUsage, PoolInfo
from connectors.metrics.families import Samples, escape
from connectors.metrics.operations import ingestion, reconciliation, unmapped

#: (pool, chair, project, remaining, allocated, label string without the period, with it)
BurnInput = tuple[str, str, str, int, int, str, str]

#: Runs the consumption and burn-window queries on connections of their own while the
#: collection goes on (PostgreSQL only: a SQLite transaction holds the database's one write
#: lock).
_APART = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gpuhours-metrics")


def _window_sums_apart(engine: Engine, epoch: int, calendar: Calendar) -> WindowSums:
    with engine.connect() as conn:
        return window_sums(conn, epoch, calendar)


def _consumed_apart(engine: Engine, period: str) -> dict[tuple[str, str], Consumed]:
    with engine.connect() as conn:
        return by_project_on(conn, period, None)


def collect_database(services: Services, now: datetime) -> Samples:
    """Every database-derived family at ``now``."""
    calendar = services.settings.calendar
    current = calendar.containing(now)
    period = current.label
    epoch = int(now.timestamp())
    out = Samples()
    apart: Future[WindowSums] | None = None
    apart_consumed: Future[dict[tuple[str, str], Consumed]] | None = None
    if services.engine.dialect.name == "postgresql":
        apart = _APART.submit(_window_sums_apart, services.reader, epoch, calendar)
        apart_consumed = _APART.submit(_consumed_apart, services.reader, period)
    with services.uow(read_only=True) as uow:
        conn = uow.session.connection()
        pools = reads.pools(conn)
        chair_of = reads.chair_of_projects(conn)
        flows = uow.ledger.flows_in([pool.id for pool in pools], period)  # one read, ints
        # what the API's balances read
        if apart_consumed is not None:
            consumed = apart_consumed.result()
        else:
            consumed = by_project_on(conn, period, None)
        burn_input = _balances(out, pools, flows, consumed, chair_of, period)
        by_period = reads.usage_by_period(conn)
        _usage_counters(out, by_period)
        _grants(out, conn, pools, by_period, calendar)
        unmapped(out, conn, ingestion(out, conn, services, epoch), period)
        reconciliation(out, uow, conn, pools, calendar)
        accounts = account_projects(conn)
        sums = apart.result() if apart is not None else window_sums(conn, epoch, calendar)
    end = int(current.end.timestamp())
    _burns(out, epoch, burn_input, windows_by_project(sums, accounts), calendar, end)
    _current_period(out, current)
    return out


# --- the current period's balances and burn ----------------------------------------------------


def _balances(
    out: Samples,
    pools: Sequence[PoolInfo],
    flows: Mapping[str, Flows],
    consumed: Mapping[tuple[str, str], Consumed],
    chair_of: Mapping[str, str],
    period: str,
) -> list[BurnInput]:
    """Pool, chair and project balances of the current period; the projects to burn."""
    by_pool: dict[str, dict[str, tuple[int, int]]] = defaultdict(dict)
    pool_used: dict[str, int] = defaultdict(int)
    for (project_id, pool_id), c in consumed.items():
        pool_used[pool_id] += c.final + c.provisional
        if project_id:  # "" = unmapped accounts: in the pool's figures only
            by_pool[pool_id][project_id] = (c.final, c.provisional)
    burn_input: list[BurnInput] = []
    for pool in pools:
        f = flows[pool.id]
        _pool(out, f, pool.id, period, pool_used.get(pool.id, 0))
        projects = all_project_balances(f, pool.id, period, by_pool.get(pool.id))
        chair_used = _projects(out, projects, pool.id, chair_of, period, burn_input)
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
    projects: Mapping[str, ProjectBalance],
    pool_id: str,
    chair_of: Mapping[str, str],
    period: str,
    burn_input: list[BurnInput],
) -> dict[str, int]:
    """The project families of one pool (the hot loop: label strings built here once, rows
    appended directly); each project to burn goes to ``burn_input``. Returns what each chair's
    projects consumed."""
    rows = out.rows
    allocated_rows = rows["project_allocated_gpu_seconds"]
    consumed_rows = rows["project_consumed_gpu_seconds"]
    provisional_rows = rows["project_consumed_provisional_gpu_seconds"]
    remaining_rows = rows["project_remaining_gpu_seconds"]
    ratio_rows = rows["project_utilisation_ratio"]
    chair_used: dict[str, int] = defaultdict(int)
    pool_e, period_e = escape(pool_id), f'period="{escape(period)}"'
    for project_id in sorted(projects):
        b = projects[project_id]
        if b.is_empty:
            continue
        chair = chair_of.get(project_id, "")
        provisional = b.consumed_provisional
        used_p = b.consumed + provisional
        available = b.allocated + b.adjustments
        remaining = available - used_p  # ProjectBalance.remaining
        chair_used[chair] += used_p
        base = f'pool="{pool_e}",chair="{escape(chair)}",project="{escape(project_id)}"'
        text = out.known(f"{{{base},{period_e}}}", (pool_id, chair, project_id, period))
        allocated_rows.append((text, available))
        consumed_rows.append((text, used_p))
        provisional_rows.append((text, provisional))
        remaining_rows.append((text, remaining))
        if available > 0:
            ratio_rows.append((text, used_p / available))
        burn_input.append((pool_id, chair, project_id, remaining, available, base, text))
    return chair_used


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


def _burns(
    out: Samples,
    epoch: int,
    projects: Sequence[BurnInput],
    windows: Mapping[tuple[str, str], tuple[int, int]],
    calendar: Calendar,
    period_end: int,
) -> None:
    """``accounting.burn.burn_of`` of each project, from its usage over the two windows; an
    exhaustion only when it falls before the end of the current period (``period_end``)."""
    short, long = WINDOWS
    rates = out.rows["project_burn_rate"]
    exhaustions = out.rows["project_projected_exhaustion_timestamp_seconds"]
    values = out.values
    w7, w30 = f"{short}d", f"{long}d"
    nothing = (0, 0)
    for pool, chair, project, remaining, allocated, base, text in projects:
        u7, u30 = windows.get((project, pool), nothing)
        b = burn_of(u7, u30, epoch, remaining, allocated, calendar, period_end=period_end)
        text7 = f'{{{base},window="{w7}"}}'
        text30 = f'{{{base},window="{w30}"}}'
        values[text7] = (pool, chair, project, w7)
        values[text30] = (pool, chair, project, w30)
        rates.append((text7, b.rate_7d))
        rates.append((text30, b.rate_30d))
        if b.exhaustion is not None:
            exhaustions.append((text, b.exhaustion))


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
) -> None:
    """Pools with a validity window: the capacity deposited in the periods it overlaps, and
    the units charged over it (whole periods from the period rollup, the days of a period
    it only partly covers from the daily one)."""
    granted = {p.id: p for p in pools if _grant_days(p, calendar) is not None}
    if not granted:
        return
    capacity = reads.capacity_flows(conn, granted)
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
