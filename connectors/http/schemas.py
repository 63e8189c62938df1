"""Request and response bodies. Hours in, hours and integer seconds out; never ORM rows."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
    field_validator,
)

from allocator import hours as hours_rule
from allocator.ledger import ChairBalance, PoolBalance, ProjectBalance
from allocator.model import (
    MILLI,
    SECONDS_PER_HOUR,
    AllocationRequest,
    BillingMode,
    Chair,
    ClosePolicy,
    LedgerEntry,
    Pool,
    PoolKind,
    Project,
    ProjectKind,
    Role,
)
from allocator.rules import MAX_HOURS

Slug = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")]
#: The shape of a period label of any scheme; the use cases accept only the site's scheme
#: (``GPUHOURS_PERIOD_SCHEME``), within a few years of today, and refuse the rest with a 422
#: naming the field, the scheme and an example.
PERIOD_PATTERN = r"^\d{4}(Q[1-4]|-(0[1-9]|1[0-2]))?$"
PERIOD_DOC = (
    "a period of the site's scheme (GPUHOURS_PERIOD_SCHEME): 2026Q3 (quarter, the default),"
    " 2026-07 (month) or 2026 (year), at most 5 years from the current one"
)
PeriodLabel = Annotated[str, Field(pattern=PERIOD_PATTERN, max_length=7, description=PERIOD_DOC)]


def _whole_seconds(hours: Decimal) -> Decimal:
    if hours * SECONDS_PER_HOUR != (hours * SECONDS_PER_HOUR).to_integral_value():
        raise ValueError(
            "must be a whole number of seconds (0.005 h = 18 s is; 0.001 h = 3.6 s is not)"
        )
    return hours


def _written_as_hours(value: Any, handler: ValidatorFunctionWrapHandler) -> Decimal:
    """The value's checks (bounds, whole seconds) first, then how it is written
    (``allocator.hours``: ASCII, at most 3 decimals)."""
    result: Decimal = handler(value)
    hours_rule.check_form(value)
    return result


def _hours_schema(pattern: str, minimum: dict[str, int]) -> WithJsonSchema:
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", **minimum, "maximum": MAX_HOURS},
                {"type": "string", "pattern": pattern},
            ],
            "description": hours_rule.RULE,
        }
    )


Hours = Annotated[
    Decimal,
    Field(gt=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.PATTERN, {"exclusiveMinimum": 0}),
]
SignedHours = Annotated[
    Decimal,
    Field(ge=-MAX_HOURS, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.SIGNED_PATTERN, {"minimum": -MAX_HOURS}),
]
#: Hours that may be zero (a partial approval granting nothing for one period).
HoursOrZero = Annotated[
    Decimal,
    Field(ge=0, le=MAX_HOURS, max_digits=20, decimal_places=6),
    AfterValidator(_whole_seconds),
    WrapValidator(_written_as_hours),
    _hours_schema(hours_rule.PATTERN, {"minimum": 0}),
]
TypeAdapterHours: TypeAdapter[Decimal] = TypeAdapter(Hours)


def _utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


#: An aware datetime, converted to UTC here (a year-9999 time at -05:00 has no UTC equivalent).
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]
Factor = Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=3)]


def to_seconds(hours: Decimal) -> int:
    return int((hours * SECONDS_PER_HOUR).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def to_milli(value: Decimal) -> int:
    return int((value * MILLI).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def hours(seconds: int) -> float:
    return round(seconds / SECONDS_PER_HOUR, 3)


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("*")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail in the database.
        if _has_nul(value):
            raise ValueError("must not contain NUL (\\x00) characters")
        return value


# --- inputs -------------------------------------------------------------------------------


class InventoryIn(Strict):
    gpu_type: Slug
    count: int = Field(gt=0, le=1_000_000)


class RateIn(Strict):
    gpu_type: Slug
    rate: Factor
    effective_from: UtcDatetime


class RouteIn(Strict):
    cluster: Slug
    partition: str = Field(default="", max_length=64)
    gpu_type: str = Field(
        default="",
        max_length=64,
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_.@-]*)?$",
        description="GPU type of the route's untyped GPUs ('' = leave untyped)",
    )


class NodeShapeIn(Strict):
    partition: str = Field(max_length=64)
    gpus: int = Field(gt=0, le=64)
    cpus: int = Field(gt=0, le=100_000)
    mem_mb: int = Field(gt=0, le=1 << 40)


class PoolIn(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: PoolKind
    unit: str = Field(default="gpu-hour", min_length=1, max_length=64)
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    inventory: list[InventoryIn] = Field(default_factory=list, max_length=100)
    availability: Decimal = Field(default=Decimal(1), gt=0, le=1, decimal_places=3)
    overcommit: Decimal = Field(default=Decimal(1), ge=1, le=10, decimal_places=3)
    billing_mode: BillingMode = BillingMode.ALLOCATED
    close_policy: ClosePolicy = ClosePolicy.EXPIRE
    carryover_cap: Decimal = Field(default=Decimal(0), ge=0, le=1, decimal_places=3)
    routes: list[RouteIn] = Field(default_factory=list, max_length=100)
    node_shapes: list[NodeShapeIn] = Field(default_factory=list, max_length=100)
    rates: list[RateIn] = Field(default_factory=list, max_length=100)
    description: str = Field(default="", max_length=2000)
    grant_hours: Hours | None = None


class GrantIn(Strict):
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class OvercommitIn(Strict):
    factor: Decimal = Field(ge=1, le=10, decimal_places=3)
    reason: str = Field(min_length=1, max_length=2000)


class ChairIn(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    institution: str = Field(default="", max_length=200)
    holder: str = Field(default="", max_length=200)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None


class SlurmAccountIn(Strict):
    cluster: Slug
    account: str = Field(min_length=1, max_length=128, pattern=r"^[^\s/]+$")


class ProjectIn(Strict):
    id: Slug
    chair_id: Slug
    name: str = Field(min_length=1, max_length=200)
    kind: ProjectKind = ProjectKind.OTHER
    pi: Slug
    members: list[Slug] = Field(default_factory=list, max_length=500)
    start: UtcDatetime | None = None
    end: UtcDatetime | None = None
    slurm_accounts: list[SlurmAccountIn] = Field(default_factory=list, max_length=50)


class MemberIn(Strict):
    username: Slug


class UserIn(Strict):
    username: Slug
    role: Role
    full_name: str = Field(default="", max_length=200)
    email: str = Field(default="", max_length=200)


class ChairAllocationIn(Strict):
    pool_id: Slug
    chair_id: Slug
    period: PeriodLabel
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000)


class ProjectAllocationIn(Strict):
    pool_id: Slug
    project_id: Slug
    period: PeriodLabel
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000)
    draw_from_pool: bool = False


class TransferIn(Strict):
    pool_id: Slug
    period: PeriodLabel
    from_project: Slug
    to_project: Slug
    hours: Hours
    reason: str = Field(min_length=1, max_length=2000)


class AdjustmentIn(Strict):
    pool_id: Slug
    project_id: Slug
    period: PeriodLabel
    hours: SignedHours
    reason: str = Field(min_length=1, max_length=2000)


class PeriodHoursIn(Strict):
    period: PeriodLabel
    hours: Hours


class RequestIn(Strict):
    project_id: Slug
    pool_id: Slug
    periods: list[PeriodHoursIn] = Field(min_length=1, max_length=16)
    justification: str = Field(min_length=1, max_length=10_000)
    gpu_type: Slug | None = None


class GrantedIn(Strict):
    period: PeriodLabel
    hours: HoursOrZero


class ApproveIn(Strict):
    granted: list[GrantedIn] | None = Field(default=None, max_length=16)
    reason: str = Field(default="", max_length=2000)


class ReasonIn(Strict):
    reason: str = Field(min_length=1, max_length=2000)


class OptionalReasonIn(Strict):
    reason: str = Field(default="", max_length=2000)


class CommentIn(Strict):
    text: str = Field(min_length=1, max_length=10_000)


# --- outputs ------------------------------------------------------------------------------


class UserOut(BaseModel):
    username: str
    role: Role
    full_name: str
    email: str


class RateOut(BaseModel):
    gpu_type: str
    rate: float
    effective_from: datetime


class PoolOut(BaseModel):
    id: str
    name: str
    kind: PoolKind
    unit: str
    valid_from: datetime | None
    valid_until: datetime | None
    inventory: dict[str, int]
    availability: float
    overcommit: float
    billing_mode: BillingMode
    close_policy: ClosePolicy
    carryover_cap: float
    routes: list[dict[str, str]]
    rates: list[RateOut]
    description: str

    @classmethod
    def of(cls, p: Pool) -> PoolOut:
        return cls(
            id=p.id,
            name=p.name,
            kind=p.kind,
            unit=p.unit,
            valid_from=p.valid_from,
            valid_until=p.valid_until,
            inventory={i.gpu_type: i.count for i in p.inventory},
            availability=p.availability_milli / MILLI,
            overcommit=p.overcommit_milli / MILLI,
            billing_mode=p.billing_mode,
            close_policy=p.close_policy,
            carryover_cap=p.carryover_cap_milli / MILLI,
            routes=[
                {"cluster": r.cluster, "partition": r.partition, "gpu_type": r.gpu_type}
                for r in p.routes
            ],
            rates=[
                RateOut(
                    gpu_type=r.gpu_type, rate=r.rate_milli / MILLI, effective_from=r.effective_from
                )
                for r in p.rates
            ],
            description=p.description,
        )


class ChairOut(BaseModel):
    id: str
    name: str
    institution: str
    holder: str
    start: datetime | None
    end: datetime | None

    @classmethod
    def of(cls, c: Chair) -> ChairOut:
        return cls(
            id=c.id,
            name=c.name,
            institution=c.institution,
            holder=c.holder,
            start=c.start,
            end=c.end,
        )


class ProjectOut(BaseModel):
    id: str
    chair_id: str
    name: str
    kind: ProjectKind
    pi: str
    members: list[str]
    start: datetime | None
    end: datetime | None
    slurm_accounts: list[dict[str, str]]

    @classmethod
    def of(cls, p: Project) -> ProjectOut:
        return cls(
            id=p.id,
            chair_id=p.chair_id,
            name=p.name,
            kind=p.kind,
            pi=p.pi,
            members=list(p.members),
            start=p.start,
            end=p.end,
            slurm_accounts=[{"cluster": a.cluster, "account": a.account} for a in p.slurm_accounts],
        )


class CommentOut(BaseModel):
    author: str
    at: datetime
    text: str


class RequestLineOut(BaseModel):
    period: str
    requested_seconds: int
    requested_hours: float
    granted_seconds: int
    granted_hours: float


class RequestOut(BaseModel):
    id: int
    project_id: str
    pool_id: str
    gpu_type: str | None
    requester: str
    justification: str
    state: str
    created_at: datetime
    lines: list[RequestLineOut]
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str
    comments: list[CommentOut]

    @classmethod
    def of(cls, r: AllocationRequest) -> RequestOut:
        return cls(
            id=r.id,
            project_id=r.project_id,
            pool_id=r.pool_id,
            gpu_type=r.gpu_type,
            requester=r.requester,
            justification=r.justification,
            state=r.state.value,
            created_at=r.created_at,
            lines=[
                RequestLineOut(
                    period=ln.period,
                    requested_seconds=ln.requested,
                    requested_hours=hours(ln.requested),
                    granted_seconds=ln.granted,
                    granted_hours=hours(ln.granted),
                )
                for ln in r.lines
            ],
            decided_by=r.decided_by,
            decided_at=r.decided_at,
            decision_reason=r.decision_reason,
            comments=[CommentOut(author=c.author, at=c.at, text=c.text) for c in r.comments],
        )


class EntryOut(BaseModel):
    id: int | None
    kind: str
    pool_id: str
    period: str
    source: str
    target: str
    amount_seconds: int
    amount_hours: float
    actor: str
    at: datetime
    reason: str
    request_id: int | None
    reference: str

    @classmethod
    def of(cls, e: LedgerEntry) -> EntryOut:
        return cls(
            id=e.id,
            kind=e.kind.value,
            pool_id=e.pool_id,
            period=e.period,
            source=e.source,
            target=e.target,
            amount_seconds=e.amount,
            amount_hours=hours(e.amount),
            actor=e.actor,
            at=e.at,
            reason=e.reason,
            request_id=e.request_id,
            reference=e.reference,
        )


class PoolBalanceOut(BaseModel):
    pool_id: str
    period: str
    capacity_seconds: int
    allocated_seconds: int
    unallocated_seconds: int
    capacity_hours: float
    allocated_hours: float
    unallocated_hours: float

    @classmethod
    def of(cls, b: PoolBalance) -> PoolBalanceOut:
        return cls(
            pool_id=b.pool_id,
            period=b.period,
            capacity_seconds=b.capacity,
            allocated_seconds=b.allocated,
            unallocated_seconds=b.unallocated,
            capacity_hours=hours(b.capacity),
            allocated_hours=hours(b.allocated),
            unallocated_hours=hours(b.unallocated),
        )


class ChairBalanceOut(BaseModel):
    chair_id: str
    pool_id: str
    period: str
    received_seconds: int
    allocated_to_projects_seconds: int
    unallocated_seconds: int
    received_hours: float
    allocated_to_projects_hours: float
    unallocated_hours: float

    @classmethod
    def of(cls, b: ChairBalance) -> ChairBalanceOut:
        return cls(
            chair_id=b.chair_id,
            pool_id=b.pool_id,
            period=b.period,
            received_seconds=b.received,
            allocated_to_projects_seconds=b.allocated_to_projects,
            unallocated_seconds=b.unallocated,
            received_hours=hours(b.received),
            allocated_to_projects_hours=hours(b.allocated_to_projects),
            unallocated_hours=hours(b.unallocated),
        )


class ProjectBalanceOut(BaseModel):
    project_id: str
    pool_id: str
    period: str
    allocated_seconds: int
    adjustments_seconds: int
    consumed_seconds: int
    consumed_provisional_seconds: int
    remaining_seconds: int
    allocated_hours: float
    consumed_hours: float
    remaining_hours: float
    utilisation: float

    @classmethod
    def of(cls, b: ProjectBalance) -> ProjectBalanceOut:
        return cls(
            project_id=b.project_id,
            pool_id=b.pool_id,
            period=b.period,
            allocated_seconds=b.allocated,
            adjustments_seconds=b.adjustments,
            consumed_seconds=b.consumed,
            consumed_provisional_seconds=b.consumed_provisional,
            remaining_seconds=b.remaining,
            allocated_hours=hours(b.allocated),
            consumed_hours=hours(b.consumed + b.consumed_provisional),
            remaining_hours=hours(b.remaining),
            utilisation=b.utilisation_milli / MILLI,
        )
