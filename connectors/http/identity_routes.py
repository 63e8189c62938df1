"""``/api/v1/identity/providers``: the OpenID Connect providers this server trusts, their
public data only, without a token. The remote CLI reads it to sign in through a provider
(``gpuhours login --server URL --provider NAME``): the server is the one place their issuer
and client id are configured, so a user needs to know nothing but the server's URL."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from connectors.http.deps import ServicesDep
from connectors.http.pages import Page, PageQ, paged
from connectors.identity.errors import ProviderUnreachable
from connectors.identity.provider import Provider

router = APIRouter(prefix="/api/v1", tags=["identity"])


class ProviderOut(BaseModel):
    name: str
    label: str
    issuer: str
    client_id: str
    #: The ``aud`` bearer JWTs must carry on this API.
    audience: str
    scopes: list[str]
    #: Whether the provider's discovery offers the device authorization flow (RFC 8628);
    #: ``null`` when the provider could not be reached just now.
    device_flow: bool | None


@router.get("/identity/providers")
def list_providers(services: ServicesDep, pages: PageQ) -> Page[ProviderOut]:
    """The configured providers' public data (no secret), by name. No token needed: it is
    what one reads before having one."""
    found = [_public(p) for p in services.identity_providers.values()]
    return paged("providers", found, lambda p: (p.name,), pages, lambda p: p)


def _public(provider: Provider) -> ProviderOut:
    config = provider.config
    try:
        device: bool | None = bool(provider.discovery().device_authorization_endpoint)
    except ProviderUnreachable:
        device = None
    return ProviderOut(
        name=provider.name,
        label=provider.label,
        issuer=provider.issuer,
        client_id=config.client_id,
        audience=config.api_audience or config.client_id,
        scopes=config.scopes,
        device_flow=device,
    )
