"""Allocation rounds' tables. See ``connectors.db.rounds``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db.tables import Base, UTCDateTime


class RoundRow(Base):
    __tablename__ = "allocation_rounds"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    period: Mapped[str] = mapped_column(String(16), index=True)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime())
    #: ``open`` until approved (``closed`` is read from the deadline), then ``approved``
    state: Mapped[str] = mapped_column(String(16))
    opened_by: Mapped[str] = mapped_column(String(64))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RoundPoolRow(Base):
    __tablename__ = "allocation_round_pools"
    round_id: Mapped[int] = mapped_column(ForeignKey("allocation_rounds.id"), primary_key=True)
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)


class RoundWeightRow(Base):
    __tablename__ = "allocation_round_weights"
    round_id: Mapped[int] = mapped_column(ForeignKey("allocation_rounds.id"), primary_key=True)
    chair_id: Mapped[str] = mapped_column(ForeignKey("chairs.id"), primary_key=True)
    weight: Mapped[int] = mapped_column(Integer)


class RoundMinimumRow(Base):
    __tablename__ = "allocation_round_minimums"
    round_id: Mapped[int] = mapped_column(ForeignKey("allocation_rounds.id"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("allocation_requests.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)


class RoundEditRow(Base):
    __tablename__ = "allocation_round_edits"
    round_id: Mapped[int] = mapped_column(ForeignKey("allocation_rounds.id"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("allocation_requests.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoundLineRow(Base):
    """A line as approved (written once, at approval)."""

    __tablename__ = "allocation_round_lines"
    round_id: Mapped[int] = mapped_column(ForeignKey("allocation_rounds.id"), primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("allocation_requests.id"), primary_key=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    basis: Mapped[str] = mapped_column(String(24))
    explanation: Mapped[str] = mapped_column(Text)
    edited: Mapped[bool] = mapped_column(Boolean, default=False)


class LendingPolicyRow(Base):
    """A chair's lending policy (``period_end`` when it has no row)."""

    __tablename__ = "lending_policies"
    chair_id: Mapped[str] = mapped_column(ForeignKey("chairs.id"), primary_key=True)
    policy: Mapped[str] = mapped_column(String(16))


class LendingLimitRow(Base):
    """A project's lending and borrowing limits in unit-seconds (``NULL``: no limit)."""

    __tablename__ = "lending_limits"
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    lending_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    borrowing_limit: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class RegulationRow(Base):
    """A pool's regulation rule: ``genci`` (under-use at a month) or ``tgcc`` (linear plan),
    its parameters (those of the other rule are ``NULL``) and where reclaimed hours go."""

    __tablename__ = "pool_regulations"
    pool_id: Mapped[str] = mapped_column(ForeignKey("pools.id"), primary_key=True)
    rule: Mapped[str] = mapped_column(String(8))
    destination: Mapped[str] = mapped_column(String(8))
    after_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    threshold_milli: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reclaim_milli: Mapped[int | None] = mapped_column(Integer, nullable=True)
    check_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    late_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deduct_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
