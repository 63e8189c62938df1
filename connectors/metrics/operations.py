"""The operational families of the database collection: the health of each cluster's
ingestion, and the reconciliation of the last closed period."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from accounting.reconcile import Status
from accounting.services import reconcile_period
from allocator.model import Role, User
from allocator.periods import Calendar
from connectors.bootstrap import Services
from connectors.db import metrics_reads as reads
from connectors.db.consumption import by_project_on
from connectors.db.metrics_reads import IngestHealth, PoolInfo
from connectors.metrics.families import Samples

#: The actor of the reconciliation reads behind ``gpuhours_reconciliation_*``.
SYSTEM = User("system", Role.ADMIN, "gpuhours metrics")


def ingestion(out: Samples, health: IngestHealth, services: Services, epoch: int) -> list[str]:
    """Health of every configured or ever-ingested cluster; returns those clusters."""
    states, errors, quarantined = health
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
    return clusters


def unmapped(
    out: Samples, found: Mapping[str, tuple[int, int]], clusters: Sequence[str], period: str
) -> None:
    """Usage of the current ``period`` by Slurm accounts no project is mapped to, per cluster
    (0 for a known cluster without any; ``found``: ``metrics_reads.UNMAPPED``): counted in
    its pool's consumption, charged to no project. Quarantined records are apart
    (``ingest_quarantined_records``)."""
    for cluster in sorted(set(clusters) | found.keys()):
        seconds, accounts = found.get(cluster, (0, 0))
        out.add("unmapped_gpu_seconds", (cluster, period), seconds)
        out.add("unmapped_accounts", (cluster, period), accounts)


def reconciliation(
    out: Samples,
    uow: Any,
    closes: Sequence[tuple[str, datetime]],
    pools: Sequence[PoolInfo],
    calendar: Calendar,
) -> None:
    """Lines per status and the difference, per pool with a statement, for the last closed
    period (of ``closes``: ``metrics_reads.PERIOD_CLOSES``)."""
    if not closes:
        return
    period, closed_at = max(closes, key=lambda row: (calendar.period(row[0]).end, row[1]))
    out.add("period_closed_timestamp_seconds", (period,), closed_at.timestamp())
    conn = uow.session.connection()
    with_statement = reads.pools_with_statement(conn, period)
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
