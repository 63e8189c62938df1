"""Use cases of the allocator: ``with uow: load -> rule -> journal -> commit``.

Every function takes its collaborators (unit of work, the acting user, the time) as
arguments. Every change of an amount is a ledger entry, every other change an audit event;
nothing is ever updated in place except a request's state (whose every transition is audited).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from allocator import rules
from allocator.errors import (
    AlreadyExists,
    Forbidden,
    InvalidInput,
    NotFound,
    OverCommit,
    PeriodIsClosed,
)
from allocator.ledger import (
    ChairBalance,
    PoolBalance,
    ProjectBalance,
    all_project_balances,
    balance,
    chair_balance,
    headroom,
    pool_balance,
    pool_capacity,
    received,
)
from allocator.model import (
    ADJUSTMENTS,
    EXTERNAL,
    MILLI,
    AllocationRequest,
    AuditEvent,
    Chair,
    Comment,
    EntryKind,
    LedgerEntry,
    Pool,
    PoolKind,
    Project,
    Rate,
    RequestLine,
    RequestState,
    Role,
    SlurmAccount,
    User,
    chair_account,
    pool_account,
    project_account,
)
from allocator.periods import Calendar, Period, require_utc
from allocator.ports import ConsumptionLookup, UnitOfWork

ADMIN = (Role.ADMIN,)
STAFF = (Role.ADMIN, Role.ENGINEER)


# --- lookups --------------------------------------------------------------------------------


def get_pool(uow: UnitOfWork, pool_id: str, field: str = "pool_id") -> Pool:
    pool = uow.pools.get(pool_id)
    if pool is None:
        raise NotFound("pool", pool_id, field=field)
    return pool


def get_chair(uow: UnitOfWork, chair_id: str, field: str = "chair_id") -> Chair:
    chair = uow.chairs.get(chair_id)
    if chair is None:
        raise NotFound("chair", chair_id, field=field)
    return chair


def get_project(
    uow: UnitOfWork, project_id: str, actor: User | None = None, field: str = "project_id"
) -> Project:
    """A project the actor may see; an invisible one reads as unknown (no existence leak)."""
    project = uow.projects.get(project_id)
    if project is None or (actor is not None and not rules.can_see_project(actor, project)):
        raise NotFound("project", project_id, field=field)
    return project


def get_request(uow: UnitOfWork, request_id: int, actor: User) -> AllocationRequest:
    request = uow.requests.get(request_id)
    if request is None:
        raise NotFound("request", request_id, field="request_id")
    get_project(uow, request.project_id, actor)
    return request


def _audit(
    uow: UnitOfWork, actor: User, now: datetime, action: str, subject: str, detail: str
) -> None:
    uow.audit.append(AuditEvent(actor.username, now, action, subject, detail))


# --- users ----------------------------------------------------------------------------------


def create_user(uow: UnitOfWork, actor: User, now: datetime, user: User) -> User:
    rules.require_role(actor, *ADMIN)
    if not user.username or len(user.username) > 64:
        raise InvalidInput("username", "must be 1..64 characters")
    with uow:
        if uow.users.get(user.username) is not None:
            raise AlreadyExists("user", user.username, field="username")
        uow.users.add(user)
        _audit(uow, actor, now, "user.created", f"user:{user.username}", user.role.value)
        uow.commit()
    return user


# --- pools ------------------------------------------------------------------------------------


def create_pool(uow: UnitOfWork, actor: User, now: datetime, pool: Pool) -> Pool:
    rules.require_role(actor, *ADMIN)
    rules.check_pool_definition(pool)
    with uow:
        if uow.pools.get(pool.id) is not None:
            raise AlreadyExists("pool", pool.id, field="id")
        _check_routes_free(uow, pool)
        uow.pools.add(pool)
        _audit(uow, actor, now, "pool.created", f"pool:{pool.id}", f"{pool.kind.value} {pool.unit}")
        uow.commit()
    return pool


def _check_routes_free(uow: UnitOfWork, pool: Pool) -> None:
    """A cluster/partition draws from one pool only."""
    taken = {(r.cluster, r.partition): p.id for p in uow.pools.list() for r in p.routes}
    for route in pool.routes:
        owner = taken.get((route.cluster, route.partition))
        if owner is not None:
            where = route.cluster + (f"/{route.partition}" if route.partition else "")
            raise AlreadyExists("route", f"{where} (drawn by pool {owner})", field="routes")


def add_grant(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    amount: int,
    reason: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    """Deposit a national grant, split by time over the site's periods of its window.

    A window that covers a closed period is refused whole (409 naming the period): a grant is
    what the centre granted for its window, and depositing only the open periods' share would
    silently drop hours; the administrator gives a window that starts after the close.
    """
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    with uow:
        pool = get_pool(uow, pool_id)
        start = require_utc(start, "start") if start else pool.valid_from
        end = require_utc(end, "end") if end else pool.valid_until
        if start is None or end is None:
            raise InvalidInput("start", "a grant needs a window (the pool has none)")
        if not pool.is_valid_over(start, end) or (
            (pool.valid_from and start < pool.valid_from)
            or (pool.valid_until and end > pool.valid_until)
        ):
            raise InvalidInput("start", "the grant window must lie inside the pool's validity")
        uow.pools.lock(pool_id)
        parts = [(p, n) for p, n in rules.split_pro_rata(amount, start, end, calendar) if n]
        uow.ledger.lock_closing()  # as in _require_open: "closed" is read under the lock
        closed = [p for p, _ in parts if uow.ledger.is_closed(p.label)]
        if closed:
            raise PeriodIsClosed(
                closed[0].label,
                field="start",
                hint="a grant's window must not cover a closed period; start it at"
                f" {closed[-1].end.isoformat()} or later",
            )
        entries = []
        for period, share in parts:
            entries.append(
                uow.ledger.append(
                    LedgerEntry(
                        EntryKind.DEPOSIT,
                        pool_id,
                        period.label,
                        EXTERNAL,
                        pool_account(pool_id),
                        share,
                        actor.username,
                        now,
                        reason,
                    )
                )
            )
        uow.commit()
    return entries


def open_period(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period_label: str,
    *,
    calendar: Calendar,
) -> LedgerEntry | None:
    """Deposit a local pool's capacity for a period (once; later calls change nothing)."""
    rules.require_role(actor, *ADMIN)
    period = calendar.check(period_label, now)
    with uow:
        pool = get_pool(uow, pool_id)
        rules.check_period_in_pool(pool, period)
        uow.pools.lock(pool.id)
        _require_open(uow, period.label)
        entry = _ensure_local_capacity(uow, actor, now, pool, period)
        uow.commit()
    return entry


def _ensure_local_capacity(
    uow: UnitOfWork, actor: User, now: datetime, pool: Pool, period: Period
) -> LedgerEntry | None:
    """A local pool's capacity deposit for the period, the first time it is used; called under
    the pool's lock, the period checked open (``_prepare_period``)."""
    if pool.kind is not PoolKind.LOCAL:
        return None
    reference = f"capacity:{period.label}"
    if uow.ledger.has_reference(pool.id, period.label, reference):
        return None
    capacity = rules.local_capacity(pool, period)
    return uow.ledger.append(
        LedgerEntry(
            EntryKind.DEPOSIT,
            pool.id,
            period.label,
            EXTERNAL,
            pool_account(pool.id),
            capacity,
            actor.username,
            now,
            "local capacity for the period (inventory x hours x availability)",
            reference=reference,
        )
    )


def _require_open(uow: UnitOfWork, period: str, field: str = "period", hint: str = "") -> None:
    """Refuse a write into a closed period.

    "Closed" is read under the close lock, held to the end of the transaction: a close (which
    takes that lock exclusively) either waits for this write, or this write sees the close.
    Locks are taken in one order everywhere — the pool's, then the close lock — so writers and
    a close never deadlock.
    """
    uow.ledger.lock_closing()
    if uow.ledger.is_closed(period):
        raise PeriodIsClosed(period, field=field, hint=hint)


def set_rate(uow: UnitOfWork, actor: User, now: datetime, pool_id: str, rate: Rate) -> Pool:
    """Add an effective-dated rate; earlier rates stay in force for earlier times.

    A new rate takes effect now or later, never in the past: a rate change never changes what
    already-run jobs were charged.
    """
    rules.require_role(actor, *ADMIN)
    if rate.effective_from < now:
        raise InvalidInput(
            "effective_from", "must not be in the past (a rate change never rewrites history)"
        )
    with uow:
        pool = get_pool(uow, pool_id)
        if any(
            r.gpu_type == rate.gpu_type and r.effective_from == rate.effective_from
            for r in pool.rates
        ):
            raise AlreadyExists(
                "rate", f"{rate.gpu_type}@{rate.effective_from}", field="effective_from"
            )
        updated = replace(pool, rates=(*pool.rates, rate))
        rules.check_pool_definition(updated)
        uow.pools.update(updated)
        _audit(
            uow,
            actor,
            now,
            "pool.rate_added",
            f"pool:{pool_id}",
            f"{rate.gpu_type}={rate.rate_milli / MILLI} from {rate.effective_from.isoformat()}",
        )
        uow.commit()
    return updated


def set_overcommit(
    uow: UnitOfWork, actor: User, now: datetime, pool_id: str, factor_milli: int, reason: str
) -> Pool:
    rules.require_role(actor, *ADMIN)
    if not reason.strip():
        raise InvalidInput("reason", "an over-commit change needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        uow.pools.lock(pool_id)
        updated = replace(pool, overcommit_milli=factor_milli)
        rules.check_pool_definition(updated)
        uow.pools.update(updated)
        _audit(
            uow,
            actor,
            now,
            "pool.overcommit_set",
            f"pool:{pool_id}",
            f"{pool.overcommit_milli / MILLI} -> {factor_milli / MILLI}: {reason}",
        )
        uow.commit()
    return updated


# --- chairs and projects -----------------------------------------------------------------------


def create_chair(uow: UnitOfWork, actor: User, now: datetime, chair: Chair) -> Chair:
    rules.require_role(actor, *ADMIN)
    if not chair.id:
        raise InvalidInput("id", "must not be empty")
    with uow:
        if uow.chairs.get(chair.id) is not None:
            raise AlreadyExists("chair", chair.id, field="id")
        uow.chairs.add(chair)
        _audit(uow, actor, now, "chair.created", f"chair:{chair.id}", chair.name)
        uow.commit()
    return chair


def create_project(uow: UnitOfWork, actor: User, now: datetime, project: Project) -> Project:
    rules.require_role(actor, *ADMIN)
    if not project.id:
        raise InvalidInput("id", "must not be empty")
    if project.start and project.end and project.end <= project.start:
        raise InvalidInput("end", "must be after start")
    rules.check_project_lists(project)
    with uow:
        get_chair(uow, project.chair_id)
        if uow.projects.get(project.id) is not None:
            raise AlreadyExists("project", project.id, field="id")
        if uow.users.get(project.pi) is None:
            raise NotFound("user", project.pi, field="pi")
        for username in project.members:
            if uow.users.get(username) is None:
                raise NotFound("user", username, field="members")
        for mapping in project.slurm_accounts:
            _check_mapping_free(uow, mapping, project.id)
        uow.projects.add(project)
        _audit(uow, actor, now, "project.created", f"project:{project.id}", project.chair_id)
        uow.commit()
    return project


def _check_mapping_free(uow: UnitOfWork, mapping: SlurmAccount, project_id: str) -> None:
    owner = uow.projects.by_slurm_account(mapping.cluster, mapping.account)
    if owner is not None and owner.id != project_id:
        raise AlreadyExists(
            "slurm account",
            f"{mapping.account}@{mapping.cluster} (mapped to {owner.id})",
            field="account",
        )


def add_member(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, username: str
) -> Project:
    rules.require_role(actor, *ADMIN)
    with uow:
        project = get_project(uow, project_id)
        if uow.users.get(username) is None:
            raise NotFound("user", username, field="username")
        if project.has_member(username):
            return project
        updated = replace(project, members=(*project.members, username))
        uow.projects.update(updated)
        _audit(uow, actor, now, "project.member_added", f"project:{project_id}", username)
        uow.commit()
    return updated


def map_slurm_account(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, mapping: SlurmAccount
) -> Project:
    """Map a Slurm account on a cluster to a project (engineers and admins)."""
    rules.require_role(actor, *STAFF)
    if not mapping.cluster or not mapping.account:
        raise InvalidInput("account", "cluster and account must not be empty")
    with uow:
        project = get_project(uow, project_id)
        if mapping in project.slurm_accounts:
            return project
        _check_mapping_free(uow, mapping, project_id)
        updated = replace(project, slurm_accounts=(*project.slurm_accounts, mapping))
        uow.projects.update(updated)
        _audit(
            uow,
            actor,
            now,
            "project.slurm_account_mapped",
            f"project:{project_id}",
            f"{mapping.account}@{mapping.cluster}",
        )
        uow.commit()
    return updated


def unmap_slurm_account(
    uow: UnitOfWork, actor: User, now: datetime, project_id: str, mapping: SlurmAccount
) -> Project:
    rules.require_role(actor, *STAFF)
    with uow:
        project = get_project(uow, project_id)
        if mapping not in project.slurm_accounts:
            raise NotFound("slurm account", f"{mapping.account}@{mapping.cluster}", field="account")
        updated = replace(
            project, slurm_accounts=tuple(m for m in project.slurm_accounts if m != mapping)
        )
        uow.projects.update(updated)
        _audit(
            uow,
            actor,
            now,
            "project.slurm_account_unmapped",
            f"project:{project_id}",
            f"{mapping.account}@{mapping.cluster}",
        )
        uow.commit()
    return updated


# --- moving hours ------------------------------------------------------------------------------


def _entry(
    kind: EntryKind,
    pool_id: str,
    period: str,
    source: str,
    target: str,
    amount: int,
    actor: User,
    now: datetime,
    reason: str,
    request_id: int | None = None,
    reference: str = "",
) -> LedgerEntry:
    return LedgerEntry(
        kind,
        pool_id,
        period,
        source,
        target,
        amount,
        actor.username,
        now,
        reason,
        request_id,
        reference,
    )


def _prepare_period(
    uow: UnitOfWork, actor: User, now: datetime, pool: Pool, period: Period
) -> None:
    """Before an amount moves in a pool and period: the period lies in the pool's validity, the
    pool is locked, the period is open (and stays so until commit), a local pool has its
    capacity deposited."""
    rules.check_period_in_pool(pool, period)
    uow.pools.lock(pool.id)
    _require_open(uow, period.label)
    _ensure_local_capacity(uow, actor, now, pool, period)


def _draw_to_chair(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool: Pool,
    period: str,
    chair_id: str,
    amount: int,
    reason: str,
    request_id: int | None = None,
) -> LedgerEntry:
    flows = uow.ledger.flows(pool.id, period)
    acct = pool_account(pool.id)
    available = headroom(balance(flows, acct), pool_capacity(flows, pool.id), pool.overcommit_milli)
    if amount > available:
        raise OverCommit(f"pool {pool.id} in {period}", wanted=amount, available=max(available, 0))
    return uow.ledger.append(
        _entry(
            EntryKind.ALLOCATE,
            pool.id,
            period,
            acct,
            chair_account(chair_id),
            amount,
            actor,
            now,
            reason,
            request_id,
        )
    )


def allocate_to_chair(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    chair_id: str,
    period: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    with uow:
        pool = get_pool(uow, pool_id)
        get_chair(uow, chair_id)
        _prepare_period(uow, actor, now, pool, checked)
        entry = _draw_to_chair(uow, actor, now, pool, period, chair_id, amount, reason)
        uow.commit()
    return entry


def _allocate_project(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool: Pool,
    period: str,
    project: Project,
    amount: int,
    reason: str,
    request_id: int | None = None,
    draw_from_pool: bool = False,
) -> list[LedgerEntry]:
    """chair -> project; with ``draw_from_pool`` a shortfall is first drawn pool -> chair."""
    entries = []
    flows = uow.ledger.flows(pool.id, period)
    chair_acct = chair_account(project.chair_id)
    available = headroom(
        balance(flows, chair_acct), received(flows, chair_acct), pool.overcommit_milli
    )
    if amount > available:
        if not draw_from_pool:
            raise OverCommit(
                f"chair {project.chair_id} in {pool.id}/{period}",
                wanted=amount,
                available=max(available, 0),
            )
        shortfall = amount - max(available, 0)
        entries.append(
            _draw_to_chair(
                uow,
                actor,
                now,
                pool,
                period,
                project.chair_id,
                shortfall,
                f"drawn for project {project.id}: {reason}",
                request_id,
            )
        )
    entries.append(
        uow.ledger.append(
            _entry(
                EntryKind.ALLOCATE,
                pool.id,
                period,
                chair_acct,
                project_account(project.id),
                amount,
                actor,
                now,
                reason,
                request_id,
            )
        )
    )
    return entries


def allocate_to_project(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    draw_from_pool: bool = False,
    *,
    calendar: Calendar,
) -> list[LedgerEntry]:
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        _prepare_period(uow, actor, now, pool, checked)
        entries = _allocate_project(
            uow, actor, now, pool, period, project, amount, reason, draw_from_pool=draw_from_pool
        )
        uow.commit()
    return entries


def release(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """A project hands unused hours back to its chair."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        _prepare_period(uow, actor, now, pool, checked)
        acct = project_account(project.id)
        held = balance(uow.ledger.flows(pool.id, period), acct)
        if amount > held:
            raise OverCommit(
                f"project {project.id} in {pool.id}/{period}", wanted=amount, available=held
            )
        entry = uow.ledger.append(
            _entry(
                EntryKind.RELEASE,
                pool.id,
                period,
                acct,
                chair_account(project.chair_id),
                amount,
                actor,
                now,
                reason,
            )
        )
        uow.commit()
    return entry


def transfer(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    period: str,
    from_project: str,
    to_project: str,
    amount: int,
    reason: str,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """Move hours between two projects of one chair."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "a transfer needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        source = get_project(uow, from_project, field="from_project")
        target = get_project(uow, to_project, field="to_project")
        if source.id == target.id:
            raise InvalidInput("to_project", "must differ from from_project")
        if source.chair_id != target.chair_id:
            raise InvalidInput("to_project", "transfers stay inside one chair")
        _prepare_period(uow, actor, now, pool, checked)
        held = balance(uow.ledger.flows(pool.id, period), project_account(source.id))
        if amount > held:
            raise OverCommit(
                f"project {source.id} in {pool.id}/{period}", wanted=amount, available=max(held, 0)
            )
        entry = uow.ledger.append(
            _entry(
                EntryKind.TRANSFER,
                pool.id,
                period,
                project_account(source.id),
                project_account(target.id),
                amount,
                actor,
                now,
                reason,
            )
        )
        uow.commit()
    return entry


def adjust(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    pool_id: str,
    project_id: str,
    period: str,
    amount: int,
    reason: str,
    reference: str = "",
    kind: EntryKind = EntryKind.ADJUSTMENT,
    *,
    calendar: Calendar,
) -> LedgerEntry:
    """A signed correction: positive credits the project, negative debits it."""
    rules.require_role(actor, *ADMIN)
    rules.check_amount(amount, allow_negative=True)
    checked = calendar.check(period, now)
    if not reason.strip():
        raise InvalidInput("reason", "an adjustment needs a reason")
    with uow:
        pool = get_pool(uow, pool_id)
        project = get_project(uow, project_id)
        _prepare_period(uow, actor, now, pool, checked)
        acct = project_account(project.id)
        source, target = (ADJUSTMENTS, acct) if amount > 0 else (acct, ADJUSTMENTS)
        entry = uow.ledger.append(
            _entry(
                kind,
                pool.id,
                period,
                source,
                target,
                abs(amount),
                actor,
                now,
                reason,
                reference=reference,
            )
        )
        uow.commit()
    return entry


# --- requests ----------------------------------------------------------------------------------


def submit_request(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    project_id: str,
    pool_id: str,
    amounts: Sequence[tuple[str, int]],
    justification: str,
    gpu_type: str | None = None,
    *,
    calendar: Calendar,
) -> AllocationRequest:
    """A project member asks for hours (pool unit-seconds per period)."""
    if not amounts:
        raise InvalidInput("periods", "at least one period is needed")
    if not justification.strip():
        raise InvalidInput("justification", "must not be empty")
    if len(justification) > 10_000:
        raise InvalidInput("justification", "must be at most 10000 characters")
    seen = set()
    periods = []
    for label, amount in amounts:
        periods.append(calendar.check(label, now, "periods"))
        rules.check_amount(amount, "hours")
        if label in seen:
            raise InvalidInput("periods", f"{label} appears twice")
        seen.add(label)
    with uow:
        project = get_project(uow, project_id, actor)
        member = project.has_member(actor.username)
        if not member and actor.role is not Role.ADMIN:
            raise Forbidden("only members of the project (or an admin) may request hours for it")
        pool = get_pool(uow, pool_id)
        if gpu_type is not None and gpu_type not in pool.gpu_types():
            raise InvalidInput("gpu_type", f"{gpu_type!r} is not a GPU type of pool {pool.id!r}")
        for period in periods:
            rules.check_period_in_pool(pool, period, "periods")
            if uow.ledger.is_closed(period.label):  # it could never be approved
                raise PeriodIsClosed(period.label, field="periods")
        request = uow.requests.add(
            AllocationRequest(
                0,
                project.id,
                pool.id,
                actor.username,
                justification,
                now,
                tuple(RequestLine(label, amount) for label, amount in amounts),
                gpu_type,
            )
        )
        _audit(
            uow,
            actor,
            now,
            "request.submitted",
            f"request:{request.id}",
            f"{project.id} asks {request.requested_total}s of {pool.id}"
            + ("" if member else f" (submitted by {actor.username} on behalf of {project.id})"),
        )
        uow.commit()
    return request


def comment_request(
    uow: UnitOfWork, actor: User, now: datetime, request_id: int, text: str
) -> AllocationRequest:
    if not text.strip():
        raise InvalidInput("text", "must not be empty")
    with uow:
        request = get_request(uow, request_id, actor)
        rules.check_transition(request, "commented")
        updated = replace(request, comments=(*request.comments, Comment(actor.username, now, text)))
        uow.requests.update(updated)
        _audit(uow, actor, now, "request.commented", f"request:{request_id}", text[:200])
        uow.commit()
    return updated


def approve_request(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    request_id: int,
    granted: Sequence[tuple[str, int]] | None = None,
    reason: str = "",
    *,
    calendar: Calendar,
) -> AllocationRequest:
    """Approve in full (``granted`` None) or partially; allocations are created atomically."""
    rules.require_role(actor, *ADMIN)
    for label, _ in granted or ():
        calendar.check(label, now, "granted")
    with uow:
        request = get_request(uow, request_id, actor)
        rules.check_transition(request, "approved")
        wanted = {line.period: line.requested for line in request.lines}
        grant = dict(wanted) if granted is None else {}
        for label, amount in granted or ():
            if label not in wanted:
                raise InvalidInput("granted", f"{label} was not requested")
            if label in grant:
                raise InvalidInput("granted", f"{label} appears twice")
            if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
                raise InvalidInput("granted", f"{label}: must be a non-negative integer")
            if amount > wanted[label]:
                raise InvalidInput("granted", f"{label}: more than the {wanted[label]}s requested")
            grant[label] = amount
        if sum(grant.values()) == 0:
            raise InvalidInput("granted", "grants nothing; reject the request instead")
        pool = get_pool(uow, request.pool_id)
        project = get_project(uow, request.project_id)
        uow.pools.lock(pool.id)
        for label in sorted(grant):
            if grant[label] == 0:
                continue
            _prepare_period(uow, actor, now, pool, calendar.check(label, now))
            _allocate_project(
                uow,
                actor,
                now,
                pool,
                label,
                project,
                grant[label],
                reason or f"request {request.id} approved",
                request.id,
                draw_from_pool=True,
            )
        lines = tuple(replace(line, granted=grant.get(line.period, 0)) for line in request.lines)
        updated = replace(
            request,
            lines=lines,
            state=rules.grant_state([x.granted for x in lines], [x.requested for x in lines]),
            decided_by=actor.username,
            decided_at=now,
            decision_reason=reason,
        )
        uow.requests.update(updated)
        _audit(
            uow,
            actor,
            now,
            f"request.{updated.state.value}",
            f"request:{request_id}",
            f"granted {updated.granted_total}s: {reason}",
        )
        uow.commit()
    return updated


def reject_request(
    uow: UnitOfWork, actor: User, now: datetime, request_id: int, reason: str
) -> AllocationRequest:
    rules.require_role(actor, *ADMIN)
    if not reason.strip():
        raise InvalidInput("reason", "a rejection needs a reason")
    return _end_request(uow, actor, now, request_id, RequestState.REJECTED, "rejected", reason)


def withdraw_request(
    uow: UnitOfWork, actor: User, now: datetime, request_id: int, reason: str = ""
) -> AllocationRequest:
    return _end_request(uow, actor, now, request_id, RequestState.WITHDRAWN, "withdrawn", reason)


def _end_request(
    uow: UnitOfWork,
    actor: User,
    now: datetime,
    request_id: int,
    state: RequestState,
    action: str,
    reason: str,
) -> AllocationRequest:
    """Move a request to a final state without allocating anything; audited."""
    with uow:
        request = get_request(uow, request_id, actor)
        if (
            state is RequestState.WITHDRAWN
            and actor.role is not Role.ADMIN
            and actor.username != request.requester
        ):
            raise Forbidden("only the requester or an admin may withdraw a request")
        rules.check_transition(request, action)
        updated = replace(
            request,
            state=state,
            decided_by=actor.username,
            decided_at=now,
            decision_reason=reason,
        )
        uow.requests.update(updated)
        _audit(uow, actor, now, f"request.{action}", f"request:{request_id}", reason)
        uow.commit()
    return updated


# --- reads ---------------------------------------------------------------------------------------


def journal(
    uow: UnitOfWork,
    actor: User,
    pool_id: str | None = None,
    period: str | None = None,
    account: str | None = None,
    request_id: int | None = None,
    *,
    now: datetime,
    calendar: Calendar,
) -> Sequence[LedgerEntry]:
    """Ledger entries, oldest first, filtered (engineers and admins)."""
    rules.require_role(actor, *STAFF)
    if period is not None:
        calendar.check(period, now)
    with uow:
        return uow.ledger.entries(pool_id, period, account, request_id)


def _mine(actor: User) -> str | None:
    """The member filter of project reads: ``None`` (every project) for staff."""
    return None if rules.can_read_everything(actor) else actor.username


def list_projects(uow: UnitOfWork, actor: User, chair_id: str | None = None) -> list[Project]:
    with uow:
        return rules.visible_projects(actor, uow.projects.list(chair_id, _mine(actor)))


def list_chairs(uow: UnitOfWork, actor: User) -> list[Chair]:
    with uow:
        chairs = list(uow.chairs.list())
        if rules.can_read_everything(actor):
            return chairs
        mine = {p.chair_id for p in list_projects(uow, actor)}
        return [c for c in chairs if c.id in mine]


def list_requests(
    uow: UnitOfWork, actor: User, state: RequestState | None = None
) -> list[AllocationRequest]:
    with uow:
        if rules.can_read_everything(actor):
            return list(uow.requests.list(None, state))
        ids = [p.id for p in list_projects(uow, actor)]
        return list(uow.requests.list(ids, state))


def pool_balances(
    uow: UnitOfWork,
    actor: User,
    pool_id: str,
    period: str,
    *,
    now: datetime,
    calendar: Calendar,
) -> PoolBalance:
    calendar.check(period, now)
    with uow:
        get_pool(uow, pool_id)
        flows = uow.ledger.flows_in([pool_id], period, [pool_account(pool_id)])[pool_id]
        return pool_balance(flows, pool_id, period)


def chair_balances(
    uow: UnitOfWork,
    actor: User,
    chair_id: str,
    pool_id: str,
    period: str,
    *,
    now: datetime,
    calendar: Calendar,
) -> ChairBalance:
    calendar.check(period, now)
    with uow:
        get_chair(uow, chair_id)
        get_pool(uow, pool_id)
        if not rules.can_read_everything(actor) and chair_id not in {
            p.chair_id for p in list_projects(uow, actor)
        }:
            raise NotFound("chair", chair_id, field="chair_id")
        # only the chair's entries: what its balance needs, however many projects it funds
        flows = uow.ledger.flows_in([pool_id], period, [chair_account(chair_id)])[pool_id]
        return chair_balance(flows, chair_id, pool_id, period)


def project_balances(
    uow: UnitOfWork,
    actor: User,
    project_id: str,
    pool_id: str,
    period: str,
    consumed: int = 0,
    consumed_provisional: int = 0,
    *,
    now: datetime,
    calendar: Calendar,
) -> ProjectBalance:
    def consumption(
        period: str, pool_ids: Sequence[str], project_ids: Sequence[str] | None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return {(project_id, pool_id): (consumed, consumed_provisional)}

    return project_balances_in(
        uow, actor, project_id, period, [pool_id], consumption, now=now, calendar=calendar
    )[0]


def project_balances_in(
    uow: UnitOfWork,
    actor: User,
    project_id: str,
    period: str,
    pool_ids: Sequence[str] | None,
    consumption: ConsumptionLookup,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ProjectBalance]:
    """A project's balance in each of ``pool_ids`` (every pool when ``None``)."""
    calendar.check(period, now)
    return _project_balances_in(uow, actor, project_id, period, pool_ids, consumption)


def _project_balances_in(
    uow: UnitOfWork,
    actor: User,
    project_id: str,
    period: str,
    pool_ids: Sequence[str] | None,
    consumption: ConsumptionLookup,
) -> list[ProjectBalance]:
    with uow:
        if not uow.projects.visible(project_id, actor.username, rules.can_read_everything(actor)):
            raise NotFound("project", project_id, field="project_id")
        pools = _balance_pools(uow, pool_ids)
        return _balances_of(uow, [project_id], pools, period, consumption, every_project=False)


def visible_balances(
    uow: UnitOfWork,
    actor: User,
    period: str,
    pool_ids: Sequence[str] | None,
    consumption: ConsumptionLookup,
    include_empty: bool = False,
    *,
    now: datetime,
    calendar: Calendar,
) -> list[ProjectBalance]:
    """Balances of every project the actor may see, sorted by pool then project: a constant
    number of reads (projects, pools, one for the flows, one for consumption), whatever the
    number of projects and pools."""
    calendar.check(period, now)
    with uow:
        projects = uow.projects.ids(_mine(actor))
        pools = _balance_pools(uow, pool_ids)
        every = rules.can_read_everything(actor)
        rows = _balances_of(uow, projects, pools, period, consumption, every_project=every)
    return sorted(
        (b for b in rows if include_empty or not b.is_empty),
        key=lambda b: (b.pool_id, b.project_id),
    )


def _balance_pools(uow: UnitOfWork, pool_ids: Sequence[str] | None) -> list[str]:
    """The pools to read (every pool when ``None``); an unknown one is a 404."""
    known = uow.pools.ids()
    for pool_id in pool_ids or ():
        if pool_id not in known:
            raise NotFound("pool", pool_id, field="pool_id")
    return list(known if pool_ids is None else pool_ids)


def _balances_of(
    uow: UnitOfWork,
    project_ids: Sequence[str],
    pool_ids: Sequence[str],
    period: str,
    consumption: ConsumptionLookup,
    every_project: bool,
) -> list[ProjectBalance]:
    """The balances of ``project_ids`` x ``pool_ids`` in two reads: the pools' flows and the
    consumption (narrowed to these projects' accounts unless ``every_project``)."""
    if not project_ids or not pool_ids:
        return []
    accounts = None if every_project else [project_account(p) for p in project_ids]
    flows = uow.ledger.flows_in(pool_ids, period, accounts)
    consumed = consumption(period, pool_ids, None if every_project else project_ids)
    by_pool: dict[str, dict[str, tuple[int, int]]] = {p: {} for p in pool_ids}
    for (project_id, pool_id), amounts in consumed.items():
        if pool_id in by_pool:
            by_pool[pool_id][project_id] = amounts
    rows = []
    for pool_id in pool_ids:
        balances = all_project_balances(flows[pool_id], pool_id, period, by_pool[pool_id])
        for project_id in project_ids:
            empty = ProjectBalance(project_id, pool_id, period, 0, 0, 0, 0)
            rows.append(balances.get(project_id, empty))
    return rows
