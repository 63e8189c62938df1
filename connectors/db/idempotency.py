"""Idempotency keys in the database: shared by every replica, kept at least :data:`KEEP`.

A row per (user, key): the request's fingerprint, and the answer once it is known.

* **The claim rides on the write.** While a request with a key runs, :data:`CLAIM` holds its
  :class:`Claim`; :func:`claim_in_transactions` inserts the key's row (no answer yet) in the
  request's own write transaction, just before it commits. The ledger entries and the claim
  commit together or not at all: a key whose request wrote is never free again, even if the
  process dies before the answer is stored (the row then has no answer: :attr:`Stored.lost`).
  A second request that slipped past the lock (another SQLite process) fails on the primary
  key, its whole transaction rolls back, and :attr:`Claim.lost` tells the middleware so.
* **The answer** is stored right after, in a transaction of its own (:func:`store`).
* **One request per key at a time**: on PostgreSQL a session-level advisory lock on a hash of
  (user, key), held on a connection of its own (:func:`try_lock`), across replicas; a process
  that dies releases it with its connection. SQLite: the caller's in-process lock, and the
  primary key above across processes.
* **Expiry**: a row older than :data:`KEEP` counts as absent (:func:`find` deletes it); the
  expired rows are purged at most every :data:`PURGE_EVERY` by :func:`store`, and every hour
  by :func:`purge`, which the scheduler's ``purge`` job runs (``connectors.scheduler``).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, delete, event, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from connectors.db import tables as t

log = logging.getLogger(__name__)

#: How long a key and its answer are kept, at least.
KEEP = timedelta(hours=24)
#: How often (at most) storing an answer also purges the expired keys.
PURGE_EVERY = timedelta(minutes=10)
#: ``pg_try_advisory_lock(CLASS, hash)``: "idmp" in ASCII; apart from the close lock's class.
LOCK_CLASS = 0x69646D70

K = t.IdempotencyKeyRow


@dataclass
class Claim:
    """A request with a key, while it runs (see the module doc)."""

    username: str
    key: str
    fingerprint: str
    at: datetime
    #: the session whose open transaction holds the claim row
    session: Session | None = None
    #: the claim row committed with a write of the request
    committed: bool = False
    #: another request holds the key: this one's transaction was rolled back
    lost: bool = False


@dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    #: ``None``: the request wrote, but its answer was lost
    answer: Answer | None

    @property
    def lost(self) -> bool:
        return self.answer is None


#: The request being served with a key (absent outside one). The thread pool running sync
#: routes copies the context, so the route's transactions see the same :class:`Claim`.
CLAIM: contextvars.ContextVar[Claim | None] = contextvars.ContextVar(
    "gpuhours_idempotency_claim", default=None
)


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


# --- the claim, in the request's write transactions -------------------------------------------


def claim_in_transactions(factory: sessionmaker[Session]) -> None:
    """Insert the running request's claim in each transaction of ``factory`` it commits, until
    one commits (once per session factory: the writers' one, never the read-only one)."""
    if not event.contains(factory, "before_commit", _before_commit):
        event.listen(factory, "before_commit", _before_commit)
        event.listen(factory, "after_commit", _after_commit)
        event.listen(factory, "after_rollback", _after_rollback)


def _before_commit(session: Session) -> None:
    claim = CLAIM.get()
    if claim is None or claim.committed or claim.session is session:
        return
    try:
        session.execute(
            insert(K).values(
                username=claim.username,
                key=claim.key,
                fingerprint=claim.fingerprint,
                created_at=claim.at,
            )
        )
    except IntegrityError:
        claim.lost = True
        raise
    claim.session = session


def _after_commit(session: Session) -> None:
    claim = CLAIM.get()
    if claim is not None and claim.session is session:
        claim.committed, claim.session = True, None


def _after_rollback(session: Session) -> None:
    claim = CLAIM.get()
    if claim is not None and claim.session is session:
        claim.session = None


# --- rows ---------------------------------------------------------------------------------------


def find(reader: Engine, writer: Engine, username: str, key: str, now: datetime) -> Stored | None:
    """The key's row, or ``None`` (an expired row is deleted: it counts as absent)."""
    with reader.connect() as conn:
        row = conn.execute(select(K).where(K.username == username, K.key == key)).one_or_none()
    if row is None:
        return None
    if row.created_at <= now - KEEP:
        with writer.begin() as conn:
            conn.execute(
                delete(K).where(K.username == username, K.key == key, K.created_at <= now - KEEP)
            )
        return None
    if row.status is None:
        return Stored(row.fingerprint, None)
    headers = [(str(n), str(v)) for n, v in json.loads(row.headers or "[]")]
    return Stored(row.fingerprint, Answer(row.status, headers, row.body or b""))


_last_purge: dict[str, datetime] = {}


def store(writer: Engine, claim: Claim, answer: Answer, now: datetime) -> None:
    """Record the answer of ``claim``'s request (:class:`IntegrityError` if another request
    stored one first, which only a request that did not write can meet)."""
    values: dict[str, Any] = {
        "status": answer.status,
        "headers": json.dumps(answer.headers),
        "body": answer.body,
    }
    where = (K.username == claim.username, K.key == claim.key)
    with writer.begin() as conn:
        if claim.committed:
            conn.execute(update(K).where(*where).values(**values))
        else:
            conn.execute(
                insert(K).values(
                    username=claim.username,
                    key=claim.key,
                    fingerprint=claim.fingerprint,
                    created_at=claim.at,
                    **values,
                )
            )
        url = writer.url.render_as_string(hide_password=True)
        last = _last_purge.get(url)
        if last is None or now - last >= PURGE_EVERY:
            _last_purge[url] = now
            _purge(conn, now)


def purge(writer: Engine, now: datetime) -> int:
    """Delete the keys older than :data:`KEEP`; how many."""
    with writer.begin() as conn:
        return _purge(conn, now)


def _purge(conn: Connection, now: datetime) -> int:
    deleted = conn.execute(delete(K).where(K.created_at <= now - KEEP)).rowcount
    if deleted:
        log.info("purged %d idempotency keys older than %s", deleted, KEEP)
    return int(deleted or 0)


# --- one request per key at a time, across replicas (PostgreSQL) --------------------------------


@dataclass
class HeldLock:
    conn: Connection
    object: int

    def release(self) -> None:
        try:
            self.conn.execute(
                text("SELECT pg_advisory_unlock(:c, :o)"), {"c": LOCK_CLASS, "o": self.object}
            )
        except Exception:  # the lock goes with the connection
            self.conn.invalidate()
            log.warning("idempotency key lock: unlock failed; connection dropped", exc_info=True)
        finally:
            self.conn.close()


def lock_object(username: str, key: str) -> int:
    """The key's advisory lock object: a 32-bit hash of (user, key); a collision only makes
    two keys wait for each other."""
    digest = hashlib.sha256(f"{username}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def try_lock(writer: Engine, username: str, key: str) -> HeldLock | None:
    """PostgreSQL: the key's lock, held by a connection of its own until released, or
    ``None`` when another request holds it."""
    obj = lock_object(username, key)
    conn = writer.connect()
    try:
        conn.execution_options(isolation_level="AUTOCOMMIT")
        got = conn.execute(
            text("SELECT pg_try_advisory_lock(:c, :o)"), {"c": LOCK_CLASS, "o": obj}
        ).scalar()
    except BaseException:
        conn.invalidate()
        conn.close()
        raise
    if got:
        return HeldLock(conn, obj)
    conn.close()
    return None
