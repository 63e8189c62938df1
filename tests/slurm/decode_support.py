"""What the decoder's tests share: the recorded replies and builders of synthetic ones."""

from __future__ import annotations

import copy
import json
from typing import Any

from connectors.slurm.decode import decode_jobs
from tests.slurm.slurm_support import data, data_json

V38 = "slurm-22.05.8_v0.0.38_jobs.json"
V43 = "slurm-25.05.9pre_v0.0.43_jobs.json"
RIG = "slurmdb_v0.0.38_jobs_window_uts.json"


def records_of(name: str) -> list[Any]:
    return decode_jobs(data(name)).records


def records_by_id(name: str, job_id: int) -> list[Any]:
    return sorted((r for r in records_of(name) if r.job_id == job_id), key=lambda r: r.submit)


def job_template(name: str, job_id: int) -> dict[str, Any]:
    job = next(j for j in data_json(name)["jobs"] if j["job_id"] == job_id)
    job = copy.deepcopy(job)
    job["steps"] = []
    return job


def decode_reply(*jobs: dict[str, Any], **envelope: Any) -> Any:
    return decode_jobs(json.dumps({"errors": [], "warnings": [], **envelope, "jobs": list(jobs)}))


def one_record(job: dict[str, Any]) -> Any:
    result = decode_reply(job)
    assert result.quarantined == []
    (record,) = result.records
    return record


def gres(*items: tuple[str, int | None], extra: tuple[dict[str, Any], ...] = ()) -> list[Any]:
    return [
        {"type": "gres", "name": n, "id": 1000 + i, "count": c} for i, (n, c) in enumerate(items)
    ]


def with_allocated(allocated: list[dict[str, Any]]) -> Any:
    job = job_template(V43, 1)
    job["tres"]["allocated"] = allocated
    job["time"]["elapsed"] = 10
    return one_record(job)
