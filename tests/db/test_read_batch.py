"""Reads sent together (``connectors.db.read_batch``): each comes back shaped, in the order
sent, usable after the block; one that fails raises when its result is asked for, and the
batch still ends (its threads joined, its spare connections returned); on PostgreSQL the
reads sent ``apart`` run on another connection. SQLite and PostgreSQL."""

from __future__ import annotations

import threading

import psycopg
import pytest
from sqlalchemy import Engine, String, bindparam, func, insert, literal, select, text
from sqlalchemy.exc import DBAPIError

from connectors.db import tables as t
from connectors.db.read_batch import Read, batch, run

E = t.IngestErrorCountRow
KINDS = Read(select(E.kind).order_by(E.kind), lambda rows: [r[0] for r in rows])
ECHO = Read(
    select(literal("said: ") + bindparam("word", "", type_=String)), lambda rows: rows[0][0]
)
COUNT = Read(select(func.count()).select_from(E), lambda rows: rows[0][0])


def reader_threads() -> int:
    return sum(1 for th in threading.enumerate() if th.name == "gpuhours-reads")


def test_reads_sent_together_come_back_shaped(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(insert(E), [{"cluster": "c", "kind": k, "count": 1} for k in "ba"])
    with engine.connect() as conn:
        with batch(conn, engine) as send:
            kinds = send(KINDS)
            echo = send(ECHO, word="hello")
            apart = send(COUNT, apart="other")
            assert echo.result() == "said: hello"
        assert kinds.result() == ["a", "b"]  # asked for after the block
        assert apart.result() == 2
        assert run(conn, ECHO, word="again") == "said: again"
    assert reader_threads() == 0


def test_a_failing_read_raises_when_asked_and_the_batch_still_ends(engine: Engine) -> None:
    broken = Read(select(text("no_such_column")).select_from(E), lambda rows: rows)

    def read_broken() -> None:
        with engine.connect() as conn, batch(conn, engine) as send:
            send(COUNT, apart="other")
            send(broken).result()

    # SQLAlchemy's error on SQLite; on PostgreSQL the driver's own (run on its cursor)
    with pytest.raises((DBAPIError, psycopg.errors.UndefinedColumn), match="no_such_column"):
        read_broken()
    assert reader_threads() == 0
    with engine.connect() as conn:  # the connections went back to the pool, usable
        assert run(conn, COUNT) == 0


def test_reads_sent_apart_run_on_another_connection(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs every read on the batch's one connection")
    pid = Read(select(func.pg_backend_pid()), lambda rows: rows[0][0])
    with engine.connect() as conn:
        with batch(conn, engine) as send:
            mine, other = send(pid), send(pid, apart="other")
            assert mine.result() != other.result()
        assert mine.result() == conn.scalar(select(func.pg_backend_pid()))
