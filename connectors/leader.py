"""Leader election: exactly one replica on a database schedules.

Every ``serve`` and ``worker`` replica on one database campaigns, and only the holder of the
leader lock schedules. On PostgreSQL the lock is a session-level advisory lock held on a
dedicated connection; when the leader dies, its connection closes and the server frees the
lock. On SQLite it is an exclusive ``flock`` on a file next to the database. Standbys try again
every ``leader_retry_seconds``; the leader checks its lock connection as often
(``connectors.scheduler_runtime``).
"""

from __future__ import annotations

import fcntl
import logging
import os
from contextlib import suppress
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Connection, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from connectors.db.engine import make_engine

#: The scheduler's logger (log lines name it), shared by its modules.
log = logging.getLogger("connectors.scheduler")

#: Key of the PostgreSQL advisory lock of the scheduler leader: "gpuhours" in ASCII.
LOCK_KEY = 0x6770_7568_6F75_7273
#: libpq keepalives on the lock connection, both ways. The leader notices a dead server, and
#: the server notices a dead leader host (no FIN), within about 25 s instead of hours.
_PG_LOCK_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15000,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5"
    " -c tcp_keepalives_count=3 -c tcp_user_timeout=15000",
}


class Leader(Protocol):
    """The right to schedule. At most one holder at a time among the replicas of a database."""

    @property
    def held(self) -> bool: ...

    def try_acquire(self) -> bool:
        """Take the lock if it is free; ``True`` if this process holds it (now or already)."""
        ...

    def check(self) -> bool:
        """Verify the lock is still held; ``False`` (and no longer held) if it was lost."""
        ...

    def release(self) -> None: ...


class PostgresLeader:
    """A session-level advisory lock on a dedicated connection, held for life."""

    def __init__(self, url: str | URL, key: int = LOCK_KEY) -> None:
        self.key = key
        self._engine = make_engine(
            make_url(url).render_as_string(hide_password=False),
            poolclass=NullPool,
            connect_args=_PG_LOCK_CONNECT_ARGS,
        )
        self._conn: Connection | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            if self._conn is None:
                conn = self._engine.connect()
                self._conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            got = self._conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key})
            self._held = bool(got)
        except SQLAlchemyError as exc:
            log.warning("scheduler: cannot try the leader lock: %s", _first_line(exc))
            self._drop()
        return self._held

    def check(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            log.error("scheduler: leader lock connection lost: %s", _first_line(exc))
            self._drop()
        return self._held

    def release(self) -> None:
        if self._held and self._conn is not None:
            with suppress(SQLAlchemyError):
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        self._drop()  # closing the session frees the lock in any case
        self._engine.dispose()

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(SQLAlchemyError):
                conn.close()


class FileLeader:
    """An exclusive ``flock`` on a file; the kernel frees it when the holder dies.

    ``path=None`` (an in-memory database, which no other process can open): always held.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def try_acquire(self) -> bool:
        if self._held:
            return True
        if self.path is None:
            self._held = True
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # who leads, for an operator's eyes
        self._fd, self._held = fd, True
        return True

    def check(self) -> bool:
        return self._held  # a flock lasts as long as its open file

    def release(self) -> None:
        fd, self._fd, self._held = self._fd, None, False
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def leader_for(url: str | URL) -> Leader:
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        return PostgresLeader(parsed)
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return FileLeader(None)
        return FileLeader(Path(f"{database}.scheduler-lock"))
    raise ValueError(f"scheduler: no leader election for {backend} databases")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
