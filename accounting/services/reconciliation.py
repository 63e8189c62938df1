"""Reconciliation: our consumption against a statement, the jobs behind a line, decisions."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from accounting import reconcile as rc
from accounting.errors import PeriodClosed
from accounting.ports import (
    AccountingUnitOfWork,
    Consumed,
    DecisionRecord,
    JobCharge,
    StatementInfo,
)
from accounting.reconcile import Line, Ours, Theirs, Tolerance
from accounting.services.statements import project_of
from allocator import rules
from allocator import services as svc
from allocator.errors import Conflict, InvalidInput, NotFound
from allocator.model import AuditEvent, Pool, Role, User
from allocator.periods import Calendar


@dataclass(frozen=True, slots=True)
class Reconciliation:
    pool_id: str
    period: str
    statement: StatementInfo | None
    tolerance: Tolerance
    lines: tuple[Line, ...]


def theirs_of(
    uow: AccountingUnitOfWork,
    pools: Mapping[int, Pool],
    accounts: Mapping[tuple[str, str], str] | None = None,
) -> dict[int, dict[str, Theirs]]:
    """What each statement of ``pools`` (statement id -> its pool) says, per project."""
    if not pools:
        return {}
    accounts = uow.consumption.account_projects() if accounts is None else accounts
    out: dict[int, dict[str, Theirs]] = defaultdict(dict)
    for a in uow.statements.amounts(list(pools)):
        sums = out[a.statement_id]
        project = project_of(accounts, pools[a.statement_id], a.cluster, a.account) or ""
        old = sums.get(project, Theirs(None, None))
        sums[project] = Theirs(
            _add(old.units, a.units),
            _add(old.gpu_seconds, a.gpu_seconds),
            (*old.lines, a.line),
        )
    return out


def _add(total: int | None, value: int | None) -> int | None:
    """Sum of the amounts a statement gives; ``None`` once a line does not give it."""
    if value is None:
        return None
    return (total or 0) + value


def ours_of(consumed: Mapping[tuple[str, str], Consumed], pool_id: str) -> dict[str, Ours]:
    """Our figures per project of one pool: final and provisional units, GPU-seconds."""
    return {
        project: Ours(c.final + c.provisional, c.gpu_seconds)
        for (project, pool), c in consumed.items()
        if pool == pool_id
    }


def reconcile(
    uow: AccountingUnitOfWork,
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
    uow: AccountingUnitOfWork,
    actor: User,
    pool_id: str,
    period: str,
    tolerance: Tolerance | None = None,
    consumed: Mapping[tuple[str, str], Consumed] | None = None,
) -> Reconciliation:
    """:func:`reconcile` of a period the system names (the last closed one, for
    ``/metrics``), without the range check of labels given by people."""
    rules.require_role(actor, Role.ADMIN, Role.ENGINEER)
    with uow:
        pool = svc.get_pool(uow, pool_id)
        if consumed is None:
            consumed = uow.consumption.by_project(period, [pool_id])
        stmt = uow.statements.latest(period, [pool_id]).get(pool_id)
        if stmt is None:
            # Without a statement there is nothing to reconcile against: every line would be
            # "missing_statement"; say so once instead.
            lines: list[Line] = []
        else:
            theirs = theirs_of(uow, {stmt.id: pool}).get(stmt.id, {})
            decisions = uow.decisions.of(period, [pool_id])[pool_id]
            lines = rc.reconcile(ours_of(consumed, pool_id), theirs, decisions, tolerance)
        return Reconciliation(pool_id, period, stmt, tolerance or Tolerance(), tuple(lines))


def jobs_behind(
    uow: AccountingUnitOfWork,
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
    with uow:
        svc.get_pool(uow, pool_id)
        if project_id:
            svc.get_project(uow, project_id)
        return list(uow.consumption.jobs_behind(pool_id, period, project_id, limit))


def _check_decision(action: str, amount: int, reason: str) -> None:
    if action not in ("accept", "adjust"):
        raise InvalidInput("action", "must be 'accept' or 'adjust'")
    if not reason.strip():
        raise InvalidInput("reason", "a decision needs a reason")
    if action == "accept" and amount:
        raise InvalidInput("amount", "an acceptance moves no hours: leave amount at 0")
    if action == "adjust" and not amount:
        raise InvalidInput("amount", "an adjustment needs a non-zero signed amount")


def _line_to_decide(current: Reconciliation, project_id: str) -> tuple[StatementInfo, Line]:
    """The statement and the line a decision is about; refused when there is none."""
    if current.statement is None:
        raise Conflict(
            f"no statement imported for {current.pool_id} {current.period}", field="period"
        )
    line = next((ln for ln in current.lines if ln.project_id == project_id), None)
    if line is None:
        raise NotFound("reconciliation line", project_id, field="project_id")
    if not project_id:
        raise InvalidInput("project_id", "usage of unmapped accounts cannot be adjusted; map them")
    return current.statement, line


def decide(
    uow: AccountingUnitOfWork,
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
    rules.require_role(actor, Role.ADMIN)
    calendar.check(period, now)
    _check_decision(action, amount, reason)
    # One transaction: the adjustment and its decision are written together, or neither (the
    # nested use cases join it; their own commits are deferred to the one below).
    with uow:
        current = reconcile(uow, actor, pool_id, period, now=now, calendar=calendar)
        statement, line = _line_to_decide(current, project_id)
        entry_id = None
        if action == "adjust":
            reference = f"reconciliation:{period}:statement-{statement.id}"
            entry = svc.adjust(
                uow,
                actor,
                now,
                pool_id,
                project_id,
                period,
                amount,
                reason,
                reference=reference,
                calendar=calendar,
            )
            entry_id = entry.id
        uow.ledger.lock_closing()  # an acceptance too is checked open under the close lock
        if uow.ledger.is_closed(period):
            raise PeriodClosed(period)
        decision = DecisionRecord(
            pool_id,
            period,
            project_id,
            action,
            amount,
            line.ours,
            line.theirs,
            statement.id,
            entry_id,
            reason,
            actor.username,
            now,
        )
        _journal(uow, decision)
        uow.commit()
    return reconcile(uow, actor, pool_id, period, now=now, calendar=calendar)


def _journal(uow: AccountingUnitOfWork, d: DecisionRecord) -> None:
    """Store the decision, and say so in the audit log."""
    uow.decisions.add(d)
    uow.audit.append(
        AuditEvent(
            d.actor,
            d.at,
            f"reconciliation.{d.action}",
            f"project:{d.project_id}",
            f"{d.pool_id} {d.period} ours={d.ours} theirs={d.theirs} amount={d.amount}: {d.reason}",
        )
    )
