"""Typed tables. Alembic migrations create them; ``tests/db/test_migrations.py`` checks drift.

Amounts are BigInteger unit-seconds; datetimes are stored as UTC and always read back aware.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused; use a timezone-aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UserRow(Base):
    __tablename__ = "users"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    #: When an administrator deactivated the user: no sign-in, no token, no session since.
    deactivated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ApiTokenRow(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    #: ``None``: never expires (only tokens minted before expiries existed).
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Written at most once a minute per token (``connectors.auth.TOUCH_SECONDS``).
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PoolRow(Base):
    __tablename__ = "pools"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    unit: Mapped[str] = mapped_column(String(64))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    availability_milli: Mapped[int] = mapped_column(Integer)
    overcommit_milli: Mapped[int] = mapped_column(Integer)
    billing_mode: Mapped[str] = mapped_column(String(16))
    close_policy: Mapped[str] = mapped_column(String(16))
    carryover_cap_milli: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text, default="")


class PoolInventoryRow(Base):
    __tablename__ = "pool_inventory"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class PoolRateRow(Base):
    """Effective-dated exchange rates; rows are only ever added."""

    __tablename__ = "pool_rates"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    rate_milli: Mapped[int] = mapped_column(Integer)


class PoolRouteRow(Base):
    """Which cluster/partition draws from which pool ("" = any partition)."""

    __tablename__ = "pool_routes"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    partition: Mapped[str] = mapped_column(String(64), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    #: GPU type of the route's untyped GPUs ("" = leave untyped).
    gpu_type: Mapped[str] = mapped_column(String(64), default="", server_default="")


class PoolNodeShapeRow(Base):
    __tablename__ = "pool_node_shapes"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    partition: Mapped[str] = mapped_column(String(64), primary_key=True)
    gpus: Mapped[int] = mapped_column(Integer)
    cpus: Mapped[int] = mapped_column(Integer)
    mem_mb: Mapped[int] = mapped_column(BigInteger)


class ChairRow(Base):
    __tablename__ = "chairs"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    institution: Mapped[str] = mapped_column(String(200), default="")
    holder: Mapped[str] = mapped_column(String(200), default="")
    start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProjectRow(Base):
    __tablename__ = "projects"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    chair_id: Mapped[str] = mapped_column(ForeignKey("chairs.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    pi: Mapped[str] = mapped_column(ForeignKey("users.username"))
    start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProjectMemberRow(Base):
    __tablename__ = "project_members"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("users.username"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class SlurmAccountRow(Base):
    """Slurm account on a cluster -> project. One project per (cluster, account)."""

    __tablename__ = "slurm_accounts"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)


class RequestRow(Base):
    __tablename__ = "allocation_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    requester: Mapped[str] = mapped_column(String(64))
    justification: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    gpu_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(24), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision_reason: Mapped[str] = mapped_column(Text, default="")


class RequestLineRow(Base):
    __tablename__ = "allocation_request_lines"
    request_id: Mapped[int] = mapped_column(ForeignKey("allocation_requests.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    requested: Mapped[int] = mapped_column(BigInteger)
    granted: Mapped[int] = mapped_column(BigInteger, default=0)


class RequestCommentRow(Base):
    __tablename__ = "allocation_request_comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("allocation_requests.id"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    text: Mapped[str] = mapped_column(Text)


class LedgerEntryRow(Base):
    """The append-only journal. The application never issues UPDATE or DELETE on it."""

    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_pool_period", "pool_id", "period"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    period: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(100), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("allocation_requests.id"), nullable=True, index=True
    )
    reference: Mapped[str] = mapped_column(String(200), default="")


class AuditEventRow(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    action: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str] = mapped_column(String(200), index=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class UsageRecordRow(Base):
    """One run of one Slurm job (see ``accounting.usage.UsageRecord``); upserted by key."""

    __tablename__ = "usage_records"
    __table_args__ = (Index("ix_usage_cluster_account", "cluster", "account"),)
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    job_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    submit: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    sluid: Mapped[str | None] = mapped_column(String(32), nullable=True)
    account: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(64))
    partition: Mapped[str] = mapped_column(String(64))
    qos: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(32))
    start: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    end: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    elapsed: Mapped[int] = mapped_column(BigInteger)
    gpus: Mapped[int] = mapped_column(Integer)
    gpus_by_type: Mapped[str] = mapped_column(String(200))
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    alloc_cpus: Mapped[int] = mapped_column(Integer)
    alloc_mem_mb: Mapped[int] = mapped_column(BigInteger)
    alloc_nodes: Mapped[int] = mapped_column(Integer)
    array_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    array_task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    het_job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    het_offset: Mapped[int | None] = mapped_column(Integer, nullable=True)
    restart_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    final: Mapped[bool] = mapped_column(Boolean)
    ingested_at: Mapped[int] = mapped_column(BigInteger)


class IngestStateRow(Base):
    __tablename__ = "ingest_state"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    watermark: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_success: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_attempt: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_error: Mapped[str] = mapped_column(Text, default="")
    last_error_kind: Mapped[str] = mapped_column(String(32), default="")
    records_total: Mapped[int] = mapped_column(BigInteger, default=0)
    quarantined_total: Mapped[int] = mapped_column(BigInteger, default=0)


class IngestErrorCountRow(Base):
    __tablename__ = "ingest_error_counts"
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)


class IngestRunRow(Base):
    __tablename__ = "ingest_runs"
    __table_args__ = (Index("ix_ingest_runs_cluster_at", "cluster", "at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64))
    at: Mapped[int] = mapped_column(BigInteger)
    window_start: Mapped[int] = mapped_column(BigInteger)
    window_end: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    inserted: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    quarantined: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(Text, default="")


class QuarantineRow(Base):
    """Records that could not be normalised, verbatim, with the reason."""

    __tablename__ = "usage_quarantine"
    __table_args__ = (UniqueConstraint("cluster", "raw_hash"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)
    raw_hash: Mapped[str] = mapped_column(String(64))
    window_start: Mapped[int] = mapped_column(BigInteger)
    window_end: Mapped[int] = mapped_column(BigInteger)
    first_seen: Mapped[int] = mapped_column(BigInteger)
    last_seen: Mapped[int] = mapped_column(BigInteger)


# --- accounting: charges, rollups, statements, reconciliation, close ------------------------


class ChargeRow(Base):
    """The charges journal (``accounting.booking.Booking``): per record key, the rows of its
    latest version in open periods; rows of closed periods and late rows are never changed."""

    __tablename__ = "charges"
    __table_args__ = (
        Index("ix_charges_job", "cluster", "job_id", "submit"),
        Index("ix_charges_period_pool_account", "period", "pool_id", "cluster", "account"),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[int] = mapped_column(BigInteger)
    submit: Mapped[int] = mapped_column(BigInteger)
    account: Mapped[str] = mapped_column(String(128))
    pool_id: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(7))
    origin_period: Mapped[str] = mapped_column(String(7))
    day: Mapped[int] = mapped_column(Integer)
    gpu_type: Mapped[str] = mapped_column(String(64))
    rate_milli: Mapped[int] = mapped_column(BigInteger)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    provisional: Mapped[bool] = mapped_column(Boolean)
    late: Mapped[bool] = mapped_column(Boolean)
    priced: Mapped[bool] = mapped_column(Boolean)
    booked_at: Mapped[int] = mapped_column(BigInteger)


#: What the burn windows read of a daily rollup row besides its day.
WINDOW_COLUMNS = ["period", "pool_id", "cluster", "account", "late", "units"]


class UsageDailyRow(Base):
    """Daily rollup of ``charges``, kept in step by the same transaction that changes them."""

    __tablename__ = "usage_daily"
    # a researcher's burn rates read her accounts' last 30 days, not the whole rollup
    __table_args__ = (
        Index("ix_usage_daily_account_day", "cluster", "account", "day"),
        # every project's burn windows (/metrics) read the last 30 days from the index alone
        # on PostgreSQL (an index-only scan), never the rollup's history
        Index("ix_usage_daily_day", "day", postgresql_include=WINDOW_COLUMNS),
    )
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    pool_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    day: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    gpu_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    provisional: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    late: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    priced: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)


class UsagePeriodRow(Base):
    """Period rollup of ``charges`` (the daily rollup without the day): what reports and
    balances read. Kept in step by the same transaction as ``charges`` and ``usage_daily``."""

    __tablename__ = "usage_period"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    pool_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    gpu_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    provisional: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    late: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    priced: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    gpu_seconds: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)


class StatementRow(Base):
    """An imported external statement; the same file (by SHA-256) is imported once."""

    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("pool_id", "period", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    period: Mapped[str] = mapped_column(String(7))
    format: Mapped[str] = mapped_column(String(32))
    origin: Mapped[str] = mapped_column(String(300))
    file_name: Mapped[str] = mapped_column(String(255))
    sha256: Mapped[str] = mapped_column(String(64))
    lines: Mapped[int] = mapped_column(Integer)
    imported_by: Mapped[str] = mapped_column(String(64))
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StatementLineRow(Base):
    __tablename__ = "statement_lines"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    line: Mapped[int] = mapped_column(Integer)
    cluster: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(128))
    user: Mapped[str] = mapped_column(String(64))
    gpu_type: Mapped[str] = mapped_column(String(64))
    gpu_seconds: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    units: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class ReconciliationDecisionRow(Base):
    """An administrator's decision on a reconciliation line: accept or adjust (append-only)."""

    __tablename__ = "reconciliation_decisions"
    __table_args__ = (Index("ix_recon_decisions_pool_period", "pool_id", "period"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"))
    period: Mapped[str] = mapped_column(String(7))
    project_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)
    ours: Mapped[int] = mapped_column(BigInteger)
    theirs: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"), nullable=True)
    ledger_entry_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class PeriodCloseRow(Base):
    """A closed period and the report signed off at close (rendered from ``report_json``)."""

    __tablename__ = "period_closes"
    period: Mapped[str] = mapped_column(String(7), primary_key=True)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    closed_by: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    report_json: Mapped[str] = mapped_column(Text)


class SiteSettingRow(Base):
    """A setting the stored data depends on, as it was when the data was booked
    (``time_zone``, ``period_scheme``): ``connectors.db.site`` refuses to run with another."""

    __tablename__ = "site_settings"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    set_at: Mapped[datetime] = mapped_column(UTCDateTime())


class IdempotencyKeyRow(Base):
    """A POST's ``Idempotency-Key``, per user, and the answer it got (``status`` NULL: claimed
    by a committed write whose answer was never stored). See ``connectors.db.idempotency``."""

    __tablename__ = "idempotency_keys"
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: sha256 of the method, path, query string and body
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: the answer's headers, a JSON list of [name, value]
    headers: Mapped[str | None] = mapped_column(Text, nullable=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


# The notifications' and the portal's sessions' tables, in modules of their own, on the same
# metadata.
from connectors.db import burn_tables as _burn_tables  # noqa: E402, F401
from connectors.db import identity_tables as _identity_tables  # noqa: E402, F401
from connectors.db import notify_tables as _notify_tables  # noqa: E402, F401
from connectors.db import round_tables as _round_tables  # noqa: E402, F401
from connectors.db import session_tables as _session_tables  # noqa: E402, F401
