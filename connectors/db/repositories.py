"""SQL repositories: ``select()`` queries and explicit row <-> domain mapping."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import BigInteger, Select, delete, func, select
from sqlalchemy.orm import Session

from allocator.errors import PeriodIsClosed
from allocator.ledger import Flows
from allocator.model import (
    AllocationRequest,
    AuditEvent,
    BillingMode,
    Chair,
    ClosePolicy,
    ClusterRoute,
    Comment,
    EntryKind,
    GpuInventory,
    LedgerEntry,
    NodeShape,
    Pool,
    PoolKind,
    Project,
    ProjectKind,
    Rate,
    RequestLine,
    RequestState,
    Role,
    SlurmAccount,
    User,
)
from connectors.db import tables as t
from connectors.db.locks import hold_close_lock


class SqlUsers:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, username: str) -> User | None:
        row = self.session.get(t.UserRow, username)
        return None if row is None else _user(row)

    def add(self, user: User) -> None:
        self.session.add(
            t.UserRow(
                username=user.username,
                role=user.role.value,
                full_name=user.full_name,
                email=user.email,
            )
        )
        self.session.flush()

    def list(self) -> Sequence[User]:
        rows = self.session.scalars(select(t.UserRow).order_by(t.UserRow.username))
        return [_user(r) for r in rows]


def _user(row: t.UserRow) -> User:
    return User(row.username, Role(row.role), row.full_name, row.email)


class SqlPools:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, pool_id: str) -> Pool | None:
        row = self.session.get(t.PoolRow, pool_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.PoolRow]) -> list[Pool]:
        """The pools of ``rows`` with their children: one query per child table, not per pool."""
        if not rows:
            return []
        s, ids = self.session, [r.id for r in rows]
        inventory: dict[str, list[GpuInventory]] = defaultdict(list)
        for i in s.scalars(
            select(t.PoolInventoryRow)
            .where(t.PoolInventoryRow.pool_id.in_(ids))
            .order_by(t.PoolInventoryRow.gpu_type)
        ):
            inventory[i.pool_id].append(GpuInventory(i.gpu_type, i.count))
        rates: dict[str, list[Rate]] = defaultdict(list)
        for r in s.scalars(
            select(t.PoolRateRow)
            .where(t.PoolRateRow.pool_id.in_(ids))
            .order_by(t.PoolRateRow.gpu_type, t.PoolRateRow.effective_from)
        ):
            rates[r.pool_id].append(Rate(r.gpu_type, r.rate_milli, r.effective_from))
        routes: dict[str, list[ClusterRoute]] = defaultdict(list)
        for route in s.scalars(
            select(t.PoolRouteRow)
            .where(t.PoolRouteRow.pool_id.in_(ids))
            .order_by(t.PoolRouteRow.cluster, t.PoolRouteRow.partition)
        ):
            routes[route.pool_id].append(
                ClusterRoute(route.cluster, route.partition, route.gpu_type)
            )
        shapes: dict[str, list[tuple[str, NodeShape]]] = defaultdict(list)
        for n in s.scalars(
            select(t.PoolNodeShapeRow)
            .where(t.PoolNodeShapeRow.pool_id.in_(ids))
            .order_by(t.PoolNodeShapeRow.partition)
        ):
            shapes[n.pool_id].append((n.partition, NodeShape(n.gpus, n.cpus, n.mem_mb)))
        return [
            Pool(
                id=row.id,
                name=row.name,
                kind=PoolKind(row.kind),
                unit=row.unit,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                inventory=tuple(inventory[row.id]),
                availability_milli=row.availability_milli,
                overcommit_milli=row.overcommit_milli,
                billing_mode=BillingMode(row.billing_mode),
                close_policy=ClosePolicy(row.close_policy),
                carryover_cap_milli=row.carryover_cap_milli,
                routes=tuple(routes[row.id]),
                node_shapes=tuple(shapes[row.id]),
                rates=tuple(rates[row.id]),
                description=row.description,
            )
            for row in rows
        ]

    def add(self, pool: Pool) -> None:
        row = t.PoolRow(id=pool.id)
        self._sync(row, pool)
        self.session.add(row)
        self._sync_children(pool)

    def update(self, pool: Pool) -> None:
        row = self.session.get(t.PoolRow, pool.id)
        assert row is not None
        self._sync(row, pool)
        self._sync_children(pool)

    @staticmethod
    def _sync(row: t.PoolRow, pool: Pool) -> None:
        row.name, row.kind, row.unit = pool.name, pool.kind.value, pool.unit
        row.valid_from, row.valid_until = pool.valid_from, pool.valid_until
        row.availability_milli, row.overcommit_milli = (
            pool.availability_milli,
            pool.overcommit_milli,
        )
        row.billing_mode, row.close_policy = pool.billing_mode.value, pool.close_policy.value
        row.carryover_cap_milli, row.description = pool.carryover_cap_milli, pool.description

    def _sync_children(self, pool: Pool) -> None:
        s = self.session
        # Inventory, routes and shapes are configuration; rates are append-only history.
        s.execute(delete(t.PoolInventoryRow).where(t.PoolInventoryRow.pool_id == pool.id))
        s.execute(delete(t.PoolRouteRow).where(t.PoolRouteRow.pool_id == pool.id))
        s.execute(delete(t.PoolNodeShapeRow).where(t.PoolNodeShapeRow.pool_id == pool.id))
        s.add_all(
            t.PoolInventoryRow(pool_id=pool.id, gpu_type=i.gpu_type, count=i.count)
            for i in pool.inventory
        )
        s.add_all(
            t.PoolRouteRow(
                cluster=r.cluster, partition=r.partition, gpu_type=r.gpu_type, pool_id=pool.id
            )
            for r in pool.routes
        )
        s.add_all(
            t.PoolNodeShapeRow(
                pool_id=pool.id, partition=p, gpus=n.gpus, cpus=n.cpus, mem_mb=n.mem_mb
            )
            for p, n in pool.node_shapes
        )
        known = {
            (r.gpu_type, r.effective_from)
            for r in s.scalars(select(t.PoolRateRow).where(t.PoolRateRow.pool_id == pool.id))
        }
        s.add_all(
            t.PoolRateRow(
                pool_id=pool.id,
                gpu_type=r.gpu_type,
                effective_from=r.effective_from,
                rate_milli=r.rate_milli,
            )
            for r in pool.rates
            if (r.gpu_type, r.effective_from) not in known
        )
        s.flush()

    def list(self) -> Sequence[Pool]:
        return self._load(list(self.session.scalars(select(t.PoolRow).order_by(t.PoolRow.id))))

    def ids(self) -> Sequence[str]:
        return list(self.session.scalars(select(t.PoolRow.id).order_by(t.PoolRow.id)))

    def exists(self, pool_id: str) -> bool:
        return self.session.scalar(select(t.PoolRow.id).where(t.PoolRow.id == pool_id)) is not None

    def lock(self, pool_id: str) -> None:
        # PostgreSQL: a row lock held to the end of the transaction serialises every
        # amount-moving change of this pool. SQLite: BEGIN IMMEDIATE already serialises writers.
        self.session.execute(select(t.PoolRow.id).where(t.PoolRow.id == pool_id).with_for_update())


class SqlChairs:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, chair_id: str) -> Chair | None:
        row = self.session.get(t.ChairRow, chair_id)
        return None if row is None else _chair(row)

    def add(self, chair: Chair) -> None:
        self.session.add(
            t.ChairRow(
                id=chair.id,
                name=chair.name,
                institution=chair.institution,
                holder=chair.holder,
                start=chair.start,
                end=chair.end,
            )
        )
        self.session.flush()

    def list(self) -> Sequence[Chair]:
        return [_chair(r) for r in self.session.scalars(select(t.ChairRow).order_by(t.ChairRow.id))]


def _chair(row: t.ChairRow) -> Chair:
    return Chair(row.id, row.name, row.institution, row.holder, row.start, row.end)


class SqlProjects:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, project_id: str) -> Project | None:
        row = self.session.get(t.ProjectRow, project_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.ProjectRow]) -> list[Project]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        members: dict[str, list[str]] = defaultdict(list)
        for m in self.session.scalars(
            select(t.ProjectMemberRow)
            .where(t.ProjectMemberRow.project_id.in_(ids))
            .order_by(t.ProjectMemberRow.project_id, t.ProjectMemberRow.position)
        ):
            members[m.project_id].append(m.username)
        accounts: dict[str, list[SlurmAccount]] = defaultdict(list)
        for a in self.session.scalars(
            select(t.SlurmAccountRow)
            .where(t.SlurmAccountRow.project_id.in_(ids))
            .order_by(t.SlurmAccountRow.cluster, t.SlurmAccountRow.account)
        ):
            accounts[a.project_id].append(SlurmAccount(a.cluster, a.account))
        return [
            Project(
                id=r.id,
                chair_id=r.chair_id,
                name=r.name,
                kind=ProjectKind(r.kind),
                pi=r.pi,
                members=tuple(members[r.id]),
                start=r.start,
                end=r.end,
                slurm_accounts=tuple(accounts[r.id]),
            )
            for r in rows
        ]

    def add(self, project: Project) -> None:
        row = t.ProjectRow(id=project.id)
        self._sync(row, project)
        self.session.add(row)
        self._sync_children(project)

    def update(self, project: Project) -> None:
        row = self.session.get(t.ProjectRow, project.id)
        assert row is not None
        self._sync(row, project)
        self._sync_children(project)

    @staticmethod
    def _sync(row: t.ProjectRow, project: Project) -> None:
        row.chair_id, row.name, row.kind = project.chair_id, project.name, project.kind.value
        row.pi, row.start, row.end = project.pi, project.start, project.end

    def _sync_children(self, project: Project) -> None:
        s = self.session
        s.execute(delete(t.ProjectMemberRow).where(t.ProjectMemberRow.project_id == project.id))
        s.execute(delete(t.SlurmAccountRow).where(t.SlurmAccountRow.project_id == project.id))
        s.flush()
        s.add_all(
            t.ProjectMemberRow(project_id=project.id, username=u, position=i)
            for i, u in enumerate(project.members)
        )
        s.add_all(
            t.SlurmAccountRow(cluster=a.cluster, account=a.account, project_id=project.id)
            for a in project.slurm_accounts
        )
        s.flush()

    def list(self, chair_id: str | None = None, member: str | None = None) -> Sequence[Project]:
        query = _of_member(select(t.ProjectRow).order_by(t.ProjectRow.id), member)
        if chair_id is not None:
            query = query.where(t.ProjectRow.chair_id == chair_id)
        return self._load(list(self.session.scalars(query)))

    def ids(self, member: str | None = None) -> Sequence[str]:
        query = _of_member(select(t.ProjectRow.id).order_by(t.ProjectRow.id), member)
        return list(self.session.scalars(query))

    def visible(self, project_id: str, username: str, everything: bool) -> bool:
        P, M = t.ProjectRow, t.ProjectMemberRow
        query = select(P.id).where(P.id == project_id)
        if not everything:
            member = select(M.username).where(M.project_id == P.id, M.username == username)
            query = query.where((P.pi == username) | member.exists())
        return self.session.scalar(query) is not None

    def by_slurm_account(self, cluster: str, account: str) -> Project | None:
        row = self.session.get(t.SlurmAccountRow, (cluster, account))
        return None if row is None else self.get(row.project_id)


def _of_member(query: Select[Any], member: str | None) -> Select[Any]:
    """Only the projects whose PI or member is ``member`` (all when ``None``)."""
    if member is None:
        return query
    P, M = t.ProjectRow, t.ProjectMemberRow
    return query.where(
        (P.pi == member) | P.id.in_(select(M.project_id).where(M.username == member))
    )


class SqlRequests:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, request_id: int) -> AllocationRequest | None:
        row = self.session.get(t.RequestRow, request_id)
        return None if row is None else self._load([row])[0]

    def _load(self, rows: Sequence[t.RequestRow]) -> list[AllocationRequest]:
        if not rows:
            return []
        ids = [r.id for r in rows]
        lines: dict[int, list[RequestLine]] = defaultdict(list)
        for ln in self.session.scalars(
            select(t.RequestLineRow)
            .where(t.RequestLineRow.request_id.in_(ids))
            .order_by(t.RequestLineRow.request_id, t.RequestLineRow.period)
        ):
            lines[ln.request_id].append(RequestLine(ln.period, ln.requested, ln.granted))
        comments: dict[int, list[Comment]] = defaultdict(list)
        for c in self.session.scalars(
            select(t.RequestCommentRow)
            .where(t.RequestCommentRow.request_id.in_(ids))
            .order_by(t.RequestCommentRow.id)
        ):
            comments[c.request_id].append(Comment(c.author, c.at, c.text))
        return [
            AllocationRequest(
                id=r.id,
                project_id=r.project_id,
                pool_id=r.pool_id,
                requester=r.requester,
                justification=r.justification,
                created_at=r.created_at,
                lines=tuple(lines[r.id]),
                gpu_type=r.gpu_type,
                state=RequestState(r.state),
                decided_by=r.decided_by,
                decided_at=r.decided_at,
                decision_reason=r.decision_reason,
                comments=tuple(comments[r.id]),
            )
            for r in rows
        ]

    def add(self, request: AllocationRequest) -> AllocationRequest:
        row = t.RequestRow(
            project_id=request.project_id,
            pool_id=request.pool_id,
            requester=request.requester,
            justification=request.justification,
            created_at=request.created_at,
            gpu_type=request.gpu_type,
            state=request.state.value,
        )
        self.session.add(row)
        self.session.flush()
        stored = AllocationRequest(
            row.id,
            request.project_id,
            request.pool_id,
            request.requester,
            request.justification,
            request.created_at,
            request.lines,
            request.gpu_type,
        )
        self.session.add_all(
            t.RequestLineRow(
                request_id=row.id, period=ln.period, requested=ln.requested, granted=ln.granted
            )
            for ln in request.lines
        )
        self.session.flush()
        return stored

    def update(self, request: AllocationRequest) -> None:
        s = self.session
        row = s.get(t.RequestRow, request.id)
        assert row is not None
        row.state, row.decided_by = request.state.value, request.decided_by
        row.decided_at, row.decision_reason = request.decided_at, request.decision_reason
        for ln in request.lines:
            line_row = s.get(t.RequestLineRow, (request.id, ln.period))
            assert line_row is not None
            line_row.granted = ln.granted
        stored = (
            s.scalar(
                select(func.count())
                .select_from(t.RequestCommentRow)
                .where(t.RequestCommentRow.request_id == request.id)
            )
            or 0
        )
        s.add_all(
            t.RequestCommentRow(request_id=request.id, author=c.author, at=c.at, text=c.text)
            for c in request.comments[stored:]
        )
        s.flush()

    def list(
        self, project_ids: Sequence[str] | None = None, state: RequestState | None = None
    ) -> Sequence[AllocationRequest]:
        query = select(t.RequestRow).order_by(t.RequestRow.id)
        if project_ids is not None:
            query = query.where(t.RequestRow.project_id.in_(project_ids))
        if state is not None:
            query = query.where(t.RequestRow.state == state.value)
        return self._load(list(self.session.scalars(query)))


class SqlLedger:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.forget_locks()

    def forget_locks(self) -> None:
        """The transaction ended (commit or rollback): its locks are gone."""
        self._close_lock = ""
        self._open: set[str] = set()  # periods read as open under the close lock

    def lock_closing(self, exclusive: bool = False) -> None:
        if self._close_lock == "exclusive" or (self._close_lock and not exclusive):
            return
        hold_close_lock(self.session.connection(), exclusive=exclusive)
        self._close_lock = "exclusive" if exclusive else "shared"

    def append(self, entry: LedgerEntry) -> LedgerEntry:
        # Safety net under every use case: no entry lands in a period not read as open under
        # the close lock in this transaction (the use cases check it first, naming the field).
        if entry.period not in self._open:
            self.lock_closing()
            if self.is_closed(entry.period):
                raise PeriodIsClosed(entry.period)
        row = t.LedgerEntryRow(
            kind=entry.kind.value,
            pool_id=entry.pool_id,
            period=entry.period,
            source=entry.source,
            target=entry.target,
            amount=entry.amount,
            actor=entry.actor,
            at=entry.at,
            reason=entry.reason,
            request_id=entry.request_id,
            reference=entry.reference,
        )
        self.session.add(row)
        self.session.flush()
        return _entry(row)

    def flows(self, pool_id: str, period: str) -> Flows:
        E = t.LedgerEntryRow
        rows = self.session.execute(
            select(E.source, E.target, E.kind, func.sum(E.amount))
            .where(E.pool_id == pool_id, E.period == period)
            .group_by(E.source, E.target, E.kind)
        )
        return {(s, tg, EntryKind(k)): int(a) for s, tg, k, a in rows}

    def flows_in(
        self, pool_ids: Sequence[str], period: str, accounts: Sequence[str] | None = None
    ) -> Mapping[str, Flows]:
        E = t.LedgerEntryRow
        out: dict[str, dict[tuple[str, str, EntryKind], int]] = {p: {} for p in pool_ids}
        if not pool_ids or (accounts is not None and not accounts):
            return out
        query = (
            # bigint, not numeric: the driver then makes ints, not Decimals
            select(E.pool_id, E.source, E.target, E.kind, func.sum(E.amount).cast(BigInteger))
            .where(E.pool_id.in_(list(pool_ids)), E.period == period)
            .group_by(E.pool_id, E.source, E.target, E.kind)
        )
        if accounts is not None:
            query = query.where(E.source.in_(list(accounts)) | E.target.in_(list(accounts)))
        kinds = {k.value: k for k in EntryKind}
        for pool_id, source, target, kind, amount in self.session.execute(query):
            out[pool_id][(source, target, kinds[kind])] = amount
        return out

    def entries(
        self,
        pool_id: str | None = None,
        period: str | None = None,
        account: str | None = None,
        request_id: int | None = None,
    ) -> Sequence[LedgerEntry]:
        E = t.LedgerEntryRow
        query = select(E).order_by(E.id)
        if pool_id is not None:
            query = query.where(E.pool_id == pool_id)
        if period is not None:
            query = query.where(E.period == period)
        if account is not None:
            query = query.where((E.source == account) | (E.target == account))
        if request_id is not None:
            query = query.where(E.request_id == request_id)
        return [_entry(r) for r in self.session.scalars(query)]

    def has_reference(self, pool_id: str, period: str, reference: str) -> bool:
        E = t.LedgerEntryRow
        found = self.session.scalar(
            select(E.id)
            .where(E.pool_id == pool_id, E.period == period, E.reference == reference)
            .limit(1)
        )
        return found is not None

    def is_closed(self, period: str) -> bool:
        closed = self.session.get(t.PeriodCloseRow, period) is not None
        if self._close_lock and not closed:
            self._open.add(period)  # and it stays open until this transaction ends
        return closed


def _entry(row: t.LedgerEntryRow) -> LedgerEntry:
    return LedgerEntry(
        EntryKind(row.kind),
        row.pool_id,
        row.period,
        row.source,
        row.target,
        row.amount,
        row.actor,
        row.at,
        row.reason,
        row.request_id,
        row.reference,
        row.id,
    )


class SqlAudit:
    def __init__(self, session: Session) -> None:
        self.session = session

    def append(self, event: AuditEvent) -> None:
        self.session.add(
            t.AuditEventRow(
                actor=event.actor,
                at=event.at,
                action=event.action,
                subject=event.subject,
                detail=event.detail,
            )
        )
        self.session.flush()

    def list(self, subject: str | None = None) -> Sequence[AuditEvent]:
        query = select(t.AuditEventRow).order_by(t.AuditEventRow.id)
        if subject is not None:
            query = query.where(t.AuditEventRow.subject == subject)
        return [
            AuditEvent(r.actor, r.at, r.action, r.subject, r.detail, r.id)
            for r in self.session.scalars(query)
        ]
