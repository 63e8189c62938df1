"""Statements: import one (parsed, checked, stored all or nothing) and list them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from accounting.errors import PeriodClosed
from accounting.ports import AccountingUnitOfWork, StatementInfo
from accounting.statements import ColumnMapping, Statement, check_accounts, parse_statement
from allocator import rules
from allocator import services as svc
from allocator.errors import InvalidInput
from allocator.model import AuditEvent, Pool, Role, User
from allocator.periods import Calendar


def pool_clusters(pool: Pool) -> set[str]:
    return {r.cluster for r in pool.routes}


def project_of(
    accounts: Mapping[tuple[str, str], str], pool: Pool, cluster: str, account: str
) -> str | None:
    """The project a statement line's account belongs to: on its cluster when the line names
    one, else on one of the pool's clusters."""
    if cluster:
        return accounts.get((cluster, account))
    found = {accounts[(c, account)] for c in pool_clusters(pool) if (c, account) in accounts}
    return found.pop() if len(found) == 1 else None


def import_statement(
    uow: AccountingUnitOfWork,
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
        pool = svc.get_pool(uow, pool_id)
        statement = parse_statement(fmt, data, period, file_name, mapping, calendar)
        existing = uow.statements.find(pool_id, period, statement.sha256)
        if existing is not None:
            return existing
        uow.ledger.lock_closing()  # a close waits for this import, or it sees the close
        if uow.ledger.is_closed(period):
            raise PeriodClosed(period)
        _check_accounts(statement, pool, uow.consumption.account_projects())
        info = uow.statements.add(pool_id, period, statement, actor.username, now)
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
        return info


def _check_accounts(
    statement: Statement, pool: Pool, accounts: Mapping[tuple[str, str], str]
) -> None:
    """Every account the statement names belongs to a project (on the line's cluster)."""
    check_accounts(
        statement,
        lambda account: any(
            project_of(accounts, pool, line.cluster, account) is not None
            for line in statement.lines
            if line.account == account
        ),
    )


def list_statements(
    uow: AccountingUnitOfWork,
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
        return list(uow.statements.list(pool_id, period))
