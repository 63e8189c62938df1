"""The quarter's test organisation: the Slurm rig's cluster as a local pool, its recorded jobs.

The recorded pair (``tests/data/slurm``): ``slurmdb_v0.0.38_jobs_hour07_final.json`` holds the
rig's 13 jobs of hour 07 on 2026-11-21 (cluster ``enact-local``), and
``sreport_gpu_seconds_hour07.psv`` is sreport's statement of the same hour. Direct usage, worked
out by hand in ``tests/slurm/test_slurm_recorded.py``: chair-nlp 128, chair-health 19,
proj-thesis-01 87 GPU-seconds; at rate 1.0 that is as many pool unit-seconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, func, select

from accounting.ingestion import UsageBatch, Window
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import (
    MILLI,
    Chair,
    ClusterRoute,
    GpuInventory,
    Pool,
    PoolKind,
    Project,
    ProjectKind,
    Rate,
    SlurmAccount,
)
from allocator.ports import UnitOfWork
from connectors.db import tables as t
from connectors.db.usage_store import SqlUsageStore
from connectors.slurm.decode import decode_jobs
from tests.builders import ADMIN, EPOCH

DATA = Path(__file__).resolve().parent / "data" / "slurm"
SREPORT = (DATA / "sreport_gpu_seconds_hour07.psv").read_bytes()
JOBS = (DATA / "slurmdb_v0.0.38_jobs_hour07_final.json").read_bytes()
CLUSTER = "enact-local"
POOL = "rig"
#: project -> the rig's Slurm account
ACCOUNTS = {"nlp": "chair-nlp", "health": "chair-health", "thesis": "proj-thesis-01"}
OURS = {"nlp": 128, "health": 19, "thesis": 87}

#: alice's chair-nlp line 128 -> 200, and chair-nlp's total 215 -> 287 to stay consistent.
ALTERED = SREPORT.replace(b"|chair-nlp|alice||gres/gpu|128", b"|chair-nlp|alice||gres/gpu|200")
ALTERED = ALTERED.replace(b"|chair-nlp|||gres/gpu|215", b"|chair-nlp|||gres/gpu|287")
#: ALTERED, and bob's chair-health line (and its total) 19 -> 100.
ALTERED_HEALTH = ALTERED.replace(b"|gres/gpu|19", b"|gres/gpu|100")


def rig_pool() -> Pool:
    return Pool(
        id=POOL,
        name="ENACT rig",
        kind=PoolKind.LOCAL,
        unit="gpu-hour",
        inventory=(GpuInventory("a100", 2), GpuInventory("h100", 2)),
        availability_milli=MILLI,
        rates=(Rate("a100", MILLI, EPOCH), Rate("h100", MILLI, EPOCH)),
        routes=(ClusterRoute(CLUSTER, ""),),
    )


def seed_rig(uow: UnitOfWork, now: datetime) -> None:
    """The rig pool, chair ``rig-chair`` and its projects nlp (alice), health and thesis (bob),
    mapped to the rig's accounts. Needs the users of ``tests.builders.seed_world``."""
    svc.create_pool(uow, ADMIN, now, rig_pool())
    svc.create_chair(uow, ADMIN, now, Chair("rig-chair", "Rig chair"))
    for project_id, account in ACCOUNTS.items():
        pi = "alice" if project_id == "nlp" else "bob"
        project = Project(
            project_id,
            "rig-chair",
            f"Project {project_id}",
            ProjectKind.RND,
            pi,
            slurm_accounts=(SlurmAccount(CLUSTER, account),),
        )
        svc.create_project(uow, ADMIN, now, project)


def recorded_jobs() -> list[UsageRecord]:
    decoded = decode_jobs(JOBS)
    assert len(decoded.records) == 13 and not decoded.quarantined
    return decoded.records


def store(engine: Engine, records: list[UsageRecord], now: datetime) -> None:
    """Store records as one ingestion chunk would (charges and daily rollup included)."""
    epoch = int(now.timestamp())
    start = min(r.start or epoch for r in records)
    window = Window(start, max(epoch, start + 1))
    SqlUsageStore(engine).store_window(CLUSTER, window, UsageBatch(records), epoch, None)


def q3_job(job_id: int, day: int, seconds: int, account: str = "chair-nlp") -> UsageRecord:
    """A finished one-A100 job on the rig, started on ``day`` September 2026 at noon."""
    start = int(datetime(2026, 9, day, 12, tzinfo=UTC).timestamp())
    return UsageRecord(
        cluster=CLUSTER,
        job_id=job_id,
        submit=start - 60,
        account=account,
        user="alice",
        partition="gpu-a100",
        qos="normal",
        state="COMPLETED",
        start=start,
        end=start + seconds,
        elapsed=seconds,
        gpus=1,
        gpus_by_type=(("a100", 1),),
    )


def statement_counts(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        statements = conn.execute(select(func.count()).select_from(t.StatementRow)).scalar_one()
        lines = conn.execute(select(func.count()).select_from(t.StatementLineRow)).scalar_one()
    return int(statements), int(lines)
