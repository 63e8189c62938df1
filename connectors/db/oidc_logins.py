"""Sign-ins under way with an OpenID Connect provider (table ``oidc_logins``).

Starting a sign-in stores its ``state`` (hashed: the browser holds it, in the redirect and in
a cookie), its ``nonce`` and its PKCE verifier; the callback *takes* them, once: a second
callback with the same ``state`` finds nothing. Rows older than :data:`MAX_AGE` are refused
and purged when the next sign-in starts.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, insert, select

from connectors.db.identity_tables import OidcLoginRow as L

MAX_AGE = timedelta(minutes=10)


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Login:
    """What the callback needs to finish a sign-in: who started it where, and its secrets."""

    provider: str
    nonce: str
    verifier: str
    next: str


class SqlOidcLogins:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def start(self, state: str, login: Login, now: datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(L).where(L.created_at <= now - MAX_AGE))
            conn.execute(
                insert(L).values(
                    state_hash=hash_state(state),
                    provider=login.provider,
                    nonce=login.nonce,
                    verifier=login.verifier,
                    next=login.next,
                    created_at=now,
                )
            )

    def take(self, state: str, now: datetime) -> Login | None:
        """The sign-in named by ``state``, deleted as it is read (``None``: unknown, already
        taken or too old)."""
        if not state or len(state) > 200:
            return None
        key = hash_state(state)
        with self.engine.begin() as conn:
            row = conn.execute(select(L).where(L.state_hash == key)).one_or_none()
            taken = conn.execute(delete(L).where(L.state_hash == key)).rowcount
        if row is None or taken != 1 or row.created_at <= now - MAX_AGE:
            return None
        return Login(row.provider, row.nonce, row.verifier, row.next)
