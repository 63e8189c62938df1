"""The SQL unit of work: one session, one transaction; rolled back unless committed."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from connectors.db.closes import SqlOrganisation, SqlPeriodCloses
from connectors.db.consumption import SqlConsumptionReads
from connectors.db.housekeeping import SqlHousekeeping
from connectors.db.lending_rules import SqlLending, SqlRegulations
from connectors.db.outbox import SqlCrossings, SqlNotices, SqlPreferences
from connectors.db.repositories import (
    SqlAudit,
    SqlChairs,
    SqlLedger,
    SqlPools,
    SqlProjects,
    SqlRequests,
    SqlUsers,
)
from connectors.db.rounds import SqlRounds
from connectors.db.statements import SqlDecisions, SqlStatements
from connectors.db.usage_queries import SqlUsageViews


class SqlUnitOfWork:
    """Re-entrant: a nested ``with`` joins the outer transaction."""

    session: Session

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory
        self._depth = 0

    def __enter__(self) -> Self:
        if self._depth == 0:
            self.session = self.session_factory()
            self.users = SqlUsers(self.session)
            self.pools = SqlPools(self.session)
            self.chairs = SqlChairs(self.session)
            self.projects = SqlProjects(self.session)
            self.requests = SqlRequests(self.session)
            self.ledger = SqlLedger(self.session)
            self.audit = SqlAudit(self.session)
            self.notices = SqlNotices(self.session)
            self.preferences = SqlPreferences(self.session)
            self.rounds = SqlRounds(self.session)
            self.lending = SqlLending(self.session)
            self.regulations = SqlRegulations(self.session)
            # the accounting's stores (accounting.ports.AccountingUnitOfWork)
            self.statements = SqlStatements(self.session)
            self.decisions = SqlDecisions(self.session)
            self.consumption = SqlConsumptionReads(self.session)
            self.closes = SqlPeriodCloses(self.session)
            self.organisation = SqlOrganisation(self.session)
            self.usage = SqlUsageViews(self.session)
            self.housekeeping = SqlHousekeeping(self.session)
            self.crossings = SqlCrossings(self.session)
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.rollback()
            self.session.close()

    def commit(self) -> None:
        if self._depth <= 1:
            self.session.commit()
            self.ledger.forget_locks()

    def rollback(self) -> None:
        self.session.rollback()
        self.ledger.forget_locks()
