"""The quarter's accounting use cases over the database: statements, reconciliation, decisions,
reports, burn rates and the close.

The decisions are the pure core's (``accounting.statements`` parses, ``accounting.reconcile``
compares, ``accounting.closing`` plans the close, ``accounting.report`` renders); this module
gathers their inputs in one transaction and writes their outputs in one transaction, so a
rejected file, a refused decision or a failed close leaves nothing behind.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, Integer, func, insert, select

from accounting import report as rpt
from accounting.booking import UNROUTED
from accounting.burn import Burn, burn_of
from accounting.charging import UTC_QUARTERS
from accounting.closing import close_plan, outcome
from accounting.errors import PeriodClosed
from accounting.reconcile import Decision, Line, Ours, Status, Theirs, Tolerance, reconcile
from accounting.statements import (
    MAPPED_CSV,
    NATIONAL_CSV,
    SREPORT,
    ColumnMapping,
    Statement,
    check_accounts,
    parse_mapped_csv,
    parse_national_csv,
    parse_sreport,
)
from allocator import rules
from allocator.errors import Conflict, InvalidInput, NotFound
from allocator.ledger import (
    ProjectBalance,
    all_project_balances,
    chair_balance,
    pool_balance,
    project_balance,
)
from allocator.model import AuditEvent, Pool, Role, User
from allocator.periods import Calendar
from allocator.ports import Clock
from allocator.services import get_pool, get_project
from connectors.db import tables as t
from connectors.db.consumption import (
    Consumed,
    account_projects,
    by_project_on,
    window_sums,
    windows_by_project,
)
from connectors.db.uow import SqlUnitOfWork

FORMATS = (NATIONAL_CSV, SREPORT, MAPPED_CSV)
UNRESOLVED = {Status.OVER, Status.UNDER, Status.MISSING_OURS, Status.MISSING_STATEMENT}


@dataclass(frozen=True, slots=True)
class StatementInfo:
    id: int
    pool_id: str
    period: str
    format: str
    origin: str
    file_name: str
    sha256: str
    lines: int
    imported_by: str
    imported_at: datetime
    created: bool


def _info(row: t.StatementRow, created: bool) -> StatementInfo:
    return StatementInfo(
        row.id,
        row.pool_id,
        row.period,
        row.format,
        row.origin,
        row.file_name,
        row.sha256,
        row.lines,
        row.imported_by,
        row.imported_at,
        created,
    )


def _pool_clusters(pool: Pool) -> set[str]:
    return {r.cluster for r in pool.routes}


def _project_of(
    accounts: Mapping[tuple[str, str], str], pool: Pool, cluster: str, account: str
) -> str | None:
    """The project a statement line's account belongs to: on its cluster when the line names
    one, else on one of the pool's clusters."""
    if cluster:
        return accounts.get((cluster, account))
    found = {accounts[(c, account)] for c in _pool_clusters(pool) if (c, account) in accounts}
    return found.pop() if len(found) == 1 else None


def parse(
    fmt: str,
    data: bytes,
    period: str,
    file_name: str,
    mapping: ColumnMapping | None = None,
    calendar: Calendar = UTC_QUARTERS,
) -> Statement:
    if fmt == NATIONAL_CSV:
        return parse_national_csv(data, period=period, file_name=file_name, calendar=calendar)
    if fmt == SREPORT:
        return parse_sreport(data, period=period, file_name=file_name, calendar=calendar)
    if fmt == MAPPED_CSV:
        if mapping is None:
            raise InvalidInput("mapping", "a mapped-csv import needs a column mapping")
        return parse_mapped_csv(
            data, period=period, file_name=file_name, mapping=mapping, calendar=calendar
        )
    raise InvalidInput("format", f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")


def import_statement(
    uow: SqlUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    fmt: str,
    data: bytes,
    file_name: str,
    mapping: ColumnMapping | None = None,
    *,
    calendar: Calendar,
) -> StatementInfo:
    """Parse, check and store a statement, all or nothing; the same file again is a no-op.
    ``calendar``: the site's (an sreport's window is local time)."""
    rules.require_role(actor, Role.ADMIN)
    calendar.check(period, now)
    if not file_name.strip() or len(file_name) > 255:
        raise InvalidInput("file_name", "must be 1 to 255 characters")
    with uow:
        pool = get_pool(uow, pool_id)
        statement = parse(fmt, data, period, file_name, mapping, calendar)
        existing = uow.session.scalars(
            select(t.StatementRow).where(
                t.StatementRow.pool_id == pool_id,
                t.StatementRow.period == period,
                t.StatementRow.sha256 == statement.sha256,
            )
        ).first()
        if existing is not None:
            return _info(existing, created=False)
        uow.ledger.lock_closing()  # a close waits for this import, or it sees the close
        if uow.ledger.is_closed(period):
            raise PeriodClosed(period)
        accounts = account_projects(uow.session.connection())
        check_accounts(
            statement,
            lambda account: any(
                _project_of(accounts, pool, line.cluster, account) is not None
                for line in statement.lines
                if line.account == account
            ),
        )
        row = t.StatementRow(
            pool_id=pool_id,
            period=period,
            format=statement.format,
            origin=statement.origin[:300],
            file_name=statement.file_name[:255],
            sha256=statement.sha256,
            lines=len(statement.lines),
            imported_by=actor.username,
            imported_at=now,
        )
        uow.session.add(row)
        uow.session.flush()
        if statement.lines:
            uow.session.execute(
                insert(t.StatementLineRow),
                [
                    {
                        "statement_id": row.id,
                        "line": line.line,
                        "cluster": line.cluster,
                        "account": line.account,
                        "user": line.user,
                        "gpu_type": line.gpu_type,
                        "gpu_seconds": line.gpu_seconds,
                        "units": line.units,
                    }
                    for line in statement.lines
                ],
            )
        uow.audit.append(
            AuditEvent(
                actor.username,
                now,
                "statement.import",
                f"pool:{pool_id}",
                f"{period} {statement.origin} sha256={statement.sha256} "
                f"lines={len(statement.lines)}",
            )
        )
        uow.commit()
        return _info(row, created=True)


def statements(
    uow: SqlUnitOfWork,
    actor: User,
    pool_id: str | None,
    period: str | None,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[StatementInfo]:
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    if period is not None:
        calendar.check(period, now)
    with uow:
        query = select(t.StatementRow).order_by(t.StatementRow.id)
        if pool_id is not None:
            query = query.where(t.StatementRow.pool_id == pool_id)
        if period is not None:
            query = query.where(t.StatementRow.period == period)
        return [_info(r, created=False) for r in uow.session.scalars(query)]


# --- reconciliation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reconciliation:
    pool_id: str
    period: str
    statement: StatementInfo | None
    tolerance: Tolerance
    lines: tuple[Line, ...]


def _latest_statement(uow: SqlUnitOfWork, pool_id: str, period: str) -> t.StatementRow | None:
    return _latest_statements(uow, period, [pool_id]).get(pool_id)


def _latest_statements(
    uow: SqlUnitOfWork, period: str, pool_ids: Sequence[str]
) -> dict[str, t.StatementRow]:
    """The latest statement of each pool for ``period`` (pools without one are absent)."""
    S = t.StatementRow
    latest = (
        select(func.max(S.id))
        .where(S.pool_id.in_(list(pool_ids)), S.period == period)
        .group_by(S.pool_id)
    )
    return {row.pool_id: row for row in uow.session.scalars(select(S).where(S.id.in_(latest)))}


def _theirs(
    uow: SqlUnitOfWork,
    pool: Pool,
    statement_id: int,
    accounts: Mapping[tuple[str, str], str] | None = None,
) -> dict[str, Theirs]:
    return _theirs_of(uow, {statement_id: pool}, accounts).get(statement_id, {})


def _theirs_of(
    uow: SqlUnitOfWork,
    pools: Mapping[int, Pool],
    accounts: Mapping[tuple[str, str], str] | None = None,
) -> dict[int, dict[str, Theirs]]:
    """What each statement of ``pools`` (statement id -> its pool) says, per project."""
    if not pools:
        return {}
    accounts = account_projects(uow.session.connection()) if accounts is None else accounts
    L = t.StatementLineRow
    out: dict[int, dict[str, Theirs]] = defaultdict(dict)
    for statement_id, number, cluster, account, units, gpu_seconds in uow.session.execute(
        select(L.statement_id, L.line, L.cluster, L.account, L.units, L.gpu_seconds)
        .where(L.statement_id.in_(list(pools)))
        .order_by(L.statement_id, L.line)
    ):
        sums = out[statement_id]
        project = _project_of(accounts, pools[statement_id], cluster, account) or ""
        old = sums.get(project, Theirs(None, None))
        sums[project] = Theirs(
            _add(old.units, units),
            _add(old.gpu_seconds, gpu_seconds),
            (*old.lines, number),
        )
    return out


def _add(total: int | None, value: int | None) -> int | None:
    """Sum of the amounts a statement gives; ``None`` once a line does not give it."""
    if value is None:
        return None
    return (total or 0) + value


def _decisions(uow: SqlUnitOfWork, pool_id: str, period: str) -> list[Decision]:
    return _decisions_of(uow, period, [pool_id])[pool_id]


def _decisions_of(
    uow: SqlUnitOfWork, period: str, pool_ids: Sequence[str]
) -> dict[str, list[Decision]]:
    R = t.ReconciliationDecisionRow
    out: dict[str, list[Decision]] = {pool_id: [] for pool_id in pool_ids}
    for r in uow.session.scalars(
        select(R).where(R.pool_id.in_(list(pool_ids)), R.period == period).order_by(R.id)
    ):
        out[r.pool_id].append(Decision(r.project_id, r.action, r.amount, r.ours, r.theirs))
    return out


def _ours(consumed: Mapping[tuple[str, str], Consumed], pool_id: str) -> dict[str, Ours]:
    return {
        project: Ours(c.final + c.provisional, c.gpu_seconds)
        for (project, pool), c in consumed.items()
        if pool == pool_id
    }


def reconciliation(
    uow: SqlUnitOfWork,
    actor: User,
    pool_id: str,
    period: str,
    tolerance: Tolerance | None = None,
    consumed: Mapping[tuple[str, str], Consumed] | None = None,
    *,
    now: datetime,
    calendar: Calendar,
) -> Reconciliation:
    """Our consumption against the latest statement of a period a person named."""
    calendar.check(period, now)
    return reconcile_period(uow, actor, pool_id, period, tolerance, consumed)


def reconcile_period(
    uow: SqlUnitOfWork,
    actor: User,
    pool_id: str,
    period: str,
    tolerance: Tolerance | None = None,
    consumed: Mapping[tuple[str, str], Consumed] | None = None,
) -> Reconciliation:
    """:func:`reconciliation` of a period the system names (the last closed one, for
    ``/metrics``), without the range check of labels given by people."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    with uow:
        pool = get_pool(uow, pool_id)
        if consumed is None:
            consumed = by_project_on(uow.session.connection(), period, [pool_id])
        stmt = _latest_statement(uow, pool_id, period)
        theirs = _theirs(uow, pool, stmt.id) if stmt is not None else {}
        ours = _ours(consumed, pool_id)
        if stmt is None:
            # Without a statement there is nothing to reconcile against: every line would be
            # "missing_statement"; say so once instead.
            lines: list[Line] = []
        else:
            lines = reconcile(ours, theirs, _decisions(uow, pool_id, period), tolerance)
        return Reconciliation(
            pool_id,
            period,
            _info(stmt, False) if stmt is not None else None,
            tolerance or Tolerance(),
            tuple(lines),
        )


@dataclass(frozen=True, slots=True)
class JobCharge:
    cluster: str
    job_id: int
    submit: int
    account: str
    gpu_seconds: int
    units: int
    provisional: bool
    late: bool


def jobs_behind(
    uow: SqlUnitOfWork,
    actor: User,
    pool_id: str,
    period: str,
    project_id: str,
    limit: int = 1000,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[JobCharge]:
    """The jobs whose charges make up a project's consumption in a pool and period."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    calendar.check(period, now)
    C, A = t.ChargeRow, t.SlurmAccountRow
    with uow:
        get_pool(uow, pool_id)
        if project_id:
            get_project(uow, project_id)
        query = (
            select(
                C.cluster,
                C.job_id,
                C.submit,
                C.account,
                func.sum(C.gpu_seconds),
                func.sum(C.units),
                func.max(C.provisional.cast(Integer)),
                func.max(C.late.cast(Integer)),
            )
            .select_from(C)
            .outerjoin(A, (A.cluster == C.cluster) & (A.account == C.account))
            .where(C.period == period, C.pool_id == pool_id)
            .group_by(C.cluster, C.job_id, C.submit, C.account)
            .order_by(C.cluster, C.job_id, C.submit)
            .limit(limit)
        )
        query = (
            query.where(A.project_id == project_id)
            if project_id
            else query.where(A.project_id.is_(None))
        )
        return [
            JobCharge(cl, job, sub, acct, int(s), int(u), bool(p), bool(late))
            for cl, job, sub, acct, s, u, p, late in uow.session.execute(query)
        ]


def decide(
    uow: SqlUnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    project_id: str,
    action: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> Reconciliation:
    """Accept a line's difference or post a signed adjustment (journaled, with the reason)."""
    from allocator.services import adjust

    rules.require_role(actor, Role.ADMIN)
    calendar.check(period, now)
    if action not in ("accept", "adjust"):
        raise InvalidInput("action", "must be 'accept' or 'adjust'")
    if not reason.strip():
        raise InvalidInput("reason", "a decision needs a reason")
    if action == "accept" and amount:
        raise InvalidInput("amount", "an acceptance moves no hours: leave amount at 0")
    if action == "adjust" and not amount:
        raise InvalidInput("amount", "an adjustment needs a non-zero signed amount")
    # One transaction: the adjustment and its decision are written together, or neither (the
    # nested use cases join it; their own commits are deferred to the one below).
    with uow:
        current = reconciliation(uow, actor, pool_id, period, now=now, calendar=calendar)
        if current.statement is None:
            raise Conflict(f"no statement imported for {pool_id} {period}", field="period")
        line = next((ln for ln in current.lines if ln.project_id == project_id), None)
        if line is None:
            raise NotFound("reconciliation line", project_id, field="project_id")
        if not project_id:
            raise InvalidInput(
                "project_id", "usage of unmapped accounts cannot be adjusted; map them"
            )
        entry_id = None
        if action == "adjust":
            entry = adjust(
                uow,
                actor,
                now,
                pool_id,
                project_id,
                period,
                amount,
                reason,
                reference=f"reconciliation:{period}:statement-{current.statement.id}",
                calendar=calendar,
            )
            entry_id = entry.id
        uow.ledger.lock_closing()  # an acceptance too is checked open under the close lock
        if uow.ledger.is_closed(period):
            raise PeriodClosed(period)
        uow.session.add(
            t.ReconciliationDecisionRow(
                pool_id=pool_id,
                period=period,
                project_id=project_id,
                action=action,
                amount=amount,
                ours=line.ours,
                theirs=line.theirs,
                statement_id=current.statement.id,
                ledger_entry_id=entry_id,
                reason=reason,
                actor=actor.username,
                at=now,
            )
        )
        uow.audit.append(
            AuditEvent(
                actor.username,
                now,
                f"reconciliation.{action}",
                f"project:{project_id}",
                f"{pool_id} {period} ours={line.ours} theirs={line.theirs} "
                f"amount={amount}: {reason}",
            )
        )
        uow.commit()
    return reconciliation(uow, actor, pool_id, period, now=now, calendar=calendar)


# --- reports ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ProjectRef:
    chair_id: str


def _live_report(
    uow: SqlUnitOfWork, period: str
) -> tuple[rpt.Report, dict[str, list[tuple[str, ProjectBalance]]]]:
    """The report of an open period from the ledger, the rollup and the statements; also the
    project balances per pool, for a close."""
    consumed = by_project_on(uow.session.connection(), period, None)
    pools = list(uow.pools.list())
    chairs = set(uow.session.scalars(select(t.ChairRow.id)))
    projects: dict[str, _ProjectRef] = {
        pid: _ProjectRef(chair)
        for pid, chair in uow.session.execute(select(t.ProjectRow.id, t.ProjectRow.chair_id))
    }
    accounts = account_projects(uow.session.connection())
    pool_rows: list[rpt.Row] = []
    chair_rows: list[rpt.Row] = []
    project_rows: list[rpt.Row] = []
    balances: dict[str, list[tuple[str, ProjectBalance]]] = defaultdict(list)
    known = [p.id for p in pools]
    # a constant number of reads, whatever the number of pools
    all_flows = uow.ledger.flows_in(known, period)
    statements = _latest_statements(uow, period, known)
    theirs = _theirs_of(uow, {s.id: p for p in pools if (s := statements.get(p.id))}, accounts)
    decisions = _decisions_of(uow, period, known) if statements else {}
    for pool in pools:
        flows = all_flows[pool.id]
        pb = pool_balance(flows, pool.id, period)
        stmt = statements.get(pool.id)
        lines = (
            {
                ln.project_id: ln
                for ln in reconcile(
                    _ours(consumed, pool.id), theirs.get(stmt.id, {}), decisions[pool.id]
                )
            }
            if stmt is not None
            else {}
        )
        pool_rows.append(
            rpt.Row("pool", pool.id, unit=pool.unit, capacity=pb.capacity, allocated=pb.allocated)
        )
        in_pool = {p: c for (p, pl), c in consumed.items() if pl == pool.id}
        consuming_chairs = {projects[p].chair_id for p in in_pool if p in projects}
        for chair_id in sorted(chairs):
            cb = chair_balance(flows, chair_id, pool.id, period)
            if cb.received or chair_id in consuming_chairs:
                chair_rows.append(
                    rpt.Row("chair", pool.id, chair_id, unit=pool.unit, allocated=cb.received)
                )
        # every project's balance in one pass over the pool's flows
        all_balances = all_project_balances(
            flows,
            pool.id,
            period,
            {p: (c.final, c.provisional) for p, c in in_pool.items() if p in projects},
        )
        ids = sorted(
            {p for p in all_balances if p in projects}
            | {p for p in lines if p in projects}
            | ({""} if "" in in_pool or "" in lines else set())
        )
        for project_id in ids:
            c = in_pool.get(project_id, Consumed())
            chair_id = projects[project_id].chair_id if project_id in projects else ""
            b = (
                all_balances.get(project_id)
                or project_balance({}, project_id, pool.id, period, c.final, c.provisional)
                if project_id
                else None
            )
            line = lines.get(project_id)
            if (b is None or b.is_empty) and line is None and c == Consumed():
                continue
            o = outcome(pool, b) if b is not None else None
            if b is not None:
                balances[pool.id].append((chair_id, b))
            project_rows.append(
                rpt.Row(
                    "project",
                    pool.id,
                    chair_id,
                    project_id,
                    unit=pool.unit,
                    allocated=b.allocated if b else 0,
                    adjustments=b.adjustments if b else 0,
                    consumed=c.final,
                    provisional=c.provisional,
                    late=c.late,
                    gpu_seconds=c.gpu_seconds,
                    unpriced_gpu_seconds=c.unpriced_gpu_seconds,
                    statement=line.theirs if line else None,
                    basis=line.basis.value if line else "",
                    difference=line.difference if line else None,
                    status=line.status.value if line else "",
                    expired=o.expired if o else 0,
                    carried=o.carried if o else 0,
                    returned=o.returned if o else 0,
                )
            )
    # usage no pool routes
    unrouted = {p: c for (p, pl), c in consumed.items() if pl == UNROUTED or pl not in known}
    if unrouted:
        pool_rows.append(rpt.Row("pool", UNROUTED, unit="gpu-seconds (unrouted)"))
        for project_id, c in sorted(unrouted.items()):
            chair_id = projects[project_id].chair_id if project_id in projects else ""
            project_rows.append(
                rpt.Row(
                    "project",
                    UNROUTED,
                    chair_id,
                    project_id,
                    gpu_seconds=c.gpu_seconds,
                    unpriced_gpu_seconds=c.unpriced_gpu_seconds,
                )
            )
    return rpt.assemble(period, pool_rows, chair_rows, project_rows), balances


def report(
    uow: SqlUnitOfWork, actor: User, period: str, *, now: datetime, calendar: Calendar
) -> rpt.Report:
    """A closed period's signed-off report, or the live figures of an open one."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    calendar.check(period, now)
    with uow:
        closed = uow.session.get(t.PeriodCloseRow, period)
        if closed is not None:
            return rpt.from_json(closed.report_json)
        return _live_report(uow, period)[0]


def close_period(
    uow: SqlUnitOfWork,
    actor: User,
    now: datetime,
    period: str,
    reason: str,
    force: bool = False,
    *,
    calendar: Calendar,
    clock: Clock | None = None,
) -> rpt.Report:
    """Close a period: policy entries, the signed-off report, and no change ever after.

    Every pool is locked (in id order), then the close lock is taken exclusively: the writes
    in flight into the period finish first and the later ones see it closed. The close is
    stamped with ``clock()`` read once every lock is held (``now`` without a clock), so every
    entry the signed report includes is dated before ``closed_at`` and none after it.
    """
    rules.require_role(actor, Role.ADMIN)
    p = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "closing a period needs a reason")
    if now < p.end:
        raise Conflict(f"{period} has not ended yet (it ends {p.end.isoformat()})", field="period")
    with uow:
        for pool_id in uow.pools.ids():
            uow.pools.lock(pool_id)
        uow.ledger.lock_closing(exclusive=True)
        if uow.ledger.is_closed(period):
            raise PeriodClosed(period)
        now = clock() if clock is not None else now
        live, balances = _live_report(uow, period)
        if not force:
            for row in live.rows:
                if row.level == "project" and row.status in UNRESOLVED:
                    raise Conflict(
                        f"reconciliation of pool {row.pool}, project {row.project or '(unmapped)'} "
                        f"is {row.status} (difference {row.difference}): adjust or accept it first",
                        field="period",
                    )
        nxt = calendar.next(p).label
        for pool in uow.pools.list():
            for entry in close_plan(
                pool, period, nxt, balances.get(pool.id, []), actor.username, now
            ):
                uow.ledger.append(entry)
        signed = rpt.Report(live.period, live.rows, now.isoformat(), actor.username)
        uow.session.add(
            t.PeriodCloseRow(
                period=period,
                closed_at=now,
                closed_by=actor.username,
                reason=reason,
                report_json=rpt.to_json(signed),
            )
        )
        uow.audit.append(
            AuditEvent(actor.username, now, "period.close", f"period:{period}", reason)
        )
        uow.commit()
    return signed


@dataclass(frozen=True, slots=True)
class PeriodState:
    period: str
    start: datetime
    end: datetime
    closed: bool
    closed_at: datetime | None
    closed_by: str | None


def period_state(
    uow: SqlUnitOfWork, period: str, *, now: datetime, calendar: Calendar
) -> PeriodState:
    """A period's bounds and whether (when, by whom) it was closed."""
    p = calendar.check(period, now)
    with uow:
        row = uow.session.get(t.PeriodCloseRow, period)
        return PeriodState(
            p.label,
            p.start,
            p.end,
            row is not None,
            row.closed_at if row is not None else None,
            row.closed_by if row is not None else None,
        )


# --- burn rates -------------------------------------------------------------------------------


def burns(
    engine: Engine,
    now: int,
    remaining: Mapping[tuple[str, str], tuple[int, int]],
    calendar: Calendar,
    projects: Sequence[str] | None = None,
) -> dict[tuple[str, str], Burn]:
    """Burn rates and projected exhaustion for ``(project, pool) -> (remaining, allocated)``,
    from the same window sums as ``/metrics`` (local days of ``calendar``; only ``projects``'
    usage when given: a researcher's burn reads her accounts, not the whole cluster's)."""
    with engine.connect() as conn:
        sums = window_sums(conn, now, calendar, projects)
        windows = windows_by_project(sums, account_projects(conn, projects))
    return {
        key: burn_of(*windows.get(key, (0, 0)), now, rem, alloc, calendar)
        for key, (rem, alloc) in remaining.items()
    }
