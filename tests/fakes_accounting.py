"""In-memory adapters implementing the accounting's ports (``accounting.ports``): fakes, not
mocks. ``FakeAccountingUnitOfWork`` is the allocator's ``FakeUnitOfWork`` with the quarter's
stores; what the SQL adapters compute from ingested usage (consumption, jobs, burn windows,
account usage, the rollups) is given by the test through the ``committed_store``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Self

from accounting.alerts import Crossing
from accounting.ingestion import IngestState
from accounting.ports import (
    AccountUsage,
    Consumed,
    DailyUse,
    DecisionRecord,
    JobCharge,
    JobLine,
    PeriodClose,
    QuarantinedRecord,
    RollupKey,
    RollupSums,
    StatementAmount,
    StatementInfo,
)
from accounting.reconcile import Decision
from accounting.statements import Statement
from allocator.periods import Calendar
from allocator.ports import Newest
from tests.fakes import FakeUnitOfWork, _Store


class AccountingStore(_Store):
    def __init__(self) -> None:
        super().__init__()
        self.statements: list[StatementInfo] = []
        self.statement_lines: list[StatementAmount] = []
        self.decisions: list[DecisionRecord] = []
        self.closes: dict[str, PeriodClose] = {}
        #: (period, project, pool) -> what was consumed
        self.consumed: dict[tuple[str, str, str], Consumed] = {}
        #: (period, pool) -> the jobs charged, with their accounts' clusters
        self.jobs: dict[tuple[str, str], list[JobCharge]] = {}
        #: (project, pool) -> (units of the last 7 days, of the last 30)
        self.windows: dict[tuple[str, str], tuple[int, int]] = {}
        #: (period, project) -> its daily usage, and its jobs
        self.daily: dict[tuple[str, str], list[DailyUse]] = {}
        self.job_lines: dict[tuple[str, str], list[JobLine]] = {}
        self.account_usage: list[AccountUsage] = []
        self.quarantine: list[QuarantinedRecord] = []
        #: the charges journal and the daily rollup, summed by the rollup's key
        self.journal: dict[RollupKey, RollupSums] = {}
        self.rollup: dict[RollupKey, RollupSums] = {}
        self.rebuilt_periods: list[str] = []
        self.crossings: dict[str, Crossing] = {}

    def account_projects(self) -> dict[tuple[str, str], str]:
        return {
            (a.cluster, a.account): p.id for p in self.projects.values() for a in p.slurm_accounts
        }


class FakeStatements:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def find(self, pool_id: str, period: str, sha256: str) -> StatementInfo | None:
        return next(
            (
                i
                for i in self.s.statements
                if (i.pool_id, i.period, i.sha256) == (pool_id, period, sha256)
            ),
            None,
        )

    def add(
        self, pool_id: str, period: str, statement: Statement, imported_by: str, at: datetime
    ) -> StatementInfo:
        info = StatementInfo(
            len(self.s.statements) + 1,
            pool_id,
            period,
            statement.format,
            statement.origin[:300],
            statement.file_name[:255],
            statement.sha256,
            len(statement.lines),
            imported_by,
            at,
            created=True,
        )
        self.s.statements.append(replace(info, created=False))
        self.s.statement_lines += [
            StatementAmount(info.id, ln.line, ln.cluster, ln.account, ln.units, ln.gpu_seconds)
            for ln in statement.lines
        ]
        return info

    def list(self, pool_id: str | None, period: str | None) -> Sequence[StatementInfo]:
        return [
            i
            for i in self.s.statements
            if pool_id in (None, i.pool_id) and period in (None, i.period)
        ]

    def latest(self, period: str, pool_ids: Sequence[str]) -> Mapping[str, StatementInfo]:
        return {
            i.pool_id: i for i in self.s.statements if i.period == period and i.pool_id in pool_ids
        }

    def amounts(self, statement_ids: Collection[int]) -> Sequence[StatementAmount]:
        return sorted(
            (a for a in self.s.statement_lines if a.statement_id in statement_ids),
            key=lambda a: (a.statement_id, a.line),
        )


class FakeDecisions:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def of(self, period: str, pool_ids: Sequence[str]) -> Mapping[str, Sequence[Decision]]:
        return {
            pool_id: [
                Decision(d.project_id, d.action, d.amount, d.ours, d.theirs)
                for d in self.s.decisions
                if d.pool_id == pool_id and d.period == period
            ]
            for pool_id in pool_ids
        }

    def add(self, decision: DecisionRecord) -> None:
        self.s.decisions.append(decision)


class FakeConsumption:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store
        #: the ``projects`` of each burn-window read (``None``: every project)
        self.window_reads: list[Sequence[str] | None] = []

    def by_project(
        self, period: str, pool_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], Consumed]:
        return {
            (project, pool): c
            for (p, project, pool), c in self.s.consumed.items()
            if p == period and (pool_ids is None or pool in pool_ids)
        }

    def balances(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        return {
            (project, pool): (c.final, c.provisional)
            for (project, pool), c in self.by_project(period, pool_ids).items()
            if project and (project_ids is None or project in project_ids)
        }

    def account_projects(self) -> Mapping[tuple[str, str], str]:
        return self.s.account_projects()

    def jobs_behind(
        self, pool_id: str, period: str, project_id: str, limit: int
    ) -> Sequence[JobCharge]:
        accounts = self.s.account_projects()
        return [
            j
            for j in self.s.jobs.get((period, pool_id), [])
            if accounts.get((j.cluster, j.account), "") == project_id
        ][:limit]

    def burn_windows(
        self, epoch: int, calendar: Calendar, projects: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        self.window_reads.append(projects)
        return {
            (project, pool): w
            for (project, pool), w in self.s.windows.items()
            if projects is None or project in projects
        }

    def job_lines(self, project_id: str, period: str) -> Sequence[JobLine]:
        return list(self.s.job_lines.get((period, project_id), []))

    def daily_of(self, project_id: str, period: str) -> Sequence[DailyUse]:
        return sorted(
            (
                u
                for (p, project), uses in self.s.daily.items()
                for u in uses
                if p == period and project == project_id
            ),
            key=lambda u: (u.pool_id, u.day, u.gpu_type),
        )


class FakeCloses:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def get(self, period: str) -> PeriodClose | None:
        return self.s.closes.get(period)

    def add(self, close: PeriodClose) -> None:
        self.s.closes[close.period] = close
        self.s.closed.add(close.period)  # the ledger refuses the period from now on


class FakeOrganisation:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def chair_ids(self) -> Collection[str]:
        return set(self.s.chairs)

    def project_chairs(self) -> Mapping[str, str]:
        return {p.id: p.chair_id for p in self.s.projects.values()}


class FakeUsageViews:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def account_usage(
        self, cluster: str | None, unmapped_only: bool, span: tuple[int, int] | None = None
    ) -> Sequence[AccountUsage]:
        # The fake keeps totals, not runs: it cannot cut them to a period (tested on SQL).
        assert span is None, "FakeUsageViews has no runs to cut to a period"
        return [
            u
            for u in self.s.account_usage
            if cluster in (None, u.cluster) and not (unmapped_only and u.project_id)
        ]

    def quarantine(
        self, cluster: str | None, window: Newest | None = None
    ) -> Sequence[QuarantinedRecord]:
        found = [q for q in self.s.quarantine if cluster in (None, q.cluster)]
        if window is None:
            return found
        below = [q for q in reversed(found) if window.before is None or q.id < window.before]
        return below[: window.first]


class FakeHousekeeping:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def journal_days(self, since_day: int) -> Mapping[RollupKey, RollupSums]:
        return {k: v for k, v in self.s.journal.items() if _day(k) >= since_day}

    def rollup_days(self, since_day: int) -> Mapping[RollupKey, RollupSums]:
        return {k: v for k, v in self.s.rollup.items() if _day(k) >= since_day}

    def replace_days(
        self, keys: Collection[RollupKey], sums: Mapping[RollupKey, RollupSums]
    ) -> None:
        for k in keys:
            self.s.rollup.pop(k, None)
        self.s.rollup.update(sums)

    def rebuild_period(self, period: str) -> None:
        self.s.rebuilt_periods.append(period)

    def prune(self) -> None:
        self.s.rollup = {k: v for k, v in self.s.rollup.items() if v != (0, 0, 0)}

    def said(self, action: str, subject: str, since: datetime | None = None) -> bool:
        return any(
            e.action == action and e.subject == subject and (since is None or e.at >= since)
            for e in self.s.audit
        )


def _day(key: RollupKey) -> int:
    """The day of a rollup key (period, pool, cluster, account, day, ...)."""
    day: int = key[4]
    return day


class FakeCrossings:
    def __init__(self, store: AccountingStore) -> None:
        self.s = store

    def get(self, subjects: Sequence[str]) -> Mapping[str, Crossing]:
        return {k: v for k, v in self.s.crossings.items() if k in set(subjects)}

    def put(self, subject: str, state: Crossing) -> None:
        self.s.crossings[subject] = state


class FakeAccountingUnitOfWork(FakeUnitOfWork):
    """The allocator's fake unit of work with the quarter's stores, on the same copy."""

    committed_store: AccountingStore
    _work: AccountingStore

    def __init__(self) -> None:
        super().__init__()
        self.committed_store = AccountingStore()

    def __enter__(self) -> Self:
        fresh = self._depth == 0
        super().__enter__()
        if fresh:
            self.statements = FakeStatements(self._work)
            self.decisions = FakeDecisions(self._work)
            self.consumption = FakeConsumption(self._work)
            self.closes = FakeCloses(self._work)
            self.organisation = FakeOrganisation(self._work)
            self.usage = FakeUsageViews(self._work)
            self.housekeeping = FakeHousekeeping(self._work)
            self.crossings = FakeCrossings(self._work)
        return self


@dataclass
class FakeIngestStates:
    """The usage store's ingestion states (``accounting.ports.IngestStates``)."""

    known: dict[str, IngestState] = field(default_factory=dict)

    def clusters(self) -> Sequence[IngestState]:
        return [self.known[name] for name in sorted(self.known)]

    def state(self, cluster: str) -> IngestState:
        return self.known.get(cluster, IngestState(cluster))
