"""Consumption read model: what a project consumed in a pool and period.

Charges come from ingested Slurm usage (``connectors.ingest``). Until a cluster is ingested
there is nothing to read and consumption is zero.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker


class SqlConsumption:
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    def consumed(self, project_id: str, pool_id: str, period: str) -> tuple[int, int]:
        return (0, 0)
