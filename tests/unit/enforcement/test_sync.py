"""Account and membership sync, pure: the tree gpuhours keeps in Slurm, in the order it can
be made, removals only where allowed, and a misplaced account listed but never moved."""

from __future__ import annotations

from allocator.enforcement import ActualAccount, Attribute, SlurmState
from allocator.sync import Branch, Sync, branch, structural, sync_changes

CLUSTER = "enact-dev"
THESIS = branch("proj-thesis", "chair-nlp", "alice", ("bob",))


def account(name: str, parent: str, *users: str) -> ActualAccount:
    return ActualAccount(CLUSTER, name, None, ("normal",), "normal", parent=parent, users=users)


def state(*accounts: ActualAccount) -> SlurmState:
    return SlurmState({a.account: a for a in accounts}, frozenset({"normal"}))


def commands(wanted: list[Branch], actual: SlurmState, policy: Sync = Sync()) -> list[str]:
    return [
        " ".join(c.command) + (f"  # skipped: {c.skipped}" if c.skipped else "")
        for c in sync_changes(CLUSTER, wanted, actual, policy)
    ]


def test_a_new_project_is_made_under_its_chair_with_its_pi_and_members() -> None:
    assert commands([THESIS], state()) == [
        "sacctmgr -i add account chair-nlp cluster=enact-dev parent=root",
        "sacctmgr -i add account proj-thesis cluster=enact-dev parent=chair-nlp",
        "sacctmgr -i add user alice account=proj-thesis cluster=enact-dev",
        "sacctmgr -i add user bob account=proj-thesis cluster=enact-dev",
    ]


def test_the_chair_account_is_made_once_under_the_configured_root() -> None:
    other = branch("proj-rnd", "chair-nlp", "carol", ())
    made = commands([THESIS, other], state(), Sync(root="enact"))
    assert made[0] == "sacctmgr -i add account chair-nlp cluster=enact-dev parent=enact"
    assert sum("add account chair-nlp" in c for c in made) == 1


def test_a_synced_tree_has_nothing_to_change() -> None:
    held = state(account("chair-nlp", "root"), account("proj-thesis", "chair-nlp", "alice", "bob"))
    assert commands([THESIS], held) == []


def test_a_user_no_longer_a_member_is_removed_only_where_allowed() -> None:
    held = state(
        account("chair-nlp", "root"), account("proj-thesis", "chair-nlp", "alice", "bob", "carol")
    )
    [removal] = sync_changes(CLUSTER, [THESIS], held, Sync())
    assert (removal.attribute, removal.before, removal.tightens) == (Attribute.USER, "carol", True)
    assert removal.skipped == "removals are not allowed here"
    assert commands([THESIS], held, Sync(removals=True)) == [
        "sacctmgr -i delete user name=carol account=proj-thesis cluster=enact-dev"
    ]


def test_an_account_under_another_parent_is_listed_not_moved() -> None:
    held = state(account("chair-nlp", "root"), account("proj-thesis", "root", "alice"))
    assert commands([THESIS], held) == [
        "sacctmgr -i modify account where name=proj-thesis cluster=enact-dev set "
        "parent=chair-nlp  # skipped: under root, not chair-nlp: moving an account is an "
        "engineer's call",
        "sacctmgr -i add user bob account=proj-thesis cluster=enact-dev",
    ]


def test_only_accounts_and_users_made_call_for_a_second_pass() -> None:
    made = sync_changes(CLUSTER, [THESIS], state(), Sync())
    assert structural(made) is True
    assert structural([]) is False
