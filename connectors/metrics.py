"""``/metrics``: the Prometheus families of ``dashboards/METRICS.md`` (the contract).

* Database-derived families are computed at scrape by :class:`DatabaseCollector` for the
  **current** period (the reconciliation family: the last closed period) with what the API's
  balances use: each pool's flows through ``allocator.ledger`` (all projects of a pool in one
  pass: :func:`~allocator.ledger.all_project_balances`), and the consumption of
  ``connectors.db.consumption.by_project_on`` (``tests/ops/test_metrics.py`` checks the
  figures against ``GET /api/v1/balances``). Burn rates are ``accounting.burn``'s, over the
  daily rollup; usage counters and grants come from the period rollup.
* One collection is reused for ``metrics_cache_seconds`` (5 s by default); concurrent scrapes
  wait for one collection instead of each running their own.
  ``gpuhours_collector_duration_seconds`` is the time the last collection took.
* Process-local families: the HTTP latency histogram (:class:`RequestDuration`, an ASGI
  middleware labelled by route template) and the scheduler's (:class:`SchedulerCollector`,
  from ``Services.scheduler_status``).

Speed (``tests/bench/bench_metrics.py``: 1,000 projects x 3 pools, about 22,000 series, under
100 ms a scrape without the cache): a fixed number of queries per scrape, whatever the number
of projects; on PostgreSQL the two biggest (consumption, burn windows) run on connections of
their own while the rest is collected; the samples are kept as ``(label string, value)``, each
label set's string built once; the cyclic GC waits until the collection is done; and the
collector renders its text exposition itself (``prometheus_client``'s ``generate_latest``
spends about 10 µs a sample). ``collect()`` still yields ordinary
``GaugeMetricFamily``/``CounterMetricFamily`` for any other consumer of the registry
(``gpuhours worker``'s metrics server).

Every app gets registries of its own (:func:`build_metrics`): nothing is registered on the
global ``prometheus_client.REGISTRY``, so several apps in one process (tests) do not clash.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import defaultdict
from collections.abc import (
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import BigInteger, Connection, Engine, and_, case, func, or_, select

from accounting.burn import WINDOWS, burn_of
from accounting.charging import local_days
from accounting.ports import Consumed
from accounting.reconcile import Status
from accounting.services import reconcile_period
from allocator.ledger import (
    Flows,
    all_chair_balances,
    all_project_balances,
    pool_balance,
    pool_capacity,
)
from allocator.model import EntryKind, Role, User
from allocator.periods import Calendar
from connectors.bootstrap import Services
from connectors.db import tables as t
from connectors.db.consumption import (
    WindowSums,
    account_projects,
    by_project_on,
    window_sums,
    windows_by_project,
)
from connectors.scrape import Refused, audience, refusal
from connectors.scrape import serve_metrics as _serve_metrics

log = logging.getLogger(__name__)

#: The actor of the reconciliation reads behind ``gpuhours_reconciliation_*``.
SYSTEM = User("system", Role.ADMIN, "gpuhours metrics")
PREFIX = "gpuhours_"

POOL = ("pool", "period")
CHAIR = ("pool", "chair", "period")
PROJECT = ("pool", "chair", "project", "period")

#: name (without the prefix) -> (type, label names, help), in exposition order.
SPEC: dict[str, tuple[str, tuple[str, ...], str]] = {
    "pool_capacity_gpu_seconds": ("gauge", POOL, "Pool capacity of the period."),
    "pool_allocated_gpu_seconds": ("gauge", POOL, "Allocated to chairs in the period."),
    "pool_consumed_gpu_seconds": (
        "gauge",
        POOL,
        "Charged to the pool in the period (final + provisional), unmapped accounts included.",
    ),
    "pool_remaining_gpu_seconds": ("gauge", POOL, "Pool capacity minus consumed."),
    "pool_utilisation_ratio": ("gauge", POOL, "Pool consumed / capacity."),
    "chair_allocated_gpu_seconds": ("gauge", CHAIR, "Net allocated to the chair."),
    "chair_consumed_gpu_seconds": ("gauge", CHAIR, "Consumed by the chair's projects."),
    "chair_remaining_gpu_seconds": ("gauge", CHAIR, "Chair allocated minus consumed."),
    "chair_utilisation_ratio": ("gauge", CHAIR, "Chair consumed / allocated."),
    "project_allocated_gpu_seconds": (
        "gauge",
        PROJECT,
        "Net allocated to the project, adjustments included.",
    ),
    "project_consumed_gpu_seconds": ("gauge", PROJECT, "Consumed (final + provisional)."),
    "project_consumed_provisional_gpu_seconds": (
        "gauge",
        PROJECT,
        "Part of the consumption still provisional (running jobs).",
    ),
    "project_remaining_gpu_seconds": ("gauge", PROJECT, "Project allocated minus consumed."),
    "project_utilisation_ratio": ("gauge", PROJECT, "Project consumed / allocated."),
    "project_burn_rate": (
        "gauge",
        ("pool", "chair", "project", "window"),
        "Unit-seconds consumed per second over the window.",
    ),
    "project_projected_exhaustion_timestamp_seconds": (
        "gauge",
        PROJECT,
        "When the remaining hours run out at the 7-day burn rate.",
    ),
    "period_start_timestamp_seconds": ("gauge", ("period",), "Start of the current period."),
    "period_end_timestamp_seconds": ("gauge", ("period",), "End of the current period."),
    "grant_gpu_seconds": ("gauge", ("pool",), "Capacity deposited over the grant's validity."),
    "grant_consumed_gpu_seconds": ("gauge", ("pool",), "Consumed over the grant's validity."),
    "grant_start_timestamp_seconds": ("gauge", ("pool",), "Grant start (valid_from)."),
    "grant_end_timestamp_seconds": ("gauge", ("pool",), "Grant end (valid_until, exclusive)."),
    "consumed_gpu_seconds": (
        "counter",
        ("pool", "cluster", "gpu_type"),
        "Raw GPU-seconds of final charges ingested (pool '' = unrouted).",
    ),
    "ingest_last_success_timestamp_seconds": ("gauge", ("cluster",), "Last stored chunk."),
    "ingest_last_attempt_timestamp_seconds": ("gauge", ("cluster",), "Last ingestion run."),
    "ingest_lag_seconds": ("gauge", ("cluster",), "Collection time minus the watermark."),
    "ingest_failing": ("gauge", ("cluster",), "1 when the last attempt failed, else 0."),
    "ingest_records": ("counter", ("cluster",), "Records inserted or updated."),
    "ingest_errors": ("counter", ("cluster", "kind"), "Failed fetches by kind."),
    "ingest_quarantined_records": ("gauge", ("cluster",), "Records in quarantine."),
    "reconciliation_lines": (
        "gauge",
        ("pool", "period", "status"),
        "Project lines of the reconciliation of the last closed period, per status.",
    ),
    "reconciliation_difference_gpu_seconds": (
        "gauge",
        ("pool", "period"),
        "Ours minus statement, summed over the pool's lines.",
    ),
    "period_closed_timestamp_seconds": (
        "gauge",
        ("period",),
        "When the last closed period was closed.",
    ),
}
DURATION = PREFIX + "collector_duration_seconds"
DURATION_HELP = "Time the last database collection took."


# --- samples and their text exposition ---------------------------------------------------------


class Samples:
    """Samples per family of :data:`SPEC`, each as ``(label string, value)``: a label set's
    string (``{pool="a",period="2026Q4"}``) is built once, shared by every family using it."""

    def __init__(self) -> None:
        self.rows: dict[str, list[tuple[str, float]]] = defaultdict(list)
        self._strings: dict[tuple[tuple[str, ...], tuple[str, ...]], str] = {}
        #: label string -> label values, for :meth:`families`
        self.values: dict[str, tuple[str, ...]] = {}

    def labels(self, names: tuple[str, ...], values: tuple[str, ...]) -> str:
        text = self._strings.get((names, values))
        if text is None:
            template = _TEMPLATES.get(names)
            if template is None:
                template = _TEMPLATES[names] = (
                    "{{" + ",".join(f'{n}="{{}}"' for n in names) + "}}" if names else ""
                )
            joined = "".join(values)
            if "\\" in joined or '"' in joined or "\n" in joined:
                text = template.format(*map(_escape, values))
            else:
                text = template.format(*values)
            self._strings[(names, values)] = text
            self.values[text] = values
        return text

    def known(self, text: str, values: tuple[str, ...]) -> str:
        """A label string built by the caller (with :func:`_escape`d values)."""
        self.values[text] = values
        return text

    def add(self, name: str, values: tuple[str, ...], value: float) -> None:
        self.rows[name].append((self.labels(SPEC[name][1], values), value))

    def render(self) -> str:
        """The text exposition (format 0.0.4) of :meth:`families`, as ``generate_latest``
        writes it but an order of magnitude faster."""
        out: list[str] = []
        for name, (kind, _names, help_) in SPEC.items():
            rows = self.rows.get(name)
            if not rows:
                continue
            sample = PREFIX + name + ("_total" if kind == "counter" else "")
            out.append(f"# HELP {sample} {help_}\n# TYPE {sample} {kind}\n")
            out.append("".join([f"{sample}{text} {value}\n" for text, value in rows]))
        return "".join(out)

    def families(self) -> list[Metric]:
        """The same samples as ``prometheus_client`` metric families."""
        out: list[Metric] = []
        for name, (kind, names, help_) in SPEC.items():
            rows = self.rows.get(name)
            if not rows:
                continue
            family: GaugeMetricFamily | CounterMetricFamily
            if kind == "counter":
                family = CounterMetricFamily(PREFIX + name, help_, labels=names)
            else:
                family = GaugeMetricFamily(PREFIX + name, help_, labels=names)
            for text, value in rows:
                family.add_metric(self.values[text], value)
            out.append(family)
        return out


#: label names -> the format string of their label set, ``{pool="{}",period="{}"}``
_TEMPLATES: dict[tuple[str, ...], str] = {}


def _escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


# --- usage --------------------------------------------------------------------------------------

D = t.UsageDailyRow
P = t.UsagePeriodRow


class PoolInfo(NamedTuple):
    id: str
    valid_from: datetime | None
    valid_until: datetime | None


def _grant_days(pool: PoolInfo, calendar: Calendar) -> tuple[int, int] | None:
    """The local days of a pool's validity ``[first, last)``, or ``None`` without one."""
    if pool.valid_from is None or pool.valid_until is None:
        return None
    days = local_days(calendar)
    first = days.of(int(pool.valid_from.timestamp()))
    last = days.of(int(pool.valid_until.timestamp()) - 1) + 1  # days beginning before the end
    return first, last


def _usage_by_period(conn: Connection) -> list[tuple[str, str, str, str, int, int]]:
    """``(period, pool, cluster, gpu_type, final GPU-seconds, units)`` from the period
    rollup: the usage counters, and the grants' consumption."""
    query = select(
        P.period,
        P.pool_id,
        P.cluster,
        P.gpu_type,
        func.sum(case((~P.provisional, P.gpu_seconds), else_=0)).cast(BigInteger),
        func.sum(P.units).cast(BigInteger),
    ).group_by(P.period, P.pool_id, P.cluster, P.gpu_type)
    return [
        (period, pool, cluster, gpu_type, int(final or 0), int(units or 0))
        for period, pool, cluster, gpu_type, final, units in conn.execute(query)
    ]


#: (pool, chair, project, remaining, allocated, label string without the period, with it)
BurnInput = tuple[str, str, str, int, int, str, str]


def _window_sums_apart(engine: Engine, epoch: int, calendar: Calendar) -> WindowSums:
    with engine.connect() as conn:
        return window_sums(conn, epoch, calendar)


def _consumed_apart(engine: Engine, period: str) -> dict[tuple[str, str], Consumed]:
    with engine.connect() as conn:
        return by_project_on(conn, period, None)


#: Runs the consumption and burn-window queries on connections of their own while the
#: collection goes on (PostgreSQL only: a SQLite transaction holds the database's one write
#: lock).
_APART = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gpuhours-metrics")


# --- the database collection -------------------------------------------------------------------


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
        R = t.PoolRow
        pools = [
            PoolInfo(*row)
            for row in conn.execute(select(R.id, R.valid_from, R.valid_until).order_by(R.id))
        ]
        chair_of: dict[str, str] = dict(
            conn.execute(select(t.ProjectRow.id, t.ProjectRow.chair_id)).tuples().all()
        )
        flows = {pool.id: uow.ledger.flows(pool.id, period) for pool in pools}
        # what the API's balances read
        if apart_consumed is not None:
            consumed = apart_consumed.result()
        else:
            consumed = by_project_on(conn, period, None)
        burn_input = _balances(out, pools, flows, consumed, chair_of, period)
        by_period = _usage_by_period(conn)
        counter: dict[tuple[str, str, str], int] = defaultdict(int)
        for _period, pool_id, cluster, gpu_type, final, _units in by_period:
            counter[(pool_id, cluster, gpu_type)] += final
        for (pool_id, cluster, gpu_type), seconds in sorted(counter.items()):
            out.add("consumed_gpu_seconds", (pool_id, cluster, gpu_type), seconds)
        _grants(out, conn, pools, by_period, calendar)
        _ingestion(out, conn, services, epoch)
        _reconciliation(out, uow, conn, pools, calendar)
        accounts = account_projects(conn)
        sums = apart.result() if apart is not None else window_sums(conn, epoch, calendar)
    _burns(out, epoch, burn_input, windows_by_project(sums, accounts), calendar)
    out.add("period_start_timestamp_seconds", (period,), current.start.timestamp())
    out.add("period_end_timestamp_seconds", (period,), current.end.timestamp())
    return out


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
    burn_input = []
    add, rows = out.add, out.rows
    allocated_rows = rows["project_allocated_gpu_seconds"]
    consumed_rows = rows["project_consumed_gpu_seconds"]
    provisional_rows = rows["project_consumed_provisional_gpu_seconds"]
    remaining_rows = rows["project_remaining_gpu_seconds"]
    ratio_rows = rows["project_utilisation_ratio"]
    for pool in pools:
        f = flows[pool.id]
        pb = pool_balance(f, pool.id, period)
        used = pool_used.get(pool.id, 0)
        labels: tuple[str, ...] = (pool.id, period)
        add("pool_capacity_gpu_seconds", labels, pb.capacity)
        add("pool_allocated_gpu_seconds", labels, pb.allocated)
        add("pool_consumed_gpu_seconds", labels, used)
        add("pool_remaining_gpu_seconds", labels, pb.capacity - used)
        if pb.capacity > 0:
            add("pool_utilisation_ratio", labels, used / pb.capacity)

        chair_used: dict[str, int] = defaultdict(int)
        pool_e, period_e = _escape(pool.id), f'period="{_escape(period)}"'
        projects = all_project_balances(f, pool.id, period, by_pool.get(pool.id))
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
            base = f'pool="{pool_e}",chair="{_escape(chair)}",project="{_escape(project_id)}"'
            text = out.known(f"{{{base},{period_e}}}", (pool.id, chair, project_id, period))
            allocated_rows.append((text, available))
            consumed_rows.append((text, used_p))
            provisional_rows.append((text, provisional))
            remaining_rows.append((text, remaining))
            if available > 0:
                ratio_rows.append((text, used_p / available))
            burn_input.append((pool.id, chair, project_id, remaining, available, base, text))

        chairs = all_chair_balances(f, pool.id, period)
        for chair in sorted(chairs.keys() | chair_used.keys()):
            cb = chairs.get(chair)
            received = cb.received if cb is not None else 0
            used_c = chair_used.get(chair, 0)
            given = cb.allocated_to_projects if cb is not None else 0
            if not chair or not (received or used_c or given):
                continue
            labels = (pool.id, chair, period)
            add("chair_allocated_gpu_seconds", labels, received)
            add("chair_consumed_gpu_seconds", labels, used_c)
            add("chair_remaining_gpu_seconds", labels, received - used_c)
            if received > 0:
                add("chair_utilisation_ratio", labels, used_c / received)
    return burn_input


def _burns(
    out: Samples,
    epoch: int,
    projects: Sequence[BurnInput],
    windows: Mapping[tuple[str, str], tuple[int, int]],
    calendar: Calendar,
) -> None:
    """``accounting.burn.burn_of`` of each project, from its usage over the two windows."""
    short, long = WINDOWS
    rates = out.rows["project_burn_rate"]
    exhaustions = out.rows["project_projected_exhaustion_timestamp_seconds"]
    values = out.values
    w7, w30 = f"{short}d", f"{long}d"
    nothing = (0, 0)
    for pool, chair, project, remaining, allocated, base, text in projects:
        u7, u30 = windows.get((project, pool), nothing)
        b = burn_of(u7, u30, epoch, remaining, allocated, calendar)
        text7 = f'{{{base},window="{w7}"}}'
        text30 = f'{{{base},window="{w30}"}}'
        values[text7] = (pool, chair, project, w7)
        values[text30] = (pool, chair, project, w30)
        rates.append((text7, b.rate_7d))
        rates.append((text30, b.rate_30d))
        if b.exhaustion is not None:
            exhaustions.append((text, b.exhaustion))


def _grants(
    out: Samples,
    conn: Connection,
    pools: Sequence[PoolInfo],
    by_period: Sequence[tuple[str, str, str, str, int, int]],
    calendar: Calendar,
) -> None:
    """Pools with a validity window: the capacity deposited in the periods it overlaps, and
    the units charged over it (whole periods from the period rollup, the days of a period
    it only partly covers from the daily one)."""
    granted = {p.id: p for p in pools if _grant_days(p, calendar) is not None}
    if not granted:
        return
    E = t.LedgerEntryRow
    capacity: dict[tuple[str, str], dict[tuple[str, str, EntryKind], int]] = defaultdict(dict)
    for pool_id, period, source, target, kind, amount in conn.execute(
        select(E.pool_id, E.period, E.source, E.target, E.kind, func.sum(E.amount))
        .where(
            E.pool_id.in_(list(granted)),
            E.kind.in_([EntryKind.DEPOSIT, EntryKind.WITHDRAWAL]),
        )
        .group_by(E.pool_id, E.period, E.source, E.target, E.kind)
    ):
        capacity[(pool_id, period)][(source, target, EntryKind(kind))] = int(amount)
    charged: dict[tuple[str, str], int] = defaultdict(int)
    for period, pool_id, _cluster, _gpu_type, _final, units in by_period:
        if pool_id in granted:
            charged[(period, pool_id)] += units
    used: dict[str, int] = defaultdict(int)
    partial = []
    for (label, pool_id), units in sorted(charged.items()):
        pool = granted[pool_id]
        assert pool.valid_from is not None and pool.valid_until is not None
        span = calendar.period(label)
        if pool.valid_from <= span.start and span.end <= pool.valid_until:
            used[pool_id] += units
        elif span.start < pool.valid_until and pool.valid_from < span.end:
            first, last = _grant_days(pool, calendar) or (0, 0)
            partial.append(
                and_(D.period == label, D.pool_id == pool_id, D.day >= first, D.day < last)
            )
    if partial:
        for pool_id, units in conn.execute(
            select(D.pool_id, func.sum(D.units)).where(or_(*partial)).group_by(D.pool_id)
        ):
            used[pool_id] += int(units or 0)
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


def _ingestion(out: Samples, conn: Connection, services: Services, epoch: int) -> None:
    """Health of every configured or ever-ingested cluster."""
    S, E, Q = t.IngestStateRow, t.IngestErrorCountRow, t.QuarantineRow
    states = {row.cluster: row for row in conn.execute(select(S))}
    errors = conn.execute(select(E.cluster, E.kind, E.count).order_by(E.cluster, E.kind)).all()
    quarantined = dict(
        conn.execute(select(Q.cluster, func.count()).group_by(Q.cluster)).tuples().all()
    )
    clusters = sorted(
        {c.name for c in services.settings.clusters}
        | states.keys()
        | {cluster for cluster, _kind, _n in errors}
        | quarantined.keys()
    )
    for cluster in clusters:
        labels = (cluster,)
        state = states.get(cluster)
        if state is not None and state.last_success is not None:
            out.add("ingest_last_success_timestamp_seconds", labels, state.last_success)
        if state is not None and state.last_attempt is not None:
            out.add("ingest_last_attempt_timestamp_seconds", labels, state.last_attempt)
        if state is not None and state.watermark is not None:
            out.add("ingest_lag_seconds", labels, epoch - state.watermark)
        failing = state is not None and bool(state.last_error_kind or state.last_error)
        out.add("ingest_failing", labels, 1 if failing else 0)
        out.add("ingest_records", labels, state.records_total if state is not None else 0)
        out.add("ingest_quarantined_records", labels, int(quarantined.get(cluster, 0)))
    for cluster, kind, count in errors:
        out.add("ingest_errors", (cluster, kind), int(count))


def _reconciliation(
    out: Samples, uow: Any, conn: Connection, pools: Sequence[PoolInfo], calendar: Calendar
) -> None:
    """Lines per status and the difference, per pool with a statement, for the last closed
    period."""
    closes = conn.execute(select(t.PeriodCloseRow.period, t.PeriodCloseRow.closed_at)).all()
    if not closes:
        return
    period, closed_at = max(closes, key=lambda row: (calendar.period(row[0]).end, row[1]))
    out.add("period_closed_timestamp_seconds", (period,), closed_at.timestamp())
    S = t.StatementRow
    with_statement = set(conn.scalars(select(S.pool_id).where(S.period == period)).all())
    if not with_statement:
        return  # nothing to reconcile against
    consumed = by_project_on(conn, period, sorted(with_statement))
    for pool in pools:
        if pool.id not in with_statement:
            continue
        rec = reconcile_period(uow, SYSTEM, pool.id, period, consumed=consumed)
        counts = dict.fromkeys(Status, 0)
        for line in rec.lines:
            counts[line.status] += 1
        for status, n in counts.items():
            out.add("reconciliation_lines", (pool.id, period, status.value), n)
        difference = sum(line.difference for line in rec.lines)
        out.add("reconciliation_difference_gpu_seconds", (pool.id, period), difference)


# --- collectors --------------------------------------------------------------------------------


class DatabaseCollector(Collector):
    """The database-derived families, collected at most once per ``cache_seconds``.

    When the database cannot be read, they are left out (and the error logged) until a later
    collection succeeds: the scrape still answers with the process-local families.
    """

    def __init__(self, services: Services, cache_seconds: float | None = None) -> None:
        self.services = services
        self.cache_seconds = (
            services.settings.metrics_cache_seconds if cache_seconds is None else cache_seconds
        )
        self._lock = threading.Lock()
        self._samples = Samples()
        self._text = ""
        self._duration = 0.0
        self._at: float | None = None

    def describe(self) -> Iterable[Metric]:
        return []  # registering must not query the database

    def _fresh(self) -> tuple[Samples, str, float]:
        """The samples and their exposition (with the collection time): collected now unless
        a collection younger than ``cache_seconds`` is kept."""
        with self._lock:  # one collection at a time; the others wait and reuse it
            if self._at is None or time.monotonic() - self._at >= self.cache_seconds:
                started = time.perf_counter()
                paused = gc.isenabled()
                gc.disable()  # tens of thousands of new tuples: no heap rescans meanwhile
                try:
                    samples = collect_database(self.services, self.services.clock())
                except Exception:  # the database is down or not migrated: the rest still serves
                    log.exception("metrics: the database-derived families are left out")
                    samples = Samples()
                finally:
                    if paused:
                        gc.enable()
                text = samples.render()
                duration = time.perf_counter() - started
                self._samples, self._duration = samples, duration
                self._text = (
                    f"{text}# HELP {DURATION} {DURATION_HELP}\n# TYPE {DURATION} gauge\n"
                    f"{DURATION} {duration}\n"
                )
                self._at = time.monotonic()
            return self._samples, self._text, self._duration

    def render(self) -> str:
        return self._fresh()[1]

    def collect(self) -> Iterator[Metric]:
        samples, _text, duration = self._fresh()
        yield from samples.families()
        yield GaugeMetricFamily(DURATION, DURATION_HELP, value=duration)


class SchedulerCollector(Collector):
    """Whether this process leads the scheduler, and when each job last succeeded."""

    def __init__(self, services: Services) -> None:
        self.status = services.scheduler_status

    def describe(self) -> Iterable[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            PREFIX + "scheduler_leader",
            "1 on the process that runs the scheduled jobs.",
            value=1 if self.status.leader else 0,
        )
        family = GaugeMetricFamily(
            PREFIX + "scheduler_job_last_success_timestamp_seconds",
            "Last successful run of a scheduled job, by job id.",
            labels=["task"],
        )
        for task, at in sorted(dict(self.status.last_success).items()):
            family.add_metric([task], at)
        yield family


# --- HTTP latency -----------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The ``route`` label of requests no route matches (404s): one value, whatever the path.
UNMATCHED = "<unmatched>"
#: The ``method`` label takes these; any other method a client sends is ``other``.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER = "other"


def method_label(method: str) -> str:
    return method if method in METHODS else OTHER


def code_label(status: int) -> str:
    """The status code, or ``other`` outside 100..599 (bounded whatever an app sends)."""
    return str(status) if 100 <= status <= 599 else OTHER


class RequestDuration:
    """ASGI middleware: observes each HTTP request's duration by method (a known one, else
    ``other``), route template (never the raw path; ``<unmatched>`` for every unknown path) and
    status code: every label is bounded, whatever clients send."""

    def __init__(self, app: ASGIApp, histogram: Histogram, routes: Callable[[], Sequence[Any]]):
        self.app = app
        self.histogram = histogram
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            labels = (method_label(scope["method"]), self.template(scope), code_label(status))
            self.histogram.labels(*labels).observe(time.perf_counter() - started)

    def template(self, scope: Scope) -> str:
        route = scope.get("route")  # set by FastAPI's routes
        if route is None:  # Starlette's own routes (the OpenAPI document, the docs)
            from starlette.routing import Match

            route = next((r for r in self.routes() if r.matches(scope)[0] is not Match.NONE), None)
        path = getattr(route, "path", None)
        return path if isinstance(path, str) else UNMATCHED


# --- wiring ------------------------------------------------------------------------------------


@dataclass
class Metrics:
    """The registries of one app or worker."""

    database: DatabaseCollector
    #: The process-local families: HTTP latency, scheduler, process, platform, GC.
    process: CollectorRegistry
    #: Everything, for any ``prometheus_client`` consumer.
    registry: CollectorRegistry

    def exposition(self, audience: str = "scraper") -> bytes:
        """The text exposition for an ``audience``: ``scraper`` (an authenticated scraper)
        gets everything (the database part rendered by the collector); ``anonymous`` only the
        process-local families (process, HTTP latency, scheduler), never the database's."""
        if audience == "anonymous":
            return generate_latest(self.process)
        return self.database.render().encode() + generate_latest(self.process)


def build_metrics(services: Services, cache_seconds: float | None = None) -> Metrics:
    # No `_created` series: they are not in the contract.
    disable_created_metrics()  # type: ignore[no-untyped-call]
    process = CollectorRegistry()
    process.register(SchedulerCollector(services))
    for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
        process.register(collector)
    database = DatabaseCollector(services, cache_seconds)
    registry = CollectorRegistry()
    registry.register(database)
    registry.register(process)  # a registry is a collector of its collectors' families
    return Metrics(database, process, registry)


def install(app: FastAPI, services: Services) -> Metrics:
    """``GET /metrics`` (not in the OpenAPI document; the business series for a scraper's
    token, see :func:`audience`) and the latency middleware, on registries of the app's own."""
    metrics = build_metrics(services)
    app.state.metrics = metrics
    histogram = Histogram(
        PREFIX + "http_request_duration_seconds",
        "HTTP request latency by method, route template and status code.",
        ["method", "route", "code"],
        registry=metrics.process,
    )
    app.add_middleware(RequestDuration, histogram=histogram, routes=lambda: app.router.routes)

    @app.get("/metrics", include_in_schema=False)
    def scrape(request: Request) -> Response:
        """The Prometheus text exposition (``dashboards/METRICS.md``): everything for a
        scraper's bearer token, the process-local families without one."""
        try:
            client = request.client.host if request.client else None
            who = audience(services, request.headers.get("authorization"), client)
        except Refused as exc:
            body, headers = refusal(exc)
            return Response(body, exc.status, headers, media_type="application/json")
        return Response(metrics.exposition(who), media_type=CONTENT_TYPE_LATEST)

    return metrics


def serve_metrics(services: Services, port: int, host: str) -> Callable[[], None]:
    """``/metrics`` of a process without an API (``gpuhours worker``): see
    :func:`connectors.scrape.serve_metrics`."""
    return _serve_metrics(services, build_metrics(services), port, host)
