"""Account and membership sync (opt-in per cluster): the Slurm account tree gpuhours keeps.
Pure.

Each project's mapped account sits under its chair's account (named as the chair's id), the
chair's under a configured root; the project's PI and members are the users of its
association. Sync creates what is missing (the chair's account first, then the project's,
then its users), and plans removals (a user Slurm holds who is no longer a member) as
tightening changes, applied only where the cluster allows them. An account under another
parent than gpuhours says is listed, not moved: moving re-parents its limits and usage, an
engineer's call.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from allocator.enforcement import Attribute, Change, SlurmState, skip

ABSENT = "absent"


@dataclass(frozen=True, slots=True)
class Sync:
    """A cluster's sync policy: the parent of chair accounts, and whether users are removed."""

    root: str = "root"
    removals: bool = False


@dataclass(frozen=True, slots=True)
class Branch:
    """What one project's account should be: its parent (the chair's account) and users."""

    account: str
    parent: str
    users: frozenset[str]


def branch(account: str, chair_id: str, pi: str, members: Iterable[str]) -> Branch:
    return Branch(account, chair_id, frozenset({pi, *members} - {""}))


def sync_changes(
    cluster: str, wanted: Sequence[Branch], actual: SlurmState, policy: Sync
) -> list[Change]:
    """The accounts and user associations to create (and remove) so that Slurm holds the tree
    ``wanted``, in the order they can be made."""
    out: list[Change] = []
    for chair in sorted({b.parent for b in wanted} - set(actual.accounts)):
        out.append(Change(cluster, chair, Attribute.ACCOUNT, ABSENT, policy.root, False))
    for want in sorted(wanted, key=lambda b: b.account):
        out.extend(_branch_changes(cluster, want, actual, policy))
    return out


def _branch_changes(cluster: str, want: Branch, actual: SlurmState, policy: Sync) -> list[Change]:
    have = actual.accounts.get(want.account)
    if have is None:
        made = Change(cluster, want.account, Attribute.ACCOUNT, ABSENT, want.parent, False)
        return [made, *_users(cluster, want.account, want.users, frozenset(), policy)]
    out: list[Change] = []
    if have.parent and have.parent != want.parent:
        moved = Change(cluster, want.account, Attribute.ACCOUNT, have.parent, want.parent, False)
        reason = f"under {have.parent}, not {want.parent}: moving an account is an engineer's call"
        out.append(skip(moved, reason))
    out.extend(_users(cluster, want.account, want.users, frozenset(have.users), policy))
    return out


def _users(
    cluster: str, account: str, wanted: frozenset[str], held: frozenset[str], policy: Sync
) -> list[Change]:
    out = [
        Change(cluster, account, Attribute.USER, ABSENT, user, False)
        for user in sorted(wanted - held)
    ]
    for user in sorted(held - wanted):
        removal = Change(cluster, account, Attribute.USER, user, ABSENT, True)
        out.append(removal if policy.removals else skip(removal, "removals are not allowed here"))
    return out


def structural(changes: Iterable[Change]) -> bool:
    """Whether any of these made or removed an account or a user association (after which
    the limits of what was made can be planned)."""
    return any(c.attribute in (Attribute.ACCOUNT, Attribute.USER) for c in changes)
