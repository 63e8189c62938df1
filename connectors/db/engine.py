"""Engines and sessions for SQLite (the embedded default) and PostgreSQL (production).

Two kinds of transaction share one engine and its connection pool:

* **writing** (the default): on SQLite ``BEGIN IMMEDIATE`` takes the database's one write lock
  at the start, so a read-check-append (balance, then ledger entry) can never race, and never
  fails half-way with ``SQLITE_BUSY_SNAPSHOT`` as a ``DEFERRED`` transaction that reads and
  then writes can; on PostgreSQL the use cases lock the pool's row.
* **read-only** (:func:`read_only`, every GET): on SQLite a plain ``BEGIN`` (deferred) under
  ``PRAGMA query_only``: in WAL mode it reads a snapshot beside the writer and never waits for
  it; on PostgreSQL ``BEGIN READ ONLY``. Either database refuses a write in it, so a read path
  can never write without the write lock.

SQLite runs in WAL mode with ``synchronous=FULL``: a commit is on disk (the WAL is synced)
before it is acknowledged. A new data directory is created 0700 and a new database file 0600;
SQLite creates the ``-wal`` and ``-shm`` files with the database file's mode.

PostgreSQL connections are pinged before use only after :data:`PING_AFTER_IDLE` seconds in
the pool: a connection that waited that long may have been cut (server restart, idle timeout,
a firewall); one back within seconds was working a moment ago. SQLAlchemy's ``pool_pre_ping``
pings at every checkout: a round trip per connection, two per API request (token, route), a
tenth of the CPU of a ``GET /balances`` (``tests/bench/bench_balances``). A connection lost
between two busy uses fails its first statement; the API retries such a request once where
that is safe (:mod:`connectors.http.faults`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker

#: Execution option marking an engine (connection) whose transactions only read.
READ_ONLY = "gpuhours_read_only"
#: Execution option of a best-effort write (a token's last-use stamp): on SQLite it gives up
#: at once (:class:`WriteLockBusy`) rather than wait while another writer holds the lock.
TRY_WRITE = "gpuhours_try_write"
#: SQLite's ``synchronous`` level: FULL syncs the WAL at every commit (an acknowledged write
#: survives an OS crash or power loss); ``tests/bench/bench_sqlite_mix.py --synchronous NORMAL``
#: measures what that costs.
SYNCHRONOUS = "FULL"
#: Seconds a PostgreSQL connection may rest in the pool and be used again without a ping.
PING_AFTER_IDLE = 10.0


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys, WAL, durable commits and serialised writers.
    Statements' parameters never appear in logs or errors (``hide_parameters``): they carry
    token hashes, PKCE verifiers and nonces, and SQL logging is one setting away."""
    kwargs.setdefault("hide_parameters", True)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_database_file(Path(database))
            if "poolclass" not in kwargs:
                # readers no longer queue behind the writer: as many as the API's threads
                kwargs.setdefault("pool_size", 20)
                kwargs.setdefault("max_overflow", 20)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs
        )
        _sqlite_pragmas(engine)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        url = str(parsed.set(drivername="postgresql+psycopg"))
    ping_after = kwargs.pop("ping_after_idle", PING_AFTER_IDLE)
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 20)
    engine = create_engine(url, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        _ping_after_idle(engine, ping_after)
    return engine


def _ping_after_idle(engine: Engine, seconds: float) -> None:
    """Ping a pooled connection before use when it rested more than ``seconds``; a dead one
    is replaced (the pool retries the checkout on ``DisconnectionError``)."""

    @event.listens_for(engine, "checkin")
    def _rested(_dbapi: Any, record: Any) -> None:
        record.info["rested_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _alive(dbapi: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.pop("rested_at", None)
        if rested is None or time.monotonic() - rested <= seconds:
            return  # new, or back within seconds
        try:
            engine.dialect.do_ping(dbapi)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError("a pooled connection rested and was found closed") from exc


def read_only(engine: Engine) -> Engine:
    """The same engine (same pool) for transactions that only read (see the module doc)."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(postgresql_readonly=True, **{READ_ONLY: True})
    return engine.execution_options(**{READ_ONLY: True})


def _private_database_file(path: Path) -> None:
    """Create the missing directories 0700 and a missing database file 0600 (an existing
    directory or file keeps its mode: it is the administrator's choice)."""
    missing = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)  # mkdir's mode is cut by the umask; never widened here
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)


class WriteLockBusy(Exception):
    """A best-effort write (:data:`TRY_WRITE`) found SQLite's write lock taken and gave up."""


class WriterQueue:
    """The writers of one process take SQLite's write lock in turn, first come first served.

    Without it they poll SQLite's busy handler, which sleeps up to 100 ms between tries, so a
    newcomer keeps winning the lock over a writer that has waited for seconds. SQLite's own
    lock still serialises writers of different processes. A writer that waits longer than
    ``timeout`` gives up, as SQLite's busy timeout would.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._mutex = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Event] = deque()

    def acquire(self) -> None:
        with self._mutex:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiting.append(turn)
        if turn.wait(self.timeout):
            return
        with self._mutex:
            if turn.is_set():  # handed over just as the wait ended
                return
            self._waiting.remove(turn)
        raise TimeoutError(f"waited {self.timeout:.0f} s for the database's write lock")

    def try_acquire(self) -> bool:
        """Take the lock only if nobody holds it or waits for it."""
        with self._mutex:
            if self._held or self._waiting:
                return False
            self._held = True
            return True

    def release(self) -> None:
        with self._mutex:
            if self._waiting:
                self._waiting.popleft().set()  # the lock passes straight to the next writer
            else:
                self._held = False


def _sqlite_pragmas(engine: Engine) -> None:
    writers = WriterQueue(timeout=30)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, record: Any) -> None:
        # Let SQLAlchemy, not the driver, open transactions, so the BEGIN below holds.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
        cursor.close()
        record.info["query_only"] = False

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        reading = bool(connection.get_execution_options().get(READ_ONLY))
        info = connection.connection.info  # per database connection, kept by the pool
        if info.get("query_only") != reading:
            connection.exec_driver_sql(f"PRAGMA query_only={'ON' if reading else 'OFF'}")
            info["query_only"] = reading
        if reading:  # a deferred snapshot beside the writer (WAL)
            connection.exec_driver_sql("BEGIN")
            return
        # Writers: one at a time, from the start (a balance check then an append cannot race).
        if connection.get_execution_options().get(TRY_WRITE):
            _try_begin_immediate(connection, writers)
        else:
            writers.acquire()
            try:
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                writers.release()
                raise
        info["writing"] = True

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(connection: Any) -> None:
        info = connection.connection.info
        if info.pop("writing", False):
            writers.release()


def _try_begin_immediate(connection: Any, writers: WriterQueue) -> None:
    """``BEGIN IMMEDIATE`` now or never: no queueing in this process, no busy wait on another
    process's lock (:class:`WriteLockBusy` either way)."""
    if not writers.try_acquire():
        raise WriteLockBusy("the write lock is taken")
    try:
        connection.exec_driver_sql("PRAGMA busy_timeout=0")
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            connection.exec_driver_sql("PRAGMA busy_timeout=30000")
    except BaseException as exc:
        writers.release()
        raise WriteLockBusy("the write lock is taken") from exc


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False, autoflush=True)
