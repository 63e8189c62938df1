"""Normalisation of one slurmdb job record (:class:`~connectors.slurm.wire.Job`) into a
:class:`UsageRecord`, in named steps.

Rules (SLURMREST.md §6, §7, §11):

* key ``(cluster, job_id, time.submission)``; ``sluid`` kept when present;
* state = the base state (:func:`job_state`): the string (v38/39), or for a list the first base
  state, except that a list containing ``REQUEUED`` (``["PENDING","REQUEUED"]``, a finished
  run segment of a requeued job) is ``REQUEUED`` as v0.0.38 spells it; unknown states are kept
  verbatim;
* times (:func:`job_times`): ``time.start/end`` of ``0``, ``null`` or >= 4294967294 ->
  ``None``; a RUNNING/SUSPENDED record has ``end = None`` even when a truncating query filled
  in "now"; ``elapsed`` is taken as given (for running jobs: up to the query time);
* GPUs (:func:`allocation`) from ``tres.allocated`` only: the ``gres``/``gpu`` count if
  present, else the sum of ``gres``/``gpu:<type>``; the per-type breakdown from the typed
  entries; ``gpumem``, ``gpuutil``, counts <= 0 or ``null`` ignored; never multiplied by the
  node count;
* ``alloc_cpus``, ``alloc_mem_mb``, ``alloc_nodes`` from the ``cpu``, ``mem`` (MB), ``node``
  TRES entries (0 when absent).

Speed: this runs once per record of every reply (``tests/bench/bench_decode.py``): records are
built positionally by :func:`_record_builder`, and a job's single GPU type is a shared tuple.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields
from types import MemberDescriptorType

from accounting.usage import TERMINAL_STATES, UsageRecord
from connectors.slurm.wire import IntOrNoVal, Job, State, Time, Tres

#: Slurm's NO_VAL (uint32) - 1 / INFINITE: anything at or above is a sentinel, not a time.
SENTINEL_MIN = 4294967294

#: States a job is still in (no end yet).
NOT_ENDED = frozenset({"RUNNING", "SUSPENDED", "PENDING"})
#: Slurm's base job states (the flags REQUEUED/REVOKED are not among them).
BASE_STATES = NOT_ENDED | (TERMINAL_STATES - {"REQUEUED", "REVOKED"})


# --- the steps ------------------------------------------------------------------------------


def normalise(job: Job) -> UsageRecord:
    """One job record -> its usage record: its state, times, allocation, and the ids of the
    array and heterogeneous job it belongs to."""
    t = job.time
    state = job_state(job.state)
    start, end, elapsed = job_times(t, state)
    tres = job.tres
    allocated = tres.allocated if tres is not None else None
    gpus, by_type, cpus, mem, nodes = allocation(allocated) if allocated else _NO_ALLOCATION
    array_job_id = array_task_id = het_job_id = het_offset = None
    array = job.array
    if array is not None and array.job_id:
        array_job_id = array.job_id
        array_task_id = _noval(array.task_id)
    het = job.het
    if het is not None and het.job_id:
        het_job_id = het.job_id
        het_offset = _noval(het.job_offset)
    return _new_record(  # positional, in _RECORD_FIELDS order
        job.cluster,
        job.job_id,
        t.submission,
        job.account or "",
        job.user or "",
        job.partition or "",
        job.qos or "",
        state,
        start,
        end,
        elapsed,
        gpus,
        by_type,
        job.sluid or None,
        array_job_id,
        array_task_id,
        het_job_id,
        het_offset,
        job.restart_cnt,
        cpus,
        mem,
        nodes,
    )


def job_state(state: State | None) -> str:
    """The base state of a job's ``state``."""
    if state is None:
        return "UNKNOWN"
    current = state.current
    # Fast paths with the result of _state: one state in a list (v0.0.40+) is that state;
    # a plain base state string (v0.0.38/39) is itself.
    if type(current) is tuple and len(current) == 1:
        return current[0]
    if type(current) is str and current in BASE_STATES:
        return current
    return _state(current)


def job_times(t: Time, state: str) -> tuple[int | None, int | None, int]:
    """``(start, end, elapsed)``: ``None`` for a time not set (or an end not reached yet), an
    elapsed time not set is 0."""
    start = t.start
    if start is not None and (start <= 0 or start >= SENTINEL_MIN):
        start = None
    end = t.end
    if end is not None and (end <= 0 or end >= SENTINEL_MIN or state in NOT_ENDED):
        end = None
    elapsed = t.elapsed
    if elapsed is None or elapsed < 0 or elapsed >= SENTINEL_MIN:
        elapsed = 0
    return start, end, elapsed


#: ``(gpus, gpus by type, cpus, memory in MB, nodes)`` of a job's allocated TRES.
Allocation = tuple[int, tuple[tuple[str, int], ...], int, int, int]
_NO_ALLOCATION: Allocation = (0, (), 0, 0, 0)


def allocation(allocated: Sequence[Tres]) -> Allocation:
    """The GPUs (the untyped count if there is one, else the sum of the typed ones), their
    breakdown by type, and the CPUs, memory and nodes of ``tres.allocated``."""
    gpus_untyped: int | None = None
    first_typed: tuple[str, int] | None = None  # ("gpu:<type>", count): usually the only one
    typed: list[tuple[str, int]] | None = None  # (type, count) when there are more
    cpus = mem = nodes = 0
    for item in allocated:
        count = item.count
        if count is None or count <= 0:
            continue
        kind = item.type
        if kind == "gres":
            name = item.name
            if name == "gpu":
                gpus_untyped = count if gpus_untyped is None else gpus_untyped + count
            elif name is not None and name.startswith("gpu:"):
                if first_typed is None:
                    first_typed = (name, count)
                else:
                    if typed is None:
                        typed = [(first_typed[0][4:], first_typed[1])]
                    typed.append((name[4:], count))
        elif kind == "cpu":
            cpus = count
        elif kind == "mem":
            mem = count
        elif kind == "node":
            nodes = count
    by_type: tuple[tuple[str, int], ...] = ()
    if typed is not None:
        by_type = _merged(typed)
    elif first_typed is not None:
        by_type = _one_gpu_type(first_typed)
    if gpus_untyped is not None:
        return gpus_untyped, by_type, cpus, mem, nodes
    return sum(count for _, count in by_type), by_type, cpus, mem, nodes


def _merged(typed: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """Several typed GPU entries: their counts summed by type, by type."""
    merged: dict[str, int] = {}
    for name, count in typed:
        merged[name] = merged.get(name, 0) + count
    return tuple(sorted(merged.items()))


def _noval(value: IntOrNoVal) -> int | None:
    if value is None or isinstance(value, int):
        return value
    if value.set and not value.infinite:
        return value.number
    return None


def _state(current: str | tuple[str, ...] | None) -> str:
    if current is None:
        return "UNKNOWN"
    if isinstance(current, str):
        return current.split(None, 1)[0].upper() if current.strip() else "UNKNOWN"
    if "REQUEUED" in current:
        return "REQUEUED"
    for item in current:
        if item in BASE_STATES:
            return item
    return current[0] if current else "UNKNOWN"


_ONE_GPU_TYPE: dict[tuple[str, int], tuple[tuple[str, int]]] = {}


def _one_gpu_type(entry: tuple[str, int]) -> tuple[tuple[str, int]]:
    """``("gpu:a100", 2)`` -> ``(("a100", 2),)``, shared: a reply has few distinct ones, and
    one shared tuple instead of two new ones per record spares memory, GC and frees."""
    found = _ONE_GPU_TYPE.get(entry)
    if found is None:
        found = ((entry[0][4:], entry[1]),)
        if len(_ONE_GPU_TYPE) < 4096:
            _ONE_GPU_TYPE[entry] = found
    return found


# --- building the record ----------------------------------------------------------------------


#: :func:`normalise` builds records positionally, in this order (``_new_record`` relies on it).
_RECORD_FIELDS = (
    "cluster", "job_id", "submit", "account", "user", "partition", "qos", "state", "start",
    "end", "elapsed", "gpus", "gpus_by_type", "sluid", "array_job_id", "array_task_id",
    "het_job_id", "het_offset", "restart_count", "alloc_cpus", "alloc_mem_mb", "alloc_nodes",
)  # fmt: skip
if tuple(f.name for f in fields(UsageRecord)) != _RECORD_FIELDS:  # pragma: no cover
    raise ImportError("UsageRecord fields changed: update _RECORD_FIELDS and normalise")


def _record_builder() -> Callable[..., UsageRecord]:
    """``UsageRecord(*values)``, a third faster: a frozen dataclass's ``__init__`` sets each
    of its 22 fields through ``object.__setattr__``; this sets the slots directly (as that
    does in the end) on a new instance. Used only while ``UsageRecord`` is a slots dataclass
    with the generated ``__init__`` and no ``__post_init__``, and only if it builds an equal
    record; otherwise the class itself is returned.
    """
    slots = [UsageRecord.__dict__.get(name) for name in _RECORD_FIELDS]
    code = getattr(UsageRecord.__init__, "__code__", None)
    if (
        hasattr(UsageRecord, "__post_init__")
        or getattr(code, "co_filename", "") != "<string>"  # not the dataclass-generated one
        or not all(isinstance(slot, MemberDescriptorType) for slot in slots)
    ):  # pragma: no cover
        return UsageRecord
    new = object.__new__
    (s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15, s16, s17, s18, s19,
     s20, s21) = [slot.__set__ for slot in slots]  # type: ignore[union-attr]  # fmt: skip

    def build(
        cluster: str, job_id: int, submit: int, account: str, user: str, partition: str,
        qos: str, state: str, start: int | None, end: int | None, elapsed: int, gpus: int,
        gpus_by_type: tuple[tuple[str, int], ...], sluid: str | None,
        array_job_id: int | None, array_task_id: int | None, het_job_id: int | None,
        het_offset: int | None, restart_count: int | None, alloc_cpus: int,
        alloc_mem_mb: int, alloc_nodes: int,
    ) -> UsageRecord:  # fmt: skip
        r = new(UsageRecord)
        s0(r, cluster)
        s1(r, job_id)
        s2(r, submit)
        s3(r, account)
        s4(r, user)
        s5(r, partition)
        s6(r, qos)
        s7(r, state)
        s8(r, start)
        s9(r, end)
        s10(r, elapsed)
        s11(r, gpus)
        s12(r, gpus_by_type)
        s13(r, sluid)
        s14(r, array_job_id)
        s15(r, array_task_id)
        s16(r, het_job_id)
        s17(r, het_offset)
        s18(r, restart_count)
        s19(r, alloc_cpus)
        s20(r, alloc_mem_mb)
        s21(r, alloc_nodes)
        return r

    sample = ("c", 1, 2, "a", "u", "p", "q", "S", 3, None, 4, 5, (("t", 1),), "x", 6, 7, 8, 9,
              10, 11, 12, 13)  # fmt: skip
    if build(*sample) != UsageRecord(*sample):  # pragma: no cover
        return UsageRecord
    return build


_new_record = _record_builder()
