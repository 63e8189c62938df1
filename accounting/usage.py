"""The version-neutral usage record that every usage source (slurmrestd, sacct, a file) yields.

One record is one *run* of a Slurm job record: an array task, a het-job component and every
requeued run each have their own record. The record is keyed by ``(cluster, job_id, submit)``
(``sluid`` where Slurm provides it, v0.0.45+), which is unique across requeues and job-id
reuse. Times are integer epoch seconds (UTC); ``None`` means "not set" (Slurm's 0, null and
NO_VAL/INFINITE sentinels are all mapped to ``None`` by the normalisers).
"""

from __future__ import annotations

from dataclasses import dataclass

#: Slurm base states after which a record never changes again.
TERMINAL_STATES = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "PREEMPTED",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "REQUEUED",
        "REVOKED",
    }
)


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One run of one Slurm job, as accounting needs it."""

    cluster: str
    job_id: int
    submit: int
    account: str
    user: str
    partition: str
    qos: str
    state: str
    start: int | None
    end: int | None
    elapsed: int
    gpus: int
    gpus_by_type: tuple[tuple[str, int], ...] = ()
    sluid: str | None = None
    array_job_id: int | None = None
    array_task_id: int | None = None
    het_job_id: int | None = None
    het_offset: int | None = None
    restart_count: int | None = None
    alloc_cpus: int = 0
    alloc_mem_mb: int = 0
    alloc_nodes: int = 0

    @property
    def final(self) -> bool:
        """A final record will not change any more; a provisional one (running) will."""
        return self.state in TERMINAL_STATES and self.end is not None

    @property
    def started(self) -> bool:
        return self.start is not None

    @property
    def gpu_seconds(self) -> int:
        """Allocated GPUs x elapsed seconds; zero for records that never started."""
        if self.start is None:
            return 0
        return self.gpus * self.elapsed

    def gpu_seconds_by_type(self) -> dict[str, int]:
        """GPU-seconds per GPU type; untyped GPUs (no typed TRES) are reported as ``""``."""
        if self.start is None or self.gpus == 0:
            return {}
        typed: dict[str, int] = {}
        covered = 0
        for name, count in self.gpus_by_type:
            if count > 0:
                typed[name] = typed.get(name, 0) + count * self.elapsed
                covered += count
        if covered < self.gpus:
            typed[""] = typed.get("", 0) + (self.gpus - covered) * self.elapsed
        return typed
