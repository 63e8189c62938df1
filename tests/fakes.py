"""In-memory adapters implementing the allocator's ports: fakes, not mocks."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Self, TypeVar

from allocator.errors import PeriodIsClosed
from allocator.ledger import Flows, flows_of
from allocator.lending import Limits, ReturnPolicy
from allocator.model import (
    AllocationRequest,
    AuditEvent,
    Chair,
    EntryKind,
    LedgerEntry,
    Pool,
    Project,
    RequestState,
    User,
)
from allocator.notices import Channel, Kind, Notice, Preference
from allocator.ports import Newest
from allocator.regulation import Regulation
from allocator.round_model import AllocationRound

_Row = TypeVar("_Row", LedgerEntry, AuditEvent)


def _window(rows: Sequence[_Row], window: Newest) -> list[_Row]:
    """``rows`` (oldest first, each with its id) cut to ``window``, newest first."""
    below = [r for r in reversed(rows) if window.before is None or (r.id or 0) < window.before]
    return below[: window.first]


class _Store:
    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.pools: dict[str, Pool] = {}
        self.chairs: dict[str, Chair] = {}
        self.projects: dict[str, Project] = {}
        self.requests: dict[int, AllocationRequest] = {}
        self.ledger: list[LedgerEntry] = []
        self.audit: list[AuditEvent] = []
        self.closed: set[str] = set()
        #: the outbox: notice key -> notice
        self.notices: dict[str, Notice] = {}
        self.preferences: dict[tuple[str, Kind, Channel], Preference] = {}
        self.languages: dict[str, str] = {}
        self.rounds: dict[int, AllocationRound] = {}
        self.policies: dict[str, ReturnPolicy] = {}
        self.limits: dict[str, Limits] = {}
        self.regulations: dict[str, Regulation] = {}


class FakeUsers:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def get(self, username: str) -> User | None:
        return self.s.users.get(username)

    def add(self, user: User) -> None:
        self.s.users[user.username] = user

    def list(self) -> Sequence[User]:
        return sorted(self.s.users.values(), key=lambda u: u.username)


class FakePools:
    def __init__(self, store: _Store, events: list[tuple[str, str]]) -> None:
        self.s = store
        self.locked: list[str] = []
        self.events = events

    def get(self, pool_id: str) -> Pool | None:
        return self.s.pools.get(pool_id)

    def add(self, pool: Pool) -> None:
        self.s.pools[pool.id] = pool

    def update(self, pool: Pool) -> None:
        self.s.pools[pool.id] = pool

    def list(self) -> Sequence[Pool]:
        return sorted(self.s.pools.values(), key=lambda p: p.id)

    def ids(self) -> Sequence[str]:
        return sorted(self.s.pools)

    def units(self) -> Mapping[str, str]:
        return {p.id: p.unit for p in self.s.pools.values()}

    def exists(self, pool_id: str) -> bool:
        return pool_id in self.s.pools

    def lock(self, pool_id: str) -> None:
        self.locked.append(pool_id)
        self.events.append(("pool_lock", pool_id))


class FakeChairs:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def get(self, chair_id: str) -> Chair | None:
        return self.s.chairs.get(chair_id)

    def add(self, chair: Chair) -> None:
        self.s.chairs[chair.id] = chair

    def list(self) -> Sequence[Chair]:
        return sorted(self.s.chairs.values(), key=lambda c: c.id)


class FakeProjects:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def get(self, project_id: str) -> Project | None:
        return self.s.projects.get(project_id)

    def add(self, project: Project) -> None:
        self.s.projects[project.id] = project

    def update(self, project: Project) -> None:
        self.s.projects[project.id] = project

    def list(self, chair_id: str | None = None, member: str | None = None) -> Sequence[Project]:
        return sorted(
            (
                p
                for p in self.s.projects.values()
                if chair_id in (None, p.chair_id) and (member is None or p.has_member(member))
            ),
            key=lambda p: p.id,
        )

    def ids(self, member: str | None = None) -> Sequence[str]:
        return [p.id for p in self.list(None, member)]

    def visible(self, project_id: str, username: str, everything: bool) -> bool:
        project = self.s.projects.get(project_id)
        return project is not None and (everything or project.has_member(username))

    def by_slurm_account(self, cluster: str, account: str) -> Project | None:
        for p in self.s.projects.values():
            if any(a.cluster == cluster and a.account == account for a in p.slurm_accounts):
                return p
        return None


class FakeRequests:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def get(self, request_id: int) -> AllocationRequest | None:
        return self.s.requests.get(request_id)

    def add(self, request: AllocationRequest) -> AllocationRequest:
        stored = replace(request, id=len(self.s.requests) + 1)
        self.s.requests[stored.id] = stored
        return stored

    def update(self, request: AllocationRequest) -> None:
        self.s.requests[request.id] = request

    def list(
        self, project_ids: Sequence[str] | None = None, state: RequestState | None = None
    ) -> Sequence[AllocationRequest]:
        return [
            r
            for _, r in sorted(self.s.requests.items())
            if (project_ids is None or r.project_id in project_ids) and state in (None, r.state)
        ]


class FakeLedger:
    def __init__(self, store: _Store, events: list[tuple[str, str]]) -> None:
        self.s = store
        self.events = events
        self.close_lock = ""

    def lock_closing(self, exclusive: bool = False) -> None:
        if self.close_lock != "exclusive":
            self.close_lock = "exclusive" if exclusive else "shared"
        self.events.append(("close_lock", "exclusive" if exclusive else "shared"))

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        # The SQL ledger's safety net: no entry lands in a closed period, nor without the lock.
        if entry.period in self.s.closed:
            raise PeriodIsClosed(entry.period)
        assert self.close_lock, f"an entry into {entry.period} without the close lock"
        stored = replace(entry, id=len(self.s.ledger) + 1)
        self.s.ledger.append(stored)
        return stored

    def flows(self, pool_id: str, period: str) -> Flows:
        return flows_of(e for e in self.s.ledger if e.pool_id == pool_id and e.period == period)

    def flows_in(
        self, pool_ids: Sequence[str], period: str, accounts: Sequence[str] | None = None
    ) -> Mapping[str, Flows]:
        return {
            pool_id: flows_of(
                e
                for e in self.s.ledger
                if e.pool_id == pool_id
                and e.period == period
                and (accounts is None or e.source in accounts or e.target in accounts)
            )
            for pool_id in pool_ids
        }

    def entry(self, entry_id: int) -> LedgerEntry | None:
        return next((e for e in self.s.ledger if e.id == entry_id), None)

    def entries(
        self,
        pool_id: str | None = None,
        period: str | None = None,
        account: str | None = None,
        request_id: int | None = None,
        window: Newest | None = None,
    ) -> Sequence[LedgerEntry]:
        found = [
            e
            for e in self.s.ledger
            if pool_id in (None, e.pool_id)
            and period in (None, e.period)
            and (account is None or account in (e.source, e.target))
            and request_id in (None, e.request_id)
        ]
        return found if window is None else _window(found, window)

    def has_reference(self, pool_id: str, period: str, reference: str) -> bool:
        return any(
            e.pool_id == pool_id and e.period == period and e.reference == reference
            for e in self.s.ledger
        )

    def clawed_back(self, period: str) -> Mapping[tuple[str, str], int]:
        out: dict[tuple[str, str], int] = {}
        for e in self.s.ledger:
            if (
                e.period == period
                and e.kind is EntryKind.RELEASE
                and e.source.startswith("project:")
                and e.reference.startswith("clawback:")
            ):
                key = (e.pool_id, e.source.removeprefix("project:"))
                out[key] = out.get(key, 0) + e.amount
        return out

    def is_closed(self, period: str) -> bool:
        self.events.append(("is_closed", period))
        return period in self.s.closed


class FakeAudit:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def append(self, event: AuditEvent) -> None:
        self.s.audit.append(replace(event, id=len(self.s.audit) + 1))

    def list(
        self, subject: str | None = None, window: Newest | None = None
    ) -> Sequence[AuditEvent]:
        found = [e for e in self.s.audit if subject in (None, e.subject)]
        return found if window is None else _window(found, window)


class FakeNotices:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def add(self, notices: Sequence[Notice]) -> int:
        new = [n for n in notices if n.key not in self.s.notices]
        self.s.notices.update((n.key, n) for n in new)
        return len(new)


class FakePreferences:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def of(self, usernames: Iterable[str]) -> Sequence[Preference]:
        wanted = {*usernames, "*"}
        return [p for p in self.s.preferences.values() if p.username in wanted]

    def put(self, preference: Preference) -> None:
        p = preference
        self.s.preferences[(p.username, p.kind, p.channel)] = p

    def languages(self, usernames: Iterable[str]) -> Mapping[str, str]:
        return {u: lang for u, lang in self.s.languages.items() if u in set(usernames)}

    def set_language(self, username: str, language: str) -> None:
        self.s.languages[username] = language


class FakeRounds:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def add(self, allocation_round: AllocationRound) -> AllocationRound:
        stored = replace(allocation_round, id=len(self.s.rounds) + 1)
        self.s.rounds[stored.id] = stored
        return stored

    def get(self, round_id: int, *, lock: bool = False) -> AllocationRound | None:
        return self.s.rounds.get(round_id)

    def list(self) -> Sequence[AllocationRound]:
        return [
            replace(r, weights=(), minimums=(), edits=(), lines=())
            for _, r in sorted(self.s.rounds.items(), reverse=True)
        ]

    def update(self, allocation_round: AllocationRound) -> None:
        self.s.rounds[allocation_round.id] = allocation_round


class FakeLending:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def policy(self, chair_id: str) -> ReturnPolicy:
        return self.s.policies.get(chair_id, ReturnPolicy.PERIOD_END)

    def limits(self, project_ids: Sequence[str]) -> Sequence[Limits]:
        return [self.s.limits.get(p, Limits(p)) for p in project_ids]

    def set_policy(self, chair_id: str, policy: ReturnPolicy) -> None:
        self.s.policies[chair_id] = policy

    def set_limits(self, limits: Limits) -> None:
        self.s.limits[limits.project_id] = limits


class FakeRegulations:
    def __init__(self, store: _Store) -> None:
        self.s = store

    def get(self, pool_id: str) -> Regulation | None:
        return self.s.regulations.get(pool_id)

    def list(self) -> Sequence[Regulation]:
        return [r for _, r in sorted(self.s.regulations.items())]

    def put(self, regulation: Regulation) -> None:
        self.s.regulations[regulation.pool_id] = regulation

    def remove(self, pool_id: str) -> None:
        self.s.regulations.pop(pool_id, None)


class FakeUnitOfWork:
    """Works on a copy of the store; ``commit`` publishes it, anything else discards it."""

    def __init__(self) -> None:
        self.committed_store = _Store()
        self.commits = 0
        self._depth = 0
        #: ("pool_lock", id), ("close_lock", mode), ("is_closed", period), in call order
        self.events: list[tuple[str, str]] = []

    def __enter__(self) -> Self:
        if self._depth == 0:
            self._work = copy.deepcopy(self.committed_store)
            self.users = FakeUsers(self._work)
            self.pools = FakePools(self._work, self.events)
            self.chairs = FakeChairs(self._work)
            self.projects = FakeProjects(self._work)
            self.requests = FakeRequests(self._work)
            self.ledger = FakeLedger(self._work, self.events)
            self.audit = FakeAudit(self._work)
            self.notices = FakeNotices(self._work)
            self.preferences = FakePreferences(self._work)
            self.rounds = FakeRounds(self._work)
            self.lending = FakeLending(self._work)
            self.regulations = FakeRegulations(self._work)
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._depth -= 1

    def commit(self) -> None:
        if self._depth <= 1:
            self.committed_store = copy.deepcopy(self._work)
            self.commits += 1

    def rollback(self) -> None:
        self._work = copy.deepcopy(self.committed_store)
