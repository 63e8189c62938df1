"""What the allocator's use cases need from the outside world, as Protocols.

The SQL adapters live in ``connectors.db``; in-memory fakes in ``tests/fakes.py`` implement the
same protocols, and the same use-case tests run against both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Protocol, Self

from allocator.enforcement import Change, SlurmState
from allocator.ledger import BalanceInputs, Flows
from allocator.lending import Limits, ReturnPolicy
from allocator.model import (
    AllocationRequest,
    AuditEvent,
    Chair,
    LedgerEntry,
    Pool,
    Project,
    RequestState,
    User,
)
from allocator.notices import Notice, Preference
from allocator.regulation import Regulation
from allocator.round_model import AllocationRound


@dataclass(frozen=True, slots=True)
class Newest:
    """A window of an append-only list read newest first: its ``first`` rows whose id is
    below ``before`` (``None``: from the newest). A page of the journal or the audit trail is
    one such window, read as such, never the whole list."""

    first: int
    before: int | None = None


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class UserRepository(Protocol):
    def get(self, username: str) -> User | None: ...
    def add(self, user: User) -> None: ...
    def list(self) -> Sequence[User]: ...


class PoolRepository(Protocol):
    def get(self, pool_id: str) -> Pool | None: ...
    def add(self, pool: Pool) -> None: ...
    def update(self, pool: Pool) -> None: ...
    def list(self) -> Sequence[Pool]: ...
    def ids(self) -> Sequence[str]: ...
    def units(self) -> Mapping[str, str]:
        """Each pool's unit by pool id (one read, none of the pool's other parts)."""
        ...

    def exists(self, pool_id: str) -> bool: ...
    def lock(self, pool_id: str) -> None:
        """Serialise every amount-moving change of one pool (row lock on PostgreSQL)."""
        ...


class ChairRepository(Protocol):
    def get(self, chair_id: str) -> Chair | None: ...
    def add(self, chair: Chair) -> None: ...
    def list(self) -> Sequence[Chair]: ...


class ProjectRepository(Protocol):
    def get(self, project_id: str) -> Project | None: ...
    def add(self, project: Project) -> None: ...
    def update(self, project: Project) -> None: ...
    def list(self, chair_id: str | None = None, member: str | None = None) -> Sequence[Project]:
        """Projects by id (of one chair; with ``member``, those whose PI or member it is)."""
        ...

    def ids(self, member: str | None = None) -> Sequence[str]:
        """Project ids, sorted (with ``member``, of the projects whose PI or member it is)."""
        ...

    def by_slurm_account(self, cluster: str, account: str) -> Project | None: ...
    def visible(self, project_id: str, username: str, everything: bool) -> bool:
        """Does the project exist and (unless ``everything``) is ``username`` its PI or member?"""
        ...


class RequestRepository(Protocol):
    def get(self, request_id: int) -> AllocationRequest | None: ...
    def add(self, request: AllocationRequest) -> AllocationRequest:
        """Store a new request; returns it with its id."""
        ...

    def update(self, request: AllocationRequest) -> None: ...
    def list(
        self, project_ids: Sequence[str] | None = None, state: RequestState | None = None
    ) -> Sequence[AllocationRequest]: ...


class LedgerRepository(Protocol):
    def append(self, entry: LedgerEntry) -> LedgerEntry: ...
    def flows(self, pool_id: str, period: str) -> Flows: ...
    def flows_in(
        self, pool_ids: Sequence[str], period: str, accounts: Sequence[str] | None = None
    ) -> Mapping[str, Flows]:
        """The flows of several pools of one period, by pool, in one read. With ``accounts``,
        only the entries from or to one of them: enough for those accounts' balances."""
        ...

    def entries(
        self,
        pool_id: str | None = None,
        period: str | None = None,
        account: str | None = None,
        request_id: int | None = None,
        window: Newest | None = None,
    ) -> Sequence[LedgerEntry]:
        """The entries so filtered: all, oldest first; or, with ``window``, that window of
        them, newest first."""
        ...

    def entry(self, entry_id: int) -> LedgerEntry | None: ...
    def has_reference(self, pool_id: str, period: str, reference: str) -> bool: ...
    def clawed_back(self, period: str) -> Mapping[tuple[str, str], int]:
        """``(pool, project) -> unit-seconds`` reclaimed from the project by regulation in
        ``period`` (its ``clawback:`` entries), in one read."""
        ...

    def is_closed(self, period: str) -> bool:
        """True once the period was closed: no entry may be added to it any more."""
        ...

    def lock_closing(self, exclusive: bool = False) -> None:
        """The close lock, held to the end of the transaction: shared by every write of an
        amount into a period (taken after the pool's lock, before reading ``is_closed``),
        exclusive for a close (after every pool's lock). A close therefore waits for the
        writes in flight, and a write that waited for a close sees it."""
        ...


class ConsumptionLookup(Protocol):
    def __call__(
        self, period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> Mapping[tuple[str, str], tuple[int, int]]:
        """``(project, pool) -> (final, provisional)`` unit-seconds consumed in ``period``, for
        the given pools and projects (every project when ``None``), in one read."""
        ...


class BalanceReads(Protocol):
    def __call__(
        self, period: str, pool_ids: Sequence[str] | None, member: str | None, from_pool: str = ""
    ) -> BalanceInputs:
        """The inputs of the balances in ``period`` of the projects ``member`` may see (every
        project when ``None``), in ``pool_ids`` (every pool when ``None``), read at one
        instant (one snapshot). Every known pool is listed, so an unknown one asked shows; the
        flows and consumption are those of the pools from ``from_pool`` on (by id): a later
        page of a list by pool needs none of the pools before it."""
        ...


class AuditRepository(Protocol):
    def append(self, event: AuditEvent) -> None: ...
    def list(
        self, subject: str | None = None, window: Newest | None = None
    ) -> Sequence[AuditEvent]:
        """The events (of one subject): all, oldest first; or, with ``window``, that window
        of them, newest first."""
        ...


class NoticeOutbox(Protocol):
    def add(self, notices: Sequence[Notice]) -> int:
        """Store each notice (and its event) once, keyed (``Notice.key``), in the caller's
        transaction; a notice already stored is left as it is. Returns how many were new."""
        ...


class NoticePreferences(Protocol):
    def of(self, usernames: Iterable[str]) -> Sequence[Preference]:
        """The preferences of these users and the site's defaults (username ``*``)."""
        ...

    def put(self, preference: Preference) -> None: ...
    def languages(self, usernames: Iterable[str]) -> Mapping[str, str]:
        """``username -> language`` of those who chose one."""
        ...

    def set_language(self, username: str, language: str) -> None: ...


class UnitOfWork(Protocol):
    @property
    def users(self) -> UserRepository: ...
    @property
    def pools(self) -> PoolRepository: ...
    @property
    def chairs(self) -> ChairRepository: ...
    @property
    def projects(self) -> ProjectRepository: ...
    @property
    def requests(self) -> RequestRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def notices(self) -> NoticeOutbox: ...
    @property
    def preferences(self) -> NoticePreferences: ...

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class RoundRepository(Protocol):
    def add(self, allocation_round: AllocationRound) -> AllocationRound:
        """Store a new round; returns it with its id."""
        ...

    def get(self, round_id: int, *, lock: bool = False) -> AllocationRound | None:
        """The round with its weights, minimums, edits and lines; with ``lock``, its row
        locked to the end of the transaction (two approvals of one round never interleave)."""
        ...

    def list(self) -> Sequence[AllocationRound]:
        """Every round, newest first, without its lines."""
        ...

    def update(self, allocation_round: AllocationRound) -> None:
        """Write the round's state, weights, minimums, edits and lines as given."""
        ...


class LendingRepository(Protocol):
    """Each chair's lending policy and each project's lending and borrowing limits."""

    def policy(self, chair_id: str) -> ReturnPolicy:
        """The chair's policy (:attr:`ReturnPolicy.PERIOD_END` when none was set)."""
        ...

    def limits(self, project_ids: Sequence[str]) -> Sequence[Limits]:
        """The limits of these projects, in their order (no limit when none was set)."""
        ...

    def set_policy(self, chair_id: str, policy: ReturnPolicy) -> None: ...
    def set_limits(self, limits: Limits) -> None: ...


class RegulationRepository(Protocol):
    """Each regulated pool's rule (at most one per pool)."""

    def get(self, pool_id: str) -> Regulation | None: ...
    def list(self) -> Sequence[Regulation]: ...
    def put(self, regulation: Regulation) -> None: ...
    def remove(self, pool_id: str) -> None: ...


class RoundsUnitOfWork(UnitOfWork, Protocol):
    """A unit of work that also stores allocation rounds, lending terms and regulations."""

    @property
    def rounds(self) -> RoundRepository: ...
    @property
    def lending(self) -> LendingRepository: ...
    @property
    def regulations(self) -> RegulationRepository: ...


class SlurmAssociations(Protocol):
    """Slurm's accounting on one cluster, as enforcement reads and writes it. Both raise
    :class:`allocator.errors.SlurmCommandFailed` when Slurm does not answer."""

    def read(self, cluster: str, accounts: Sequence[str]) -> SlurmState: ...
    def write(self, change: Change) -> None: ...
