"""Bodies of the token endpoints. A token's secret appears once, in ``TokenOut``; listings
(``TokenInfoOut``) never show it nor its hash."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, Field

from allocator.errors import InvalidInput
from connectors.http.schemas import Strict, UtcDatetime, rules
from connectors.presenters.tokens import token_info
from connectors.tokens import MAX_DAYS, TokenInfo, TokenState


class TokenIn(Strict):
    model_config = rules(
        {
            "not": {
                "required": ["expires_at", "expires_in_days"],
                "properties": {
                    "expires_at": {"type": "string"},
                    "expires_in_days": {"type": "integer"},
                },
            }
        },
        described="A token to mint: expires_at (in the future, at most ten years ahead) or"
        " expires_in_days, not both; neither: GPUHOURS_TOKEN_DAYS.",
    )

    note: str = Field(default="", max_length=200)
    #: An expiry time (aware, in the future, at most ten years ahead) ...
    expires_at: UtcDatetime | None = None
    #: ... or a number of days; neither: ``GPUHOURS_TOKEN_DAYS`` (90).
    expires_in_days: int | None = Field(default=None, ge=1, le=MAX_DAYS)
    #: Required to mint a token for another administrator: its holder acts under their name.
    for_another_admin: bool = False

    def expiry(self, now: datetime, default_days: int) -> datetime:
        if self.expires_at is not None and self.expires_in_days is not None:
            raise InvalidInput("expires_at", "give expires_at or expires_in_days, not both")
        if self.expires_at is not None:
            return self.expires_at
        return now + timedelta(days=self.expires_in_days or default_days)


class RevokeIn(Strict):
    reason: str = Field(default="", max_length=200)


class TokenInfoOut(BaseModel):
    id: int
    username: str
    prefix: str
    note: str
    state: TokenState
    created_at: datetime
    created_by: str
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    revoked_by: str | None

    @classmethod
    def of(cls, info: TokenInfo, now: datetime) -> TokenInfoOut:
        return cls.model_validate(token_info(info, now))


class TokenOut(BaseModel):
    """A freshly minted token: ``token`` is shown this once."""

    id: int
    username: str
    token: str
    prefix: str
    expires_at: datetime | None
