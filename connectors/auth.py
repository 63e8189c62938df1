"""API tokens and the authentication seam.

A token is ``gph_`` + 32 random bytes (urlsafe). Only its SHA-256 is stored; the token itself
is shown once, when minted. ``Authenticator`` is the one seam the HTTP edge calls: adding OIDC
means adding another implementation, without touching the core.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from allocator.errors import NotFound
from allocator.model import Role, User
from connectors.db import tables as t

TOKEN_PREFIX = "gph_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class Authenticator(Protocol):
    def authenticate(self, credentials: str) -> User | None:
        """The user behind ``credentials`` (a bearer token), or ``None``."""
        ...


class TokenAuthenticator:
    """Bearer tokens checked against their stored hashes.

    Successful look-ups are cached for ``ttl`` seconds (default 10): a revoked token stops
    working within that delay, and a hot read path costs no query per request.
    """

    def __init__(
        self, session_factory: sessionmaker[Session], ttl: float = 10.0, max_entries: int = 10_000
    ) -> None:
        self.session_factory = session_factory
        self.ttl = ttl
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, User]] = {}

    def authenticate(self, credentials: str) -> User | None:
        if not credentials.startswith(TOKEN_PREFIX) or len(credentials) > 200:
            return None
        digest = hash_token(credentials)
        cached = self._cache.get(digest)
        if cached is not None and cached[0] > time.monotonic():
            return cached[1]
        user = self._lookup(digest)
        if user is not None:
            if len(self._cache) >= self.max_entries:
                self._cache.clear()
            self._cache[digest] = (time.monotonic() + self.ttl, user)
        return user

    def _lookup(self, digest: str) -> User | None:
        with self.session_factory() as session:
            row = session.execute(
                select(t.UserRow)
                .join(t.ApiTokenRow, t.ApiTokenRow.username == t.UserRow.username)
                .where(
                    t.ApiTokenRow.token_hash == digest,
                    t.ApiTokenRow.revoked_at.is_(None),
                )
            ).scalar_one_or_none()
            if row is None:
                return None
            return User(row.username, Role(row.role), row.full_name, row.email)


def mint_token(
    session_factory: sessionmaker[Session],
    username: str,
    now: datetime,
    note: str = "",
    token: str | None = None,
) -> str:
    """Store a new token for ``username`` and return it (the only time it is visible)."""
    token = token or new_token()
    with session_factory() as session, session.begin():
        if session.get(t.UserRow, username) is None:
            raise NotFound("user", username, field="user")
        session.add(
            t.ApiTokenRow(
                token_hash=hash_token(token),
                prefix=token[:8],
                username=username,
                created_at=now,
                note=note,
            )
        )
    return token
