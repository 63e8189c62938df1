"""The period's report (live figures, or the one signed off at close), the close, the state.

The live report reads a constant number of times, whatever the number of pools: the
consumption, the pools, chairs and projects, the ledger's flows, the latest statements, their
lines and the decisions; then every row is computed in memory.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from accounting import report as rpt
from accounting.booking import UNROUTED
from accounting.closing import Outcome, close_plan, outcome
from accounting.errors import PeriodClosed
from accounting.ports import AccountingUnitOfWork, Consumed, PeriodClose, StatementInfo
from accounting.reconcile import Decision, Line, Status, Theirs, reconcile
from accounting.services.reconciliation import ours_of, theirs_of
from allocator import lending, rules
from allocator.errors import Conflict, InvalidInput
from allocator.ledger import (
    Flows,
    ProjectBalance,
    all_project_balances,
    chair_balance,
    pool_balance,
    project_balance,
)
from allocator.model import AuditEvent, Pool, Role, User, project_account
from allocator.periods import Calendar

#: The statuses a close refuses (unless forced): a difference nobody decided on.
UNRESOLVED = {Status.OVER, Status.UNDER, Status.MISSING_OURS, Status.MISSING_STATEMENT}

#: pool -> (chair, balance) of each project with a row: what a close applies its policy to
Balances = dict[str, list[tuple[str, ProjectBalance]]]


@dataclass(frozen=True, slots=True)
class _Inputs:
    """Everything the live report of one period reads."""

    period: str
    consumed: Mapping[tuple[str, str], Consumed]
    pools: Sequence[Pool]
    chairs: Sequence[str]
    chair_of: Mapping[str, str]  # project -> chair
    flows: Mapping[str, Flows]
    statements: Mapping[str, StatementInfo]
    theirs: Mapping[int, Mapping[str, Theirs]]
    decisions: Mapping[str, Sequence[Decision]]
    clawed: Mapping[tuple[str, str], int]  # (pool, project) -> reclaimed by regulation


def _read(uow: AccountingUnitOfWork, period: str) -> _Inputs:
    consumed = uow.consumption.by_project(period, None)
    pools = list(uow.pools.list())
    chairs = sorted(uow.organisation.chair_ids())
    chair_of = uow.organisation.project_chairs()
    accounts = uow.consumption.account_projects()
    known = [p.id for p in pools]
    flows = uow.ledger.flows_in(known, period)
    statements = uow.statements.latest(period, known)
    theirs = theirs_of(uow, {s.id: p for p in pools if (s := statements.get(p.id))}, accounts)
    decisions = uow.decisions.of(period, known) if statements else {}
    clawed = uow.ledger.clawed_back(period)
    return _Inputs(
        period, consumed, pools, chairs, chair_of, flows, statements, theirs, decisions, clawed
    )


def _lines(inputs: _Inputs, pool: Pool) -> dict[str, Line]:
    """The pool's reconciliation lines by project (none without a statement)."""
    stmt = inputs.statements.get(pool.id)
    if stmt is None:
        return {}
    ours = ours_of(inputs.consumed, pool.id)
    found = reconcile(ours, inputs.theirs.get(stmt.id, {}), inputs.decisions[pool.id])
    return {ln.project_id: ln for ln in found}


def _chair_rows(inputs: _Inputs, pool: Pool, in_pool: Mapping[str, Consumed]) -> list[rpt.Row]:
    """The chairs that received hours of the pool, or whose projects consumed some."""
    consuming = {inputs.chair_of[p] for p in in_pool if p in inputs.chair_of}
    rows = []
    for chair_id in inputs.chairs:
        cb = chair_balance(inputs.flows[pool.id], chair_id, pool.id, inputs.period)
        if cb.received or chair_id in consuming:
            rows.append(rpt.Row("chair", pool.id, chair_id, unit=pool.unit, allocated=cb.received))
    return rows


def _project_row(
    pool: Pool,
    chair_id: str,
    project_id: str,
    b: ProjectBalance | None,
    c: Consumed,
    line: Line | None,
    clawed: int = 0,
) -> rpt.Row:
    o = outcome(pool, b) if b is not None else None
    return rpt.Row(
        "project",
        pool.id,
        chair_id,
        project_id,
        unit=pool.unit,
        allocated=b.allocated if b else 0,
        adjustments=b.adjustments if b else 0,
        clawed=clawed,
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


def _project_rows(
    inputs: _Inputs,
    pool: Pool,
    in_pool: Mapping[str, Consumed],
    balances: Balances,
) -> list[rpt.Row]:
    """A row per project with hours, consumption or a reconciliation line in the pool (and
    one for unmapped accounts); their balances are added to ``balances``."""
    projects, period = inputs.chair_of, inputs.period
    lines = _lines(inputs, pool)
    # every project's balance in one pass over the pool's flows
    all_balances = all_project_balances(
        inputs.flows[pool.id],
        pool.id,
        period,
        {p: (c.final, c.provisional) for p, c in in_pool.items() if p in projects},
    )
    ids = sorted(
        {p for p in all_balances if p in projects}
        | {p for p in lines if p in projects}
        | ({""} if "" in in_pool or "" in lines else set())
    )
    rows = []
    for project_id in ids:
        c = in_pool.get(project_id, Consumed())
        chair_id = projects.get(project_id, "")
        b = (
            all_balances.get(project_id)
            or project_balance({}, project_id, pool.id, period, c.final, c.provisional)
            if project_id
            else None
        )
        line = lines.get(project_id)
        if (b is None or b.is_empty) and line is None and c == Consumed():
            continue
        if b is not None:
            balances[pool.id].append((chair_id, b))
        clawed = inputs.clawed.get((pool.id, project_id), 0)
        rows.append(_project_row(pool, chair_id, project_id, b, c, line, clawed))
    return rows


def _unrouted_rows(inputs: _Inputs) -> tuple[list[rpt.Row], list[rpt.Row]]:
    """The pool row and project rows of usage no pool routes (GPU-seconds only)."""
    known = {p.id for p in inputs.pools}
    unrouted = {p: c for (p, pl), c in inputs.consumed.items() if pl == UNROUTED or pl not in known}
    if not unrouted:
        return [], []
    project_rows = [
        rpt.Row(
            "project",
            UNROUTED,
            inputs.chair_of.get(project_id, ""),
            project_id,
            gpu_seconds=c.gpu_seconds,
            unpriced_gpu_seconds=c.unpriced_gpu_seconds,
        )
        for project_id, c in sorted(unrouted.items())
    ]
    return [rpt.Row("pool", UNROUTED, unit="gpu-seconds (unrouted)")], project_rows


def live_report(uow: AccountingUnitOfWork, period: str) -> tuple[rpt.Report, Balances]:
    """The report of an open period from the ledger, the rollup and the statements; also the
    project balances per pool, for a close."""
    inputs = _read(uow, period)
    pool_rows: list[rpt.Row] = []
    chair_rows: list[rpt.Row] = []
    project_rows: list[rpt.Row] = []
    balances: Balances = defaultdict(list)
    for pool in inputs.pools:
        pb = pool_balance(inputs.flows[pool.id], pool.id, period)
        pool_rows.append(
            rpt.Row("pool", pool.id, unit=pool.unit, capacity=pb.capacity, allocated=pb.allocated)
        )
        in_pool = {p: c for (p, pl), c in inputs.consumed.items() if pl == pool.id}
        chair_rows += _chair_rows(inputs, pool, in_pool)
        project_rows += _project_rows(inputs, pool, in_pool, balances)
    unrouted_pools, unrouted_projects = _unrouted_rows(inputs)
    pool_rows += unrouted_pools
    project_rows += unrouted_projects
    return rpt.assemble(period, pool_rows, chair_rows, project_rows), balances


def report(
    uow: AccountingUnitOfWork, actor: User, period: str, *, now: datetime, calendar: Calendar
) -> rpt.Report:
    """A closed period's signed-off report, or the live figures of an open one."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    calendar.check(period, now)
    with uow:
        closed = uow.closes.get(period)
        if closed is not None:
            return rpt.from_json(closed.report_json)
        return live_report(uow, period)[0]


def _refuse_unresolved(live: rpt.Report) -> None:
    for row in live.rows:
        if row.level == "project" and row.status in UNRESOLVED:
            raise Conflict(
                f"reconciliation of pool {row.pool}, project {row.project or '(unmapped)'} "
                f"is {row.status} (difference {row.difference}): adjust or accept it first",
                field="period",
            )


def close_period(
    uow: AccountingUnitOfWork,
    actor: User,
    now: datetime,
    period: str,
    reason: str,
    force: bool = False,
    *,
    calendar: Calendar,
    clock: Callable[[], datetime] | None = None,
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
        _return_loans(uow, actor, now, period)
        live, balances = live_report(uow, period)
        if not force:
            _refuse_unresolved(live)
        nxt = calendar.next(p).label
        for pool in uow.pools.list():
            for entry in close_plan(
                pool, period, nxt, balances.get(pool.id, []), actor.username, now
            ):
                uow.ledger.append(entry)
        signed = rpt.Report(live.period, live.rows, now.isoformat(), actor.username)
        uow.closes.add(PeriodClose(period, now, actor.username, reason, rpt.to_json(signed)))
        uow.audit.append(
            AuditEvent(actor.username, now, "period.close", f"period:{period}", reason)
        )
        uow.commit()
    return signed


def _return_loans(uow: AccountingUnitOfWork, actor: User, now: datetime, period: str) -> None:
    """Loans inside a chair return at the period's end (``allocator.lending.period_end``):
    those the scheduled return has not brought back yet return now, in the close's
    transaction, as far as each borrower has hours unused; a closed period keeps none out."""
    used = uow.consumption.by_project(period, None)
    move = lending.Move(actor.username, now, f"loans return at the end of {period} (close)")
    for pool_id in uow.pools.ids():
        loans = lending.loans_of(uow.ledger.entries(pool_id=pool_id, period=period))
        borrowers = sorted({loan.borrower for loan in loans if loan.outstanding > 0})
        if not borrowers:
            continue
        flows = uow.ledger.flows_in([pool_id], period, [project_account(p) for p in borrowers])
        consumed = {p: c.final + c.provisional for (p, pid), c in used.items() if pid == pool_id}
        unused = lending.unused_of(flows[pool_id], consumed, borrowers)
        terms = lending.Terms("", pool_id, period, lending.ReturnPolicy.PERIOD_END, ())
        back = lending.period_end(terms, loans, unused, move)
        for entry in back:
            uow.ledger.append(entry)
        if back:
            text = ", ".join(f"{e.reference} {e.amount} s" for e in back)
            uow.audit.append(
                AuditEvent(actor.username, now, "lending.returned", f"pool:{pool_id}", text)
            )


@dataclass(frozen=True, slots=True)
class ClosePreview:
    """What closing a period would do now: per pool and project, the unused hours and what
    the pool's policy makes of them; and the reconciliation lines that would refuse it."""

    period: str
    outcomes: tuple[tuple[Pool, str, Outcome], ...]  # (pool, chair, outcome)
    unresolved: tuple[rpt.Row, ...]


def close_preview(
    uow: AccountingUnitOfWork, actor: User, period: str, *, now: datetime, calendar: Calendar
) -> ClosePreview:
    """The close's figures before it happens (admins; nothing written): the same live report
    and policy a close applies, read in one snapshot."""
    rules.require_role(actor, Role.ADMIN)
    calendar.check(period, now)
    with uow:
        if uow.closes.get(period) is not None:
            raise PeriodClosed(period)
        live, balances = live_report(uow, period)
        pools = {pool.id: pool for pool in uow.pools.list()}
    outcomes = tuple(
        (pools[pool_id], chair, outcome(pools[pool_id], balance))
        for pool_id in sorted(balances)
        for chair, balance in balances[pool_id]
    )
    unresolved = tuple(r for r in live.rows if r.level == "project" and r.status in UNRESOLVED)
    return ClosePreview(period, outcomes, unresolved)


@dataclass(frozen=True, slots=True)
class PeriodState:
    period: str
    start: datetime
    end: datetime
    closed: bool
    closed_at: datetime | None
    closed_by: str | None


def period_state(
    uow: AccountingUnitOfWork, period: str, *, now: datetime, calendar: Calendar
) -> PeriodState:
    """A period's bounds and whether (when, by whom) it was closed."""
    p = calendar.check(period, now)
    with uow:
        closed = uow.closes.get(period)
        return PeriodState(
            p.label,
            p.start,
            p.end,
            closed is not None,
            closed.closed_at if closed is not None else None,
            closed.closed_by if closed is not None else None,
        )
