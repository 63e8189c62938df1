"""Reads sent together on one connection, in its transaction (one snapshot for all of them).

A :class:`Read` is a statement built once (its values ``bindparam``\\ s) and the function that
shapes its rows. :func:`batch` sends several. On PostgreSQL a thread of the batch runs them one
after another on the connection, each compiled once per process and run on the driver's
cursor (no SQLAlchemy ``Row`` per row), while the caller writes what the first ones gave: the
server works on the next read meanwhile. (psycopg's pipeline mode would send them all at once,
but reading any result waits for all of them.) Elsewhere (SQLite) each read runs through
SQLAlchemy when its result is asked for.

Only for reads whose columns need no SQLAlchemy result processing beyond what the shaper
does: strings, integers, booleans, and ``UTCDateTime`` through :func:`utc`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from queue import SimpleQueue
from threading import Thread
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, Select

T = TypeVar("T")
Rows = Sequence[tuple[Any, ...]]


@dataclass(frozen=True)
class Read(Generic[T]):
    """A statement (built once) and what its rows are made into."""

    query: Select[Any]
    shape: Callable[[Rows], T]


@dataclass
class Pending(Generic[T]):
    """The result of a read sent in a batch: shaped when first asked for."""

    fetch: Callable[[], Rows]
    shape: Callable[[Rows], T]
    _done: list[T] = field(default_factory=list)

    def result(self) -> T:
        if not self._done:
            self._done.append(self.shape(self.fetch()))
        return self._done[0]


def run(conn: Connection, read: Read[T], **params: Any) -> T:
    """One read, alone."""
    with batch(conn) as send:
        pending: Pending[T] = send(read, **params)
        return pending.result()


@contextmanager
def batch(conn: Connection, spare: Engine | None = None) -> Iterator[Callable[..., Pending[Any]]]:
    """``send(read, *, apart="", **params) -> Pending``: the reads sent in this block, run in
    order. The connection is the batch's until the block ends (every read done): nothing
    else may use it meanwhile. With ``spare`` (PostgreSQL), the reads sent ``apart="name"``
    run in their own order on a connection of ``spare``'s for that name, at the same time as
    the others (each statement reads the state committed at its start, as on one connection
    at READ COMMITTED). Results not asked for inside the block can be asked for after it."""
    if conn.dialect.name != "postgresql":
        yield lambda read, apart="", **params: _later(conn, read, params)
        return
    with ExitStack() as stack:
        readers = {"": _Reader(conn)}
        stack.callback(readers[""].close)

        def send(read: Read[T], apart: str = "", **params: Any) -> Pending[T]:
            if spare is None:
                apart = ""
            reader = readers.get(apart)
            if reader is None:
                assert spare is not None
                reader = readers[apart] = _Reader(stack.enter_context(spare.connect()))
                stack.callback(reader.close)
            return reader.send(read, **params)

        yield send


def _later(conn: Connection, read: Read[T], params: Mapping[str, Any]) -> Pending[T]:
    return Pending(lambda: [tuple(row) for row in conn.execute(read.query, params)], read.shape)


class _Reader:
    """A thread running the reads sent to it, one after another, on the driver's connection."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        raw = conn.connection.driver_connection
        assert raw is not None
        self.raw: Any = raw
        self.queue: SimpleQueue[tuple[str, dict[str, Any], Future[Rows]] | None] = SimpleQueue()
        self.thread = Thread(target=self._work, name="gpuhours-reads", daemon=True)
        self.thread.start()

    def send(self, read: Read[T], **params: Any) -> Pending[T]:
        sql, fixed = _compiled(self.conn, read.query)
        future: Future[Rows] = Future()
        self.queue.put((sql, {**fixed, **params}, future))
        return Pending(future.result, read.shape)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _work(self) -> None:
        while (item := self.queue.get()) is not None:
            sql, params, future = item
            try:
                with self.raw.cursor() as cursor:
                    cursor.execute(sql, params, prepare=False)
                    future.set_result(cursor.fetchall())
            except BaseException as exc:  # handed to whoever asks for the result
                future.set_exception(exc)


#: statement -> its PostgreSQL text and the values of its fixed parameters
_COMPILED: dict[Select[Any], tuple[str, dict[str, Any]]] = {}


def _compiled(conn: Connection, query: Select[Any]) -> tuple[str, dict[str, Any]]:
    found = _COMPILED.get(query)
    if found is None:
        compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
        found = _COMPILED[query] = (str(compiled), dict(compiled.params))
    return found


def utc(value: datetime | None) -> datetime | None:
    """A ``UTCDateTime`` column's value as SQLAlchemy gives it: aware, in UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
