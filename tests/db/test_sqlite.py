"""SQLite, the embedded default, done properly: readers run beside a writer (WAL), writers that
move hours stay serialised, commits are durable (``synchronous=FULL``) and the files private."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from allocator.model import Role, User
from connectors.bootstrap import build
from connectors.db.engine import WriterQueue, make_engine
from connectors.db.migrate import upgrade
from connectors.settings import Settings

sqlite_only = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)


@pytest.fixture
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_read_unit_of_work_cannot_write(engine: Engine) -> None:
    """The read-only unit of work (every GET) is refused a write by the database itself, so a
    read path can never write without its write lock."""
    services = build(Settings(database_url=engine.url.render_as_string(False)), engine=engine)
    with services.uow(read_only=True) as uow:
        assert uow.users.list() == []
        with pytest.raises(DBAPIError):
            uow.users.add(User("mallory", Role.ADMIN))
    with services.uow() as uow:
        uow.users.add(User("carol", Role.RESEARCHER))
        uow.commit()
    with services.uow(read_only=True) as uow:
        assert [u.username for u in uow.users.list()] == ["carol"]


@sqlite_only
def test_sqlite_commits_are_durable_and_readers_see_the_wal(engine: Engine) -> None:
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1


@pytest.mark.usefixtures("umask_022")
def test_a_new_data_directory_and_its_database_files_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data" / "gpuhours"
    engine = make_engine(f"sqlite:///{data / 'gpuhours.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO users (username, role, full_name, email) "
                          "VALUES ('a', 'admin', '', '')"))  # fmt: skip
        files = sorted(p.name for p in data.iterdir())
        assert {"gpuhours.db", "gpuhours.db-wal", "gpuhours.db-shm"} <= set(files)
        assert {p: oct(mode(data / p)) for p in files} == {p: oct(0o600) for p in files}
    engine.dispose()
    assert oct(mode(data)) == oct(0o700)
    assert oct(mode(data.parent)) == oct(0o700)


@pytest.mark.usefixtures("umask_022")
def test_an_existing_data_directory_keeps_its_mode_and_the_new_database_is_private(
    tmp_path: Path,
) -> None:
    data = tmp_path / "shared"
    data.mkdir(mode=0o755)
    engine = make_engine(f"sqlite:///{data / 'gpuhours.db'}")
    upgrade(engine)
    engine.dispose()
    assert oct(mode(data)) == oct(0o755)
    assert oct(mode(data / "gpuhours.db")) == oct(0o600)


def test_writers_of_one_process_take_the_write_lock_in_their_order_of_arrival() -> None:
    queue, order = WriterQueue(timeout=10), []
    queue.acquire()

    def writer(n: int) -> None:
        queue.acquire()
        order.append(n)
        queue.release()

    threads = []
    for n in range(5):
        threads.append(threading.Thread(target=writer, args=(n,)))
        threads[-1].start()
        while len(queue._waiting) < n + 1:  # queued before the next one arrives
            time.sleep(0.001)
    queue.release()
    for thread in threads:
        thread.join(10)
    assert order == [0, 1, 2, 3, 4]
    queue.acquire()  # free again
    queue.release()


def test_a_writer_gives_up_after_the_timeout_and_leaves_the_queue() -> None:
    queue = WriterQueue(timeout=0.05)
    queue.acquire()
    with pytest.raises(TimeoutError):
        queue.acquire()
    assert not queue._waiting
    queue.release()
    queue.acquire()
