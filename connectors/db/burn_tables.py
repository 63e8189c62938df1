"""The projects' figures kept pre-aggregated. See ``connectors.db.burn_windows``."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db.tables import Base


class UsageBurnRow(Base):
    """Units of the two burn-rate windows (7 and 30 days) ending on the day of
    :class:`UsageBurnStateRow`, per pool and Slurm account: ``usage_daily``'s non-late rows of
    those days, summed; and the units charged in that day's period, final and provisional
    (``usage_period``'s rows, summed); kept in step with them by the same transactions."""

    __tablename__ = "usage_burn"
    pool_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cluster: Mapped[str] = mapped_column(String(64), primary_key=True)
    account: Mapped[str] = mapped_column(String(128), primary_key=True)
    units_7d: Mapped[int] = mapped_column(BigInteger)
    units_30d: Mapped[int] = mapped_column(BigInteger)
    final_units: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    provisional_units: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class UsageBurnStateRow(Base):
    """One row (``id`` 1): the local day the windows of ``usage_burn`` end on, and its period;
    ``NULL`` when they are to be summed again (none yet, or a rollup was repaired)."""

    __tablename__ = "usage_burn_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    period: Mapped[str | None] = mapped_column(String(7), nullable=True)
