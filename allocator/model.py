"""The allocator's vocabulary: frozen values only.

Amounts are integer **unit-seconds** of the pool's unit: GPU-seconds for a local pool counted
in GPU-hours, normalised-GPU-seconds for a national pool counted in normalised hours. An hour
is 3600 of them. Rates and availability factors are integers in thousandths (``milli``) so that
arithmetic is exact and identical on every database.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

SECONDS_PER_HOUR = 3600
MILLI = 1000


class Role(StrEnum):
    RESEARCHER = "researcher"
    ENGINEER = "engineer"
    ADMIN = "admin"
    #: Prometheus: reads ``/metrics`` (the business series too) and nothing else.
    SCRAPER = "scraper"


class PoolKind(StrEnum):
    NATIONAL = "national"
    LOCAL = "local"


class BillingMode(StrEnum):
    ALLOCATED = "allocated"
    RESERVED = "reserved"


class ClosePolicy(StrEnum):
    """What happens to a project's unused hours when a period closes."""

    EXPIRE = "expire"
    RETURN_TO_CHAIR = "return"
    CARRY_OVER = "carryover"


class ProjectKind(StrEnum):
    THESIS = "thesis"
    RND = "rnd"
    TEACHING = "teaching"
    OTHER = "other"


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    full_name: str = ""
    email: str = ""


@dataclass(frozen=True, slots=True)
class Rate:
    """``rate_milli`` pool unit-seconds per GPU-second of ``gpu_type``, from ``effective_from``."""

    gpu_type: str
    rate_milli: int
    effective_from: datetime


@dataclass(frozen=True, slots=True)
class GpuInventory:
    gpu_type: str
    count: int


@dataclass(frozen=True, slots=True)
class ClusterRoute:
    """Jobs on ``cluster`` (and ``partition``, ``""`` = any) draw from the pool.

    ``gpu_type`` is the type of the route's *untyped* GPUs: a cluster whose gres.conf declares
    no types reports ``gres/gpu`` only, and a national pool prices by type, so its partitions
    name the hardware they hold (``gpu_p5`` -> ``a100``). ``""`` leaves them untyped.
    """

    cluster: str
    partition: str = ""
    gpu_type: str = ""


@dataclass(frozen=True, slots=True)
class NodeShape:
    """A node of a partition, for *reserved* billing: its GPUs, CPUs and memory."""

    gpus: int
    cpus: int
    mem_mb: int


@dataclass(frozen=True, slots=True)
class Pool:
    id: str
    name: str
    kind: PoolKind
    unit: str
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    inventory: tuple[GpuInventory, ...] = ()
    availability_milli: int = MILLI
    overcommit_milli: int = MILLI
    billing_mode: BillingMode = BillingMode.ALLOCATED
    close_policy: ClosePolicy = ClosePolicy.EXPIRE
    carryover_cap_milli: int = 0
    routes: tuple[ClusterRoute, ...] = ()
    node_shapes: tuple[tuple[str, NodeShape], ...] = ()
    rates: tuple[Rate, ...] = ()
    description: str = ""

    def is_valid_over(self, start: datetime, end: datetime) -> bool:
        if self.valid_from is not None and end <= self.valid_from:
            return False
        return not (self.valid_until is not None and start >= self.valid_until)

    def rate_at(self, gpu_type: str, moment: datetime) -> int | None:
        """The rate in force for ``gpu_type`` at ``moment`` (``None`` if none is)."""
        best: Rate | None = None
        for rate in self.rates:
            if rate.gpu_type != gpu_type or rate.effective_from > moment:
                continue
            if best is None or rate.effective_from >= best.effective_from:
                best = rate
        return None if best is None else best.rate_milli

    def gpu_types(self) -> tuple[str, ...]:
        return tuple(
            sorted({r.gpu_type for r in self.rates} | {i.gpu_type for i in self.inventory})
        )


@dataclass(frozen=True, slots=True)
class Chair:
    id: str
    name: str
    institution: str = ""
    holder: str = ""
    start: datetime | None = None
    end: datetime | None = None


@dataclass(frozen=True, slots=True)
class SlurmAccount:
    cluster: str
    account: str


@dataclass(frozen=True, slots=True)
class Project:
    id: str
    chair_id: str
    name: str
    kind: ProjectKind
    pi: str
    members: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    slurm_accounts: tuple[SlurmAccount, ...] = ()

    def has_member(self, username: str) -> bool:
        return username == self.pi or username in self.members


class RequestState(StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    PARTIALLY_APPROVED = "partially_approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


OPEN_REQUEST_STATES = frozenset({RequestState.SUBMITTED})


@dataclass(frozen=True, slots=True)
class Comment:
    author: str
    at: datetime
    text: str


@dataclass(frozen=True, slots=True)
class RequestLine:
    """Hours asked (and granted) for one period, in pool unit-seconds."""

    period: str
    requested: int
    granted: int = 0


@dataclass(frozen=True, slots=True)
class AllocationRequest:
    id: int
    project_id: str
    pool_id: str
    requester: str
    justification: str
    created_at: datetime
    lines: tuple[RequestLine, ...]
    gpu_type: str | None = None
    state: RequestState = RequestState.SUBMITTED
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_reason: str = ""
    comments: tuple[Comment, ...] = field(default=())

    @property
    def requested_total(self) -> int:
        return sum(line.requested for line in self.lines)

    @property
    def granted_total(self) -> int:
        return sum(line.granted for line in self.lines)


class EntryKind(StrEnum):
    """Kinds of ledger entries. Every entry moves ``amount`` from ``source`` to ``target``."""

    DEPOSIT = "deposit"  # capacity enters a pool (grant or local capacity)
    WITHDRAWAL = "withdrawal"  # capacity leaves a pool (grant reduced)
    ALLOCATE = "allocate"  # pool -> chair or chair -> project
    RELEASE = "release"  # chair -> pool or project -> chair (hours handed back)
    TRANSFER = "transfer"  # project -> project of one chair
    ADJUSTMENT = "adjustment"  # signed correction of a project's balance
    REFUND = "refund"  # hours given back for a job
    EXPIRY = "expiry"  # unused hours expire at close
    CARRYOVER = "carryover"  # unused hours move to the next period


#: Accounts outside the allocation tree.
EXTERNAL = "ext:outside"
EXPIRED = "ext:expired"
ADJUSTMENTS = "ext:adjustments"


def pool_account(pool_id: str) -> str:
    return f"pool:{pool_id}"


def chair_account(chair_id: str) -> str:
    return f"chair:{chair_id}"


def project_account(project_id: str) -> str:
    return f"project:{project_id}"


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One append-only journal line. Never edited, never deleted."""

    kind: EntryKind
    pool_id: str
    period: str
    source: str
    target: str
    amount: int
    actor: str
    at: datetime
    reason: str
    request_id: int | None = None
    reference: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A journaled change without an amount: created pools, rates, mappings, transitions."""

    actor: str
    at: datetime
    action: str
    subject: str
    detail: str = ""
    id: int | None = None
