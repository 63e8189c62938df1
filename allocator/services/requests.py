"""Requests for hours: submitted by a project's member, discussed, then approved (allocating
what is granted, atomically), rejected or withdrawn. Every transition is audited."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from allocator import notices, rules
from allocator.errors import Forbidden, InvalidInput, PeriodIsClosed, hours_text
from allocator.model import (
    AllocationRequest,
    Comment,
    Pool,
    RequestLine,
    RequestState,
    Role,
    User,
)
from allocator.periods import Calendar, Period
from allocator.ports import UnitOfWork
from allocator.services._common import (
    ADMIN,
    get_pool,
    get_project,
    get_request,
    record,
    tell,
)
from allocator.services._guards import prepare_period
from allocator.services.allocations import chair_to_project

# --- submitting and discussing ------------------------------------------------------------------


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
    periods = _check_submission(amounts, justification, now, calendar)
    with uow:
        project = get_project(uow, project_id, actor)
        for period in periods:
            rules.check_period_in_project(project, period, "periods")
        member = project.has_member(actor.username)
        if not member and actor.role is not Role.ADMIN:
            raise Forbidden("only members of the project (or an admin) may request hours for it")
        pool = get_pool(uow, pool_id)
        _check_requestable(uow, pool, gpu_type, periods)
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
        record(
            uow,
            actor,
            now,
            "request.submitted",
            f"request:{request.id}",
            f"{project.id} asks {request.requested_total}s of {pool.id}"
            + ("" if member else f" (submitted by {actor.username} on behalf of {project.id})"),
        )
        tell(uow, notices.request_event(request, now), request, project)
        uow.commit()
    return request


def _check_submission(
    amounts: Sequence[tuple[str, int]], justification: str, now: datetime, calendar: Calendar
) -> list[Period]:
    """The request's own checks, before any read: the periods (each once) and amounts, the
    justification. Returns the periods."""
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
    return periods


def _check_requestable(
    uow: UnitOfWork, pool: Pool, gpu_type: str | None, periods: Sequence[Period]
) -> None:
    """The pool has the GPU type and covers the periods, none of them closed (such a request
    could never be approved)."""
    if gpu_type is not None and gpu_type not in pool.gpu_types():
        raise InvalidInput("gpu_type", f"{gpu_type!r} is not a GPU type of pool {pool.id!r}")
    for period in periods:
        rules.check_period_in_pool(pool, period, "periods")
        if uow.ledger.is_closed(period.label):
            raise PeriodIsClosed(period.label, field="periods")


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
        record(uow, actor, now, "request.commented", f"request:{request_id}", text[:200])
        tell(uow, notices.request_event(updated, now, commented=True), updated)
        uow.commit()
    return updated


# --- deciding -------------------------------------------------------------------------------------


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
        grant = _grant_of(request, granted)
        pool = get_pool(uow, request.pool_id)
        project = get_project(uow, request.project_id)
        uow.pools.lock(pool.id)
        for label in sorted(grant):
            if grant[label] == 0:
                continue
            period = calendar.check(label, now)
            rules.check_period_in_project(
                project, period, "periods" if granted is None else "granted"
            )
            prepare_period(uow, actor, now, pool, period)
            chair_to_project(
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
        updated = _approved(request, grant, actor, now, reason)
        uow.requests.update(updated)
        record(
            uow,
            actor,
            now,
            f"request.{updated.state.value}",
            f"request:{request_id}",
            f"granted {updated.granted_total}s: {reason}",
        )
        tell(uow, notices.request_event(updated, now), updated, project)
        uow.commit()
    return updated


def _grant_of(
    request: AllocationRequest, granted: Sequence[tuple[str, int]] | None
) -> dict[str, int]:
    """What is granted per period: everything requested (``granted`` None), else the given
    amounts, each for a requested period, once, between 0 and what was requested."""
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
            raise InvalidInput(
                "granted", f"{label}: more than the {hours_text(wanted[label])} h requested"
            )
        grant[label] = amount
    if sum(grant.values()) == 0:
        raise InvalidInput("granted", "grants nothing; reject the request instead")
    return grant


def _approved(
    request: AllocationRequest, grant: Mapping[str, int], actor: User, now: datetime, reason: str
) -> AllocationRequest:
    """The request as decided: its lines' grants, approved in full or in part."""
    lines = tuple(replace(line, granted=grant.get(line.period, 0)) for line in request.lines)
    return replace(
        request,
        lines=lines,
        state=rules.grant_state([x.granted for x in lines], [x.requested for x in lines]),
        decided_by=actor.username,
        decided_at=now,
        decision_reason=reason,
    )


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
        record(uow, actor, now, f"request.{action}", f"request:{request_id}", reason)
        tell(uow, notices.request_event(updated, now), updated)
        uow.commit()
    return updated
