"""The portal's sessions, in the database (table ``web_sessions``).

A session is opened when a user signs in (``connectors.web.signin``) and named by a random
secret (``secrets.token_urlsafe(32)``, 256 bits) that only the browser holds, in its cookie:
the table stores its SHA-256, so a copy of the table signs nobody in. Each session carries its
CSRF synchronizer token, ``csrf``, which every form of the portal sends back.

A session ends at the first of: sign-out (its row is deleted), ``idle`` without a request,
its absolute ``expires_at``, its user being deleted (the foreign key cascades) or deactivated
(a deactivated user's sessions are found no more). Expired rows
are purged when someone signs in. ``last_seen_at`` is written at most once per
:data:`TOUCH_SECONDS`, in its own short, best-effort transaction, as a token's last use is.

A session opened by an OpenID Connect sign-in keeps the provider's ID token, to name the
session at the provider's logout (``id_token_hint``): sealed (joserfc's JWE, ``dir`` with
A256GCM) under a key derived from the session's secret (HMAC-SHA256), so that only a request
carrying the browser's cookie can read it back; the table alone reveals no ID token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from joserfc import jwe
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from allocator.model import Role, User
from connectors.db import tables as t
from connectors.db.engine import TRY_WRITE, WriteLockBusy, read_only
from connectors.db.session_tables import WebSessionRow

TOUCH_SECONDS = 60
log = logging.getLogger(__name__)
S = WebSessionRow


SEAL = {"alg": "dir", "enc": "A256GCM"}
SEALING = jwe.JWERegistry(algorithms=[SEAL["alg"], SEAL["enc"]])


def hash_id(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _sealing_key(secret: str) -> OctKey:
    raw = hmac.new(secret.encode(), b"gpuhours web session id_token_hint", hashlib.sha256)
    return OctKey.import_key(raw.digest())


def seal(secret: str, id_token: str) -> str:
    """``id_token`` encrypted under the session secret's key ("" stays "")."""
    if not id_token:
        return ""
    return jwe.encrypt_compact(SEAL, id_token.encode(), _sealing_key(secret), registry=SEALING)


def unseal(secret: str, sealed: str) -> str:
    """The ID token sealed by :func:`seal` with ``secret``; "" if none or not readable."""
    if not sealed:
        return ""
    try:
        found = jwe.decrypt_compact(sealed, _sealing_key(secret), registry=SEALING)
    except (JoseError, ValueError):
        return ""
    return (found.plaintext or b"").decode(errors="replace")


@dataclass(frozen=True, slots=True)
class WebSession:
    """A live session: who, its CSRF token, and when it ends at the latest."""

    id_hash: str
    user: User
    csrf: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    method: str
    #: the OpenID Connect provider signed in with (``method`` ``oidc``)
    provider: str = ""


@dataclass(frozen=True, slots=True)
class Opened:
    """A new session: the secret for the cookie (shown once, never stored) and the session."""

    secret: str
    session: WebSession


class SqlWebSessions:
    """Open, find, touch and close sessions; ``idle`` and ``lifetime`` bound every session."""

    def __init__(self, engine: Engine, idle: timedelta, lifetime: timedelta) -> None:
        self.engine = engine
        self.idle = idle
        self.lifetime = lifetime
        self._reader = read_only(engine)
        self._try_writer = engine.execution_options(**{TRY_WRITE: True})

    def open(
        self,
        user: User,
        now: datetime,
        method: str = "token",
        provider: str = "",
        id_token: str = "",
    ) -> Opened:
        """A new session for ``user`` (expired sessions of anyone are purged first); with
        ``id_token`` (an OpenID Connect sign-in), that token sealed beside it."""
        secret = secrets.token_urlsafe(32)
        session = WebSession(
            hash_id(secret),
            user,
            secrets.token_urlsafe(32),
            now,
            now,
            now + self.lifetime,
            method,
            provider,
        )
        with self.engine.begin() as conn:
            conn.execute(delete(S).where(S.expires_at <= now))
            conn.execute(delete(S).where(S.last_seen_at <= now - self.idle))
            conn.execute(
                insert(S).values(
                    id_hash=session.id_hash,
                    username=user.username,
                    csrf=session.csrf,
                    created_at=now,
                    last_seen_at=now,
                    expires_at=session.expires_at,
                    method=method,
                    provider=provider,
                    id_token_sealed=seal(secret, id_token),
                )
            )
        return Opened(secret, session)

    def find(self, secret: str, now: datetime) -> WebSession | None:
        """The live session named by ``secret`` (``None``: unknown, idle too long, expired);
        its last activity is recorded (at most once a minute)."""
        if not secret or len(secret) > 100:
            return None
        query = (
            select(
                S.id_hash,
                S.csrf,
                S.created_at,
                S.last_seen_at,
                S.expires_at,
                S.method,
                S.provider,
                t.UserRow.username,
                t.UserRow.role,
                t.UserRow.full_name,
                t.UserRow.email,
            )
            .join(t.UserRow, t.UserRow.username == S.username)
            .where(S.id_hash == hash_id(secret), t.UserRow.deactivated_at.is_(None))
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).one_or_none()
        if row is None:
            return None
        found = WebSession(
            row.id_hash,
            User(row.username, Role(row.role), row.full_name, row.email),
            row.csrf,
            row.created_at,
            row.last_seen_at,
            row.expires_at,
            row.method,
            row.provider,
        )
        if now >= found.expires_at or now - found.last_seen_at >= self.idle:
            return None
        if now - found.last_seen_at >= timedelta(seconds=TOUCH_SECONDS):
            self._touch(found.id_hash, now)
        return found

    def _touch(self, id_hash: str, now: datetime) -> None:
        try:
            with self._try_writer.begin() as conn:
                conn.execute(update(S).where(S.id_hash == id_hash).values(last_seen_at=now))
        except (SQLAlchemyError, WriteLockBusy) as exc:
            log.warning("portal session activity not recorded: %s", type(exc).__name__)

    def id_token_hint(self, secret: str) -> str:
        """The ID token of the session named by ``secret`` ("" if none, or unreadable)."""
        if not secret or len(secret) > 100:
            return ""
        query = select(S.id_token_sealed).where(S.id_hash == hash_id(secret))
        with self._reader.connect() as conn:
            sealed = conn.execute(query).scalar_one_or_none()
        return unseal(secret, sealed or "")

    def close(self, secret: str) -> None:
        """Sign-out: the session's row is deleted."""
        with self.engine.begin() as conn:
            conn.execute(delete(S).where(S.id_hash == hash_id(secret)))

    def count(self, username: str) -> int:
        with self._reader.connect() as conn:
            return len(conn.execute(select(S.id_hash).where(S.username == username)).all())
