"""``/api/v1`` token endpoints: mint (admin), list and revoke (one's own, or anyone's for an
admin). Tokens are named by their id, never by their secret."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Path

from connectors import tokens
from connectors.http.deps import ActorDep, NowDep, ServicesDep
from connectors.http.pages import Page, PageParams, PageQ, paged
from connectors.http.token_schemas import RevokeIn, TokenIn, TokenInfoOut, TokenOut

router = APIRouter(prefix="/api/v1", tags=["tokens"])
TokenId = Annotated[int, Path(ge=1, le=2**31 - 1, description="the token's id (see listings)")]


@router.post("/users/{username}/tokens", status_code=201)
def create_token(
    username: str,
    services: ServicesDep,
    actor: ActorDep,
    now: NowDep,
    body: Annotated[TokenIn | None, Body()] = None,
) -> TokenOut:
    """Mint a token for ``username`` (admin). For another administrator, only with
    ``for_another_admin: true``. Audited; the token is in this answer only. The body is
    optional (no note, the default expiry)."""
    body = body or TokenIn()
    minted = tokens.mint(
        services.session_factory,
        actor,
        username,
        now,
        expires_at=body.expiry(now, services.settings.token_days),
        note=body.note,
        for_another_admin=body.for_another_admin,
    )
    info = minted.info
    return TokenOut(
        id=info.id,
        username=info.username,
        token=minted.token,
        prefix=info.prefix,
        expires_at=info.expires_at,
    )


@router.get("/tokens")
def list_own_tokens(
    services: ServicesDep, actor: ActorDep, now: NowDep, pages: PageQ
) -> Page[TokenInfoOut]:
    """The caller's tokens (active, expired and revoked), without their secrets, newest
    first."""
    infos = tokens.list_tokens(services.session_factory, actor, now, actor.username)
    return _tokens_page(infos, now, pages)


@router.get("/users/{username}/tokens")
def list_user_tokens(
    username: str, services: ServicesDep, actor: ActorDep, now: NowDep, pages: PageQ
) -> Page[TokenInfoOut]:
    """A user's tokens: one's own, or anyone's for an admin; newest first."""
    infos = tokens.list_tokens(services.session_factory, actor, now, username)
    return _tokens_page(infos, now, pages)


def _tokens_page(
    infos: list[tokens.TokenInfo], now: datetime, pages: PageParams
) -> Page[TokenInfoOut]:
    return paged(
        "tokens",
        infos,
        lambda i: (i.id,),
        pages,
        lambda i: TokenInfoOut.of(i, now),
        newest_first=True,
    )


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: TokenId,
    services: ServicesDep,
    actor: ActorDep,
    now: NowDep,
    body: Annotated[RevokeIn | None, Body()] = None,
) -> TokenInfoOut:
    """Revoke a token (one's own, or anyone's for an admin): refused from the next request
    on, on every replica. Revoking a revoked token changes nothing. Audited."""
    reason = body.reason if body is not None else ""
    info = tokens.revoke(services.session_factory, actor, token_id, now, reason)
    return TokenInfoOut.of(info, now)
