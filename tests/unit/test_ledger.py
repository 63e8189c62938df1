"""One pass over a pool's flows (``all_project_balances``, ``all_chair_balances``) gives what
``project_balance`` and ``chair_balance`` give per account."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from allocator.ledger import (
    all_chair_balances,
    all_project_balances,
    chair_balance,
    flows_of,
    project_balance,
)
from allocator.model import (
    ADJUSTMENTS,
    EXPIRED,
    EXTERNAL,
    EntryKind,
    LedgerEntry,
    chair_account,
    pool_account,
    project_account,
)
from tests.conftest import NOW

PROJECTS = ["p1", "p2", "p3", "chair-x", ""]
ACCOUNTS = [
    pool_account("pool"),
    chair_account("chair-x"),
    chair_account("p1"),  # a chair named like a project: not a project account
    EXTERNAL,
    EXPIRED,
    ADJUSTMENTS,
    *(project_account(p) for p in PROJECTS),
]

entries = st.lists(
    st.builds(
        lambda kind, source, target, amount: LedgerEntry(
            kind, "pool", "2026Q4", source, target, amount, "admin", NOW, "test"
        ),
        st.sampled_from(list(EntryKind)),
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
        st.integers(min_value=-(10**9), max_value=10**12),
    ),
    max_size=40,
)
consumptions = st.dictionaries(
    st.sampled_from([*PROJECTS, "p9"]),
    st.tuples(st.integers(0, 10**10), st.integers(0, 10**10)),
    max_size=4,
)


@given(entries, consumptions)
def test_all_project_balances_equal_project_balance_of_each_project(
    journal: list[LedgerEntry], consumed: dict[str, tuple[int, int]]
) -> None:
    flows = flows_of(journal)
    found = all_project_balances(flows, "pool", "2026Q4", consumed)
    prefix = project_account("")
    touched = {a[len(prefix) :] for s, t, _k in flows for a in (s, t) if a.startswith(prefix)}
    assert set(found) == touched | set(consumed)
    for project_id in [*PROJECTS, "p9"]:
        expected = project_balance(
            flows, project_id, "pool", "2026Q4", *consumed.get(project_id, (0, 0))
        )
        if project_id in found:
            assert found[project_id] == expected
        else:  # absent: nothing in the journal and nothing consumed
            assert expected.is_empty


@given(entries)
def test_all_chair_balances_equal_chair_balance_of_each_chair(journal: list[LedgerEntry]) -> None:
    flows = flows_of(journal)
    found = all_chair_balances(flows, "pool", "2026Q4")
    prefix = chair_account("")
    touched = {a[len(prefix) :] for s, t, _k in flows for a in (s, t) if a.startswith(prefix)}
    assert set(found) == touched
    for chair_id in ("chair-x", "p1", "nobody"):
        expected = chair_balance(flows, chair_id, "pool", "2026Q4")
        assert found.get(chair_id, expected) == expected
        if chair_id not in found:
            assert (expected.received, expected.allocated_to_projects, expected.unallocated) == (
                0,
                0,
                0,
            )


def test_a_typical_pool() -> None:
    journal = [
        LedgerEntry(EntryKind.DEPOSIT, "pool", "2026Q4", EXTERNAL, pool_account("pool"), 1000,
                    "a", NOW, "r"),
        LedgerEntry(EntryKind.ALLOCATE, "pool", "2026Q4", pool_account("pool"),
                    chair_account("c"), 600, "a", NOW, "r"),
        LedgerEntry(EntryKind.ALLOCATE, "pool", "2026Q4", chair_account("c"),
                    project_account("p1"), 400, "a", NOW, "r"),
        LedgerEntry(EntryKind.TRANSFER, "pool", "2026Q4", project_account("p1"),
                    project_account("p2"), 100, "a", NOW, "r"),
        LedgerEntry(EntryKind.ADJUSTMENT, "pool", "2026Q4", ADJUSTMENTS,
                    project_account("p2"), -30, "a", NOW, "r"),
    ]  # fmt: skip
    found = all_project_balances(flows_of(journal), "pool", "2026Q4", {"p2": (50, 20)})
    assert (found["p1"].allocated, found["p1"].adjustments, found["p1"].remaining) == (300, 0, 300)
    assert (found["p2"].allocated, found["p2"].adjustments, found["p2"].remaining) == (100, -30, 0)
