"""Ingested usage as plain dicts: a cluster's ingestion health, an account's usage, a
quarantined record."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from accounting.ports import AccountUsage, QuarantinedRecord
from accounting.services import ClusterHealth

Plain = dict[str, Any]


def at(epoch: int | None) -> datetime | None:
    """Epoch seconds as an aware UTC time."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def cluster_health(h: ClusterHealth) -> Plain:
    return {
        "cluster": h.cluster,
        "configured": h.configured,
        "source": h.source,
        "watermark": at(h.watermark),
        "lag_seconds": h.lag_seconds,
        "last_success": at(h.last_success),
        "last_attempt": at(h.last_attempt),
        "last_error": h.last_error,
        "last_error_kind": h.last_error_kind,
        "errors_total": h.errors_total,
        "records_total": h.records_total,
        "quarantined": h.quarantined,
    }


def account_usage(u: AccountUsage) -> Plain:
    return {
        "cluster": u.cluster,
        "account": u.account,
        "project_id": u.project_id,
        "jobs": u.jobs,
        "provisional_jobs": u.provisional_jobs,
        "gpu_seconds": u.gpu_seconds,
        "gpu_seconds_by_type": u.by_type,
        "provisional_gpu_seconds": u.provisional_gpu_seconds,
        "provisional_gpu_seconds_by_type": u.provisional_by_type,
    }


def quarantined(q: QuarantinedRecord) -> Plain:
    return {
        "id": q.id,
        "cluster": q.cluster,
        "job_id": q.job_id,
        "reason": q.reason,
        "raw": q.raw,
        "first_seen": at(q.first_seen),
        "last_seen": at(q.last_seen),
    }
