"""A later page of balances reads only the pools from the cursor's on, compared in Python's
order of strings (code points), the order the page was cut in, whatever the database's
collation: under PostgreSQL's ``en-US`` collation ``a`` sorts before ``B`` and ``_`` before
``-``, so a plain ``>=`` there would drop or repeat pools."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table, create_engine, insert, select
from sqlalchemy.pool import NullPool

from connectors.db.balance_reads import AtLeastByCodePoint
from tests.conftest import NO_PG, PG_URL

IDS = ["B", "a", "a-b", "a_b", "a.b", "ai2f-jz", "national", "Z9"]


def _table(collation: str | None) -> tuple[MetaData, Table]:
    metadata = MetaData()
    return metadata, Table("pool_ids", metadata, Column("id", String(64, collation=collation)))


@pytest.mark.parametrize("cursor", ["a-b", "a_b", "B", "a", "national", ""])
def test_pools_from_a_cursor_on_postgresql_under_a_language_collation(cursor: str) -> None:
    if not PG_URL:
        pytest.skip(NO_PG)
    engine = create_engine(
        PG_URL.replace("postgresql://", "postgresql+psycopg://"), poolclass=NullPool
    )
    metadata, table = _table("en-US-x-icu")
    with engine.connect() as conn:
        metadata.create_all(conn)
        try:
            conn.execute(insert(table), [{"id": i} for i in IDS])
            by_code_point = select(table.c.id).where(AtLeastByCodePoint(table.c.id, cursor))
            assert sorted(conn.scalars(by_code_point)) == sorted(i for i in IDS if i >= cursor)
            plain = sorted(conn.scalars(select(table.c.id).where(table.c.id >= cursor)))
            if cursor in ("a-b", "B"):  # the collation's order is not Python's here
                assert plain != sorted(i for i in IDS if i >= cursor)
        finally:
            conn.rollback()
    engine.dispose()


@pytest.mark.parametrize("cursor", ["a-b", "a_b", "B", ""])
def test_pools_from_a_cursor_on_sqlite(cursor: str) -> None:
    engine = create_engine("sqlite://")
    metadata, table = _table(None)
    with engine.begin() as conn:
        metadata.create_all(conn)
        conn.execute(insert(table), [{"id": i} for i in IDS])
        found = conn.scalars(select(table.c.id).where(AtLeastByCodePoint(table.c.id, cursor)))
        assert sorted(found) == sorted(i for i in IDS if i >= cursor)
