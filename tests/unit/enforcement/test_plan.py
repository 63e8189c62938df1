"""Plan, diagnose and apply on fakes: the ledger's desired state against a fake Slurm that
holds associations as ``sacctmgr`` would; nothing tightened when unsure or unread."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from allocator import services as svc
from allocator.enforcement import (
    ActualAccount,
    Attribute,
    Change,
    Ladder,
    Level,
    SlurmState,
    diff,
    drift,
)
from allocator.errors import Forbidden, NotFound, SlurmCommandFailed
from allocator.model import AuditEvent, EntryKind, SlurmAccount
from allocator.ports import ConsumptionLookup
from allocator.services import enforcement as enf
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H, seed_world
from tests.fakes import FakeUnitOfWork

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
CLUSTER = "jean-zay"
LADDER = Ladder(normal="normal", grace="enf-grace", blocked="enf-blocked", grace_milli=250)
QOS = frozenset({"normal", "enf-grace", "enf-blocked"})


class FakeSlurm:
    """Associations by account; ``fail_reads``/``fail_writes`` make sacctmgr fail."""

    def __init__(self, accounts: dict[str, ActualAccount]) -> None:
        self.accounts = accounts
        self.fail_reads = False
        self.fail_on: set[str] = set()
        self.writes: list[Change] = []

    def read(self, cluster: str, accounts: Sequence[str]) -> SlurmState:
        if self.fail_reads:
            raise SlurmCommandFailed("sacctmgr: slurmdbd is down")
        return SlurmState({a: self.accounts[a] for a in accounts if a in self.accounts}, QOS)

    def write(self, change: Change) -> None:
        if change.account in self.fail_on:
            raise SlurmCommandFailed("sacctmgr: error: connection refused")
        self.writes.append(change)
        have = self.accounts[change.account]
        if change.attribute is Attribute.LIMIT:
            self.accounts[change.account] = replace(have, limit_minutes=int(change.after))
        elif change.attribute is Attribute.USAGE:
            self.accounts[change.account] = replace(have, used_minutes=0)
        else:
            self.accounts[change.account] = replace(
                have, qos=(change.after,), default_qos=change.after
            )


def consumption(used: dict[str, int]) -> ConsumptionLookup:
    def lookup(
        period: str, pools: Sequence[str], projects: Sequence[str] | None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return {(p, "nat"): (amount, 0) for p, amount in used.items()}

    return lookup


@pytest.fixture
def fresh() -> FakeUnitOfWork:
    u = FakeUnitOfWork()
    seed_world(u, NOW)
    for project, account in (("p1", "acct-p1"), ("p2", "acct-p2")):
        svc.map_slurm_account(u, ADMIN, NOW, project, SlurmAccount(CLUSTER, account))
    svc.allocate_to_chair(u, ADMIN, NOW, "nat", "chair-a", "2026Q4", 100 * H, "q4", calendar=CAL)
    svc.allocate_to_project(u, ADMIN, NOW, "nat", "p1", "2026Q4", 40 * H, "q4", calendar=CAL)
    return u


@pytest.fixture
def uow(fresh: FakeUnitOfWork) -> FakeUnitOfWork:
    """The world with both accounts' usage counters already reset for 2026Q4 (the tests of
    limits and QOS see no reset to make)."""
    with fresh:
        for account in ("acct-p1", "acct-p2"):
            fresh.audit.append(
                AuditEvent("admin", NOW, "enforce.apply", f"slurm:{CLUSTER}/{account}",
                           "RawUsage: 12 -> 0 for 2026Q4 (applied)")
            )  # fmt: skip
        fresh.commit()
    return fresh


def unlimited(account: str) -> ActualAccount:
    return ActualAccount(CLUSTER, account, None, ("normal",), "normal")


def plan(uow: FakeUnitOfWork, slurm: FakeSlurm, used: dict[str, int], **kw: str) -> enf.Plan:
    return svc.enforcement_plan(
        uow, ENGINEER, slurm, CLUSTER, LADDER, consumption(used), now=NOW, calendar=CAL, **kw
    )


def test_the_desired_state_follows_each_mapped_accounts_ledger(uow: FakeUnitOfWork) -> None:
    period, desired = enf.desired_state(
        uow, ADMIN, CLUSTER, LADDER, consumption({"p1": 45 * H}), now=NOW, calendar=CAL
    )
    assert period == "2026Q4"
    by_account = {d.account: d for d in desired}
    assert by_account["acct-p1"].limit_minutes == 50 * H * 1000 // 60  # 40 h + 25 %
    assert by_account["acct-p1"].level is Level.GRACE
    assert (by_account["acct-p2"].limit_minutes, by_account["acct-p2"].level) == (
        0,
        Level.BLOCKED,
    )


def test_a_plan_lists_what_differs_and_changes_nothing(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    result = plan(uow, slurm, {"p1": 10 * H})
    assert {(c.account, c.attribute, c.after) for c in result.pending} == {
        ("acct-p1", Attribute.LIMIT, str(50 * H * 1000 // 60)),
        ("acct-p2", Attribute.LIMIT, "0"),
        ("acct-p2", Attribute.QOS, "enf-blocked"),
    }
    assert slurm.writes == []


def test_apply_twice_changes_nothing_the_second_time_and_audits_the_first(
    uow: FakeUnitOfWork,
) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    first = svc.enforcement_apply(uow, ADMIN, slurm, plan(uow, slurm, {}).pending, NOW)
    assert len(first) == 3 and all(not r.error for r in first)
    again = plan(uow, slurm, {})
    assert again.changes == ()
    assert svc.enforcement_apply(uow, ADMIN, slurm, again.pending, NOW) == []
    events = [e for e in uow.committed_store.audit if e.action == "enforce.apply"]
    assert len(events) == 2 + 3  # the fixture's two resets, then the three changes
    assert any(
        e.subject == "slurm:jean-zay/acct-p2"
        and e.detail == "QOS: normal (default normal) -> enf-blocked (applied)"
        for e in events
    )


def test_the_pi_hears_once_per_account_changed_and_not_of_a_failed_write(
    uow: FakeUnitOfWork,
) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    slurm.fail_on = {"acct-p1"}
    svc.enforcement_apply(uow, ADMIN, slurm, plan(uow, slurm, {}).pending, NOW)
    told = [
        n
        for n in uow.committed_store.notices.values()
        if n.event.kind.value == "enforcement.changed"
    ]
    # acct-p2 got a limit and a QOS: one notice, to p2's PI (bob); acct-p1's write failed
    assert [(n.recipient, n.event.subject) for n in told] == [("bob", "project:p2")]
    text = told[0].event.param("text")
    assert text == (
        "Slurm account acct-p2 on jean-zay: GrpTRESMins none -> 0;"
        " QOS normal (default normal) -> enf-blocked"
    )
    assert told[0].event.link == "/portal/projects/p2"
    slurm.fail_on = set()
    svc.enforcement_apply(uow, ADMIN, slurm, plan(uow, slurm, {}).pending, NOW)
    told = [
        n
        for n in uow.committed_store.notices.values()
        if n.event.kind.value == "enforcement.changed"
    ]
    assert sorted(n.recipient for n in told) == ["alice", "bob"]  # p1's PI, once it applied


def test_a_failed_write_is_audited_and_the_other_changes_still_run(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    slurm.fail_on = {"acct-p1"}
    results = svc.enforcement_apply(uow, ADMIN, slurm, plan(uow, slurm, {}).pending, NOW)
    assert [r.change.account for r in results if r.error] == ["acct-p1"]
    assert {c.account for c in slurm.writes} == {"acct-p2"}
    failed = [e for e in uow.committed_store.audit if "failed: sacctmgr" in e.detail]
    assert [e.subject for e in failed] == ["slurm:jean-zay/acct-p1"]
    slurm.fail_on = set()
    assert [c.account for c in plan(uow, slurm, {}).pending] == ["acct-p1"]


def test_a_stale_ingestion_never_tightens_but_still_loosens(uow: FakeUnitOfWork) -> None:
    tight = ActualAccount(CLUSTER, "acct-p1", 1, ("enf-blocked",), "enf-blocked")
    slurm = FakeSlurm({"acct-p1": tight, "acct-p2": unlimited("acct-p2")})
    result = plan(uow, slurm, {}, unsure="ingestion of jean-zay is 3 h late")
    assert {(c.account, c.attribute) for c in result.pending} == {
        ("acct-p1", Attribute.LIMIT),
        ("acct-p1", Attribute.QOS),
    }
    skipped = [c for c in result.changes if c.skipped]
    assert {c.account for c in skipped} == {"acct-p2"}
    assert all("ingestion of jean-zay is 3 h late" in c.skipped for c in skipped)


def test_an_unreadable_slurm_blocks_nobody_and_says_why(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    slurm.fail_reads = True
    result = plan(uow, slurm, {})
    assert result.read_error == "sacctmgr: slurmdbd is down"
    # p1 is within its hours: its normal QOS is written blind (it blocks nothing)
    assert [(c.account, c.attribute, c.after) for c in result.pending] == [
        ("acct-p1", Attribute.QOS, "normal")
    ]
    assert all("slurmdbd is down" in c.skipped for c in result.changes if c.skipped)
    assert {c.account for c in result.changes if c.skipped} == {"acct-p1", "acct-p2"}


def test_a_missing_account_or_qos_is_listed_not_applied(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1")})
    ladder = replace(LADDER, blocked="enf-nowhere")
    _period, desired = enf.desired_state(
        uow, ADMIN, CLUSTER, ladder, consumption({}), now=NOW, calendar=CAL
    )
    p1 = replace(desired[0], level=Level.BLOCKED, qos="enf-nowhere")
    changes = diff([p1, desired[1]], slurm.read(CLUSTER, ["acct-p1"]), ladder)
    assert {(c.account, c.attribute, c.skipped) for c in changes if c.skipped} == {
        ("acct-p1", Attribute.QOS, "QOS enf-nowhere does not exist on jean-zay"),
        ("acct-p2", Attribute.ACCOUNT, "account acct-p2 does not exist on jean-zay"),
    }


def test_diagnose_shows_expected_actual_and_the_sacctmgr_commands(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    found = enf.diagnose(plan(uow, slurm, {}), "acct-p2")
    assert found.desired.qos == "enf-blocked"
    assert found.actual == unlimited("acct-p2")
    assert [" ".join(c.command) for c in found.changes] == [
        "sacctmgr -i modify account where name=acct-p2 cluster=jean-zay set GrpTRESMins=billing=0",
        "sacctmgr -i modify account where name=acct-p2 cluster=jean-zay set QOS=enf-blocked "
        "DefaultQOS=enf-blocked",
    ]
    with pytest.raises(NotFound):
        enf.diagnose(plan(uow, slurm, {}), "acct-unknown")


def test_researchers_cannot_plan_or_apply(uow: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({})
    with pytest.raises(Forbidden):
        svc.enforcement_plan(
            uow, ALICE, slurm, CLUSTER, LADDER, consumption({}), now=NOW, calendar=CAL
        )
    with pytest.raises(Forbidden):
        svc.enforcement_apply(uow, ALICE, slurm, [], NOW)


def test_each_counter_is_reset_once_a_period_at_the_first_apply(fresh: FakeUnitOfWork) -> None:
    used = replace(unlimited("acct-p1"), used_minutes=4_321)
    slurm = FakeSlurm({"acct-p1": used, "acct-p2": unlimited("acct-p2")})
    resets = [c for c in plan(fresh, slurm, {}).pending if c.attribute is Attribute.USAGE]
    assert [(c.account, c.before, c.after, c.tightens) for c in resets] == [
        ("acct-p1", "4321", "0 for 2026Q4", False),
        ("acct-p2", "unknown", "0 for 2026Q4", False),
    ]
    assert " ".join(resets[0].command) == (
        "sacctmgr -i modify account where name=acct-p1 cluster=jean-zay set RawUsage=0"
    )
    svc.enforcement_apply(fresh, ADMIN, slurm, plan(fresh, slurm, {}).pending, NOW)
    assert slurm.accounts["acct-p1"].used_minutes == 0
    assert plan(fresh, slurm, {}).changes == ()  # once in the period
    # the next period: reset again (its limits follow from its own allocations)
    later = svc.enforcement_plan(
        fresh, ENGINEER, slurm, CLUSTER, LADDER, consumption({}),
        now=datetime(2027, 1, 4, tzinfo=UTC), calendar=CAL,
    )  # fmt: skip
    assert {c.account for c in later.pending if c.attribute is Attribute.USAGE} == {
        "acct-p1",
        "acct-p2",
    }


def test_a_reset_waits_for_a_readable_slurm_and_a_failed_one_is_tried_again(
    fresh: FakeUnitOfWork,
) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    slurm.fail_reads = True
    assert not [c for c in plan(fresh, slurm, {}).changes if c.attribute is Attribute.USAGE]
    slurm.fail_reads = False
    slurm.fail_on = {"acct-p1"}
    svc.enforcement_apply(fresh, ADMIN, slurm, plan(fresh, slurm, {}).pending, NOW)
    slurm.fail_on = set()
    again = [c for c in plan(fresh, slurm, {}).pending if c.attribute is Attribute.USAGE]
    assert [c.account for c in again] == ["acct-p1"]


def test_a_counter_is_reset_even_when_usage_is_unsure(fresh: FakeUnitOfWork) -> None:
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    result = plan(fresh, slurm, {}, unsure="usage of jean-zay has never been ingested")
    assert {c.account for c in result.pending if c.attribute is Attribute.USAGE} == {
        "acct-p1",
        "acct-p2",
    }


def test_drift_sets_slurms_counter_beside_gpuhours_use_and_flags_what_is_apart(
    uow: FakeUnitOfWork,
) -> None:
    # p1 used 10 h by gpuhours' count; Slurm counted 10 h 2 min (inside 5 %), p2 nothing
    # against Slurm's 2 h (flagged); an account whose counter is unread is flagged too
    ten_h_2 = (10 * H + 120) * 1000 // 60
    slurm = FakeSlurm(
        {
            "acct-p1": replace(unlimited("acct-p1"), used_minutes=ten_h_2),
            "acct-p2": replace(unlimited("acct-p2"), used_minutes=2 * H * 1000 // 60),
        }
    )
    result = plan(uow, slurm, {"p1": 10 * H})
    rows = {d.account: d for d in drift(result.desired, result.actual)}
    assert (rows["acct-p1"].ours, rows["acct-p1"].slurm, rows["acct-p1"].flagged) == (
        10 * H, 10 * H + 120, False,
    )  # fmt: skip
    assert (rows["acct-p2"].difference, rows["acct-p2"].flagged) == (2 * H, True)
    strict = drift(result.desired, result.actual, absolute=60, relative_milli=0)
    assert [d.account for d in strict if d.flagged] == ["acct-p1", "acct-p2"]
    unread = replace(unlimited("acct-p1"), used_minutes=None)
    [row] = drift(result.desired[:1], SlurmState({"acct-p1": unread}, QOS))
    assert (row.slurm, row.difference, row.flagged) == (None, None, True)


def test_at_a_period_start_the_carry_over_joins_the_new_limit_and_the_counter_resets(
    uow: FakeUnitOfWork,
) -> None:
    # 2027Q1 begins: p1 has 20 h allocated and 5 h carried over from 2026Q4, so its limit is
    # (25 h + 25 %) in billing-minutes; both counters are reset for the new period
    start = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)
    svc.allocate_to_chair(uow, ADMIN, start, "nat", "chair-a", "2027Q1", 40 * H, "q1", calendar=CAL)
    svc.allocate_to_project(uow, ADMIN, start, "nat", "p1", "2027Q1", 20 * H, "q1", calendar=CAL)
    svc.adjust(uow, ADMIN, start, "nat", "p1", "2027Q1", 5 * H, "carried over from 2026Q4",
               kind=EntryKind.CARRYOVER, calendar=CAL)  # fmt: skip
    slurm = FakeSlurm({"acct-p1": unlimited("acct-p1"), "acct-p2": unlimited("acct-p2")})
    result = svc.enforcement_plan(
        uow, ENGINEER, slurm, CLUSTER, LADDER, consumption({}), now=start, calendar=CAL
    )
    assert result.period == "2027Q1"
    changes = {(c.account, c.attribute): c.after for c in result.pending}
    assert changes[("acct-p1", Attribute.LIMIT)] == str(25 * H * 1250 // 1000 * 1000 // 60)
    assert changes[("acct-p1", Attribute.USAGE)] == "0 for 2027Q1"
    assert changes[("acct-p2", Attribute.USAGE)] == "0 for 2027Q1"
