"""The portal's sessions' table. See ``connectors.db.web_sessions``."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from connectors.db.tables import Base, UTCDateTime


class WebSessionRow(Base):
    """A signed-in portal session (``connectors.db.web_sessions``). Only the SHA-256 of the
    session id is stored: a copy of the table signs nobody in. ``csrf`` is the session's
    synchronizer token, which every form of the portal carries."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("users.username", ondelete="CASCADE"), index=True
    )
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Written at most once a minute (``connectors.db.web_sessions.TOUCH_SECONDS``).
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: The absolute end, however active the session is.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: How the user signed in: ``token`` (an API token pasted) or ``oidc``.
    method: Mapped[str] = mapped_column(String(16), default="token")
    #: With ``oidc``: the provider's name (its logout ends the provider's session too).
    provider: Mapped[str] = mapped_column(String(32), default="", server_default="")
    #: With ``oidc``: the provider's ID token (``id_token_hint`` at logout), sealed (JWE,
    #: ``dir`` + A256GCM) with a key derived from the session id, which only the browser holds:
    #: a copy of the table reveals no ID token. See ``connectors.db.web_sessions``.
    id_token_sealed: Mapped[str] = mapped_column(Text(), default="", server_default="")
