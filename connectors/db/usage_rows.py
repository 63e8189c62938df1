"""Usage records as rows of ``usage_records``, and the bulk-writing tools the usage store uses.

Speed (``tests/bench/bench_ingest.py``): rows are built without per-row sorting or joining, the
COPY is binary, and the cyclic GC is paused while a big chunk is turned into rows.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BigInteger, Boolean, Connection, Integer, String, Table

from accounting.usage import UsageRecord
from connectors.db import tables as t

U = t.Base.metadata.tables["usage_records"]
COLUMNS = [c.name for c in U.columns]
KEY = ("cluster", "job_id", "submit")
QUOTED_COLUMNS = ", ".join(f'"{c}"' for c in COLUMNS)
VALUE_COLUMNS = [c for c in COLUMNS if c not in KEY and c != "ingested_at"]
_COPY_TYPE_NAMES = {String: "varchar", BigInteger: "bigint", Integer: "integer", Boolean: "boolean"}


def copy_types(table: Table, skip: str | None = None) -> list[str]:
    """The PostgreSQL types of ``table``'s columns (but ``skip``), which a binary COPY names."""
    return [_COPY_TYPE_NAMES[type(c.type)] for c in table.columns if c.name != skip]


#: PostgreSQL types of ``COLUMNS``, which the binary COPY has to name.
COPY_TYPES = copy_types(U)
#: Below this many records the GC is left alone (as in ``connectors.slurm.decode``).
_GC_PAUSE_RECORDS = 1000


def encode_types(pairs: Iterable[tuple[str, int]]) -> str:
    if type(pairs) is tuple and len(pairs) <= 1:  # the usual case: no or one GPU type
        if not pairs:
            return ""
        ((name, count),) = pairs
        return f"{name}={count}"
    return ",".join(f"{name}={count}" for name, count in sorted(pairs))


def decode_types(value: str) -> tuple[tuple[str, int], ...]:
    if not value:
        return ()
    return tuple((k, int(v)) for k, v in (part.rsplit("=", 1) for part in value.split(",")))


def row_of(r: UsageRecord, now: int) -> tuple[Any, ...]:
    """A usage record as a tuple in ``COLUMNS`` order."""
    return (
        r.cluster,
        r.job_id,
        r.submit,
        r.sluid,
        r.account,
        r.user,
        r.partition,
        r.qos,
        r.state,
        r.start,
        r.end,
        r.elapsed,
        r.gpus,
        encode_types(r.gpus_by_type),
        r.gpu_seconds,
        r.alloc_cpus,
        r.alloc_mem_mb,
        r.alloc_nodes,
        r.array_job_id,
        r.array_task_id,
        r.het_job_id,
        r.het_offset,
        r.restart_count,
        r.final,
        now,
    )


def record_of(row: Any) -> UsageRecord:
    m = row._mapping
    return UsageRecord(
        cluster=m["cluster"],
        job_id=m["job_id"],
        submit=m["submit"],
        account=m["account"],
        user=m["user"],
        partition=m["partition"],
        qos=m["qos"],
        state=m["state"],
        start=m["start"],
        end=m["end"],
        elapsed=m["elapsed"],
        gpus=m["gpus"],
        gpus_by_type=decode_types(m["gpus_by_type"]),
        sluid=m["sluid"],
        array_job_id=m["array_job_id"],
        array_task_id=m["array_task_id"],
        het_job_id=m["het_job_id"],
        het_offset=m["het_offset"],
        restart_count=m["restart_count"],
        alloc_cpus=m["alloc_cpus"],
        alloc_mem_mb=m["alloc_mem_mb"],
        alloc_nodes=m["alloc_nodes"],
    )


def dedupe(records: Sequence[UsageRecord]) -> list[UsageRecord]:
    """One record per key within a batch: a final one wins over a provisional one."""
    if len({(r.cluster, r.job_id, r.submit) for r in records}) == len(records):
        return list(records)  # the usual case: no key twice
    best: dict[tuple[str, int, int], UsageRecord] = {}
    for r in records:
        key = (r.cluster, r.job_id, r.submit)
        old = best.get(key)
        if old is None or (r.final or not old.final):
            best[key] = r
    return list(best.values())


@contextmanager
def gc_paused(size: int) -> Iterator[None]:
    """Pause the cyclic GC while ``size`` records are deduplicated and become rows: tens of
    thousands of new GC-tracked tuples would make it rescan the heap again and again (as in
    ``connectors.slurm.decode``). Any cycle made meanwhile is collected once it resumes."""
    paused = size >= _GC_PAUSE_RECORDS and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def copy_rows(
    conn: Connection,
    target: str,
    columns: Sequence[str],
    types: Sequence[str],
    rows: Iterable[tuple[Any, ...]],
) -> None:
    """Binary ``COPY target (columns) FROM STDIN`` of ``rows`` on the connection's
    transaction (PostgreSQL)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    names = ", ".join(f'"{c}"' for c in columns)
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY {target} ({names}) FROM STDIN (FORMAT BINARY)") as copy,
    ):
        copy.set_types(list(types))
        write_row = copy.write_row
        for row in rows:
            write_row(row)


def chunks(items: Sequence[Any], size: int = 500) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
