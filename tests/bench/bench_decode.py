"""Benchmark: decode + normalise of slurmdb jobs replies (not a test; run it by hand).

    .venv/bin/python tests/bench/bench_decode.py [-n 200000] [--repeat 3] [--steps]

Builds one synthetic reply per API version from a real recorded record (v0.0.38 from the
22.05 rig, v0.0.43 from the 25.05 lab cluster), varying job ids, times, accounts, users and
GPU counts, and prints records/s for ``decode_jobs`` (JSON bytes -> UsageRecords) and the
reply size. By default the records have ``steps: []`` as the client fetches them
(``skip_steps``); ``--steps`` keeps the recorded steps (what a reply without skip_steps,
or ``sacct --json``, looks like). The "one bad record" line measures the per-record
fallback path that a reply with a quarantined record takes.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from connectors.slurm.decode import decode_jobs  # noqa: E402

DATA = ROOT / "tests" / "data" / "slurm"
TEMPLATES = {
    # version: (file, job_id of the template record)
    "v0.0.38": ("slurmdb_v0.0.38_jobs_hour07_final.json", 2),
    "v0.0.43": ("slurm-25.05.9pre_v0.0.43_jobs.json", 1),
}
ACCOUNTS = [f"acct-{i:03d}" for i in range(200)]
USERS = [f"user{i:04d}" for i in range(2000)]


def _template(version: str, keep_steps: bool) -> dict[str, Any]:
    name, job_id = TEMPLATES[version]
    reply = json.loads((DATA / name).read_text())
    record = next(job for job in reply["jobs"] if job["job_id"] == job_id)
    if not keep_steps:
        record["steps"] = []
    return {"envelope": {k: v for k, v in reply.items() if k != "jobs"}, "record": record}


def build_reply(
    version: str, n: int, *, keep_steps: bool = False, bad_first: bool = False, seed: int = 7
) -> bytes:
    rnd = random.Random(seed)
    tpl = _template(version, keep_steps)
    base = tpl["record"]
    jobs = []
    t0 = 1_795_000_000
    for i in range(n):
        job = copy.deepcopy(base)
        job["job_id"] = 100_000 + i
        submit = t0 + i * 3
        start = submit + rnd.randrange(0, 600)
        elapsed = rnd.randrange(1, 86_400)
        job["time"]["submission"] = submit
        job["time"]["eligible"] = submit
        job["time"]["start"] = start
        job["time"]["end"] = start + elapsed
        job["time"]["elapsed"] = elapsed
        job["account"] = rnd.choice(ACCOUNTS)
        job["user"] = rnd.choice(USERS)
        gpus = rnd.choice((1, 2, 4, 8))
        for item in job["tres"]["allocated"]:
            if item["type"] == "gres" and item["name"] in ("gpu", "gpu:a100", "gpu:h100"):
                item["count"] = gpus
        jobs.append(job)
    if bad_first and jobs:
        del jobs[0]["cluster"]  # a required field: this record gets quarantined
    return json.dumps({**tpl["envelope"], "jobs": jobs}).encode()


def _rate(body: bytes, n: int, repeat: int) -> tuple[float, float, int]:
    """Best records/s over ``repeat`` runs, by CPU time of this process and by wall time.

    CPU time is the "per core" figure and is robust to other load on the machine.
    """
    best_cpu = best_wall = float("inf")
    result = None
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = decode_jobs(body)
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    assert result is not None
    assert len(result.records) + len(result.quarantined) == n, "record count mismatch"
    return n / best_cpu, n / best_wall, len(result.quarantined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=200_000, help="records per reply")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--steps", action="store_true", help="keep the recorded steps[]")
    args = parser.parse_args()

    print(f"python {sys.version.split()[0]}, {args.n} records per reply, best of {args.repeat}")
    for version in TEMPLATES:
        body = build_reply(version, args.n, keep_steps=args.steps)
        size_mb = len(body) / 1e6
        rate, wall_rate, _ = _rate(body, args.n, args.repeat)
        bad_body = build_reply(version, args.n, keep_steps=args.steps, bad_first=True)
        slow_rate, _, bad = _rate(bad_body, args.n, args.repeat)
        print(
            f"{version}: reply {size_mb:.1f} MB ({len(body) / args.n:.0f} B/record); "
            f"decode+normalise {rate:,.0f} records/s per core (wall {wall_rate:,.0f}/s); "
            f"with one bad record ({bad} quarantined): {slow_rate:,.0f} records/s per core"
        )


if __name__ == "__main__":
    main()
