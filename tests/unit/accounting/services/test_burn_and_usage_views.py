"""Burn rates and the views of ingested usage, on in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from accounting import services as acc
from accounting.burn import Outlook, rate_over
from accounting.ingestion import IngestState
from accounting.ports import AccountUsage, JobCharge, QuarantinedRecord
from allocator.errors import Forbidden, InvalidInput, NotFound
from tests.builders import ADMIN, ALICE, CAL, ENGINEER, H
from tests.fakes_accounting import FakeAccountingUnitOfWork, FakeIngestStates
from tests.unit.accounting.services.quarter_world import NOW, Q3, consumed

EPOCH = int(NOW.timestamp())


def test_a_project_burning_its_hours_runs_out_at_that_pace(uow: FakeAccountingUnitOfWork) -> None:
    consumed(uow, "p1", 30)  # of 100 h: 70 h remain
    uow.committed_store.windows[("p1", "loc")] = (7 * 2 * H, 30 * H)
    burns = {
        (b.balance.project_id, b.balance.pool_id): b
        for b in acc.burn_rates(uow, ADMIN, NOW, Q3, "loc", calendar=CAL)
    }
    p1 = burns[("p1", "loc")]
    assert (p1.balance.allocated, p1.balance.remaining, p1.consumed) == (100 * H, 70 * H, 30 * H)
    # 14 h over the last 7 days, 30 h over 30: the 70 h left last at the 7-day pace
    assert p1.burn.rate_7d == rate_over(14 * H, EPOCH, 7, CAL)
    assert p1.burn.rate_30d == rate_over(30 * H, EPOCH, 30, CAL)
    # ... for 70 h / (2 h a day): 35 days from 21 November, but 2026Q3 ended on 1 October, so
    # these hours cannot run out in it any more: not before its end, and no date
    assert EPOCH + int(70 * H / p1.burn.rate_7d) > int(
        datetime(2026, 10, 1, tzinfo=UTC).timestamp()
    )
    assert (p1.burn.exhaustion, p1.burn.outlook) == (None, Outlook.NOT_BEFORE_PERIOD_END)
    p2 = burns[("p2", "loc")]
    assert (p2.burn.rate_7d, p2.burn.rate_30d, p2.burn.exhaustion) == (0.0, 0.0, None)


def test_a_researcher_sees_and_reads_the_burn_of_her_projects_only(
    uow: FakeAccountingUnitOfWork,
) -> None:
    found = acc.burn_rates(uow, ALICE, NOW, Q3, None, calendar=CAL)
    assert {b.balance.project_id for b in found} == {"p1"}
    assert uow.consumption.window_reads == [["p1"]]  # her accounts' usage, not the cluster's
    acc.burn_rates(uow, ENGINEER, NOW, Q3, None, calendar=CAL)
    assert uow.consumption.window_reads == [None]


def test_burns_of_given_balances_read_the_windows_once(uow: FakeAccountingUnitOfWork) -> None:
    uow.committed_store.windows[("p1", "loc")] = (0, 30 * H)
    remaining = {("p1", "loc"): (10 * H, 20 * H), ("p9", "loc"): (H, H)}
    found = acc.burns(uow, EPOCH, remaining, CAL, period_end=EPOCH + 90 * 86400)
    assert found[("p1", "loc")].rate_7d == 0.0 and found[("p1", "loc")].rate_30d > 0
    assert found[("p1", "loc")].exhaustion is None  # nothing burnt this week
    assert found[("p9", "loc")].rate_30d == 0.0


def test_cluster_health_lists_configured_and_ingested_clusters_with_lag_and_quarantine(
    uow: FakeAccountingUnitOfWork,
) -> None:
    states = FakeIngestStates(
        {
            "enact-dev": IngestState("enact-dev", watermark=EPOCH - 600, records_total=12),
            "retired": IngestState("retired", last_error="gone", last_error_kind="http"),
        }
    )
    uow.committed_store.quarantine = [
        QuarantinedRecord(1, "enact-dev", 7, "no start", "{}", EPOCH, EPOCH),
        QuarantinedRecord(2, "enact-dev", None, "bad json", "{", EPOCH, EPOCH),
    ]
    configured = {"enact-dev": "slurmrestd", "jean-zay": "sacct"}
    found = acc.cluster_health(uow, ENGINEER, states, configured, EPOCH)
    assert [h.cluster for h in found] == ["enact-dev", "jean-zay", "retired"]
    dev, jz, retired = found
    assert (dev.configured, dev.source, dev.lag_seconds, dev.records_total, dev.quarantined) == (
        True,
        "slurmrestd",
        600,
        12,
        2,
    )
    assert (jz.configured, jz.watermark, jz.lag_seconds, jz.quarantined) == (True, None, None, 0)
    assert (retired.configured, retired.source, retired.last_error) == (False, "", "gone")


def test_usage_per_account_and_the_quarantine_are_for_engineers_and_admins(
    uow: FakeAccountingUnitOfWork,
) -> None:
    mapped = AccountUsage("enact-dev", "acct-p1", "p1", 3, 7200, 0, {"a100": 7200})
    unmapped = AccountUsage("enact-dev", "acct-x", None, 1, 60, 60, {"": 60})
    uow.committed_store.account_usage = [mapped, unmapped]
    when = {"now": NOW, "calendar": CAL}
    assert acc.account_usage(uow, ENGINEER, **when) == [mapped, unmapped]
    assert acc.account_usage(uow, ADMIN, "enact-dev", unmapped=True, **when) == [unmapped]
    assert acc.account_usage(uow, ADMIN, "jean-zay", **when) == []
    assert acc.quarantine(uow, ADMIN, "enact-dev") == []
    with pytest.raises(Forbidden):
        acc.account_usage(uow, ALICE, **when)
    with pytest.raises(Forbidden):
        acc.quarantine(uow, ALICE)
    with pytest.raises(Forbidden):
        acc.cluster_health(uow, ALICE, FakeIngestStates(), {}, EPOCH)


def test_consumption_provisional_counts_against_the_remaining_hours(
    uow: FakeAccountingUnitOfWork,
) -> None:
    consumed(uow, "p2", 10, provisional=5)
    [p2] = [
        b
        for b in acc.burn_rates(uow, ADMIN, NOW, Q3, "loc", calendar=CAL)
        if b.balance.project_id == "p2"
    ]
    assert (p2.consumed, p2.balance.remaining) == (15 * H, 35 * H)


def test_my_jobs_are_the_jobs_of_my_projects_in_every_pool(uow: FakeAccountingUnitOfWork) -> None:
    p1_job = JobCharge("enact-dev", 7, 1, "acct-p1", 3600, 3600, False, False)
    p2_job = JobCharge("enact-dev", 8, 2, "acct-p2", 60, 60, True, False)
    uow.committed_store.jobs[(Q3, "loc")] = [p1_job, p2_job]
    mine = acc.project_jobs(uow, ALICE, Q3, now=NOW, calendar=CAL)
    assert [(j.project_id, j.pool_id, j.job) for j in mine] == [("p1", "loc", p1_job)]
    assert acc.project_jobs(uow, ALICE, Q3, limit=0, now=NOW, calendar=CAL) == []
    staff = acc.project_jobs(uow, ENGINEER, Q3, "p2", "loc", now=NOW, calendar=CAL)
    assert [j.job for j in staff] == [p2_job]
    with pytest.raises(NotFound):  # another's project reads as unknown
        acc.project_jobs(uow, ALICE, Q3, "p2", now=NOW, calendar=CAL)
    with pytest.raises(InvalidInput) as err:  # staff name the project
        acc.project_jobs(uow, ENGINEER, Q3, now=NOW, calendar=CAL)
    assert err.value.field == "project_id"
    with pytest.raises(InvalidInput) as err:
        acc.project_jobs(uow, ALICE, "2026-07", now=NOW, calendar=CAL)
    assert err.value.field == "period"
