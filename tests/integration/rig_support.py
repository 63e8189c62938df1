"""What the rig's tests share: ingesting from the rig, reading what was stored, the API over it."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from accounting.ingestion import IngestReport, Window
from accounting.usage import UsageRecord
from allocator import services as svc
from allocator.model import Role, User
from connectors.auth import mint_token
from connectors.bootstrap import build
from connectors.db import tables as t
from connectors.db.usage_store import SqlUsageStore
from connectors.http.app import create_app
from connectors.ingest import RestUsageSource, SacctUsageSource, run_ingest
from connectors.settings import ClusterConfig, Settings
from tests.integration.slurm_rig import (
    Rig,
    RigJobs,
    SacctRow,
    Usage,
    ours,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "slurm"


# --- helpers ---------------------------------------------------------------------------------


def at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def ingest(
    engine: Engine,
    config: ClusterConfig,
    *,
    since: int | None = None,
    until: int | None = None,
    source: RestUsageSource | SacctUsageSource | None = None,
) -> IngestReport:
    """``run_ingest`` now, through slurmrestd (or ``source``), into ``engine``."""
    own = RestUsageSource(config) if source is None else None
    try:
        return run_ingest(
            SqlUsageStore(engine),
            config,
            datetime.now(UTC),
            since=None if since is None else at(since),
            until=None if until is None else at(until),
            source=source or own,
        )
    finally:
        if own is not None:
            own.client.close()


def done_rows(rig: Rig, jobs: RigJobs) -> list[SacctRow]:
    """sacct's records of the batch that are final now (the long job only once it ended)."""
    return [r for r in jobs.rows(rig) if r.terminal]


def stored(engine: Engine, rig: Rig, rows: list[SacctRow]) -> list[UsageRecord]:
    return ours(SqlUsageStore(engine).records(rig.cluster), rows, rig.cluster)


def by_key(records: list[UsageRecord]) -> dict[tuple[int, int], UsageRecord]:
    return {(r.job_id, r.submit): r for r in records}


def assert_usage_equal(actual: Usage, expected: Usage) -> None:
    assert actual.per_run == expected.per_run
    assert actual.per_account == expected.per_account
    assert actual.per_type == expected.per_type


def usage_rows(engine: Engine) -> dict[tuple[str, int, int], tuple[Any, ...]]:
    """Every stored usage row verbatim (``ingested_at`` included: a rewrite would show)."""
    U = t.Base.metadata.tables["usage_records"]
    with engine.connect() as conn:
        return {(r.cluster, r.job_id, r.submit): tuple(r) for r in conn.execute(select(U))}


def runs(engine: Engine, cluster: str) -> list[Any]:
    R = t.IngestRunRow
    with engine.connect() as conn:
        return list(conn.execute(select(R.__table__).where(R.cluster == cluster).order_by(R.id)))


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(t.Base.metadata.sorted_tables):
            conn.execute(table.delete())


def fetch_keys(config: ClusterConfig, start: int, end: int) -> set[tuple[str, int, int]]:
    """The record keys one request for ``[start, end)`` returns (Slurm's window semantics)."""
    source = RestUsageSource(config)
    try:
        batch = source.fetch(Window(start, end))
    finally:
        source.client.close()
    return {(r.cluster, r.job_id, r.submit) for r in batch.records if r.cluster == config.name}


def slurm_jwt(rig: Rig, lifetime: int) -> str:
    """A token as ``scontrol token`` makes it (HS256, ``sun``), expiring ``lifetime`` s from now
    (negative: already expired)."""
    now = int(time.time())
    claims = {"iat": now - 3600, "exp": now + lifetime, "sun": rig.user}
    return jwt.encode(claims, rig.jwt_key_file.read_bytes(), algorithm="HS256")


@contextmanager
def api(engine: Engine, config: ClusterConfig) -> Iterator[Callable[[str], Any]]:
    """The HTTP API over ``engine`` with an admin token: ``get(path) -> JSON``."""
    sv = build(
        Settings(database_url=engine.url.render_as_string(hide_password=False), clusters=[config]),
        engine=engine,
    )
    stamp = datetime.now(UTC)
    svc.create_user(sv.uow(), User("it-setup", Role.ADMIN), stamp, User("it-admin", Role.ADMIN))
    token = mint_token(sv.session_factory, "it-admin", stamp, note="integration test")
    with TestClient(create_app(services=sv)) as client:

        def get(path: str) -> Any:
            response = client.get(path, headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200, response.text
            return response.json()

        yield get


def cluster_status(get: Callable[[str], Any], cluster: str) -> dict[str, Any]:
    [entry] = [c for c in get("/api/v1/clusters")["items"] if c["cluster"] == cluster]
    assert entry["configured"] is True and entry["source"] == "rest"
    return entry


def iso(epoch: int) -> str:
    return at(epoch).isoformat().replace("+00:00", "Z")
