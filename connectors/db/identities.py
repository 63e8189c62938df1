"""Users as an OpenID Connect provider knows them (table ``identities``), and deactivation.

A sign-in names someone by ``(issuer, subject)``; :meth:`SqlIdentities.sign_in` finds the
user linked to that pair, or links one, in one transaction:

* linked already: the user's name and e-mail follow the claims; so does the role when the
  provider has role rules (:attr:`Claimed.role` set);
* not linked, and a user an administrator created with the same e-mail (and no identity of
  this issuer yet): that user is *claimed* (audit ``user.claimed``);
* otherwise the user is created just in time, with no project (audit ``user.created``).

A deactivated user (``users.deactivated_at``) is refused (:class:`Deactivated`) and nothing
is written. Every change is audited with the provider as actor (``oidc:<name>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, func, insert, select, update

from allocator.model import Role, User
from connectors.db import tables as t
from connectors.db.engine import read_only
from connectors.db.identity_tables import IdentityRow as I

U = t.UserRow
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")


class Deactivated(Exception):
    """The user was deactivated by an administrator: no sign-in."""

    def __init__(self, username: str) -> None:
        super().__init__(f"user {username!r} is deactivated")
        self.username = username


@dataclass(frozen=True, slots=True)
class Claimed:
    """Who a provider says signed in."""

    provider: str
    issuer: str
    subject: str
    full_name: str = ""
    email: str = ""
    #: ``False`` only when the provider says the e-mail is not verified.
    email_verified: bool = True
    eppn: str = ""
    preferred_username: str = ""
    #: The role its claims give (``None``: the provider has no role rules).
    role: Role | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    #: ``created``, ``claimed`` or ``known``
    how: str


@dataclass(frozen=True, slots=True)
class Link:
    """One provider identity of a user, and when it last signed in."""

    provider: str
    issuer: str
    subject: str
    last_sign_in: datetime


@dataclass(frozen=True, slots=True)
class Person:
    """A user with their state and linked identities (the administrators' users page)."""

    user: User
    deactivated_at: datetime | None
    links: tuple[Link, ...]

    @property
    def active(self) -> bool:
        return self.deactivated_at is None


class SqlIdentities:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reader = read_only(engine)

    def sign_in(self, who: Claimed, now: datetime) -> SignedIn:
        with self.engine.begin() as conn:
            linked = conn.execute(
                select(I.username).where(I.issuer == who.issuer, I.subject == who.subject)
            ).scalar_one_or_none()
            if linked is not None:
                return SignedIn(_known(conn, who, linked, now), "known")
            claimable = _claimable(conn, who)
            if claimable is not None:
                return SignedIn(_claim(conn, who, claimable, now), "claimed")
            return SignedIn(_create(conn, who, now), "created")

    def find(self, issuer: str, subject: str) -> User | None:
        """The active user linked to ``(issuer, subject)`` (bearer tokens of the API)."""
        query = (
            select(U.username, U.role, U.full_name, U.email)
            .join(I, I.username == U.username)
            .where(I.issuer == issuer, I.subject == subject, U.deactivated_at.is_(None))
        )
        with self._reader.connect() as conn:
            row = conn.execute(query).one_or_none()
        return None if row is None else User(row.username, Role(row.role), row.full_name, row.email)

    def people(self) -> list[Person]:
        """Every user, by username, with their linked identities (by provider, issuer)."""
        with self._reader.connect() as conn:
            users = conn.execute(select(U).order_by(U.username)).all()
            rows = conn.execute(select(I).order_by(I.username, I.provider, I.issuer)).all()
        links: dict[str, list[Link]] = {}
        for row in rows:
            link = Link(row.provider, row.issuer, row.subject, row.last_seen_at)
            links.setdefault(row.username, []).append(link)
        return [
            Person(
                User(u.username, Role(u.role), u.full_name, u.email),
                u.deactivated_at,
                tuple(links.get(u.username, ())),
            )
            for u in users
        ]

    def set_active(self, username: str, active: bool, actor: str, now: datetime) -> bool:
        """Deactivate (or reactivate) a user; ``False``: no such user."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(U)
                .where(U.username == username)
                .values(deactivated_at=None if active else now)
            ).rowcount
            if done:
                action = "user.reactivated" if active else "user.deactivated"
                _audit(conn, actor, now, action, username, "")
        return bool(done)


def _audit(conn: Connection, actor: str, now: datetime, action: str, who: str, detail: str) -> None:
    conn.execute(
        insert(t.AuditEventRow).values(
            actor=actor, at=now, action=action, subject=f"user:{who}", detail=detail
        )
    )


def _actor(who: Claimed) -> str:
    return f"oidc:{who.provider}"


def _known(conn: Connection, who: Claimed, username: str, now: datetime) -> User:
    row = conn.execute(select(U).where(U.username == username)).one()
    if row.deactivated_at is not None:
        raise Deactivated(username)
    values: dict[str, object] = {}
    if who.full_name and who.full_name != row.full_name:
        values["full_name"] = who.full_name[:200]
    if who.email and who.email != row.email:
        values["email"] = who.email[:200]
    role = Role(row.role)
    if who.role is not None and who.role is not role and role is not Role.SCRAPER:
        values["role"] = who.role.value
        _audit(conn, _actor(who), now, "user.role", username, f"{role.value} -> {who.role.value}")
        role = who.role
    if values:
        conn.execute(update(U).where(U.username == username).values(**values))
    conn.execute(
        update(I)
        .where(I.issuer == who.issuer, I.subject == who.subject)
        .values(last_seen_at=now, eppn=who.eppn[:200])
    )
    return User(
        username,
        role,
        str(values.get("full_name", row.full_name)),
        str(values.get("email", row.email)),
    )


def _claimable(conn: Connection, who: Claimed) -> str | None:
    """A user created by an administrator with this e-mail, not yet linked to this issuer."""
    if not who.email or not who.email_verified:
        return None
    linked = select(I.username).where(I.issuer == who.issuer)
    found = (
        conn.execute(
            select(U.username)
            .where(func.lower(U.email) == who.email.lower(), U.username.not_in(linked))
            .where(U.role != Role.SCRAPER.value)
            .order_by(U.username)
        )
        .scalars()
        .all()
    )
    return found[0] if len(found) == 1 else None


def _link(conn: Connection, who: Claimed, username: str, now: datetime) -> None:
    conn.execute(
        insert(I).values(
            issuer=who.issuer,
            subject=who.subject,
            username=username,
            provider=who.provider,
            eppn=who.eppn[:200],
            created_at=now,
            last_seen_at=now,
        )
    )


def _claim(conn: Connection, who: Claimed, username: str, now: datetime) -> User:
    row = conn.execute(select(U).where(U.username == username)).one()
    if row.deactivated_at is not None:
        raise Deactivated(username)
    _link(conn, who, username, now)
    _audit(conn, _actor(who), now, "user.claimed", username, f"{who.issuer} {who.subject}")
    return _known(conn, who, username, now)


def _create(conn: Connection, who: Claimed, now: datetime) -> User:
    username = _free_username(conn, who)
    role = who.role or Role.RESEARCHER
    user = User(username, role, who.full_name[:200], who.email[:200])
    conn.execute(
        insert(U).values(
            username=username, role=role.value, full_name=user.full_name, email=user.email
        )
    )
    _link(conn, who, username, now)
    _audit(conn, _actor(who), now, "user.created", username, role.value)
    return user


def _free_username(conn: Connection, who: Claimed) -> str:
    """A username from the claims (``eduPersonPrincipalName``, e-mail, preferred username,
    subject), made safe and unique (``alice@unistra.fr``, then ``alice@unistra.fr-2``...)."""
    for source in (who.eppn, who.email, who.preferred_username, who.subject):
        base = _UNSAFE.sub("-", source).strip("-.@_")[:56]
        if base:
            break
    else:
        base = "user"
    taken = set(conn.execute(select(U.username).where(U.username.like(f"{base}%"))).scalars().all())
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
