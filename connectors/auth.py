"""The authentication seam, and bearer tokens checked against the database.

``Authenticator`` is the one seam the HTTP edge calls: adding OIDC means adding another
implementation, without touching the core. Tokens themselves (minting, listing, revoking) are
``connectors.tokens``; failed attempts are throttled at the HTTP edge
(``connectors.throttle``), before an authenticator is asked.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, bindparam, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from allocator.model import Role, User
from connectors.db import tables as t
from connectors.db.engine import TRY_WRITE, WriteLockBusy, read_only
from connectors.tokens import TOKEN_PREFIX, hash_token, mint_token, new_token

__all__ = [
    "TOKEN_PREFIX",
    "TOUCH_SECONDS",
    "Authenticator",
    "TokenAuthenticator",
    "hash_token",
    "mint_token",
    "new_token",
]

#: A token's ``last_used_at`` is written at most once per this many seconds.
TOUCH_SECONDS = 60.0
MAX_TOKEN_LENGTH = 200
log = logging.getLogger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Authenticator(Protocol):
    def authenticate(self, credentials: str) -> User | None:
        """The user behind ``credentials`` (a bearer token), or ``None``."""
        ...


class TokenAuthenticator:
    """Bearer tokens checked against their stored hashes, on every request.

    No cache: a token revoked (or expired) on any replica, by the API, the CLI or in SQL, is
    refused by every replica on the next request. The price is one query by the unique index
    on ``token_hash`` per request (measured in the README), plus, at most once a minute per
    token, a conditional update of ``last_used_at`` in its own short transaction.
    """

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        clock: Callable[[], datetime] = _utc_now,
        touch_seconds: float = TOUCH_SECONDS,
    ) -> None:
        self.session_factory = session_factory
        self.clock = clock
        self.touch_seconds = touch_seconds
        engine: Engine = session_factory.kw["bind"]
        self.engine = engine
        # Core, not an ORM session (a quarter of the cost, measured in tests/bench/bench_auth);
        # on PostgreSQL in autocommit: one round trip, no BEGIN/ROLLBACK around one SELECT; on
        # SQLite a read-only (deferred) transaction, which never waits for the writer.
        self._reader: Engine = (
            engine.execution_options(isolation_level="AUTOCOMMIT")
            if engine.dialect.name == "postgresql"
            else read_only(engine)
        )
        # Best effort: on SQLite, never wait for (nor queue behind) another writer.
        self._writer: Engine = engine.execution_options(**{TRY_WRITE: True})

    def authenticate(self, credentials: str) -> User | None:
        if not credentials.startswith(TOKEN_PREFIX) or len(credentials) > MAX_TOKEN_LENGTH:
            return None
        digest = hash_token(credentials)
        now = self.clock()
        with self._reader.connect() as conn:
            found = conn.execute(_LOOKUP, {"digest": digest, "now": now}).one_or_none()
        # The index found the row by its hash; compare again in constant time all the same.
        if found is None or not hmac.compare_digest(found.token_hash, digest):
            return None
        last = found.last_used_at
        if last is None or now - last >= timedelta(seconds=self.touch_seconds):
            self._touch(found.id, now)
        return User(found.username, Role(found.role), found.full_name, found.email)

    def _touch(self, token_id: int, now: datetime) -> None:
        """Record the use; conditional, so replicas racing for one token write it once.
        Best effort: a busy database never turns a valid token into a refusal."""
        cutoff = now - timedelta(seconds=self.touch_seconds)
        try:
            with self._writer.begin() as conn:
                conn.execute(
                    update(t.ApiTokenRow)
                    .where(
                        t.ApiTokenRow.id == token_id,
                        or_(
                            t.ApiTokenRow.last_used_at.is_(None),
                            t.ApiTokenRow.last_used_at <= cutoff,
                        ),
                    )
                    .values(last_used_at=now)
                )
        except (SQLAlchemyError, WriteLockBusy) as exc:
            log.warning("last use of token %d not recorded: %s", token_id, type(exc).__name__)


#: One row by the unique index on ``token_hash``: a token neither revoked nor expired, and
#: its user, unless deactivated.
_LOOKUP = (
    select(
        t.ApiTokenRow.id,
        t.ApiTokenRow.token_hash,
        t.ApiTokenRow.last_used_at,
        t.UserRow.username,
        t.UserRow.role,
        t.UserRow.full_name,
        t.UserRow.email,
    )
    .join(t.UserRow, t.ApiTokenRow.username == t.UserRow.username)
    .where(
        t.ApiTokenRow.token_hash == bindparam("digest"),
        t.ApiTokenRow.revoked_at.is_(None),
        t.UserRow.deactivated_at.is_(None),
        or_(
            t.ApiTokenRow.expires_at.is_(None),
            t.ApiTokenRow.expires_at > bindparam("now", type_=t.UTCDateTime()),
        ),
    )
)
