"""Pure rules: capacity, pro-rata splits, request transitions and who may see what."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from datetime import datetime

from allocator.errors import Forbidden, InvalidInput, InvalidTransition, OutsideValidity
from allocator.model import (
    MILLI,
    SECONDS_PER_HOUR,
    AllocationRequest,
    Pool,
    PoolKind,
    Project,
    RequestState,
    Role,
    User,
)
from allocator.periods import Calendar, Period

#: Refuse amounts above this many hours in one operation: 10^9 hours is far beyond any grant
#: and keeps every sum well inside a signed 64-bit integer of seconds.
MAX_HOURS = 1_000_000_000
MAX_AMOUNT = MAX_HOURS * SECONDS_PER_HOUR


def check_amount(amount: int, field: str = "hours", *, allow_negative: bool = False) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidInput(field, "must be an integer number of GPU-seconds")
    if amount == 0:
        raise InvalidInput(field, "must not be zero")
    if amount < 0 and not allow_negative:
        raise InvalidInput(field, "must be positive")
    if abs(amount) > MAX_AMOUNT:
        raise InvalidInput(field, f"must not exceed {MAX_HOURS} hours")
    return amount


def local_capacity(pool: Pool, period: Period) -> int:
    """GPUs x seconds in the period x availability x rate, in pool unit-seconds."""
    return sum(type_capacity(pool, period).values())


def type_capacity(pool: Pool, period: Period) -> dict[str, int]:
    """Each GPU type's part of :func:`local_capacity` (its inventory's count x seconds in the
    period x availability x rate), by type; a pool without inventory has none."""
    out: dict[str, int] = {}
    for item in pool.inventory:
        rate = pool.rate_at(item.gpu_type, period.start)
        if rate is None:
            rate = MILLI
        part = item.count * period.seconds * pool.availability_milli * rate // (MILLI * MILLI)
        out[item.gpu_type] = out.get(item.gpu_type, 0) + part
    return out


def split_pro_rata(
    amount: int, start: datetime, end: datetime, calendar: Calendar
) -> list[tuple[Period, int]]:
    """Split ``amount`` over the site's periods of ``[start, end)`` by time; the parts sum to
    it."""
    periods = list(calendar.between(start, end))
    if not periods:
        raise InvalidInput("end", "must be after start")
    total_seconds = int((end - start).total_seconds())
    parts: list[tuple[Period, int]] = []
    given = 0
    for i, period in enumerate(periods):
        if i == len(periods) - 1:
            share = amount - given
        else:
            share = amount * period.overlap_seconds(start, end) // total_seconds
        parts.append((period, share))
        given += share
    return parts


def check_period_in_pool(pool: Pool, period: Period, field: str = "period") -> None:
    if not pool.is_valid_over(period.start, period.end):
        window = f"{_day(pool.valid_from)}..{_day(pool.valid_until)}"
        raise OutsideValidity(
            field, f"{period.label} is outside the validity of pool {pool.id!r} ({window})"
        )


def check_period_in_project(project: Project, period: Period, field: str = "period") -> None:
    """No allocation to a project for a period that begins at or after its end (a thesis's
    defence): a period the end falls inside is still the project's."""
    if project.end is not None and period.start >= project.end:
        raise InvalidInput(
            field,
            f"{period.label} begins after the end of project {project.id}"
            f" ({project.end.date().isoformat()}): no allocation after it",
        )


def _day(moment: datetime | None) -> str:
    return "open" if moment is None else moment.date().isoformat()


def check_pool_definition(pool: Pool) -> None:
    if not pool.id or not pool.id.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise InvalidInput("id", "must be letters, digits, '-', '_' or '.'")
    if pool.kind is PoolKind.NATIONAL and (pool.valid_from is None or pool.valid_until is None):
        raise InvalidInput("valid_from", "a national pool needs a validity window")
    if pool.valid_from and pool.valid_until and pool.valid_until <= pool.valid_from:
        raise InvalidInput("valid_until", "must be after valid_from")
    if pool.kind is PoolKind.LOCAL and not pool.inventory:
        raise InvalidInput("inventory", "a local pool needs a GPU inventory")
    for item in pool.inventory:
        if item.count <= 0 or item.count > 1_000_000:
            raise InvalidInput("inventory", f"{item.gpu_type}: count must be 1..1000000")
    if not 0 < pool.availability_milli <= MILLI:
        raise InvalidInput("availability", "must be in (0, 1]")
    if not MILLI <= pool.overcommit_milli <= 10 * MILLI:
        raise InvalidInput("overcommit", "must be between 1 and 10")
    for rate in pool.rates:
        if not 0 < rate.rate_milli <= 1000 * MILLI:
            raise InvalidInput("rates", f"{rate.gpu_type}: rate must be in (0, 1000]")
    no_duplicates("inventory", [(i.gpu_type, f"gpu_type {i.gpu_type!r}") for i in pool.inventory])
    no_duplicates(
        "rates",
        [
            ((r.gpu_type, r.effective_from), f"{r.gpu_type!r} from {r.effective_from.isoformat()}")
            for r in pool.rates
        ],
    )
    no_duplicates(
        "routes",
        [((r.cluster, r.partition), _route_name(r.cluster, r.partition)) for r in pool.routes],
    )
    no_duplicates("node_shapes", [(p, f"partition {p!r}") for p, _shape in pool.node_shapes])


def _route_name(cluster: str, partition: str) -> str:
    return f"cluster {cluster!r} partition {partition!r}" if partition else f"cluster {cluster!r}"


def no_duplicates(field: str, items: Iterable[tuple[Hashable, str]]) -> None:
    """Refuse a list naming one key twice (``items``: key, and how to name it)."""
    seen: set[Hashable] = set()
    for key, name in items:
        if key in seen:
            raise InvalidInput(field, f"{name} appears twice")
        seen.add(key)


def check_project_lists(project: Project) -> None:
    """Members and Slurm accounts each name a key once."""
    no_duplicates("members", [(m, f"member {m!r}") for m in project.members])
    no_duplicates(
        "slurm_accounts",
        [((a.cluster, a.account), f"{a.account}@{a.cluster}") for a in project.slurm_accounts],
    )


# --- requests -----------------------------------------------------------------------------

_TRANSITIONS: dict[str, frozenset[RequestState]] = {
    "approved": frozenset({RequestState.SUBMITTED}),
    "rejected": frozenset({RequestState.SUBMITTED}),
    "withdrawn": frozenset({RequestState.SUBMITTED}),
    "commented": frozenset({RequestState.SUBMITTED}),
}


def check_transition(request: AllocationRequest, action: str) -> None:
    if request.state not in _TRANSITIONS[action]:
        raise InvalidTransition(request.id, request.state.value, action)


def grant_state(lines_granted: Sequence[int], lines_requested: Sequence[int]) -> RequestState:
    if list(lines_granted) == list(lines_requested):
        return RequestState.APPROVED
    return RequestState.PARTIALLY_APPROVED


# --- who may see and do what ---------------------------------------------------------------


def require_role(actor: User, *roles: Role) -> None:
    if actor.role not in roles:
        wanted = " or ".join(r.value for r in roles)
        raise Forbidden(f"{actor.username} is {actor.role.value}; this needs {wanted}")


def can_read_everything(actor: User) -> bool:
    return actor.role in (Role.ADMIN, Role.ENGINEER)


def can_see_project(actor: User, project: Project) -> bool:
    return can_read_everything(actor) or project.has_member(actor.username)


def visible_projects(actor: User, projects: Iterable[Project]) -> list[Project]:
    return [p for p in projects if can_see_project(actor, p)]
