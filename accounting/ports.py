"""What the quarter's accounting use cases need from the outside world, as Protocols.

The SQL adapters live in ``connectors.db`` (the ``SqlUnitOfWork`` exposes them as attributes:
``uow.statements``, ``uow.decisions``, ``uow.consumption``, ``uow.closes``,
``uow.organisation``, ``uow.usage``, ``uow.housekeeping``); in-memory fakes in
``tests/fakes_accounting.py`` implement the same protocols for the unit tests.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from accounting.alerts import Crossing
from accounting.ingestion import IngestState
from accounting.reconcile import Decision
from accounting.statements import Statement
from allocator.periods import Calendar
from allocator.ports import Newest, UnitOfWork

# --- the records the ports exchange -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StatementInfo:
    """A stored statement (``created``: stored by the call that answers it)."""

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


@dataclass(frozen=True, slots=True)
class StatementAmount:
    """What one stored statement line says, for the reconciliation."""

    statement_id: int
    line: int
    cluster: str
    account: str
    units: int | None
    gpu_seconds: int | None


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """A reconciliation decision, as journaled."""

    pool_id: str
    period: str
    project_id: str
    action: str
    amount: int
    ours: int
    theirs: int | None
    statement_id: int
    ledger_entry_id: int | None
    reason: str
    actor: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Consumed:
    """Consumption of one project (``""`` = unmapped accounts) in one pool and period."""

    final: int = 0
    provisional: int = 0
    late: int = 0
    gpu_seconds: int = 0
    unpriced_gpu_seconds: int = 0


@dataclass(frozen=True, slots=True)
class JobCharge:
    """One job's charges in a pool and period (summed over its parts)."""

    cluster: str
    job_id: int
    submit: int
    account: str
    gpu_seconds: int
    units: int
    provisional: bool
    late: bool


@dataclass(frozen=True, slots=True)
class DailyUse:
    """A project's usage of one local day (days since 1970-01-01 in the site's time zone) in
    one pool, of one GPU type: GPU-seconds and the pool's unit-seconds charged."""

    pool_id: str
    day: int
    gpu_type: str
    gpu_seconds: int
    units: int


@dataclass(frozen=True, slots=True)
class JobLine:
    """A job's charges to a project in one pool and period, of one GPU type, with the Slurm
    user who ran it (``""`` when its record is gone)."""

    pool_id: str
    cluster: str
    job_id: int
    user: str
    gpu_type: str
    gpu_seconds: int
    units: int
    provisional: bool


@dataclass(frozen=True, slots=True)
class PeriodClose:
    """A closed period: when, by whom, why, and the report signed off (as JSON)."""

    period: str
    closed_at: datetime
    closed_by: str
    reason: str
    report_json: str


@dataclass(frozen=True, slots=True)
class AccountUsage:
    """A Slurm account's ingested usage, split once into **final** (finished jobs: their last
    record) and **provisional** (jobs still running, or pending: so far). ``gpu_seconds`` is
    the sum of ``by_type``, ``provisional_gpu_seconds`` of ``provisional_by_type`` (GPU type
    ``""``: GPUs Slurm gave no type); ``jobs`` counts both kinds, ``provisional_jobs`` the
    unfinished ones."""

    cluster: str
    account: str
    project_id: str | None
    jobs: int
    gpu_seconds: int
    provisional_gpu_seconds: int
    by_type: dict[str, int]
    provisional_by_type: dict[str, int] = field(default_factory=dict)
    provisional_jobs: int = 0


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    id: int
    cluster: str
    job_id: int | None
    reason: str
    raw: str
    first_seen: int
    last_seen: int


#: A key of the daily rollup (its primary key, the period first) and its sums
#: ``(GPU-seconds, units, rows)``.
RollupKey = tuple[Any, ...]
RollupSums = tuple[int, int, int]

# --- the ports ----------------------------------------------------------------------------


class StatementStore(Protocol):
    def find(self, pool_id: str, period: str, sha256: str) -> StatementInfo | None:
        """The statement of these bytes already imported for the pool and period."""
        ...

    def add(
        self, pool_id: str, period: str, statement: Statement, imported_by: str, at: datetime
    ) -> StatementInfo:
        """Store a statement and its lines (``created`` true)."""
        ...

    def list(self, pool_id: str | None, period: str | None) -> Sequence[StatementInfo]:
        """Statements by id, of one pool and/or period when given."""
        ...

    def latest(self, period: str, pool_ids: Sequence[str]) -> Mapping[str, StatementInfo]:
        """The latest statement of each pool for ``period`` (pools without one are absent)."""
        ...

    def amounts(self, statement_ids: Collection[int]) -> Sequence[StatementAmount]:
        """The lines of these statements, by statement then line."""
        ...


class DecisionStore(Protocol):
    def of(self, period: str, pool_ids: Sequence[str]) -> Mapping[str, Sequence[Decision]]:
        """Every pool's decisions of ``period`` in the order taken (each pool present)."""
        ...

    def add(self, decision: DecisionRecord) -> None: ...


class ConsumptionReads(Protocol):
    def by_project(
        self, period: str, pool_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], Consumed]:
        """``(project, pool) -> Consumed`` of ``period`` (of every pool when ``None``)."""
        ...

    def balances(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        """``(project, pool) -> (final, provisional)`` of mapped accounts: the allocator's
        ``ConsumptionLookup``."""
        ...

    def account_projects(self) -> Mapping[tuple[str, str], str]:
        """``(cluster, account) -> project`` of every mapped Slurm account."""
        ...

    def jobs_behind(
        self, pool_id: str, period: str, project_id: str, limit: int
    ) -> Sequence[JobCharge]:
        """The jobs charged to a project (``""``: to unmapped accounts), by cluster, job."""
        ...

    def burn_windows(
        self, epoch: int, calendar: Calendar, projects: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        """``(project, pool) -> (units of the last 7 days, of the last 30)`` up to ``epoch``
        (local days of ``calendar``; only ``projects``' accounts when given)."""
        ...

    def job_lines(self, project_id: str, period: str) -> Sequence[JobLine]:
        """The jobs charged to a project in ``period`` (its mapped accounts), by pool, job and
        GPU type."""
        ...

    def daily_of(self, project_id: str, period: str) -> Sequence[DailyUse]:
        """A project's usage in ``period`` (its mapped accounts; final, provisional and late
        alike: what its balance counts), by pool, day and GPU type, in that order."""
        ...


class PeriodCloses(Protocol):
    def get(self, period: str) -> PeriodClose | None: ...
    def add(self, close: PeriodClose) -> None: ...


class Organisation(Protocol):
    """The chairs and projects as the report needs them: ids only, in one read each."""

    def chair_ids(self) -> Collection[str]: ...
    def project_chairs(self) -> Mapping[str, str]:
        """``project -> its chair``."""
        ...


class UsageViews(Protocol):
    def account_usage(
        self, cluster: str | None, unmapped_only: bool, span: tuple[int, int] | None = None
    ) -> Sequence[AccountUsage]:
        """GPU-seconds per (cluster, account), through the current mappings. With ``span``
        (``[start, end)``, epoch seconds: a period), only what falls in it: each run's seconds
        inside the span (a run is ``[start, start + elapsed)``, as charged), the jobs whose run
        meets it, and the jobs not started that were submitted in it."""
        ...

    def quarantine(
        self, cluster: str | None, window: Newest | None = None
    ) -> Sequence[QuarantinedRecord]:
        """The quarantined records (of one cluster): all, oldest first; or, with ``window``,
        that window of them, newest first."""
        ...


class IngestStates(Protocol):
    """Each cluster's ingestion state (the usage store's)."""

    def clusters(self) -> Sequence[IngestState]: ...
    def state(self, cluster: str) -> IngestState: ...


class HousekeepingStore(Protocol):
    def journal_days(self, since_day: int) -> Mapping[RollupKey, RollupSums]:
        """The charges journal summed by the daily rollup's key, from ``since_day`` on."""
        ...

    def rollup_days(self, since_day: int) -> Mapping[RollupKey, RollupSums]:
        """The daily rollup as stored, from ``since_day`` on."""
        ...

    def replace_days(
        self, keys: Collection[RollupKey], sums: Mapping[RollupKey, RollupSums]
    ) -> None:
        """Delete the daily rows of ``keys``, then write ``sums``."""
        ...

    def rebuild_period(self, period: str) -> None:
        """Rebuild the period rollup of ``period`` from the journal."""
        ...

    def prune(self) -> None:
        """Delete the rollup rows that netted to zero."""
        ...

    def said(self, action: str, subject: str, since: datetime | None = None) -> bool:
        """Is there an audit event of ``action`` on ``subject`` (at or after ``since``)?"""
        ...


class CrossingStore(Protocol):
    """Where each account stands against each threshold (``accounting.alerts``)."""

    def get(self, subjects: Sequence[str]) -> Mapping[str, Crossing]:
        """The stored states of these subjects (those never seen are absent)."""
        ...

    def put(self, subject: str, state: Crossing) -> None: ...


class AccountingUnitOfWork(UnitOfWork, Protocol):
    """The allocator's unit of work, with the quarter's stores."""

    @property
    def statements(self) -> StatementStore: ...
    @property
    def decisions(self) -> DecisionStore: ...
    @property
    def consumption(self) -> ConsumptionReads: ...
    @property
    def closes(self) -> PeriodCloses: ...
    @property
    def organisation(self) -> Organisation: ...
    @property
    def usage(self) -> UsageViews: ...
    @property
    def housekeeping(self) -> HousekeepingStore: ...
    @property
    def crossings(self) -> CrossingStore: ...
