"""The tables of signing in with an OpenID Connect provider. See ``connectors.db.identities``
and ``connectors.db.oidc_logins``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db.tables import Base, UTCDateTime


class IdentityRow(Base):
    """Who a provider says someone is, ``(issuer, subject)``, linked to a gpuhours user: the
    user is found by this pair, never by e-mail alone."""

    __tablename__ = "identities"
    issuer: Mapped[str] = mapped_column(String(300), primary_key=True)
    subject: Mapped[str] = mapped_column(String(255), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("users.username", ondelete="CASCADE"), index=True
    )
    #: The configured provider's name (``GPUHOURS_OIDC_PROVIDERS``) it was first seen through.
    provider: Mapped[str] = mapped_column(String(32))
    #: ``eduPersonPrincipalName``, when the provider releases it.
    eppn: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OidcLoginRow(Base):
    """A sign-in under way: its ``state`` (stored hashed), ``nonce`` and PKCE verifier, taken
    once by the callback."""

    __tablename__ = "oidc_logins"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    nonce: Mapped[str] = mapped_column(String(100))
    verifier: Mapped[str] = mapped_column(String(128))
    next: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
