"""Allocation rounds: an admin opens a round for a period and pools, with a deadline; the
requests of that period and pools submitted before it are its members; after the deadline
staff see demand against supply and the fair proposal (:mod:`allocator.rounds`), which admins
may edit line by line; the round is approved whole, in one transaction, or not at all.

A member is a submitted request for the round's period alone (a request for several periods is
decided one by one), in one of its pools, submitted before the deadline.

Supply. A round divides each pool's headroom in the period (what the pool may still give, its
over-commit factor counted): it is the pool's overall cap, and the supply of the requests
without a GPU type. A pool whose inventory counts a GPU type also supplies that type: its
capacity in the period (:func:`allocator.rules.type_capacity`: count x seconds x availability
x rate) less what the journal already allocated in the pool and period to projects for
approved requests of that type (an allocation entry names its request). A request for a type
the inventory does not count is capped by the pool's headroom only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from allocator import notices, rules
from allocator.errors import Conflict, InvalidInput, NotFound
from allocator.ledger import balance, headroom, pool_capacity
from allocator.model import (
    AllocationRequest,
    EntryKind,
    Pool,
    PoolKind,
    Project,
    RequestState,
    Role,
    User,
    pool_account,
)
from allocator.periods import Calendar, Period
from allocator.ports import RoundsUnitOfWork
from allocator.round_model import AllocationRound, RoundEdit, RoundLine, RoundMinimum, RoundState
from allocator.rounds import Demand, RoundInput, RoundRequest, Supply, demand, hours, propose
from allocator.services._common import ADMIN, STAFF, get_chair, get_pool, record, tell
from allocator.services._guards import prepare_period
from allocator.services.allocations import chair_to_project

MAX_WEIGHT = 1000


@dataclass(frozen=True, slots=True)
class RoundView:
    """A round as a face shows it: its state now, its members, and (once they may be seen)
    demand against supply and the lines, proposed or approved."""

    round: AllocationRound
    state: RoundState
    members: tuple[AllocationRequest, ...]
    demand: tuple[Demand, ...] | None
    lines: tuple[RoundLine, ...] | None


# --- opening and setting up ---------------------------------------------------------------------


def open_round(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    period: str,
    pool_ids: Sequence[str],
    deadline: datetime,
    *,
    calendar: Calendar,
) -> AllocationRound:
    """A round for ``period`` over ``pool_ids``, taking requests until ``deadline``."""
    rules.require_role(actor, *ADMIN)
    checked = calendar.check(period, now)
    if not pool_ids:
        raise InvalidInput("pool_ids", "a round divides at least one pool")
    rules.no_duplicates("pool_ids", [(p, f"pool {p!r}") for p in pool_ids])
    with uow:
        for pool_id in pool_ids:
            rules.check_period_in_pool(get_pool(uow, pool_id, "pool_ids"), checked)
        for other in uow.rounds.list():
            shared = sorted(set(other.pool_ids) & set(pool_ids))
            if other.period == period and not other.approved and shared:
                raise Conflict(
                    f"pool_ids: round {other.id} already divides {', '.join(shared)} in {period}",
                    field="pool_ids",
                )
        opened = uow.rounds.add(
            AllocationRound(0, period, tuple(sorted(pool_ids)), deadline, actor.username, now)
        )
        record(
            uow,
            actor,
            now,
            "round.opened",
            opened.reference,
            f"{period} over {', '.join(opened.pool_ids)}, requests until {deadline.isoformat()}",
        )
        uow.commit()
    return opened


def set_weights(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    round_id: int,
    weights: Sequence[tuple[str, int]],
) -> AllocationRound:
    """The chairs' weights for the round (replacing the ones set; a chair absent weighs 1)."""
    rules.require_role(actor, *ADMIN)
    rules.no_duplicates("weights", [(c, f"chair {c!r}") for c, _ in weights])
    for chair_id, weight in weights:
        if isinstance(weight, bool) or not 1 <= weight <= MAX_WEIGHT:
            raise InvalidInput("weights", f"{chair_id}: a weight is a whole number 1..{MAX_WEIGHT}")
    with uow:
        current = _editable(uow, round_id)
        for chair_id, _ in weights:
            get_chair(uow, chair_id, "weights")
        updated = replace(current, weights=tuple(sorted(weights)))
        uow.rounds.update(updated)
        text = ", ".join(f"{c} {w}" for c, w in updated.weights) or "every chair 1"
        record(uow, actor, now, "round.weights", current.reference, text)
        uow.commit()
    return updated


def _check_line(actor: User, amount: int, reason: str, no_reason: str) -> None:
    """An admin's amount for a line (zero: a line of nothing, or no minimum) and its reason."""
    rules.require_role(actor, *ADMIN)
    if amount:
        rules.check_amount(amount, "hours")
    if not reason.strip():
        raise InvalidInput("reason", no_reason)


def _line_of(uow: RoundsUnitOfWork, round_id: int, request_id: int, amount: int) -> AllocationRound:
    """The editable round whose member ``request_id`` may have a line of ``amount``."""
    current = _editable(uow, round_id)
    request = _member(uow, current, request_id)
    _within_request(request, current.period, amount)
    return current


def set_minimum(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    round_id: int,
    request_id: int,
    amount: int,
    reason: str,
) -> AllocationRound:
    """At least ``amount`` guaranteed to a member request, for ``reason`` (``0``: none)."""
    _check_line(actor, amount, reason, "a minimum needs a reason (thesis, ...), its removal too")
    with uow:
        current = _line_of(uow, round_id, request_id, amount)
        kept = tuple(m for m in current.minimums if m.request_id != request_id)
        minimum = (RoundMinimum(request_id, amount, reason.strip()),) if amount else ()
        updated = replace(
            current, minimums=tuple(sorted(kept + minimum, key=lambda m: m.request_id))
        )
        uow.rounds.update(updated)
        detail = f"request {request_id}: minimum {hours(amount)} ({reason.strip() or 'none'})"
        record(uow, actor, now, "round.minimum", current.reference, detail)
        uow.commit()
    return updated


def edit_line(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    round_id: int,
    request_id: int,
    amount: int,
    reason: str,
) -> AllocationRound:
    """An admin's amount for one member's line, over the proposal's, with a reason."""
    _check_line(actor, amount, reason, "an edit needs a reason")
    with uow:
        current = _line_of(uow, round_id, request_id, amount)
        kept = tuple(e for e in current.edits if e.request_id != request_id)
        edit = RoundEdit(request_id, amount, reason.strip(), actor.username, now)
        updated = replace(current, edits=tuple(sorted((*kept, edit), key=lambda e: e.request_id)))
        uow.rounds.update(updated)
        detail = f"request {request_id}: {hours(amount)}: {reason.strip()}"
        record(uow, actor, now, "round.edited", current.reference, detail)
        uow.commit()
    return updated


# --- reading --------------------------------------------------------------------------------------


def list_rounds(uow: RoundsUnitOfWork, actor: User) -> Sequence[AllocationRound]:
    rules.require_role(actor, *STAFF)
    with uow:
        return uow.rounds.list()


def show_round(
    uow: RoundsUnitOfWork, actor: User, now: datetime, round_id: int, *, calendar: Calendar
) -> RoundView:
    """The round; its demand and lines after its deadline (for admins at any time)."""
    rules.require_role(actor, *STAFF)
    with uow:
        current = _get(uow, round_id)
        state = current.state(now)
        if current.approved:
            requests = [uow.requests.get(line.request_id) for line in current.lines]
            members = tuple(r for r in requests if r is not None)
        else:
            members = tuple(_members(uow, current))
        if state is RoundState.OPEN and actor.role is not Role.ADMIN:
            return RoundView(current, state, members, None, None)
        round_input = _input(uow, current, members, calendar.period(current.period))
        lines = current.lines if current.approved else _lines(current, round_input)
        return RoundView(current, state, members, demand(round_input), lines)


# --- approving ----------------------------------------------------------------------------------


def approve_round(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    round_id: int,
    reason: str = "",
    *,
    calendar: Calendar,
) -> AllocationRound:
    """Every line becomes an allocation journaled ``round:N``, every member request approved
    (in part when less, rejected when nothing), in one transaction; an over-commit of any pool
    or chair refuses the whole round and nothing is written."""
    rules.require_role(actor, *ADMIN)
    with uow:
        current = _get(uow, round_id, lock=True)
        if current.approved:
            raise Conflict(f"state: round {round_id} is already approved", field="state")
        if now < current.deadline:
            raise Conflict(
                f"deadline: round {round_id} takes requests until {current.deadline.isoformat()}",
                field="deadline",
            )
        period = calendar.check(current.period, now)
        pools = [get_pool(uow, pool_id) for pool_id in current.pool_ids]  # sorted: lock order
        for pool in pools:
            prepare_period(uow, actor, now, pool, period)
        members = {r.id: r for r in _members(uow, current)}
        lines = _lines(current, _input(uow, current, tuple(members.values()), period))
        why = reason.strip()
        by_id = {p.id: p for p in pools}
        projects = {p.id: p for p in uow.projects.list()}
        for line in lines:
            request = members[line.request_id]
            where = (by_id[request.pool_id], projects[request.project_id])
            if line.amount:  # an ended project's line is edited to 0 before the round passes
                rules.check_period_in_project(where[1], period)
            _allocate(uow, actor, now, current, request, where, line, why)
        approved = replace(
            current, approved=True, decided_by=actor.username, decided_at=now, lines=lines
        )
        uow.rounds.update(approved)
        total = sum(line.amount for line in lines)
        detail = f"{len(lines)} requests, {hours(total)} allocated" + (f": {why}" if why else "")
        record(uow, actor, now, "round.approved", current.reference, detail)
        uow.commit()
    return approved


def _allocate(
    uow: RoundsUnitOfWork,
    actor: User,
    now: datetime,
    current: AllocationRound,
    request: AllocationRequest,
    where: tuple[Pool, Project],
    line: RoundLine,
    why: str,
) -> None:
    """One line: its allocation (if any) and its request's decision, journaled and told."""
    pool, project = where
    text = f"{current.reference}: {line.explanation}" + (f"; {why}" if why else "")
    if line.amount:
        chair_to_project(
            uow,
            actor,
            now,
            pool,
            current.period,
            project,
            line.amount,
            text,
            request.id,
            draw_from_pool=True,
            reference=current.reference,
        )
    asked = [x.requested for x in request.lines]
    granted = [line.amount]
    state = rules.grant_state(granted, asked) if line.amount else RequestState.REJECTED
    decided = replace(
        request,
        lines=tuple(replace(x, granted=line.amount) for x in request.lines),
        state=state,
        decided_by=actor.username,
        decided_at=now,
        decision_reason=text,
    )
    uow.requests.update(decided)
    record(uow, actor, now, f"request.{state.value}", f"request:{request.id}", text)
    tell(uow, notices.request_event(decided, now), decided, project)


# --- helpers --------------------------------------------------------------------------------------


def _get(uow: RoundsUnitOfWork, round_id: int, *, lock: bool = False) -> AllocationRound:
    found = uow.rounds.get(round_id, lock=lock)
    if found is None:
        raise NotFound("round", round_id, field="round_id")
    return found


def _editable(uow: RoundsUnitOfWork, round_id: int) -> AllocationRound:
    current = _get(uow, round_id, lock=True)
    if current.approved:
        raise Conflict(f"state: round {round_id} is approved; it changes no more", field="state")
    return current


def _members(uow: RoundsUnitOfWork, current: AllocationRound) -> list[AllocationRequest]:
    """The submitted requests for the round's period alone, in its pools, before its deadline."""
    return [
        r
        for r in uow.requests.list(state=RequestState.SUBMITTED)
        if r.pool_id in current.pool_ids
        and [x.period for x in r.lines] == [current.period]
        and r.created_at < current.deadline
    ]


def _member(uow: RoundsUnitOfWork, current: AllocationRound, request_id: int) -> AllocationRequest:
    for request in _members(uow, current):
        if request.id == request_id:
            return request
    raise Conflict(
        f"request_id: request {request_id} is not a pending request of round {current.id}"
        f" ({current.period}, {', '.join(current.pool_ids)}, before its deadline)",
        field="request_id",
    )


def _within_request(request: AllocationRequest, period: str, amount: int) -> None:
    asked = sum(x.requested for x in request.lines if x.period == period)
    if amount > asked:
        raise InvalidInput(
            "hours", f"{hours(amount)} exceeds the {hours(asked)} asked by request {request.id}"
        )


def _input(
    uow: RoundsUnitOfWork,
    current: AllocationRound,
    members: Sequence[AllocationRequest],
    period: Period,
) -> RoundInput:
    """The pure core's input: each pool's headroom now, the members, the weights."""
    chairs = {p.id: p.chair_id for p in uow.projects.list()}
    minimums = {m.request_id: m for m in current.minimums}
    requests = tuple(
        RoundRequest(
            r.id,
            chairs[r.project_id],
            r.project_id,
            r.pool_id,
            r.gpu_type or "",
            r.requested_total,
            minimums[r.id].amount if r.id in minimums else 0,
            minimums[r.id].reason if r.id in minimums else "",
        )
        for r in members
    )
    supply: list[Supply] = []
    caps: list[tuple[str, int]] = []
    for pool_id in current.pool_ids:
        pool = get_pool(uow, pool_id)
        total = _supply(uow, pool, period)
        caps.append((pool_id, total))
        typed = _typed_supply(uow, pool, period)
        asked = {r.gpu_type for r in requests if r.pool_id == pool_id} - {""}
        supply.append(Supply(pool_id, "", total))
        supply += [Supply(pool_id, t, typed.get(t, total)) for t in sorted(asked | set(typed))]
    return RoundInput(tuple(supply), requests, current.weights, tuple(caps))


def _typed_supply(uow: RoundsUnitOfWork, pool: Pool, period: Period) -> dict[str, int]:
    """Each GPU type the pool's inventory counts: its capacity in ``period`` less what is
    allocated to projects there for approved requests of that type."""
    capacity = rules.type_capacity(pool, period)
    if not capacity:
        return {}
    types = {r.id: r.gpu_type for r in uow.requests.list() if r.pool_id == pool.id}
    allocated: dict[str, int] = {}
    for e in uow.ledger.entries(pool.id, period.label):
        gpu_type = types.get(e.request_id) if e.request_id is not None else None
        if e.kind is EntryKind.ALLOCATE and e.target.startswith("project:") and gpu_type:
            allocated[gpu_type] = allocated.get(gpu_type, 0) + e.amount
    return {t: max(c - allocated.get(t, 0), 0) for t, c in capacity.items()}


def _supply(uow: RoundsUnitOfWork, pool: Pool, period: Period) -> int:
    """What the pool may still give in ``period``; a local pool's capacity counted before
    its first use deposits it."""
    flows = uow.ledger.flows(pool.id, period.label)
    capacity = pool_capacity(flows, pool.id)
    own = balance(flows, pool_account(pool.id))
    if pool.kind is PoolKind.LOCAL and not uow.ledger.has_reference(
        pool.id, period.label, f"capacity:{period.label}"
    ):
        deposit = rules.local_capacity(pool, period)
        capacity, own = capacity + deposit, own + deposit
    return max(headroom(own, capacity, pool.overcommit_milli), 0)


def _lines(current: AllocationRound, round_input: RoundInput) -> tuple[RoundLine, ...]:
    """The proposal, the admins' edits applied over it and marked as edited."""
    edits = {e.request_id: e for e in current.edits}
    lines = []
    for p in propose(round_input):
        edit = edits.get(p.request_id)
        if edit is None:
            lines.append(RoundLine(p.request_id, p.amount, p.basis.value, p.explanation))
            continue
        text = (
            f"edited by {edit.actor}: {edit.reason} (proposed {hours(p.amount)}: {p.explanation})"
        )
        lines.append(RoundLine(p.request_id, edit.amount, "edited", text, edited=True))
    return tuple(lines)
