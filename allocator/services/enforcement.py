"""Enforcement use cases: the desired state of a cluster's managed accounts from the ledger,
the plan (its differences from what Slurm holds), a diagnosis of one account, and the apply
that writes only what differs, each applied change an audit event (before and after)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from allocator import notices, rules
from allocator.enforcement import (
    ActualAccount,
    Change,
    DesiredAccount,
    Ladder,
    SlurmState,
    Standing,
    desired_account,
    diff,
    is_reset_for,
)
from allocator.errors import NotFound, SlurmCommandFailed
from allocator.ledger import all_project_balances
from allocator.model import User
from allocator.periods import Calendar
from allocator.ports import ConsumptionLookup, SlurmAssociations, UnitOfWork
from allocator.services._common import STAFF, record
from allocator.sync import Branch, Sync, branch, sync_changes


@dataclass(frozen=True, slots=True)
class Plan:
    """The desired state of a cluster, Slurm's (``None``: unread), and the differences."""

    cluster: str
    period: str
    desired: tuple[DesiredAccount, ...]
    actual: SlurmState | None
    changes: tuple[Change, ...]
    read_error: str = ""

    @property
    def pending(self) -> tuple[Change, ...]:
        """The changes ``apply`` makes (the others are skipped, with their reason)."""
        return tuple(c for c in self.changes if not c.skipped)


@dataclass(frozen=True, slots=True)
class Diagnosis:
    desired: DesiredAccount
    actual: ActualAccount | None
    changes: tuple[Change, ...]
    read_error: str = ""


@dataclass(frozen=True, slots=True)
class Applied:
    change: Change
    error: str = ""


def desired_state(
    uow: UnitOfWork,
    actor: User,
    cluster: str,
    ladder: Ladder,
    consumption: ConsumptionLookup,
    *,
    now: datetime,
    calendar: Calendar,
) -> tuple[str, list[DesiredAccount]]:
    """The current period, and what Slurm should hold for every project account mapped on
    ``cluster``, from the pools routed to it: two reads (flows, consumption)."""
    rules.require_role(actor, *STAFF)
    period = calendar.check_or_current(None, now).label
    with uow:
        pools = [p.id for p in uow.pools.list() if any(r.cluster == cluster for r in p.routes)]
        accounts = [
            (project.id, mapping.account)
            for project in uow.projects.list()
            for mapping in project.slurm_accounts
            if mapping.cluster == cluster
        ]
        if not pools or not accounts:
            return period, []
        flows = uow.ledger.flows_in(pools, period, None)
        consumed = consumption(period, pools, None)
    standings: dict[str, list[Standing]] = {}
    for pool_id in pools:
        mine = {k[0]: v for k, v in consumed.items() if k[1] == pool_id}
        for project_id, b in all_project_balances(flows[pool_id], pool_id, period, mine).items():
            used = b.consumed + b.consumed_provisional
            standings.setdefault(project_id, []).append(Standing(pool_id, b.available, used))
    desired = [
        desired_account(cluster, account, project_id, standings.get(project_id, ()), ladder)
        for project_id, account in sorted(accounts, key=lambda pa: pa[1])
    ]
    return period, desired


def plan(
    uow: UnitOfWork,
    actor: User,
    slurm: SlurmAssociations,
    cluster: str,
    ladder: Ladder,
    consumption: ConsumptionLookup,
    *,
    now: datetime,
    calendar: Calendar,
    unsure: str = "",
    sync: Sync | None = None,
) -> Plan:
    """The differences between the ledger's desired state and Slurm's; changes nothing. With
    ``sync``, the accounts and user associations to make come first."""
    period, desired = desired_state(
        uow, actor, cluster, ladder, consumption, now=now, calendar=calendar
    )
    branches = _branches(uow, cluster) if sync is not None else []
    actual: SlurmState | None = None
    read_error = ""
    try:
        names = {d.account for d in desired} | {b.parent for b in branches}
        actual = slurm.read(cluster, sorted(names))
    except SlurmCommandFailed as exc:
        read_error = exc.message
    reset = _reset_in(uow, cluster, [d.account for d in desired], period)
    changes = []
    if sync is not None and actual is not None:
        changes = sync_changes(cluster, branches, actual, sync)
    changes += diff(
        desired, actual, ladder, unsure=unsure, read_error=read_error, period=period,
        reset=reset, synced=sync is not None,
    )  # fmt: skip
    return Plan(cluster, period, tuple(desired), actual, tuple(changes), read_error)


def _branches(uow: UnitOfWork, cluster: str) -> list[Branch]:
    """Every project account mapped on ``cluster``, under its chair's, with its people."""
    with uow:
        return [
            branch(m.account, p.chair_id, p.pi, p.members)
            for p in uow.projects.list()
            for m in p.slurm_accounts
            if m.cluster == cluster
        ]


def _reset_in(
    uow: UnitOfWork, cluster: str, accounts: Sequence[str], period: str
) -> frozenset[str]:
    """The accounts whose usage counter was reset in ``period``: the audit trail says so (an
    account's events are a few per period)."""
    with uow:
        return frozenset(
            account
            for account in accounts
            if any(
                e.action == "enforce.apply" and is_reset_for(e.detail, period)
                for e in uow.audit.list(f"slurm:{cluster}/{account}")
            )
        )


def diagnose(plan: Plan, account: str) -> Diagnosis:
    """One account of a plan: expected and actual, and its changes."""
    for want in plan.desired:
        if want.account == account:
            have = None if plan.actual is None else plan.actual.accounts.get(account)
            changes = tuple(c for c in plan.changes if c.account == account)
            return Diagnosis(want, have, changes, plan.read_error)
    raise NotFound("managed Slurm account", f"{plan.cluster}/{account}", field="account")


def apply(
    uow: UnitOfWork, actor: User, slurm: SlurmAssociations, changes: Sequence[Change], now: datetime
) -> list[Applied]:
    """Write each pending change; a failure is recorded and the next change still runs. Every
    change written, or tried, is an audit event: who, when, before and after, outcome; the PI
    of each project whose Slurm account changed is told, once per account and apply
    (``enforcement.changed``, in the same transaction as the audit)."""
    rules.require_role(actor, *STAFF)
    results: list[Applied] = []
    for change in changes:
        if change.skipped:
            continue
        try:
            slurm.write(change)
            results.append(Applied(change))
        except SlurmCommandFailed as exc:
            results.append(Applied(change, exc.message))
    with uow:
        for result in results:
            c = result.change
            outcome = f"failed: {result.error}" if result.error else "applied"
            detail = f"{c.attribute.value}: {c.before} -> {c.after} ({outcome})"
            record(uow, actor, now, "enforce.apply", f"slurm:{c.cluster}/{c.account}", detail)
        _tell_pis(uow, [r.change for r in results if not r.error], now)
        uow.commit()
    return results


def note_unread(uow: UnitOfWork, actor: User, result: Plan, now: datetime) -> None:
    """An audit event for a plan that could not read Slurm: the error, and what was skipped
    for it (the changes tried anyway, if any, are audited by :func:`apply`)."""
    if not result.read_error:
        return
    skipped = sum(1 for c in result.changes if c.skipped)
    with uow:
        detail = f"{result.read_error}; {skipped} change(s) not made"
        record(uow, actor, now, "enforce.unread", f"slurm:{result.cluster}", detail)
        uow.commit()


def _tell_pis(uow: UnitOfWork, applied: Sequence[Change], now: datetime) -> None:
    """One ``enforcement.changed`` notice per (cluster, account) changed, to its project's PI:
    what changed, from what to what."""
    by_account: dict[tuple[str, str], list[Change]] = {}
    for change in applied:
        by_account.setdefault((change.cluster, change.account), []).append(change)
    for (cluster, account), changes in sorted(by_account.items()):
        project = uow.projects.by_slurm_account(cluster, account)
        if project is None:
            continue
        what = "; ".join(f"{c.attribute.value} {c.before} -> {c.after}" for c in changes)
        event = notices.Event(
            notices.Kind.ENFORCEMENT_CHANGED,
            f"enforce:{cluster}/{account}:{now.isoformat()}",
            f"project:{project.id}",
            now,
            (("project", project.id), ("text", f"Slurm account {account} on {cluster}: {what}")),
            f"/portal/projects/{project.id}",
        )
        uow.notices.add(notices.notices(event, notices.People(pi=project.pi)))
