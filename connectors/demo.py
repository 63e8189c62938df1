"""A realistic ENACT-like organisation, seeded through the same use cases as the API.

Two pools (AI Factory France national grant on Jean Zay, the local ENACT Slurm cluster),
9 chairs, 17 projects, users of every role, allocations for the current and next quarter and
requests in every state. Every amount goes through the journal like any real change.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from accounting.charging import UTC_QUARTERS
from accounting.ingestion import UsageBatch, UsageStore, Window
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import (
    MILLI,
    SECONDS_PER_HOUR,
    BillingMode,
    Chair,
    ClosePolicy,
    ClusterRoute,
    GpuInventory,
    NodeShape,
    Pool,
    PoolKind,
    Project,
    Rate,
    Role,
    SlurmAccount,
    User,
)
from allocator.periods import Calendar, Period
from allocator.ports import UnitOfWork
from connectors.db.identities import Claimed, SqlIdentities
from connectors.demo_data import (
    CHAIRS,
    IDENTITIES,
    LOCAL_CLUSTER,
    NATIONAL_CLUSTER,
    PROJECTS,
    USERS,
)

__all__ = [
    "CHAIRS",
    "LOCAL_CLUSTER",
    "NATIONAL_CLUSTER",
    "PROJECTS",
    "SEEDER",
    "USERS",
    "demo_usage",
    "seed",
    "seed_identities",
    "seed_usage",
]

H = SECONDS_PER_HOUR
SEEDER = User("demo-seed", Role.ADMIN, "demo seeding")


def seed(uow: UnitOfWork, now: datetime, calendar: Calendar = UTC_QUARTERS) -> None:
    """Seed the demo organisation in the site's ``calendar`` (the demo runs in
    ``Europe/Paris``). Refuses to run on a non-empty database."""
    _seed_users(uow)
    current = calendar.containing(now)
    upcoming = calendar.next(current)
    national, local = _demo_pools(now, calendar)
    _seed_organisation(uow, now, national, local, calendar)
    _seed_allocations(uow, now, national, local, current, upcoming, calendar)
    _seed_requests(uow, now, national, local, current, upcoming, calendar)


def _seed_users(uow: UnitOfWork) -> None:
    with uow:
        if uow.pools.list():
            raise RuntimeError("the database already has pools; demo data is seeded only once")
        for user in USERS:
            uow.users.add(user)
        uow.commit()


def _demo_pools(now: datetime, calendar: Calendar) -> tuple[Pool, Pool]:
    """The national grant (valid from May 1st, local midnight, for a year) and the local
    cluster's pool."""
    local_now = calendar.local(now)
    year = local_now.year if local_now.month >= 5 else local_now.year - 1
    grant_start = datetime(year, 5, 1, tzinfo=calendar.zone)  # midnight, local time
    grant_end = grant_start.replace(year=year + 1).astimezone(UTC)
    grant_start = grant_start.astimezone(UTC)
    epoch = datetime(2020, 1, 1, tzinfo=UTC)
    national = Pool(
        id="ai2f-jz",
        name="AI Factory France – Jean Zay grant (AD011234)",
        kind=PoolKind.NATIONAL,
        unit="normalised-gpu-hour",
        valid_from=grant_start,
        valid_until=grant_end,
        billing_mode=BillingMode.RESERVED,
        close_policy=ClosePolicy.CARRY_OVER,
        carryover_cap_milli=250,
        routes=(ClusterRoute(NATIONAL_CLUSTER, ""),),
        node_shapes=(("gpu_p5", NodeShape(8, 64, 512_000)), ("gpu_p6", NodeShape(4, 96, 480_000))),
        rates=(
            Rate("a100", 2 * MILLI, epoch),
            Rate("h100", 4 * MILLI, epoch),
            Rate("v100", 1 * MILLI, epoch),
        ),
        description="GENCI-style grant of normalised GPU hours (1 V100 h = 1, A100 h = 2).",
    )
    local = Pool(
        id="enact-local",
        name="ENACT local GPU cluster",
        kind=PoolKind.LOCAL,
        unit="gpu-hour",
        inventory=(GpuInventory("a100", 4), GpuInventory("h100", 4)),
        availability_milli=900,
        close_policy=ClosePolicy.EXPIRE,
        routes=(ClusterRoute(LOCAL_CLUSTER, ""),),
        node_shapes=(("gpu-a100", NodeShape(4, 8, 8000)), ("gpu-h100", NodeShape(4, 8, 8000))),
        rates=(Rate("a100", MILLI, epoch), Rate("h100", MILLI, epoch)),
        description="Université de Lorraine / Strasbourg cluster: 4 A100 + 4 H100, 90 % available.",
    )
    return national, local


def _seed_organisation(
    uow: UnitOfWork, now: datetime, national: Pool, local: Pool, calendar: Calendar
) -> None:
    """The two pools (the grant deposited), the chairs and the projects with their Slurm
    accounts."""
    svc.create_pool(uow, SEEDER, now, national)
    svc.add_grant(
        uow, SEEDER, now, national.id, 400_000 * H, "GENCI AD011234 grant", calendar=calendar
    )
    svc.create_pool(uow, SEEDER, now, local)

    for chair_id, name, institution in CHAIRS:
        svc.create_chair(uow, SEEDER, now, Chair(chair_id, name, institution))
    start = now - timedelta(days=400)
    for pid, chair, name, kind, pi, members, local_acct, national_acct in PROJECTS:
        accounts = []
        if local_acct:
            accounts.append(SlurmAccount(LOCAL_CLUSTER, local_acct))
        if national_acct:
            accounts.append(SlurmAccount(NATIONAL_CLUSTER, national_acct))
        svc.create_project(
            uow,
            SEEDER,
            now,
            Project(
                pid,
                chair,
                name,
                kind,
                pi,
                members,
                start,
                start + timedelta(days=1460),
                tuple(accounts),
            ),
        )


def _seed_allocations(
    uow: UnitOfWork,
    now: datetime,
    national: Pool,
    local: Pool,
    current: Period,
    upcoming: Period,
    calendar: Calendar,
) -> None:
    """Quarterly budgets of the chairs and projects, this period and the next, and national
    hours for the projects with a national account."""
    for period in (current.label, upcoming.label):
        _seed_quarterly_budgets(uow, now, national, local, period, calendar)
    for pid, *_rest, national_acct in PROJECTS:
        if national_acct:
            svc.allocate_to_project(
                uow,
                SEEDER,
                now,
                national.id,
                pid,
                current.label,
                2000 * H,
                "national hours for the quarter",
                calendar=calendar,
            )


def _seed_quarterly_budgets(
    uow: UnitOfWork, now: datetime, national: Pool, local: Pool, period: str, calendar: Calendar
) -> None:
    """Each chair's budget in both pools, then each project's in the local pool."""
    for i, (chair_id, _, _) in enumerate(CHAIRS):
        svc.allocate_to_chair(
            uow,
            SEEDER,
            now,
            local.id,
            chair_id,
            period,
            (1500 + 50 * i) * H,
            "quarterly chair budget",
            calendar=calendar,
        )
        svc.allocate_to_chair(
            uow,
            SEEDER,
            now,
            national.id,
            chair_id,
            period,
            (6000 + 500 * i) * H,
            "quarterly share of the AI2F grant",
            calendar=calendar,
        )
    for n, (pid, *_rest) in enumerate(PROJECTS):
        svc.allocate_to_project(
            uow,
            SEEDER,
            now,
            local.id,
            pid,
            period,
            (300 + 20 * n) * H,
            "quarterly project budget",
            calendar=calendar,
        )


#: The people of the demo's requests.
ALICE, BOB, MARIE = USERS[3], USERS[4], USERS[1]
ADMIN = User("admin", Role.ADMIN)


def _seed_requests(
    uow: UnitOfWork,
    now: datetime,
    national: Pool,
    local: Pool,
    current: Period,
    upcoming: Period,
    calendar: Calendar,
) -> None:
    """Requests in every state: submitted (with a comment), approved, partly approved,
    rejected and withdrawn."""
    _submitted_request(uow, now, local, upcoming, calendar)
    _approved_requests(uow, now, national, local, current, upcoming, calendar)
    _refused_requests(uow, now, national, local, current, upcoming, calendar)


def _submitted_request(
    uow: UnitOfWork, now: datetime, local: Pool, upcoming: Period, calendar: Calendar
) -> None:
    r = svc.submit_request(
        uow,
        ALICE,
        now,
        "proj-thesis-01",
        local.id,
        [(upcoming.label, 200 * H)],
        "Final thesis experiments before defence",
        calendar=calendar,
    )
    svc.comment_request(uow, MARIE, now, r.id, "Usage so far matches the plan; looks fine.")


def _approved_requests(
    uow: UnitOfWork,
    now: datetime,
    national: Pool,
    local: Pool,
    current: Period,
    upcoming: Period,
    calendar: Calendar,
) -> None:
    """One approved in full, one in part."""
    r = svc.submit_request(
        uow,
        ALICE,
        now,
        "proj-nlp-rnd",
        national.id,
        [(current.label, 1500 * H), (upcoming.label, 1500 * H)],
        "Pre-training a 7B model on legal corpora",
        gpu_type="h100",
        calendar=calendar,
    )
    svc.approve_request(
        uow, ADMIN, now, r.id, None, "approved by the steering committee", calendar=calendar
    )

    r = svc.submit_request(
        uow,
        BOB,
        now,
        "proj-rnd-01",
        local.id,
        [(current.label, 400 * H), (upcoming.label, 400 * H)],
        "Hyper-parameter sweep for the ICU model",
        calendar=calendar,
    )
    svc.approve_request(
        uow,
        ADMIN,
        now,
        r.id,
        [(current.label, 250 * H), (upcoming.label, 0)],
        "partial: the cluster is busy this quarter",
        calendar=calendar,
    )


def _refused_requests(
    uow: UnitOfWork,
    now: datetime,
    national: Pool,
    local: Pool,
    current: Period,
    upcoming: Period,
    calendar: Calendar,
) -> None:
    """One rejected, one withdrawn."""
    r = svc.submit_request(
        uow,
        BOB,
        now,
        "proj-health-core",
        national.id,
        [(upcoming.label, 50_000 * H)],
        "Train everything from scratch",
        calendar=calendar,
    )
    svc.reject_request(uow, ADMIN, now, r.id, "far above the chair's share; resubmit with a plan")

    r = svc.submit_request(
        uow,
        ALICE,
        now,
        "proj-law-01",
        local.id,
        [(current.label, 100 * H)],
        "Summariser fine-tuning",
        calendar=calendar,
    )
    svc.withdraw_request(uow, ALICE, now, r.id, "moved to the national pool")


def demo_usage(
    now: datetime, jobs_per_account: int = 24, calendar: Calendar = UTC_QUARTERS
) -> dict[str, list[UsageRecord]]:
    """Synthetic Slurm usage of the demo projects over the last three weeks of the current
    period (deterministic), per cluster: finished jobs, a few still running, and one account
    mapped to no project (so reports show unmapped usage instead of hiding it)."""
    rnd = random.Random(42)
    end = int(now.timestamp())
    begin = max(int(calendar.containing(now).start.timestamp()), end - 21 * 86400)
    out: dict[str, list[UsageRecord]] = {LOCAL_CLUSTER: [], NATIONAL_CLUSTER: []}
    job_id = 1000
    accounts = [(LOCAL_CLUSTER, p[6]) for p in PROJECTS if p[6]] + [
        (NATIONAL_CLUSTER, p[7]) for p in PROJECTS if p[7]
    ]
    accounts.append((LOCAL_CLUSTER, "unmapped-lab"))
    for cluster, account in accounts:
        for n in range(jobs_per_account):
            job_id += 1
            out[cluster].append(_demo_job(rnd, cluster, account, job_id, n, begin, end))
    return out


def _demo_job(
    rnd: random.Random, cluster: str, account: str, job_id: int, n: int, begin: int, end: int
) -> UsageRecord:
    """The ``n``-th job of an account: the first may still be running."""
    gpus = rnd.choice((1, 1, 2, 4))
    if cluster == LOCAL_CLUSTER:
        partition, gpu_type = rnd.choice((("gpu-a100", "a100"), ("gpu-h100", "h100")))
        cpus = 2 * gpus
    else:
        partition, gpu_type = rnd.choice((("gpu_p5", "a100"), ("gpu_p6", "h100")))
        cpus = 8 * gpus
    elapsed = rnd.choice((1800, 3600, 4 * 3600, 10 * 3600))
    start = rnd.randrange(begin, max(begin + 1, end - 600))
    running = n == 0 and start + elapsed > end
    if not running:
        elapsed = min(elapsed, end - start)
    return UsageRecord(
        cluster=cluster,
        job_id=job_id,
        submit=start - 120,
        account=account,
        user="alice" if n % 2 else "bob",
        partition=partition,
        qos="normal",
        state="RUNNING" if running else "COMPLETED",
        start=start,
        end=None if running else start + elapsed,
        elapsed=(end - start) if running else elapsed,
        gpus=gpus,
        gpus_by_type=((gpu_type, gpus),),
        alloc_cpus=cpus,
        alloc_mem_mb=8000 * gpus,
        alloc_nodes=1,
    )


def seed_usage(store: UsageStore, now: datetime, calendar: Calendar = UTC_QUARTERS) -> int:
    """Store the demo usage as an ingestion of each demo cluster would (watermark at now)."""
    end = int(now.timestamp())
    total = 0
    for cluster, records in demo_usage(now, calendar=calendar).items():
        result = store.store_window(
            cluster, Window(end - 22 * 86400, end), UsageBatch(records), end, end
        )
        total += result.inserted + result.updated
    return total


def seed_identities(identities: SqlIdentities, now: datetime) -> int:
    """Link the demo people who signed in once with their institution's account (each claim
    audited as a real first sign-in would be), so the users page shows linked identities."""
    for provider, issuer, subject, email in IDENTITIES:
        identities.sign_in(Claimed(provider, issuer, subject, email=email), now - timedelta(days=3))
    return len(IDENTITIES)
