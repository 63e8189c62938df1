"""Enforcement: what Slurm should hold for a project's account, from the ledger. Pure.

The mapping (README, "Enforcement"):

- Slurm counts **billing** TRES; each partition a pool routes to weighs its GPUs with the
  pool's rate in *thousandths* (``TRESBillingWeights="GRES/gpu:a100=1000,GRES/gpu:h100=2000"``),
  so one billing-second is one milli-unit-second of the pool and the integer billing Slurm
  stores (it truncates) is exact.
- The account's time-integrated limit is ``GrpTRESMins=billing=N`` with N the project's
  available hours (allocated + adjustments + carry-over) plus the grace band, in billing-minutes,
  rounded **down** (Slurm never allows more than the ledger does; the loss is < 0.06
  unit-seconds).
- A QOS ladder says where the project stands: ``normal`` below its allocation, ``grace`` (lower
  priority) inside the band, ``blocked`` beyond it (or when nothing is available).
- Slurm's usage counter is a period's: each managed account's ``RawUsage`` is reset to 0 once
  per period, at the first apply in it (an account taken under management mid-period is reset
  too: Slurm then forgets what it used before, and the drift report shows the gap).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from allocator.model import MILLI, Pool

BILLING = "billing"
SECONDS_PER_MINUTE = 60


class Level(StrEnum):
    """The rungs of the QOS ladder, loosest first."""

    NORMAL = "normal"
    GRACE = "grace"
    BLOCKED = "blocked"


_RANK = {Level.NORMAL: 0, Level.GRACE: 1, Level.BLOCKED: 2}


@dataclass(frozen=True, slots=True)
class Ladder:
    """The QOS of each rung on a cluster, and the grace band in thousandths of the allocation."""

    normal: str = "normal"
    grace: str = "gpuhours-grace"
    blocked: str = "gpuhours-blocked"
    grace_milli: int = 250

    def qos(self, level: Level) -> str:
        return {Level.NORMAL: self.normal, Level.GRACE: self.grace, Level.BLOCKED: self.blocked}[
            level
        ]

    def level_of(self, qos: str) -> Level | None:
        """The rung a QOS name stands for (``None``: not one of the ladder's)."""
        for level in Level:
            if self.qos(level) == qos:
                return level
        return None


def billing_weights(pool: Pool, at: datetime) -> dict[str, str]:
    """``TRESBillingWeights`` per partition (``""``: every partition of the route's cluster)
    the pool routes to, keyed ``cluster/partition``: the rates in force at ``at``, in
    thousandths. A route with an untyped GPU weighs ``GRES/gpu``; otherwise each type is
    weighed on its own (weighing ``GRES/gpu`` too would count a typed GPU twice)."""
    out: dict[str, str] = {}
    for route in pool.routes:
        weights: list[str] = []
        if route.gpu_type:
            rate = pool.rate_at(route.gpu_type, at)
            if rate is not None:
                weights.append(f"GRES/gpu={rate}")
        else:
            for gpu_type in pool.gpu_types():
                rate = pool.rate_at(gpu_type, at)
                if rate is not None:
                    weights.append(f"GRES/gpu:{gpu_type}={rate}")
        out[f"{route.cluster}/{route.partition}"] = ",".join(weights)
    return out


def billing_minutes(unit_seconds: int) -> int:
    """Pool unit-seconds as billing-minutes (one billing-second = one milli-unit-second),
    rounded down; never negative."""
    return max(unit_seconds, 0) * MILLI // SECONDS_PER_MINUTE


def unit_seconds_of(minutes: int) -> int:
    """Billing-minutes back to pool unit-seconds, rounded down (for display)."""
    return minutes * SECONDS_PER_MINUTE // MILLI


def band_end(available: int, grace_milli: int) -> int:
    """The unit-seconds a project may use before it is blocked: available + the grace band."""
    return max(available, 0) * (MILLI + grace_milli) // MILLI


def ladder_level(available: int, used: int, grace_milli: int) -> Level:
    """Normal below the allocation, grace inside the band, blocked at its end (and when
    nothing is available)."""
    if available <= 0:
        return Level.BLOCKED
    if used < available:
        return Level.NORMAL
    if used * MILLI < available * (MILLI + grace_milli):
        return Level.GRACE
    return Level.BLOCKED


@dataclass(frozen=True, slots=True)
class Standing:
    """A project's position in one pool for the period: available and used unit-seconds."""

    pool_id: str
    available: int
    used: int


@dataclass(frozen=True, slots=True)
class DesiredAccount:
    """What Slurm should hold for one (cluster, account)."""

    cluster: str
    account: str
    project_id: str
    available: int
    used: int
    limit_minutes: int
    level: Level
    qos: str


def desired_account(
    cluster: str, account: str, project_id: str, standings: Iterable[Standing], ladder: Ladder
) -> DesiredAccount:
    """The account's limit and rung from its project's standing in every pool routed to the
    cluster (several pools share one account limit: Slurm has one per association)."""
    rows = list(standings)
    available = sum(s.available for s in rows)
    used = sum(s.used for s in rows)
    level = ladder_level(available, used, ladder.grace_milli)
    limit = billing_minutes(band_end(available, ladder.grace_milli))
    return DesiredAccount(
        cluster, account, project_id, available, used, limit, level, ladder.qos(level)
    )


@dataclass(frozen=True, slots=True)
class ActualAccount:
    """What Slurm holds for an account association (``limit_minutes`` ``None``: no limit;
    ``used_minutes``: Slurm's own billing-minutes counter for it, ``None`` when unread)."""

    cluster: str
    account: str
    limit_minutes: int | None
    qos: tuple[str, ...]
    default_qos: str
    used_minutes: int | None = None
    parent: str = ""
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SlurmState:
    """The managed accounts Slurm knows on a cluster, and its QOS names."""

    accounts: Mapping[str, ActualAccount]
    qos_names: frozenset[str]


class Attribute(StrEnum):
    ACCOUNT = "account"
    LIMIT = "GrpTRESMins"
    QOS = "QOS"
    USAGE = "RawUsage"
    USER = "user"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between the desired and the actual state, and whether it is applied.

    ``skipped`` says why it is not (empty: it is to be applied)."""

    cluster: str
    account: str
    attribute: Attribute
    before: str
    after: str
    tightens: bool
    skipped: str = ""

    @property
    def command(self) -> tuple[str, ...]:
        """The exact ``sacctmgr`` command that makes the change (empty: none can). An
        ``account`` change's ``after`` is the parent it is made (or moved) under; a ``user``
        change adds ``after`` or removes ``before``."""
        if self.attribute in (Attribute.ACCOUNT, Attribute.USER):
            return self._tree_command()
        where = ("sacctmgr", "-i", "modify", "account", "where")
        target = (f"name={self.account}", f"cluster={self.cluster}", "set")
        if self.attribute is Attribute.LIMIT:
            return (*where, *target, f"GrpTRESMins={BILLING}={self.after}")
        if self.attribute is Attribute.QOS:
            return (*where, *target, f"QOS={self.after}", f"DefaultQOS={self.after}")
        if self.attribute is Attribute.USAGE:
            return (*where, *target, "RawUsage=0")
        return ()

    def _tree_command(self) -> tuple[str, ...]:
        on = f"cluster={self.cluster}"
        if self.attribute is Attribute.ACCOUNT:
            if self.before == "absent":
                return (
                    "sacctmgr",
                    "-i",
                    "add",
                    "account",
                    self.account,
                    on,
                    f"parent={self.after}",
                )
            where = ("sacctmgr", "-i", "modify", "account", "where", f"name={self.account}", on)
            return (*where, "set", f"parent={self.after}")
        if self.before == "absent":
            return ("sacctmgr", "-i", "add", "user", self.after, f"account={self.account}", on)
        return (
            "sacctmgr", "-i", "delete", "user", f"name={self.before}",
            f"account={self.account}", on,
        )  # fmt: skip


def diff(
    desired: Sequence[DesiredAccount],
    actual: SlurmState | None,
    ladder: Ladder,
    *,
    unsure: str = "",
    read_error: str = "",
    period: str = "",
    reset: frozenset[str] | None = None,
    synced: bool = False,
) -> list[Change]:
    """The changes that bring Slurm to ``desired``. ``actual`` ``None``: Slurm could not be
    read (``read_error``); ``unsure``: why gpuhours doubts its own numbers (a stale
    ingestion). In both cases nothing is tightened: those changes are listed, skipped, with
    the reason; the loosening ones are still made (a failed read never skips them).
    ``reset``: the accounts whose usage counter was already reset in ``period`` (``None``:
    counters are not managed); every other account that exists gets its reset. ``synced``:
    a missing account is sync's to make (:mod:`allocator.sync`), not a skipped change."""
    out: list[Change] = []
    for want in desired:
        if actual is None:
            out.extend(_blind(want, ladder, read_error or "Slurm's state could not be read"))
            continue
        have = actual.accounts.get(want.account)
        if have is None:
            if not synced:
                out.append(_missing(want))
            continue
        if reset is not None and want.account not in reset:
            out.append(reset_change(want, have, period))
        for change in _compare(want, have, ladder):
            out.append(_guard(change, actual.qos_names, unsure))
    return out


def reset_change(want: DesiredAccount, have: ActualAccount, period: str) -> Change:
    """Slurm's usage counter of the account back to 0 for ``period`` (it loosens nothing that
    the new period's limit does not already say)."""
    used = "unknown" if have.used_minutes is None else str(have.used_minutes)
    return Change(want.cluster, want.account, Attribute.USAGE, used, f"0 for {period}", False)


def is_reset_for(detail: str, period: str) -> bool:
    """Whether an applied change's audit detail is a counter reset for ``period``."""
    return detail.startswith(f"{Attribute.USAGE.value}:") and detail.endswith(
        f"-> 0 for {period} (applied)"
    )


def _compare(want: DesiredAccount, have: ActualAccount, ladder: Ladder) -> Iterable[Change]:
    c, a = want.cluster, want.account
    if have.limit_minutes != want.limit_minutes:
        tightens = have.limit_minutes is None or want.limit_minutes < have.limit_minutes
        before = "none" if have.limit_minutes is None else str(have.limit_minutes)
        yield Change(c, a, Attribute.LIMIT, before, str(want.limit_minutes), tightens)
    if have.qos != (want.qos,) or have.default_qos != want.qos:
        current = ladder.level_of(have.default_qos) or Level.NORMAL
        tightens = _RANK[want.level] > _RANK[current]
        before = f"{','.join(have.qos) or 'none'} (default {have.default_qos or 'none'})"
        yield Change(c, a, Attribute.QOS, before, want.qos, tightens)


def _guard(change: Change, qos_names: frozenset[str], unsure: str) -> Change:
    if change.attribute is Attribute.QOS and change.after not in qos_names:
        reason = f"QOS {change.after} does not exist on {change.cluster}"
        return skip(change, reason)
    if change.tightens and unsure:
        return skip(change, f"not tightened: {unsure}")
    return change


def _blind(want: DesiredAccount, ladder: Ladder, reason: str) -> list[Change]:
    """Slurm unread: the normal QOS is written (it blocks nothing); the rest waits."""
    c, a = want.cluster, want.account
    limit = Change(c, a, Attribute.LIMIT, "unknown", str(want.limit_minutes), True)
    out = [skip(limit, f"not tightened blind: {reason}")]
    qos = Change(c, a, Attribute.QOS, "unknown", want.qos, want.level is not Level.NORMAL)
    out.append(skip(qos, f"not tightened blind: {reason}") if qos.tightens else qos)
    return out


def _missing(want: DesiredAccount) -> Change:
    change = Change(want.cluster, want.account, Attribute.ACCOUNT, "absent", "present", False)
    return skip(change, f"account {want.account} does not exist on {want.cluster}")


def skip(change: Change, reason: str) -> Change:
    """The change, listed but not made, for ``reason``."""
    return replace(change, skipped=reason)


def ingestion_doubt(
    cluster: str,
    last_success: int | None,
    last_attempt: int | None,
    last_error: str,
    now: int,
    max_lag: int,
) -> str:
    """Why gpuhours' consumption of ``cluster`` may be behind (``""``: it is trusted): never
    ingested, the last ingestion failed, or the last success is older than ``max_lag``
    seconds (epoch seconds throughout)."""
    if last_success is None:
        return f"usage of {cluster} has never been ingested"
    if last_error and last_attempt is not None and last_attempt > last_success:
        return f"the last ingestion of {cluster} failed ({last_error})"
    if now - last_success > max_lag:
        return f"usage of {cluster} was last ingested {(now - last_success) // 60} min ago"
    return ""


@dataclass(frozen=True, slots=True)
class Drift:
    """One account's use this period by gpuhours' count and by Slurm's own counter, in pool
    unit-seconds (``slurm`` ``None``: the counter is unread), and whether they differ by more
    than the tolerance: a cheap reconciliation that needs no statement."""

    cluster: str
    account: str
    project_id: str
    ours: int
    slurm: int | None
    flagged: bool

    @property
    def difference(self) -> int | None:
        return None if self.slurm is None else self.slurm - self.ours


def drift(
    desired: Sequence[DesiredAccount],
    actual: SlurmState | None,
    *,
    absolute: int = 60,
    relative_milli: int = 50,
) -> list[Drift]:
    """Each managed account's drift: flagged when ``|slurm - ours|`` is above both
    ``absolute`` unit-seconds and ``relative_milli`` thousandths of the larger figure. An
    unread counter is flagged (nothing says it agrees). Slurm's counter is the period's once
    its usage was reset at the period's first apply."""
    out: list[Drift] = []
    for want in desired:
        have = None if actual is None else actual.accounts.get(want.account)
        minutes = None if have is None else have.used_minutes
        theirs = None if minutes is None else unit_seconds_of(minutes)
        if theirs is None:
            flagged = True
        else:
            scale = max(abs(want.used), abs(theirs))
            flagged = abs(theirs - want.used) > max(absolute, scale * relative_milli // MILLI)
        out.append(Drift(want.cluster, want.account, want.project_id, want.used, theirs, flagged))
    return out
