"""An API token as a plain dict: never its secret nor its hash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.tokens import TokenInfo


def token_info(info: TokenInfo, now: datetime) -> dict[str, Any]:
    return {
        "id": info.id,
        "username": info.username,
        "prefix": info.prefix,
        "note": info.note,
        "state": info.state(now),
        "created_at": info.created_at,
        "created_by": info.created_by,
        "expires_at": info.expires_at,
        "last_used_at": info.last_used_at,
        "revoked_at": info.revoked_at,
        "revoked_by": info.revoked_by,
    }
