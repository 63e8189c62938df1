"""Read models over ingested usage: per-account totals, unmapped accounts, quarantine."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, Engine, and_, case, func, or_, select
from sqlalchemy.orm import Session

from accounting.ports import AccountUsage, QuarantinedRecord
from allocator.ports import Newest
from connectors.db import tables as t
from connectors.db.usage_store import decode_types
from connectors.db.windows import newest

U = t.UsageRecordRow
M = t.SlurmAccountRow


@dataclass
class _Totals:
    project_id: str | None
    jobs: int = 0
    provisional_jobs: int = 0
    final: int = 0
    provisional: int = 0
    by_type: dict[str, int] = field(default_factory=dict)
    provisional_by_type: dict[str, int] = field(default_factory=dict)

    def add(self, final: bool, jobs: int, gpus: int, types: str, elapsed: int) -> None:
        """``jobs`` records of ``gpus`` GPUs (``types``: the typed ones) for ``elapsed`` s."""
        self.jobs += jobs
        seconds = gpus * elapsed
        if final:
            self.final += seconds
        else:
            self.provisional_jobs += jobs
            self.provisional += seconds
        if not seconds:
            return
        split = self.by_type if final else self.provisional_by_type
        covered = 0
        for name, count in decode_types(types):
            split[name] = split.get(name, 0) + count * elapsed
            covered += count
        if covered < gpus:
            split[""] = split.get("", 0) + (gpus - covered) * elapsed


def account_usage(
    engine: Engine,
    cluster: str | None = None,
    unmapped_only: bool = False,
    span: tuple[int, int] | None = None,
) -> list[AccountUsage]:
    """:func:`account_usage_on` a connection of its own."""
    with engine.connect() as conn:
        return account_usage_on(conn, cluster, unmapped_only, span)


def _seconds_in(span: tuple[int, int] | None) -> ColumnElement[int]:
    """Each record's run seconds (inside ``span``, when given: ``[start, start + elapsed)``
    cut to it, as a charge splits a run between periods); 0 for a job not started."""
    if span is None:
        return case((U.start.is_(None), 0), else_=U.elapsed)
    begin, end = span
    finish = U.start + U.elapsed
    lo = case((U.start > begin, U.start), else_=begin)
    hi = case((finish < end, finish), else_=end)
    return case((U.start.is_(None), 0), (hi > lo, hi - lo), else_=0)


def _meets(span: tuple[int, int]) -> ColumnElement[bool]:
    """The records of ``span``: a run that meets it (one of no length: that starts in it), or a
    job not started that was submitted in it."""
    begin, end = span
    started = and_(
        U.start < end, or_(U.start + U.elapsed > begin, and_(U.elapsed == 0, U.start >= begin))
    )
    waiting = and_(U.start.is_(None), U.submit >= begin, U.submit < end)
    return or_(started, waiting)


def account_usage_on(
    conn: Connection,
    cluster: str | None = None,
    unmapped_only: bool = False,
    span: tuple[int, int] | None = None,
) -> list[AccountUsage]:
    """GPU-seconds per (cluster, account), with the project the account maps to (if any):
    finished jobs (final) and unfinished ones (provisional) apart, each with its split by GPU
    type (``accounting.ports.AccountUsage``).

    Attribution is read through the current mappings, so a mapping added later attributes the
    account's past jobs too. One GROUP BY; the per-type split is exact because every record
    of a group has the same GPU counts.
    """
    started = _seconds_in(span)
    query = (
        select(
            U.cluster,
            U.account,
            M.project_id,
            U.final,
            U.gpus,
            U.gpus_by_type,
            func.count(),
            func.sum(started),
        )
        .outerjoin(M, and_(M.cluster == U.cluster, M.account == U.account))
        .group_by(U.cluster, U.account, M.project_id, U.final, U.gpus, U.gpus_by_type)
    )
    if cluster is not None:
        query = query.where(U.cluster == cluster)
    if unmapped_only:
        query = query.where(M.project_id.is_(None))
    if span is not None:
        query = query.where(_meets(span))
    totals: dict[tuple[str, str], _Totals] = {}
    for c, account, project, final, gpus, types, jobs, elapsed in conn.execute(query):
        totals.setdefault((c, account), _Totals(project)).add(
            bool(final), jobs, gpus, types, int(elapsed or 0)
        )
    return [
        AccountUsage(
            c,
            a,
            v.project_id,
            v.jobs,
            v.final,
            v.provisional,
            v.by_type,
            v.provisional_by_type,
            v.provisional_jobs,
        )
        for (c, a), v in sorted(totals.items())
    ]


def quarantine(engine: Engine, cluster: str | None = None) -> list[QuarantinedRecord]:
    with engine.connect() as conn:
        return quarantine_on(conn, cluster)


def quarantine_on(
    conn: Connection, cluster: str | None = None, window: Newest | None = None
) -> list[QuarantinedRecord]:
    Q = t.QuarantineRow
    query = select(Q).order_by(Q.id) if window is None else newest(select(Q), Q.id, window)
    if cluster is not None:
        query = query.where(Q.cluster == cluster)
    return [
        QuarantinedRecord(r.id, r.cluster, r.job_id, r.reason, r.raw, r.first_seen, r.last_seen)
        for r in conn.execute(query)
    ]


class SqlUsageViews:
    """``accounting.ports.UsageViews`` inside a unit of work's session."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def account_usage(
        self, cluster: str | None, unmapped_only: bool, span: tuple[int, int] | None = None
    ) -> list[AccountUsage]:
        return account_usage_on(self.session.connection(), cluster, unmapped_only, span)

    def quarantine(
        self, cluster: str | None, window: Newest | None = None
    ) -> list[QuarantinedRecord]:
        return quarantine_on(self.session.connection(), cluster, window)
