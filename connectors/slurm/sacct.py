"""``sacct`` fallback for sites without slurmrestd: same normaliser contract, same records.

Two formats:

* ``sacct --json`` prints exactly the slurmdb reply of the matching REST version
  (dbv0.0.38 on 22.05), so it goes through :func:`connectors.slurm.decode.decode_jobs`.
* ``sacct --parsable2 --noheader --allocations --duplicates -o <SACCT_FIELDS>``: one line
  per job record, ``|``-separated, parsed by :func:`parse_psv`. A header line (as in
  ``sacct -P`` without ``--noheader``) is recognised and then columns are taken by name;
  step lines (``JobIDRaw`` like ``12.batch``) are skipped.

**Time zones.** sacct prints times in the local time zone of the process that runs it.
:func:`run_sacct` therefore runs it with ``TZ=UTC`` (and ``SLURM_TIME_FORMAT=standard``,
``YYYY-MM-DDTHH:MM:SS``), and both the window and the output are UTC. A *file* is
interpreted as UTC unless its time fields are epoch numbers (``SLURM_TIME_FORMAT=%s``):
produce it with ``TZ=UTC sacct ...``, or convert it, before importing it.

Per record: ``JobIDRaw`` is the job id (array tasks and het components have their own),
``JobID`` gives the array/het structure (``6_3``: task 3 of array 6; ``7+1``: component 1 of
het job 7; ``6_[4-9%2]``: the not-yet-started tasks of array 6); GPUs, CPUs, memory (MB,
from ``K``/``M``/``G``/``T``/``P`` suffixes) and nodes come from ``AllocTRES`` with the REST
rules (``gres/gpu`` total, ``gres/gpu:<type>`` breakdown); ``ElapsedRaw`` is the elapsed
time; ``Unknown``/``None``/empty times are ``None``; ``CANCELLED by 1003`` is ``CANCELLED``.
sacct has no requeue counter, sluid or het offset field on 22.05.
"""

from __future__ import annotations

import os
import subprocess
from calendar import timegm
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from accounting.usage import UsageRecord
from connectors.slurm.decode import DecodedJobs, Quarantined, decode_jobs
from connectors.slurm.errors import SlurmPayloadError, SlurmUnavailable
from connectors.slurm.normalise import NOT_ENDED, SENTINEL_MIN

#: Columns requested from ``sacct -o`` (all exist in Slurm 22.05 and later).
SACCT_FIELDS: tuple[str, ...] = (
    "JobID",
    "JobIDRaw",
    "Cluster",
    "Account",
    "User",
    "Partition",
    "QOS",
    "State",
    "Submit",
    "Eligible",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
)
_REQUIRED = ("JobIDRaw", "State", "Submit", "Start", "End", "ElapsedRaw", "AllocTRES")
_MEM_TO_MB = {"K": 1 / 1024, "M": 1.0, "G": 1024.0, "T": 1024.0**2, "P": 1024.0**3}
_NO_TIME = frozenset({"", "unknown", "none", "n/a"})

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def sacct_command(
    start: int,
    end: int,
    *,
    fmt: str = "psv",
    sacct: str = "sacct",
    clusters: Sequence[str] = (),
) -> list[str]:
    """The argv for the window ``[start, end)`` (epoch seconds, rendered in UTC)."""
    if fmt not in ("psv", "json"):
        raise ValueError("fmt must be 'psv' or 'json'")
    argv = [
        sacct,
        "--allusers",
        "--duplicates",
        "--allocations",
        "-S",
        _utc(start),
        "-E",
        _utc(end),
    ]
    if clusters:
        argv += ["--clusters", ",".join(clusters)]
    if fmt == "json":
        return [*argv, "--json"]
    return [*argv, "--parsable2", "--noheader", "-o", ",".join(SACCT_FIELDS)]


def sacct_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment sacct must run with: UTC times in the standard format."""
    env = dict(os.environ if base is None else base)
    env["TZ"] = "UTC"
    env["SLURM_TIME_FORMAT"] = "standard"
    return env


def run_sacct(
    start: int,
    end: int,
    *,
    fmt: str = "psv",
    sacct: str = "sacct",
    clusters: Sequence[str] = (),
    cluster: str | None = None,
    timeout: float = 600.0,
    runner: Runner = subprocess.run,
) -> DecodedJobs:
    """Run sacct on this host for ``[start, end)`` and normalise its output.

    ``cluster`` names the records when the output has no Cluster column (psv always has it).
    Failures to run sacct raise :class:`SlurmUnavailable`.
    """
    argv = sacct_command(start, end, fmt=fmt, sacct=sacct, clusters=clusters)
    try:
        done = runner(
            argv,
            capture_output=True,
            text=True,
            env=sacct_env(),
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise SlurmUnavailable(f"{sacct} not found: is the Slurm client installed?") from None
    except subprocess.TimeoutExpired:
        raise SlurmUnavailable(f"{sacct} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        stderr = (done.stderr or "").strip()[:500]
        raise SlurmUnavailable(f"{sacct} exited with status {done.returncode}: {stderr}")
    if fmt == "json":
        return decode_jobs(done.stdout, path="sacct --json")
    return parse_psv(done.stdout, cluster=cluster)


def parse_sacct_file(path: str | os.PathLike[str], *, cluster: str | None = None) -> DecodedJobs:
    """Parse a saved ``sacct --json`` document or ``--parsable2`` text (auto-detected)."""
    text = Path(path).read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return decode_jobs(text, path=str(path))
    return parse_psv(text, cluster=cluster)


def parse_psv(
    text: str, *, fields: Sequence[str] = SACCT_FIELDS, cluster: str | None = None
) -> DecodedJobs:
    """Parse ``sacct --parsable2`` output (with or without its header line).

    Without a header the columns are ``fields`` (default :data:`SACCT_FIELDS`). Step lines
    are skipped; a line that cannot be read is quarantined with the reason.
    """
    lines = [line for line in text.splitlines() if line.strip()]
    if lines and "JobIDRaw" in lines[0].split("|"):  # a header line (sacct without --noheader)
        fields = lines[0].split("|")
        lines = lines[1:]
    index = {name: i for i, name in enumerate(fields)}
    missing = [name for name in _REQUIRED if name not in index]
    if missing:
        raise SlurmPayloadError(f"sacct output lacks the column(s) {', '.join(missing)}")
    if "Cluster" not in index and not cluster:
        raise SlurmPayloadError("sacct output has no Cluster column: pass cluster=")
    records: list[UsageRecord] = []
    quarantined: list[Quarantined] = []
    for line in lines:
        values = line.split("|")
        if len(values) != len(fields):
            quarantined.append(
                Quarantined(line, f"{len(values)} columns, expected {len(fields)}", _raw_id(line))
            )
            continue
        row = dict(zip(fields, values, strict=True))
        raw_id = row["JobIDRaw"]
        if "." in raw_id:  # a step (12.batch, 12.0, 12.extern): accounting uses allocations
            continue
        try:
            records.append(_record(row, cluster))
        except ValueError as exc:
            job_id = int(raw_id) if raw_id.isdigit() else None
            quarantined.append(Quarantined(line, str(exc), job_id))
    return DecodedJobs(records, quarantined, [])


def _raw_id(line: str) -> int | None:
    parts = line.split("|")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _record(row: dict[str, str], default_cluster: str | None) -> UsageRecord:
    raw_id = row["JobIDRaw"]
    if not raw_id.isdigit():
        raise ValueError(f"JobIDRaw {raw_id!r} is not a job id")
    job_id = int(raw_id)
    cluster = row.get("Cluster") or default_cluster
    if not cluster:
        raise ValueError("no cluster")
    submit = _time(row["Submit"], "Submit")
    if submit is None:
        raise ValueError("no Submit time")
    state = _state(row["State"])
    start = _time(row["Start"], "Start")
    end = None if state in NOT_ENDED else _time(row["End"], "End")
    elapsed_text = row["ElapsedRaw"].strip()
    if elapsed_text and not elapsed_text.isdigit():
        raise ValueError(f"ElapsedRaw {elapsed_text!r} is not a number of seconds")
    elapsed = int(elapsed_text) if elapsed_text else 0
    if elapsed >= SENTINEL_MIN:
        elapsed = 0
    gpus, by_type, cpus, mem, nodes = parse_tres(row["AllocTRES"])  # as REST: allocated only
    array_job_id, array_task_id, het_job_id, het_offset = _structure(row.get("JobID", ""))
    return UsageRecord(
        cluster=cluster,
        job_id=job_id,
        submit=submit,
        account=row.get("Account", ""),
        user=row.get("User", ""),
        partition=row.get("Partition", ""),
        qos=row.get("QOS", ""),
        state=state,
        start=start,
        end=end,
        elapsed=elapsed,
        gpus=gpus,
        gpus_by_type=by_type,
        array_job_id=array_job_id,
        array_task_id=array_task_id,
        het_job_id=het_job_id,
        het_offset=het_offset,
        alloc_cpus=cpus,
        alloc_mem_mb=mem,
        alloc_nodes=nodes,
    )


def parse_tres(text: str) -> tuple[int, tuple[tuple[str, int], ...], int, int, int]:
    """``billing=2,cpu=2,gres/gpu:h100=2,gres/gpu=2,mem=512M,node=1`` ->
    ``(gpus, (("h100", 2),), cpus, mem_mb, nodes)`` with the REST GPU rules."""
    untyped: int | None = None
    typed: dict[str, int] = {}
    cpus = mem = nodes = 0
    for item in _split(text):
        name, _, value = item.partition("=")
        if name == "mem":
            mem = _mem_mb(value)
            continue
        if not value.isdigit():
            continue  # energy=..., fs/disk=..., or anything new: not ours
        count = int(value)
        if count <= 0:
            continue
        if name == "gres/gpu":
            untyped = count
        elif name.startswith("gres/gpu:"):
            kind = name[len("gres/gpu:") :]
            typed[kind] = typed.get(kind, 0) + count
        elif name == "cpu":
            cpus = count
        elif name == "node":
            nodes = count
    by_type = tuple(sorted(typed.items()))
    gpus = untyped if untyped is not None else sum(typed.values())
    return gpus, by_type, cpus, mem, nodes


def _split(text: str) -> Iterable[str]:
    return (part.strip() for part in text.split(",") if part.strip())


def _mem_mb(value: str) -> int:
    value = value.strip()
    if not value:
        return 0
    unit = value[-1].upper()
    if unit in _MEM_TO_MB:
        number, factor = value[:-1], _MEM_TO_MB[unit]
    else:
        number, factor = value, 1.0  # sacct always prints a unit; bare numbers are MB
    try:
        return round(float(number) * factor)
    except ValueError:
        raise ValueError(f"memory {value!r} is not a size") from None


def _time(value: str, column: str) -> int | None:
    value = value.strip()
    if value.lower() in _NO_TIME:
        return None
    if value.isdigit():  # SLURM_TIME_FORMAT=%s
        epoch = int(value)
    else:
        try:
            moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            raise ValueError(f"{column} {value!r} is not YYYY-MM-DDTHH:MM:SS") from None
        epoch = timegm(moment.timetuple())  # the text is UTC (see the module docstring)
    if epoch <= 0 or epoch >= SENTINEL_MIN:
        return None
    return epoch


def _state(value: str) -> str:
    words = value.split()
    if not words:
        return "UNKNOWN"
    return words[0].rstrip("+").upper()  # "CANCELLED by 1003" -> CANCELLED


def _structure(job_id: str) -> tuple[int | None, int | None, int | None, int | None]:
    """``JobID`` -> (array job id, array task id, het job id, het offset)."""
    array_job = array_task = het_job = het_offset = None
    head, plus, offset = job_id.partition("+")
    if plus and head.isdigit() and offset.isdigit():
        het_job, het_offset = int(head), int(offset)
        return array_job, array_task, het_job, het_offset
    parent, underscore, task = job_id.partition("_")
    if underscore and parent.isdigit():
        array_job = int(parent)
        array_task = int(task) if task.isdigit() else None  # "[4-9%2]": not started yet
    return array_job, array_task, het_job, het_offset


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
