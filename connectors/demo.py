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
    ProjectKind,
    Rate,
    Role,
    SlurmAccount,
    User,
)
from allocator.periods import Calendar
from allocator.ports import UnitOfWork

H = SECONDS_PER_HOUR
SEEDER = User("demo-seed", Role.ADMIN, "demo seeding")
LOCAL_CLUSTER = "enact-dev"
NATIONAL_CLUSTER = "jean-zay"

CHAIRS = [
    ("chair-nlp", "Natural language processing", "Université de Lorraine"),
    ("chair-health", "AI for health", "Université de Strasbourg / HUS"),
    ("chair-vision", "Computer vision and imaging", "Université de Strasbourg"),
    ("chair-robotics", "Robotics and embodied AI", "Inria Nancy – Grand Est"),
    ("chair-climate", "AI for climate and environment", "CNRS"),
    ("chair-materials", "AI for materials science", "Université de Lorraine"),
    ("chair-law", "AI, law and society", "Université de Strasbourg"),
    ("chair-trust", "Trustworthy and frugal AI", "Inria Nancy – Grand Est"),
    ("chair-medimg", "Medical imaging", "Inserm / CHRU Nancy"),
]

USERS = [
    User("admin", Role.ADMIN, "ENACT administrator", "admin@enact.example"),
    User("eng-marie", Role.ENGINEER, "Marie Engineer", "marie@enact.example"),
    User("eng-paul", Role.ENGINEER, "Paul Engineer", "paul@enact.example"),
    User("alice", Role.RESEARCHER, "Alice Martin", "alice@enact.example"),
    User("bob", Role.RESEARCHER, "Bob Weber", "bob@enact.example"),
    User("carol", Role.RESEARCHER, "Carol Muller", "carol@enact.example"),
    User("dan", Role.RESEARCHER, "Dan Schmitt", "dan@enact.example"),
    User("eve", Role.RESEARCHER, "Eve Klein", "eve@enact.example"),
    User("pi-durand", Role.RESEARCHER, "Prof. Durand", "durand@enact.example"),
    User("pi-lambert", Role.RESEARCHER, "Prof. Lambert", "lambert@enact.example"),
    User("pi-roux", Role.RESEARCHER, "Prof. Roux", "roux@enact.example"),
]

# (id, chair, name, kind, pi, members, local slurm account, national account)
PROJECTS = [
    (
        "proj-thesis-01",
        "chair-nlp",
        "Thesis: low-resource Alsatian LLM",
        ProjectKind.THESIS,
        "pi-durand",
        ("alice",),
        "proj-thesis-01",
        "nlp1@a100",
    ),
    (
        "proj-nlp-rnd",
        "chair-nlp",
        "R&D: legal-text retrieval",
        ProjectKind.RND,
        "pi-durand",
        ("alice", "carol"),
        "chair-nlp",
        "nlp2@h100",
    ),
    (
        "proj-thesis-02",
        "chair-nlp",
        "Thesis: speech for Lorraine dialects",
        ProjectKind.THESIS,
        "pi-durand",
        ("dan",),
        None,
        None,
    ),
    (
        "proj-rnd-01",
        "chair-health",
        "R&D: ICU early warning",
        ProjectKind.RND,
        "pi-lambert",
        ("bob", "carol"),
        "proj-rnd-01",
        "hlt1@h100",
    ),
    (
        "proj-health-core",
        "chair-health",
        "Chair health: shared experiments",
        ProjectKind.OTHER,
        "pi-lambert",
        ("bob",),
        "chair-health",
        None,
    ),
    (
        "proj-thesis-03",
        "chair-health",
        "Thesis: federated EHR models",
        ProjectKind.THESIS,
        "pi-lambert",
        ("eve",),
        None,
        "hlt2@a100",
    ),
    (
        "proj-vision-01",
        "chair-vision",
        "Thesis: satellite segmentation",
        ProjectKind.THESIS,
        "pi-roux",
        ("dan",),
        "vision-01",
        None,
    ),
    (
        "proj-vision-02",
        "chair-vision",
        "R&D: video understanding",
        ProjectKind.RND,
        "pi-roux",
        ("eve",),
        "vision-02",
        "vis1@h100",
    ),
    (
        "proj-robotics-01",
        "chair-robotics",
        "Thesis: sim-to-real grasping",
        ProjectKind.THESIS,
        "pi-roux",
        ("dan",),
        "robotics-01",
        None,
    ),
    (
        "proj-robotics-02",
        "chair-robotics",
        "R&D: humanoid locomotion",
        ProjectKind.RND,
        "pi-roux",
        (),
        "robotics-02",
        None,
    ),
    (
        "proj-climate-01",
        "chair-climate",
        "Thesis: downscaling climate models",
        ProjectKind.THESIS,
        "pi-lambert",
        ("eve",),
        "climate-01",
        "clm1@a100",
    ),
    (
        "proj-materials-01",
        "chair-materials",
        "R&D: generative crystals",
        ProjectKind.RND,
        "pi-durand",
        ("carol",),
        "materials-01",
        None,
    ),
    (
        "proj-materials-02",
        "chair-materials",
        "Thesis: ML interatomic potentials",
        ProjectKind.THESIS,
        "pi-durand",
        (),
        "materials-02",
        None,
    ),
    (
        "proj-law-01",
        "chair-law",
        "R&D: case-law summarisation",
        ProjectKind.RND,
        "pi-roux",
        ("alice",),
        "law-01",
        None,
    ),
    (
        "proj-trust-01",
        "chair-trust",
        "Thesis: certified robustness",
        ProjectKind.THESIS,
        "pi-lambert",
        (),
        "trust-01",
        None,
    ),
    (
        "proj-trust-teach",
        "chair-trust",
        "Teaching: frugal AI course",
        ProjectKind.TEACHING,
        "pi-lambert",
        ("eve",),
        "trust-teach",
        None,
    ),
    (
        "proj-medimg-01",
        "chair-medimg",
        "Thesis: MRI reconstruction",
        ProjectKind.THESIS,
        "pi-roux",
        ("bob",),
        "medimg-01",
        None,
    ),
]


def seed(uow: UnitOfWork, now: datetime, calendar: Calendar = UTC_QUARTERS) -> None:
    """Seed the demo organisation in the site's ``calendar`` (the demo runs in
    ``Europe/Paris``). Refuses to run on a non-empty database."""
    with uow:
        if uow.pools.list():
            raise RuntimeError("the database already has pools; demo data is seeded only once")
        for user in USERS:
            uow.users.add(user)
        uow.commit()

    current = calendar.containing(now)
    upcoming = calendar.next(current)
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

    for period in (current.label, upcoming.label):
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

    alice = USERS[3]
    bob = USERS[4]
    admin = User("admin", Role.ADMIN)
    marie = USERS[1]

    r = svc.submit_request(
        uow,
        alice,
        now,
        "proj-thesis-01",
        local.id,
        [(upcoming.label, 200 * H)],
        "Final thesis experiments before defence",
        calendar=calendar,
    )
    svc.comment_request(uow, marie, now, r.id, "Usage so far matches the plan; looks fine.")

    r = svc.submit_request(
        uow,
        alice,
        now,
        "proj-nlp-rnd",
        national.id,
        [(current.label, 1500 * H), (upcoming.label, 1500 * H)],
        "Pre-training a 7B model on legal corpora",
        gpu_type="h100",
        calendar=calendar,
    )
    svc.approve_request(
        uow, admin, now, r.id, None, "approved by the steering committee", calendar=calendar
    )

    r = svc.submit_request(
        uow,
        bob,
        now,
        "proj-rnd-01",
        local.id,
        [(current.label, 400 * H), (upcoming.label, 400 * H)],
        "Hyper-parameter sweep for the ICU model",
        calendar=calendar,
    )
    svc.approve_request(
        uow,
        admin,
        now,
        r.id,
        [(current.label, 250 * H), (upcoming.label, 0)],
        "partial: the cluster is busy this quarter",
        calendar=calendar,
    )

    r = svc.submit_request(
        uow,
        bob,
        now,
        "proj-health-core",
        national.id,
        [(upcoming.label, 50_000 * H)],
        "Train everything from scratch",
        calendar=calendar,
    )
    svc.reject_request(uow, admin, now, r.id, "far above the chair's share; resubmit with a plan")

    r = svc.submit_request(
        uow,
        alice,
        now,
        "proj-law-01",
        local.id,
        [(current.label, 100 * H)],
        "Summariser fine-tuning",
        calendar=calendar,
    )
    svc.withdraw_request(uow, alice, now, r.id, "moved to the national pool")


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
            out[cluster].append(
                UsageRecord(
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
            )
    return out


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
