"""Quarter close: what happens to each project's unused hours, by the pool's policy.

Pure. ``close_plan`` returns the ledger entries an administrator's close posts, given each
project's balance at close. Unused = ``remaining`` (allocated + adjustments - consumed, running
jobs included); overdrawn projects (remaining <= 0) post nothing.

``expire``     the unused hours go to ``ext:expired`` in the closed period (EXPIRY).
``return``     they leave the project in the closed period and reach its chair in the next
               period (two CARRYOVER entries through ``ext:outside``), to be allocated again.
``carryover``  up to ``cap x allocated`` moves to the same project in the next period (two
               CARRYOVER entries); the rest expires.

Example: a ``carryover`` pool with a 25 % cap; a project allocated 400 h that consumed 250 h
has 150 h unused: 100 h (25 % of 400) are carried over to the next quarter, 50 h expire.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from allocator.ledger import ProjectBalance
from allocator.model import (
    EXPIRED,
    EXTERNAL,
    MILLI,
    ClosePolicy,
    EntryKind,
    LedgerEntry,
    Pool,
    chair_account,
    project_account,
)


@dataclass(frozen=True, slots=True)
class Outcome:
    project_id: str
    unused: int
    expired: int
    carried: int
    returned: int


def outcome(pool: Pool, balance: ProjectBalance) -> Outcome:
    unused = max(balance.remaining, 0)
    if pool.close_policy is ClosePolicy.RETURN_TO_CHAIR:
        return Outcome(balance.project_id, unused, 0, 0, unused)
    if pool.close_policy is ClosePolicy.CARRY_OVER:
        cap = max(balance.allocated, 0) * pool.carryover_cap_milli // MILLI
        carried = min(unused, cap)
        return Outcome(balance.project_id, unused, unused - carried, carried, 0)
    return Outcome(balance.project_id, unused, unused, 0, 0)


def close_plan(
    pool: Pool,
    period: str,
    next_label: str,
    balances: Sequence[tuple[str, ProjectBalance]],
    actor: str,
    now: datetime,
) -> list[LedgerEntry]:
    """Entries closing ``period`` of ``pool``; ``balances`` are ``(chair_id, balance)``."""
    entries: list[LedgerEntry] = []
    reference = f"close:{period}"

    def entry(kind: EntryKind, in_period: str, source: str, target: str, amount: int) -> None:
        reason = f"{pool.close_policy.value} of unused hours at the close of {period}"
        entries.append(
            LedgerEntry(
                kind,
                pool.id,
                in_period,
                source,
                target,
                amount,
                actor,
                now,
                reason,
                None,
                reference,
            )
        )

    for chair_id, b in sorted(balances, key=lambda cb: cb[1].project_id):
        o = outcome(pool, b)
        acct = project_account(b.project_id)
        if o.expired:
            entry(EntryKind.EXPIRY, period, acct, EXPIRED, o.expired)
        if o.carried:
            entry(EntryKind.CARRYOVER, period, acct, EXTERNAL, o.carried)
            entry(EntryKind.CARRYOVER, next_label, EXTERNAL, acct, o.carried)
        if o.returned:
            entry(EntryKind.CARRYOVER, period, acct, EXTERNAL, o.returned)
            entry(EntryKind.CARRYOVER, next_label, EXTERNAL, chair_account(chair_id), o.returned)
    return entries
