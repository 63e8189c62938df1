"""What the CLI prints: the domain's values as the JSON the API answers with.

The fields are ``connectors.presenters``' (shared with the API); here they only become JSON
values the way the API writes them: enums as their values, times in ISO 8601 with ``Z`` for
UTC.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from accounting.ports import AccountUsage, JobCharge, QuarantinedRecord, StatementInfo
from accounting.services import ClusterHealth, ProjectBurn, ProjectJob, Reconciliation
from allocator.ledger import PoolBalance, ProjectBalance
from allocator.model import AllocationRequest, Chair, LedgerEntry, Pool, Project, User
from connectors.presenters import allocation as present
from connectors.presenters import quarter as quarter_present
from connectors.presenters import usage as usage_present
from connectors.presenters.tokens import token_info as _token_info
from connectors.tokens import TokenInfo

JSON = Any


def jsonable(value: Any) -> JSON:
    """A presenter's plain value as JSON, written as the API writes it."""
    if isinstance(value, Mapping):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return _iso(value)
    return value


def _iso(moment: datetime) -> str:
    text = moment.isoformat()
    if moment.utcoffset() == timedelta(0):
        return text.removesuffix("+00:00") + "Z"
    return text


def user(u: User) -> JSON:
    return jsonable(present.user(u))


def pool(p: Pool) -> JSON:
    return jsonable(present.pool(p))


def chair(c: Chair) -> JSON:
    return jsonable(present.chair(c))


def project(p: Project) -> JSON:
    return jsonable(present.project(p))


def request(r: AllocationRequest, unit: str | None = None) -> JSON:
    return jsonable(present.request(r, unit))


def entry(e: LedgerEntry, unit: str | None = None) -> JSON:
    return jsonable(present.entry(e, unit))


def entries(es: Iterable[LedgerEntry], units: Mapping[str, str] | None = None) -> JSON:
    """Each entry, in its pool's unit when ``units`` (pool id -> unit) says it."""
    return [entry(e, (units or {}).get(e.pool_id)) for e in es]


def pool_balance(b: PoolBalance, unit: str | None = None) -> JSON:
    return jsonable(present.pool_balance(b, unit))


def project_balance(b: ProjectBalance, unit: str | None = None) -> JSON:
    return jsonable(present.project_balance(b, unit))


def token_info(info: TokenInfo, now: datetime) -> JSON:
    return jsonable(_token_info(info, now))


def statement(i: StatementInfo) -> JSON:
    return jsonable(quarter_present.statement(i))


def reconciliation(r: Reconciliation) -> JSON:
    return jsonable(quarter_present.reconciliation(r))


def job(j: JobCharge) -> JSON:
    return jsonable(quarter_present.job(j))


def project_job(pj: ProjectJob) -> JSON:
    return jsonable(quarter_present.project_job(pj))


def burn(p: ProjectBurn, unit: str | None = None) -> JSON:
    return jsonable(quarter_present.burn(p, unit))


def cluster_health(h: ClusterHealth) -> JSON:
    return jsonable(usage_present.cluster_health(h))


def account_usage(u: AccountUsage) -> JSON:
    return jsonable(usage_present.account_usage(u))


def quarantined(q: QuarantinedRecord) -> JSON:
    return jsonable(usage_present.quarantined(q))
