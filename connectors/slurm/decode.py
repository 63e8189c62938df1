"""The normaliser: slurmdb ``jobs`` replies (v0.0.37 … v0.0.46) -> :class:`UsageRecord`.

One tolerant msgspec schema reads every version; it declares only the fields accounting
needs and ignores the rest (new fields never break it). The three shape families are covered
by union types rather than three schemas:

=============  ===================  ===========================  ==============================
family         ``state.current``    ``array.task_id`` /          "not set" in ``time.*``
                                    ``het.job_offset``
=============  ===================  ===========================  ==============================
v0.0.37/38     string               int or ``null``              ``0`` or ``null``
v0.0.39        string               no-val object                ``0``
v0.0.40+       list of strings      no-val object                ``0``, 4294967294, 4294967295
=============  ===================  ===========================  ==============================

(no-val object = ``{"set": bool, "infinite": bool, "number": int}``). ``restart_cnt``
appears in v0.0.42, ``sluid`` in v0.0.45; both are optional here.

Normalisation rules (SLURMREST.md §6, §7, §11):

* key ``(cluster, job_id, time.submission)``; ``sluid`` kept when present;
* state = the base state: the string (v38/39), or for a list the first base state, except
  that a list containing ``REQUEUED`` (``["PENDING","REQUEUED"]``, a finished run segment
  of a requeued job) is ``REQUEUED`` as v0.0.38 spells it; unknown states are kept verbatim;
* ``time.start/end`` of ``0``, ``null`` or >= 4294967294 -> ``None``; a RUNNING/SUSPENDED
  record has ``end = None`` even when a truncating query filled in "now";
  ``elapsed`` is taken as given (for running jobs: up to the query time);
* GPUs from ``tres.allocated`` only: the ``gres``/``gpu`` count if present, else the sum of
  ``gres``/``gpu:<type>``; the per-type breakdown from the typed entries; ``gpumem``,
  ``gpuutil``, counts <= 0 or ``null`` ignored; never multiplied by the node count;
* ``alloc_cpus``, ``alloc_mem_mb``, ``alloc_nodes`` from the ``cpu``, ``mem`` (MB), ``node``
  TRES entries (0 when absent).

A record that does not fit (missing ``job_id``/``time``/``cluster``/``time.submission``,
wrong types) is *quarantined* with its raw JSON, its job id if one can be found and the
reason; the rest of the reply is still decoded. The envelope's ``errors[]`` are checked on
every reply: anything but ``9003 Nothing found`` raises (see :mod:`.errors`), even on HTTP 200.

Speed: the whole reply is decoded in one msgspec pass into typed structs; only if that fails
is the reply re-read with ``jobs`` as raw JSON fragments and decoded record by record.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from types import MemberDescriptorType
from typing import Annotated, Any, NamedTuple

import msgspec

from accounting.usage import TERMINAL_STATES, UsageRecord
from connectors.slurm.errors import SlurmErrorItem, SlurmPayloadError, error_from_items

#: Slurm's NO_VAL (uint32) - 1 / INFINITE: anything at or above is a sentinel, not a time.
SENTINEL_MIN = 4294967294

#: States a job is still in (no end yet).
NOT_ENDED = frozenset({"RUNNING", "SUSPENDED", "PENDING"})
#: Slurm's base job states (the flags REQUEUED/REVOKED are not among them).
BASE_STATES = NOT_ENDED | (TERMINAL_STATES - {"REQUEUED", "REVOKED"})

#: API versions this decoder understands (the client speaks v0.0.38 and newer).
MIN_VERSION, MAX_VERSION = 37, 46
_VERSION_RE = re.compile(r"v0\.0\.(\d+)")
_GC_PAUSE_BYTES = 4_000_000  # about 1,000 records and more


def version_number(api_version: str) -> int:
    """``"v0.0.43"`` -> 43; raises ``ValueError`` for anything else or an unsupported one."""
    match = _VERSION_RE.fullmatch(api_version.strip())
    if not match:
        raise ValueError(f"not a Slurm REST API version: {api_version!r}")
    number = int(match.group(1))
    if not MIN_VERSION <= number <= MAX_VERSION:
        raise ValueError(f"unsupported Slurm REST API version: {api_version}")
    return number


# ---------------------------------------------------------------------------------------------
# Wire schema: only what accounting needs; unknown fields are ignored by msgspec.


class _NoVal(msgspec.Struct, gc=False):
    set: bool = False
    infinite: bool = False
    number: int | None = None


_IntOrNoVal = int | _NoVal | None


class _Tres(msgspec.Struct, gc=False):
    type: str | None = None
    name: str | None = None
    count: int | None = None


class _TresGroups(msgspec.Struct, gc=False):
    allocated: tuple[_Tres, ...] | None = None


class _Time(msgspec.Struct, gc=False):
    submission: Annotated[int, msgspec.Meta(ge=1)]
    start: int | None = None
    end: int | None = None
    elapsed: int | None = None


class _State(msgspec.Struct, gc=False):
    current: str | tuple[str, ...] | None = None


class _Array(msgspec.Struct, gc=False):
    job_id: int | None = None
    task_id: _IntOrNoVal = None


class _Het(msgspec.Struct, gc=False):
    job_id: int | None = None
    job_offset: _IntOrNoVal = None


class _Job(msgspec.Struct, gc=False):
    job_id: Annotated[int, msgspec.Meta(ge=1)]
    cluster: Annotated[str, msgspec.Meta(min_length=1)]
    time: _Time
    account: str | None = None
    user: str | None = None
    partition: str | None = None
    qos: str | None = None
    state: _State | None = None
    tres: _TresGroups | None = None
    array: _Array | None = None
    het: _Het | None = None
    restart_cnt: int | None = None
    sluid: str | None = None


class _ErrorItem(msgspec.Struct, gc=False):
    error_number: int | None = None
    error: str | None = None
    description: str | None = None
    source: str | None = None


class _WarningItem(msgspec.Struct, gc=False):
    description: str | None = None
    source: str | None = None
    warning: str | None = None


class _Reply(msgspec.Struct, gc=False):
    jobs: list[_Job] | None = None
    errors: list[_ErrorItem] | None = None
    warnings: list[_WarningItem] | None = None


class _RawReply(msgspec.Struct, gc=False):
    jobs: list[msgspec.Raw] | None = None
    errors: list[_ErrorItem] | None = None
    warnings: list[_WarningItem] | None = None


class _JobIdProbe(msgspec.Struct, gc=False):
    job_id: Any = None


_reply_decoder = msgspec.json.Decoder(_Reply)
_raw_reply_decoder = msgspec.json.Decoder(_RawReply)
_job_decoder = msgspec.json.Decoder(_Job)
_probe_decoder = msgspec.json.Decoder(_JobIdProbe)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that could not be normalised, kept verbatim for a human to look at."""

    raw: str
    reason: str
    job_id: int | None = None


class DecodedJobs(NamedTuple):
    """Everything usable in one reply: records, quarantined records, server warnings."""

    records: list[UsageRecord]
    quarantined: list[Quarantined]
    warnings: list[str]


# ---------------------------------------------------------------------------------------------
# Decoding


def decode_jobs(body: bytes | str, *, path: str | None = None) -> DecodedJobs:
    """Decode a ``/slurmdb/v0.0.NN/jobs`` or ``/job/{id}`` reply of any supported version.

    Raises :class:`SlurmPayloadError` for invalid JSON or an envelope without ``jobs`` and
    without ``errors``, and the classified :class:`SlurmError` for ``errors[]`` other than
    9003. ``path`` only decorates error messages.
    """
    if len(body) < _GC_PAUSE_BYTES:
        return _decode(body, path)
    # Hundreds of thousands of new (GC-tracked) records make the cyclic collector rescan the
    # growing heap again and again: ~25 % of the time for 200k records. Nothing here creates
    # reference cycles, so the collector is paused for the duration of one big decode.
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return _decode(body, path)
    finally:
        if paused:
            gc.enable()


def _decode(body: bytes | str, path: str | None) -> DecodedJobs:
    try:
        reply = _reply_decoder.decode(body)
    except msgspec.ValidationError:
        return _decode_per_record(body, path)
    except msgspec.DecodeError as exc:
        raise SlurmPayloadError(f"reply is not valid JSON: {exc}", path=path) from None
    warnings = _check_envelope(reply.errors, reply.warnings, reply.jobs is None, path)
    if not reply.jobs:
        return DecodedJobs([], [], warnings)
    records: list[UsageRecord] = []
    append = records.append
    normalise = _normalise
    try:
        for job in reply.jobs:
            append(normalise(job))
    except Exception:  # a value msgspec accepted but the rules cannot use: be careful, go slow
        return _decode_per_record(body, path)
    return DecodedJobs(records, [], warnings)


def _decode_per_record(body: bytes | str, path: str | None) -> DecodedJobs:
    try:
        reply = _raw_reply_decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError included: the envelope itself is wrong
        raise SlurmPayloadError(f"not a slurmdb jobs reply: {exc}", path=path) from None
    warnings = _check_envelope(reply.errors, reply.warnings, reply.jobs is None, path)
    records: list[UsageRecord] = []
    quarantined: list[Quarantined] = []
    for raw in reply.jobs or ():
        try:
            records.append(_normalise(_job_decoder.decode(raw)))
        except msgspec.ValidationError as exc:
            quarantined.append(_quarantine(raw, str(exc)))
        except Exception as exc:  # a bad record must not fail the whole reply
            quarantined.append(_quarantine(raw, f"cannot normalise: {type(exc).__name__}: {exc}"))
    return DecodedJobs(records, quarantined, warnings)


def _quarantine(raw: msgspec.Raw, reason: str) -> Quarantined:
    text = bytes(raw).decode("utf-8", errors="replace")
    job_id: int | None = None
    try:
        probe = _probe_decoder.decode(raw).job_id
    except msgspec.DecodeError:
        probe = None
    if isinstance(probe, int) and not isinstance(probe, bool):
        job_id = probe
    elif isinstance(probe, str) and probe.isdigit():
        job_id = int(probe)
    return Quarantined(raw=text, reason=reason, job_id=job_id)


def _check_envelope(
    errors: list[_ErrorItem] | None,
    warnings: list[_WarningItem] | None,
    jobs_missing: bool,
    path: str | None,
) -> list[str]:
    if errors:
        items = [
            SlurmErrorItem(e.error_number, e.error or "", e.description or "", e.source or "")
            for e in errors
        ]
        exc = error_from_items(items, path=path)
        if exc is not None:
            raise exc
    elif jobs_missing:
        raise SlurmPayloadError("reply has neither jobs[] nor errors[]", path=path)
    texts = []
    for w in warnings or ():
        text = w.description or w.warning or ""
        texts.append(f"{text} [{w.source}]" if w.source else text)
    return texts


# ---------------------------------------------------------------------------------------------
# Normalisation of one record


def _noval(value: int | _NoVal | None) -> int | None:
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


#: ``_normalise`` builds records positionally, in this order (``_new_record`` relies on it).
_RECORD_FIELDS = (
    "cluster", "job_id", "submit", "account", "user", "partition", "qos", "state", "start",
    "end", "elapsed", "gpus", "gpus_by_type", "sluid", "array_job_id", "array_task_id",
    "het_job_id", "het_offset", "restart_count", "alloc_cpus", "alloc_mem_mb", "alloc_nodes",
)  # fmt: skip
if tuple(f.name for f in fields(UsageRecord)) != _RECORD_FIELDS:  # pragma: no cover
    raise ImportError("UsageRecord fields changed: update _RECORD_FIELDS and _normalise")


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


def _normalise(job: _Job) -> UsageRecord:
    t = job.time
    job_state = job.state
    if job_state is None:
        state = "UNKNOWN"
    else:
        current = job_state.current
        # Fast paths with the result of _state: one state in a list (v0.0.40+) is that state;
        # a plain base state string (v0.0.38/39) is itself.
        if type(current) is tuple and len(current) == 1:
            state = current[0]
        elif type(current) is str and current in BASE_STATES:
            state = current
        else:
            state = _state(current)
    start = t.start
    if start is not None and (start <= 0 or start >= SENTINEL_MIN):
        start = None
    end = t.end
    if end is not None and (end <= 0 or end >= SENTINEL_MIN or state in NOT_ENDED):
        end = None
    elapsed = t.elapsed
    if elapsed is None or elapsed < 0 or elapsed >= SENTINEL_MIN:
        elapsed = 0

    gpus_untyped: int | None = None
    first_typed: tuple[str, int] | None = None  # ("gpu:<type>", count): usually the only one
    typed: list[tuple[str, int]] | None = None  # (type, count) when there are more
    cpus = mem = nodes = 0
    tres = job.tres
    allocated = tres.allocated if tres is not None else None
    if allocated:
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
        merged: dict[str, int] = {}
        for name, count in typed:
            merged[name] = merged.get(name, 0) + count
        by_type = tuple(sorted(merged.items()))
    elif first_typed is not None:
        by_type = _one_gpu_type(first_typed)
    if gpus_untyped is not None:
        gpus = gpus_untyped
    else:
        gpus = sum(count for _, count in by_type)

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


class _Plugin(msgspec.Struct, gc=False):
    type: str | None = None
    data_parser: str | None = None


class _Meta(msgspec.Struct, gc=False):
    plugin: _Plugin | None = None


class _Doc(msgspec.Struct, gc=False):
    meta: _Meta | None = None


_doc_decoder = msgspec.json.Decoder(_Doc)


def detect_version(body: bytes | str) -> str | None:
    """The API version a reply declares in ``meta.plugin`` (``data_parser`` first), if any.

    Used for documents that arrive without a URL (``sacct --json``, files).
    """
    try:
        doc = _doc_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    plugin = doc.meta.plugin if doc.meta else None
    for text in (plugin.data_parser, plugin.type) if plugin else ():
        match = _VERSION_RE.search(text or "")
        if match:
            return match.group(0)
    return None
