"""The business figures of ``/metrics`` equal the API's and direct reads: the balance families
equal ``GET /api/v1/balances`` for every project and pool (SQLite and PostgreSQL); burn rates,
grants, usage counters, ingestion health and the reconciliation equal what their own reads say.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from accounting.burn import Outlook
from accounting.reconcile import Status
from accounting.services import burns, reconcile
from allocator import services as svc
from allocator.periods import period_containing
from connectors.auth import mint_token
from connectors.bootstrap import Services
from connectors.db import burn_windows
from connectors.db import tables as t
from connectors.db.burn_tables import UsageBurnStateRow
from connectors.db.consumption import consumption_by_project
from connectors.db.usage_store import SqlUsageStore
from connectors.http.app import create_app
from connectors.metrics.business import collect_database
from tests.conftest import NOW
from tests.ops.metrics_support import (
    ADMIN,
    H,
    by_labels,
    samples,
    scrape,
    series,
)


def test_the_balance_families_equal_the_api_balances(
    services: Services, client: TestClient
) -> None:
    period = period_containing(NOW).label
    token = mint_token(services.session_factory, "admin", NOW)
    api = client.get(
        "/api/v1/balances", params={"period": period}, headers={"Authorization": f"Bearer {token}"}
    )
    assert api.status_code == 200, api.text
    rows = {(b["pool_id"], b["project_id"]): b for b in api.json()["items"]}
    assert any(b["consumed_seconds"] for b in rows.values())
    assert any(b["consumed_provisional_seconds"] for b in rows.values())
    assert any(b["adjustments_seconds"] for b in rows.values())

    found = samples(scrape(client, services).text)
    allocated = series(found, "gpuhours_project_allocated_gpu_seconds")
    consumed = series(found, "gpuhours_project_consumed_gpu_seconds")
    provisional = series(found, "gpuhours_project_consumed_provisional_gpu_seconds")
    remaining = series(found, "gpuhours_project_remaining_gpu_seconds")
    assert set(allocated) == set(rows)  # the projects with an allocation or a consumption
    for key, b in rows.items():
        assert allocated[key] == b["allocated_seconds"] + b["adjustments_seconds"], key
        assert consumed[key] == b["consumed_seconds"] + b["consumed_provisional_seconds"], key
        assert provisional[key] == b["consumed_provisional_seconds"], key
        assert remaining[key] == b["remaining_seconds"], key
    assert {s.labels["period"] for s in found if "period" in s.labels} >= {period}

    # Pools: the capacity and allocations of the pool balance, and every charge of the pool
    # (unmapped accounts included).
    by_project = consumption_by_project(services.engine, period)
    for pool in ("ai2f-jz", "enact-local"):
        pb = client.get(
            f"/api/v1/pools/{pool}/balances",
            params={"period": period},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        key = (pool,)
        assert series(found, "gpuhours_pool_capacity_gpu_seconds")[key] == pb["capacity_seconds"]
        assert series(found, "gpuhours_pool_allocated_gpu_seconds")[key] == pb["allocated_seconds"]
        used = sum(c.final + c.provisional for (_p, pl), c in by_project.items() if pl == pool)
        assert series(found, "gpuhours_pool_consumed_gpu_seconds")[key] == used
    assert by_project[("", "enact-local")].final > 0  # the unmapped account counts for the pool


def test_burn_grant_usage_ingestion_and_reconciliation_equal_direct_reads(
    services: Services, client: TestClient
) -> None:
    found = samples(scrape(client, services).text)
    epoch = int(NOW.timestamp())
    period = period_containing(NOW)
    previous = period_containing(period.start - timedelta(days=1)).label

    # Burn rates and exhaustion: accounting.burn through accounting.services.burns.
    remaining = by_labels(found, "gpuhours_project_remaining_gpu_seconds", "project", "pool")
    allocated = by_labels(found, "gpuhours_project_allocated_gpu_seconds", "project", "pool")
    expected = burns(
        services.uow(),
        epoch,
        {k: (int(remaining[k]), int(allocated[k])) for k in remaining},
        services.settings.calendar,
        period_end=int(period.end.timestamp()),
    )
    rates = by_labels(found, "gpuhours_project_burn_rate", "project", "pool", "window")
    exhaustion = by_labels(
        found, "gpuhours_project_projected_exhaustion_timestamp_seconds", "project", "pool"
    )
    assert any(b.rate_7d for b in expected.values())
    for key, b in expected.items():
        assert (rates[(*key, "7d")], rates[(*key, "30d")]) == (b.rate_7d, b.rate_30d), key
        assert exhaustion.get(key) == b.exhaustion, key
    # an exhaustion is exported only before the current period's end, never a later quarter's
    end = period.end.timestamp()
    assert exhaustion and all(at < end for at in exhaustion.values())
    assert any(b.outlook is Outlook.NOT_BEFORE_PERIOD_END and b.rate_7d for b in expected.values())

    # Usage counters and grants against the daily rollup and the journal.
    D = t.UsageDailyRow
    with services.engine.connect() as conn:
        final = {
            (pool, cluster, gpu_type): int(s)
            for pool, cluster, gpu_type, s in conn.execute(
                select(D.pool_id, D.cluster, D.gpu_type, func.sum(D.gpu_seconds))
                .where(~D.provisional)
                .group_by(D.pool_id, D.cluster, D.gpu_type)
            )
        }
        grant_used = conn.scalar(
            select(func.sum(D.units)).where(
                D.pool_id == "ai2f-jz",
                D.day >= int(datetime(2026, 5, 1, tzinfo=UTC).timestamp()) // 86400,
                D.day < int(datetime(2027, 5, 1, tzinfo=UTC).timestamp()) // 86400,
            )
        )
    counter = by_labels(found, "gpuhours_consumed_gpu_seconds_total", "pool", "cluster", "gpu_type")
    assert counter == final
    assert ("", "other", "a100") in counter  # unrouted usage
    assert by_labels(found, "gpuhours_grant_gpu_seconds", "pool") == {("ai2f-jz",): 400_000 * H}
    assert by_labels(found, "gpuhours_grant_consumed_gpu_seconds", "pool") == {
        ("ai2f-jz",): grant_used
    }
    assert by_labels(found, "gpuhours_grant_start_timestamp_seconds", "pool") == {
        ("ai2f-jz",): datetime(2026, 5, 1, tzinfo=UTC).timestamp()
    }

    # Ingestion, from the store's own view.
    states = {s.cluster: s for s in SqlUsageStore(services.engine).clusters()}
    assert set(states) == {"enact-dev", "jean-zay", "other"}
    success = by_labels(found, "gpuhours_ingest_last_success_timestamp_seconds", "cluster")
    lag = by_labels(found, "gpuhours_ingest_lag_seconds", "cluster")
    failing = by_labels(found, "gpuhours_ingest_failing", "cluster")
    records = by_labels(found, "gpuhours_ingest_records_total", "cluster")
    errors = by_labels(found, "gpuhours_ingest_errors_total", "cluster", "kind")
    quarantined = by_labels(found, "gpuhours_ingest_quarantined_records", "cluster")
    for name, s in states.items():
        assert success[(name,)] == s.last_success
        assert lag[(name,)] == epoch - (s.watermark or 0)
        assert records[(name,)] == s.records_total
    assert failing == {("enact-dev",): 0, ("jean-zay",): 0, ("other",): 1}
    assert errors == {("other", "timeout"): 1}
    assert quarantined == {("enact-dev",): 1, ("jean-zay",): 0, ("other",): 0}

    # Reconciliation of the last closed period.
    rec = reconcile(
        services.uow(),
        ADMIN,
        "ai2f-jz",
        previous,
        now=services.clock(),
        calendar=services.settings.calendar,
    )
    lines = by_labels(found, "gpuhours_reconciliation_lines", "pool", "period", "status")
    assert lines == {
        ("ai2f-jz", previous, status.value): sum(ln.status is status for ln in rec.lines)
        for status in Status
    }
    assert sum(lines.values()) == len(rec.lines) > 0
    assert by_labels(found, "gpuhours_reconciliation_difference_gpu_seconds", "pool", "period") == {
        ("ai2f-jz", previous): sum(ln.difference for ln in rec.lines)
    }
    assert by_labels(found, "gpuhours_period_closed_timestamp_seconds", "period") == {
        (previous,): NOW.timestamp()
    }


def test_usage_of_unmapped_accounts_per_cluster_equals_the_api_and_goes_when_mapped(
    services: Services, client: TestClient
) -> None:
    period = period_containing(NOW).label
    token = mint_token(services.session_factory, "admin", NOW)
    h = {"Authorization": f"Bearer {token}"}
    api = client.get("/api/v1/usage/accounts", params={"unmapped": "true"}, headers=h).json()[
        "items"
    ]
    expected: dict[tuple[str, str], tuple[int, int]] = {}
    for u in api:  # every unmapped job of the test data runs in the current period
        seconds, accounts = expected.get((u["cluster"], period), (0, 0))
        used = u["gpu_seconds"] + u["provisional_gpu_seconds"]
        expected[(u["cluster"], period)] = (seconds + used, accounts + 1)
    assert expected[("enact-dev", period)] == (H, 1)  # no-such-account: 1 GPU for 1 h
    found = samples(scrape(client, services).text)
    seconds = by_labels(found, "gpuhours_unmapped_gpu_seconds", "cluster", "period")
    accounts = by_labels(found, "gpuhours_unmapped_accounts", "cluster", "period")
    assert seconds == {k: v[0] for k, v in expected.items()} | {("jean-zay", period): 0}
    assert accounts == {k: v[1] for k, v in expected.items()} | {("jean-zay", period): 0}

    r = client.post(
        "/api/v1/projects/proj-vision-01/slurm-accounts",
        json={"cluster": "enact-dev", "account": "no-such-account"},
        headers=h,
    )
    assert r.status_code in (200, 201), r.text
    with TestClient(create_app(services=services)) as fresh:  # not the cached collection
        found = samples(scrape(fresh, services).text)
    seconds = by_labels(found, "gpuhours_unmapped_gpu_seconds", "cluster", "period")
    assert seconds[("enact-dev", period)] == 0


def test_released_and_transferred_hours_read_as_the_ledger_reads_them(
    services: Services, client: TestClient
) -> None:
    """The project and chair families are summed by the database from the journal: after a
    project hands hours back to its chair, another project of that chair receives a transfer
    and a refund, each equals the ledger's own balance of that account."""
    calendar = services.settings.calendar
    period = period_containing(NOW).label
    pool = "enact-local"
    uow = services.uow
    svc.release(
        uow(), ADMIN, NOW, pool, "proj-thesis-01", period, 3 * H, "unused", calendar=calendar
    )
    svc.transfer(
        uow(), ADMIN, NOW, pool, period, "proj-thesis-01", "proj-nlp-rnd", 2 * H, "lend",
        calendar=calendar,
    )  # fmt: skip
    svc.adjust(uow(), ADMIN, NOW, pool, "proj-nlp-rnd", period, -H, "debit", calendar=calendar)

    found = samples(scrape(client, services).text)
    allocated = by_labels(found, "gpuhours_project_allocated_gpu_seconds", "pool", "project")
    chair_allocated = by_labels(found, "gpuhours_chair_allocated_gpu_seconds", "pool", "chair")
    for project in ("proj-thesis-01", "proj-nlp-rnd"):
        b = svc.project_balances(uow(), ADMIN, project, pool, period, now=NOW, calendar=calendar)
        assert b.adjustments, project  # a transfer or a debit besides the allocation
        assert allocated[(pool, project)] == b.allocated + b.adjustments, project
    [chair] = svc.chair_balances(
        uow(), ADMIN, "chair-nlp", pool, period, now=NOW, calendar=calendar
    )
    assert chair_allocated[(pool, "chair-nlp")] == chair.received


def test_the_figures_kept_by_the_ingestion_read_as_the_rollups_sum_them(
    services: Services,
) -> None:
    """The projects' figures and burn rates read from what the ingestion keeps per Slurm
    account (``usage_burn``, for the day and period of the scrape) are those summed from the
    rollups when it keeps none (another day's, or cleared by a repair): the same exposition,
    line for line."""
    with services.engine.connect() as conn:
        held = conn.execute(select(UsageBurnStateRow.day, UsageBurnStateRow.period)).one()
    now = services.clock()
    assert tuple(held) == (now.timestamp() // 86400, period_containing(now).label)
    kept = collect_database(services, now).render()
    with services.engine.begin() as conn:
        burn_windows.clear(conn)
    summed = collect_database(services, now).render()
    assert "gpuhours_project_burn_rate{" in kept
    assert "gpuhours_project_projected_exhaustion_timestamp_seconds{" in kept
    assert kept == summed
