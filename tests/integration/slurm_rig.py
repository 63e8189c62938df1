"""Driving the real Slurm rig of ``deploy/slurm/rig.sh`` from tests: jobs, sacct, daemons.

(A plain module rather than conftest.py so test modules can import it.)

Every command has a time limit and every wait is a bounded poll: a slow or broken rig makes a
test fail with the last state it saw, never hang.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from accounting.usage import TERMINAL_STATES, UsageRecord
from connectors.settings import ClusterConfig

REPO = Path(__file__).resolve().parents[2]
RIG_SH = REPO / "deploy" / "slurm" / "rig.sh"
RIG2411_SH = REPO / "deploy" / "slurm" / "rig2411.sh"
TOOLS = ("runuser", "sbatch", "sacct", "scontrol", "scancel", "squeue")

_T = TypeVar("_T")


@dataclass(frozen=True)
class RigKind:
    """One real Slurm of ``deploy/slurm``: how its ``env`` names things, what it serves."""

    name: str  # the Slurm release, also the test id
    script: Path
    prefix: str  # of the GPUHOURS_TEST_SLURM*_ variables its ``env`` prints
    api_versions: tuple[str, ...]  # every slurmdb API version its slurmrestd serves
    two_node_partition: str | None  # a partition over both nodes (two-node and het jobs)

    @property
    def howto(self) -> str:
        script = self.script.relative_to(REPO)
        return f'run `bash {script} start` then `eval "$(bash {script} env)"`'

    def env_names(self) -> tuple[str, ...]:
        own = ("URL", "USER", "JWT_KEY_FILE", "CLUSTER")
        extra = ("CONF", "DIR", "PATH") if self.prefix != "GPUHOURS_TEST_SLURM" else ()
        names = tuple(f"{self.prefix}_{n}" for n in (*own, *extra))
        return names if extra else ("SLURM_CONF", *names)


RIG_KINDS = {
    "22.05": RigKind("22.05", RIG_SH, "GPUHOURS_TEST_SLURM", ("v0.0.38",), None),
    "24.11": RigKind(
        "24.11", RIG2411_SH, "GPUHOURS_TEST_SLURM2411", ("v0.0.40", "v0.0.41", "v0.0.42"), "gpu-all"
    ),
}
#: (rig, API version) pairs the rig tests run for: every version each rig serves.
TARGETS = [(kind.name, v) for kind in RIG_KINDS.values() for v in kind.api_versions]


def skip_reason(name: str = "22.05") -> str | None:
    """Why the tests cannot run against rig ``name`` here, or ``None`` when they can."""
    kind = RIG_KINDS[name]
    if os.environ.get(kind.prefix) != "1":
        return f"Slurm {name} rig not configured: {kind.prefix}=1 is not set ({kind.howto})"
    missing = [n for n in kind.env_names() if not os.environ.get(n)]
    if missing:
        return f"Slurm {name} rig not configured: {', '.join(missing)} not set ({kind.howto})"
    if os.geteuid() != 0:
        return "Slurm rig tests submit jobs as alice/bob/carol with runuser: run them as root"
    path = os.pathsep.join(
        filter(None, (os.environ.get(f"{kind.prefix}_PATH"), os.environ["PATH"]))
    )
    absent = [tool for tool in TOOLS if shutil.which(tool, path=path) is None]
    if absent:
        return f"Slurm rig tests need {', '.join(absent)} on PATH ({kind.howto})"
    return None


def any_rig_reason() -> str | None:
    """``None`` when at least one rig is configured, else every rig's reason."""
    reasons = [skip_reason(name) for name in RIG_KINDS]
    return None if None in reasons else "; ".join(r for r in reasons if r)


@dataclass(frozen=True)
class Rig:
    url: str
    user: str
    cluster: str
    jwt_key_file: Path
    token_file: Path | None
    slurm_conf: Path
    #: ``$GPUHOURS_SLURM_DIR``: the rig's configs live in ``<dir>/etc/slurm.conf``
    state_dir: Path
    kind: RigKind = RIG_KINDS["22.05"]
    api_version: str = "v0.0.38"
    #: where the rig's own Slurm commands are (24.11: wrappers into its tree), or ``None``
    bin_dir: Path | None = None

    @classmethod
    def from_env(cls, name: str = "22.05", api_version: str | None = None) -> Rig:
        kind = RIG_KINDS[name]
        env = os.environ
        pre = kind.prefix
        token = env.get(f"{pre}_TOKEN_FILE", "")
        conf = Path(env["SLURM_CONF"] if name == "22.05" else env[f"{pre}_CONF"])
        explicit = env.get("GPUHOURS_SLURM_DIR") if name == "22.05" else env[f"{pre}_DIR"]
        bin_dir = env.get(f"{pre}_PATH")
        return cls(
            url=env[f"{pre}_URL"],
            user=env[f"{pre}_USER"],
            cluster=env[f"{pre}_CLUSTER"],
            jwt_key_file=Path(env[f"{pre}_JWT_KEY_FILE"]),
            token_file=Path(token) if token else None,
            slurm_conf=conf,
            state_dir=Path(explicit) if explicit else conf.parent.parent,
            kind=kind,
            api_version=api_version or kind.api_versions[-1],
            bin_dir=Path(bin_dir) if bin_dir else None,
        )

    @property
    def name(self) -> str:
        return self.kind.name

    def config(self, **overrides: Any) -> ClusterConfig:
        """The cluster's settings: slurmrestd with tokens minted from the rig's JWT key."""
        values: dict[str, Any] = {
            "name": self.cluster,
            "url": self.url,
            "user": self.user,
            "jwt_key_file": self.jwt_key_file,
            "api_version": self.api_version,
            "chunk_seconds": 600,
            "overlap_seconds": 60,
            "timeout_seconds": 30.0,
            "retries": 0,
        }
        values.update(overrides)
        return ClusterConfig(**values)

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("SLURM_JWT",)}
        env["SLURM_CONF"] = str(self.slurm_conf)
        if self.bin_dir is not None:
            env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env.update(extra)
        return env


# --- commands ------------------------------------------------------------------------------


def run(
    rig: Rig,
    *cmd: str,
    user: str | None = None,
    timeout: float = 30,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    argv = ["runuser", "-u", user, "--", *cmd] if user else list(cmd)
    done = subprocess.run(
        argv,
        env=env or rig.env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd="/",
    )
    if check and done.returncode != 0:
        said = done.stderr.strip() or done.stdout.strip()
        raise AssertionError(f"{' '.join(argv)} exited {done.returncode}: {said}")
    return done


def sbatch(rig: Rig, user: str, *args: str) -> int:
    out = run(rig, "sbatch", "--parsable", "-D", "/tmp", "-o", "/dev/null", *args, user=user)
    return int(out.stdout.strip().split(";")[0])


def squeue_states(rig: Rig, job_id: int) -> list[str]:
    """The live states of a job (one per array element), from slurmctld."""
    out = run(rig, "squeue", "-h", "--states=all", "-j", str(job_id), "-o", "%T", check=False)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def run_seconds(rig: Rig, job_id: int) -> int:
    """How long a job has been running, from squeue's ``%M`` (``[D-]H:MM:SS`` or ``M:SS``)."""
    out = run(rig, "squeue", "-h", "-j", str(job_id), "-o", "%M").stdout.strip()
    days, _, clock = out.rpartition("-")
    seconds = 0
    for part in clock.split(":"):
        seconds = seconds * 60 + int(part)
    return seconds + int(days or 0) * 86400


def wait_for(
    what: str, probe: Callable[[], _T | None], timeout: float, interval: float = 0.25
) -> _T:
    """Poll ``probe`` until it returns something other than ``None``; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = probe()
        except AssertionError as exc:  # a failing command: keep polling, report it at the end
            value, last = None, exc
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} ({last})")
        time.sleep(interval)


def wait_state(rig: Rig, job_id: int, states: Iterable[str], timeout: float = 60) -> str:
    """Wait until the job is in one of ``states``; a job that ended otherwise fails at once."""
    wanted = set(states)

    def probe() -> str | None:
        seen = squeue_states(rig, job_id)
        if len(seen) == 1 and seen[0] in TERMINAL_STATES - wanted:
            raise RuntimeError(f"job {job_id} ended {seen[0]} while waiting for {sorted(wanted)}")
        return seen[0] if len(seen) == 1 and seen[0] in wanted else None

    return wait_for(f"job {job_id} to be {'/'.join(sorted(wanted))}", probe, timeout)


# --- sacct -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SacctRow:
    """One allocation record of ``sacct --duplicates --allocations``."""

    job_id: int  # JobIDRaw: an array task's own id
    job_id_text: str  # JobID: ``12_1`` for an array task
    account: str
    state: str  # base state: ``CANCELLED by 1001`` -> ``CANCELLED``
    elapsed: int
    tres: dict[str, int]
    submit: int

    @property
    def gpus(self) -> int:
        return self.tres.get("gres/gpu", 0)

    @property
    def gpu_seconds(self) -> int:
        return self.gpus * self.elapsed

    def gpu_seconds_by_type(self) -> dict[str, int]:
        """Per GPU type from ``gres/gpu:<type>=N``; an untyped rest is reported as ``""``."""
        typed: dict[str, int] = {}
        covered = 0
        for name, count in self.tres.items():
            if name.startswith("gres/gpu:") and count > 0:
                kind = name.split(":", 1)[1]
                typed[kind] = typed.get(kind, 0) + count * self.elapsed
                covered += count
        if covered < self.gpus:
            typed[""] = (self.gpus - covered) * self.elapsed
        return {k: v for k, v in typed.items() if v}

    @property
    def terminal(self) -> bool:
        return self.state in TERMINAL_STATES


SACCT_FIELDS = "JobIDRaw,JobID,Account,State,ElapsedRaw,AllocTRES,Submit"


def wait_accounted(rig: Rig, job_id: int, timeout: float = 60) -> SacctRow:
    """Wait until slurmdbd holds the job's end (what ingestion reads): slurmctld (``squeue``)
    knows a job ended before its record reaches the database, later still on a loaded host."""

    def probe() -> SacctRow | None:
        ended = [r for r in sacct(rig, [job_id]) if r.job_id == job_id and r.terminal]
        return ended[0] if ended else None

    return wait_for(f"job {job_id}'s end in slurmdbd", probe, timeout)


def parse_tres(text: str) -> dict[str, int]:
    """``billing=1,cpu=1,gres/gpu:a100=2,gres/gpu=2,mem=256M`` -> the integer-valued items."""
    out: dict[str, int] = {}
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        if value.isdigit():
            out[name] = int(value)
    return out


def sacct(rig: Rig, job_ids: Iterable[int]) -> list[SacctRow]:
    """Slurm's own view of these jobs: every run (requeues) and every array task."""
    out = run(
        rig,
        "sacct",
        "--duplicates",
        "--allocations",
        "--noheader",
        "--parsable2",
        "-o",
        SACCT_FIELDS,
        "-j",
        ",".join(str(i) for i in sorted(set(job_ids))),
        env=rig.env(SLURM_TIME_FORMAT="%s"),
    )
    rows = []
    for line in out.stdout.splitlines():
        if not line.strip():
            continue
        raw, text, account, state, elapsed, tres, submit = line.split("|")
        rows.append(
            SacctRow(
                job_id=int(raw),
                job_id_text=text,
                account=account,
                state=state.split()[0] if state else "",
                elapsed=int(elapsed or 0),
                tres=parse_tres(tres),
                submit=int(submit),
            )
        )
    return rows


# --- the batch of jobs ----------------------------------------------------------------------


@dataclass
class RigJobs:
    """The jobs one test module submitted, by role; ``t0`` is just before the first sbatch."""

    t0: int
    ids: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def submitted(self) -> list[int]:
        return sorted(self.ids.values())

    def rows(self, rig: Rig) -> list[SacctRow]:
        """This batch's sacct records (submitted after ``t0``: ids may be reused after a reset)."""
        return [r for r in sacct(rig, self.submitted) if r.submit >= self.t0]

    def role(self, row: SacctRow) -> str:
        base = int(re.split(r"[_+]", row.job_id_text)[0])  # array ``12_1``, het ``12+1``
        for name, job_id in self.ids.items():
            if job_id in (base, row.job_id):
                return name
        raise AssertionError(f"sacct row {row} belongs to none of {self.ids}")


def finished_jobs(jobs: RigJobs, rows: Sequence[SacctRow]) -> str | None:
    """``None`` when every job but ``long`` has ended (requeue: both runs; array: 3 tasks),
    else what is still missing."""
    by_role: dict[str, list[SacctRow]] = defaultdict(list)
    for row in rows:
        by_role[jobs.role(row)].append(row)
    runs = {"requeued": 2, "array": 3, "het": 2}
    for name in jobs.ids:
        if name.startswith("long"):
            continue
        seen = by_role.get(name, [])
        states = [r.state for r in seen]
        done = (
            bool(seen)
            and all(r.terminal for r in seen)
            and len(seen) == runs.get(name, 1)
            and (name != "requeued" or states.count("REQUEUED") == 1)
        )
        if not done:
            return f"{name}: {[(r.job_id_text, r.state) for r in seen]}"
    return None


# --- comparing usage ------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """GPU-seconds per account (zeros kept), per (account, GPU type) and per run."""

    per_account: dict[str, int]
    per_type: dict[tuple[str, str], int]
    per_run: dict[tuple[int, int], int]


def usage_of_sacct(rows: Iterable[SacctRow]) -> Usage:
    acc: dict[str, int] = defaultdict(int)
    typ: dict[tuple[str, str], int] = defaultdict(int)
    run_: dict[tuple[int, int], int] = {}
    for row in rows:
        acc[row.account] += row.gpu_seconds
        for kind, seconds in row.gpu_seconds_by_type().items():
            typ[(row.account, kind)] += seconds
        run_[(row.job_id, row.submit)] = row.gpu_seconds
    return Usage(dict(acc), dict(typ), run_)


def usage_of_records(records: Iterable[UsageRecord]) -> Usage:
    acc: dict[str, int] = defaultdict(int)
    typ: dict[tuple[str, str], int] = defaultdict(int)
    run_: dict[tuple[int, int], int] = {}
    for record in records:
        acc[record.account] += record.gpu_seconds
        for kind, seconds in record.gpu_seconds_by_type().items():
            typ[(record.account, kind)] += seconds
        run_[(record.job_id, record.submit)] = record.gpu_seconds
    return Usage(dict(acc), dict(typ), run_)


def ours(
    records: Iterable[UsageRecord], rows: Sequence[SacctRow], cluster: str
) -> list[UsageRecord]:
    """The stored records of these sacct rows' runs (same job id and submit time)."""
    keys = {(r.job_id, r.submit) for r in rows}
    return [r for r in records if r.cluster == cluster and (r.job_id, r.submit) in keys]


# --- daemons ---------------------------------------------------------------------------------


def _proc_state_and_start(pid: int) -> tuple[str, str, str] | None:
    """(comm, state, starttime) from /proc/PID/stat, or ``None`` if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = stat[stat.index("(") + 1 : stat.rindex(")")]
    rest = stat[stat.rindex(")") + 2 :].split()
    return comm, rest[0], rest[19]  # field 3 (state) and field 22 (starttime)


def rig_pid(rig: Rig, daemon: str) -> int:
    """The PID rig.sh recorded for ``daemon`` ("PID STARTTIME" in ``$DIR/pids``), checked."""
    record = rig.state_dir / "pids" / f"{daemon}.pid"
    pid_text, start = record.read_text().split()[:2]
    pid = int(pid_text)
    found = _proc_state_and_start(pid)
    if found is None or found[1] == "Z" or found[2] != start:
        raise AssertionError(f"{daemon}: recorded pid {pid} ({record}) is not running")
    if found[0] != daemon[:15]:
        raise AssertionError(f"{daemon}: recorded pid {pid} is {found[0]!r}")
    return pid


def stop_daemon(rig: Rig, daemon: str, timeout: float = 30) -> None:
    """SIGTERM the process rig.sh started for ``daemon``; wait until it is gone (or a zombie)."""
    pid = rig_pid(rig, daemon)
    os.kill(pid, signal.SIGTERM)

    def gone() -> bool | None:
        found = _proc_state_and_start(pid)
        return True if found is None or found[1] == "Z" else None

    wait_for(f"{daemon} (pid {pid}) to exit", gone, timeout, interval=0.1)


def rig_start(rig: Rig, timeout: float = 180) -> str:
    """``rig.sh start`` (or ``rig2411.sh``): restarts only the daemons that are missing."""
    done = run(rig, "bash", str(rig.kind.script), "start", timeout=timeout, check=False)
    if done.returncode != 0:
        raise AssertionError(f"rig.sh start failed: {done.stderr.strip()[-2000:]}")
    status = run(rig, "bash", str(rig.kind.script), "status", timeout=60, check=False)
    if status.returncode != 0:
        raise AssertionError(f"rig.sh status after start: {status.stdout}{status.stderr}")
    return done.stdout
