"""API tokens: minted with an expiry, listed without their secret, revoked; every step audited.

A token is ``gph_`` + 32 random bytes (urlsafe). Only its SHA-256 is stored, with its first
12 characters (``prefix``, 48 of its 256 random bits) to recognise it in a listing; the token
itself is shown once, when minted. Everywhere else a token is named by its integer ``id``.

Who may do what:

- an administrator mints tokens for any user, and for *another administrator* only when saying
  so (``for_another_admin``): the holder then acts under that administrator's name. The
  operator's CLI (``cli:<login>``, who has the database anyway) always says so;
- everyone lists and revokes their own tokens; an administrator anyone's. Another user's token
  reads as unknown (404), as an invisible project does.

Audit events, subject ``user:<owner>``, never the secret nor its hash: ``token.minted`` (for
oneself), ``token.minted_for_user``, ``token.minted_for_admin`` and ``token.revoked``, each with
the token's id and prefix, the owner and role, the expiry and the note or reason.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from allocator.errors import Forbidden, InvalidInput, NotFound
from allocator.model import Role, User
from allocator.rules import require_role
from connectors.db import tables as t

TOKEN_PREFIX = "gph_"
PREFIX_LENGTH = 12
#: The longest expiry anyone may give a token (about ten years).
MAX_DAYS = 3650
DEMO_NOTE = "demo admin token"
#: Who mints tokens outside a request (tests, benchmarks): audited under this name.
SYSTEM = User("system", Role.ADMIN)
DEMO = User("demo", Role.ADMIN)


class TokenState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    REVOKED = "revoked"


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown of a token: never its secret, never its hash."""

    id: int
    username: str
    prefix: str
    note: str
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return TokenState.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return TokenState.EXPIRED
        return TokenState.ACTIVE


@dataclass(frozen=True)
class Minted:
    token: str
    info: TokenInfo


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def check_expiry(expires_at: datetime, now: datetime, field: str = "expires_at") -> datetime:
    """An expiry in the future, at most ``MAX_DAYS`` ahead."""
    if expires_at <= now:
        raise InvalidInput(field, f"{expires_at.isoformat()} is not in the future")
    if expires_at > now + timedelta(days=MAX_DAYS):
        raise InvalidInput(field, f"at most {MAX_DAYS} days ahead")
    return expires_at


def mint(
    session_factory: sessionmaker[Session],
    actor: User,
    username: str,
    now: datetime,
    *,
    expires_at: datetime | None,
    note: str = "",
    for_another_admin: bool = False,
    token: str | None = None,
) -> Minted:
    """Store a new token for ``username``; the returned secret is never shown again. Anyone
    mints their own (self-service: the portal's tokens page, ``POST /users/{me}/tokens``);
    only an admin mints for someone else."""
    if username != actor.username:
        require_role(actor, Role.ADMIN)
    if expires_at is not None:
        check_expiry(expires_at, now)
    token = token or new_token()
    with session_factory() as session, session.begin():
        owner = session.get(t.UserRow, username)
        if owner is None:
            raise NotFound("user", username, field="username")
        action = _mint_action(actor, owner, for_another_admin)
        row = t.ApiTokenRow(
            token_hash=hash_token(token),
            prefix=token[:PREFIX_LENGTH],
            username=username,
            created_at=now,
            created_by=actor.username,
            expires_at=expires_at,
            note=note,
        )
        session.add(row)
        session.flush()
        expiry = expires_at.isoformat() if expires_at is not None else "never"
        detail = f"token {row.id} ({row.prefix}) for {username} ({owner.role}), expires {expiry}"
        _audit(session, actor, now, action, username, detail + (f"; note: {note}" if note else ""))
        return Minted(token, _info(row))


def _mint_action(actor: User, owner: t.UserRow, for_another_admin: bool) -> str:
    if owner.username == actor.username:
        return "token.minted"
    if owner.role != Role.ADMIN.value:
        return "token.minted_for_user"
    if not for_another_admin:
        refused = Forbidden(
            f"{owner.username} is an administrator and a token for them lets its holder act"
            " under their name: set for_another_admin to true to mint it anyway"
        )
        refused.field = "for_another_admin"
        raise refused
    return "token.minted_for_admin"


def mint_token(
    session_factory: sessionmaker[Session],
    username: str,
    now: datetime,
    note: str = "",
    token: str | None = None,
    *,
    expires_at: datetime | None = None,
) -> str:
    """A token for ``username`` minted by ``system`` (tests, benchmarks); audited too."""
    return mint(
        session_factory,
        SYSTEM,
        username,
        now,
        expires_at=expires_at,
        note=note,
        for_another_admin=True,
        token=token,
    ).token


def list_tokens(
    session_factory: sessionmaker[Session],
    actor: User,
    now: datetime,
    username: str | None,
    active_only: bool = False,
) -> list[TokenInfo]:
    """``username``'s tokens (one's own, or anyone's for an admin); ``None``: everyone's."""
    if username != actor.username:
        require_role(actor, Role.ADMIN)
    query = select(t.ApiTokenRow).order_by(t.ApiTokenRow.id)
    with session_factory() as session:
        if username is not None:
            if session.get(t.UserRow, username) is None:
                raise NotFound("user", username, field="username")
            query = query.where(t.ApiTokenRow.username == username)
        infos = [_info(row) for row in session.scalars(query)]
    if active_only:
        infos = [i for i in infos if i.state(now) is TokenState.ACTIVE]
    return infos


def revoke(
    session_factory: sessionmaker[Session],
    actor: User,
    token_id: int,
    now: datetime,
    reason: str = "",
) -> TokenInfo:
    """Revoke a token (one's own, or anyone's for an admin); revoking twice changes nothing."""
    with session_factory() as session, session.begin():
        row = session.get(t.ApiTokenRow, token_id)
        if row is None or (row.username != actor.username and actor.role is not Role.ADMIN):
            raise NotFound("token", token_id, field="token_id")
        done = session.execute(
            update(t.ApiTokenRow)
            .where(t.ApiTokenRow.id == token_id, t.ApiTokenRow.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor.username)
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            detail = f"token {row.id} ({row.prefix}) of {row.username} revoked"
            _audit(session, actor, now, "token.revoked", row.username, _with(detail, reason))
        session.refresh(row)
        return _info(row)


def mint_demo_admin_token(
    session_factory: sessionmaker[Session], now: datetime, days: int = 90
) -> str:
    """The demo's admin token, fresh at each start: the previous ones are revoked."""
    return mint_demo_token(session_factory, "admin", now, days)


def mint_demo_token(
    session_factory: sessionmaker[Session], username: str, now: datetime, days: int = 90
) -> str:
    """A demo token of ``username`` (note ``demo <username> token``), fresh at each start: the
    previous ones are revoked (audited)."""
    note = f"demo {username} token"
    with session_factory() as session:
        previous: Sequence[int] = session.scalars(
            select(t.ApiTokenRow.id).where(
                t.ApiTokenRow.username == username,
                t.ApiTokenRow.note == note,
                t.ApiTokenRow.revoked_at.is_(None),
            )
        ).all()
    for token_id in previous:
        revoke(session_factory, DEMO, token_id, now, "a new demo start")
    minted = mint(
        session_factory,
        DEMO,
        username,
        now,
        expires_at=now + timedelta(days=days),
        note=note,
        for_another_admin=True,
    )
    return minted.token


def _with(detail: str, reason: str) -> str:
    return f"{detail}: {reason}" if reason else detail


def _audit(
    session: Session, actor: User, now: datetime, action: str, username: str, detail: str
) -> None:
    session.add(
        t.AuditEventRow(
            actor=actor.username, at=now, action=action, subject=f"user:{username}", detail=detail
        )
    )


def _info(row: t.ApiTokenRow) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        username=row.username,
        prefix=row.prefix,
        note=row.note,
        created_at=row.created_at,
        created_by=row.created_by or "",
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        revoked_by=row.revoked_by,
    )
