"""Jobs and pools of the charging tests: Jean Zay-like, in UTC epoch seconds.

Units are pool unit-seconds (3600 = one hour of the pool's unit); rates are in thousandths.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from accounting.charging import (
    Charge,
)
from accounting.usage import UsageRecord
from allocator.model import (
    MILLI,
    BillingMode,
    ClusterRoute,
    NodeShape,
    Pool,
    PoolKind,
    Rate,
)

H = 3600
DAY = 24 * H
LONG_AGO = datetime(2020, 1, 1, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: A Jean Zay gpu_p5-like node: 8 A100, 64 CPUs, 512 000 MB.
P5 = NodeShape(gpus=8, cpus=64, mem_mb=512_000)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Epoch seconds of a UTC wall-clock time."""
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def moment(seconds: int) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def job(
    start: int | None,
    elapsed: int,
    gpus: int = 1,
    *,
    types: tuple[tuple[str, int], ...] | None = None,
    state: str = "COMPLETED",
    job_id: int = 1001,
    submit: int | None = None,
    partition: str = "gpu_p5",
    cpus: int = 0,
    mem_mb: int = 0,
    nodes: int = 1,
) -> UsageRecord:
    running = state in ("RUNNING", "PENDING")
    return UsageRecord(
        cluster="jean-zay",
        job_id=job_id,
        submit=submit if submit is not None else (start or at(2026, 1, 1)) - 60,
        account="ad011234",
        user="alice",
        partition=partition,
        qos="qos_gpu-t3",
        state=state,
        start=start,
        end=None if running or start is None else start + elapsed,
        elapsed=elapsed,
        gpus=gpus,
        gpus_by_type=(("a100", gpus),) if types is None else types,
        alloc_cpus=cpus,
        alloc_mem_mb=mem_mb,
        alloc_nodes=nodes,
    )


def pool(
    *rates: Rate,
    mode: BillingMode = BillingMode.ALLOCATED,
    shapes: tuple[tuple[str, NodeShape], ...] = (("gpu_p5", P5),),
    pool_id: str = "ai2f-jz",
    routes: tuple[ClusterRoute, ...] = (),
) -> Pool:
    return Pool(
        id=pool_id,
        name=pool_id,
        kind=PoolKind.NATIONAL,
        unit="normalised-gpu-hour",
        billing_mode=mode,
        node_shapes=shapes,
        routes=routes,
        rates=rates or (Rate("a100", 2 * MILLI, LONG_AGO),),
    )


def parts(charges: list[Charge]) -> list[tuple[str, str, int, int, bool]]:
    return [(c.period, c.gpu_type, c.gpu_seconds, c.units, c.provisional) for c in charges]


def whole(charges: list[Charge]) -> tuple[int, int]:
    return sum(c.gpu_seconds for c in charges), sum(c.units for c in charges)
